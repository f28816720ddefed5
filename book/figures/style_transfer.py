"""Figures of the chapter "Style transfer" (book/style_transfer.md).

Everything is computed here, offline and seeded, with matplotlib's Agg backend, from
photographs bundled with scikit-image and SqueezeNet 1.1's architecture with *seeded
random* weights (``dlcourse.vision.seeded_squeezenet``: the book builds without
downloading the pretrained weights):

- ``st_gram_shuffle.png``: a photo's feature maps at one layer, the same maps with their
  spatial positions shuffled (one permutation for all channels), and the Gram matrices of
  both, which agree to rounding error.
- ``st_content_vs_style.png``: how far the features and the Gram matrices move when the
  photo's tiles are rearranged, compared with a different photo: rearranging destroys the
  content match but hardly changes the style statistics.
- ``st_texture_synthesis.png``: textures synthesised from noise by matching Gram
  matrices of the random network at six layers (a few seconds on a CPU).
- ``st_total_variation.png``: a smooth photo, the same photo with noise, their squared
  neighbour differences and their total variation.

Run ``python book/figures/make_all.py`` to write them to ``book/figures/generated/``.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dlcourse.vision import SQUEEZENET_MEAN, SQUEEZENET_STD  # noqa: E402

DPI = 130
SEED = 0
NET_SEED = 0  # the seeded SqueezeNet of the offline notebook
TEXTURE_SIZE = 64         # side of the synthesised textures: a few seconds on one core
TEXTURE_STEPS = 250       # Adam steps per texture
TEXTURE_LR = 0.2          # smaller than the notebook's 3.0: no clamping or decay here
TEXTURE_LAYERS = (0, 1, 3, 4, 6, 7)
TEXTURE_WEIGHTS = (1e4, 1e4, 500.0, 500.0, 12.0, 1.0)  # shallow layers' normalised Grams are small


# --------------------------------------------------------------------------- helpers
def _photo(name: str, size: int, crop=None) -> np.ndarray:
    """A scikit-image photo (optionally cropped) resized to size x size: float (H, W, 3) in [0, 1]."""
    import skimage.data
    from PIL import Image

    from dlcourse.style import load_image

    arr = np.asarray(getattr(skimage.data, name)())
    pil = load_image(arr if crop is None else arr[crop])  # RGB, greys repeated
    return np.asarray(pil.resize((size, size), Image.BILINEAR), dtype=np.float64) / 255.0


def _to_input(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) in [0, 1] -> normalised tensor (1, 3, H, W), float32."""
    x = (rgb - SQUEEZENET_MEAN) / SQUEEZENET_STD
    return torch.tensor(np.ascontiguousarray(x.transpose(2, 0, 1))[None], dtype=torch.float32)


def _to_rgb(x: torch.Tensor) -> np.ndarray:
    """Normalised tensor (1, 3, H, W) -> (H, W, 3) clipped to [0, 1] for display."""
    a = x.detach()[0].numpy().transpose(1, 2, 0) * SQUEEZENET_STD + SQUEEZENET_MEAN
    return np.clip(a, 0.0, 1.0)


def _network(depth: int = 8):
    from dlcourse.vision import seeded_squeezenet

    return seeded_squeezenet(NET_SEED).features[:depth]


def _all_outputs(x: torch.Tensor, net) -> list[torch.Tensor]:
    outs = []
    for module in net:
        x = module(x)
        outs.append(x)
    return outs


def _second_moments(f: np.ndarray) -> np.ndarray:
    """Channel co-occurrence of one feature map (C, H, W) -> (C, C), divided by C*H*W (numpy)."""
    C = f.shape[0]
    rows = f.reshape(C, -1)  # (C, H*W): one row per channel
    return rows @ rows.T / rows.size


