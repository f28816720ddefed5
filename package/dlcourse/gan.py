"""Provided code for the GAN assignment: layers, initialisation, losses, training loop, plots.

Nothing here is a graded task. The student writes the networks and the losses in the
notebook and hands them to :func:`run_a_gan`, which runs the alternating updates.

Shapes: N batch, D = 784 flattened pixels of a 28x28 MNIST digit, C channels,
H, W height and width. Images from a generator are (N, 784) in [-1, 1] (tanh output);
the discriminator takes (N, 1, 28, 28) and returns one logit per image.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

IMAGE_SIDE = 28  # MNIST digits are 28x28 pixels
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE  # 784


class Flatten(nn.Module):
    """(N, C, H, W) -> (N, C*H*W); any (N, ...) becomes (N, prod(...))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


class Unflatten(nn.Module):
    """(N, C*H*W) -> (N, C, H, W).

    ``N`` may be -1 to keep whatever batch size comes in; ``C``, ``H`` and ``W`` are fixed.
    """

    def __init__(self, N: int = -1, C: int = 128, H: int = 7, W: int = 7):
        super().__init__()
        self.N, self.C, self.H, self.W = N, C, H, W

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.N, self.C, self.H, self.W)

    def extra_repr(self) -> str:
        return f"N={self.N}, C={self.C}, H={self.H}, W={self.W}"


