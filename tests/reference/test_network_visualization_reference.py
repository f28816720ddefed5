"""Tests of the reference solutions in the network-visualization source notebook.

The notebook's solution cells are the single source of truth; here they are checked
against independent computations: the Jacobian from torch.autograd.functional and
central finite differences for saliency maps, a hand-derived gradient of a linear model
and a separately written loop for the fooling image and the update step. The hidden
cases are checked too: deterministic, non-degenerate, and able to tell common mistakes
from the reference.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autograder.compare import compare_outputs
from tests.notebook_code import run_case

NOTEBOOK = "source/network_visualization/network_visualization.ipynb"
F64 = torch.float64


def _frozen(model):
    model = model.to(F64).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _smooth_cnn(seed, size, num_classes=5):
    """A CNN for (N, 3, size, size) inputs, smooth everywhere (softplus), so finite
    differences are accurate."""
    torch.manual_seed(seed)
    side = (size - 3) // 2 + 1  # after the stride-2 convolution
    return _frozen(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Softplus(), nn.Conv2d(4, 4, 3, stride=2),
                                 nn.Softplus(), nn.Flatten(), nn.Linear(4 * side * side, num_classes)))


# ----------------------------------------------------------------- saliency maps

def test_saliency_matches_the_jacobian(ref):
    """Is the saliency map max_c |d s_{y_i} / d X_i| computed from the full Jacobian?"""
    model = _smooth_cnn(0, 7)
    X = torch.randn(3, 3, 7, 7, dtype=F64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 4, 2])
    J = torch.autograd.functional.jacobian(model, X)  # (N, classes, N, 3, H, W)
    expected = torch.stack([J[i, y[i], i].abs().amax(dim=0) for i in range(3)])  # (N, H, W)
    got = ref["compute_saliency_maps"](X, y, model)
    assert got.shape == (3, 7, 7)
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-13)


def test_saliency_matches_finite_differences(ref):
    """Does a central finite-difference gradient give the same saliency map?"""
    model = _smooth_cnn(3, 5, num_classes=4)
    X = torch.randn(2, 3, 5, 5, dtype=F64, generator=torch.Generator().manual_seed(4))
    y = torch.tensor([3, 1])

    def f(Z):
        with torch.no_grad():
            return float(model(Z)[torch.arange(2), y].sum())

    h = 1e-6
    grad = torch.zeros_like(X)
    for k in range(X.numel()):
        e = torch.zeros(X.numel(), dtype=F64)
        e[k] = h
        e = e.view_as(X)
        grad.view(-1)[k] = (f(X + e) - f(X - e)) / (2 * h)
    got = ref["compute_saliency_maps"](X, y, model)
    assert torch.allclose(got, grad.abs().amax(dim=1), rtol=1e-6, atol=1e-9)


def test_saliency_leaves_input_and_is_nonnegative(ref):
    """Does compute_saliency_maps leave X untouched and return non-negative maps?"""
    model = _smooth_cnn(5, 6)
    X = torch.randn(2, 3, 6, 6, dtype=F64)
    X0 = X.clone()
    s = ref["compute_saliency_maps"](X, torch.tensor([1, 2]), model)
    assert torch.equal(X, X0) and not X.requires_grad
    assert (s >= 0).all() and (s > 0).any()


# ----------------------------------------------------------------- fooling images

def _fooling_by_hand(X, target, model, max_iter=100):
    """An independent loop: torch.autograd.grad, explicit step count."""
    Z = X.detach().clone()
    for step in range(max_iter + 1):
        Z.requires_grad_(True)
        scores = model(Z)
        if int(scores.argmax()) == target or step == max_iter:
            return Z.detach(), step
        g, = torch.autograd.grad(scores[0, target], Z)
        Z = (Z + g / torch.sqrt((g * g).sum())).detach()


def test_fooling_image_matches_an_independent_loop(ref):
    """Same image as a separately written normalised ascent, and classified as the target?"""
    model = _smooth_cnn(6, 10, num_classes=6)
    X = torch.randn(1, 3, 10, 10, dtype=F64, generator=torch.Generator().manual_seed(7))
    target = int(model(X).argmin())
    expected, steps = _fooling_by_hand(X, target, model)
    assert 0 < steps < 100
    got = ref["make_fooling_image"](X, target, model)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert int(model(got).argmax()) == target


def test_fooling_image_of_an_already_fooled_image_is_unchanged(ref):
    """Does the function stop before any step when X is already classified as the target?"""
    model = _smooth_cnn(8, 8)
    X = torch.randn(1, 3, 8, 8, dtype=F64)
    target = int(model(X).argmax())
    assert torch.equal(ref["make_fooling_image"](X, target, model), X)


# ----------------------------------------------------------------- class visualization step

def test_update_step_on_a_linear_model_matches_the_hand_gradient(ref):
    """For s(I) = W vec(I) + b the gradient of s_y - r||I||^2 is W_y - 2 r I: is the step that?"""
    rng = np.random.RandomState(9)
    W = rng.randn(4, 3 * 5 * 5)
    b = rng.randn(4)
    lin = nn.Linear(75, 4).to(F64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W))
        lin.bias.copy_(torch.tensor(b))
    model = _frozen(nn.Sequential(nn.Flatten(), lin))
    I0 = rng.randn(1, 3, 5, 5)
    target, l2_reg, lr = 2, 0.3, 0.7
    g = W[target] - 2 * l2_reg * I0.reshape(-1)
    expected = I0.reshape(-1) + lr * g / np.linalg.norm(g)
    img = torch.tensor(I0).requires_grad_()
    ref["class_visualization_update_step"](img, model, target, l2_reg, lr)
    np.testing.assert_allclose(img.detach().numpy().reshape(-1), expected, rtol=1e-12, atol=1e-12)


def test_two_update_steps_are_two_independent_steps(ref):
    """Is the second call's gradient that of the new image only (no accumulation)?"""
    model = _smooth_cnn(10, 6)
    img = torch.randn(1, 3, 6, 6, dtype=F64).requires_grad_()
    expected = img.detach().clone()
    for _ in range(2):
        Z = expected.clone().requires_grad_()
        g, = torch.autograd.grad(model(Z)[0, 1] - 0.01 * (Z ** 2).sum(), Z)
        expected = expected + 0.5 * g / g.norm()
    for _ in range(2):
        ref["class_visualization_update_step"](img, model, 1, 0.01, 0.5)
    assert torch.allclose(img.detach(), expected, rtol=1e-12, atol=1e-12)


