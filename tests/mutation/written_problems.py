"""Correct variants and plausible mistakes for written_problems (see tests/mutation/__init__.py).

The parity answers are hand-chosen weights, which are not unique: the correct variants are
other weights that compute the running parity (scaled, hidden units permuted, an unused
unit added, another construction), graded through the case's ``derive`` on hidden bit
strings; the wrong ones are weights a student could plausibly choose that fail on some
string or at one of the graded saturation scales.
"""

CORRECT = {
    "rnn_parity_weights": {
        "reference weights scaled (hidden layer by 2, output by 3)": '''
            def rnn_parity_weights():
                return {"Wx": 2.0 * np.array([[1.0, 1.0]]), "Wh": 2.0 * np.array([[1.0, 1.0], [-1.0, -1.0]]),
                        "b": 2.0 * np.array([-0.5, -1.5]), "v": 3.0 * np.array([1.0, -1.0]), "c": 3.0 * -0.5}
        ''',
        "hidden units swapped (AND first, then OR), lists not arrays": '''
            def rnn_parity_weights():
                return {"Wx": [[1, 1]], "Wh": [[-1, -1], [1, 1]], "b": [-1.5, -0.5], "v": [-1, 1], "c": -0.5}
        ''',
        "other construction: 'x and not parity', 'parity and not x', output OR": '''
            def rnn_parity_weights():
                # the parity so far is h[0] + h[1]: exactly one of the two units is on when it is 1
                return {"Wx": np.array([[1.0, -1.0]]), "Wh": np.array([[-1.0, 1.0], [-1.0, 1.0]]),
                        "b": np.array([-0.5, -0.5]), "v": np.array([1.0, 1.0]), "c": -0.5}
        ''',
        "three units, the third never fires and is never read": '''
            def rnn_parity_weights():
                Wx = np.zeros((1, 3)); Wx[0, :2] = 1.0
                Wh = np.zeros((3, 3)); Wh[0, :2] = 1.0; Wh[1, :2] = -1.0; Wh[:2, 2] = 5.0
                b = np.array([-0.5, -1.5, -20.0])
                return {"Wx": Wx, "Wh": Wh, "b": b, "v": np.array([1.0, -1.0, 0.0]), "c": np.float32(-0.5)}
        ''',
    },
    "lstm_parity_weights": {
        "reference pre-activations doubled": '''
            def lstm_parity_weights():
                return {"Wx": np.array([[2.0, -2.0, 0.0, 0.0]]), "Wh": np.array([[-4.0, 0.0, 0.0, 0.0]]),
                        "b": np.array([-1.0, 1.0, 2.0, 2.0])}
        ''',
        "other construction: forget gate always open, g adds +1 or -1": '''
            def lstm_parity_weights():
                # i = x_t; f = o = 1; g = +1 when the parity was 0 (h = 0), -1 when it was 1 (h = 0.76)
                return {"Wx": np.array([[1.0, 0.0, 0.0, 0.0]]), "Wh": np.array([[0.0, 0.0, 0.0, -2.0]]),
                        "b": np.array([-0.5, 1.0, 1.0, 0.5])}
        ''',
        "two units, the second shut and unread (blocks i, f, o, g of H = 2)": '''
            def lstm_parity_weights():
                H = 2
                Wx = np.zeros((1, 4 * H)); Wh = np.zeros((H, 4 * H)); b = -np.ones(4 * H)
                i, f, o, g = (k * H for k in range(4))  # first column of each gate block: unit 0
                Wx[0, i], Wx[0, f] = 1.0, -1.0
                Wh[0, i] = -2.0
                b[i], b[f], b[o], b[g] = -0.5, 0.5, 1.0, 1.0
                return {"Wx": Wx, "Wh": Wh, "b": b}
        ''',
    },
    "spectral_radius": {
        "roots of the characteristic polynomial": '''
            def spectral_radius(W):
                return float(np.max(np.abs(np.roots(np.poly(W)))))
        ''',
        "scipy eigenvalues, loop over their moduli with hypot": '''
            import scipy.linalg

            def spectral_radius(W):
                best = 0.0
                for lam in scipy.linalg.eigvals(W):
                    best = max(best, float(np.hypot(lam.real, lam.imag)))
                return best
        ''',
        "diagonal of the complex Schur form": '''
            import scipy.linalg

            def spectral_radius(W):
                T, _ = scipy.linalg.schur(W, output="complex")
                return float(np.abs(np.diag(T)).max())
        ''',
        "torch eigenvalues of the transpose": '''
            import torch

            def spectral_radius(W):
                return torch.linalg.eigvals(torch.from_numpy(np.ascontiguousarray(W.T))).abs().max().item()
        ''',
        "characteristic polynomial by Faddeev-LeVerrier, then its roots": '''
            def spectral_radius(W):
                n = W.shape[0]
                M, coeffs = np.zeros_like(W), [1.0]
                for k in range(1, n + 1):
                    M = W @ M + coeffs[-1] * np.eye(n)
                    coeffs.append(-np.trace(W @ M) / k)
                return float(max(abs(r) for r in np.roots(coeffs)))
        ''',
    },
    "backprop_linear_rnn": {
        "matrix powers (slower, still correct)": '''
            def backprop_linear_rnn(W, g_T, T):
                return np.stack([np.linalg.matrix_power(W, T - t) @ g_T for t in range(T + 1)])
        ''',
        "row vectors times W transposed, list reversed at the end": '''
            def backprop_linear_rnn(W, g_T, T):
                out = [np.asarray(g_T, dtype=float)]
                for _ in range(T):
                    out.append(out[-1] @ W.T)
                return np.array(out[::-1])
        ''',
        "scalar loops over the entries": '''
            def backprop_linear_rnn(W, g_T, T):
                H = W.shape[0]
                grads = np.empty((T + 1, H))
                grads[T] = g_T
                for t in range(T - 1, -1, -1):
                    for i in range(H):
                        grads[t, i] = sum(W[i, j] * grads[t + 1, j] for j in range(H))
                return grads
        ''',
    },
}

