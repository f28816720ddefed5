"""Figures of the chapter "Image captioning with recurrent networks" (book/captioning.md).

Every figure is drawn or computed here, offline, with matplotlib's Agg backend:

- ``rnn_unrolled.png``: a vanilla RNN folded and unrolled over four time steps.
- ``captioning_teacher_forcing.png``: the captioning model during training: the projected
  image feature is h0, captions_in is fed, captions_out is predicted, NULL is masked.
- ``lstm_cell.png``: data flow through one LSTM step, with the activation split i, f, o, g.
- ``gradient_norms.png``: how the gradient norm changes as it flows back through time in a
  random RNN, for several spectral radii of the recurrent matrix (computed with autograd).
- ``gate_activations.png``: sigmoid, tanh and ReLU on the same axes.

Run ``python book/figures/make_all.py`` to write them to ``book/figures/generated/``.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

DPI = 130  # sharp on a laptop screen, small files
CELL = "#dbe9f6"  # recurrent cells
GATE = "#fde2c4"  # gate nonlinearities
DATA = "#e4f2dc"  # inputs and outputs
MASKED = "#e6e6e6"  # positions the loss ignores


# --------------------------------------------------------------------------- drawing kit
def _canvas(width: float, height: float):
    """A figure whose axes use inches as data units, so boxes keep their shape."""
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    return fig, ax


def _box(ax, cx, cy, w, h, text, color=CELL, fontsize=11, **kw):
    ax.add_patch(FancyBboxPatch((cx - w / 2, cy - h / 2), w, h,
                                boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=color, ec="#333333", lw=1.2, **kw))
    ax.text(cx, cy, text, ha="center", va="center", fontsize=fontsize)


def _op(ax, cx, cy, symbol, r=0.17):
    """A pointwise operation (product or sum) drawn as a circle."""
    ax.add_patch(Circle((cx, cy), r, fc="white", ec="#333333", lw=1.2))
    ax.text(cx, cy, symbol, ha="center", va="center", fontsize=12)


def _arrow(ax, start, end, rad=0.0, color="#333333", lw=1.3, style="-|>"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12,
                                 connectionstyle=f"arc3,rad={rad}", color=color, lw=lw,
                                 shrinkA=0, shrinkB=0))


def _save(fig, outdir: Path, name: str) -> Path:
    path = outdir / name
    fig.savefig(path, dpi=DPI, facecolor="white", metadata={"Software": None})
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- figures
def rnn_unrolled(outdir: Path) -> Path:
    """A vanilla RNN: the folded cell with its loop, and the same cell unrolled over T=4."""
    fig, ax = _canvas(10.0, 3.7)
    cy, bw, bh = 1.75, 0.95, 0.75

    # Folded: one cell whose output feeds back into itself.
    _box(ax, 0.95, cy, bw, bh, "RNN")
    _arrow(ax, (0.95, 0.55), (0.95, cy - bh / 2))
    ax.text(0.95, 0.38, "$x_t$", ha="center", va="center", fontsize=12)
    _arrow(ax, (0.95, cy + bh / 2), (0.95, 2.95))
    ax.text(0.95, 3.12, "$h_t$", ha="center", va="center", fontsize=12)
    _arrow(ax, (0.95 + bw / 2, cy + 0.2), (0.95 + bw / 2, cy - 0.2), rad=-2.2)
    ax.text(1.95, cy, "$W_h$", ha="left", va="center", fontsize=9)
    ax.text(2.45, cy + 0.6, "unroll\n$\\Longrightarrow$", ha="center", va="center", fontsize=11)

    # Unrolled over four steps.
    xs = [4.0, 5.6, 7.2, 8.8]
    ax.text(2.95, cy, "$h_0$", ha="center", va="center", fontsize=12)
    _arrow(ax, (3.15, cy), (xs[0] - bw / 2, cy))
    ax.text((3.15 + xs[0] - bw / 2) / 2, cy + 0.13, "$W_h$", ha="center", fontsize=9)
    for t, x in enumerate(xs, start=1):
        _box(ax, x, cy, bw, bh, "tanh")
        _arrow(ax, (x, 0.55), (x, cy - bh / 2))
        ax.text(x, 0.38, f"$x_{t}$", ha="center", va="center", fontsize=12)
        ax.text(x + 0.08, 0.95, "$W_x$", ha="left", fontsize=9)
        _arrow(ax, (x, cy + bh / 2), (x, 2.95))
        ax.text(x, 3.12, f"$h_{t}$", ha="center", va="center", fontsize=12)
        if t < len(xs):
            _arrow(ax, (x + bw / 2, cy), (xs[t] - bw / 2, cy))
            ax.text((x + xs[t]) / 2, cy + 0.13, "$W_h$", ha="center", fontsize=9)
    ax.text(6.4, 3.52, "the same $W_x$, $W_h$, $b$ at every step:  "
            "$h_t = \\tanh(x_t W_x + h_{t-1} W_h + b)$",
            ha="center", va="center", fontsize=11)
    return _save(fig, outdir, "rnn_unrolled.png")


def captioning_teacher_forcing(outdir: Path) -> Path:
    """Training the captioning model on one caption of length 7 (so T = 6)."""
    caption = ["<START>", "a", "dog", "runs", "<END>", "<NULL>", "<NULL>"]
    words_in, words_out = caption[:-1], caption[1:]
    mask = [w != "<NULL>" for w in words_out]

    fig, ax = _canvas(11.0, 4.75)
    xs = [3.3 + 1.3 * t for t in range(len(words_in))]
    y_in, y_emb, y_cell, y_score, y_out = 0.35, 1.15, 2.25, 3.25, 4.05
    bw = 0.95

    # Image feature -> projection -> h0.
    _box(ax, 0.85, 0.9, 1.35, 0.7, "image feature\n$f$ (D)", color=DATA, fontsize=10)
    _box(ax, 0.85, y_cell, 1.35, 0.7, "$h_0 = f\\,W_{proj}$\n$+\\,b_{proj}$", fontsize=10)
    _arrow(ax, (0.85, 1.25), (0.85, y_cell - 0.35))
    _arrow(ax, (0.85 + 0.675, y_cell), (xs[0] - bw / 2, y_cell))
    ax.text(2.15, y_cell + 0.12, "$h_0$", ha="center", fontsize=11)

    for t, x in enumerate(xs):
        keep = mask[t]
        ax.text(x, y_in, words_in[t], ha="center", va="center", fontsize=10, family="monospace")
        _arrow(ax, (x, y_in + 0.17), (x, y_emb - 0.22))
        _box(ax, x, y_emb, bw, 0.44, "embed", color=DATA, fontsize=9)
        _arrow(ax, (x, y_emb + 0.22), (x, y_cell - 0.35))
        _box(ax, x, y_cell, bw, 0.7, "RNN\nor LSTM", fontsize=9)
        if t + 1 < len(xs):
            _arrow(ax, (x + bw / 2, y_cell), (xs[t + 1] - bw / 2, y_cell))
        _arrow(ax, (x, y_cell + 0.35), (x, y_score - 0.22))
        _box(ax, x, y_score, bw, 0.44, "scores (V)", color=DATA if keep else MASKED, fontsize=9)
        _arrow(ax, (x, y_score + 0.22), (x, y_out - 0.17), style="-")
        ax.text(x, y_out, words_out[t], ha="center", va="center", fontsize=10,
                family="monospace", color="black" if keep else "#999999")
        ax.text(x, y_out + 0.38, f"mask {int(keep)}", ha="center", va="center", fontsize=9,
                color="black" if keep else "#999999")

    ax.text(0.1, y_in, "captions_in", ha="left", va="center", fontsize=10, family="monospace")
    ax.text(0.1, y_out, "captions_out", ha="left", va="center", fontsize=10, family="monospace")
    ax.text(0.1, y_out + 0.38, "softmax loss", ha="left", va="center", fontsize=10)
    ax.text(xs[-1] + 0.2, 0.95 + 0.0, "", fontsize=9)
    ax.add_patch(Rectangle((xs[4] - 0.6, y_score - 0.32), 2.5, 1.25, fill=False, ls="--",
                           ec="#999999", lw=1.0))
    ax.text(xs[4] + 0.65, y_score - 0.45, "padding: no loss", ha="center", va="center",
            fontsize=9, color="#666666")
    return _save(fig, outdir, "captioning_teacher_forcing.png")


def lstm_cell(outdir: Path) -> Path:
    """One LSTM step: the activation a (N, 4H) is split into i, f, o, g (in that order)."""
    fig, ax = _canvas(10.0, 4.85)
    y_c, y_gate, y_a = 4.35, 2.55, 1.05

    # Inputs into the activation.
    ax.text(0.35, y_a, "$h_{t-1}$", ha="center", va="center", fontsize=13)
    ax.text(0.35, y_c, "$c_{t-1}$", ha="center", va="center", fontsize=13)
    ax.text(2.0, 0.18, "$x_t$", ha="center", va="center", fontsize=13)
    _arrow(ax, (0.65, y_a), (1.2, y_a))
    _arrow(ax, (2.0, 0.35), (2.0, y_a - 0.3))
    _box(ax, 1.95, y_a, 1.75, 0.6, "$a = x_t W_x + h_{t-1} W_h + b$", fontsize=9, color="white")
    _arrow(ax, (2.8, y_a), (3.2, y_a))

    # The activation split into four blocks of H, in the order i, f, o, g.
    blocks = ["i", "f", "o", "g"]
    bx0, bwid = 3.2, 0.6
    for k, name in enumerate(blocks):
        ax.add_patch(Rectangle((bx0 + k * bwid, y_a - 0.25), bwid, 0.5, fc=GATE, ec="#333333"))
        ax.text(bx0 + (k + 0.5) * bwid, y_a, f"${name}$", ha="center", va="center", fontsize=12)
    ax.text(bx0 + 2 * bwid, y_a - 0.5, "$a$: (N, 4H), blocks of H in the order i, f, o, g",
            ha="center", va="center", fontsize=9)

    # Nonlinearities, placed where each gate is used.
    gate_x = {"f": 2.4, "i": 4.2, "g": 5.2, "o": 7.0}
    gate_fn = {"f": "$\\sigma$", "i": "$\\sigma$", "g": "tanh", "o": "$\\sigma$"}
    for k, name in enumerate(blocks):
        gx = gate_x[name]
        _arrow(ax, (bx0 + (k + 0.5) * bwid, y_a + 0.25), (gx, y_gate - 0.25),
               rad=0.0)
        _box(ax, gx, y_gate, 0.6, 0.5, gate_fn[name], color=GATE, fontsize=12)
        ax.text(gx - 0.38, y_gate + 0.33, f"${name}$", ha="center", va="center", fontsize=11)

    # Cell-state highway: c_t = f * c_{t-1} + i * g.
    _arrow(ax, (0.65, y_c), (2.4 - 0.17, y_c), style="-")
    _op(ax, 2.4, y_c, "×")
    _arrow(ax, (2.4, y_gate + 0.25), (2.4, y_c - 0.17))
    _arrow(ax, (2.4 + 0.17, y_c), (4.7 - 0.17, y_c))
    _op(ax, 4.7, y_c, "+")
    _op(ax, 4.7, 3.45, "×")
    _arrow(ax, (4.2, y_gate + 0.25), (4.7 - 0.13, 3.45 - 0.11))
    _arrow(ax, (5.2, y_gate + 0.25), (4.7 + 0.13, 3.45 - 0.11))
    _arrow(ax, (4.7, 3.45 + 0.17), (4.7, y_c - 0.17))
    _arrow(ax, (4.7 + 0.17, y_c), (9.3, y_c))
    ax.text(9.55, y_c, "$c_t$", ha="center", va="center", fontsize=13)

    # Output: h_t = o * tanh(c_t).
    _arrow(ax, (8.0, y_c), (8.0, 3.55 + 0.25))
    _box(ax, 8.0, 3.55, 0.6, 0.5, "tanh", color=GATE, fontsize=11)
    _op(ax, 8.0, y_gate, "×")
    _arrow(ax, (8.0, 3.55 - 0.25), (8.0, y_gate + 0.17))
    _arrow(ax, (7.0 + 0.3, y_gate), (8.0 - 0.17, y_gate))
    _arrow(ax, (8.0 + 0.17, y_gate), (9.3, y_gate))
    ax.text(9.55, y_gate, "$h_t$", ha="center", va="center", fontsize=13)

    ax.text(7.0, 1.25, "$c_t = f \\odot c_{t-1} + i \\odot g$\n$h_t = o \\odot \\tanh(c_t)$",
            ha="left", va="center", fontsize=11)
    return _save(fig, outdir, "lstm_cell.png")


def gradient_norm_curves(rhos, nonlinearity: str, H: int = 64, T: int = 60, seeds=range(5)):
    """Norm of dL/dh_t for L = u . h_T, as a function of the distance T - t.

    The recurrence is h_t = phi(h_{t-1} W + x_t) with W of shape (H, H) rescaled to the
    given spectral radius (largest |eigenvalue|), phi the identity ("linear") or tanh, and
    small random inputs x_t of shape (H,) (zero for "linear"). The gradient comes from torch autograd.

    Returns an array (len(rhos), T + 1) of geometric means over the seeds; column k is the
    norm k steps before the end (column 0 is ||u|| = 1).
    """
    import torch

    out = np.zeros((len(rhos), T + 1))
    for r, rho in enumerate(rhos):
        logs = []
        for seed in seeds:
            gen = torch.Generator().manual_seed(1000 + seed)
            A = torch.randn(H, H, generator=gen, dtype=torch.float64)
            W = A * (rho / torch.linalg.eigvals(A).abs().max())
            if nonlinearity == "linear":
                x = torch.zeros(T, H, dtype=torch.float64)
            else:
                x = 0.1 * torch.randn(T, H, generator=gen, dtype=torch.float64)
            h = torch.randn(H, generator=gen, dtype=torch.float64).requires_grad_(True)
            states = [h]
            for t in range(T):
                h = h @ W + x[t]
                if nonlinearity == "tanh":
                    h = torch.tanh(h)
                h.retain_grad()
                states.append(h)
            u = torch.randn(H, generator=gen, dtype=torch.float64)
            u = u / u.norm()
            (states[-1] @ u).backward()
            norms = torch.stack([s.grad.norm() for s in reversed(states)])  # (T + 1,)
            logs.append(norms.log().numpy())
        out[r] = np.exp(np.mean(logs, axis=0))
    return out


def gradient_norms(outdir: Path) -> Path:
    """Vanishing and exploding gradients through time, for several spectral radii."""
    # Blue below radius 1 (vanishing), black at 1, warm above 1 (exploding).
    colors = {0.7: "#08306b", 0.9: "#4292c6", 1.0: "#222222", 1.1: "#fd8d3c",
              1.3: "#e6550d", 2.0: "#a50f15", 3.0: "#67000d"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), sharey=True)
    panels = [
        (axes[0], "linear", [0.7, 0.9, 1.0, 1.1, 1.3], "linear RNN  $h_t = h_{t-1} W$"),
        (axes[1], "tanh", [0.9, 1.3, 2.0, 3.0], "tanh RNN  $h_t = \\tanh(h_{t-1} W + x_t)$"),
    ]
    for ax, kind, rhos, title in panels:
        curves = gradient_norm_curves(rhos, kind)
        steps = np.arange(curves.shape[1])
        for rho, curve in zip(rhos, curves):
            ax.semilogy(steps, curve, color=colors[rho], lw=2, label=f"radius {rho:g}")
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("steps back in time  $T - t$")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="lower left", ncol=2)
    axes[0].set_ylabel("$\\|\\partial L / \\partial h_t\\|$")
    axes[0].set_ylim(1e-8, 1e8)
    fig.suptitle("Gradient norm flowing back from the last step "
                 "(H = 64, geometric mean over 5 random W)", fontsize=11)
    fig.tight_layout()
    return _save(fig, outdir, "gradient_norms.png")


def gate_activations(outdir: Path) -> Path:
    """Sigmoid, tanh and ReLU on the same axes, nothing marked (a notebook question is about them)."""
    z = np.linspace(-6, 6, 601)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(z, 1 / (1 + np.exp(-z)), lw=2.2, label="sigmoid $\\sigma(z)$")
    ax.plot(z, np.tanh(z), lw=2.2, ls="--", label="tanh $z$")
    ax.plot(z, np.maximum(z, 0), lw=2.2, ls=":", label="ReLU $\\max(0, z)$")
    ax.set_xlim(-6, 6)
    ax.set_ylim(-1.3, 3.0)
    ax.axhline(0, color="#555555", lw=0.8)
    ax.axvline(0, color="#555555", lw=0.8)
    ax.set_xlabel("pre-activation $z$")
    ax.legend(fontsize=9, loc="upper left")
    ax.set_title("Three activation functions", fontsize=11)
    fig.tight_layout()
    return _save(fig, outdir, "gate_activations.png")


def make(outdir: Path) -> list[Path]:
    """Write every figure of the captioning chapter into outdir; return their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [
        rnn_unrolled(outdir),
        captioning_teacher_forcing(outdir),
        lstm_cell(outdir),
        gradient_norms(outdir),
        gate_activations(outdir),
    ]


if __name__ == "__main__":
    for p in make(Path(__file__).resolve().parent / "generated"):
        print(p)