def test_create_class_visualization_runs_and_clamps(ref):
    """Does the provided loop run on a small model, stay in the valid pixel range, and repeat?"""
    model = _smooth_cnn(11, 20)
    ref["class_names"] = {k: str(k) for k in range(5)}
    runs = [ref["create_class_visualization"](3, model, F64, num_iterations=5, show_every=2,
                                              size=20, max_jitter=3, seed=12, show=False)
            for _ in range(2)]
    (final_a, snaps_a), (final_b, _) = runs
    assert np.array_equal(np.asarray(final_a), np.asarray(final_b))
    assert [t for t, _ in snaps_a] == [1, 2, 4, 5]
    assert np.asarray(final_a).shape == (20, 20, 3)


# ----------------------------------------------------------------- the hidden cases

def test_cases_are_deterministic_and_nondegenerate(ref, cases):
    """Does every case give identical outputs twice, with finite, non-trivial values?"""
    for name, case in cases.items():
        first, second = run_case(case, ref), run_case(case, ref)
        assert first.keys() == second.keys()
        for key in first:
            assert np.array_equal(first[key], second[key]), (name, key)
            assert np.all(np.isfinite(first[key])), (name, key)
            if first[key].dtype.kind == "f":
                assert np.abs(first[key]).max() > 0, (name, key)


