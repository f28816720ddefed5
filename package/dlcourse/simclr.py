"""SimCLR: the encoder with its projection head, evaluations with their baselines, and cost counts (provided code).

Model (Chen et al., 2020, as adapted to 32x32 CIFAR images): an encoder f that maps an
image to a representation h, and a projection head g that maps h to z, on which the
contrastive loss is computed. Evaluations use h, never z.

- ``Model(feature_dim=128, arch="resnet50")``: torchvision's ResNet-50 with its first
  convolution replaced by a 3x3, stride-1 one and no max-pool (32x32 inputs are small),
  the classifier removed (h has 2048 numbers), and
  g = Linear(2048, 512, bias=False), BatchNorm1d(512), ReLU, Linear(512, feature_dim).
- ``arch="resnet18"``: the same with torchvision's ResNet-18 (h of 512 numbers), about a
  quarter of ResNet-50's arithmetic per image.
- ``arch="small"``: the same design at CPU size: a ResNet of three stages of two basic
  blocks (16, 32 and 64 channels), h of 64 numbers, g = Linear(64, 512, bias=False),
  BatchNorm1d, ReLU, Linear(512, feature_dim).

``Model.forward(x (N, 3, 32, 32)) -> (h (N, C_h), z (N, feature_dim))``, with h flattened
and both L2-normalised.

Evaluation (:func:`compare_representations`) always puts a representation beside two
references computed on the same images: the raw pixels themselves (C_h = 3 * 32 * 32 =
3072) and the same architecture with random weights. :func:`train_flops_per_view` counts
the arithmetic of one training step per image, from which :func:`estimated_minutes` makes
a time estimate for a stated throughput.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18, resnet50

# An assumption, not a measurement: the float32 arithmetic rate (FLOP/s) a free Colab T4
# sustains when training a ResNet on 32x32 images at batch 256, about 30% of its 8.1
# TFLOP/s float32 peak (small images keep the GPU far from its peak).
T4_FLOAT32_SUSTAINED = 2.5e12


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


def cifar_resnet(depth: int = 50) -> nn.Sequential:
    """torchvision's ResNet-18 or -50 for 32x32 inputs: 3x3 stride-1 stem, no max-pool, no
    classifier; (N, 3, 32, 32) -> (N, 512 or 2048, 1, 1)."""
    builders = {18: resnet18, 50: resnet50}
    if depth not in builders:
        raise ValueError(f"depth {depth}: 18 or 50")
    layers = []
    for name, module in builders[depth]().named_children():
        if name == "conv1":
            module = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        if isinstance(module, (nn.Linear, nn.MaxPool2d)):
            continue
        layers.append(module)
    return nn.Sequential(*layers)


def cifar_resnet50() -> nn.Sequential:
    """ResNet-50 for 32x32 inputs (see :func:`cifar_resnet`); (N, 3, 32, 32) -> (N, 2048, 1, 1)."""
    return cifar_resnet(50)


ARCHS = {"resnet50": (lambda: cifar_resnet(50), 2048), "resnet18": (lambda: cifar_resnet(18), 512),
         "small": (small_resnet, 64)}


class Model(nn.Module):
    """Encoder f and projection head g; forward returns (h, z), both L2-normalised."""

    def __init__(self, feature_dim: int = 128, arch: str = "resnet50"):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}: one of {', '.join(map(repr, ARCHS))}")
        build, width = ARCHS[arch]
        self.f = build()
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


def pixels(loader) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (N, 3 * H * W) the images of ``loader`` flattened, as its transform gives them; labels (N,))."""
    feats, labels = [], []
    for x, y in loader:
        feats.append(torch.flatten(x, start_dim=1))
        labels.append(torch.as_tensor(y))
    return torch.cat(feats), torch.cat(labels)


@torch.no_grad()
def knn_accuracy(train_h, train_y, test_h, test_y, k: int = 20, temperature: float = 0.5,
                 num_classes: int = 10, chunk: int = 1024) -> float:
    """Weighted k-nearest-neighbour accuracy on L2-normalised representations.

    train_h (N_train, C), test_h (N_test, C), labels (N_train,) and (N_test,). Each test
    point votes with its k most similar training points (cosine similarity s), each vote
    weighted by exp(s / temperature). Runs on the device of ``train_h``, ``chunk`` test
    points at a time (memory: chunk x N_train similarities).
    """
    device = train_h.device
    train_y, correct = train_y.to(device), 0
    for start in range(0, len(test_h), chunk):
        sims = test_h[start:start + chunk].to(device) @ train_h.T  # (chunk, N_train)
        weights, idx = sims.topk(k, dim=1)
        votes = torch.zeros(len(sims), num_classes, device=device)
        votes.scatter_add_(1, train_y[idx], (weights / temperature).exp())
        correct += (votes.argmax(1).cpu() == test_y[start:start + chunk].cpu()).sum().item()
    return correct / len(test_h)


