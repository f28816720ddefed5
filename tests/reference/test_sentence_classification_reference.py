"""Tests of the sentence classifier's reference solution and of its hidden cases.

The model is checked against an independent computation written here with
``torch.nn.functional`` (attention as explicit softmax-weighted sums per sentence and
head), the construction against the order and names COURSE.md and the notebook state,
training against a hand-written loop, the Matthews correlation against scikit-learn's
(or, where scikit-learn is missing, a correlation coefficient written here), and the
cases against typical mistakes.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.compare import compare_outputs
from tests.notebook_code import run_case

NOTEBOOK = "source/sentence_classification/sentence_classification.ipynb"
VOCAB = {w: i for i, w in enumerate(["<PAD>", "<UNK>", "<CLS>", "a", "b", "c", "d"])}
SIZES = dict(hidden_dim=8, num_heads=2, dim_feedforward=10, dim_k=3, dim_v=4, dim_q=3, max_length=9)


def _randomised(ref):
    model = ref["ClassificationTransformer"](VOCAB, **SIZES).double().eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    return model


def _independent_forward(m, inputs):
    """The model's equations, one sentence and one head at a time."""
    outs = []
    for row in inputs:
        x = m.embeddingL.weight[row] + m.posembeddingL.weight[: len(row)]  # (T, H)
        heads = []
        for k, v, q in ((m.k1, m.v1, m.q1), (m.k2, m.v2, m.q2)):
            K, V, Q = F.linear(x, k.weight, k.bias), F.linear(x, v.weight, v.bias), F.linear(x, q.weight, q.bias)
            scores = torch.stack([torch.stack([Q[s] @ K[t] for t in range(len(row))]) for s in range(len(row))])
            weights = torch.exp(scores / math.sqrt(K.shape[1]))
            weights = weights / weights.sum(dim=1, keepdim=True)
            heads.append(weights @ V)
        y = x + F.linear(torch.cat(heads, dim=1), m.attention_head_projection.weight, m.attention_head_projection.bias)
        y = F.layer_norm(y, (y.shape[1],), m.norm_mh.weight, m.norm_mh.bias)
        z = y + F.linear(F.relu(F.linear(y, m.ffn1.weight, m.ffn1.bias)), m.ffn2.weight, m.ffn2.bias)
        z = F.layer_norm(z, (z.shape[1],), m.norm_ffn.weight, m.norm_ffn.bias)
        outs.append(torch.sigmoid(z[0] @ m.final.weight[0] + m.final.bias))
    return torch.stack(outs)  # (N, 1): the final bias has shape (1,)


