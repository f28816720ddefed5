"""Tests of the reference solutions in the GAN source notebook.

The notebook's solution cells are the single source of truth; here they are checked
against independent computations: the losses against log-sigmoid formulas written in
numpy, the networks against parameter counts worked out by hand and against layer-by-layer
shape arithmetic, Adam against its update rule written out. The hidden cases are checked
too: deterministic, non-degenerate, and able to tell common mistakes from the reference.
"""
from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

from autograder.compare import compare_outputs
from tests.notebook_code import run_case

NOTEBOOK = "source/gan/generative_adversarial_networks.ipynb"


def _log_sigmoid(s):
    """log(1 / (1 + e^-s)) for float64 numpy arrays, stable for large |s|."""
    return -np.logaddexp(0.0, -s)


# ----------------------------------------------------------------------------- noise

def test_sample_noise_is_seeded_uniform_in_open_interval(ref):
    """Does a seed fix the noise, and is it uniform on (-1, 1) with mean 0 and variance 1/3?"""
    z = ref["sample_noise"](50000, 2, seed=11)
    assert z.shape == (50000, 2) and z.dtype == torch.float32
    assert torch.equal(z, ref["sample_noise"](50000, 2, seed=11))
    assert z.min() >= -1 and z.max() < 1
    assert abs(z.mean().item()) < 0.01
    assert z.var().item() == pytest.approx(1 / 3, abs=0.01)
    hist = np.histogram(z.numpy(), bins=10, range=(-1, 1))[0]
    assert hist.min() > 0.9 * hist.mean()  # flat, not bell-shaped


# ----------------------------------------------------------------------------- losses

def test_discriminator_loss_matches_log_sigmoid_formula(ref):
    """Is the loss -mean log s(r) - mean log(1 - s(f)) for logits r, f (incl. extreme ones)?"""
    rng = np.random.RandomState(1)
    r, f = rng.randn(9) * 4, rng.randn(9) * 4
    r[0], f[0] = 60.0, -45.0  # log-sigmoid in the tails
    expected = -np.mean(_log_sigmoid(r)) - np.mean(_log_sigmoid(-f))  # 1 - s(f) = s(-f)
    got = ref["discriminator_loss"](torch.tensor(r), torch.tensor(f)).item()
    assert got == pytest.approx(expected, rel=1e-12)


def test_generator_loss_is_non_saturating(ref):
    """Is the loss -mean log s(f), and is its gradient large where D rejects the fakes?"""
    f = torch.tensor([-6.0, -0.5, 2.0], dtype=torch.float64, requires_grad=True)
    loss = ref["generator_loss"](f)
    assert loss.item() == pytest.approx(-np.mean(_log_sigmoid(f.detach().numpy())), rel=1e-12)
    loss.backward()
    # d/ds -log s(s) = s(s) - 1: close to -1 for a rejected fake (s = -6), not close to 0
    expected = (1 / (1 + np.exp(-f.detach().numpy())) - 1) / 3
    np.testing.assert_allclose(f.grad.numpy(), expected, rtol=1e-12)
    assert abs(f.grad[0].item()) > 0.33


def test_ls_losses_match_their_formulas(ref):
    """Are the LSGAN losses 0.5 mean (r - 1)^2 + 0.5 mean f^2 and 0.5 mean (f - 1)^2?"""
    rng = np.random.RandomState(2)
    r, f = rng.randn(8), rng.randn(8)
    d = ref["ls_discriminator_loss"](torch.tensor(r), torch.tensor(f)).item()
    g = ref["ls_generator_loss"](torch.tensor(f)).item()
    assert d == pytest.approx(0.5 * np.sum((r - 1) ** 2) / 8 + 0.5 * np.sum(f ** 2) / 8, rel=1e-12)
    assert g == pytest.approx(0.5 * np.sum((f - 1) ** 2) / 8, rel=1e-12)


def test_losses_at_the_equilibrium(ref):
    """When D outputs probability 1/2 everywhere (logit 0), is l_D = 2 log 2 and l_G = log 2?"""
    zeros = torch.zeros(5, dtype=torch.float64)
    assert ref["discriminator_loss"](zeros, zeros).item() == pytest.approx(2 * np.log(2), rel=1e-14)
    assert ref["generator_loss"](zeros).item() == pytest.approx(np.log(2), rel=1e-14)


# ----------------------------------------------------------------------------- networks

def _linear_count(n_in, n_out):
    return n_in * n_out + n_out


