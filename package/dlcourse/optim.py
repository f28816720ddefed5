"""First-order update rules for numpy models.

Every rule has the signature ``rule(w, dw, config) -> (next_w, config)``:

- ``w``: the current parameter array (any shape),
- ``dw``: the gradient of the loss with respect to ``w`` (same shape),
- ``config``: a dict of hyperparameters and per-parameter state (moving averages,
  step counter). Pass ``None`` or ``{}`` the first time; missing entries get the defaults
  below and the returned dict must be passed back on the next call for this parameter.

Rules never modify ``w`` in place; they return a new array.
"""
from __future__ import annotations

import numpy as np


def sgd(w, dw, config=None):
    """Plain stochastic gradient descent: ``w - learning_rate * dw``.

    config: learning_rate (default 1e-2).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    next_w = w - config["learning_rate"] * dw
    return next_w, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: ``v = momentum * v - learning_rate * dw``, ``w + v``.

    config: learning_rate (1e-2), momentum (0.9), velocity (state, starts at zero).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity")
    if v is None:
        v = np.zeros_like(w)
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def rmsprop(w, dw, config=None):
    """RMSProp: scale the step by a moving average of squared gradients.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;
    ``w - learning_rate * dw / (sqrt(cache) + epsilon)``.

    config: learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8), cache (state).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache")
    if cache is None:
        cache = np.zeros_like(w)
    rho = config["decay_rate"]
    cache = rho * cache + (1 - rho) * dw * dw
    config["cache"] = cache
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    return next_w, config


def adam(w, dw, config=None):
    """Adam: bias-corrected moving averages of the gradient and its square.

    With step counter ``t`` incremented before use:
    ``m = beta1 m + (1 - beta1) dw``, ``v = beta2 v + (1 - beta2) dw**2``,
    ``m_hat = m / (1 - beta1**t)``, ``v_hat = v / (1 - beta2**t)``,
    ``w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)``.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8), and the
    state m, v (start at zero) and t (starts at 0).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    m = config.get("m")
    v = config.get("v")
    if m is None:
        m = np.zeros_like(w)
    if v is None:
        v = np.zeros_like(w)
    t = config.get("t", 0) + 1
    b1, b2 = config["beta1"], config["beta2"]
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw * dw
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    config.update(m=m, v=v, t=t)
    return next_w, config
