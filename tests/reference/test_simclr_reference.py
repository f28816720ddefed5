"""Tests of the SimCLR reference solution and of its hidden cases.

The loss is checked against an independent formulation (cross-entropy over the masked
similarity matrix, as contrastive-learning libraries write it) and by hand on two pairs;
its gradient against finite differences; the augmentation against its specification; the
dataset on the offline stand-in; one training epoch against a loop written here. The cases
must tell common mistakes from the reference.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision import transforms

from autograder.compare import compare_outputs
from tests.notebook_code import load_reference, run_case

NOTEBOOK = "source/simclr/simclr.ipynb"


def nt_xent(left, right, tau):
    """NT-Xent as a (2N)-way cross-entropy with the self-similarity masked out."""
    z = F.normalize(torch.cat([left, right]), dim=1)
    n = left.shape[0]
    logits = z @ z.T / tau
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets)


@pytest.mark.parametrize("n,d,tau", [(1, 3, 0.5), (4, 5, 0.5), (7, 16, 0.1), (3, 2, 2.0)])
def test_losses_match_an_independent_formulation(ref, n, d, tau):
    g = torch.Generator().manual_seed(n * 100 + d)
    left, right = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)
    expected = nt_xent(left, right, tau)
    assert torch.allclose(ref["simclr_loss_naive"](left, right, tau), expected, rtol=1e-10)
    assert torch.allclose(ref["simclr_loss_vectorized"](left, right, tau, device="cpu"), expected, rtol=1e-10)


def test_loss_by_hand_for_two_orthogonal_pairs(ref):
    """Partners identical, the two images orthogonal: every term is -log(e^2 / (e^2 + 2))."""
    left = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert float(ref["simclr_loss_vectorized"](left, left.clone(), 0.5, device="cpu")) == pytest.approx(expected, rel=1e-12)


def test_loss_gradient_matches_finite_differences(ref):
    g = torch.Generator().manual_seed(5)
    left = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    right = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ref["simclr_loss_vectorized"](a, b, 0.3, device="cpu"), (left, right))


def test_similarities(ref):
    g = torch.Generator().manual_seed(6)
    left, right = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    assert torch.allclose(ref["sim_positive_pairs"](left, right).squeeze(1), F.cosine_similarity(left, right), atol=1e-6)
    out = torch.cat([left, right])
    assert torch.allclose(ref["compute_sim_matrix"](out), F.cosine_similarity(out[:, None], out[None], dim=2), atol=1e-6)


def test_transform_follows_the_specification(ref):
    t = ref["compute_train_transform"]()
    kinds = [type(x) for x in t.transforms]
    assert kinds == [transforms.RandomResizedCrop, transforms.RandomHorizontalFlip, transforms.RandomApply,
                     transforms.RandomGrayscale, transforms.ToTensor, transforms.Normalize]
    crop, flip, jitter, grey, _, norm = t.transforms
    assert crop.size == (32, 32) and flip.p == 0.5 and jitter.p == 0.8 and grey.p == 0.2
    cj = jitter.transforms[0]
    assert cj.brightness == (0.6, 1.4) and cj.hue == (-0.1, 0.1)
    assert tuple(norm.mean) == (0.4914, 0.4822, 0.4465) and tuple(norm.std) == (0.2023, 0.1994, 0.2010)


def test_pairs_on_the_offline_stand_in(ref, tmp_path):
    from dlcourse.data.cifar import make_offline_cifar10

    root = make_offline_cifar10(tmp_path / "c")
    ds = ref["CIFAR10Pair"](root=root, train=False, transform=ref["compute_train_transform"]())
    x_i, x_j, y = ds[5]
    assert x_i.shape == x_j.shape == (3, 32, 32) and not torch.equal(x_i, x_j) and y == ds.targets[5]


def test_train_matches_a_hand_written_epoch(ref):
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4)).double()
    b = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4)).double()
    b.load_state_dict(a.state_dict())
    two = lambda net: (lambda x: (None, net(x)))  # noqa: E731 -- the model returns (h, z)

    class Wrap(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return two(self.net)(x)

    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(n, 3, 2, 2, generator=g, dtype=torch.float64),
                torch.randn(n, 3, 2, 2, generator=g, dtype=torch.float64), torch.zeros(n)) for n in (5, 5, 2)]
    opt_a, opt_b = torch.optim.SGD(a.parameters(), lr=0.1), torch.optim.SGD(b.parameters(), lr=0.1)
    got = ref["train"](Wrap(a), batches, opt_a, 1, 1, batch_size=5, temperature=0.5, device="cpu")
    total, count = 0.0, 0
    for x_i, x_j, _ in batches:
        loss = nt_xent(b(x_i), b(x_j), 0.5)
        opt_b.zero_grad()
        loss.backward()
        opt_b.step()
        total, count = total + loss.item() * len(x_i), count + len(x_i)
    assert got == pytest.approx(total / count, rel=1e-10)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q)


def test_cases_pass_on_the_reference_and_catch_mistakes(ref, cases):
    outs = {name: run_case(c, ref) for name, c in cases.items()}
    for name, c in cases.items():
        assert compare_outputs(c, name, outs[name], outs[name]).passed, name

    def with_self(left, right, tau, device="cpu"):  # denominator includes m == i
        z = F.normalize(torch.cat([left, right]), dim=1)
        e = torch.exp(z @ z.T / tau)
        pos = torch.exp(torch.cat([ref["sim_positive_pairs"](left, right)] * 2) / tau)
        return torch.mean(-torch.log(pos / e.sum(1, keepdim=True)))

    def dot_not_cosine(z_i, z_j):
        return torch.dot(z_i, z_j)

    def no_normalize():
        t = ref["compute_train_transform"]()
        return transforms.Compose(t.transforms[:-1])

    wrongs = [("loss_vectorized", {"simclr_loss_vectorized": with_self}),
              ("sim", {"sim": dot_not_cosine}),
              ("loss_naive", {"sim": dot_not_cosine}),
              ("train_transform", {"compute_train_transform": lambda seed=123456: no_normalize()}),
              ("train_transform", {"compute_train_transform": _with_grey(ref, 0.15)}),
              ("train_transform", {"compute_train_transform": _with_grey(ref, 0.25)})]
    for name, patch in wrongs:
        ns = load_reference(NOTEBOOK)  # a fresh namespace: the reference functions see the patch
        ns.update(patch)
        got = run_case(cases[name], ns)
        assert not compare_outputs(cases[name], name, got, outs[name]).passed, name


def _with_grey(ref, p):
    """compute_train_transform of the reference with RandomGrayscale(p) in place of p = 0.2."""
    def make(seed=123456):
        t = ref["compute_train_transform"](seed)
        t.transforms[3] = transforms.RandomGrayscale(p=p)
        return t
    return make


def test_transform_case_counts_grey_views(ref, cases):
    """Does the case's grey-view detector find none at p = 0, all at p = 1, and about 1 in 5 as specified?"""
    counts = {}
    for p in (0.0, 1.0, None):
        ns = load_reference(NOTEBOOK)
        if p is not None:
            ns["compute_train_transform"] = _with_grey(ref, p)
        counts[p] = int(run_case(cases["train_transform"], ns)["grayscale"].sum())
    draws = len(run_case(cases["train_transform"], ref)["grayscale"])
    assert counts[0.0] == 0 and counts[1.0] == draws
    assert abs(counts[None] / draws - 0.2) < 3 * math.sqrt(0.2 * 0.8 / draws)


def test_loss_case_accepts_a_correct_loss_that_rounds_differently(ref, cases):
    """One pair: "sum over all m minus the self term" leaves about -2e-16 where the reference is 0."""
    def minus_self(out_left, out_right, tau):
        out = torch.cat([out_left, out_right])
        e = torch.exp(torch.stack([torch.stack([ref["sim"](a, b) for b in out]) for a in out]) / tau)
        n = out_left.shape[0]
        partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
        denom = e.sum(1) - e.diagonal()
        return -torch.log(e[torch.arange(2 * n), partner] / denom).mean()

    ns = load_reference(NOTEBOOK)
    ns["simclr_loss_naive"] = minus_self
    got, want = run_case(cases["loss_naive"], ns), run_case(cases["loss_naive"], ref)
    assert want["one_pair"].item() == 0.0 and got["one_pair"].item() != 0.0
    assert compare_outputs(cases["loss_naive"], "loss_naive", got, want).passed