def test_parameter_counts_worked_out_by_hand(ref):
    """Do the four networks have the parameter counts of COURSE.md, layer by layer?"""
    count = ref["count_params"]
    assert count(ref["discriminator"]()) == _linear_count(784, 256) + _linear_count(256, 256) + _linear_count(256, 1) == 267009
    assert count(ref["generator"](4)) == _linear_count(4, 1024) + _linear_count(1024, 1024) + _linear_count(1024, 784) == 1858320
    conv = lambda c_in, c_out, k: c_in * c_out * k * k + c_out  # noqa: E731
    assert count(ref["build_dc_classifier"](16)) == (conv(1, 32, 5) + conv(32, 64, 5) + _linear_count(1024, 1024)
                                                  + _linear_count(1024, 1)) == 1102721
    bn = lambda c: 2 * c  # noqa: E731
    assert count(ref["build_dc_generator"](4)) == (_linear_count(4, 1024) + bn(1024) + _linear_count(1024, 6272)
                                                + bn(6272) + conv(128, 64, 4) + bn(64) + conv(64, 1, 4)) == 6580801


def test_network_shapes_and_ranges(ref):
    """Are outputs (N, 1) logits for D and (N, 784) images in (-1, 1) for G, for both GANs?"""
    torch.manual_seed(0)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    assert ref["discriminator"](seed=1)(x).shape == (6, 1)
    assert ref["build_dc_classifier"](6)(x).shape == (6, 1)
    assert ref["build_dc_classifier"](6)(x.reshape(6, 784)).shape == (6, 1)  # flat input unflattened
    z = ref["sample_noise"](6, 7, seed=2)
    for G in (ref["generator"](7, seed=3), ref["build_dc_generator"](7)):
        out = G(z)
        assert out.shape == (6, 784)
        assert out.abs().max() <= 1


def test_dc_classifier_intermediate_sizes(ref):
    """Do the spatial sizes go 28 -> 24 -> 12 -> 8 -> 4 as (n - k + 1) and n / 2 predict?"""
    D = ref["build_dc_classifier"](2)
    sizes = []
    x = torch.zeros(2, 1, 28, 28)
    for layer in D:
        x = layer(x)
        if x.dim() == 4:
            sizes.append(x.shape[-1])
    assert sizes == [28, 24, 24, 12, 8, 8, 4]


def test_dc_generator_upsamples_7_14_28(ref):
    """Does each transposed conv double the size, (n - 1) * 2 - 2 + 4 = 2n?"""
    G = ref["build_dc_generator"](5).eval()
    x = torch.zeros(3, 5)
    sizes = []
    for layer in G:
        x = layer(x)
        if x.dim() == 4:
            sizes.append(tuple(x.shape[1:]))
    assert sizes[0] == (128, 7, 7)
    assert (64, 14, 14) in sizes and (1, 28, 28) in sizes


def test_seeded_builds_are_reproducible(ref):
    """Does seed= make two builds identical and different seeds give different weights?"""
    a, b, c = ref["generator"](3, seed=5), ref["generator"](3, seed=5), ref["generator"](3, seed=6)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


# ----------------------------------------------------------------------------- optimiser

def test_get_optimizer_is_adam_with_gan_betas_and_its_update_rule(ref):
    """Does one step equal Adam's rule written out: p - lr * m_hat / (sqrt(v_hat) + eps)?"""
    torch.manual_seed(0)
    model = nn.Linear(3, 2).double()
    opt = ref["get_optimizer"](model)
    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.Adam)
    assert group["lr"] == 1e-3 and tuple(group["betas"]) == (0.5, 0.999)
    params = list(model.parameters())
    assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(p) for p in params}
    x = torch.randn(4, 3, dtype=torch.float64)
    before = [p.detach().clone() for p in params]
    for step in (1, 2):
        opt.zero_grad()
        (model(x) ** 2).sum().backward()
        grads = [p.grad.detach().clone() for p in params]
        if step == 1:
            m = [(1 - 0.5) * g for g in grads]
            v = [(1 - 0.999) * g ** 2 for g in grads]
        else:
            m = [0.5 * mi + 0.5 * g for mi, g in zip(m, grads)]
            v = [0.999 * vi + 0.001 * g ** 2 for vi, g in zip(v, grads)]
        expected = [b - 1e-3 * (mi / (1 - 0.5 ** step)) / ((vi / (1 - 0.999 ** step)).sqrt() + 1e-8)
                    for b, mi, vi in zip(before, m, v)]
        opt.step()
        for p, e in zip(params, expected):
            torch.testing.assert_close(p.detach(), e, rtol=1e-10, atol=1e-12)
        before = [p.detach().clone() for p in params]


# ----------------------------------------------------------------------------- hidden cases

def test_cases_are_deterministic_and_nondegenerate(ref, cases):
    """Does every case give the same outputs twice, with no NaN and no all-zero float output?"""
    assert set(cases) == {"sample_noise", "discriminator", "generator", "discriminator_loss",
                          "generator_loss", "get_optimizer", "ls_discriminator_loss",
                          "ls_generator_loss", "build_dc_classifier", "build_dc_generator"}
    for name, case in cases.items():
        a, b = run_case(case, ref), run_case(case, ref)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}/{key}")
            if a[key].dtype.kind == "f":
                assert np.all(np.isfinite(a[key])), f"{name}/{key}"
                if key != "weight_decay":
                    assert np.any(a[key] != 0), f"{name}/{key}"
        assert compare_outputs(case, name, a, b).passed


