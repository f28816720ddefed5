"""Hidden-test cases of the Transformer captioning assignment (COURSE.md section 2).

Every case builds its own inputs from fixed seeds (different from the notebook's visible
checks), runs the student's classes in float64 and eval mode (dropout never acts, so no
result depends on which entries a torch release's dropout would drop), and returns the
outputs to compare with the reference solution.

Weights are not left to the student's constructor: after building a module under
``torch.manual_seed`` the case overwrites every parameter of the standard layers with
values drawn from a generator seeded by the case seed and the parameter's *name*, so
the values depend only on (seed, name, shape), not on the order of random draws.
"""
from __future__ import annotations

import contextlib
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograder.cases import case

F64 = torch.float64


def _generator(seed: int, name: str) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))


def _randn(shape, seed: int, name: str) -> torch.Tensor:
    return torch.randn(*shape, generator=_generator(seed, name), dtype=F64)


@torch.no_grad()
def _seeded_weights_(model: nn.Module, seed: int) -> None:
    """Overwrite Linear, Embedding and LayerNorm parameters with name-seeded values.

    Linear weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1^2); Embedding rows ~ N(0, 1);
    LayerNorm weight ~ 1 + N(0, 0.1^2), bias ~ N(0, 0.1^2). Larger than the model's own
    N(0, 0.02) so that the scores differ clearly between right and wrong forward passes.
    """
    for mname, m in model.named_modules():
        if isinstance(m, nn.Linear):
            m.weight.copy_(_randn(m.weight.shape, seed, mname + ".weight") / m.in_features ** 0.5)
            if m.bias is not None:
                m.bias.copy_(0.1 * _randn(m.bias.shape, seed, mname + ".bias"))
        elif isinstance(m, nn.Embedding):
            m.weight.copy_(_randn(m.weight.shape, seed, mname + ".weight"))
        elif isinstance(m, nn.LayerNorm):
            m.weight.copy_(1.0 + 0.1 * _randn(m.weight.shape, seed, mname + ".weight"))
            m.bias.copy_(0.1 * _randn(m.bias.shape, seed, mname + ".bias"))


def _no_dropout_(model: nn.Module) -> nn.Module:
    """Dropout probability 0 everywhere and eval mode: a deterministic model."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    return model.eval()


@contextlib.contextmanager
def _default_dtype(dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


# ----------------------------------------------------------------------------------
# MultiHeadAttention
# ----------------------------------------------------------------------------------

def _attention(ns, seed, E, H, N, S, T, cross, mask=None):
    """Outputs and input gradients of the student's attention on seeded inputs."""
    torch.manual_seed(seed)
    attn = ns["MultiHeadAttention"](E, H, dropout=0.2)
    _seeded_weights_(attn, seed)
    attn = _no_dropout_(attn.double())
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(N, S, E, generator=g, dtype=F64, requires_grad=True)
    if cross:
        key = torch.randn(N, T, E, generator=g, dtype=F64, requires_grad=True)
        value = torch.randn(N, T, E, generator=g, dtype=F64, requires_grad=True)
        out = attn(query, key, value, attn_mask=mask)
    else:
        key = value = query
        out = attn(query, query, query, attn_mask=mask)
    upstream = torch.randn(N, S, E, generator=g, dtype=F64)
    (out * upstream).sum().backward()
    result = {"out": out.detach()}
    result["dquery"] = query.grad
    if cross:
        result["dkey"] = key.grad
        result["dvalue"] = value.grad
    return result


@case("mha_self_attention", tol=1e-6)
def mha_self_attention(ns):
    """Self-attention (query = key = value), 3 heads, no mask."""
    return _attention(ns, 8101, E=12, H=3, N=2, S=5, T=5, cross=False)


@case("mha_cross_attention", tol=1e-6)
def mha_cross_attention(ns):
    """Cross-attention with S != T, 4 heads, no mask; gradients w.r.t. all three inputs."""
    return _attention(ns, 8102, E=16, H=4, N=3, S=4, T=7, cross=True)


@case("mha_head_counts", tol=1e-6)
def mha_head_counts(ns):
    """The same sizes with 1, 2 and 6 heads: the split into heads must depend on H."""
    outputs = {}
    for H in (1, 2, 6):
        res = _attention(ns, 8103 + H, E=12, H=H, N=2, S=3, T=4, cross=True)
        outputs.update({f"{k}_h{H}": v for k, v in res.items()})
    return outputs


@case("mha_causal_mask", tol=1e-6)
def mha_causal_mask(ns):
    """Self-attention with a lower-triangular bool mask (position s sees 0..s)."""
    S = 6
    mask = torch.tril(torch.ones(S, S, dtype=torch.bool))
    return _attention(ns, 8111, E=8, H=2, N=2, S=S, T=S, cross=False, mask=mask)


