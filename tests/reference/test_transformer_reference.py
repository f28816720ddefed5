"""Tests of the reference solutions in the Transformer captioning source notebook.

The notebook's solution cells are the single source of truth; here they are checked
against independent implementations: torch.nn.MultiheadAttention and
scaled_dot_product_attention for the attention, a plain loop for the positional code,
and the specification of COURSE.md for the captioning model's structure.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn


NOTEBOOK = "source/transformer_captioning/transformer_captioning.ipynb"
F64 = torch.float64


def _torch_mha_like(attn, E, H):
    """torch.nn.MultiheadAttention holding the weights of the notebook's attention."""
    mha = nn.MultiheadAttention(E, H, batch_first=True, dtype=F64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([attn.query.weight, attn.key.weight, attn.value.weight]))
        mha.in_proj_bias.copy_(torch.cat([attn.query.bias, attn.key.bias, attn.value.bias]))
        mha.out_proj.weight.copy_(attn.proj.weight)
        mha.out_proj.bias.copy_(attn.proj.bias)
    return mha.eval()


@pytest.mark.parametrize("E,H,S,T", [(8, 1, 4, 4), (12, 3, 5, 7), (16, 4, 6, 2), (12, 6, 3, 3)])
def test_attention_matches_torch_multihead_attention(ref, E, H, S, T):
    """Does MultiHeadAttention agree with torch's, values and input gradients, for any H?"""
    torch.manual_seed(10 + H)
    attn = ref["MultiHeadAttention"](E, H, dropout=0.3).double().eval()
    mha = _torch_mha_like(attn, E, H)
    q = torch.randn(2, S, E, dtype=F64, requires_grad=True)
    kv = torch.randn(2, T, E, dtype=F64, requires_grad=True)
    ours = attn(q, kv, kv)
    theirs, _ = mha(q, kv, kv, need_weights=False)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    up = torch.randn_like(ours)
    dq, dkv = torch.autograd.grad((ours * up).sum(), (q, kv))
    dq2, dkv2 = torch.autograd.grad((theirs * up).sum(), (q, kv))
    torch.testing.assert_close(dq, dq2, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(dkv, dkv2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.float32, torch.int64])
def test_attention_masks_follow_the_course_convention(ref, mask_dtype):
    """Does 0/False in attn_mask forbid attending, for bool, float and int masks?"""
    torch.manual_seed(20)
    E, H, S, T = 12, 3, 5, 6
    attn = ref["MultiHeadAttention"](E, H).double().eval()
    g = torch.Generator().manual_seed(21)
    allowed = torch.rand(S, T, generator=g) > 0.5
    allowed[:, 0] = True
    q, kv = torch.randn(2, S, E, dtype=F64), torch.randn(2, T, E, dtype=F64)
    with torch.no_grad():
        ours = attn(q, kv, kv, attn_mask=allowed.to(mask_dtype))
        # independent 1: torch's MultiheadAttention (True = forbidden)
        theirs, _ = _torch_mha_like(attn, E, H)(q, kv, kv, attn_mask=~allowed, need_weights=False)
        # independent 2: scaled_dot_product_attention (True = allowed) on the same projections
        split = lambda x: x.reshape(2, -1, H, E // H).transpose(1, 2)  # (N, H, ., E/H)
        o = torch.nn.functional.scaled_dot_product_attention(
            split(attn.query(q)), split(attn.key(kv)), split(attn.value(kv)), attn_mask=allowed)
        sdpa = attn.proj(o.transpose(1, 2).reshape(2, S, E))
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours, sdpa, rtol=1e-10, atol=1e-12)


