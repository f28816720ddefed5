"""Hidden-test cases of the SimCLR assignment (COURSE.md section 7).

Inputs come from seeds 6xxx (the notebook's visible checks use sine/cosine patterns and
other seeds); projections are float64 so the tolerances can be tight. Nothing here needs
the data set: images are made from seeded numpy arrays, the dataset case fills a
CIFAR10Pair instance's ``data`` and ``targets`` directly, and the training case uses a
tiny model.

Augmented views are float32 (ToTensor's dtype) with entries up to about 3 in size, some
within 1e-3 of zero: a correct transform built another way (torchvision.transforms.v2,
PILToTensor then ConvertImageDtype) differs from the reference by float32 rounding,
up to 1e-6 absolutely, which is a large relative error on the entries near zero. Views
therefore also pass within an absolute 1e-5; a wrong parameter moves pixels by at least
one grey level, 1/255 before the division by a standard deviation of about 0.2.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from autograder.cases import case
from dlcourse.data.cifar import CIFAR_MEAN, CIFAR_STD

F64 = torch.float64


def _images(seed: int, n: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    base = rng.randint(0, 256, size=(n, 8, 8, 3)).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(b).resize((32, 32), Image.BILINEAR)) for b in base])


def _projections(seed: int, n: int, d: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=F64), torch.randn(n, d, generator=g, dtype=F64)


VIEW_ATOL = 1e-5  # float32 views: see the module doc
DRAWS = 1000  # views in the per-draw part of train_transform (0.3 s of CPU on one thread)


def _is_grey(view: torch.Tensor, mean, std) -> bool:
    """Are the three channels of a normalised view equal once the normalisation is undone?"""
    pixels = view.double() * torch.tensor(std, dtype=F64)[:, None, None] + torch.tensor(mean, dtype=F64)[:, None, None]
    return bool((pixels[0] - pixels[1]).abs().max() < 1e-4 and (pixels[1] - pixels[2]).abs().max() < 1e-4)


@case("train_transform", tol=1e-6, atols={"views": VIEW_ATOL, "default_seed": VIEW_ATOL, "draws": VIEW_ATOL})
def train_transform(ns):
    """Whole views for a few draws, and a summary of each of DRAWS further draws.

    The summary of a view is the mean of each channel over each quarter of the image (12
    numbers: colour, brightness and which part of the image the crop kept, mirrored by a
    flip), and whether the view is grey. With the transform's own seed the random numbers
    are the same for every correct transform (the order of the docstring fixes them), so
    a wrong probability or range shows in every draw whose random number falls between
    the right value and the wrong one: with 1000 draws a grayscale probability of 0.15 or
    0.25 instead of 0.2 changes about 50 views, a crop scale of (0.2, 1) almost all.
    """
    images = _images(6001, 3)
    t = ns["compute_train_transform"](seed=6002)
    views = [t(Image.fromarray(img)) for img in images for _ in range(3)]
    t2 = ns["compute_train_transform"]()  # the default seed
    default_seed = t2(Image.fromarray(images[0]))
    many = [Image.fromarray(img) for img in _images(6003, 4)]
    t3 = ns["compute_train_transform"](seed=6004)
    drawn = [t3(many[k % len(many)]) for k in range(DRAWS)]
    quarters = torch.stack([F.avg_pool2d(v.double()[None], 16).reshape(-1) for v in drawn])  # (DRAWS, 12)
    grey = np.array([_is_grey(v, CIFAR_MEAN, CIFAR_STD) for v in drawn], dtype=np.int64)  # (DRAWS,)
    return {"views": torch.stack(views), "default_seed": default_seed, "draws": quarters, "grayscale": grey}


@case("pair", tol=1e-6, atols={"x_i": VIEW_ATOL, "x_j": VIEW_ATOL})
def pair(ns):
    cls = ns["CIFAR10Pair"]
    ds = cls.__new__(cls)  # no files needed: fill what CIFAR10's __getitem__ reads
    ds.data = _images(6101, 4)
    ds.targets = [3, 1, 4, 1]
    ds.target_transform = None
    ds.transform = ns["compute_train_transform"](seed=6102)
    x_i, x_j, y = ds[2]
    ds.target_transform = lambda label: label + 10
    _, _, y_shifted = ds[3]
    ds.transform = None
    a, b, _ = ds[0]
    return {"x_i": x_i, "x_j": x_j, "label": int(y), "target_transform": int(y_shifted),
            "no_transform": torch.tensor(np.stack([np.asarray(a), np.asarray(b)]))}


@case("sim", tol=1e-10)
def sim(ns):
    left, right = _projections(6201, 4, 7)
    return {"sims": torch.stack([ns["sim"](left[k], right[k]) for k in range(4)]),
            "self": ns["sim"](left[0], 3.0 * left[0])}


# one_pair: with a single pair both terms are -log(e^(s/tau) / e^(s/tau)) = 0 exactly in the
# reference; a correct loss computed as "sum over all m minus the self term" leaves the
# rounding of e^(1/tau) ~ 4, a few 1e-16. An absolute 1e-12 covers that and nothing wrong.
@case("loss_naive", tol=1e-10, atols={"one_pair": 1e-12})
def loss_naive(ns):
    left, right = _projections(6301, 5, 6)
    return {"tau_05": ns["simclr_loss_naive"](left, right, 0.5),
            "tau_01": ns["simclr_loss_naive"](left, right, 0.1),
            "one_pair": ns["simclr_loss_naive"](left[:1], right[:1], 0.7)}


@case("sim_positive_pairs", tol=1e-10)
def sim_positive_pairs(ns):
    left, right = _projections(6401, 9, 5)
    return {"pos": ns["sim_positive_pairs"](left, 2.5 * right)}


@case("sim_matrix", tol=1e-10)
def sim_matrix(ns):
    left, right = _projections(6501, 5, 4)
    return {"S": ns["compute_sim_matrix"](torch.cat([left, 0.3 * right]))}


@case("loss_vectorized", tol=1e-10, tols={"grad": 1e-8})
def loss_vectorized(ns):
    left, right = _projections(6601, 7, 6)
    left.requires_grad_(True)
    loss = ns["simclr_loss_vectorized"](left, right, 0.5, device="cpu")
    loss.backward()
    return {"tau_05": loss.detach(), "tau_02": ns["simclr_loss_vectorized"](left.detach(), right, 0.2, device="cpu"),
            "grad": left.grad}


class _TinyModel(nn.Module):
    """(N, 3, 4, 4) -> (h, z): a linear encoder and head, float64, no randomness."""

    def __init__(self):
        super().__init__()
        self.f = nn.Linear(48, 6).double()
        self.g = nn.Linear(6, 5).double()
        with torch.no_grad():
            for k, p in enumerate(self.parameters()):
                p.copy_(0.3 * torch.sin(torch.arange(p.numel(), dtype=F64) * 0.7 + k).reshape(p.shape))

    def forward(self, x):
        h = self.f(x.flatten(1))
        return h, self.g(torch.tanh(h))


@case("train", tol=1e-8)
def train(ns):
    """One epoch on three batches (4, 4 and 3 pairs) of a tiny float64 model, plain SGD.

    The temperature is not the default 0.5, so a loop that ignores its argument shows;
    the last batch is smaller than batch_size, so weighting the mean by batch_size (not
    by the pairs of each batch) shows.
    """
    g = torch.Generator().manual_seed(6701)
    batches = [(torch.randn(n, 3, 4, 4, generator=g, dtype=F64), torch.randn(n, 3, 4, 4, generator=g, dtype=F64),
                torch.zeros(n, dtype=torch.long)) for n in (4, 4, 3)]
    model = _TinyModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    loss = ns["train"](model, batches, optimizer, 1, 1, batch_size=4, temperature=0.3, device="cpu")
    return {"mean_loss": float(loss), "weights": torch.cat([p.detach().reshape(-1) for p in model.parameters()])}