def linear_evaluation(train_h, train_y, test_h, test_y, epochs: int = 100, lr: float = 1e-2,
                      batch_size: int = 256, num_classes: int = 10, seed: int = 0, verbose: bool = False,
                      device="cpu") -> dict:
    """Train a linear classifier on frozen representations; return train and test top-1 accuracy.

    train_h (N_train, C), test_h (N_test, C), labels (N_train,) and (N_test,). Each feature
    is first standardised with the training set's mean and standard deviation (so that
    encoders whose features differ only in scale are judged alike), then Adam on the
    cross-entropy, weight decay 1e-6, minibatches in a seeded order, on ``device``.
    Returns {"train_top1", "test_top1", "seconds"}.
    """
    train_h, test_h = train_h.to(device).float(), test_h.to(device).float()
    train_y, test_y = train_y.to(device), test_y.to(device)
    mean, std = train_h.mean(dim=0), train_h.std(dim=0) + 1e-6
    train_h, test_h = (train_h - mean) / std, (test_h - mean) / std
    order_rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    clf = nn.Linear(train_h.shape[1], num_classes).to(device)
    opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=1e-6)
    start = time.time()
    for epoch in range(epochs):
        order = torch.randperm(len(train_h), generator=order_rng).to(device)
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


def compare_representations(encoders: dict, train_loader, test_loader, device="cpu", linear_epochs: int = 100,
                            verbose: bool = True) -> dict:
    """Linear evaluation and kNN of the raw pixels and of each encoder, on the same images.

    ``encoders``: {name: Model}; the loaders yield (x (B, 3, 32, 32), labels (B,)) without
    augmentation. Raw pixels are the images as the loaders give them, flattened (3072
    numbers); for kNN they are L2-normalised like h, so that kNN compares them by cosine
    similarity. Returns {name: {"linear": test top-1, "linear_train": train top-1,
    "knn": kNN top-1}}, the raw pixels under "raw pixels"; with ``verbose``, prints one
    line per row as it is computed.
    """
    results = {}

    def row(name, train_h, train_y, test_h, test_y):
        lin = linear_evaluation(train_h, train_y, test_h, test_y, epochs=linear_epochs, device=device)
        knn = knn_accuracy(F.normalize(train_h.to(device), dim=1), train_y, F.normalize(test_h, dim=1), test_y)
        results[name] = {"linear": lin["test_top1"], "linear_train": lin["train_top1"], "knn": knn}
        if verbose:
            print(f"{name:22s} linear top-1 {lin['test_top1']:.3f} (train {lin['train_top1']:.3f})   "
                  f"kNN top-1 {knn:.3f}   [{train_h.shape[1]} numbers per image]")

    train_x, train_y = pixels(train_loader)
    test_x, test_y = pixels(test_loader)
    row("raw pixels", train_x, train_y, test_x, test_y)
    del train_x, test_x
    for name, model in encoders.items():
        train_h, train_y = encode(model, train_loader, device)
        test_h, test_y = encode(model, test_loader, device)
        row(name, train_h, train_y, test_h, test_y)
    return results


def train_flops_per_view(model: nn.Module, image_shape=(3, 32, 32)) -> float:
    """Floating-point operations of one training step per image (view): forward and backward.

    Counted by torch.utils.flop_counter.FlopCounterMode (convolutions and matrix products,
    a multiply-add counted as 2; normalisations and activations, a few percent, are not
    counted) on a batch of 2 images of ``image_shape`` on a copy of ``model`` on the CPU.
    """
    from copy import deepcopy

    from torch.utils.flop_counter import FlopCounterMode

    copy = deepcopy(model).cpu().train()
    x = torch.randn(2, *image_shape, generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
    with FlopCounterMode(display=False) as counter:
        out = copy(x)
        out = out[-1] if isinstance(out, tuple) else out
        out.sum().backward()
    return counter.get_total_flops() / 2


def estimated_minutes(flops_per_view: float, views_per_epoch: int, epochs: int,
                      flops_per_second: float = T4_FLOAT32_SUSTAINED) -> float:
    """Training time in minutes if every view costs ``flops_per_view`` at ``flops_per_second``.

    An estimate: it leaves out data loading, evaluation and anything the counter does not count.
    """
    return flops_per_view * views_per_epoch * epochs / flops_per_second / 60


def load_pretrained(source: str, arch: str | None = None, feature_dim: int = 128, device="cpu") -> Model:
    """A ``Model`` with the weights of ``source``: a local file or a URL (downloaded once,
    cached by torch.hub) of a saved ``state_dict``, bare or under the key "state_dict" of a
    checkpoint. The course publishes no weights; the notebook saves such a checkpoint,
    {"arch": ..., "state_dict": ...}, after a GPU run.

    ``arch``: the architecture of the weights; None takes the checkpoint's "arch" entry
    ("resnet50" when it has none). Raises RuntimeError when the weights do not fit it.
    """
    if "://" in source:
        state = torch.hub.load_state_dict_from_url(source, map_location=device, progress=False)
    else:
        state = torch.load(source, map_location=device, weights_only=True)
    saved_arch = "resnet50"
    if isinstance(state, dict) and "state_dict" in state:
        saved_arch = state.get("arch", saved_arch)
        state = state["state_dict"]
    model = Model(feature_dim=feature_dim, arch=arch or saved_arch)
    model.load_state_dict(state)
    return model.to(device)
