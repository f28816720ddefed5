"""Tests of the written problems' reference answers, their runners and their hidden cases.

The parity runners of ``dlcourse.parity`` are checked against a plain per-string loop
written here; the reference weights against brute force over every bit string up to length
10; the gradient code against numerical gradients and against matrix powers; and the
grader-side ``derive`` of the parity cases against weights that are wrong, malformed or
oversized (it runs in the grader's process on untrusted data).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from autograder.compare import compare_outputs
from dlcourse.gradient_check import eval_numerical_gradient_array
from dlcourse.parity import running_parity, saturated_lstm, threshold_rnn
from course import ROOT
from tests.notebook_code import run_case

NOTEBOOK = "source/written_problems/written_problems.ipynb"


def _all_strings(max_len: int) -> list[np.ndarray]:
    return [np.array([bits]) for n in range(1, max_len + 1) for bits in itertools.product((0, 1), repeat=n)]


def _loop_threshold_rnn(w, bits):
    """One string at a time, scalar loops: an independent reading of the runner's equations."""
    H = len(w["b"])
    out = []
    for x in bits:
        h = [0.0] * H
        ys = []
        for xt in x:
            h = [1.0 if xt * w["Wx"][0][j] + sum(h[i] * w["Wh"][i][j] for i in range(H)) + w["b"][j] > 0 else 0.0
                 for j in range(H)]
            ys.append(int(sum(h[j] * w["v"][j] for j in range(H)) + w["c"] > 0))
        out.append(ys)
    return np.array(out)


def _loop_lstm(w, bits, s):
    H = len(w["b"]) // 4
    sig = lambda z: 0.0 if z < -700 else 1.0 / (1.0 + math.exp(-z))  # noqa: E731
    out = []
    for x in bits:
        h, c = [0.0] * H, [0.0] * H
        ys = []
        for xt in x:
            a = [s * (xt * w["Wx"][0][k] + sum(h[i] * w["Wh"][i][k] for i in range(H)) + w["b"][k])
                 for k in range(4 * H)]
            c = [sig(a[H + j]) * c[j] + sig(a[j]) * math.tanh(a[3 * H + j]) for j in range(H)]
            h = [sig(a[2 * H + j]) * math.tanh(c[j]) for j in range(H)]
            ys.append(int(h[0] > 0.5))
        out.append(ys)
    return np.array(out)


def test_runners_match_a_scalar_loop():
    rng = np.random.RandomState(0)
    bits = rng.randint(0, 2, size=(6, 9))
    w = {"Wx": rng.randn(1, 3), "Wh": rng.randn(3, 3), "b": rng.randn(3), "v": rng.randn(3), "c": 0.3}
    assert np.array_equal(threshold_rnn(w, bits), _loop_threshold_rnn(w, bits))
    wl = {"Wx": rng.randn(1, 8), "Wh": rng.randn(2, 8), "b": rng.randn(8)}
    for s in (1.0, 50.0):
        assert np.array_equal(saturated_lstm(wl, bits, scale=s), _loop_lstm(wl, bits, s))


def test_running_parity_is_the_xor_of_the_prefix():
    bits = np.array([[1, 0, 1, 1, 0], [0, 0, 0, 1, 1]])
    assert running_parity(bits).tolist() == [[1, 1, 0, 1, 1], [0, 0, 0, 1, 0]]


def test_reference_rnn_weights_compute_parity_on_every_short_string(ref):
    w = ref["rnn_parity_weights"]()
    for bits in _all_strings(10):
        assert np.array_equal(threshold_rnn(w, bits), running_parity(bits)), bits


@pytest.mark.parametrize("scale", [10.0, 50.0, 500.0, 1e4])
def test_reference_lstm_weights_compute_parity_on_every_short_string(ref, scale):
    w = ref["lstm_parity_weights"]()
    assert w["Wh"].shape == (1, 4)
    strings = np.concatenate([b for b in _all_strings(10) if b.shape[1] == 10])
    assert np.array_equal(saturated_lstm(w, strings, scale=scale), running_parity(strings))


def test_reference_lstm_weights_hold_over_long_strings(ref):
    bits = np.random.RandomState(3).randint(0, 2, size=(20, 400))
    y = saturated_lstm(ref["lstm_parity_weights"](), bits, scale=50.0)
    assert np.array_equal(y, running_parity(bits))


def test_spectral_radius_against_the_power_method(ref):
    rng = np.random.RandomState(4)
    for _ in range(5):
        W = rng.randn(6, 6)
        P = W @ W.T + np.eye(6)  # symmetric positive definite: power iteration converges
        v = rng.randn(6)
        for _ in range(2000):
            v = P @ v
            v /= np.linalg.norm(v)
        assert abs(ref["spectral_radius"](P) - v @ P @ v) < 1e-8
    assert ref["spectral_radius"](np.array([[0.0, -2.0], [2.0, 0.0]])) == pytest.approx(2.0)


