"""Hidden-test cases of the sentence-classification assignment (COURSE.md section 3).

Construction is compared parameter by parameter (names, shapes and the initial values
that ``seed_torch(0)`` and the construction order give). Every other case overwrites the
parameters with values seeded by (case seed, layer name) (``_seeded_weights_``), so a
method is judged on its own even when the constructor's order is wrong, and runs in
float64 (the training epoch runs in the float32 of the notebook and of its docstring, with
a tolerance to match). The model has no dropout, so nothing depends on a torch release's dropout masks.
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
    """A stand-in model whose output for sentence n is probs[n] (the input's first column is n).

    It has a parameter (a scale of 1.0), as a real model does, so code that asks the model
    for its device or dtype (``next(model.parameters())``) works, and it records whether it
    was called in training mode.
    """

    def __init__(self, probs):
        super().__init__()
        self.probs = probs
        self.scale = torch.nn.Parameter(torch.ones((), dtype=probs.dtype))
        self.modes = []

    def forward(self, inputs):
        self.modes.append(self.training)
        return (self.scale * self.probs[inputs[:, 0]]).unsqueeze(1)


@case("accuracy", tol=1e-6)
def accuracy(ns):
    """37 sentences in batches of 8 (the last one short); some probabilities exactly 0.5.

    Accuracies here are multiples of 1/37; the tolerance admits a float32 mean (relative
    error about 1e-8) and no miscount.
    """
    g = torch.Generator().manual_seed(8601)
    probs = torch.rand(37, generator=g, dtype=F64)
    probs[torch.randperm(37, generator=g)[:6]] = 0.5  # not above 0.5: predicted unacceptable
    labels = (torch.rand(37, generator=g) < 0.6).float()  # float32, as in the notebook
    labels[probs == 0.5] = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    inputs = torch.arange(37).unsqueeze(1).repeat(1, 4)
    model = _FixedProbs(probs)
    model.train()
    out = {"accuracy": float(ns["accuracy"](model, inputs, labels, batch_size=8))}
    out["eval_mode"] = int(bool(model.modes) and all(m is False for m in model.modes))
    return out


_MCC_OUTPUTS = ("random", "good", "inverted", "perfect", "constant_acceptable", "constant_unacceptable",
                "one_class_labels", "one_class_all_right")


@case("matthews_corrcoef", tol=1e-5, atols={name: 1e-6 for name in _MCC_OUTPUTS})
def matthews_corrcoef(ns):
    """Float32 predictions and labels (the docstring's dtypes); the 0 / 0 cases are 0.

    Absolute tolerance 1e-6 everywhere: a correct MCC computed in float32 (a correlation of
    centred vectors, or float32 counts) is off by up to a few 1e-8 (3.3e-8 measured), while
    every mistake this case is meant to catch moves the value by more than 1e-2.
    """
    g = torch.Generator().manual_seed(8801)
    f = ns["matthews_corrcoef"]
    n = 61
    labels = (torch.rand(n, generator=g) < 0.7).float()
    random_predictions = (torch.rand(n, generator=g) < 0.6).float()
    flips = torch.rand(n, generator=g) < torch.where(labels == 1, 0.1, 0.35)  # more errors on the minority
    good = torch.where(flips, 1 - labels, labels)
    return {"random": float(f(random_predictions, labels)),
            "good": float(f(good, labels)),
            "inverted": float(f(1 - good, labels)),
            "perfect": float(f(labels.clone(), labels)),
            "constant_acceptable": float(f(torch.ones(n), labels)),
            "constant_unacceptable": float(f(torch.zeros(n), labels)),
            "one_class_labels": float(f(good, torch.ones(n))),
            "one_class_all_right": float(f(torch.zeros(9), torch.zeros(9)))}


@case("train_one_epoch", tol=2e-4)
def train_one_epoch(ns):
    """A float32 model and float32 labels, as in the notebook and the docstring.

    21 sentences in batches of 8 (the last one short), three SGD steps. Float32 rounding in
    a correct implementation written another way moves the loss and the probabilities by
    less than 1e-6 relative (about 1e-7 measured for a hand-written cross-entropy over
    torch.split batches); the tolerance leaves a wide margin, and every mistake this case is
    meant to catch moves them by more than 1e-3.
    """
    model = ns["ClassificationTransformer"](VOCAB, **SIZES)
    _seeded_weights_(model, 8701)
    model.eval()  # train_one_epoch must put it in training mode
    modes = []
    model.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs = _sentences(8702, 21, 10)
    labels = (torch.arange(21) % 3 != 0).float()
    generator = torch.Generator().manual_seed(8703)
    loss = ns["train_one_epoch"](model, optimizer, inputs, labels, batch_size=8, generator=generator)
    train_mode = int(bool(modes) and all(modes))
    model.eval()
    with torch.no_grad():
        after = model(_sentences(8704, 5, 10))
    return {"mean_loss": float(loss), "probs_after": after.double(), "train_mode": train_mode}
