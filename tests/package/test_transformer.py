"""Tests of the provided Transformer pieces in dlcourse.transformer.

The decoder layer is checked against torch.nn.TransformerDecoderLayer (an independent
implementation of the same post-norm layer) with copied weights; the attention class
used here is a thin wrapper of torch.nn.MultiheadAttention, so no course solution is
needed. The solver is checked on tiny synthetic data.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.transformer import (
    CaptioningSolverTransformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    temporal_softmax_loss,
)

F64 = torch.float64


class TorchAttention(nn.Module):
    """The course's attention interface on top of torch.nn.MultiheadAttention.

    attn_mask follows the course's convention (0/False = may not attend), which is the
    negation of torch's boolean mask (True = may not attend).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.1):
        super().__init__()
        self.mha = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, batch_first=True)

    def forward(self, query, key, value, attn_mask=None):
        torch_mask = None if attn_mask is None else (attn_mask == 0)
        out, _ = self.mha(query, key, value, attn_mask=torch_mask, need_weights=False)
        return out


def _torch_layer_like(ours: TransformerDecoderLayer, E, H, dff):
    """torch's post-norm ReLU decoder layer holding the same weights as ``ours``."""
    ref = nn.TransformerDecoderLayer(E, H, dim_feedforward=dff, dropout=0.1, batch_first=True,
                                     norm_first=False, activation="relu")
    state = {k.replace(".mha.", "."): v for k, v in ours.state_dict().items()}
    ref.load_state_dict(state)
    return ref


def test_decoder_layer_matches_torch_post_norm_layer():
    """Does the layer compute what torch's post-norm decoder layer computes, with a causal mask?"""
    torch.manual_seed(0)
    E, H, dff, N, T, M = 12, 3, 40, 2, 5, 3
    ours = TransformerDecoderLayer(E, H, dim_feedforward=dff, attention_cls=TorchAttention).double().eval()
    ref = _torch_layer_like(ours, E, H, dff).double().eval()
    tgt = torch.randn(N, T, E, dtype=F64)
    memory = torch.randn(N, M, E, dtype=F64)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    with torch.no_grad():
        out = ours(tgt, memory, tgt_mask=causal)
        expected = ref(tgt, memory, tgt_mask=~causal)
    assert out.shape == (N, T, E)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_decoder_layer_builds_two_attentions_from_the_class():
    """Are self- and cross-attention two separate instances of the class passed in?"""
    layer = TransformerDecoderLayer(8, 2, dim_feedforward=16, attention_cls=TorchAttention)
    assert isinstance(layer.self_attn, TorchAttention)
    assert isinstance(layer.multihead_attn, TorchAttention)
    assert layer.self_attn is not layer.multihead_attn
    names = [name for name, _ in layer.named_children()]
    assert names[:5] == ["self_attn", "multihead_attn", "linear1", "dropout", "linear2"]


def test_decoder_layer_requires_an_attention_class():
    """Is a missing attention class reported clearly instead of failing later?"""
    with pytest.raises(TypeError, match="attention_cls"):
        TransformerDecoderLayer(8, 2)


def test_decoder_layer_dropout_acts_only_in_train_mode():
    """Is the layer deterministic in eval mode and stochastic in train mode?"""
    torch.manual_seed(1)
    layer = TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.5, attention_cls=TorchAttention)
    tgt, memory = torch.randn(3, 4, 8), torch.randn(3, 1, 8)
    layer.eval()
    torch.testing.assert_close(layer(tgt, memory), layer(tgt, memory))
    layer.train()
    assert not torch.allclose(layer(tgt, memory), layer(tgt, memory))


def test_decoder_stacks_independent_copies():
    """Does the decoder hold num_layers distinct copies and apply them in order?"""
    torch.manual_seed(2)
    layer = TransformerDecoderLayer(8, 2, dim_feedforward=16, attention_cls=TorchAttention)
    decoder = TransformerDecoder(layer, num_layers=3).double().eval()
    assert len(decoder.layers) == 3
    p0 = decoder.layers[0].linear1.weight
    p1 = decoder.layers[1].linear1.weight
    assert p0 is not p1 and p0.data_ptr() != p1.data_ptr()
    torch.testing.assert_close(p0, p1)  # copies start equal ...
    with torch.no_grad():
        p0.add_(1.0)
    assert not torch.allclose(p0, p1)  # ... but are separate parameters
    tgt, memory = torch.randn(2, 4, 8, dtype=F64), torch.randn(2, 1, 8, dtype=F64)
    mask = torch.tril(torch.ones(4, 4))
    x = tgt
    for single in decoder.layers:
        x = single(x, memory, tgt_mask=mask)
    with torch.no_grad():
        torch.testing.assert_close(decoder(tgt, memory, tgt_mask=mask), x)


def test_temporal_softmax_loss_against_a_loop():
    """Is the loss the masked cross-entropy summed over positions and divided by N*T?"""
    g = torch.Generator().manual_seed(3)
    N, T, V = 4, 5, 7
    scores = torch.randn(N, T, V, generator=g, dtype=F64)
    targets = torch.randint(0, V, (N, T), generator=g)
    mask = torch.rand(N, T, generator=g) > 0.3
    total = 0.0
    for n in range(N):
        for t in range(T):
            if mask[n, t]:
                logp = scores[n, t] - torch.logsumexp(scores[n, t], dim=0)
                total -= logp[targets[n, t]].item()
    loss = temporal_softmax_loss(scores, targets, mask)
    assert loss.item() == pytest.approx(total / (N * T), rel=1e-12)