def test_spectral_radius_tolerances_follow_the_conditioning_of_each_matrix(ref, cases):
    """1e-8 where eigenvalues are well conditioned; the Jordan block's is far looser, and
    both cover what rounding-sized perturbations of the matrix do to rho."""
    from autograder.cases.written_problems import FWD, _rho_tolerance, _spectral_inputs

    c = cases["spectral_radius"]
    inputs = _spectral_inputs()
    assert [c.tolerance(f"rho_{k}") for k in range(len(inputs))] == [FWD, FWD, FWD, c.tolerance("rho_3"), FWD]
    assert 1e-5 < c.tolerance("rho_3") < 1e-3  # about (u ||W|| 3^2)^(1/3) / 0.6
    rng = np.random.RandomState(12)
    for k, (W, block) in enumerate(inputs):
        rho = ref["spectral_radius"](W)
        tol = _rho_tolerance(W, block)
        delta = 100 * np.finfo(float).eps / 2 * np.linalg.norm(W, 2)
        worst = 0.0
        for _ in range(200):  # perturbations of the size the tolerance assumes
            E = rng.randn(*W.shape)
            worst = max(worst, abs(ref["spectral_radius"](W + delta * E / np.linalg.norm(E, 2)) - rho))
        assert worst / (2 * rho) <= tol, k
        # a root-based answer, the one that the former tolerance of 1e-8 failed on the Jordan block
        roots = float(np.max(np.abs(np.roots(np.poly(W)))))
        assert abs(roots - rho) / (abs(roots) + rho) <= tol / 10, k


def test_the_chapters_norm_facts_hold(ref):
    """book/written_problems.md: rho(W) <= ||W|| for sub-multiplicative norms (induced ones,
    Frobenius), not tight for ||I||_F, and false for the largest-entry norm."""
    from autograder.cases.written_problems import _spectral_inputs

    text = (ROOT / "book" / "written_problems.md").read_text()
    assert "for any matrix norm" not in text and "sub-multiplicative" in text
    rng = np.random.RandomState(13)
    matrices = [W for W, _ in _spectral_inputs()] + [rng.randn(6, 6) for _ in range(20)]
    for W in matrices:
        rho = ref["spectral_radius"](W)
        for order in (2, 1, np.inf, "fro"):
            assert rho <= np.linalg.norm(W, order) * (1 + 1e-12), order
    H = 5
    assert ref["spectral_radius"](np.eye(H)) == pytest.approx(1.0)
    assert np.linalg.norm(np.eye(H), 2) == pytest.approx(1.0)
    assert np.linalg.norm(np.eye(H), "fro") == pytest.approx(np.sqrt(H))
    ones = np.ones((2, 2))
    assert np.max(np.abs(ones)) == 1.0 and ref["spectral_radius"](ones) == pytest.approx(2.0)


def test_backprop_linear_rnn_against_numerical_gradients_and_matrix_powers(ref):
    rng = np.random.RandomState(5)
    H, T = 5, 7
    W, u, h0 = rng.randn(H, H) / 2, rng.randn(H), rng.randn(H)

    def loss(h):
        for _ in range(T):
            h = W.T @ h
        return np.array(u @ h)

    grads = ref["backprop_linear_rnn"](W, u, T)
    assert grads.shape == (T + 1, H)
    num = eval_numerical_gradient_array(loss, h0, np.array(1.0))
    assert np.max(np.abs(grads[0] - num)) < 1e-7
    for t in range(T + 1):
        assert np.allclose(grads[t], np.linalg.matrix_power(W, T - t) @ u)


def test_the_non_normal_example_grows_before_it_shrinks(ref):
    """The plot question's premise: rho 0.9, yet the norm grows for several steps."""
    W = np.array([[0.9, 5.0], [0.0, 0.9]])
    norms = np.linalg.norm(ref["backprop_linear_rnn"](W, np.array([0.3, 1.0]), 60), axis=1)[::-1]
    assert ref["spectral_radius"](W) == pytest.approx(0.9)
    assert norms[5] > 5 * norms[0] and norms[60] < norms[0]


def test_cases_pass_on_the_reference_and_catch_mistakes(ref, cases):
    for name, c in cases.items():
        out = run_case(c, ref)
        assert compare_outputs(c, name, out, out).passed, name
    wrong = dict(ref)
    wrong["backprop_linear_rnn"] = lambda W, g, T: ref["backprop_linear_rnn"](W.T, g, T)  # W^T instead of W
    c = cases["backprop_linear_rnn"]
    assert not compare_outputs(c, "b", run_case(c, wrong), run_case(c, ref)).passed
    wrong["spectral_radius"] = lambda W: float(np.max(np.linalg.svd(W, compute_uv=False)))  # largest singular value
    c = cases["spectral_radius"]
    assert not compare_outputs(c, "s", run_case(c, wrong), run_case(c, ref)).passed


def test_derive_grades_other_correct_weights_and_rejects_wrong_ones(ref, cases):
    c = cases["rnn_parity"]
    answer = run_case(c, ref)
    # Another correct construction: unit 0 = OR, unit 1 = AND, with all weights doubled.
    other = {k: 2 * np.asarray(v, dtype=float) for k, v in answer.items()}
    assert compare_outputs(c, "rnn", other, answer).passed
    zero = {k: np.zeros_like(v) for k, v in answer.items()}
    verdict = compare_outputs(c, "rnn", zero, answer)
    assert not verdict.passed and "differs" in verdict.message()
    for bad in ({**answer, "Wh": np.zeros((40, 40))},  # too many units
                {**answer, "b": np.array([np.nan, 0.0])},
                {k: v for k, v in answer.items() if k != "v"},
                {**answer, "Wx": np.zeros((2, 2))}):
        verdict = compare_outputs(c, "rnn", bad, answer)
        assert not verdict.passed and "could not be used" in verdict.message()


def test_lstm_weights_that_work_only_at_one_scale_fail(ref, cases):
    """Weights relying on a pre-activation of exactly 0 break at the second graded scale."""
    c = cases["lstm_parity"]
    answer = run_case(c, ref)
    w = {k: np.asarray(v, dtype=float).copy() for k, v in answer.items()}
    w["b"][1] = 0.0  # forget gate at x = 0 is sigmoid(0) = 0.5: the cell decays
    assert not compare_outputs(c, "lstm", w, answer).passed
