"""Are the provided numpy layers of dlcourse.layers right?

Forward passes are compared with direct formulas or loops, backward passes with numeric
gradients (dlcourse.gradient_check).
"""
from __future__ import annotations

import numpy as np
import pytest

from dlcourse.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from dlcourse.layers import (affine_backward, affine_forward, sigmoid, temporal_affine_backward,
                             temporal_affine_forward, temporal_softmax_loss)


def test_sigmoid_matches_the_formula():
    """Is sigmoid(x) = 1 / (1 + exp(-x)) where the formula is safe?"""
    x = np.linspace(-30, 30, 121)
    assert rel_error(sigmoid(x), 1 / (1 + np.exp(-x))) < 1e-14


def test_sigmoid_is_stable_for_huge_inputs():
    """Do huge inputs give 0 and 1 without overflow or NaN?"""
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = sigmoid(np.array([-1e4, -800.0, 0.0, 800.0, 1e4]))
    assert np.array_equal(out, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_sigmoid_keeps_float32():
    """Does a float32 input stay float32 (the model trains in float32)?"""
    assert sigmoid(np.ones(3, dtype=np.float32)).dtype == np.float32


def test_affine_forward_flattens_and_backward_matches_numeric():
    """Does affine flatten trailing dimensions, and are its gradients right?"""
    rng = np.random.RandomState(0)
    x, w, b = rng.randn(3, 2, 4), rng.randn(8, 5), rng.randn(5)
    out, cache = affine_forward(x, w, b)
    assert rel_error(out, x.reshape(3, 8) @ w + b) < 1e-14
    dout = rng.randn(*out.shape)
    dx, dw, db = affine_backward(dout, cache)
    assert dx.shape == x.shape
    for arr, grad in [(x, dx), (w, dw), (b, db)]:
        num = eval_numerical_gradient_array(lambda _: affine_forward(x, w, b)[0], arr, dout)
        assert rel_error(grad, num) < 1e-8


def test_temporal_affine_is_affine_at_every_step():
    """Is the output at every time step the affine map of that step's input?"""
    rng = np.random.RandomState(1)
    N, T, D, M = 2, 4, 3, 5
    x, w, b = rng.randn(N, T, D), rng.randn(D, M), rng.randn(M)
    out, _ = temporal_affine_forward(x, w, b)
    assert out.shape == (N, T, M)
    for t in range(T):
        assert rel_error(out[:, t], x[:, t] @ w + b) < 1e-13


def test_temporal_affine_backward_matches_numeric():
    """Are dx, dw, db of the temporal affine layer right?"""
    rng = np.random.RandomState(2)
    N, T, D, M = 2, 3, 4, 5
    x, w, b = rng.randn(N, T, D), rng.randn(D, M), rng.randn(M)
    out, cache = temporal_affine_forward(x, w, b)
    dout = rng.randn(*out.shape)
    grads = temporal_affine_backward(dout, cache)
    for arr, grad in zip([x, w, b], grads):
        num = eval_numerical_gradient_array(lambda _: temporal_affine_forward(x, w, b)[0], arr, dout)
        assert grad.shape == arr.shape
        assert rel_error(grad, num) < 1e-8


def _loss(N, T, V, p, seed):
    rng = np.random.RandomState(seed)
    x = 0.001 * rng.randn(N, T, V)
    y = rng.randint(V, size=(N, T))
    mask = rng.rand(N, T) <= p
    return temporal_softmax_loss(x, y, mask)[0]


@pytest.mark.parametrize("N,T,V,p,expected,tol", [
    (100, 1, 10, 1.0, np.log(10), 0.01),  # about 2.3
    (100, 10, 10, 1.0, 10 * np.log(10), 0.1),  # about 23
    (5000, 10, 10, 0.1, np.log(10), 0.05),  # about 2.3: only a tenth of the positions count
])
def test_temporal_softmax_loss_sanity_facts(N, T, V, p, expected, tol):
    """With near-uniform scores, is the loss log(V) per counted position, averaged over N?"""
    assert abs(_loss(N, T, V, p, seed=3) - expected) < tol


def test_temporal_softmax_loss_matches_a_loop():
    """Is the loss the masked sum over positions of -log softmax, divided by N?"""
    rng = np.random.RandomState(4)
    N, T, V = 3, 4, 6
    x, y, mask = 3 * rng.randn(N, T, V), rng.randint(V, size=(N, T)), rng.rand(N, T) > 0.3
    total = 0.0
    for n in range(N):
        for t in range(T):
            if mask[n, t]:
                total -= x[n, t, y[n, t]] - np.log(np.sum(np.exp(x[n, t])))
    loss, _ = temporal_softmax_loss(x, y, mask)
    assert abs(loss - total / N) < 1e-12 * abs(total)


def test_temporal_softmax_loss_gradient_and_mask():
    """Is dx the numeric gradient, and exactly zero at masked positions?"""
    rng = np.random.RandomState(5)
    N, T, V = 4, 5, 6
    x, y, mask = rng.randn(N, T, V), rng.randint(V, size=(N, T)), rng.rand(N, T) > 0.4
    _, dx = temporal_softmax_loss(x, y, mask)
    num = eval_numerical_gradient(lambda x: temporal_softmax_loss(x, y, mask)[0], x, verbose=False)
    assert rel_error(dx, num) < 1e-7
    assert np.all(dx[~mask] == 0)


def test_temporal_softmax_loss_is_stable_for_large_scores():
    """Do scores in the thousands give a finite loss and gradient?"""
    x = np.array([[[1000.0, 0.0, -1000.0]]])
    loss, dx = temporal_softmax_loss(x, np.array([[1]]), np.array([[True]]))
    assert np.isclose(loss, 1000.0) and np.all(np.isfinite(dx))