def test_attention_structure_and_dropout(ref):
    """Are the submodules key, query, value, proj, attn_drop in that order, and is dropout on the weights?"""
    attn = ref["MultiHeadAttention"](8, 2, dropout=0.5)
    assert [n for n, _ in attn.named_children()] == ["key", "query", "value", "proj", "attn_drop"]
    assert all(isinstance(getattr(attn, n), nn.Linear) and getattr(attn, n).bias is not None
               for n in ["key", "query", "value", "proj"])
    assert attn.attn_drop.p == 0.5
    with pytest.raises(AssertionError):
        ref["MultiHeadAttention"](10, 3)
    # With one key every weight is 1 before dropout; in train mode a weight is dropped
    # (output = proj bias) or kept and doubled, never anything else.
    torch.manual_seed(22)
    x, kv = torch.randn(64, 1, 8, dtype=F64), torch.randn(64, 1, 8, dtype=F64)
    attn = attn.double().train()
    with torch.no_grad():
        out = attn(x, kv, kv)
        v = attn.value(kv)  # (N, 1, E)
        for_weight = lambda w: attn.proj(w * v)  # weight w applied to both heads alike
        dropped = torch.isclose(out, for_weight(0.0)).all(-1)
        doubled = torch.isclose(out, for_weight(2.0)).all(-1)
    mixed = ~(dropped | doubled)
    # both heads are dropped independently, so mixed rows exist; none may be unscaled
    assert not torch.isclose(out, for_weight(1.0)).all(-1).any()
    assert dropped.any() and doubled.any() and mixed.any()


def test_positional_encoding_against_a_loop(ref):
    """Is the pe buffer P[i, j] of COURSE.md, and forward x + pe[:, :S] in eval mode?"""
    E, L = 10, 17
    layer = ref["PositionalEncoding"](E, dropout=0.2, max_len=L)
    assert layer.pe.shape == (1, L, E)
    assert "pe" in dict(layer.named_buffers()) and not list(layer.parameters())
    loop = np.zeros((L, E))
    for i in range(L):
        for j in range(E):
            loop[i, j] = math.sin(i * 10000 ** (-j / E)) if j % 2 == 0 else math.cos(i * 10000 ** (-(j - 1) / E))
    np.testing.assert_allclose(layer.pe[0].double().numpy(), loop, atol=2e-6)
    x = torch.randn(3, 6, E)
    torch.testing.assert_close(layer.eval()(x), x + torch.as_tensor(loop[:6], dtype=torch.float32), atol=2e-6,
                               rtol=0)


def test_positional_encoding_follows_default_dtype_and_double(ref):
    """Does .double() give a float64 buffer and a float64 output?"""
    layer = ref["PositionalEncoding"](6, max_len=8).double().eval()
    assert layer.pe.dtype == F64
    assert layer(torch.zeros(1, 8, 6, dtype=F64)).dtype == F64


VOCAB = {w: i for i, w in enumerate(["<NULL>", "<START>", "<END>", "<UNK>", "a", "b", "c"])}


