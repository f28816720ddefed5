"""Tests of the reference solutions in the style-transfer source notebook.

The notebook's solution cells are the single source of truth; here they are checked
against independent computations (loops over entries, einsum, numpy slicing), their
gradients against torch.autograd.gradcheck in float64, and the Gram matrix for the
property the chapter relies on (shuffling positions leaves it unchanged). The hidden cases
are checked too: deterministic, non-degenerate, passed by the reference and failed by
typical mistakes, including tv_loss written with loops.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from autograder.cases import style_transfer as cases_module
from autograder.compare import compare_outputs
from tests.notebook_code import run_case

NOTEBOOK = "source/style_transfer/style_transfer.ipynb"
F64 = torch.float64


def _randn(seed, *shape, requires_grad=False):
    return torch.tensor(np.random.RandomState(seed).randn(*shape), dtype=F64,
                        requires_grad=requires_grad)


# ----------------------------------------------------------------- content loss

def test_content_loss_is_the_weighted_sum_of_squares(ref):
    """Is content_loss w * sum((F - P)^2), summed entry by entry in Python?"""
    F, P = _randn(1, 1, 3, 4, 5), _randn(2, 1, 3, 4, 5)
    expected = 0.7 * sum((a - b) ** 2 for a, b in zip(F.flatten().tolist(), P.flatten().tolist()))
    value = ref["content_loss"](0.7, F, P)
    assert value.dim() == 0
    assert abs(float(value) - expected) <= 1e-12 * expected


def test_content_loss_gradient(ref):
    """Does autograd's gradient of content_loss match finite differences (gradcheck)?"""
    F, P = _randn(3, 1, 2, 3, 3, requires_grad=True), _randn(4, 1, 2, 3, 3, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, p: ref["content_loss"](0.3, f, p), (F, P))


# ----------------------------------------------------------------- gram matrix

def _gram_loops(f, normalize):
    N, C, H, W = f.shape
    a = f.detach().numpy()
    g = np.zeros((N, C, C))
    for n, c, d in itertools.product(range(N), range(C), range(C)):
        g[n, c, d] = sum(a[n, c, i, j] * a[n, d, i, j] for i in range(H) for j in range(W))
    return g / (C * H * W) if normalize else g


@pytest.mark.parametrize("normalize", [True, False])
def test_gram_matrix_matches_loops(ref, normalize):
    """Is gram[n, c, d] the (normalised) sum over positions of f[n, c] * f[n, d], for N = 3?"""
    f = _randn(5, 3, 4, 3, 5)
    g = ref["gram_matrix"](f, normalize=normalize)
    assert g.shape == (3, 4, 4)
    np.testing.assert_allclose(g.numpy(), _gram_loops(f, normalize), rtol=1e-12, atol=1e-14)


def test_gram_matrix_normalises_by_default_and_matches_einsum(ref):
    """Is normalize=True the default, dividing by H * W * C, and is G symmetric?"""
    f = _randn(6, 2, 5, 6, 7)
    g = ref["gram_matrix"](f)
    expected = torch.einsum("nchw,ndhw->ncd", f, f) / (5 * 6 * 7)
    assert torch.allclose(g, expected, rtol=1e-12, atol=0)
    assert torch.allclose(g, g.transpose(1, 2))


def test_gram_matrix_ignores_where_features_are(ref):
    """Does shuffling the spatial positions (the same way in every channel) keep G?"""
    f = _randn(7, 2, 6, 4, 5)
    perm = torch.from_numpy(np.random.RandomState(8).permutation(20))
    shuffled = f.reshape(2, 6, 20)[:, :, perm].reshape(2, 6, 4, 5)
    assert not torch.allclose(f, shuffled)
    assert torch.allclose(ref["gram_matrix"](shuffled), ref["gram_matrix"](f), rtol=1e-12, atol=1e-15)


def test_gram_matrix_gradient(ref):
    """Does gram_matrix pass gradcheck, normalised and not?"""
    f = _randn(9, 2, 3, 2, 3, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: ref["gram_matrix"](x), (f,))
    assert torch.autograd.gradcheck(lambda x: ref["gram_matrix"](x, normalize=False), (f,))


# ----------------------------------------------------------------- style loss

def _style_numpy(feats, layers, targets, weights):
    total = 0.0
    for layer, target, weight in zip(layers, targets, weights):
        a = feats[layer].detach().numpy()[0]  # (C, H, W)
        C, H, W = a.shape
        flat = a.reshape(C, H * W)
        g = flat @ flat.T / (C * H * W)
        total += weight * np.sum((g - target.detach().numpy()[0]) ** 2)
    return total


