"""Tests of the provided GAN helpers in dlcourse.gan (no graded code lives there)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse.gan import (Flatten, Unflatten, bce_loss, count_params, generate_samples, images_to_grid,
                          initialize_weights, run_a_gan, uniform_noise)


def bce_reference(logits: np.ndarray, targets: np.ndarray) -> float:
    """-mean(t log p + (1 - t) log(1 - p)) with p = 1 / (1 + e^-s), in float64 numpy."""
    p = 1.0 / (1.0 + np.exp(-logits))
    return float(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p)))


def test_bce_loss_matches_the_textbook_formula():
    """Does bce_loss equal the cross-entropy written with probabilities, for mixed targets?"""
    rng = np.random.RandomState(0)
    logits = rng.randn(5, 7) * 3
    targets = rng.rand(5, 7)  # soft targets too, not only 0/1
    got = bce_loss(torch.tensor(logits), torch.tensor(targets)).item()
    assert got == pytest.approx(bce_reference(logits, targets), rel=1e-12)


def test_bce_loss_is_finite_for_huge_logits():
    """Do logits of +-1000 give the exact limits instead of inf or nan?"""
    logits = torch.tensor([1000.0, -1000.0, 1000.0, -1000.0], dtype=torch.float64)
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    # correct confident answers cost 0, wrong ones cost |s|: mean = (0 + 0 + 1000 + 1000) / 4
    assert bce_loss(logits, targets).item() == pytest.approx(500.0, rel=1e-12)


def test_bce_loss_gradient_is_sigmoid_minus_target():
    """Is d bce / d s = (sigmoid(s) - t) / n, the gradient every GAN update relies on?"""
    s = torch.tensor([0.3, -2.0, 4.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    bce_loss(s, t).backward()
    expected = (1 / (1 + np.exp(-s.detach().numpy())) - t.numpy()) / 3
    np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-12)


def test_bce_loss_rejects_shape_mismatch():
    """Does a (N, 1) input with (N,) targets fail loudly instead of broadcasting to (N, N)?"""
    with pytest.raises(ValueError):
        bce_loss(torch.zeros(4, 1), torch.zeros(4))


def test_count_params_counts_parameters_not_buffers():
    """Are batch-norm running statistics left out of the count?"""
    model = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))
    assert count_params(model) == 3 * 5 + 5 + 5 + 5


def test_flatten_and_unflatten_are_inverse():
    """Does Unflatten(Flatten(x)) give back x, with the batch size inferred from -1?"""
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    flat = Flatten()(x)
    assert flat.shape == (2, 60)
    assert torch.equal(flat[1], x[1].reshape(-1))
    assert torch.equal(Unflatten(-1, 3, 4, 5)(flat), x)
    assert Unflatten(2, 3, 4, 5)(flat).shape == (2, 3, 4, 5)


def test_initialize_weights_is_xavier_uniform_with_zero_bias():
    """Are weights inside the Xavier bound sqrt(6 / (fan_in + fan_out)), spread over it, biases 0?"""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(200, 300), nn.Conv2d(4, 8, 3), nn.ConvTranspose2d(8, 2, 4))
    model.apply(initialize_weights)
    lin, conv, convt = model
    bound = math.sqrt(6 / (200 + 300))
    assert lin.weight.abs().max() <= bound
    # uniform on (-a, a) has variance a^2 / 3
    assert lin.weight.var().item() == pytest.approx(bound ** 2 / 3, rel=0.05)
    conv_bound = math.sqrt(6 / (4 * 9 + 8 * 9))
    assert conv.weight.abs().max() <= conv_bound
    assert conv.weight.abs().max() > 0.8 * conv_bound
    for layer in (lin, conv, convt):
        assert torch.count_nonzero(layer.bias) == 0


def test_initialize_weights_leaves_other_modules_alone():
    """Is a batch-norm layer untouched by initialize_weights?"""
    bn = nn.BatchNorm1d(4)
    with torch.no_grad():
        bn.weight.fill_(2.5)
    bn.apply(initialize_weights)
    assert torch.all(bn.weight == 2.5)


def test_uniform_noise_range_and_shape():
    """Is the default noise of run_a_gan (N, dim) and inside (-1, 1)?"""
    torch.manual_seed(0)
    z = uniform_noise(1000, 3)
    assert z.shape == (1000, 3)
    assert z.min() >= -1 and z.max() < 1
    assert abs(z.mean().item()) < 0.05


def test_images_to_grid_tiles_and_rescales():
    """Does the grid put image k at row k // cols, column k % cols, mapped from [-1, 1] to [0, 1]?"""
    images = -np.ones((5, 4, 4))
    images[3] = 1.0  # row 1, column 0 with 3 columns
    grid = images_to_grid(images, ncols=3, pad=1)
    assert grid.shape == (2 * 5 - 1, 3 * 5 - 1)
    assert np.all(grid[5:9, 0:4] == 1.0)
    assert np.all(grid[0:4, 0:4] == 0.0)
    assert np.all(grid[4, :] == 1.0)  # padding row is white