def test_forward_matches_an_independent_computation(ref):
    m = _randomised(ref)
    inputs = torch.tensor([[2, 3, 4, 5, 0, 0], [2, 6, 6, 1, 3, 0], [2, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        assert torch.allclose(m(inputs), _independent_forward(m, inputs), atol=1e-12)


def test_construction_order_names_and_seed(ref):
    m = ref["ClassificationTransformer"](VOCAB, **SIZES)
    names = [n for n, _ in m.named_parameters()]
    assert names[:2] == ["embeddingL.weight", "posembeddingL.weight"]
    assert names[-6:] == ["ffn2.weight", "ffn2.bias", "norm_ffn.weight", "norm_ffn.bias", "final.weight", "final.bias"]
    assert m.embeddingL.weight.shape == (7, 8) and m.posembeddingL.weight.shape == (9, 8)
    assert m.ffn1.weight.shape == (10, 8) and m.attention_head_projection.weight.shape == (8, 8)
    # seed_torch(0) then the word embedding: its weights are torch's first N(0, 1) draws after seeding
    torch.manual_seed(0)
    assert torch.equal(m.embeddingL.weight, torch.nn.Embedding(7, 8).weight)
    again = ref["ClassificationTransformer"](VOCAB, **SIZES)
    assert all(torch.equal(p, q) for p, q in zip(m.parameters(), again.parameters()))


def test_training_matches_a_hand_written_loop(ref):
    inputs = torch.tensor([[2, 3, 4, 0], [2, 5, 0, 0], [2, 6, 3, 4], [2, 1, 0, 0], [2, 4, 4, 4]])
    labels = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    a, b = _randomised(ref).float(), _randomised(ref).float()
    opt_a, opt_b = torch.optim.SGD(a.parameters(), lr=0.05), torch.optim.SGD(b.parameters(), lr=0.05)
    loss = ref["train_one_epoch"](a, opt_a, inputs, labels, batch_size=2, generator=torch.Generator().manual_seed(4))
    order = torch.randperm(5, generator=torch.Generator().manual_seed(4))
    total = 0.0
    for idx in (order[0:2], order[2:4], order[4:5]):
        p = b(inputs[idx]).squeeze(1)
        batch = -(labels[idx] * torch.log(p) + (1 - labels[idx]) * torch.log(1 - p)).mean()
        opt_b.zero_grad()
        batch.backward()
        opt_b.step()
        total += batch.item() * len(idx)
    assert loss == pytest.approx(total / 5, rel=1e-5)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_accuracy_counts_predictions_above_one_half(ref):
    class Fixed(torch.nn.Module):
        def forward(self, inputs):
            return torch.tensor([0.9, 0.2, 0.51, 0.5, 0.1])[inputs[:, 0]].unsqueeze(1)

    inputs = torch.arange(5).unsqueeze(1)
    assert ref["accuracy"](Fixed(), inputs, torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0]), batch_size=2) == pytest.approx(0.6)


def _independent_mcc(predicted, labels) -> float:
    """scikit-learn's matthews_corrcoef, or Pearson's correlation of the 0/1 vectors (0 if one is constant)."""
    try:
        from sklearn.metrics import matthews_corrcoef
    except ImportError:
        x, y = np.asarray(predicted, dtype=np.float64), np.asarray(labels, dtype=np.float64)
        x, y = x - x.mean(), y - y.mean()
        norm = math.sqrt((x @ x) * (y @ y))
        return float(x @ y / norm) if norm > 0 else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "a single label was found": the 0 / 0 cases below
        return float(matthews_corrcoef(np.asarray(labels, dtype=int), np.asarray(predicted, dtype=int)))


def test_matthews_corrcoef_matches_an_independent_implementation(ref):
    g = torch.Generator().manual_seed(11)
    for trial in range(200):
        n = int(torch.randint(2, 300, (1,), generator=g))
        share = float(torch.rand(1, generator=g))
        labels = (torch.rand(n, generator=g) < share).float()
        flip = torch.rand(n, generator=g) < float(torch.rand(1, generator=g))
        predicted = torch.where(flip, 1 - labels, labels)
        got = ref["matthews_corrcoef"](predicted, labels)
        assert isinstance(got, float)
        assert got == pytest.approx(_independent_mcc(predicted, labels), abs=1e-12), trial


@pytest.mark.parametrize("predicted, labels, expected", [
    ([1, 1, 1, 1, 1], [1, 0, 1, 1, 0], 0.0),  # constant "acceptable": TN + FN = 0
    ([0, 0, 0, 0, 0], [1, 0, 1, 1, 0], 0.0),  # constant "unacceptable": TP + FP = 0
    ([1, 0, 1, 1, 0], [1, 1, 1, 1, 1], 0.0),  # labels of one class: TN + FP = 0
    ([1, 1, 1], [1, 1, 1], 0.0),  # all right, but one class only: 0 / 0, as scikit-learn has it
    ([1, 0, 1, 0], [1, 0, 1, 0], 1.0),
    ([0, 1, 0, 1], [1, 0, 1, 0], -1.0),
    ([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0], 1 / 3),  # TP 2, TN 2, FP 1, FN 1: 3 / 9
])
def test_matthews_corrcoef_edge_cases(ref, predicted, labels, expected):
    predicted, labels = torch.tensor(predicted, dtype=torch.float32), torch.tensor(labels, dtype=torch.float32)
    got = ref["matthews_corrcoef"](predicted, labels)
    assert got == pytest.approx(expected, abs=1e-12)
    assert _independent_mcc(predicted, labels) == pytest.approx(expected, abs=1e-12)


def test_cases_pass_on_the_reference_and_catch_mistakes(ref, cases):
    outs = {name: run_case(c, ref) for name, c in cases.items()}
    for name, c in cases.items():
        assert compare_outputs(c, name, outs[name], outs[name]).passed
    cls = ref["ClassificationTransformer"]

    class NoScale(cls):  # forgets the 1/sqrt(d_k)
        def multi_head_attention(self, inputs):
            old = self.dim_k
            self.dim_k = 1
            try:
                return super().multi_head_attention(inputs)
            finally:
                self.dim_k = old

    class NoResidual(cls):
        def feedforward_layer(self, inputs):
            return self.norm_ffn(self.ffn2(torch.relu(self.ffn1(inputs))))

    class LastToken(cls):
        def final_layer(self, inputs):
            return self.sigmoid(self.final(inputs[:, -1]))

    for wrong_cls, name in ((NoScale, "multi_head_attention"), (NoResidual, "feedforward_layer"),
                            (LastToken, "final_layer"), (NoScale, "forward")):
        got = run_case(cases[name], {**ref, "ClassificationTransformer": wrong_cls})
        assert not compare_outputs(cases[name], name, got, outs[name]).passed, (wrong_cls.__name__, name)

    class Reordered(cls):  # position embedding created before the word embedding
        def __init__(self, word_to_ix, **kw):
            super().__init__(word_to_ix, **kw)
            ref["seed_torch"](0)
            self.posembeddingL = torch.nn.Embedding(kw["max_length"], kw["hidden_dim"])
            self.embeddingL = torch.nn.Embedding(len(word_to_ix), kw["hidden_dim"])

    got = run_case(cases["construction"], {**ref, "ClassificationTransformer": Reordered})
    assert not compare_outputs(cases["construction"], "construction", got, outs["construction"]).passed
