"""Hidden-test cases of the captioning assignment (vanilla RNN and LSTM, numpy).

Every case builds its inputs from its own seed (7xxx; the notebook's visible checks use
other inputs), runs the student's function from the notebook namespace ``ns`` and
returns its outputs. All inputs are float64, so the tolerances can be tight: forward
values 1e-8, gradients 1e-6 (gradients pass through more floating-point operations
whose order a correct implementation may choose differently).

Nothing here needs the dataset: the captioning-model cases bring their own vocabulary.
The extra-credit ``train_best_model`` (a 0-point check; the extra credit is judged by
hand) is different: there is no single right model, so its case records what the
grading run did (samples, CaptioningSolver iterations, growth of a training loss) and
``derive`` turns that into pass/fail flags.
"""
from __future__ import annotations

import numpy as np

from autograder.cases import case

FWD = 1e-8  # forward values
GRAD = 1e-6  # gradients, and values after training

# A small vocabulary with the special tokens at their COCO indices.
WORDS = ["<NULL>", "<START>", "<END>", "<UNK>", "a", "red", "blue", "circle", "square",
         "on", "the", "left", "right", "two", "shapes"]
VOCAB = {w: i for i, w in enumerate(WORDS)}
NULL, START, END = 0, 1, 2


def _rnn_params(rng, D, H, k=1, scale=0.4):
    """Wx (D, kH), Wh (H, kH), b (kH,) with moderate values (tanh/sigmoid not saturated)."""
    Wx = scale * rng.randn(D, k * H)
    Wh = scale * rng.randn(H, k * H)
    b = 0.2 * rng.randn(k * H)
    return Wx, Wh, b


def _captions(rng, N, T1, min_len=3):
    """Integer captions (N, T1): <START>, random words, <END>, then <NULL> padding."""
    caps = np.full((N, T1), NULL, dtype=np.int32)
    for n in range(N):
        length = rng.randint(min_len, T1 - 1)  # words between <START> and <END>
        caps[n, 0] = START
        caps[n, 1:1 + length] = rng.randint(3, len(WORDS), size=length)  # may hold <UNK>
        caps[n, 1 + length] = END
    return caps


def _up_to_end(captions):
    """Sampled captions with everything after the first <END> set to <NULL>.

    A correct sampler may stop at <END> or keep generating; both decode the same way.
    """
    out = np.asarray(captions).astype(np.int64).copy()
    for row in out:
        ends = np.flatnonzero(row == END)
        if ends.size:
            row[ends[0] + 1:] = NULL
    return out


def _sequence_inputs(cell, seed, N, T, D, H):
    """Seeded x (N,T,D), h0 (N,H) and parameters of an rnn (k=1) or lstm (k=4) layer."""
    rng = np.random.RandomState(seed)
    x, h0 = rng.randn(N, T, D), rng.randn(N, H)
    Wx, Wh, b = _rnn_params(rng, D, H, k=4 if cell == "lstm" else 1)
    return rng, (x, h0, Wx, Wh, b)


def _sequence_forward(ns, cell, seed, N, T, D, H):
    _, inputs = _sequence_inputs(cell, seed, N, T, D, H)
    h, _ = ns[f"{cell}_forward"](*inputs)
    return {"h": h}


def _sequence_backward(ns, cell, seed, N, T, D, H):
    """Gradients of a whole sequence, with an upstream gradient dh (N,T,H) at every step."""
    rng, inputs = _sequence_inputs(cell, seed, N, T, D, H)
    _, cache = ns[f"{cell}_forward"](*inputs)
    dh = rng.randn(N, T, H)
    dx, dh0, dWx, dWh, db = ns[f"{cell}_backward"](dh, cache)
    return {"dx": dx, "dh0": dh0, "dWx": dWx, "dWh": dWh, "db": db}


# ---------------------------------------------------------------------------------
# Vanilla RNN
# ---------------------------------------------------------------------------------