def test_fooling_case_stops_with_clear_margins(cases):
    """Does the fooling case need a few steps, with margins far above rounding error?"""
    from autograder.cases import network_visualization as nv

    model = nv._case_cnn(9102)
    X = nv._photo("astronaut", 40)
    Z, steps = _fooling_by_hand(X, 4, model)
    assert 2 <= steps <= 20
    margins = []
    Z = X.clone()
    for _ in range(steps + 1):
        s = model(Z)[0]
        others = torch.cat([s[:4], s[5:]])
        margins.append(float(s[4] - others.max()))
        Z.requires_grad_(True)
        g, = torch.autograd.grad(model(Z)[0, 4], Z)
        Z = (Z + g / g.norm()).detach()
    assert margins[-1] > 1e-3 and margins[-2] < -1e-3


def _wrong(ref, **replacements):
    ns = dict(ref)
    ns.update(replacements)
    return ns


def _saliency_sum_channels(X, y, model):
    X = X.detach().clone().requires_grad_(True)
    model(X).gather(1, y.view(-1, 1)).sum().backward()
    return X.grad.abs().sum(dim=1)


def _fooling_unnormalised(X, target_y, model):
    Z = X.detach().clone().requires_grad_(True)
    for _ in range(100):
        s = model(Z)
        if int(s.argmax()) == target_y:
            break
        s[0, target_y].backward()
        with torch.no_grad():
            Z += Z.grad
            Z.grad.zero_()
    return Z.detach()


def _fooling_one_extra_step(X, target_y, model):
    Z = X.detach().clone().requires_grad_(True)
    for _ in range(100):
        s = model(Z)
        s[0, target_y].backward()
        with torch.no_grad():
            Z += Z.grad / Z.grad.norm()
            Z.grad.zero_()
        if int(s.argmax()) == target_y:
            break
    return Z.detach()


def _update_accumulating(img, model, target_y, l2_reg, learning_rate):
    (model(img)[0, target_y] - l2_reg * (img ** 2).sum()).backward()
    with torch.no_grad():
        img += learning_rate * img.grad / img.grad.norm()


def _update_without_score(img, model, target_y, l2_reg, learning_rate):
    (-l2_reg * (img ** 2).sum() + 0 * model(img)[0, target_y]).backward()
    with torch.no_grad():
        img += learning_rate * img.grad / img.grad.norm()
        img.grad.zero_()


def _saliency_of_the_wrong_class(X, y, model):
    X = X.detach().clone().requires_grad_(True)
    model(X).gather(1, ((y + 1) % 10).view(-1, 1)).sum().backward()
    return X.grad.abs().amax(dim=1)


def _update_plain_norm(img, model, target_y, l2_reg, learning_rate):
    (model(img)[0, target_y] - l2_reg * img.norm()).backward()
    with torch.no_grad():
        img += learning_rate * img.grad / img.grad.norm()
        img.grad.zero_()


def _fooling_in_place(X, target_y, model):
    Z = X.requires_grad_()  # no copy: the caller's X moves too
    for _ in range(100):
        s = model(Z)
        if int(s.argmax()) == target_y:
            break
        s[0, target_y].backward()
        Z.data += Z.grad.data / Z.grad.data.norm()
        Z.grad.data.zero_()
    return Z.detach()


@pytest.mark.parametrize("case_name,function,mistake", [
    ("saliency_small_cnn", "compute_saliency_maps", _saliency_sum_channels),
    ("fooling_image", "make_fooling_image", _fooling_in_place),
    ("saliency_squeezenet", "compute_saliency_maps", _saliency_sum_channels),
    ("saliency_small_cnn", "compute_saliency_maps", _saliency_of_the_wrong_class),
    ("fooling_image", "make_fooling_image", _fooling_unnormalised),
    ("fooling_image", "make_fooling_image", _fooling_one_extra_step),
    ("update_step", "class_visualization_update_step", _update_plain_norm),
    ("update_step", "class_visualization_update_step", _update_without_score),
    ("update_step_twice", "class_visualization_update_step", _update_accumulating),
])
def test_cases_tell_mistakes_from_the_reference(ref, cases, case_name, function, mistake):
    """Does the hidden case pass the reference and fail a typical mistake?"""
    case = cases[case_name]
    answer = run_case(case, ref)
    assert compare_outputs(case, case_name, run_case(case, ref), answer).passed
    wrong = run_case(case, _wrong(ref, **{function: mistake}))
    assert not compare_outputs(case, case_name, wrong, answer).passed
