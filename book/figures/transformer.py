"""Figures of the chapter "Attention and Transformers" (book/transformer.md).

Everything is computed here, offline, seeded, with matplotlib's Agg backend:

- ``attention_saturation.png``: for random queries and keys with unit-variance entries,
  the spread of the dot product, the largest softmax weight and the size of the softmax
  gradient, as the head size d grows, with and without the 1/sqrt(d) scaling (measured
  by sampling).
- ``positional_encoding.png``: the sinusoidal code of 64 positions in E = 64 features,
  and the similarity of every pair of positions' codes.
- ``causal_mask.png``: which words of a caption each position may attend to.
- ``attention_map.png``: attention weights of a one-layer attention model trained here
  (a few seconds on a CPU) to reverse a sequence: it learns to look at the mirrored position.

Run ``python book/figures/make_all.py`` to write them to ``book/figures/generated/``.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 130
SEED = 0


# --------------------------------------------------------------------------- saturation
def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def saturation_stats(dims, T: int = 16, trials: int = 2000, seed: int = SEED) -> dict:
    """Measure what scaling does to the softmax of q.k over T keys, for head sizes ``dims``.

    For each d: draw ``trials`` queries and T keys with N(0, 1) entries; scores are q.k
    (unscaled) or q.k / sqrt(d) (scaled). Returns, per variant, the standard deviation
    of the scores, the mean largest softmax weight, and the mean Frobenius norm of the
    softmax Jacobian diag(p) - p p^T (how much gradient flows back to the scores).
    """
    rng = np.random.default_rng(seed)
    out = {v: {"std": [], "max_weight": [], "jacobian": []} for v in ("unscaled", "scaled")}
    for d in dims:
        q = rng.standard_normal((trials, 1, d))
        k = rng.standard_normal((trials, T, d))
        raw = (q * k).sum(-1)  # (trials, T)
        for variant, s in (("unscaled", raw), ("scaled", raw / np.sqrt(d))):
            p = _softmax(s)  # (trials, T)
            jac = p[:, :, None] * np.eye(T)[None] - p[:, :, None] * p[:, None, :]  # (trials, T, T)
            out[variant]["std"].append(s.std())
            out[variant]["max_weight"].append(p.max(-1).mean())
            out[variant]["jacobian"].append(np.linalg.norm(jac, axis=(1, 2)).mean())
    return out


def _saturation_figure(path: Path) -> Path:
    dims = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    stats = saturation_stats(dims)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    titles = ["spread of the scores (std)", "largest softmax weight (mean)",
              "softmax gradient size (mean ||J||)"]
    for ax, key, title in zip(axes, ["std", "max_weight", "jacobian"], titles):
        for variant, style in (("unscaled", "o-"), ("scaled", "s-")):
            label = "q.k" if variant == "unscaled" else "q.k / sqrt(d)"
            ax.plot(dims, stats[variant][key], style, label=label, ms=4)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("head size d")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log", base=2)
    axes[1].axhline(1 / 16, color="gray", lw=0.8, ls=":")
    axes[1].text(1, 1 / 16 + 0.02, "uniform (1/T)", fontsize=8, color="gray")
    axes[0].legend(fontsize=8)
    fig.suptitle("Random queries and keys, T = 16 keys, 2000 samples per point", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# --------------------------------------------------------------------- positional code
def sinusoidal_code(length: int, E: int) -> np.ndarray:
    """(length, E): even features sin(i w_m), odd features cos(i w_m), w_m = 10000^(-2m/E)."""
    freqs = 10000.0 ** (-np.arange(E // 2) * 2.0 / E)  # (E/2,)
    phase = np.outer(np.arange(length), freqs)  # (length, E/2)
    code = np.empty((length, E))
    code[:, 0::2], code[:, 1::2] = np.sin(phase), np.cos(phase)
    return code


def _positional_figure(path: Path) -> Path:
    P = sinusoidal_code(64, 64)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.4, 1]})
    # the even (sine) features only: interleaved with the cosines the picture is striped
    im = axes[0].imshow(P[:, 0::2].T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, origin="lower",
                        extent=(-0.5, 63.5, -1, 63))
    axes[0].set_xlabel("position i")
    axes[0].set_ylabel("even feature j")
    axes[0].set_title("sine features P[i, j] (E = 64): frequency falls with j", fontsize=10)
    fig.colorbar(im, ax=axes[0], fraction=0.04)
    sim = P @ P.T  # (64, 64)
    im = axes[1].imshow(sim, cmap="viridis", origin="lower")
    axes[1].set_xlabel("position i'")
    axes[1].set_ylabel("position i")
    axes[1].set_title("P[i] . P[i'] depends on i - i' only", fontsize=10)
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------- causal mask
def _causal_figure(path: Path) -> Path:
    words = ["<START>", "a", "red", "circle", "on", "grass"]
    T = len(words)
    allowed = np.tril(np.ones((T, T)))
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(allowed, cmap="Blues", vmin=-0.3, vmax=1.4)
    for s in range(T):
        for t in range(T):
            ax.text(t, s, "1" if allowed[s, t] else "-inf", ha="center", va="center", fontsize=8,
                    color="white" if allowed[s, t] else "gray")
    ax.set_xticks(range(T), words, rotation=45, ha="right")
    ax.set_yticks(range(T), [f"predicts '{w}'" for w in words[1:]] + ["predicts <END>"])
    ax.set_xlabel("key position t (may attend if 1)")
    ax.set_title("causal mask: row s sees columns 0..s", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ trained attention
def train_reversal_attention(L: int = 8, V: int = 10, E: int = 32, steps: int = 150, seed: int = SEED):
    """Train one attention layer to output its input sequence reversed.

    Output position s asks (query = a learned position vector) for the token at input
    position L-1-s; keys and values are token + learned position embeddings. Uses
    torch.nn.MultiheadAttention with one head. Returns (accuracy, weights (L, L) for one
    test sequence, that sequence).
    """
    import torch
    from torch import nn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and immune to busy CPUs
    try:
        return _train_reversal(torch, nn, L, V, E, steps, seed)
    finally:
        torch.set_num_threads(threads)


def _train_reversal(torch, nn, L, V, E, steps, seed):
    torch.manual_seed(seed)
    tok = nn.Embedding(V, E)
    pos_in = nn.Parameter(0.5 * torch.randn(1, L, E))
    pos_out = nn.Parameter(0.5 * torch.randn(1, L, E))
    attn = nn.MultiheadAttention(E, 1, batch_first=True)
    head = nn.Linear(E, V)
    params = [*tok.parameters(), pos_in, pos_out, *attn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    g = torch.Generator().manual_seed(seed)

    def run(x):
        memory = tok(x) + pos_in  # (N, L, E)
        out, w = attn(pos_out.expand(x.shape[0], -1, -1), memory, memory)  # (N, L, E), (N, L, L)
        return head(out), w

    for _ in range(steps):
        x = torch.randint(0, V, (64, L), generator=g)
        scores, _ = run(x)
        loss = nn.functional.cross_entropy(scores.reshape(-1, V), x.flip(1).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x = torch.randint(0, V, (256, L), generator=g)
        scores, w = run(x)
        acc = (scores.argmax(-1) == x.flip(1)).float().mean().item()
    return acc, w[0].numpy(), x[0].numpy()


def _attention_map_figure(path: Path) -> Path:
    acc, w, x = train_reversal_attention()
    L = len(x)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    im = ax.imshow(w, cmap="magma", vmin=0, vmax=1)
    ax.set_xticks(range(L), [f"{t}:{v}" for t, v in enumerate(x)], rotation=45)
    ax.set_yticks(range(L), [f"out {s}" for s in range(L)])
    ax.set_xlabel("input position : token")
    ax.set_title(f"learned attention, reversal task\n(test accuracy {acc:.0%})", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def make(outdir: Path) -> list[Path]:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [
        _saturation_figure(outdir / "attention_saturation.png"),
        _positional_figure(outdir / "positional_encoding.png"),
        _causal_figure(outdir / "causal_mask.png"),
        _attention_map_figure(outdir / "attention_map.png"),
    ]


if __name__ == "__main__":
    import sys

    for f in make(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "generated"):
        print(f)