@case("mha_random_mask", tol=1e-6)
def mha_random_mask(ns):
    """Cross-attention with an arbitrary bool mask (every query keeps at least one key)."""
    S, T = 5, 7
    g = torch.Generator().manual_seed(8112)
    mask = torch.rand(S, T, generator=g) > 0.5
    mask[torch.arange(S), torch.randint(0, T, (S,), generator=g)] = True
    return _attention(ns, 8113, E=12, H=3, N=2, S=S, T=T, cross=True, mask=mask)


@case("mha_dropout_on_weights")
def mha_dropout_on_weights(ns):
    """Is dropout applied to the attention weights (whichever entries it drops)?

    With one key, every weight is 1 before dropout; with p = 0.5 each head's weight
    becomes 0 or 2. So in train mode every output row must be proj of the heads' values
    scaled by 0 or 2 each (4 possibilities for 2 heads). Returns 1 when every row is one
    of them and at least one weight was dropped, whatever the random draws were.
    """
    torch.manual_seed(8114)
    E, H, N, S = 8, 2, 16, 4
    attn = ns["MultiHeadAttention"](E, H, dropout=0.5)
    _seeded_weights_(attn, 8114)
    attn = attn.double().train()
    g = torch.Generator().manual_seed(8115)
    query = torch.randn(N, S, E, generator=g, dtype=F64)
    kv = torch.randn(N, 1, E, generator=g, dtype=F64)
    with torch.no_grad():
        out = attn(query, kv, kv)  # (N, S, E)
        v = attn.value(kv)  # (N, 1, E), head h = features h*E/H .. (h+1)*E/H - 1
        d = E // H
        candidates = []
        for m0 in (0.0, 2.0):
            for m1 in (0.0, 2.0):
                scale = torch.cat([torch.full((d,), m0), torch.full((d,), m1)]).to(F64)
                candidates.append(attn.proj(v * scale).expand(N, S, E))
        match = torch.stack([torch.isclose(out, c, rtol=1e-9, atol=1e-12).all(-1) for c in candidates])
        every_row_valid = bool(match.any(0).all())
        something_dropped = bool((~match[3]).any())  # candidate 3: no head dropped
    return {"dropout_on_weights": int(every_row_valid and something_dropped)}


# ----------------------------------------------------------------------------------
# PositionalEncoding
# ----------------------------------------------------------------------------------
# The buffer is a float32 tensor in normal use, so a correct student may build it in
# float32 (absolute error ~1e-6 on angles up to max_len). rel_error divides by |x|+|y|,
# which explodes for entries near zero; the buffer is therefore compared shifted by +2
# (entries in [1, 3]) and the forward pass on inputs in [2, 3] (outputs in [1, 4]).

@case("positional_encoding_buffer", tol=1e-5)
def positional_encoding_buffer(ns):
    """The pe buffer for E=10, max_len=23, built with float64 as the default dtype."""
    with _default_dtype(F64):
        layer = ns["PositionalEncoding"](10, dropout=0.3, max_len=23)
    pe = layer.pe
    return {"shape": np.array(pe.shape), "pe_plus_2": pe.detach().double() + 2.0}


@case("positional_encoding_forward", tol=1e-5)
def positional_encoding_forward(ns):
    """Eval-mode forward of a float64 batch shorter than max_len."""
    with _default_dtype(F64):
        layer = ns["PositionalEncoding"](14, dropout=0.25, max_len=40)
    layer = layer.double().eval()
    g = torch.Generator().manual_seed(8121)
    x = 2.0 + torch.rand(3, 9, 14, generator=g, dtype=F64)
    out = layer(x)
    # Dropout after the addition, whichever entries it drops: in train mode with p = 0.5
    # every entry is 0 or 2 * (x + pe), and some are 0.
    layer.dropout.p = 0.5
    layer.train()
    with torch.no_grad():
        y = layer(x)
    kept = y != 0
    ok = bool((~kept).any()) and torch.allclose(y[kept], 2 * out.detach()[kept], rtol=1e-9, atol=0)
    return {"out": out, "dropout_after_sum": int(ok)}


# ----------------------------------------------------------------------------------
# CaptioningTransformer
# ----------------------------------------------------------------------------------

WORDS = ["<NULL>", "<START>", "<END>", "<UNK>", "dog", "runs", "on", "grass", "red", "bus"]


def _vocab():
    return {w: i for i, w in enumerate(WORDS)}


class _StandInPositionalEncoding(nn.Module):
    """x + the sinusoidal code, computed in float64, no dropout (grading stand-in)."""

    def __init__(self, embed_dim, dropout=0.1, max_len=5000):
        super().__init__()
        i = torch.arange(max_len, dtype=F64)[:, None]  # (max_len, 1)
        j = torch.arange(0, embed_dim, 2, dtype=F64)  # (E/2,)
        pe = torch.zeros(1, max_len, embed_dim, dtype=F64)
        pe[0, :, 0::2] = torch.sin(i * 10000.0 ** (-j / embed_dim))
        pe[0, :, 1::2] = torch.cos(i * 10000.0 ** (-j / embed_dim))
        self.register_buffer("pe", pe)

    def forward(self, x):  # (N, S, E) -> (N, S, E)
        return x + self.pe[:, : x.shape[1]]


