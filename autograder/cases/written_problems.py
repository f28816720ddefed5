"""Hidden-test cases of the written problems (parity weights, gradients through time).

Parity: hand-chosen weights are not unique, so these cases emit the student's weights and
``derive`` (run by the grader, outside the student's kernel) turns any set of weights into
its outputs on hidden bit strings with ``dlcourse.parity``. The stored answers are the
reference weights, derived the same way: the outputs must be the exact running parity.

Gradients: seeded matrices (seeds 9xxx; the notebook's visible checks use others), float64.
The spectral radius is graded per matrix with a tolerance that follows the conditioning of
its eigenvalues (``_rho_tolerance``): 1e-8 where they are well conditioned, far looser for
the defective matrix, whose triple eigenvalue no floating-point method can pin down closer
than about the cube root of the rounding error.
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


def _spectral_inputs() -> list[tuple[np.ndarray, int]]:
    """(W, m): the matrices above and one more, m the size of the largest Jordan block.

    N is one Jordan block of size 3 (eigenvalue 0.6, off-diagonal 3). The added matrix is
    non-normal but diagonalisable: a real Schur form with the dominant complex pair
    0.5 +- 0.775i (modulus 0.92) beside -0.7 and 0.3 (eigenvalue condition numbers below
    5), turned by a random orthogonal matrix so that its diagonal holds no eigenvalue and
    its largest singular value (2.9) is far from rho.
    """
    rng = np.random.RandomState(9102)
    Q, _ = np.linalg.qr(rng.randn(4, 4))
    T = np.array([[0.5, 1.5, 2.0, 0.0], [-0.4, 0.5, 0.0, 1.0], [0.0, 0.0, -0.7, 2.5], [0.0, 0.0, 0.0, 0.3]])
    A, S, R, N = _matrices()
    return [(A, 1), (S, 1), (R, 1), (N, 3), (Q @ T @ Q.T, 1)]


UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2
BACKWARD_SLACK = 100.0  # a backward-stable eigenvalue method errs by a modest multiple of u ||W||


def _rho_tolerance(W: np.ndarray, block: int) -> float:
    """Relative tolerance for rho(W) that any backward-stable method meets, at least FWD.

    Such a method (LAPACK's eigenvalues; for matrices this small, in practice, the roots of
    the characteristic polynomial too) returns the exact eigenvalues of W + E with
    ||E|| <= delta = BACKWARD_SLACK * u * ||W||. A simple eigenvalue moves by at most kappa * delta, kappa
    its condition number ||x|| ||y|| / |y^H x| (right and left eigenvectors). An eigenvalue
    lambda with one Jordan block of size m moves by about (delta ||W - lambda I||^(m-1))^(1/m):
    a perturbation delta in the block's corner turns (mu - lambda)^m = 0 into
    (mu - lambda)^m = delta s^(m-1), s the off-diagonal. Both the student's value and the
    stored one may err by that much, and rel_error divides by about 2 rho.
    """
    delta = BACKWARD_SLACK * UNIT_ROUNDOFF * np.linalg.norm(W, 2)
    eigenvalues, V = np.linalg.eig(W)
    rho = float(np.max(np.abs(eigenvalues)))
    if block == 1:
        left = np.linalg.inv(V)
        kappa = max(np.linalg.norm(V[:, k]) * np.linalg.norm(left[k]) for k in range(len(eigenvalues)))
        shift = kappa * delta
    else:
        lam = np.trace(W) / W.shape[0]  # the matrices with a Jordan block here have one eigenvalue
        shift = (delta * np.linalg.norm(W - lam * np.eye(W.shape[0]), 2) ** (block - 1)) ** (1.0 / block)
    return max(FWD, float(shift / rho))


RHO_TOLS = {f"rho_{k}": _rho_tolerance(W, m) for k, (W, m) in enumerate(_spectral_inputs())}


@case("spectral_radius", tol=FWD, tols=RHO_TOLS)
def spectral_radius(ns):
    return {f"rho_{k}": float(ns["spectral_radius"](W.copy())) for k, (W, _) in enumerate(_spectral_inputs())}


@case("backprop_linear_rnn", tol=FWD)
def backprop_linear_rnn(ns):
    rng = np.random.RandomState(9201)
    out = {}
    for k, W in enumerate(_matrices()):
        g = rng.randn(W.shape[0])
        out[f"grads_{k}"] = ns["backprop_linear_rnn"](W.copy(), g.copy(), 9)
    return out