WRONG = {
    "rnn_parity_weights": {
        "both units OR (second bias -0.5, not -1.5)": '''
            def rnn_parity_weights():
                return {"Wx": np.array([[1.0, 1.0]]), "Wh": np.array([[1.0, 1.0], [-1.0, -1.0]]),
                        "b": np.array([-0.5, -0.5]), "v": np.array([1.0, -1.0]), "c": -0.5}
        ''',
        "Wh transposed (row and column of the state mixed up)": '''
            def rnn_parity_weights():
                return {"Wx": np.array([[1.0, 1.0]]), "Wh": np.array([[1.0, -1.0], [1.0, -1.0]]),
                        "b": np.array([-0.5, -1.5]), "v": np.array([1.0, -1.0]), "c": -0.5}
        ''',
        "integer thresholds, as if step(0) were 1": '''
            def rnn_parity_weights():
                return {"Wx": np.array([[1.0, 1.0]]), "Wh": np.array([[1.0, 1.0], [-1.0, -1.0]]),
                        "b": np.array([-1.0, -2.0]), "v": np.array([1.0, -1.0]), "c": -1.0}
        ''',
        "one unit: 'x and not the previous state'": '''
            def rnn_parity_weights():
                return {"Wx": np.array([[1.0]]), "Wh": np.array([[-1.0]]), "b": np.array([-0.5]),
                        "v": np.array([1.0]), "c": -0.5}
        ''',
        "state read from the OR unit only": '''
            def rnn_parity_weights():
                return {"Wx": np.array([[1.0, 1.0]]), "Wh": np.array([[1.0, 1.0], [0.0, 0.0]]),
                        "b": np.array([-0.5, -1.5]), "v": np.array([1.0, -1.0]), "c": -0.5}
        ''',
    },
    "lstm_parity_weights": {
        "forget gate bias 0: half open when x = 0, the cell decays": '''
            def lstm_parity_weights():
                return {"Wx": np.array([[1.0, -1.0, 0.0, 0.0]]), "Wh": np.array([[-2.0, 0.0, 0.0, 0.0]]),
                        "b": np.array([-0.5, 0.0, 1.0, 1.0])}
        ''',
        "input gate ignores the state (Wh = 0)": '''
            def lstm_parity_weights():
                return {"Wx": np.array([[1.0, -1.0, 0.0, 0.0]]), "Wh": np.zeros((1, 4)),
                        "b": np.array([-0.5, 0.5, 1.0, 1.0])}
        ''',
        "forget gate reversed: keeps the cell when x = 1": '''
            def lstm_parity_weights():
                return {"Wx": np.array([[1.0, 1.0, 0.0, 0.0]]), "Wh": np.array([[-2.0, 0.0, 0.0, 0.0]]),
                        "b": np.array([-0.5, -0.5, 1.0, 1.0])}
        ''',
        "gate blocks in PyTorch's order i, f, g, o": '''
            def lstm_parity_weights():
                # meant: i = x_t, f = o = 1, g = +-1 from the state; written with g and o swapped
                return {"Wx": np.array([[1.0, 0.0, 0.0, 0.0]]), "Wh": np.array([[0.0, 0.0, -2.0, 0.0]]),
                        "b": np.array([-0.5, 1.0, 0.5, 1.0])}
        ''',
        "input gate threshold assumes h = 1, not tanh(1)": '''
            def lstm_parity_weights():
                # i should open for x = 1 and h = 0 only; the bias -0.2 lets x = 1, h = 0.76 through
                return {"Wx": np.array([[1.0, -1.0, 0.0, 0.0]]), "Wh": np.array([[-1.0, 0.0, 0.0, 0.0]]),
                        "b": np.array([-0.2, 0.5, 1.0, 1.0])}
        ''',
    },
    "spectral_radius": {
        "largest singular value": '''
            def spectral_radius(W):
                return float(np.linalg.norm(W, 2))
        ''',
        "largest eigenvalue, modulus forgotten (real parts)": '''
            def spectral_radius(W):
                return float(np.max(np.linalg.eigvals(W).real))
        ''',
        "absolute value of the real parts": '''
            def spectral_radius(W):
                return float(np.max(np.abs(np.linalg.eigvals(W).real)))
        ''',
        "eigvalsh (only right for symmetric matrices)": '''
            def spectral_radius(W):
                return float(np.max(np.abs(np.linalg.eigvalsh(W))))
        ''',
        "largest diagonal entry": '''
            def spectral_radius(W):
                return float(np.max(np.abs(np.diag(W))))
        ''',
        "Gelfand's formula with 50 powers": '''
            def spectral_radius(W):
                return float(np.linalg.norm(np.linalg.matrix_power(W, 50), 2) ** (1 / 50))
        ''',
    },
    "backprop_linear_rnn": {
        "W^T instead of W (the forward map again)": '''
            def backprop_linear_rnn(W, g_T, T):
                grads = np.zeros((T + 1, W.shape[0]))
                grads[T] = g_T
                for t in range(T, 0, -1):
                    grads[t - 1] = W.T @ grads[t]
                return grads
        ''',
        "reversed order: grads[0] is g_T": '''
            def backprop_linear_rnn(W, g_T, T):
                grads = [g_T]
                for _ in range(T):
                    grads.append(W @ grads[-1])
                return np.array(grads)
        ''',
        "one step short: grads[0] left at zero": '''
            def backprop_linear_rnn(W, g_T, T):
                grads = np.zeros((T + 1, W.shape[0]))
                grads[T] = g_T
                for t in range(T, 1, -1):
                    grads[t - 1] = W @ grads[t]
                return grads
        ''',
        "every step from g_T, not from the step after": '''
            def backprop_linear_rnn(W, g_T, T):
                grads = np.zeros((T + 1, W.shape[0]))
                grads[T] = g_T
                for t in range(T, 0, -1):
                    grads[t - 1] = W @ g_T
                return grads
        ''',
        "T rows: dL/dh_0 dropped": '''
            def backprop_linear_rnn(W, g_T, T):
                grads = np.zeros((T, W.shape[0]))
                grads[-1] = g_T
                for t in range(T - 1, 0, -1):
                    grads[t - 1] = W @ grads[t]
                return grads
        ''',
    },
}