@case("rnn_step_forward", tol=FWD)
def rnn_step_forward(ns):
    rng = np.random.RandomState(7001)
    N, D, H = 4, 6, 5
    x, prev_h = rng.randn(N, D), rng.randn(N, H)
    Wx, Wh, b = _rnn_params(rng, D, H)
    next_h, _ = ns["rnn_step_forward"](x, prev_h, Wx, Wh, b)
    return {"next_h": next_h}


@case("rnn_step_forward_saturated", tol=FWD)
def rnn_step_forward_saturated(ns):
    """Large activations: tanh must saturate to +-1 without overflow."""
    rng = np.random.RandomState(7002)
    N, D, H = 3, 4, 6
    x, prev_h = 5 * rng.randn(N, D), rng.randn(N, H)
    Wx, Wh, b = _rnn_params(rng, D, H, scale=3.0)
    next_h, _ = ns["rnn_step_forward"](x, prev_h, Wx, Wh, b)
    return {"next_h": next_h}


@case("rnn_step_backward", tol=GRAD)
def rnn_step_backward(ns):
    rng = np.random.RandomState(7003)
    N, D, H = 4, 5, 6
    x, prev_h = rng.randn(N, D), rng.randn(N, H)
    Wx, Wh, b = _rnn_params(rng, D, H)
    _, cache = ns["rnn_step_forward"](x, prev_h, Wx, Wh, b)
    dnext_h = rng.randn(N, H)
    dx, dprev_h, dWx, dWh, db = ns["rnn_step_backward"](dnext_h, cache)
    return {"dx": dx, "dprev_h": dprev_h, "dWx": dWx, "dWh": dWh, "db": db}


@case("rnn_forward", tol=FWD)
def rnn_forward(ns):
    return _sequence_forward(ns, "rnn", 7004, N=3, T=7, D=4, H=5)


@case("rnn_backward", tol=GRAD)
def rnn_backward(ns):
    """Upstream gradient at every time step (not only the last)."""
    return _sequence_backward(ns, "rnn", 7005, N=3, T=6, D=4, H=5)


@case("rnn_backward_single_step", tol=GRAD)
def rnn_backward_single_step(ns):
    """T = 1: the sequence backward must agree with the step backward."""
    return _sequence_backward(ns, "rnn", 7006, N=5, T=1, D=3, H=4)


# ---------------------------------------------------------------------------------
# Word embedding
# ---------------------------------------------------------------------------------

@case("word_embedding_forward", tol=FWD)
def word_embedding_forward(ns):
    rng = np.random.RandomState(7011)
    N, T, V, D = 3, 5, 9, 4
    x = rng.randint(V, size=(N, T))
    W = rng.randn(V, D)
    out, _ = ns["word_embedding_forward"](x, W)
    return {"out": out}


@case("word_embedding_backward", tol=GRAD)
def word_embedding_backward(ns):
    """Repeated words (including one repeated within a row) must accumulate."""
    rng = np.random.RandomState(7012)
    N, T, V, D = 3, 6, 10, 5
    x = np.array([[4, 4, 1, 7, 4, 0],
                  [2, 7, 7, 9, 1, 4],
                  [0, 0, 3, 4, 8, 7]])
    W = rng.randn(V, D)
    _, cache = ns["word_embedding_forward"](x, W)
    dout = rng.randn(N, T, D)
    dW = ns["word_embedding_backward"](dout, cache)
    return {"dW": dW}


# ---------------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------------

@case("lstm_step_forward", tol=FWD)
def lstm_step_forward(ns):
    rng = np.random.RandomState(7021)
    N, D, H = 4, 5, 3
    x, prev_h, prev_c = rng.randn(N, D), rng.randn(N, H), rng.randn(N, H)
    Wx, Wh, b = _rnn_params(rng, D, H, k=4)
    next_h, next_c, _ = ns["lstm_step_forward"](x, prev_h, prev_c, Wx, Wh, b)
    return {"next_h": next_h, "next_c": next_c}