def test_style_loss_matches_numpy(ref):
    """Is style_loss the weighted sum over the chosen layers of squared Gram differences?"""
    shapes = [(1, 3, 4, 4), (1, 5, 3, 2), (1, 2, 6, 3), (1, 4, 2, 2)]
    feats = [_randn(20 + k, *s) for k, s in enumerate(shapes)]
    layers = [3, 1, 2]
    targets = [torch.einsum("nchw,ndhw->ncd", g, g) / g[0].numel()
               for g in (_randn(30 + i, *shapes[i]) for i in layers)]
    weights = [1.5, 200.0, 0.1]
    value = ref["style_loss"](feats, layers, targets, weights)
    expected = _style_numpy(feats, layers, targets, weights)
    assert abs(float(value) - expected) <= 1e-12 * expected


def test_style_loss_ignores_other_layers_and_is_zero_at_its_targets(ref):
    """Is the loss 0 when the targets are the features' own Gram matrices, whatever the others?"""
    feats = [_randn(40 + k, 1, 3, 4, 4) for k in range(3)]
    targets = [ref["gram_matrix"](feats[0]), ref["gram_matrix"](feats[2])]
    assert float(ref["style_loss"](feats, [0, 2], targets, [5.0, 7.0])) == 0.0
    feats[1] = feats[1] * 100  # a layer that is not a style layer
    assert float(ref["style_loss"](feats, [0, 2], targets, [5.0, 7.0])) == 0.0


def test_style_loss_gradient(ref):
    """Does style_loss pass gradcheck with respect to the features of its layers?"""
    a, b = _randn(50, 1, 2, 3, 3, requires_grad=True), _randn(51, 1, 3, 2, 2, requires_grad=True)
    targets = [_randn(52, 1, 2, 2), _randn(53, 1, 3, 3)]
    fn = lambda x, y: ref["style_loss"]([x, None, y], [0, 2], targets, [2.0, 0.5])  # noqa: E731
    assert torch.autograd.gradcheck(fn, (a, b))


# ----------------------------------------------------------------- tv loss

def test_tv_loss_matches_pixel_loops(ref):
    """Is tv_loss w * (sum of squared vertical + horizontal neighbour differences)?"""
    img = _randn(60, 1, 3, 6, 9)
    a = img.numpy()[0]
    expected = 0.0
    for c, i, j in itertools.product(range(3), range(6), range(9)):
        if i + 1 < 6:
            expected += (a[c, i + 1, j] - a[c, i, j]) ** 2
        if j + 1 < 9:
            expected += (a[c, i, j + 1] - a[c, i, j]) ** 2
    value = ref["tv_loss"](img, 0.25)
    assert abs(float(value) - 0.25 * expected) <= 1e-12 * expected


def test_tv_loss_is_zero_for_a_constant_image_and_grows_with_noise(ref):
    """Is the TV of a flat image 0, and that of a noisy image larger than a smooth one?"""
    flat = torch.full((1, 3, 8, 8), 0.3, dtype=F64)
    assert float(ref["tv_loss"](flat, 1.0)) == 0.0
    y, x = torch.meshgrid(torch.linspace(0, 1, 8, dtype=F64), torch.linspace(0, 1, 8, dtype=F64), indexing="ij")
    smooth = (x + y).expand(1, 3, 8, 8)
    noisy = smooth + 0.3 * _randn(61, 1, 3, 8, 8)
    assert float(ref["tv_loss"](noisy, 1.0)) > 3 * float(ref["tv_loss"](smooth, 1.0))


def test_tv_loss_gradient(ref):
    """Does tv_loss pass gradcheck?"""
    img = _randn(62, 1, 3, 4, 5, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: ref["tv_loss"](x, 0.7), (img,))


# ----------------------------------------------------------------- the loop detector

def _tv_rows(img, tv_weight):
    total = 0.0
    for i in range(img.shape[2] - 1):
        total = total + ((img[:, :, i + 1] - img[:, :, i]) ** 2).sum()
    return tv_weight * (total + ((img[:, :, :, 1:] - img[:, :, :, :-1]) ** 2).sum())


