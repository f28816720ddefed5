"""Hidden-test cases of the sentence-classification assignment (COURSE.md section 3).

Construction is compared parameter by parameter (names, shapes and the initial values
that ``seed_torch(0)`` and the construction order give). Every other case overwrites the
parameters with values seeded by (case seed, layer name) (``_seeded_weights_``), so a
method is judged on its own even when the constructor's order is wrong, and runs in
float64. The model has no dropout, so nothing depends on a torch release's dropout masks.
Seeds 8xxx; the notebook's visible checks use fixed sine patterns instead.
"""
from __future__ import annotations

import torch

from autograder.cases import case
from autograder.cases.transformer_captioning import _seeded_weights_

F64 = torch.float64
WORDS = ["<PAD>", "<UNK>", "<CLS>"] + [f"w{k}" for k in range(17)]
VOCAB = {w: i for i, w in enumerate(WORDS)}
SIZES = dict(hidden_dim=12, num_heads=2, dim_feedforward=20, dim_k=5, dim_v=7, dim_q=5, max_length=11)


def _model(ns, seed: int):
    model = ns["ClassificationTransformer"](VOCAB, **SIZES).double()
    _seeded_weights_(model, seed)
    return model.eval()


def _sentences(seed: int, N: int, T: int) -> torch.Tensor:
    """<CLS>, random words, then <PAD>; lengths vary."""
    words_rng = torch.Generator().manual_seed(seed)
    out = torch.zeros(N, T, dtype=torch.long)
    out[:, 0] = VOCAB["<CLS>"]
    for n in range(N):
        length = int(torch.randint(2, T, (1,), generator=words_rng))
        out[n, 1:length] = torch.randint(1, len(WORDS), (length - 1,), generator=words_rng)
    return out


def _x(seed: int, shape) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@case("construction", tol=1e-6)
def construction(ns):
    model = ns["ClassificationTransformer"](VOCAB, **SIZES)
    return {name: p.detach() for name, p in model.named_parameters()}


@case("embed", tol=1e-8)
def embed(ns):
    model = _model(ns, 8101)
    return {"short": model.embed(_sentences(8102, 4, 7)), "full": model.embed(_sentences(8103, 3, 11))}


@case("multi_head_attention", tol=1e-8)
def multi_head_attention(ns):
    model = _model(ns, 8201)
    with torch.no_grad():
        return {"out": model.multi_head_attention(_x(8202, (3, 6, 12))),
                "one_position": model.multi_head_attention(_x(8203, (2, 1, 12)))}


@case("feedforward_layer", tol=1e-8)
def feedforward_layer(ns):
    model = _model(ns, 8301)
    with torch.no_grad():
        return {"out": model.feedforward_layer(_x(8302, (3, 6, 12)))}


@case("final_layer", tol=1e-8)
def final_layer(ns):
    model = _model(ns, 8401)
    with torch.no_grad():
        return {"out": model.final_layer(_x(8402, (5, 6, 12)))}


@case("forward", tol=1e-8, tols={"grads": 1e-6})
def forward(ns):
    model = _model(ns, 8501)
    inputs = _sentences(8502, 6, 9)
    probs = model(inputs)
    labels = (torch.arange(6) % 2).to(F64)
    torch.nn.functional.binary_cross_entropy(probs.squeeze(1), labels).backward()
    grads = torch.cat([p.grad.reshape(-1) for _, p in sorted(model.named_parameters()) if p.grad is not None])
    return {"probs": probs.detach(), "grads": grads}


class _FixedProbs(torch.nn.Module):
    """A stand-in model whose output for sentence n is probs[n] (the input's first column is n)."""

    def __init__(self, probs):
        super().__init__()
        self.probs = probs
        self.modes = []

    def forward(self, inputs):
        self.modes.append(self.training)
        return self.probs[inputs[:, 0]].unsqueeze(1)


@case("accuracy", tol=1e-12)
def accuracy(ns):
    g = torch.Generator().manual_seed(8601)
    probs = torch.rand(37, generator=g, dtype=F64)
    labels = (torch.rand(37, generator=g) < 0.6).float()
    inputs = torch.arange(37).unsqueeze(1).repeat(1, 4)
    model = _FixedProbs(probs)
    model.train()
    out = {"accuracy": float(ns["accuracy"](model, inputs, labels, batch_size=8))}
    out["eval_mode"] = int(all(m is False for m in model.modes))
    return out


@case("train_one_epoch", tol=1e-6)
def train_one_epoch(ns):
    model = ns["ClassificationTransformer"](VOCAB, **SIZES).double()
    _seeded_weights_(model, 8701)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs = _sentences(8702, 21, 10)
    labels = (torch.arange(21) % 3 != 0).to(F64)  # the dtype of the model, as in the notebook
    generator = torch.Generator().manual_seed(8703)
    loss = ns["train_one_epoch"](model, optimizer, inputs, labels, batch_size=8, generator=generator)
    model.eval()
    with torch.no_grad():
        after = model(_sentences(8704, 5, 10))
    return {"mean_loss": float(loss), "probs_after": after}