@case("lstm_step_forward_gate_order", tol=FWD)
def lstm_step_forward_gate_order(ns):
    """Each block of the activation pushed in turn: a wrong gate order changes outputs."""
    rng = np.random.RandomState(7022)
    N, D, H = 2, 3, 4
    x, prev_h, prev_c = rng.randn(N, D), rng.randn(N, H), rng.randn(N, H)
    Wx, Wh, _ = _rnn_params(rng, D, H, k=4, scale=0.2)
    out = {}
    for block in range(4):
        b = np.zeros(4 * H)
        b[block * H:(block + 1) * H] = 3.0 - 2.0 * block  # 3, 1, -1, -3
        next_h, next_c, _ = ns["lstm_step_forward"](x, prev_h, prev_c, Wx, Wh, b)
        out[f"next_h_{block}"] = next_h
        out[f"next_c_{block}"] = next_c
    return out


@case("lstm_step_backward", tol=GRAD)
def lstm_step_backward(ns):
    rng = np.random.RandomState(7023)
    N, D, H = 4, 5, 3
    x, prev_h, prev_c = rng.randn(N, D), rng.randn(N, H), rng.randn(N, H)
    Wx, Wh, b = _rnn_params(rng, D, H, k=4)
    _, _, cache = ns["lstm_step_forward"](x, prev_h, prev_c, Wx, Wh, b)
    dnext_h, dnext_c = rng.randn(N, H), rng.randn(N, H)
    dx, dprev_h, dprev_c, dWx, dWh, db = ns["lstm_step_backward"](dnext_h, dnext_c, cache)
    return {"dx": dx, "dprev_h": dprev_h, "dprev_c": dprev_c, "dWx": dWx, "dWh": dWh, "db": db}


@case("lstm_forward", tol=FWD)
def lstm_forward(ns):
    return _sequence_forward(ns, "lstm", 7024, N=3, T=6, D=4, H=5)


@case("lstm_backward", tol=GRAD)
def lstm_backward(ns):
    """Upstream gradient at every time step."""
    return _sequence_backward(ns, "lstm", 7025, N=3, T=5, D=4, H=4)


# ---------------------------------------------------------------------------------
# The captioning model
# ---------------------------------------------------------------------------------

def _model(ns, cell_type, seed, D=6, W=5, H=7):
    """A float64 CaptioningRNN whose initialisation is fixed by ``seed``."""
    np.random.seed(seed)  # the provided constructor draws from numpy's global state
    return ns["CaptioningRNN"](VOCAB, input_dim=D, wordvec_dim=W, hidden_dim=H,
                               cell_type=cell_type, dtype=np.float64)


def _loss_case(ns, cell_type, seed):
    model = _model(ns, cell_type, seed)
    rng = np.random.RandomState(seed + 1)
    # The initial word vectors are tiny (randn / 100); larger ones exercise every path.
    model.params["W_embed"] = 0.5 * rng.randn(*model.params["W_embed"].shape)
    features = rng.randn(4, 6)
    captions = _captions(rng, 4, 9)
    for name in ("b_proj", "b", "b_vocab"):  # the constructor's zero biases would hide a missing one
        model.params[name] = 0.3 * rng.randn(*model.params[name].shape)
    loss, grads = model.loss(features, captions)
    out = {"loss": loss}
    out.update({f"d{name}": grads[name] for name in sorted(model.params)})
    return out


def _sample_case(ns, cell_type, seed):
    model = _model(ns, cell_type, seed, D=5, W=6, H=8)
    rng = np.random.RandomState(seed + 1)
    for name, p in model.params.items():  # deterministic, non-degenerate weights
        model.params[name] = rng.randn(*p.shape)
    features = rng.randn(5, 5)
    return {"captions": _up_to_end(model.sample(features, max_length=8))}