def test_temporal_softmax_loss_ignores_masked_positions():
    """Do scores at masked positions leave the loss and its gradient untouched?"""
    g = torch.Generator().manual_seed(4)
    N, T, V = 3, 6, 5
    scores = torch.randn(N, T, V, generator=g, dtype=F64, requires_grad=True)
    targets = torch.randint(0, V, (N, T), generator=g)
    mask = torch.ones(N, T, dtype=torch.bool)
    mask[:, 4:] = False
    loss = temporal_softmax_loss(scores, targets, mask)
    loss.backward()
    assert torch.all(scores.grad[:, 4:] == 0)
    changed = scores.detach().clone()
    changed[:, 4:] += 100.0
    assert temporal_softmax_loss(changed, targets, mask).item() == pytest.approx(loss.item(), rel=1e-12)
    # With uniform scores every counted position costs log(V); 4 of 6 positions count.
    uniform = temporal_softmax_loss(torch.zeros(N, T, V, dtype=F64), targets, mask)
    assert uniform.item() == pytest.approx(np.log(V) * 4 / 6, rel=1e-12)


class TinyCaptioner(nn.Module):
    """A small captioner built from the provided decoder (torch attention inside)."""

    def __init__(self, V, D, W=16, H=2):
        super().__init__()
        self.visual_projection = nn.Linear(D, W)
        self.embedding = nn.Embedding(V, W)
        self.position = nn.Parameter(torch.zeros(1, 20, W))
        layer = TransformerDecoderLayer(W, H, dim_feedforward=32, dropout=0.0, attention_cls=TorchAttention)
        self.transformer = TransformerDecoder(layer, num_layers=1)
        self.output = nn.Linear(W, V)
        self.seen = []  # (features dtype, device) of every call

    def forward(self, features, captions):
        self.seen.append((features.dtype, features.device, captions.dtype))
        N, T = captions.shape
        memory = self.visual_projection(features).unsqueeze(1)
        x = self.embedding(captions) + self.position[:, :T]
        mask = torch.tril(torch.ones(T, T, device=captions.device))
        return self.output(self.transformer(x, memory, tgt_mask=mask))


def _tiny_data(seed=5, N=8, T=7, V=9, D=6):
    rng = np.random.RandomState(seed)
    captions = rng.randint(3, V, size=(N, T)).astype(np.int32)
    captions[:, 0] = 1
    for n in range(N):
        end = rng.randint(3, T)
        captions[n, end] = 2
        captions[n, end + 1:] = 0
    idx_to_word = ["<NULL>", "<START>", "<END>", "<UNK>"] + [f"w{i}" for i in range(V - 4)]
    return {
        "train_captions": captions,
        "train_image_idxs": np.arange(N, dtype=np.int32),
        "train_features": rng.randn(N, D).astype(np.float32),
        "idx_to_word": idx_to_word,
        "word_to_idx": {w: i for i, w in enumerate(idx_to_word)},
    }


def test_solver_loss_decreases_on_tiny_data(capsys):
    """Does training reduce the loss, with the documented number of iterations?"""
    torch.manual_seed(6)
    np.random.seed(6)
    data = _tiny_data()
    model = TinyCaptioner(V=9, D=6)
    solver = CaptioningSolverTransformer(model, data, data["idx_to_word"], learning_rate=1e-2,
                                         batch_size=4, num_epochs=15, print_every=5, verbose=True)
    solver.train()
    assert len(solver.loss_history) == 15 * (8 // 4)
    first, last = np.mean(solver.loss_history[:3]), np.mean(solver.loss_history[-3:])
    assert last < 0.5 * first, (first, last)
    assert "loss" in capsys.readouterr().out


def test_solver_step_uses_shifted_captions_and_null_mask():
    """Is one step's loss the masked loss of captions[:, 1:] given captions[:, :-1]?"""
    torch.manual_seed(7)
    data = _tiny_data(seed=7)
    data["train_captions"][:, -2:] = 0  # more <NULL> padding
    model = TinyCaptioner(V=9, D=6).double()
    solver = CaptioningSolverTransformer(model, data, data["idx_to_word"], batch_size=8, verbose=False)
    np.random.seed(8)
    idx = np.random.choice(8, 8)
    caps = torch.as_tensor(data["train_captions"][idx]).long()
    feats = torch.as_tensor(data["train_features"][idx]).double()
    with torch.no_grad():
        scores = model(feats, caps[:, :-1])
    target = caps[:, 1:]
    per_pos = F.cross_entropy(scores.reshape(-1, 9), target.reshape(-1), reduction="none")
    expected = (per_pos * (target.reshape(-1) != 0)).sum().item() / target.numel()
    np.random.seed(8)
    loss = solver._step()
    assert loss == pytest.approx(expected, rel=1e-10)
    assert solver.loss_history == [loss]


def test_solver_moves_batches_to_the_models_dtype():
    """Does a float64 model receive float64 features and int64 captions?"""
    data = _tiny_data(seed=9)
    model = TinyCaptioner(V=9, D=6).double()
    solver = CaptioningSolverTransformer(model, data, data["idx_to_word"], batch_size=4, num_epochs=1,
                                         verbose=False)
    solver.train()
    assert model.seen and all(s == (F64, torch.device("cpu"), torch.int64) for s in model.seen)
