"""Run hand-chosen recurrent weights on bit strings (written problems, parity).

Two tiny recurrent networks whose weights students choose by hand so that the output at
step t is the parity (XOR) of the bits x_1..x_t:

- ``threshold_rnn``: a vanilla RNN with the hard-threshold activation
  step(z) = 1 if z > 0 else 0,
      h_t = step(x_t Wx + h_{t-1} Wh + b),   y_t = step(h_t . v + c),   h_0 = 0.
- ``saturated_lstm``: an LSTM (gate order i, f, o, g as in the captioning assignment)
  whose pre-activations are multiplied by a large ``scale``, so that every sigmoid is
  (almost) 0 or 1 and every tanh (almost) -1 or 1:
      a_t = scale * (x_t Wx + h_{t-1} Wh + b),   c_t = f * c_{t-1} + i * g,
      h_t = o * tanh(c_t),   h_0 = c_0 = 0,   y_t = 1 if h_t[0] > 0.5 else 0.

Shapes (H hidden units, N bit strings of length T): bits (N, T) of 0/1;
threshold RNN weights ``Wx`` (1, H), ``Wh`` (H, H), ``b`` (H,), ``v`` (H,), ``c`` scalar;
LSTM weights ``Wx`` (1, 4H), ``Wh`` (H, 4H), ``b`` (4H,). Both return y (N, T) int64.
"""
from __future__ import annotations

import numpy as np

MAX_HIDDEN = 16  # hand-chosen solutions need 1 or 2 units; more is refused
SCALE = 50.0  # default saturation scale of saturated_lstm


def running_parity(bits) -> np.ndarray:
    """The target: y[n, t] = x[n, 0] XOR ... XOR x[n, t]; (N, T) int64."""
    bits = np.asarray(bits, dtype=np.int64)
    return np.cumsum(bits, axis=1) % 2


def _weights(weights: dict, shapes: dict) -> dict:
    """Check names, shapes and values of hand-chosen weights; float64 copies."""
    out = {}
    for name, want in shapes.items():
        if name not in weights:
            raise ValueError(f"weight '{name}' is missing")
        arr = np.array(weights[name], dtype=np.float64)
        if want == () and arr.shape == (1,):  # a number stored as a 1-element array
            arr = arr.reshape(())
        if arr.shape != want:
            raise ValueError(f"weight '{name}' has shape {arr.shape}, expected {want}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"weight '{name}' is not finite")
        out[name] = arr
    return out


def _hidden_size(weights: dict, divisor: int) -> int:
    Wh = np.asarray(weights.get("Wh", np.zeros((0, 0))))
    if Wh.ndim != 2 or not 1 <= Wh.shape[0] <= MAX_HIDDEN:
        raise ValueError(f"Wh must have shape (H, {divisor}H) with 1 <= H <= {MAX_HIDDEN}")
    return Wh.shape[0]


def _bits(bits) -> np.ndarray:
    bits = np.asarray(bits)
    if bits.ndim != 2 or not np.isin(bits, (0, 1)).all():
        raise ValueError("bits must be an (N, T) array of 0 and 1")
    return bits.astype(np.float64)


def threshold_rnn(weights: dict, bits) -> np.ndarray:
    """Outputs y (N, T) of the hard-threshold RNN with ``weights`` on ``bits`` (N, T)."""
    H = _hidden_size(weights, 1)
    w = _weights(weights, {"Wx": (1, H), "Wh": (H, H), "b": (H,), "v": (H,), "c": ()})
    x = _bits(bits)
    N, T = x.shape
    h = np.zeros((N, H))
    y = np.zeros((N, T), dtype=np.int64)
    for t in range(T):
        h = (x[:, t:t + 1] @ w["Wx"] + h @ w["Wh"] + w["b"] > 0).astype(np.float64)
        y[:, t] = h @ w["v"] + w["c"] > 0
    return y


def saturated_lstm(weights: dict, bits, scale: float = SCALE) -> np.ndarray:
    """Outputs y (N, T) of the saturated LSTM with ``weights`` on ``bits`` (N, T)."""
    H = _hidden_size(weights, 4)
    w = _weights(weights, {"Wx": (1, 4 * H), "Wh": (H, 4 * H), "b": (4 * H,)})
    x = _bits(bits)
    N, T = x.shape
    h = np.zeros((N, H))
    c = np.zeros((N, H))
    y = np.zeros((N, T), dtype=np.int64)
    with np.errstate(over="ignore"):  # saturated exponentials overflow to inf: sigmoid -> 0
        for t in range(T):
            a = scale * (x[:, t:t + 1] @ w["Wx"] + h @ w["Wh"] + w["b"])
            i, f, o = (1.0 / (1.0 + np.exp(-a[:, k * H:(k + 1) * H])) for k in range(3))
            g = np.tanh(a[:, 3 * H:4 * H])
            c = f * c + i * g
            h = o * np.tanh(c)
            y[:, t] = h[:, 0] > 0.5
    return y
