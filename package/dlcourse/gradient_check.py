"""Numeric gradients by centred differences, and the relative error used to compare.

``df/dx[i] ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)``, one coordinate at a time. The
functions change ``x`` in place while they evaluate ``f`` and restore it afterwards, so
``f`` must read the array it was given (a closure over ``x`` is the usual pattern).
Use float64 inputs: with float32 the differences drown in rounding error.
"""
from __future__ import annotations

import numpy as np


def rel_error(x, y):
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numeric gradient of a scalar function ``f`` at the array ``x``.

    Inputs:
    - f: function taking one array argument and returning a scalar
    - x: float array (any shape), the point at which to take the gradient
    - verbose: print every coordinate and its gradient
    - h: step of the centred difference

    Returns ``grad``, an array of the shape of ``x``.
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        old = x[ix]
        x[ix] = old + h
        f_plus = f(x)
        x[ix] = old - h
        f_minus = f(x)
        x[ix] = old  # restore
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of ``sum(f(x) * df)`` with respect to ``x``.

    This is the gradient a backward pass returns when ``df`` is the upstream gradient
    of the array-valued function ``f``.

    Inputs:
    - f: function taking one array argument and returning an array
    - x: float array (any shape)
    - df: upstream gradient, the shape of ``f(x)``
    - h: step of the centred difference

    Returns ``grad``, an array of the shape of ``x``.
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        old = x[ix]
        x[ix] = old + h
        out_plus = np.array(f(x), copy=True)
        x[ix] = old - h
        out_minus = np.array(f(x), copy=True)
        x[ix] = old
        grad[ix] = np.sum((out_plus - out_minus) * df) / (2 * h)
    return grad