class _StandInAttention(nn.Module):
    """Multi-head attention through torch's scaled_dot_product_attention (grading stand-in).

    Same submodules, in the same order, as the notebook's MultiHeadAttention.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.1):
        super().__init__()
        self.key = nn.Linear(embed_dim, embed_dim)
        self.query = nn.Linear(embed_dim, embed_dim)
        self.value = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.attn_drop = nn.Dropout(dropout)
        self.H = num_heads

    def forward(self, query, key, value, attn_mask=None):
        N, S, E = query.shape
        T, H = key.shape[1], self.H
        q = self.query(query).reshape(N, S, H, E // H).transpose(1, 2)  # (N, H, S, E/H)
        k = self.key(key).reshape(N, T, H, E // H).transpose(1, 2)  # (N, H, T, E/H)
        v = self.value(value).reshape(N, T, H, E // H).transpose(1, 2)  # (N, H, T, E/H)
        mask = None if attn_mask is None else (attn_mask != 0)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (N, H, S, E/H)
        return self.proj(o.transpose(1, 2).reshape(N, S, E))


@contextlib.contextmanager
def _stand_ins(ns):
    """Temporarily replace the student's attention and positional encoding in ``ns``."""
    saved = {name: ns.get(name) for name in ("MultiHeadAttention", "PositionalEncoding")}
    ns["MultiHeadAttention"], ns["PositionalEncoding"] = _StandInAttention, _StandInPositionalEncoding
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                ns.pop(name, None)
            else:
                ns[name] = value


def _captioner(ns, seed, D, W, heads, layers, max_length):
    """The student's CaptioningTransformer with seeded weights, float64, no dropout.

    It is built while the notebook's MultiHeadAttention and PositionalEncoding names
    point to exact stand-ins, so these cases grade the model's forward pass alone: a
    mistake (or a NotImplementedError) in the student's attention or positional encoding
    costs points only in their own tests, and the float32 rounding of a correct pe
    buffer does not blur the comparison.
    """
    torch.manual_seed(seed)
    with _stand_ins(ns):
        model = ns["CaptioningTransformer"](_vocab(), input_dim=D, wordvec_dim=W, num_heads=heads,
                                            num_layers=layers, max_length=max_length)
    _seeded_weights_(model, seed)
    return _no_dropout_(model.double())


def _captions(g, N, T):
    """<START> then random words, with <END> and <NULL> padding on some rows: (N, T)."""
    caps = torch.randint(3, len(WORDS), (N, T), generator=g)
    caps[:, 0] = 1
    for n in range(N):
        end = int(torch.randint(2, T + 1, (1,), generator=g))
        if end < T:
            caps[n, end] = 2
            caps[n, end + 1:] = 0
    return caps


@case("captioning_transformer_forward", tol=1e-6)
def captioning_transformer_forward(ns):
    """Scores of two small models (1 and 2 layers, 2 and 4 heads) on seeded captions."""
    out = {}
    for k, (D, W, heads, layers, N, T) in enumerate([(7, 12, 2, 1, 3, 6), (9, 16, 4, 2, 2, 8)]):
        model = _captioner(ns, 8130 + k, D, W, heads, layers, max_length=12)
        g = torch.Generator().manual_seed(8140 + k)
        features = torch.randn(N, D, generator=g, dtype=F64)
        captions = _captions(g, N, T)
        with torch.no_grad():
            out[f"scores_{k}"] = model(features, captions)
    return out


@case("captioning_transformer_training", tol=1e-6)
def captioning_transformer_training(ns):
    """A short deterministic overfit: 20 full-batch Adam steps in float64, dropout 0.

    Returns the loss of every step (temporal cross-entropy averaged over all N*T
    positions times the <NULL> mask, as the course's solver computes it) and the final
    scores, so a forward pass or a gradient that is wrong anywhere shows up.
    """
    model = _captioner(ns, 8150, D=6, W=16, heads=2, layers=1, max_length=10)
    g = torch.Generator().manual_seed(8151)
    N, T = 5, 8
    features = torch.randn(N, 6, generator=g, dtype=F64)
    captions = _captions(g, N, T + 1)
    captions_in, captions_out = captions[:, :-1], captions[:, 1:]
    mask = (captions_out != 0).to(F64)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        scores = model(features, captions_in)  # (N, T, V)
        per_pos = F.cross_entropy(scores.reshape(N * T, -1), captions_out.reshape(-1), reduction="none")
        loss = (per_pos * mask.reshape(-1)).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = model(features, captions_in)
    return {"losses": np.array(losses), "final_scores": final}
