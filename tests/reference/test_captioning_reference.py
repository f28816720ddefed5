"""Are the reference solutions of the captioning notebook right?

The reference code is executed from the source notebook (tests/notebook_code.py) and
checked against numeric gradients (dlcourse.gradient_check), against simple loop-based
implementations written here, and against PyTorch (torch.nn.RNNCell / LSTMCell and
autograd). The hidden-test cases are also run on an independent implementation built
from those oracles: a correct student solution must pass them at the stated tolerances.
"""
from __future__ import annotations

import contextlib
import io
import math
import re

import numpy as np
import pytest
import torch

from autograder.cases import all_cases
from autograder.compare import compare_outputs
from autograder.payload import decode_outputs, encode_outputs
from dlcourse.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from tests.notebook_code import ROOT

NOTEBOOK = "source/captioning/captioning.ipynb"


# ------------------------------------------------------------------------------------
# Independent oracles
# ------------------------------------------------------------------------------------

def loop_rnn_step(x, prev_h, Wx, Wh, b):
    """tanh(x Wx + prev_h Wh + b), one scalar at a time."""
    N, D = x.shape
    H = prev_h.shape[1]
    out = np.empty((N, H))
    for n in range(N):
        for j in range(H):
            a = b[j] + sum(x[n, d] * Wx[d, j] for d in range(D)) + sum(prev_h[n, k] * Wh[k, j] for k in range(H))
            out[n, j] = math.tanh(a)
    return out


def loop_sigmoid(a):
    return 1.0 / (1.0 + math.exp(-a))


def loop_lstm_step(x, prev_h, prev_c, Wx, Wh, b):
    """The LSTM step with named gates at column offsets 0 (i), H (f), 2H (o), 3H (g)."""
    N, D = x.shape
    H = prev_h.shape[1]
    next_h, next_c = np.empty((N, H)), np.empty((N, H))
    for n in range(N):
        for j in range(H):
            def act(col):
                return (b[col] + sum(x[n, d] * Wx[d, col] for d in range(D))
                        + sum(prev_h[n, k] * Wh[k, col] for k in range(H)))
            i = loop_sigmoid(act(j))
            f = loop_sigmoid(act(H + j))
            o = loop_sigmoid(act(2 * H + j))
            g = math.tanh(act(3 * H + j))
            next_c[n, j] = f * prev_c[n, j] + i * g
            next_h[n, j] = o * math.tanh(next_c[n, j])
    return next_h, next_c


