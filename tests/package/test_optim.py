"""Do the update rules of dlcourse.optim match updates computed by hand?"""
from __future__ import annotations

import numpy as np
import pytest

from dlcourse import optim
from dlcourse.gradient_check import rel_error

W = np.array([[0.5, -1.0], [2.0, 0.0]])
G1 = np.array([[0.1, -0.2], [0.0, 1.0]])
G2 = np.array([[-0.3, 0.4], [0.2, 0.5]])


def test_sgd():
    """Is sgd w - lr dw, with the default rate 1e-2?"""
    next_w, config = optim.sgd(W, G1, {"learning_rate": 0.5})
    assert rel_error(next_w, W - 0.5 * G1) < 1e-15
    next_w, config = optim.sgd(W, G1, None)
    assert config["learning_rate"] == 1e-2 and rel_error(next_w, W - 1e-2 * G1) < 1e-15


def test_sgd_momentum_two_steps():
    """v1 = -lr g1, w1 = w + v1; v2 = mu v1 - lr g2, w2 = w1 + v2."""
    lr, mu = 0.1, 0.9
    w1, config = optim.sgd_momentum(W, G1, {"learning_rate": lr, "momentum": mu})
    w2, config = optim.sgd_momentum(w1, G2, config)
    v1 = -lr * G1
    v2 = mu * v1 - lr * G2
    assert rel_error(w1, W + v1) < 1e-15
    assert rel_error(w2, W + v1 + v2) < 1e-15
    assert rel_error(config["velocity"], v2) < 1e-15


def test_rmsprop_two_steps():
    """cache = rho cache + (1 - rho) g^2; w - lr g / (sqrt(cache) + eps)."""
    lr, rho, eps = 0.01, 0.9, 1e-8
    w1, config = optim.rmsprop(W, G1, {"learning_rate": lr, "decay_rate": rho})
    w2, config = optim.rmsprop(w1, G2, config)
    c1 = (1 - rho) * G1**2
    c2 = rho * c1 + (1 - rho) * G2**2
    e1 = W - lr * G1 / (np.sqrt(c1) + eps)
    e2 = e1 - lr * G2 / (np.sqrt(c2) + eps)
    assert rel_error(w1, e1) < 1e-14 and rel_error(w2, e2) < 1e-14
    assert rel_error(config["cache"], c2) < 1e-15


def test_adam_two_steps():
    """Bias-corrected moments with t counted from 1."""
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    w1, config = optim.adam(W, G1, {"learning_rate": lr})
    w2, config = optim.adam(w1, G2, config)
    m1, v1 = (1 - b1) * G1, (1 - b2) * G1**2
    e1 = W - lr * (m1 / (1 - b1)) / (np.sqrt(v1 / (1 - b2)) + eps)
    m2, v2 = b1 * m1 + (1 - b1) * G2, b2 * v1 + (1 - b2) * G2**2
    e2 = e1 - lr * (m2 / (1 - b1**2)) / (np.sqrt(v2 / (1 - b2**2)) + eps)
    assert rel_error(w1, e1) < 1e-13 and rel_error(w2, e2) < 1e-13
    assert config["t"] == 2
    assert rel_error(config["m"], m2) < 1e-15 and rel_error(config["v"], v2) < 1e-15


def test_adam_first_step_moves_every_weight_by_the_learning_rate():
    """After bias correction, the first Adam step is lr * sign(g) wherever g is not tiny."""
    w1, _ = optim.adam(W, G2, {"learning_rate": 0.05})
    assert np.allclose(W - w1, 0.05 * np.sign(G2), rtol=1e-6)


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
def test_rules_do_not_modify_w_in_place(rule):
    """Is the input array left untouched?"""
    w = W.copy()
    getattr(optim, rule)(w, G1, {})
    assert np.array_equal(w, W)


@pytest.mark.parametrize("rule,lr", [("sgd", 0.1), ("sgd_momentum", 0.05), ("rmsprop", 0.05), ("adam", 0.1)])
def test_rules_minimise_a_quadratic(rule, lr):
    """Does each rule drive f(w) = ||w - target||^2 near its minimum?"""
    target = np.array([1.0, -2.0, 3.0])
    w, config = np.zeros(3), {"learning_rate": lr}
    for _ in range(300):
        w, config = getattr(optim, rule)(w, 2 * (w - target), config)
    assert np.sum((w - target) ** 2) < 1e-2