def test_captioning_transformer_structure_and_init(ref):
    """Are the submodules in COURSE.md's order, initialised N(0, 0.02) except the output layer?"""
    torch.manual_seed(30)
    W = 64
    model = ref["CaptioningTransformer"](VOCAB, input_dim=40, wordvec_dim=W, num_heads=4, num_layers=2,
                                         max_length=20)
    assert [n for n, _ in model.named_children()] == [
        "visual_projection", "embedding", "positional_encoding", "transformer", "output"]
    assert model.embedding.padding_idx == VOCAB["<NULL>"]
    assert len(model.transformer.layers) == 2
    assert type(model.transformer.layers[0].self_attn).__name__ == "MultiHeadAttention"
    assert model.positional_encoding.pe.shape == (1, 20, W)
    weights = [m.weight for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Embedding)) and m is not model.output]
    flat = torch.cat([w.detach().flatten() for w in weights])
    assert abs(flat.std().item() - 0.02) < 0.001 and abs(flat.mean().item()) < 0.001
    for m in model.modules():
        if isinstance(m, nn.Linear) and m is not model.output:
            assert torch.all(m.bias == 0)
        if isinstance(m, nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    # the output layer keeps PyTorch's default: uniform in +-1/sqrt(W), nonzero bias
    bound = 1 / math.sqrt(W)
    assert model.output.weight.abs().max() <= bound and model.output.weight.std() > 0.1 * bound
    assert model.output.bias.abs().max() > 0


def test_captioning_transformer_forward_is_causal_and_float64(ref):
    """Does forward give (N, T, V) float64 scores where position t ignores later words?"""
    torch.manual_seed(31)
    model = ref["CaptioningTransformer"](VOCAB, input_dim=9, wordvec_dim=16, num_heads=2, num_layers=2,
                                         max_length=12).double().eval()
    feats = torch.randn(3, 9, dtype=F64)
    caps = torch.randint(0, 7, (3, 8))
    with torch.no_grad():
        scores = model(feats, caps)
        assert scores.shape == (3, 8, 7) and scores.dtype == F64
        for t in range(8):
            changed = caps.clone()
            changed[:, t:] = (changed[:, t:] + 1) % 7
            other = model(feats, changed)
            torch.testing.assert_close(other[:, :t], scores[:, :t], rtol=0, atol=1e-12)
            assert not torch.allclose(other[:, t], scores[:, t])
        # each position's scores equal those of a forward pass on the prefix alone
        prefix = model(feats, caps[:, :5])
        torch.testing.assert_close(prefix, scores[:, :5], rtol=1e-10, atol=1e-12)


def test_captioning_transformer_backward_and_sample(ref):
    """Do gradients reach every parameter, and does sampling return (N, max_length) ints?"""
    torch.manual_seed(32)
    model = ref["CaptioningTransformer"](VOCAB, input_dim=5, wordvec_dim=8, num_heads=2, num_layers=1,
                                         max_length=10).double()
    feats = torch.randn(2, 5, dtype=F64)
    caps = torch.randint(1, 7, (2, 6))
    model(feats, caps).sum().backward()
    no_grad = {n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)}
    # With a single memory token the cross-attention weight is always 1, so the
    # cross-attention's query and key maps get no gradient; every other parameter does.
    assert no_grad == {f"transformer.layers.0.multihead_attn.{m}.{p}" for m in ("query", "key")
                       for p in ("weight", "bias")}
    model.train()
    out = model.sample(feats.numpy(), max_length=7)
    assert out.shape == (2, 7) and out.dtype == np.int32 and model.training
    np.testing.assert_array_equal(out, model.sample(feats, max_length=7))  # greedy = deterministic


# ------------------------------------------------------------------ hidden cases
def _case_outputs(ns, names):
    from autograder.cases import all_cases
    from autograder.payload import to_array

    cases = all_cases("transformer_captioning")
    return {n: {k: to_array(v) for k, v in cases[n].run(ns).items()} for n in names}


def _mutant(old: str, new: str) -> dict:
    """The reference namespace with one line of a solution replaced."""
    from tests.notebook_code import reference_cells

    ns: dict = {"__name__": "mutant"}
    sources = reference_cells(NOTEBOOK)
    assert any(old in src for src in sources), old
    for src in sources:
        exec(compile(src.replace(old, new), NOTEBOOK, "exec"), ns)
    return ns


def _fails(ref_out, mut_out, tol=1e-6):
    def rel(x, y):
        if x.shape != y.shape:
            return np.inf
        return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))
    return {n for n in ref_out if any(rel(ref_out[n][k], mut_out[n][k]) > tol for k in ref_out[n])}


@pytest.mark.parametrize("old,new,expected_failures", [
    ("/ math.sqrt(d)", "/ math.sqrt(E)",
     {"mha_self_attention", "mha_cross_attention", "mha_head_counts", "mha_causal_mask", "mha_random_mask"}),
    ('scores = scores.masked_fill(attn_mask == 0, float("-inf"))', "pass",
     {"mha_causal_mask", "mha_random_mask"}),
    ("output = self.dropout(x + self.pe[:, :S])", "output = x + self.pe[:, :S]",
     {"positional_encoding_forward"}),
    ("out = self.transformer(tgt, memory, tgt_mask=causal)", "out = self.transformer(tgt, memory)",
     {"captioning_transformer_forward", "captioning_transformer_training"}),
])
def test_hidden_cases_grade_each_part_separately(ref, old, new, expected_failures):
    """Does a bug in one part fail exactly the hidden cases of that part?"""
    names = ["mha_self_attention", "mha_cross_attention", "mha_head_counts", "mha_causal_mask",
             "mha_random_mask", "positional_encoding_forward", "captioning_transformer_forward",
             "captioning_transformer_training"]
    assert _fails(_case_outputs(ref, names), _case_outputs(_mutant(old, new), names)) == expected_failures