def _tv_generator(img, tv_weight):
    rows = sum(((img[:, :, i + 1] - img[:, :, i]) ** 2).sum() for i in range(img.shape[2] - 1))
    cols = sum(((img[..., j + 1] - img[..., j]) ** 2).sum() for j in range(img.shape[3] - 1))
    return tv_weight * (rows + cols)


def _tv_while(img, tv_weight):
    d = torch.diff(img, dim=2).pow(2).sum() + torch.diff(img, dim=3).pow(2).sum()
    k = 0
    while k < 1:
        k += 1
    return tv_weight * d


def _tv_numpy(img, tv_weight):
    a = img.detach().numpy()
    return torch.tensor(tv_weight * (np.sum(np.diff(a, axis=2) ** 2) + np.sum(np.diff(a, axis=3) ** 2)))


def _tv_diff(img, tv_weight):
    return tv_weight * (torch.diff(img, dim=2).pow(2).sum() + torch.diff(img, dim=3).pow(2).sum())


def _without_source(fn_source: str, name: str):
    ns = {"torch": torch, "np": np}
    exec(compile(fn_source, "<no source>", "exec"), ns)
    return ns[name]


@pytest.mark.parametrize("fn,expected", [
    (_tv_diff, 0), (_tv_rows, 1), (_tv_generator, 1), (_tv_while, 1),
])
def test_loop_detector_reads_the_source(fn, expected):
    """Are for/while loops and comprehensions found in a function's source?"""
    assert cases_module._uses_python_loop(fn) == expected


@pytest.mark.parametrize("src,expected", [
    ("def tv(img, w):\n    return w * torch.diff(img, dim=2).pow(2).sum()\n", 0),
    ("def tv(img, w):\n    return w * sum(x.sum() for x in img)\n", 1),
    ("def tv(img, w):\n    t = 0\n    for x in img:\n        t = t + x.sum()\n    return w * t\n", 1),
    ("def tv(img, w):\n    t = 0\n    while t < 3:\n        t += 1\n    return w * t\n", 1),
    ("def tv(img, w):\n    return w * torch.stack([x.sum() for x in img]).sum()\n", 1),
])
def test_loop_detector_falls_back_to_bytecode(src, expected):
    """Without source (exec'd code), are loops found in the bytecode instead?"""
    fn = _without_source(src, "tv")
    with pytest.raises((OSError, TypeError)):
        import inspect

        inspect.getsource(fn)
    assert cases_module._uses_python_loop(fn) == expected


def test_loop_detector_passes_the_reference(ref):
    """Is the reference tv_loss loop-free, whether its source is found or not?"""
    assert cases_module._uses_python_loop(ref["tv_loss"]) == 0


# ----------------------------------------------------------------- the hidden cases

def test_cases_are_deterministic_and_nondegenerate(ref, cases):
    """Does every case give identical outputs twice, with finite, non-trivial values?"""
    assert len(cases) == 8
    for name, case in cases.items():
        first, second = run_case(case, ref), run_case(case, ref)
        assert first.keys() == second.keys()
        for key in first:
            assert np.array_equal(first[key], second[key]), (name, key)
            assert np.all(np.isfinite(first[key])), (name, key)
            if first[key].dtype.kind == "f":
                assert np.abs(first[key]).max() > 0, (name, key)


def test_vectorised_case_flags_of_the_reference(ref, cases):
    """Does the reference get: no loop, a graph independent of the image size, a gradient?"""
    out = run_case(cases["tv_loss_vectorised"], ref)
    assert {k: int(v.item()) for k, v in out.items()} == {
        "uses_python_loop": 0, "graph_grows_with_image": 0, "has_gradient": 1}


def _wrong(ref, **replacements):
    ns = dict(ref)
    ns.update(replacements)
    return ns


def _content_mean(w, current, original):
    return w * ((current - original) ** 2).mean()


def _content_half(w, current, original):
    return 0.5 * w * ((current - original) ** 2).sum()


def _gram_hw(features, normalize=True):
    N, C, H, W = features.shape
    g = torch.einsum("nchw,ndhw->ncd", features, features)
    return g / (H * W) if normalize else g


def _gram_first_image(features, normalize=True):
    N, C, H, W = features.shape
    f = features[0].reshape(C, H * W)
    g = (f @ f.T).expand(N, C, C)
    return g / (C * H * W) if normalize else g


def _gram_always_normalised(features, normalize=True):
    N, C, H, W = features.shape
    return torch.einsum("nchw,ndhw->ncd", features, features) / (C * H * W)


