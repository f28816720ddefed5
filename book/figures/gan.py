"""Figures of the GAN chapter (book/gan.md), computed here, offline, in a few seconds.

- gan_optimal_discriminator.png: a two-mode data density, a generator bump over one of the
  modes, and the optimal discriminator for them.
- gan_generator_losses.png: saturating vs non-saturating generator loss and their gradients,
  as functions of D(G(z)).
- gan_minimax_xy.png: gradient dynamics on min_x max_y xy (alternating and simultaneous).
- gan_toy_1d.png: a tiny GAN on a 1-D mixture of two Gaussians, trained for a few seconds,
  its samples' histogram over training, and the generator map z -> G(z).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _gauss(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))


DATA_MODES = (-1.5, 1.5)  # the two bumps of the data density, each with standard deviation 0.6
GENERATOR_MEAN, GENERATOR_STD = 1.0, 1.3  # one broad bump, centred near the right-hand mode


def optimal_discriminator_curves(x: np.ndarray | None = None) -> dict:
    """The densities of fig-gan-optimal-d and D* = p_data / (p_data + p_g) on the grid x.

    The generator's single bump sits over the right-hand data mode and misses the left one.
    Returns {"x", "p_data", "p_g", "d_star"}, each of the grid's shape.
    """
    x = np.linspace(-5, 6, 600) if x is None else np.asarray(x, dtype=float)
    p_data = 0.5 * _gauss(x, DATA_MODES[0], 0.6) + 0.5 * _gauss(x, DATA_MODES[1], 0.6)
    p_g = _gauss(x, GENERATOR_MEAN, GENERATOR_STD)
    return {"x": x, "p_data": p_data, "p_g": p_g, "d_star": p_data / (p_data + p_g)}


def optimal_discriminator(path: Path) -> Path:
    curves = optimal_discriminator_curves()
    x, p_data, p_g, d_star = curves["x"], curves["p_data"], curves["p_g"], curves["d_star"]
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.fill_between(x, p_data, color="C0", alpha=0.3, label=r"$p_\mathrm{data}$")
    ax.fill_between(x, p_g, color="C1", alpha=0.3, label=r"$p_g$")
    ax.set_ylabel("density")
    ax.set_xlabel("x")
    ax2 = ax.twinx()
    ax2.plot(x, d_star, color="k", lw=2, label=r"$D^*(x) = p_\mathrm{data} / (p_\mathrm{data} + p_g)$")
    ax2.axhline(0.5, color="k", ls=":", lw=1)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel(r"$D^*(x)$")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=8, frameon=False)
    ax.set_title("The optimal discriminator for a fixed generator")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def generator_losses(path: Path) -> Path:
    d = np.linspace(1e-3, 1 - 1e-3, 500)  # D(G(z)), the probability D gives to "real"
    saturating = np.log(1 - d)  # minimised by G in the original min-max game
    non_saturating = -np.log(d)
    # gradients with respect to the discriminator's logit s, D = sigmoid(s)
    grad_sat = -d  # d/ds log(1 - sigmoid(s)) = -sigmoid(s)
    grad_ns = d - 1  # d/ds -log sigmoid(s) = sigmoid(s) - 1
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.3))
    ax1.plot(d, saturating, label=r"saturating: $\log(1 - D(G(z)))$")
    ax1.plot(d, non_saturating, label=r"non-saturating: $-\log D(G(z))$")
    ax1.set_xlabel(r"$D(G(z))$")
    ax1.set_ylabel("generator loss (minimised)")
    ax1.set_ylim(-5, 5)
    ax1.legend(fontsize=8, frameon=False)
    ax1.axvspan(0, 0.1, color="grey", alpha=0.15)
    ax1.text(0.02, -4.6, "early\ntraining", fontsize=8)
    ax2.plot(d, np.abs(grad_sat), label="saturating")
    ax2.plot(d, np.abs(grad_ns), label="non-saturating")
    ax2.set_xlabel(r"$D(G(z))$")
    ax2.set_ylabel("|gradient w.r.t. the logit|")
    ax2.axvspan(0, 0.1, color="grey", alpha=0.15)
    ax2.legend(fontsize=8, frameon=False)
    fig.suptitle("Both losses push D(G(z)) up; only the non-saturating one does so strongly when D wins")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def xy_trajectory(step: float, steps: int, alternating: bool, start=(1.0, 1.0)) -> np.ndarray:
    """Iterates of gradient descent in x / ascent in y on f(x, y) = x y, shape (steps + 1, 2).

    Alternating: y first (y += step * x), then x with the new y (x -= step * y).
    Simultaneous: both from the old point.
    """
    x, y = start
    path = [(x, y)]
    for _ in range(steps):
        if alternating:
            y = y + step * x
            x = x - step * y
        else:
            x, y = x - step * y, y + step * x
        path.append((x, y))
    return np.asarray(path)


def minimax_xy(path: Path) -> Path:
    # Step 0.3 only: the assignment asks students to work out the step-1 case themselves.
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    alt = xy_trajectory(0.3, 60, alternating=True)
    axes[0].plot(alt[:, 0], alt[:, 1], "-", color="C0", lw=1)
    axes[0].plot(*alt[0], "ko")
    axes[0].set_title("alternating, step 0.3: orbits forever")
    sim = xy_trajectory(0.3, 40, alternating=False)
    axes[1].plot(sim[:, 0], sim[:, 1], "-", color="C3", lw=1)
    axes[1].plot(*sim[0], "ko")
    axes[1].set_title("simultaneous, step 0.3: spirals out")
    for ax in axes:
        ax.plot(0, 0, "k*", ms=12)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("x (minimises)")
        ax.set_ylabel("y (maximises)")
        ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(r"Gradient play on $\min_x \max_y\, xy$ from (1, 1); the equilibrium is the star")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def train_toy_gan(steps: int = 1500, seed: int = 0, batch: int = 256, snapshots=(0, 300, 800, 1500)):
    """A 1-D GAN: data from 0.5 N(-2, 0.3^2) + 0.5 N(2, 0.3^2), noise uniform on (-1, 1).

    G and D are MLPs with one hidden layer of 32 units; non-saturating losses, Adam
    (lr 1e-3, betas (0.5, 0.999)). Returns {step: samples of G (2000,)}, the final map
    z -> G(z) on a grid, and the per-step losses.
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    G = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.1), nn.Linear(32, 32), nn.LeakyReLU(0.1), nn.Linear(32, 1))
    D = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.1), nn.Linear(32, 32), nn.LeakyReLU(0.1), nn.Linear(32, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits

    def real(n):
        sign = torch.randint(0, 2, (n, 1), generator=gen) * 2 - 1
        return 2.0 * sign + 0.3 * torch.randn(n, 1, generator=gen)

    def noise(n):
        return torch.rand(n, 1, generator=gen) * 2 - 1

    z_eval = torch.linspace(-1, 1, 2000).reshape(-1, 1)
    samples, losses = {}, []
    for step in range(steps + 1):
        if step in snapshots:
            with torch.no_grad():
                samples[step] = G(z_eval).reshape(-1).numpy().copy()
        if step == steps:
            break
        x, z = real(batch), noise(batch)
        opt_d.zero_grad()
        lr, lf = D(x), D(G(z).detach())
        loss_d = bce(lr, torch.ones_like(lr)) + bce(lf, torch.zeros_like(lf))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        lf = D(G(noise(batch)))
        loss_g = bce(lf, torch.ones_like(lf))
        loss_g.backward()
        opt_g.step()
        losses.append((loss_d.item(), loss_g.item()))
    return samples, z_eval.reshape(-1).numpy(), np.asarray(losses)


def toy_gan(path: Path) -> Path:
    import torch

    torch.set_num_threads(1)  # tiny networks: threads only add overhead
    snaps = (0, 300, 800, 1500)
    samples, z, losses = train_toy_gan(snapshots=snaps)
    xs = np.linspace(-4, 4, 400)
    p_data = 0.5 * _gauss(xs, -2, 0.3) + 0.5 * _gauss(xs, 2, 0.3)
    fig, axes = plt.subplots(1, len(snaps) + 1, figsize=(13, 2.9))
    for ax, step in zip(axes, snaps):
        ax.plot(xs, p_data, color="C0", label="data")
        ax.hist(np.clip(samples[step], -4, 4), bins=60, range=(-4, 4), density=True, color="C1", alpha=0.6,
                label="G(z)")
        ax.set_title(f"step {step}")
        ax.set_yticks([])
        ax.set_xlabel("x")
    axes[0].legend(fontsize=8, frameon=False)
    ax = axes[-1]
    ax.plot(z, samples[snaps[-1]], color="C1")
    ax.set_xlabel("noise z")
    ax.set_ylabel("G(z)")
    ax.set_title("final generator map")
    fig.suptitle("A 1-D GAN learning a two-mode distribution (uniform noise in, samples out)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def make(outdir: Path) -> list[Path]:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [
        optimal_discriminator(outdir / "gan_optimal_discriminator.png"),
        generator_losses(outdir / "gan_generator_losses.png"),
        minimax_xy(outdir / "gan_minimax_xy.png"),
        toy_gan(outdir / "gan_toy_1d.png"),
    ]


if __name__ == "__main__":
    import sys

    for p in make(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "generated"):
        print(p)
