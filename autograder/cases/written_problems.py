"""Hidden-test cases of the written problems (parity weights, gradients through time).

Parity: hand-chosen weights are not unique, so these cases emit the student's weights and
``derive`` (run by the grader, outside the student's kernel) turns any set of weights into
its outputs on hidden bit strings with ``dlcourse.parity``. The stored answers are the
reference weights, derived the same way: the outputs must be the exact running parity.

Gradients: seeded matrices (seeds 9xxx; the notebook's visible checks use others), float64.
"""
from __future__ import annotations

import numpy as np

from autograder.cases import case

FWD = 1e-8


def _hidden_bits() -> np.ndarray:
    """(N, T) bit strings: random ones of several densities, all zeros, all ones, one 1."""
    rng = np.random.RandomState(9001)
    T = 48
    rows = [rng.binomial(1, p, size=T) for p in (0.1, 0.3, 0.5, 0.7, 0.9) for _ in range(12)]
    rows += [np.zeros(T, int), np.ones(T, int)]
    rows += [np.eye(T, dtype=int)[k] for k in (0, 1, T // 2, T - 1)]
    return np.stack(rows)


def _weights_of(ns, function: str, names: tuple) -> dict:
    weights = ns[function]()
    if not isinstance(weights, dict):
        raise TypeError(f"{function}() must return a dict of weights")
    return {name: np.asarray(weights[name], dtype=np.float64) for name in names}


def _rnn_outputs(weights: dict) -> dict:
    from dlcourse.parity import threshold_rnn

    return {"y": threshold_rnn(weights, _hidden_bits())}


def _lstm_outputs(weights: dict) -> dict:
    from dlcourse.parity import saturated_lstm

    bits = _hidden_bits()
    return {"y_scale_50": saturated_lstm(weights, bits, scale=50.0),
            "y_scale_500": saturated_lstm(weights, bits, scale=500.0)}


@case("rnn_parity", derive=_rnn_outputs)
def rnn_parity(ns):
    return _weights_of(ns, "rnn_parity_weights", ("Wx", "Wh", "b", "v", "c"))


@case("lstm_parity", derive=_lstm_outputs)
def lstm_parity(ns):
    return _weights_of(ns, "lstm_parity_weights", ("Wx", "Wh", "b"))


def _matrices():
    """Square matrices of several kinds: random, symmetric, rotation-like, non-normal."""
    rng = np.random.RandomState(9101)
    A = rng.randn(5, 5) / np.sqrt(5)
    S = rng.randn(4, 4)
    S = (S + S.T) / 4
    theta = 0.7
    R = 1.1 * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    N = np.array([[0.6, 3.0, 0.0], [0.0, 0.6, 3.0], [0.0, 0.0, 0.6]])
    return [A, S, R, N]


@case("spectral_radius", tol=FWD)
def spectral_radius(ns):
    return {f"rho_{k}": float(ns["spectral_radius"](W.copy())) for k, W in enumerate(_matrices())}


@case("backprop_linear_rnn", tol=FWD)
def backprop_linear_rnn(ns):
    rng = np.random.RandomState(9201)
    out = {}
    for k, W in enumerate(_matrices()):
        g = rng.randn(W.shape[0])
        out[f"grads_{k}"] = ns["backprop_linear_rnn"](W.copy(), g.copy(), 9)
    return out