def tt(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def torch_rnn_seq(x, h0, Wx, Wh, b):
    T = x.shape[1]
    h, hs = h0, []
    for t in range(T):
        h = torch.tanh(x[:, t] @ Wx + h @ Wh + b)
        hs.append(h)
    return torch.stack(hs, dim=1)


_LSTM_CELL = torch.nn.LSTMCell(1, 1).double()  # only its forward is used, with our weights


def torch_lstm_step(x, h, c, Wx, Wh, b):
    """torch.nn.LSTMCell (gate order i, f, g, o) fed our blocks (i, f, o, g)."""
    H = h.shape[1]

    def reorder(W):  # (i, f, o, g) -> (i, f, g, o)
        return torch.cat([W[..., :2 * H], W[..., 3 * H:], W[..., 2 * H:3 * H]], dim=-1)

    params = {"weight_ih": reorder(Wx).T, "weight_hh": reorder(Wh).T, "bias_ih": reorder(b),
              "bias_hh": torch.zeros_like(b)}
    return torch.func.functional_call(_LSTM_CELL, params, (x, (h, c)))


def torch_lstm_seq(x, h0, Wx, Wh, b):
    h, c, hs = h0, torch.zeros_like(h0), []
    for t in range(x.shape[1]):
        h, c = torch_lstm_step(x[:, t], h, c, Wx, Wh, b)
        hs.append(h)
    return torch.stack(hs, dim=1)


def torch_caption_loss(params, features, captions, cell_type, null=0):
    """Loss and gradients of every parameter by autograd."""
    p = {k: tt(v, grad=True) for k, v in params.items()}
    cin, cout = captions[:, :-1], captions[:, 1:]
    h0 = tt(features) @ p["W_proj"] + p["b_proj"]
    x = p["W_embed"][torch.as_tensor(cin, dtype=torch.long)]
    seq = torch_rnn_seq if cell_type == "rnn" else torch_lstm_seq
    h = seq(x, h0, p["Wx"], p["Wh"], p["b"])
    scores = h @ p["W_vocab"] + p["b_vocab"]
    V = scores.shape[-1]
    nll = torch.nn.functional.cross_entropy(scores.reshape(-1, V), torch.as_tensor(cout, dtype=torch.long).reshape(-1),
                                            reduction="none")
    mask = torch.as_tensor(cout != null, dtype=torch.float64).reshape(-1)
    loss = (nll * mask).sum() / captions.shape[0]
    loss.backward()
    return float(loss.detach()), {k: v.grad.numpy() for k, v in p.items()}


# ------------------------------------------------------------------------------------
# Vanilla RNN
# ------------------------------------------------------------------------------------

def test_rnn_step_forward_matches_a_loop(ref):
    """Does rnn_step_forward compute tanh(x Wx + prev_h Wh + b)?"""
    rng = np.random.RandomState(0)
    x, h, Wx, Wh, b = rng.randn(3, 4), rng.randn(3, 5), rng.randn(4, 5), rng.randn(5, 5), rng.randn(5)
    next_h, _ = ref["rnn_step_forward"](x, h, Wx, Wh, b)
    assert next_h.shape == (3, 5)
    assert rel_error(next_h, loop_rnn_step(x, h, Wx, Wh, b)) < 1e-10


def test_rnn_step_backward_matches_numeric_gradients(ref):
    """Does every gradient of rnn_step_backward agree with centred differences?"""
    rng = np.random.RandomState(1)
    x, h, Wx, Wh, b = rng.randn(4, 3), rng.randn(4, 5), rng.randn(3, 5), rng.randn(5, 5), rng.randn(5)
    out, cache = ref["rnn_step_forward"](x, h, Wx, Wh, b)
    dout = rng.randn(*out.shape)
    grads = ref["rnn_step_backward"](dout, cache)
    f = lambda _: ref["rnn_step_forward"](x, h, Wx, Wh, b)[0]  # noqa: E731
    for arr, grad in zip([x, h, Wx, Wh, b], grads):
        assert grad.shape == arr.shape
        assert rel_error(grad, eval_numerical_gradient_array(f, arr, dout)) < 1e-7


def test_rnn_forward_matches_torch_rnn(ref):
    """Is rnn_forward the same as torch.nn.RNN with the same weights?"""
    rng = np.random.RandomState(2)
    N, T, D, H = 3, 5, 4, 6
    x, h0, Wx, Wh, b = rng.randn(N, T, D), rng.randn(N, H), rng.randn(D, H), rng.randn(H, H), rng.randn(H)
    h, _ = ref["rnn_forward"](x, h0, Wx, Wh, b)
    rnn = torch.nn.RNN(D, H, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(tt(Wx).T)
        rnn.weight_hh_l0.copy_(tt(Wh).T)
        rnn.bias_ih_l0.copy_(tt(b))
        rnn.bias_hh_l0.zero_()
        expected, _ = rnn(tt(x), tt(h0)[None])
    assert h.shape == (N, T, H)
    assert rel_error(h, expected.numpy()) < 1e-10


def test_rnn_backward_matches_autograd_and_numeric(ref):
    """With upstream gradients at every step, does rnn_backward agree with autograd and numeric gradients?"""
    rng = np.random.RandomState(3)
    N, T, D, H = 2, 4, 3, 5
    arrays = [rng.randn(N, T, D), rng.randn(N, H), 0.5 * rng.randn(D, H), 0.5 * rng.randn(H, H), rng.randn(H)]
    h, cache = ref["rnn_forward"](*arrays)
    dh = rng.randn(*h.shape)
    grads = ref["rnn_backward"](dh, cache)

    ts = [tt(a, grad=True) for a in arrays]
    (torch_rnn_seq(*ts) * tt(dh)).sum().backward()
    f = lambda _: ref["rnn_forward"](*arrays)[0]  # noqa: E731
    for arr, t, grad in zip(arrays, ts, grads):
        assert rel_error(grad, t.grad.numpy()) < 1e-10
        assert rel_error(grad, eval_numerical_gradient_array(f, arr, dh)) < 1e-7


# ------------------------------------------------------------------------------------
# Word embedding
# ------------------------------------------------------------------------------------

def test_word_embedding_forward_and_backward_with_repeats(ref):
    """Is the lookup right, and do repeated words accumulate their gradients?"""
    rng = np.random.RandomState(4)
    V, D = 7, 3
    x = np.array([[1, 1, 4, 6], [6, 0, 1, 1]])
    W = rng.randn(V, D)
    out, cache = ref["word_embedding_forward"](x, W)
    loop_out = np.array([[W[x[n, t]] for t in range(x.shape[1])] for n in range(x.shape[0])])
    assert np.array_equal(out, loop_out)

    dout = rng.randn(*out.shape)
    dW = ref["word_embedding_backward"](dout, cache)
    loop_dW = np.zeros_like(W)
    for n in range(x.shape[0]):
        for t in range(x.shape[1]):
            loop_dW[x[n, t]] += dout[n, t]
    assert rel_error(dW, loop_dW) < 1e-12
    assert np.all(dW[[2, 3, 5]] == 0)  # absent words get no gradient
    num = eval_numerical_gradient_array(lambda W: ref["word_embedding_forward"](x, W)[0], W, dout)
    assert rel_error(dW, num) < 1e-8


# ------------------------------------------------------------------------------------
# LSTM
# ------------------------------------------------------------------------------------

def test_lstm_step_forward_matches_a_loop_and_torch(ref):
    """Does lstm_step_forward match a scalar loop and torch's LSTM cell (gates reordered)?"""
    rng = np.random.RandomState(5)
    N, D, H = 3, 4, 2
    x, h, c = rng.randn(N, D), rng.randn(N, H), rng.randn(N, H)
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H), rng.randn(4 * H)
    next_h, next_c, _ = ref["lstm_step_forward"](x, h, c, Wx, Wh, b)
    loop_h, loop_c = loop_lstm_step(x, h, c, Wx, Wh, b)
    assert rel_error(next_h, loop_h) < 1e-10
    assert rel_error(next_c, loop_c) < 1e-10
    th, tc = torch_lstm_step(tt(x), tt(h), tt(c), tt(Wx), tt(Wh), tt(b))
    assert rel_error(next_h, th.detach().numpy()) < 1e-10
    assert rel_error(next_c, tc.detach().numpy()) < 1e-10


def test_lstm_gate_order_is_i_f_o_g(ref):
    """With zero weights and saturating biases, does each block act as the gate COURSE.md names?"""
    N, D, H = 1, 2, 3
    x, h, c = np.ones((N, D)), np.ones((N, H)), np.full((N, H), 0.5)
    Wx, Wh = np.zeros((D, 4 * H)), np.zeros((H, 4 * H))
    big = 50.0

    def step(i, f, o, g):
        b = np.concatenate([np.full(H, v) for v in (i, f, o, g)])
        return ref["lstm_step_forward"](x, h, c, Wx, Wh, b)[:2]

    # i open, f closed, o open, g = +1: the cell forgets 0.5 and writes 1.
    next_h, next_c = step(big, -big, big, big)
    assert np.allclose(next_c, 1.0) and np.allclose(next_h, math.tanh(1.0))
    # i closed, f open: the cell keeps 0.5 whatever g is.
    next_h, next_c = step(-big, big, big, -big)
    assert np.allclose(next_c, 0.5) and np.allclose(next_h, math.tanh(0.5))
    # o closed: nothing is shown.
    next_h, next_c = step(-big, big, -big, big)
    assert np.allclose(next_h, 0.0) and np.allclose(next_c, 0.5)
    # g = -1 written through an open input gate.
    _, next_c = step(big, -big, big, -big)
    assert np.allclose(next_c, -1.0)


def test_lstm_sigmoid_is_stable(ref):
    """Do huge activations saturate the LSTM without overflow warnings or NaN?"""
    x, h, c = np.full((1, 1), 1e3), np.zeros((1, 1)), np.zeros((1, 1))
    Wx = np.array([[1.0, -1.0, 1.0, -1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        next_h, next_c, _ = ref["lstm_step_forward"](x, h, c, Wx, np.zeros((1, 4)), np.zeros(4))
    assert np.isfinite(next_h).all() and np.allclose(next_c, -1.0)


def test_lstm_step_backward_matches_numeric_gradients(ref):
    """Does every gradient of lstm_step_backward agree with centred differences of both outputs?"""
    rng = np.random.RandomState(6)
    N, D, H = 3, 4, 3
    arrays = [rng.randn(N, D), rng.randn(N, H), rng.randn(N, H),
              0.5 * rng.randn(D, 4 * H), 0.5 * rng.randn(H, 4 * H), rng.randn(4 * H)]
    h, c, cache = ref["lstm_step_forward"](*arrays)
    dh, dc = rng.randn(*h.shape), rng.randn(*c.shape)
    grads = ref["lstm_step_backward"](dh, dc, cache)
    f_h = lambda _: ref["lstm_step_forward"](*arrays)[0]  # noqa: E731
    f_c = lambda _: ref["lstm_step_forward"](*arrays)[1]  # noqa: E731
    for arr, grad in zip(arrays, grads):
        num = eval_numerical_gradient_array(f_h, arr, dh) + eval_numerical_gradient_array(f_c, arr, dc)
        assert grad.shape == arr.shape
        assert rel_error(grad, num) < 1e-7


def test_lstm_forward_starts_from_zero_cell_state(ref):
    """Does lstm_forward match torch's LSTM with zero initial cell state?"""
    rng = np.random.RandomState(7)
    N, T, D, H = 2, 5, 3, 4
    arrays = [rng.randn(N, T, D), rng.randn(N, H), rng.randn(D, 4 * H), rng.randn(H, 4 * H), rng.randn(4 * H)]
    h, _ = ref["lstm_forward"](*arrays)
    expected = torch_lstm_seq(*[tt(a) for a in arrays])
    assert h.shape == (N, T, H)
    assert rel_error(h, expected.numpy()) < 1e-10


def test_lstm_backward_matches_autograd_and_numeric(ref):
    """With upstream gradients at every step, does lstm_backward agree with autograd and numeric gradients?"""
    rng = np.random.RandomState(8)
    N, T, D, H = 2, 4, 3, 3
    arrays = [rng.randn(N, T, D), rng.randn(N, H), 0.5 * rng.randn(D, 4 * H), 0.5 * rng.randn(H, 4 * H),
              rng.randn(4 * H)]
    h, cache = ref["lstm_forward"](*arrays)
    dh = rng.randn(*h.shape)
    grads = ref["lstm_backward"](dh, cache)
    ts = [tt(a, grad=True) for a in arrays]
    (torch_lstm_seq(*ts) * tt(dh)).sum().backward()
    f = lambda _: ref["lstm_forward"](*arrays)[0]  # noqa: E731
    for arr, t, grad in zip(arrays, ts, grads):
        assert rel_error(grad, t.grad.numpy()) < 1e-10
        assert rel_error(grad, eval_numerical_gradient_array(f, arr, dh)) < 1e-7


# ------------------------------------------------------------------------------------
# The captioning model
# ------------------------------------------------------------------------------------

VOCAB = {w: i for i, w in enumerate(["<NULL>", "<START>", "<END>", "<UNK>", "x", "y", "z", "w"])}


def test_captioning_rnn_rejects_other_cell_types(ref):
    """Is any cell type other than 'rnn' and 'lstm' a ValueError?"""
    with pytest.raises(ValueError):
        ref["CaptioningRNN"](VOCAB, cell_type="gru")


@pytest.mark.parametrize("cell_type,k", [("rnn", 1), ("lstm", 4)])
def test_captioning_rnn_parameters(ref, cell_type, k):
    """Do the parameters have COURSE.md's shapes, dtype and initial scales?"""
    np.random.seed(0)
    D, W, H = 400, 300, 200
    model = ref["CaptioningRNN"](VOCAB, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=cell_type)
    V = len(VOCAB)
    shapes = {"W_embed": (V, W), "W_proj": (D, H), "b_proj": (H,), "Wx": (W, k * H), "Wh": (H, k * H),
              "b": (k * H,), "W_vocab": (H, V), "b_vocab": (V,)}
    assert {n: p.shape for n, p in model.params.items()} == shapes
    assert all(p.dtype == np.float32 for p in model.params.values())
    for name in ["b_proj", "b", "b_vocab"]:
        assert np.all(model.params[name] == 0)
    for name, scale in [("W_embed", 1 / 100), ("W_proj", 1 / np.sqrt(D)), ("Wx", 1 / np.sqrt(W)),
                        ("Wh", 1 / np.sqrt(H)), ("W_vocab", 1 / np.sqrt(H))]:
        assert abs(model.params[name].std() / scale - 1) < 0.1, name


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_captioning_loss_matches_autograd(ref, cell_type):
    """Are the loss and every gradient those of an autograd implementation, <NULL> masked?"""
    np.random.seed(9)
    model = ref["CaptioningRNN"](VOCAB, input_dim=5, wordvec_dim=4, hidden_dim=6, cell_type=cell_type,
                                 dtype=np.float64)
    rng = np.random.RandomState(10)
    model.params["W_embed"] = rng.randn(*model.params["W_embed"].shape)
    features = rng.randn(3, 5)
    captions = np.array([[1, 4, 5, 6, 2, 0, 0], [1, 7, 2, 0, 0, 0, 0], [1, 4, 4, 3, 5, 6, 2]])
    loss, grads = model.loss(features, captions)
    t_loss, t_grads = torch_caption_loss(model.params, features, captions, cell_type)
    assert abs(loss - t_loss) < 1e-10 * abs(t_loss)
    assert set(grads) == set(model.params)
    for name in model.params:
        assert grads[name].shape == model.params[name].shape
        assert rel_error(grads[name], t_grads[name]) < 1e-9, name


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_captioning_loss_matches_numeric_gradients(ref, cell_type):
    """Does every gradient of CaptioningRNN.loss agree with centred differences (float64)?"""
    np.random.seed(11)
    model = ref["CaptioningRNN"](VOCAB, input_dim=4, wordvec_dim=3, hidden_dim=5, cell_type=cell_type,
                                 dtype=np.float64)
    model.params["W_embed"] *= 100  # unit-size word vectors: larger, better-checked gradients
    rng = np.random.RandomState(12)
    features = rng.randn(2, 4)
    captions = rng.randint(len(VOCAB), size=(2, 6))
    loss, grads = model.loss(features, captions)
    for name, p in model.params.items():
        num = eval_numerical_gradient(lambda _: model.loss(features, captions)[0], p, verbose=False)
        # Centred differences carry ~1e-10 absolute noise; the autograd test above is the tight one.
        assert rel_error(grads[name], num) < 1e-5, name


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_sample_is_greedy_decoding(ref, cell_type):
    """Does sample pick the arg-max word at every step, starting from <START> and h0?"""
    np.random.seed(13)
    model = ref["CaptioningRNN"](VOCAB, input_dim=5, wordvec_dim=4, hidden_dim=6, cell_type=cell_type,
                                 dtype=np.float64)
    rng = np.random.RandomState(14)
    for name, p in model.params.items():
        model.params[name] = rng.randn(*p.shape)
    features = rng.randn(4, 5)
    out = model.sample(features, max_length=7)
    assert out.shape == (4, 7) and out.dtype.kind == "i"

    p = {k: tt(v) for k, v in model.params.items()}
    h = tt(features) @ p["W_proj"] + p["b_proj"]
    c = torch.zeros_like(h)
    words = torch.full((4,), VOCAB["<START>"], dtype=torch.long)
    for t in range(7):
        x = p["W_embed"][words]
        if cell_type == "rnn":
            h = torch.tanh(x @ p["Wx"] + h @ p["Wh"] + p["b"])
        else:
            h, c = torch_lstm_step(x, h, c, p["Wx"], p["Wh"], p["b"])
        words = (h @ p["W_vocab"] + p["b_vocab"]).argmax(dim=1)
        assert np.array_equal(out[:, t], words.numpy())


def test_reference_overfits_a_tiny_set(ref):
    """Does the LSTM model drive the loss of six captions near zero with Adam?"""
    from dlcourse.optim import adam

    np.random.seed(15)
    model = ref["CaptioningRNN"](VOCAB, input_dim=6, wordvec_dim=8, hidden_dim=16, cell_type="lstm",
                                 dtype=np.float64)
    rng = np.random.RandomState(16)
    features = rng.randn(6, 6)
    captions = np.array([[1, 4, 5, 6, 2, 0]] * 2 + [[1, 7, 7, 2, 0, 0]] * 2 + [[1, 5, 4, 6, 7, 2]] * 2)
    configs = {n: {"learning_rate": 2e-2} for n in model.params}
    losses = []
    for _ in range(150):
        loss, grads = model.loss(features, captions)
        losses.append(loss)
        for n in model.params:
            model.params[n], configs[n] = adam(model.params[n], grads[n], configs[n])
    assert losses[-1] < 0.05 * losses[0]


# ------------------------------------------------------------------------------------
# The visible checks pass with the reference
# ------------------------------------------------------------------------------------

def test_visible_checks_pass_with_the_reference(ref):
    """Does every visible sanity check print small relative errors for the reference solution?"""
    import nbformat

    nb = nbformat.read(str(ROOT / NOTEBOOK), as_version=4)
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("check_")]
    assert len(checks) >= 12
    for cell in checks:
        ns = dict(ref)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(cell.source, cell.metadata.nbgrader.grade_id, "exec"), ns)
        errors = [float(e) for e in re.findall(r"relative error:?\s+([0-9.eE+-]+)", buf.getvalue())]
        assert errors, cell.metadata.nbgrader.grade_id
        assert max(errors) < 1e-6, (cell.metadata.nbgrader.grade_id, buf.getvalue())


# ------------------------------------------------------------------------------------
# The hidden cases accept another correct implementation
# ------------------------------------------------------------------------------------

def _autograd_namespace(ref):
    """A second, independent solution: forward passes in torch, backward passes by autograd."""

    def step_forward(x, prev_h, Wx, Wh, b):
        ts = [tt(a, grad=True) for a in (x, prev_h, Wx, Wh, b)]
        out = torch.tanh(ts[0] @ ts[2] + ts[1] @ ts[3] + ts[4])
        return out.detach().numpy(), (out, ts)

    def step_backward(dnext_h, cache):
        out, ts = cache
        grads = torch.autograd.grad(out, ts, tt(dnext_h))
        return tuple(g.numpy() for g in grads)

    def seq_forward(fn):
        def forward(x, h0, Wx, Wh, b):
            ts = [tt(a, grad=True) for a in (x, h0, Wx, Wh, b)]
            out = fn(*ts)
            return out.detach().numpy(), (out, ts)
        return forward

    def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
        ts = [tt(a, grad=True) for a in (x, prev_h, prev_c, Wx, Wh, b)]
        h, c = torch_lstm_step(*ts)
        return h.detach().numpy(), c.detach().numpy(), (h, c, ts)

    def lstm_step_backward(dnext_h, dnext_c, cache):
        h, c, ts = cache
        grads = torch.autograd.grad([h, c], ts, [tt(dnext_h), tt(dnext_c)])
        return tuple(g.numpy() for g in grads)

    def embed_forward(x, W):
        Wt = tt(W, grad=True)
        out = Wt[torch.as_tensor(x, dtype=torch.long)]
        return out.detach().numpy(), (out, [Wt])

    def embed_backward(dout, cache):
        return step_backward(dout, cache)[0]

    class AutogradCaptioningRNN(ref["CaptioningRNN"]):  # the provided constructor, other methods
        def loss(self, features, captions):
            return torch_caption_loss(self.params, features, captions, self.cell_type, self._null)

        def sample(self, features, max_length=30):
            p = {k: tt(v) for k, v in self.params.items()}
            h = tt(features) @ p["W_proj"] + p["b_proj"]
            c = torch.zeros_like(h)
            words = torch.full((features.shape[0],), self._start, dtype=torch.long)
            out = np.full((features.shape[0], max_length), self._null, dtype=np.int64)
            for t in range(max_length):
                x = p["W_embed"][words]
                if self.cell_type == "rnn":
                    h = torch.tanh(x @ p["Wx"] + h @ p["Wh"] + p["b"])
                else:
                    h, c = torch_lstm_step(x, h, c, p["Wx"], p["Wh"], p["b"])
                words = (h @ p["W_vocab"] + p["b_vocab"]).argmax(dim=1)
                out[:, t] = words.numpy()
                if (out[:, :t + 1] == self._end).any(axis=1).all():
                    break  # this sampler stops once every caption has ended
            return out

    def train_best_model(data, fast=False):
        """Three Adam iterations of the autograd model through the provided solver."""
        np.random.seed(5)
        if fast:  # 150 captions: 3 iterations
            data = {**data, "train_captions": data["train_captions"][:150],
                    "train_image_idxs": data["train_image_idxs"][:150]}
        model = AutogradCaptioningRNN(data["word_to_idx"], input_dim=data["train_features"].shape[1],
                                      wordvec_dim=16, hidden_dim=24, cell_type="lstm")
        ref["CaptioningSolver"](model, data, update_rule="adam", optim_config={"learning_rate": 5e-3},
                                batch_size=50, num_epochs=1 if fast else 5, verbose=False).train()
        return model

    return {
        "CaptioningSolver": ref["CaptioningSolver"], "train_best_model": train_best_model,
        "rnn_step_forward": step_forward, "rnn_step_backward": step_backward,
        "rnn_forward": seq_forward(torch_rnn_seq), "rnn_backward": step_backward,
        "word_embedding_forward": embed_forward, "word_embedding_backward": embed_backward,
        "lstm_step_forward": lstm_step_forward, "lstm_step_backward": lstm_step_backward,
        "lstm_forward": seq_forward(torch_lstm_seq), "lstm_backward": step_backward,
        "CaptioningRNN": AutogradCaptioningRNN,
    }


def test_hidden_cases_accept_an_independent_implementation(ref):
    """Does an autograd-based solution pass every hidden case against the reference's outputs?"""
    other = _autograd_namespace(ref)
    cases = all_cases("captioning")
    assert len(cases) >= 18
    for name, case in cases.items():
        expected = decode_outputs(encode_outputs(case.run(ref)))
        got = decode_outputs(encode_outputs(case.run(other)))
        verdict = compare_outputs(case, f"captioning/{name}", got, expected)
        assert verdict.passed, verdict.message()


def test_hidden_cases_are_deterministic(ref):
    """Does running every case twice give identical bytes (whatever the global seed)?"""
    for name, case in all_cases("captioning").items():
        np.random.seed(1)
        first = encode_outputs(case.run(ref))
        np.random.seed(2)
        second = encode_outputs(case.run(ref))
        assert first == second, name


def test_hidden_cases_reject_a_wrong_gate_order(ref):
    """Would an LSTM with the gates in torch's order (i, f, g, o) fail the LSTM cases?"""
    wrong = dict(ref)

    def swapped(W, H):
        return np.concatenate([W[..., :2 * H], W[..., 3 * H:], W[..., 2 * H:3 * H]], axis=-1)

    def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
        H = prev_h.shape[1]
        return ref["lstm_step_forward"](x, prev_h, prev_c, swapped(Wx, H), swapped(Wh, H), swapped(b, H))

    wrong["lstm_step_forward"] = lstm_step_forward
    for name in ["lstm_step_forward", "lstm_step_forward_gate_order"]:
        case = all_cases("captioning")[name]
        verdict = compare_outputs(case, name, decode_outputs(encode_outputs(case.run(wrong))),
                                  decode_outputs(encode_outputs(case.run(ref))))
        assert not verdict.passed


# ------------------------------------------------------------------------------------
# The extra-credit check: train_best_model's grading run
# ------------------------------------------------------------------------------------

def _fast_run(code, solver=None):
    """The train_best_model case on a fresh reference namespace, then ``code``: (outputs, flags).

    The namespace is fresh because the case swaps CaptioningSolver in the namespace the
    student's function reads its globals from, as the kernel's globals() in grading.
    """
    from tests.notebook_code import load_reference

    ns = load_reference(NOTEBOOK)
    if solver is not None:
        ns["CaptioningSolver"] = solver
    original = ns["CaptioningSolver"]
    exec(code, ns)
    case = all_cases("captioning")["train_best_model"]
    try:
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
            outputs = decode_outputs(encode_outputs(case.run(ns)))
    finally:
        assert ns["CaptioningSolver"] is original  # the stand-in is gone again, even after an error
    return outputs, case.derive(outputs)


_SETTINGS = """
def train_best_model(data, fast=False):
    np.random.seed(1)
    data = dict(data, train_captions=data["train_captions"][:{n}], train_image_idxs=data["train_image_idxs"][:{n}])
    model = CaptioningRNN(data["word_to_idx"], input_dim=data["train_features"].shape[1], hidden_dim={H},
                          wordvec_dim=64, cell_type="{cell}")
    CaptioningSolver(model, data, update_rule="{rule}", optim_config={{"learning_rate": {lr}}}, batch_size={bs},
                     num_epochs=1, verbose=False).train()
    return model
"""


def test_reference_train_best_model_passes_its_check():
    """Does the reference's grading run pass every flag, with few iterations and a falling loss?"""
    outputs, flags = _fast_run("")
    assert set(flags.values()) == {1}
    assert outputs["iterations"] == 3 and outputs["loss_growth"] < 1.0
    assert outputs["captions"].shape == (8, 9)


@pytest.mark.parametrize("rule,lr,n,bs,H,cell", [
    ("adam", 2e-2, 100, 10, 256, "rnn"),  # 10 iterations of small batches
    ("rmsprop", 3e-3, 200, 50, 256, "lstm"),  # large first RMSProp steps
    ("sgd_momentum", 1e-2, 250, 25, 128, "rnn"),
    ("adam", 5e-3, 1250, 25, 128, "lstm"),  # 50 iterations, the budget
])
def test_sane_settings_pass_the_loss_growth_bound(rule, lr, n, bs, H, cell):
    """Do aggressive but sane learning rates stay well within the case's loss-growth bound?"""
    from autograder.cases.captioning import LOSS_GROWTH

    outputs, flags = _fast_run(_SETTINGS.format(rule=rule, lr=lr, n=n, bs=bs, H=H, cell=cell))
    assert set(flags.values()) == {1}
    assert outputs["loss_growth"] < 0.75 * LOSS_GROWTH


@pytest.mark.parametrize("rule,lr,n,bs,H,cell", [
    ("adam", 1.0, 300, 100, 128, "lstm"),  # 1e0 typed for 1e-3
    ("adam", 0.3, 250, 25, 256, "rnn"),
    ("sgd", 10.0, 300, 100, 128, "lstm"),
])
def test_diverging_learning_rates_fail_the_loss_growth_bound(rule, lr, n, bs, H, cell):
    """Does a learning rate far too large fail the check, by a clear margin?"""
    from autograder.cases.captioning import LOSS_GROWTH

    outputs, flags = _fast_run(_SETTINGS.format(rule=rule, lr=lr, n=n, bs=bs, H=H, cell=cell))
    assert flags["training_loss_does_not_blow_up"] == 0
    assert outputs["loss_growth"] > 1.4 * LOSS_GROWTH


def test_a_run_that_ignores_fast_is_stopped_at_the_budget(ref):
    """Does a grading run that trains whole epochs stop after FAST_BUDGET iterations, solver restored?"""
    from autograder.cases.captioning import FAST_BUDGET

    code = _SETTINGS.replace("data = dict(data,", "_ = dict(data,").format(
        rule="adam", lr=1e-2, n=0, bs=100, H=32, cell="rnn")
    counted = {}

    class Counting(ref["CaptioningSolver"]):
        def _step(self):
            counted["n"] = counted.get("n", 0) + 1
            return super()._step()

    with pytest.raises(RuntimeError, match=f"more than {FAST_BUDGET} training iterations"):
        _fast_run(code, solver=Counting)
    assert counted["n"] == FAST_BUDGET


def test_train_best_model_flags_reject_malformed_samples():
    """Do samples of the wrong shape or outside the vocabulary fail the sample flag?"""
    from autograder.cases.captioning import WORDS, _fast_run_flags

    good = {"captions": np.zeros((8, 9)), "captions_short": np.full((8, 3), len(WORDS) - 1),
            "iterations": np.array(3.0), "loss_growth": np.array(0.9)}
    assert set(_fast_run_flags(good).values()) == {1}
    for name, bad in [("captions", np.zeros((8, 8))), ("captions", np.full((8, 9), len(WORDS))),
                      ("captions_short", np.full((8, 3), 0.5)), ("captions", np.full((8, 9), np.nan))]:
        assert _fast_run_flags({**good, name: bad})["sample_gives_word_indices_of_the_data"] == 0
    assert _fast_run_flags({**good, "loss_growth": np.array(np.nan)})["training_loss_does_not_blow_up"] == 0
    with pytest.raises(ValueError):
        _fast_run_flags({k: v for k, v in good.items() if k != "iterations"})
