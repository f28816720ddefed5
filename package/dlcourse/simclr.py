"""SimCLR: the encoder with its projection head, and kNN / linear evaluation (provided code).

Model (Chen et al., 2020, as adapted to 32x32 CIFAR images): an encoder f that maps an
image to a representation h, and a projection head g that maps h to z, on which the
contrastive loss is computed. Evaluations use h, never z.

- ``Model(feature_dim=128, arch="resnet50")``: torchvision's ResNet-50 with its first
  convolution replaced by a 3x3, stride-1 one and no max-pool (32x32 inputs are small),
  the classifier removed (h has 2048 numbers), and
  g = Linear(2048, 512, bias=False), BatchNorm1d(512), ReLU, Linear(512, feature_dim).
- ``arch="small"``: the same design at CPU size: a ResNet of three stages of two basic
  blocks (16, 32 and 64 channels), h of 64 numbers, g = Linear(64, 512, bias=False),
  BatchNorm1d, ReLU, Linear(512, feature_dim). Used offline, where training must take
  minutes on a CPU.

``Model.forward(x (N, 3, 32, 32)) -> (h (N, C_h), z (N, feature_dim))``, with h flattened
and z L2-normalised.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (1x1 conv when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def small_resnet(widths=(16, 32, 64)) -> nn.Sequential:
    """A CPU-sized ResNet encoder for 32x32 images: (N, 3, 32, 32) -> (N, widths[-1], 1, 1)."""
    layers = [nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
    c_in = widths[0]
    for k, c in enumerate(widths):
        layers += [BasicBlock(c_in, c, stride=1 if k == 0 else 2), BasicBlock(c, c)]
        c_in = c
    layers.append(nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*layers)


def cifar_resnet50() -> nn.Sequential:
    """ResNet-50 for 32x32 inputs: 3x3 stride-1 stem, no max-pool, no classifier; (N, 2048, 1, 1)."""
    layers = []
    for name, module in resnet50().named_children():
        if name == "conv1":
            module = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        if isinstance(module, (nn.Linear, nn.MaxPool2d)):
            continue
        layers.append(module)
    return nn.Sequential(*layers)


class Model(nn.Module):
    """Encoder f and projection head g; forward returns (h, z) with z L2-normalised."""

    def __init__(self, feature_dim: int = 128, arch: str = "resnet50"):
        super().__init__()
        if arch == "resnet50":
            self.f, width = cifar_resnet50(), 2048
        elif arch == "small":
            self.f, width = small_resnet(), 64
        else:
            raise ValueError(f"unknown arch {arch!r}: 'resnet50' or 'small'")
        self.arch = arch
        self.g = nn.Sequential(nn.Linear(width, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                               nn.Linear(512, feature_dim, bias=True))

    def forward(self, x):
        h = torch.flatten(self.f(x), start_dim=1)
        z = self.g(h)
        return F.normalize(h, dim=-1), F.normalize(z, dim=-1)


@torch.no_grad()
def encode(model: Model, loader, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(h (N, C_h) L2-normalised representations, labels (N,)) of every batch of ``loader``."""
    model.eval()
    feats, labels = [], []
    for x, y in loader:
        h, _ = model(x.to(device))
        feats.append(h.cpu())
        labels.append(torch.as_tensor(y))
    return torch.cat(feats), torch.cat(labels)


def knn_accuracy(train_h, train_y, test_h, test_y, k: int = 20, temperature: float = 0.5,
                 num_classes: int = 10) -> float:
    """Weighted k-nearest-neighbour accuracy on L2-normalised representations.

    Each test point votes with its k most similar training points (cosine similarity s),
    each vote weighted by exp(s / temperature).
    """
    sims = test_h @ train_h.T  # (N_test, N_train)
    weights, idx = sims.topk(k, dim=1)
    votes = torch.zeros(len(test_h), num_classes)
    votes.scatter_add_(1, train_y[idx], (weights / temperature).exp())
    return (votes.argmax(1) == test_y).float().mean().item()


def linear_evaluation(train_h, train_y, test_h, test_y, epochs: int = 100, lr: float = 1e-2,
                      batch_size: int = 256, num_classes: int = 10, seed: int = 0, verbose: bool = False) -> dict:
    """Train a linear classifier on frozen representations; return train and test top-1 accuracy.

    Each feature is first standardised with the training set's mean and standard deviation
    (so that encoders whose features differ only in scale are judged alike), then Adam on
    the cross-entropy, weight decay 1e-6, minibatches in a seeded order.
    """
    mean, std = train_h.mean(dim=0), train_h.std(dim=0) + 1e-6
    train_h, test_h = (train_h - mean) / std, (test_h - mean) / std
    order_rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    clf = nn.Linear(train_h.shape[1], num_classes)
    opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=1e-6)
    start = time.time()
    for epoch in range(epochs):
        order = torch.randperm(len(train_h), generator=order_rng)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(clf(train_h[idx]), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if verbose and (epoch + 1) % max(1, epochs // 5) == 0:
            print(f"  linear epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}")
    with torch.no_grad():
        train_acc = (clf(train_h).argmax(1) == train_y).float().mean().item()
        test_acc = (clf(test_h).argmax(1) == test_y).float().mean().item()
    return {"train_top1": train_acc, "test_top1": test_acc, "seconds": time.time() - start}


def load_pretrained(source: str, arch: str = "resnet50", feature_dim: int = 128, device="cpu") -> Model:
    """A ``Model`` with the weights of ``source``: a URL (downloaded once, cached by torch.hub)
    or a local file of a saved ``state_dict`` (optionally under the key "state_dict").

    Raises RuntimeError when the weights do not fit the architecture ``arch``.
    """
    if "://" in source:
        state = torch.hub.load_state_dict_from_url(source, map_location=device, progress=False)
    else:
        state = torch.load(source, map_location=device, weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model = Model(feature_dim=feature_dim, arch=arch)
    model.load_state_dict(state)
    return model.to(device)