@case("captioning_rnn_loss", tol=GRAD, tols={"loss": FWD})
def captioning_rnn_loss(ns):
    return _loss_case(ns, "rnn", 7031)


@case("captioning_rnn_sample", tol=0)
def captioning_rnn_sample(ns):
    return _sample_case(ns, "rnn", 7033)


@case("captioning_lstm_loss", tol=GRAD, tols={"loss": FWD})
def captioning_lstm_loss(ns):
    return _loss_case(ns, "lstm", 7041)


@case("captioning_lstm_sample", tol=0)
def captioning_lstm_sample(ns):
    return _sample_case(ns, "lstm", 7043)


def _overfit(ns, cell_type, seed, steps, learning_rate):
    """Full-batch Adam on a fixed tiny caption set; returns the loss of every step."""
    from dlcourse.optim import adam

    model = _model(ns, cell_type, seed, D=8, W=6, H=10)
    rng = np.random.RandomState(seed + 1)
    features = rng.randn(6, 8)
    captions = _captions(rng, 6, 10)
    configs = {name: {"learning_rate": learning_rate} for name in model.params}
    history = []
    for _ in range(steps):
        loss, grads = model.loss(features, captions)
        history.append(loss)
        for name in model.params:
            model.params[name], configs[name] = adam(model.params[name], grads[name], configs[name])
    return {"loss_history": np.array(history)}


@case("overfit", tol=GRAD)
def overfit(ns):
    """30 Adam steps of the vanilla-RNN model (the loss falls from about 20 to about 6.5)."""
    return _overfit(ns, "rnn", 7051, steps=30, learning_rate=2e-2)


@case("overfit_lstm", tol=GRAD)
def overfit_lstm(ns):
    """30 Adam steps of the LSTM model (the loss falls from about 16 to about 6)."""
    return _overfit(ns, "lstm", 7061, steps=30, learning_rate=2e-2)


# ---------------------------------------------------------------------------------
# Extra credit: train_best_model (a 0-point check; the extra credit is judged by hand)
# ---------------------------------------------------------------------------------

FAST_BUDGET = 50  # CaptioningSolver iterations train_best_model(data, fast=True) may run
LOSS_GROWTH = 2.0  # a fast run that more than doubles the loss of a training batch has diverged


def _coco_like_data(seed, num_captions=20000, num_images=60, num_val_images=20, D=48, T1=10):
    """A dict in the layout of load_coco_data, with this module's vocabulary and D = 48.

    Neither the vocabulary nor the feature size is COCO's, so a model whose sizes are
    not read from ``data`` fails. 20,000 training captions make one epoch at batch 100
    200 iterations: a grading run that trains a whole epoch, or ignores ``fast``, exceeds
    FAST_BUDGET here, as it would exceed the grading time on COCO's 400,000.
    """
    rng = np.random.RandomState(seed)
    data = {}
    for split, n_caps, n_img in (("train", num_captions, num_images), ("val", 400, num_val_images)):
        lengths = rng.randint(3, T1 - 1, size=n_caps)  # words between <START> and <END>, as in _captions
        position = np.arange(T1)
        words = rng.randint(3, len(WORDS), size=(n_caps, T1))  # may hold <UNK>
        caps = np.where((position >= 1) & (position <= lengths[:, None]), words, NULL)
        caps[:, 0] = START
        caps[np.arange(n_caps), lengths + 1] = END
        data[f"{split}_captions"] = caps.astype(np.int32)
        data[f"{split}_image_idxs"] = rng.randint(n_img, size=n_caps).astype(np.int32)
        data[f"{split}_features"] = rng.randn(n_img, D).astype(np.float32)
        data[f"{split}_urls"] = np.array([f"offline://{split}/{i}.png" for i in range(n_img)])
    data["idx_to_word"] = list(WORDS)
    data["word_to_idx"] = dict(VOCAB)
    return data


