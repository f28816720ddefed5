"""Provided numpy layers for the captioning assignment (forward and backward passes).

Every forward function returns ``(out, cache)``; the matching backward function takes
the upstream gradient and that cache and returns the gradients of the inputs.

Glossary of shapes: N batch size, T time steps, D input dimension, M output dimension,
V vocabulary size (number of classes of the softmax).

The recurrent layers (vanilla RNN, LSTM, word embedding) are the students' work and live
in the assignment notebook, not here.
"""
from __future__ import annotations

import numpy as np


def sigmoid(x):
    """Numerically stable logistic function ``1 / (1 + exp(-x))``, elementwise.

    ``exp`` is only ever taken of a non-positive number, so large ``|x|`` neither
    overflows nor produces NaN. The output keeps the floating dtype of ``x``.
    """
    x = np.asarray(x)
    z = np.exp(-np.abs(x))  # in (0, 1]
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def affine_forward(x, w, b):
    """Fully connected layer ``out = x w + b``.

    Inputs:
    - x: array of shape (N, d_1, ..., d_k); each row is flattened to D = d_1 * ... * d_k
    - w: weights of shape (D, M)
    - b: biases of shape (M,)

    Returns a tuple of:
    - out: (N, M)
    - cache: (x, w, b)
    """
    out = x.reshape(x.shape[0], -1) @ w + b  # (N, M)
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Backward pass of :func:`affine_forward`.

    Inputs:
    - dout: upstream gradient of shape (N, M)
    - cache: (x, w, b) from the forward pass

    Returns a tuple of:
    - dx: (N, d_1, ..., d_k), the shape of x
    - dw: (D, M)
    - db: (M,)
    """
    x, w, _ = cache
    x2 = x.reshape(x.shape[0], -1)  # (N, D)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def temporal_affine_forward(x, w, b):
    """The same affine map applied at every time step.

    Inputs:
    - x: (N, T, D)
    - w: (D, M)
    - b: (M,)

    Returns a tuple of:
    - out: (N, T, M)
    - cache: (x, w, b, out)
    """
    N, T, D = x.shape
    out = (x.reshape(N * T, D) @ w).reshape(N, T, -1) + b  # (N, T, M)
    return out, (x, w, b, out)


def temporal_affine_backward(dout, cache):
    """Backward pass of :func:`temporal_affine_forward`.

    Inputs:
    - dout: upstream gradient of shape (N, T, M)
    - cache: from the forward pass

    Returns a tuple of:
    - dx: (N, T, D)
    - dw: (D, M)
    - db: (M,)
    """
    x, w, _, _ = cache
    N, T, D = x.shape
    M = w.shape[1]
    dout2 = dout.reshape(N * T, M)
    dx = (dout2 @ w.T).reshape(N, T, D)
    dw = x.reshape(N * T, D).T @ dout2
    db = dout2.sum(axis=0)
    return dx, dw, db


def temporal_softmax_loss(x, y, mask, verbose=False):
    """Softmax cross-entropy at every time step, summed over time, averaged over N.

    Positions where ``mask`` is False (padding, ``<NULL>``) contribute nothing to the
    loss or the gradient.

    Inputs:
    - x: scores of shape (N, T, V)
    - y: ground-truth indices of shape (N, T), each in [0, V)
    - mask: boolean array of shape (N, T), True where the loss counts
    - verbose: print the shapes of the intermediate arrays

    Returns a tuple of:
    - loss: scalar
    - dx: gradient of the loss with respect to x, shape (N, T, V)
    """
    N, T, V = x.shape
    flat_x = x.reshape(N * T, V)
    flat_y = y.reshape(N * T)
    flat_mask = mask.reshape(N * T).astype(x.dtype)

    shifted = flat_x - flat_x.max(axis=1, keepdims=True)  # largest score becomes 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N*T, V)
    rows = np.arange(N * T)
    loss = -(flat_mask * log_probs[rows, flat_y]).sum() / N

    dflat = np.exp(log_probs)  # softmax probabilities
    dflat[rows, flat_y] -= 1
    dflat *= flat_mask[:, None] / N
    if verbose:
        print("scores", flat_x.shape, "log_probs", log_probs.shape, "dx", dflat.shape)
    return loss, dflat.reshape(N, T, V)
