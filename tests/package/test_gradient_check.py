"""Do the numeric gradient helpers of dlcourse.gradient_check compute what they claim?"""
from __future__ import annotations

import numpy as np
import pytest

from dlcourse.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error


def test_rel_error_definition():
    """Is rel_error max |x - y| / max(1e-8, |x| + |y|)?"""
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 4.2, rel=1e-12)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(1e-9, 0.0) == pytest.approx(0.1, rel=1e-12)  # the floor keeps tiny values from blowing up
    assert rel_error(3.0, -3.0) == 1.0
    assert rel_error([1.0, 5.0], [2.0, 5.0]) == rel_error([2.0, 5.0], [1.0, 5.0])


def test_numerical_gradient_of_a_cubic():
    """Is the numeric gradient of sum(x^3) close to 3 x^2, and is x restored?"""
    rng = np.random.RandomState(0)
    x = rng.randn(3, 4)
    x_before = x.copy()
    grad = eval_numerical_gradient(lambda x: np.sum(x**3), x, verbose=False)
    assert rel_error(grad, 3 * x_before**2) < 1e-8
    assert np.array_equal(x, x_before)


def test_numerical_gradient_verbose_prints_every_coordinate(capsys):
    """Does verbose=True print one line per coordinate?"""
    eval_numerical_gradient(lambda x: float(np.sum(x)), np.zeros((2, 3)), verbose=True)
    assert len(capsys.readouterr().out.strip().splitlines()) == 6


def test_numerical_gradient_array_is_a_vector_jacobian_product():
    """Is the result the gradient of sum(f(x) * df), e.g. df * f'(x) for elementwise f?"""
    rng = np.random.RandomState(1)
    x, df = rng.randn(5, 2), rng.randn(5, 2)
    x_before = x.copy()
    grad = eval_numerical_gradient_array(lambda x: np.sin(x) + 2 * x, x, df)
    assert rel_error(grad, df * (np.cos(x_before) + 2)) < 1e-8
    assert np.array_equal(x, x_before)


def test_numerical_gradient_array_of_a_matrix_product():
    """For f(W) = x W, is the numeric gradient x^T df?"""
    rng = np.random.RandomState(2)
    x, W = rng.randn(4, 3), rng.randn(3, 2)
    df = rng.randn(4, 2)
    grad = eval_numerical_gradient_array(lambda W: x @ W, W, df)
    assert rel_error(grad, x.T @ df) < 1e-8


def test_numerical_gradient_array_is_not_fooled_by_reused_output_buffers():
    """Does it copy f's output, so a function returning the same array each call still works?"""
    buf = np.empty(3)

    def f(x):
        np.multiply(x, x, out=buf)
        return buf

    x = np.array([1.0, -2.0, 0.5])
    grad = eval_numerical_gradient_array(f, x, np.ones(3))
    assert rel_error(grad, 2 * x) < 1e-8