class _FastRunMonitor:
    """Watches every CaptioningSolver the student's code trains while it stands in ns.

    It counts the iterations of all of them (past FAST_BUDGET the next one raises, so a
    run that ignores ``fast`` stops instead of using up the grading time) and records,
    for each model a solver trains, the loss of a fixed batch of training captions before
    its first update. A training loop of the student's own is not watched.
    """

    def __init__(self, solver_class, features, captions):
        self.features, self.captions = features, captions
        self.iterations = 0
        self.trained = []  # (loss before the first update, model)
        monitor = self

        class MonitoredSolver(solver_class):
            def _step(self):
                if monitor.iterations >= FAST_BUDGET:
                    raise RuntimeError(f"train_best_model(data, fast=True) ran more than {FAST_BUDGET} training "
                                       "iterations: the grading run must train for a few iterations only")
                if not any(model is self.model for _, model in monitor.trained):
                    monitor.trained.append((monitor.loss(self.model), self.model))
                monitor.iterations += 1
                return super()._step()

        MonitoredSolver.__name__ = MonitoredSolver.__qualname__ = solver_class.__name__
        self.solver_class = MonitoredSolver

    def loss(self, model) -> float:
        return float(model.loss(self.features, self.captions)[0])

    def growth(self) -> float:
        """Largest (loss after the run) / (loss before it) over the trained models (1.0: none)."""
        return max((self.loss(model) / before for before, model in self.trained), default=1.0)


def _fast_run_flags(outputs):
    """derive of train_best_model: what its grading run did, as pass (1) / fail (0) flags."""
    for name in ("captions", "captions_short", "iterations", "loss_growth"):
        if name not in outputs:
            raise ValueError(f"output {name!r} is missing")
    words = True
    for name, length in (("captions", 9), ("captions_short", 3)):
        caps = np.asarray(outputs[name], dtype=np.float64)
        words = words and caps.shape == (8, length) and bool(np.all(np.isin(caps, np.arange(len(WORDS)))))
    iterations = np.asarray(outputs["iterations"], dtype=np.float64).ravel()
    growth = np.asarray(outputs["loss_growth"], dtype=np.float64).ravel()
    return {"sample_gives_word_indices_of_the_data": int(words),
            f"at_most_{FAST_BUDGET}_iterations_when_fast": int(iterations.size == 1 and iterations[0] <= FAST_BUDGET),
            "training_loss_does_not_blow_up": int(growth.size == 1 and growth[0] <= LOSS_GROWTH)}


@case("train_best_model", derive=_fast_run_flags)
def train_best_model(ns):
    """train_best_model(data, fast=True) on other data, as the grading run calls it.

    The returned model must caption unseen images of ``data`` with its word indices, the
    run must stay within FAST_BUDGET iterations of CaptioningSolver, and the loss of a
    fixed training batch must not grow by a factor above LOSS_GROWTH over it (a learning
    rate far too large; test_captioning_reference.py runs sane and diverging settings
    against that bound). How good the model gets is for the student's own full run to show.
    """
    data = _coco_like_data(7071)
    rows = np.random.RandomState(7072).choice(data["train_captions"].shape[0], size=50, replace=False)
    monitor = _FastRunMonitor(ns["CaptioningSolver"], data["train_features"][data["train_image_idxs"][rows]],
                              data["train_captions"][rows])
    saved = ns["CaptioningSolver"]
    ns["CaptioningSolver"] = monitor.solver_class  # what the student's function finds by that name
    try:
        model = ns["train_best_model"](data, fast=True)
    finally:
        ns["CaptioningSolver"] = saved
    if not callable(getattr(model, "sample", None)):
        raise TypeError("train_best_model must return the trained model (an object with a "
                        f"sample(features, max_length) method), not {type(model).__name__}")
    features = data["val_features"][:8]
    return {"captions": np.asarray(model.sample(features, max_length=9)),
            "captions_short": np.asarray(model.sample(features, max_length=3)),
            "iterations": monitor.iterations, "loss_growth": monitor.growth()}