def initialize_weights(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for linear and (transposed) conv layers.

    Use with ``model.apply(initialize_weights)``; other modules are left as they are.
    """
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def count_params(model: nn.Module) -> int:
    """Number of scalars in the model's parameters (buffers such as running means excluded)."""
    return sum(p.numel() for p in model.parameters())


def bce_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy between logits and targets, computed stably.

    Inputs:
    - input: logits s of any shape, e.g. (N,).
    - target: same shape as ``input``, values in [0, 1] (usually all 0 or all 1).

    Returns a scalar: mean over all entries of -[t log sigmoid(s) + (1-t) log(1 - sigmoid(s))].
    Written as max(s, 0) - s t + log(1 + exp(-|s|)) so that large |s| never overflows.
    """
    if input.shape != target.shape:
        raise ValueError(f"bce_loss: input {tuple(input.shape)} and target {tuple(target.shape)} differ in shape")
    loss = input.clamp(min=0) - input * target + torch.log1p(torch.exp(-input.abs()))
    return loss.mean()


def uniform_noise(batch_size: int, dim: int, device=None) -> torch.Tensor:
    """Noise uniform in (-1, 1) of shape (batch_size, dim): what run_a_gan uses by default
    when it is not given the notebook's own ``sample_noise``."""
    return torch.empty(batch_size, dim, device=device).uniform_(-1.0, 1.0)


# ----------------------------------------------------------------------------- images

def _as_numpy_images(images) -> np.ndarray:
    """Any of (N, 784), (N, 1, 28, 28), (N, 28, 28), tensor or array -> (N, S, S) float numpy."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    images = np.asarray(images, dtype=np.float64)
    n = images.shape[0]
    side = int(round(math.sqrt(images[0].size)))
    if side * side != images[0].size:
        raise ValueError(f"images of {images[0].size} pixels are not square")
    return images.reshape(n, side, side)


def images_to_grid(images, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile N square grey images into one (rows*(S+pad)-pad, cols*(S+pad)-pad) array in [0, 1].

    Images in [-1, 1] (any negative pixel) are mapped to [0, 1]; padding is white (1).
    """
    imgs = _as_numpy_images(images)
    if imgs.min() < 0:
        imgs = (imgs + 1) / 2
    imgs = np.clip(imgs, 0, 1)
    n, side, _ = imgs.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.ones((nrows * (side + pad) - pad, ncols * (side + pad) - pad))
    for k in range(n):
        r, c = divmod(k, ncols)
        grid[r * (side + pad): r * (side + pad) + side, c * (side + pad): c * (side + pad) + side] = imgs[k]
    return grid


def show_images(images, ncols: int | None = None, title: str | None = None, ax=None):
    """Show a batch of digits as one grid (see :func:`images_to_grid`); returns the axes."""
    import matplotlib.pyplot as plt

    grid = images_to_grid(images, ncols)
    if ax is None:
        h = max(2.5, grid.shape[0] / 29 * 0.8)  # about 0.8 inch per row of digits
        _, ax = plt.subplots(figsize=(grid.shape[1] / grid.shape[0] * h, h))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def show_snapshots(snapshots: list, max_shown: int = 6, title: str | None = None):
    """Show the snapshots returned by :func:`run_a_gan` side by side (at most ``max_shown``,
    evenly spread and always including the last). Returns the figure."""
    import matplotlib.pyplot as plt

    if not snapshots:
        raise ValueError("no snapshots to show")
    idx = np.unique(np.linspace(0, len(snapshots) - 1, min(max_shown, len(snapshots))).round().astype(int))
    fig, axes = plt.subplots(1, len(idx), figsize=(2.8 * len(idx), 3.1), squeeze=False)
    for ax, i in zip(axes[0], idx):
        snap = snapshots[i]
        show_images(snap["images"], ax=ax, title=f"iter {snap['iteration']}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def generate_samples(G: nn.Module, num: int, noise_size: int = 96, *, sample_noise: Callable | None = None,
                     batch_size: int = 128, seed: int | None = 0) -> np.ndarray:
    """Draw ``num`` images from the generator G: a (num, 784) numpy array in [-1, 1].

    Noise comes from ``sample_noise(n, noise_size)`` (default :func:`uniform_noise`), in
    equal batches of at most ``batch_size``. As in :func:`run_a_gan`'s snapshots G runs in training mode,
    so batch norm uses each batch's statistics, but on a copy: G itself (its running
    statistics included) is left unchanged. With ``seed`` (default 0) the noise is drawn
    after ``torch.manual_seed(seed)`` and torch's global random state is restored afterwards,
    so the same G always gives the same samples.
    """
    import copy

    draw = sample_noise or uniform_noise
    device = next(G.parameters()).device
    G_copy = copy.deepcopy(G).train()
    out = []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        if seed is not None: torch.manual_seed(seed)  # noqa: E701
        # equal batches of at most batch_size (never a batch of 1, which batch norm rejects)
        for n in np.diff(np.linspace(0, num, math.ceil(num / batch_size) + 1).round().astype(int)):
            z = draw(int(n), noise_size).to(device=device, dtype=torch.float32)
            out.append(G_copy(z).reshape(int(n), -1).cpu().numpy())
    return np.concatenate(out)


# ----------------------------------------------------------------------------- training

def run_a_gan(D: nn.Module, G: nn.Module, D_solver, G_solver,
              discriminator_loss: Callable, generator_loss: Callable, loader_train: Iterable,
              show_every: int = 250, batch_size: int = 128, noise_size: int = 96,
              num_epochs: int = 10, *, sample_noise: Callable | None = None,
              max_iters: int | None = None, device=None, history: dict | None = None,
              num_shown: int = 16, verbose: bool = True) -> list:
    """Train a GAN by alternating one discriminator step and one generator step per batch.

    Inputs:
    - D: discriminator, (N, 1, 28, 28) -> logits of shape (N, 1) or (N,).
    - G: generator, noise (N, noise_size) -> images (N, 784) in [-1, 1].
    - D_solver, G_solver: optimisers of D's and G's parameters.
    - discriminator_loss(logits_real (N,), logits_fake (N,)) -> scalar;
      generator_loss(logits_fake (N,)) -> scalar. Logits are flattened to (N,) first.
    - loader_train: yields (x, y) with x (N, 1, 28, 28) in [0, 1]; x is rescaled to
      [-1, 1], the range of G's tanh. Batches with N != batch_size are skipped, so
      networks that hard-code the batch size (build_dc_classifier) always fit.
    - show_every: take an image snapshot (and print the losses) every so many iterations.
    - noise_size: dimension of the noise fed to G.
    - num_epochs: passes over loader_train.
    - sample_noise: ``sample_noise(batch_size, dim)`` -> (batch_size, dim) noise, e.g. the
      notebook's own function. When None, noise is drawn uniformly in (-1, 1)
      (:func:`uniform_noise`), the same distribution the notebook asks for.
    - max_iters: stop after this many iterations (None: run all epochs).
    - device: where to train; default the device of D's parameters.
    - history: if a dict is given, lists ``iteration``, ``d_loss``, ``g_loss`` of every
      iteration are appended to it.
    - num_shown: number of generated digits per snapshot (G is run on the same fixed
      noise each time, in training mode).

    Returns a list of snapshots ``{"iteration": int, "images": (num_shown, 784) numpy
    array in [-1, 1]}``, taken every ``show_every`` iterations and once at the end.
    """
    if device is None:
        device = next(D.parameters()).device
    draw = sample_noise or uniform_noise

    def noise(n):
        return draw(n, noise_size).to(device=device, dtype=torch.float32)

    fixed_noise = noise(num_shown)  # the same noise at every snapshot, to watch G evolve
    snapshots = []

    def snapshot(iteration):
        # G stays in training mode, so batch norm normalises with the batch's statistics
        # exactly as in the updates (running averages lag behind early in training).
        with torch.no_grad():
            images = G(fixed_noise).reshape(num_shown, -1).cpu().numpy()
        snapshots.append({"iteration": iteration, "images": images})

    iteration = 0
    d_total = g_total = float("nan")
    done = False
    for _ in range(num_epochs):
        for x, _ in loader_train:
            if x.shape[0] != batch_size:
                continue  # ragged last batch
            real = (2 * x - 1).to(device)  # [0, 1] -> [-1, 1]

            # Discriminator step: real images should score high, fakes low. G is frozen
            # here by detaching its output.
            D_solver.zero_grad()
            logits_real = D(real).reshape(-1)
            fake = G(noise(batch_size)).detach()
            logits_fake = D(fake.reshape(batch_size, 1, IMAGE_SIDE, IMAGE_SIDE)).reshape(-1)
            d_total = discriminator_loss(logits_real, logits_fake)
            d_total.backward()
            D_solver.step()
            d_total = d_total.item()

            # Generator step: fresh fakes, gradients flow through D into G only (D_solver
            # is not stepped, and its gradients are cleared before its next use).
            G_solver.zero_grad()
            fake = G(noise(batch_size))
            g_logits_fake = D(fake.reshape(batch_size, 1, IMAGE_SIDE, IMAGE_SIDE)).reshape(-1)
            g_total = generator_loss(g_logits_fake)
            g_total.backward()
            G_solver.step()
            g_total = g_total.item()

            if history is not None:
                history.setdefault("iteration", []).append(iteration)
                history.setdefault("d_loss", []).append(d_total)
                history.setdefault("g_loss", []).append(g_total)
            if iteration % show_every == 0:
                if verbose:
                    print(f"iter {iteration:5d}  D loss {d_total:.4f}  G loss {g_total:.4f}")
                snapshot(iteration)
            iteration += 1
            if max_iters is not None and iteration >= max_iters:
                done = True
                break
        if done:
            break
    if iteration == 0:
        raise ValueError(f"no full batch of {batch_size} images in loader_train")
    if not snapshots or snapshots[-1]["iteration"] != iteration - 1:
        if verbose:
            print(f"iter {iteration - 1:5d}  D loss {d_total:.4f}  G loss {g_total:.4f}  (last)")
        snapshot(iteration - 1)
    return snapshots