def test_cases_do_not_depend_on_the_reference_initialisation(ref, cases):
    """Does a network built with another initialisation still pass (the case re-initialises)?"""
    ns = dict(ref)

    def discriminator(seed=None):
        D = ref["discriminator"](seed)
        D.apply(ref["initialize_weights"])  # different weights from the default init
        return D

    ns["discriminator"] = discriminator
    case = cases["discriminator"]
    assert compare_outputs(case, "discriminator", run_case(case, ns), run_case(case, ref)).passed


def _leaky_discriminator(seed=None):
    from dlcourse.gan import Flatten
    return nn.Sequential(Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256),
                         nn.LeakyReLU(0.2), nn.Linear(256, 1))


def _generator_without_tanh(noise_dim=96, seed=None):
    return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 784))


def _dc_classifier_avgpool(batch_size):
    from dlcourse.gan import Flatten, Unflatten
    return nn.Sequential(Unflatten(batch_size, 1, 28, 28), nn.Conv2d(1, 32, 5), nn.LeakyReLU(0.01),
                         nn.AvgPool2d(2, 2), nn.Conv2d(32, 64, 5), nn.LeakyReLU(0.01), nn.AvgPool2d(2, 2),
                         Flatten(), nn.Linear(1024, 1024), nn.LeakyReLU(0.01), nn.Linear(1024, 1))


def _dc_generator_bn_before_relu(noise_dim=96):
    from dlcourse.gan import Flatten, Unflatten
    return nn.Sequential(nn.Linear(noise_dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
                         nn.Linear(1024, 6272), nn.BatchNorm1d(6272), nn.ReLU(), Unflatten(-1, 128, 7, 7),
                         nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(), Flatten())


def _bce(logits, target):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)


MISTAKES = [
    ("sample_noise", "sample_noise", lambda n, d, seed=None: (torch.manual_seed(seed) if seed is not None else None,
                                                              torch.rand(n, d))[1]),
    ("sample_noise", "sample_noise", lambda n, d, seed=None: (torch.manual_seed(seed) if seed is not None else None,
                                                              torch.randn(n, d).clamp(-0.999, 0.999))[1]),
    ("discriminator", "discriminator", _leaky_discriminator),
    ("generator", "generator", _generator_without_tanh),
    ("discriminator_loss", "discriminator_loss",
     lambda r, f: _bce(r, torch.zeros_like(r)) + _bce(f, torch.ones_like(f))),  # labels swapped
    ("discriminator_loss", "discriminator_loss",
     lambda r, f: 0.5 * (_bce(r, torch.ones_like(r)) + _bce(f, torch.zeros_like(f)))),  # halved
    ("generator_loss", "generator_loss",
     lambda f: -_bce(f, torch.zeros_like(f))),  # saturating min log(1 - D(G(z)))
    ("generator_loss", "generator_loss",
     lambda f: -torch.log(torch.sigmoid(f)).mean()),  # infinite on float32 logits of -120
    ("generator_loss", "generator_loss",
     lambda f: _bce(f.detach(), torch.ones_like(f))),  # right value, no gradient reaches G
    ("discriminator_loss", "discriminator_loss",
     lambda r, f: torch.log1p(torch.exp(-r)).mean() + torch.log1p(torch.exp(f)).mean()),  # exp overflows in float32
    ("get_optimizer", "get_optimizer", lambda model: torch.optim.Adam(model.parameters(), lr=1e-3)),
    ("get_optimizer", "get_optimizer",
     lambda model: torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.5, 0.999))),
    ("ls_discriminator_loss", "ls_discriminator_loss",
     lambda r, f: ((r - 1) ** 2).mean() + (f ** 2).mean()),  # without the 1/2
    ("ls_generator_loss", "ls_generator_loss", lambda f: 0.5 * (f ** 2).mean()),  # wrong target
    ("build_dc_classifier", "build_dc_classifier", _dc_classifier_avgpool),
    ("build_dc_generator", "build_dc_generator", _dc_generator_bn_before_relu),
]


@pytest.mark.parametrize("case_name,function,mistake", MISTAKES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(MISTAKES)])
def test_cases_tell_mistakes_from_the_reference(ref, cases, case_name, function, mistake):
    """Does the reference pass its own case, and a typical mistake fail it?"""
    case = cases[case_name]
    answer = run_case(case, ref)
    assert compare_outputs(case, case_name, run_case(case, ref), answer).passed
    wrong_ns = dict(ref)
    wrong_ns[function] = mistake
    assert not compare_outputs(case, case_name, run_case(case, wrong_ns), answer).passed