# --------------------------------------------------------------------------- Gram invariance
def fig_gram_shuffle(out: Path) -> tuple[Path, float]:
    net = _network(4)
    with torch.no_grad():
        f = _all_outputs(_to_input(_photo("chelsea", 96)), net)[3][0].double().numpy()  # (128, H, W)
    C, H, W = f.shape
    perm = np.random.RandomState(SEED).permutation(H * W)
    shuffled = f.reshape(C, H * W)[:, perm].reshape(C, H, W)  # same shuffle in every channel
    g, g_shuffled = _second_moments(f), _second_moments(shuffled)
    diff = float(np.abs(g - g_shuffled).max() / np.abs(g).max())

    channels = [5, 40, 77]
    fig, axes = plt.subplots(2, 4, figsize=(12, 6))
    for row, (maps, label) in enumerate([(f, "features"), (shuffled, "shuffled positions")]):
        for k, c in enumerate(channels):
            axes[row, k].imshow(maps[c], cmap="magma")
            axes[row, k].set_title(f"{label}, channel {c}", fontsize=9)
            axes[row, k].axis("off")
        gram = g if row == 0 else g_shuffled
        axes[row, 3].imshow(gram[:32, :32], cmap="viridis")
        axes[row, 3].set_title(f"Gram matrix ({'original' if row == 0 else 'shuffled'}),\nfirst 32 channels",
                               fontsize=9)
        axes[row, 3].axis("off")
    fig.suptitle(f"Layer 3 of a seeded SqueezeNet on a photo: shuffling the {H}x{W} positions scrambles "
                 f"every map,\nbut the Gram matrices agree (largest relative difference {diff:.1e})",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out, diff


def _tile_shuffle(rgb: np.ndarray, tiles: int, seed: int) -> np.ndarray:
    """Cut an (S, S, 3) image into tiles x tiles squares and put them back in random order."""
    S = rgb.shape[0]
    t = S // tiles
    blocks = [rgb[i * t:(i + 1) * t, j * t:(j + 1) * t] for i in range(tiles) for j in range(tiles)]
    order = np.random.RandomState(seed).permutation(len(blocks))
    rows = [np.concatenate([blocks[order[i * tiles + j]] for j in range(tiles)], axis=1) for i in range(tiles)]
    return np.concatenate(rows, axis=0)


def content_and_style_distances(layer: int = 6, size: int = 128, tiles: int = 4):
    """Relative distances of features and of Gram matrices at ``layer``, from the cat photo to
    (a) the same photo with its tiles rearranged and (b) a different photo."""
    net = _network(layer + 1)
    cat = _photo("chelsea", size)
    images = {"tiles rearranged": _tile_shuffle(cat, tiles, SEED), "another photo": _photo("coffee", size)}
    with torch.no_grad():
        ref = _all_outputs(_to_input(cat), net)[layer][0].numpy()
        result = {}
        for name, img in images.items():
            f = _all_outputs(_to_input(img), net)[layer][0].numpy()
            content = np.linalg.norm(f - ref) / np.linalg.norm(ref)
            g_ref, g = _second_moments(ref), _second_moments(f)
            style = np.linalg.norm(g - g_ref) / np.linalg.norm(g_ref)
            result[name] = (float(content), float(style))
    return cat, images, result


def fig_content_vs_style(out: Path) -> Path:
    cat, images, dist = content_and_style_distances()
    fig = plt.figure(figsize=(12, 3.6))
    grid = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 1.6])
    for k, (title, img) in enumerate([("photo", cat)] + list(images.items())):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(img)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    ax = fig.add_subplot(grid[0, 3])
    names = list(dist)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [dist[n][0] for n in names], 0.4, label="features (content)")
    ax.bar(x + 0.2, [dist[n][1] for n in names], 0.4, label="Gram matrices (style)")
    ax.set_xticks(x, names)
    ax.set_ylabel("relative distance to the photo")
    ax.set_title("layer 6 of a seeded SqueezeNet", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- texture synthesis
def _style_distance(feats, targets) -> torch.Tensor:
    total = torch.zeros(())
    for layer, weight in zip(TEXTURE_LAYERS, TEXTURE_WEIGHTS):
        f = feats[layer]
        co = torch.einsum("nchw,ndhw->ncd", f, f) / f[0].numel()
        total = total + weight * (co - targets[layer]).pow(2).sum()
    return total


def synthesise_texture(source: np.ndarray, steps: int = TEXTURE_STEPS, seed: int = SEED):
    """Match the source's channel co-occurrences at TEXTURE_LAYERS, starting from noise.

    Returns (image tensor (1, 3, S, S), losses per step).
    """
    net = _network(max(TEXTURE_LAYERS) + 1)
    with torch.no_grad():
        feats = _all_outputs(_to_input(source), net)
        targets = {i: torch.einsum("nchw,ndhw->ncd", feats[i], feats[i]) / feats[i][0].numel()
                   for i in TEXTURE_LAYERS}
    noise_source = torch.Generator().manual_seed(seed)
    img = (torch.rand(1, 3, *source.shape[:2], generator=noise_source) * 2 - 1).requires_grad_(True)
    opt = torch.optim.Adam([img], lr=TEXTURE_LR)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        loss = _style_distance(_all_outputs(img, net), targets)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return img.detach(), losses


def fig_texture_synthesis(out: Path) -> Path:
    torch.manual_seed(SEED)
    sources = {
        "brick": _photo("brick", TEXTURE_SIZE, crop=np.s_[:256, :256]),
        "immunohistochemistry": _photo("immunohistochemistry", TEXTURE_SIZE),
    }
    fig, axes = plt.subplots(len(sources), 4, figsize=(12, 3.2 * len(sources)))
    for row, (name, src) in enumerate(sources.items()):
        img, losses = synthesise_texture(src)
        noise = torch.rand(1, 3, TEXTURE_SIZE, TEXTURE_SIZE, generator=torch.Generator().manual_seed(SEED)) * 2 - 1
        axes[row, 0].imshow(src)
        axes[row, 0].set_title(f"source: {name}", fontsize=9)
        axes[row, 1].imshow(_to_rgb(noise))
        axes[row, 1].set_title("start: noise", fontsize=9)
        axes[row, 2].imshow(_to_rgb(img))
        axes[row, 2].set_title(f"after {len(losses)} Adam steps", fontsize=9)
        for ax in axes[row, :3]:
            ax.axis("off")
        axes[row, 3].semilogy(losses)
        axes[row, 3].set_xlabel("step")
        axes[row, 3].set_ylabel("style loss")
    fig.suptitle("Texture synthesis: match Gram matrices only (seeded random SqueezeNet, layers "
                 + ", ".join(map(str, TEXTURE_LAYERS)) + ")", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- total variation
def total_variation(rgb: np.ndarray) -> tuple[float, np.ndarray]:
    """Sum of squared neighbour differences of an (H, W, 3) image, and its (H, W) map."""
    dv = np.zeros(rgb.shape[:2])
    dh = np.zeros(rgb.shape[:2])
    dv[:-1] = (np.diff(rgb, axis=0) ** 2).sum(axis=2)  # pixel and the one below
    dh[:, :-1] = (np.diff(rgb, axis=1) ** 2).sum(axis=2)  # pixel and the one to its right
    both = dv + dh
    return float(both.sum()), both


def fig_total_variation(out: Path) -> Path:
    smooth = _photo("coffee", 128)
    noisy = np.clip(smooth + np.random.RandomState(SEED).normal(0, 0.08, smooth.shape), 0, 1)
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    tvs = []
    for k, (name, img) in enumerate([("photo", smooth), ("photo + noise", noisy)]):
        tv, per_pixel = total_variation(img)
        tvs.append(tv)
        axes[2 * k].imshow(img)
        axes[2 * k].set_title(f"{name}: TV = {tv:.0f}", fontsize=10)
        axes[2 * k + 1].imshow(per_pixel, cmap="gray_r", vmin=0, vmax=0.2)
        axes[2 * k + 1].set_title("squared neighbour differences", fontsize=10)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"Noise multiplies the total variation by {tvs[1] / tvs[0]:.1f}: "
                 "penalising it favours smooth images", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def make(outdir: Path) -> list[Path]:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is as fast, and robust on a busy machine
    try:
        shuffle, _ = fig_gram_shuffle(outdir / "st_gram_shuffle.png")
        return [
            shuffle,
            fig_content_vs_style(outdir / "st_content_vs_style.png"),
            fig_texture_synthesis(outdir / "st_texture_synthesis.png"),
            fig_total_variation(outdir / "st_total_variation.png"),
        ]
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    import sys

    for path in make(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "generated"):
        print(path)