def _tv_abs(img, w):
    return w * (torch.diff(img, dim=2).abs().sum() + torch.diff(img, dim=3).abs().sum())


def _tv_no_last_row(img, w):
    return w * (torch.diff(img[:, :, :-1], dim=2).pow(2).sum() + torch.diff(img, dim=3).pow(2).sum())


def _tv_mean(img, w):
    return w * (torch.diff(img, dim=2).pow(2).mean() + torch.diff(img, dim=3).pow(2).mean())


def _style_unnormalised_gram(ref):
    def style_loss(feats, layers, targets, weights):
        total = 0.0
        for layer, target, weight in zip(layers, targets, weights):
            total = total + weight * ((ref["gram_matrix"](feats[layer], normalize=False) - target) ** 2).sum()
        return total
    return style_loss


def _style_first_layer_only(ref):
    def style_loss(feats, layers, targets, weights):
        return weights[0] * ((ref["gram_matrix"](feats[layers[0]]) - targets[0]) ** 2).sum()
    return style_loss


def _content_item(w, current, original):
    return w * ((current - original) ** 2).sum().item()  # right value, no gradient


def _gram_numpy(features, normalize=True):
    N, C, H, W = features.shape
    a = features.detach().numpy().reshape(N, C, H * W)
    g = torch.from_numpy(a @ a.transpose(0, 2, 1))  # right values, no gradient
    return g / (C * H * W) if normalize else g


@pytest.mark.parametrize("case_name,function,mistake", [
    ("content_loss_random", "content_loss", _content_mean),
    ("content_loss_random", "content_loss", _content_item),
    ("gram_matrix_random", "gram_matrix", _gram_numpy),
    ("content_loss_squeezenet", "content_loss", _content_half),
    ("gram_matrix_random", "gram_matrix", _gram_hw),
    ("gram_matrix_random", "gram_matrix", _gram_first_image),
    ("gram_matrix_random", "gram_matrix", _gram_always_normalised),
    ("gram_matrix_squeezenet", "gram_matrix", _gram_first_image),
    ("tv_loss_values", "tv_loss", _tv_abs),
    ("tv_loss_values", "tv_loss", _tv_no_last_row),
    ("tv_loss_values", "tv_loss", _tv_mean),
    ("tv_loss_values", "tv_loss", _tv_numpy),
    ("tv_loss_vectorised", "tv_loss", _tv_rows),
    ("tv_loss_vectorised", "tv_loss", _tv_generator),
    ("tv_loss_vectorised", "tv_loss", _tv_numpy),
])
def test_cases_tell_mistakes_from_the_reference(ref, cases, case_name, function, mistake):
    """Does the hidden case pass the reference and fail a typical mistake?"""
    case = cases[case_name]
    answer = run_case(case, ref)
    assert compare_outputs(case, case_name, run_case(case, ref), answer).passed
    try:
        wrong = run_case(case, _wrong(ref, **{function: mistake}))
    except Exception:  # a mistake may also crash the case: the test cell then fails
        return
    assert not compare_outputs(case, case_name, wrong, answer).passed


def _style_with_gram_hw(ref):
    def style_loss(feats, layers, targets, weights):
        total = 0.0
        for layer, target, weight in zip(layers, targets, weights):
            total = total + weight * ((_gram_hw(feats[layer]) - target) ** 2).sum()
        return total
    return style_loss


@pytest.mark.parametrize("case_name,make_mistake", [
    ("style_loss_squeezenet", _style_unnormalised_gram),
    ("style_loss_squeezenet", _style_with_gram_hw),
    ("style_loss_random", _style_unnormalised_gram),
    ("style_loss_random", _style_first_layer_only),
])
def test_style_cases_tell_mistakes_from_the_reference(ref, cases, case_name, make_mistake):
    """Do the style-loss cases fail an unnormalised Gram matrix or a single layer?"""
    case = cases[case_name]
    answer = run_case(case, ref)
    wrong = run_case(case, _wrong(ref, style_loss=make_mistake(ref)))
    assert not compare_outputs(case, case_name, wrong, answer).passed


def test_a_correct_loop_free_alternative_passes(ref, cases):
    """Does a different but correct tv_loss (torch.diff) pass both TV cases?"""
    for name in ("tv_loss_values", "tv_loss_vectorised"):
        answer = run_case(cases[name], ref)
        assert compare_outputs(cases[name], name, run_case(cases[name], _wrong(ref, tv_loss=_tv_diff)), answer).passed