class _FakeLoader:
    """A few batches of (x in [0, 1], labels), plus one ragged batch that must be skipped."""

    def __init__(self, batch_size=8, batches=3, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.batches = [(torch.rand(batch_size, 1, 28, 28, generator=gen), torch.zeros(batch_size))
                        for _ in range(batches)]
        self.batches.append((torch.rand(3, 1, 28, 28, generator=gen), torch.zeros(3)))

    def __iter__(self):
        return iter(self.batches)


def _tiny_gan(noise=4):
    torch.manual_seed(0)
    D = nn.Sequential(Flatten(), nn.Linear(784, 16), nn.LeakyReLU(0.01), nn.Linear(16, 1))
    G = nn.Sequential(nn.Linear(noise, 16), nn.ReLU(), nn.Linear(16, 784), nn.Tanh())
    return D, G


def _d_loss(real, fake):
    return bce_loss(real, torch.ones_like(real)) + bce_loss(fake, torch.zeros_like(fake))


def _g_loss(fake):
    return bce_loss(fake, torch.ones_like(fake))


def test_run_a_gan_alternates_updates_and_skips_ragged_batches():
    """Do both networks change, are ragged batches skipped, and are snapshots (16, 784) in [-1, 1]?"""
    D, G = _tiny_gan()
    D0 = [p.detach().clone() for p in D.parameters()]
    G0 = [p.detach().clone() for p in G.parameters()]
    history = {}
    seen = []

    def recording_d_loss(real, fake):
        seen.append((real.shape, fake.shape))
        return _d_loss(real, fake)

    snaps = run_a_gan(D, G, torch.optim.Adam(D.parameters(), 1e-3), torch.optim.Adam(G.parameters(), 1e-3),
                      recording_d_loss, _g_loss, _FakeLoader(), show_every=2, batch_size=8,
                      noise_size=4, num_epochs=2, history=history, verbose=False)
    assert len(seen) == 6  # 3 full batches x 2 epochs; the batch of 3 never reaches the loss
    assert all(r == (8,) and f == (8,) for r, f in seen)  # logits flattened to (N,)
    assert history["iteration"] == list(range(6))
    assert all(np.isfinite(history["d_loss"])) and all(np.isfinite(history["g_loss"]))
    assert [s["iteration"] for s in snaps] == [0, 2, 4, 5]
    assert snaps[-1]["images"].shape == (16, 784)
    assert np.abs(snaps[-1]["images"]).max() <= 1
    assert any(not torch.equal(a, b) for a, b in zip(D0, D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(G0, G.parameters()))


def test_run_a_gan_rescales_real_images_to_minus_one_one():
    """Does the discriminator see real pixels in [-1, 1] (2x - 1), not [0, 1]?"""
    D, G = _tiny_gan()
    ranges = []

    class Spy(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            ranges.append((x.min().item(), x.max().item()))
            return self.inner(x)

    loader = [(torch.zeros(8, 1, 28, 28), None), (torch.ones(8, 1, 28, 28), None)]
    spy = Spy(D)
    run_a_gan(spy, G, torch.optim.SGD(D.parameters(), 0.0), torch.optim.SGD(G.parameters(), 0.0),
              _d_loss, _g_loss, loader, batch_size=8, noise_size=4, num_epochs=1, verbose=False)
    # the first D call of each iteration sees the real batch
    assert ranges[0] == (-1.0, -1.0)
    assert ranges[3] == (1.0, 1.0)


def test_run_a_gan_uses_the_given_noise_and_stops_at_max_iters():
    """Is sample_noise= called with (batch, noise_size), and does max_iters cut the run short?"""
    D, G = _tiny_gan(noise=5)
    calls = []

    def noise(n, dim):
        calls.append((n, dim))
        return torch.zeros(n, dim)

    history = {}
    run_a_gan(D, G, torch.optim.Adam(D.parameters()), torch.optim.Adam(G.parameters()), _d_loss, _g_loss,
              _FakeLoader(), batch_size=8, noise_size=5, num_epochs=10, sample_noise=noise,
              max_iters=2, history=history, verbose=False)
    assert len(history["iteration"]) == 2
    assert calls[0] == (16, 5)  # the fixed snapshot noise
    assert set(calls[1:]) == {(8, 5)}


def test_run_a_gan_without_a_full_batch_fails_clearly():
    """Is an empty run (every batch ragged) an error rather than a silent no-op?"""
    D, G = _tiny_gan()
    loader = [(torch.zeros(3, 1, 28, 28), None)]
    with pytest.raises(ValueError, match="no full batch"):
        run_a_gan(D, G, torch.optim.Adam(D.parameters()), torch.optim.Adam(G.parameters()), _d_loss,
                  _g_loss, loader, batch_size=8, noise_size=4, num_epochs=1, verbose=False)


def test_generate_samples_shapes_range_and_determinism():
    """(num, 784) in [-1, 1], the same for the same seed, other samples for another seed?"""
    _, G = _tiny_gan(noise=6)
    a = generate_samples(G, 50, noise_size=6, batch_size=16, seed=3)
    assert a.shape == (50, 784) and a.dtype == np.float32
    assert np.abs(a).max() <= 1
    assert np.array_equal(a, generate_samples(G, 50, noise_size=6, batch_size=16, seed=3))
    assert not np.array_equal(a, generate_samples(G, 50, noise_size=6, batch_size=16, seed=4))


def test_generate_samples_leaves_the_generator_and_the_global_seed_alone():
    """Are batch-norm running statistics, the mode of G and torch's global generator unchanged?"""
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.BatchNorm1d(32), nn.Linear(32, 784), nn.Tanh()).eval()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    torch.manual_seed(7)
    expected_next = torch.rand(2)
    torch.manual_seed(7)
    generate_samples(G, 300, noise_size=4, batch_size=128)
    assert torch.equal(torch.rand(2), expected_next)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert not G.training


def test_generate_samples_batches_never_hold_a_single_image():
    """Is 129 images at batch size 128 split into batches batch norm accepts (not 128 + 1)?"""
    sizes = []

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 784)
            self.bn = nn.BatchNorm1d(784)

        def forward(self, z):
            sizes.append(z.shape[0])
            return torch.tanh(self.bn(self.lin(z)))

    out = generate_samples(Recorder(), 129, noise_size=3, batch_size=128)
    assert out.shape == (129, 784)
    assert sum(sizes) == 129 and max(sizes) <= 128 and min(sizes) > 1


def test_generate_samples_uses_the_given_noise():
    """Is sample_noise(n, noise_size) called, with every batch at most batch_size?"""
    _, G = _tiny_gan(noise=5)
    calls = []

    def noise(n, dim):
        calls.append((n, dim))
        return torch.zeros(n, dim)

    out = generate_samples(G, 40, noise_size=5, sample_noise=noise, batch_size=16)
    assert sum(n for n, _ in calls) == 40 and all(d == 5 and n <= 16 for n, d in calls)
    assert np.allclose(out, out[0])  # the same (zero) noise gives the same image
