"""Tests of dlcourse.vision: image helpers, the SqueezeNet loader and the ImageNet sample.

Everything here runs offline: the network is disabled (DLCOURSE_OFFLINE) and torch's
cache is pointed at an empty folder wherever the loader could reach for weights.
"""
from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter1d

from dlcourse import network, vision


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, an empty torch cache and an empty data root."""
    monkeypatch.setenv(vision.OFFLINE_ENV, "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path / "data"))
    return tmp_path


def _photo(h=30, w=40, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(h, w, 3)).astype(np.uint8)


# ----------------------------------------------------------------- preprocess / deprocess

def test_preprocess_normalises_with_the_imagenet_statistics():
    """Is every value (pixel / 255 - mean) / std, channel first?"""
    img = _photo(8, 8)
    x = vision.preprocess(img, size=8)
    assert x.shape == (1, 3, 8, 8) and x.dtype == torch.float32
    expected = (img / 255.0 - vision.SQUEEZENET_MEAN) / vision.SQUEEZENET_STD  # (H, W, 3)
    np.testing.assert_allclose(x[0].numpy().transpose(1, 2, 0), expected, rtol=1e-5, atol=1e-5)


def test_preprocess_resizes_the_shorter_side_and_accepts_pil_and_grey():
    """Does an int size set the shorter side (aspect kept) and a pair set both sides?"""
    img = _photo(30, 40)
    assert vision.preprocess(img, size=15).shape == (1, 3, 15, 20)
    assert vision.preprocess(Image.fromarray(img).transpose(Image.TRANSPOSE), size=15).shape == (1, 3, 20, 15)
    assert vision.preprocess(img, size=(12, 16)).shape == (1, 3, 12, 16)
    grey = vision.preprocess(img[..., 0], size=30)
    assert grey.shape == (1, 3, 30, 40)
    assert torch.allclose(grey[0, 0] * vision.SQUEEZENET_STD[0] + vision.SQUEEZENET_MEAN[0],
                          grey[0, 2] * vision.SQUEEZENET_STD[2] + vision.SQUEEZENET_MEAN[2], atol=1e-6)


def test_deprocess_inverts_preprocess():
    """Does deprocess(preprocess(photo), should_rescale=False) give the photo back?"""
    img = _photo()
    back = vision.deprocess(vision.preprocess(img, size=30), should_rescale=False)
    assert isinstance(back, Image.Image)
    assert np.array_equal(np.asarray(back), img)
    back3 = vision.deprocess(vision.preprocess(img, size=30)[0], should_rescale=False)  # (3, H, W)
    assert np.array_equal(np.asarray(back3), img)


def test_deprocess_rescales_or_clips():
    """With should_rescale the range is stretched to 0..255; without, it is clipped."""
    x = torch.randn(1, 3, 5, 6, generator=torch.Generator().manual_seed(0)) * 10
    stretched = np.asarray(vision.deprocess(x))
    assert stretched.min() == 0 and stretched.max() == 255
    clipped = np.asarray(vision.deprocess(x, should_rescale=False))
    assert set(np.unique(clipped)) <= set(range(256)) and (clipped == 0).any() and (clipped == 255).any()


def test_rescale_maps_to_unit_interval():
    """Is rescale(x) = (x - min) / (max - min), and zero for a constant input?"""
    x = torch.tensor([[-2.0, 0.0], [1.0, 6.0]])
    assert torch.allclose(vision.rescale(x), (x + 2) / 8)
    assert np.all(vision.rescale(np.full((2, 2), 3.0)) == 0)


# ----------------------------------------------------------------- blur and jitter

@pytest.mark.parametrize("sigma,H,W", [(0.5, 9, 11), (1, 7, 6), (3, 5, 8)])
def test_blur_matches_scipy_gaussian_filter(sigma, H, W):
    """Same as scipy.ndimage.gaussian_filter1d along W then H (mode reflect), even when the
    kernel is wider than the image?"""
    X = torch.randn(2, 3, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = gaussian_filter1d(gaussian_filter1d(X.numpy(), sigma, axis=3), sigma, axis=2)
    out = vision.blur_image(X, sigma=sigma)
    assert out is X  # in place
    np.testing.assert_allclose(X.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_blur_works_on_a_leaf_that_requires_grad():
    """Can the class-visualization loop blur its image (a leaf with requires_grad)?"""
    img = torch.randn(1, 3, 8, 8).requires_grad_()
    before = img.detach().clone()
    vision.blur_image(img, sigma=0.5)
    assert img.requires_grad and img.grad_fn is None
    assert not torch.equal(img.detach(), before)
    assert torch.isclose(img.detach().sum(), before.sum(), rtol=1e-4)  # a blur keeps the mean (mirrored borders)


def test_jitter_is_a_roll_and_undoes_itself():
    """Does jitter shift columns by ox and rows by oy, and jitter(-ox, -oy) undo it?"""
    X = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    J = vision.jitter(X, 2, 1)
    assert torch.equal(J[:, :, 1:, 2:], X[:, :, :-1, :-2])
    assert torch.equal(J[:, :, 0, 0], X[:, :, -1, -2])
    assert torch.equal(vision.jitter(J, -2, -1), X)


# ----------------------------------------------------------------- SqueezeNet

def test_untrained_squeezenet_is_seeded_frozen_and_leaves_the_rng_alone(capsys):
    """Same weights for the same seed, other weights for another; eval mode; no grads."""
    state = torch.random.get_rng_state()
    a, pre_a = vision.load_squeezenet(pretrained=False, seed=3)
    b, _ = vision.load_squeezenet(pretrained=False, seed=3, verbose=False)
    c, _ = vision.load_squeezenet(pretrained=False, seed=4, verbose=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert pre_a is False and "untrained" in capsys.readouterr().out.lower()
    pa, pb, pc = (list(m.parameters()) for m in (a, b, c))
    assert all(torch.equal(x, y) for x, y in zip(pa, pb))
    assert not all(torch.equal(x, z) for x, z in zip(pa, pc))
    assert not a.training and not any(p.requires_grad for p in pa)
    from torchvision.models import SqueezeNet

    assert isinstance(a, SqueezeNet)
    with torch.no_grad():
        assert a(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


def test_pretrained_request_falls_back_quickly_offline(offline, capsys):
    """Offline with an empty cache: an untrained, labelled model, without waiting?"""
    start = time.perf_counter()
    model, pretrained = vision.load_squeezenet(pretrained=True, seed=0)
    assert time.perf_counter() - start < 10
    assert pretrained is False
    out = capsys.readouterr().out
    assert "unavailable" in out and "UNTRAINED" in out
    assert not model.training


def test_pretrained_weights_load_from_the_cache(monkeypatch, tmp_path, capsys):
    """A weights file in torch's cache is used without the network."""
    monkeypatch.setenv(vision.OFFLINE_ENV, "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    donor = vision.seeded_squeezenet(seed=9)  # stands in for the ImageNet weights
    path = vision._cached_weights_file()
    path.parent.mkdir(parents=True)
    torch.save(donor.state_dict(), path)
    model, pretrained = vision.load_squeezenet(pretrained=True, seed=0)
    assert pretrained is True and "pretrained" in capsys.readouterr().out
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), donor.parameters()))
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_network_check_gives_up_on_a_hanging_host(monkeypatch):
    """A connection attempt that hangs must not block longer than the timeout."""
    monkeypatch.delenv(vision.OFFLINE_ENV, raising=False)
    def hang(*args, **kwargs):
        time.sleep(3)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    assert network.host_answers("example.invalid", timeout=0.2) is False
    assert time.perf_counter() - start < 2


# ----------------------------------------------------------------- class names and images

def test_imagenet_class_names():
    names = vision.imagenet_class_names()
    assert len(names) == 1000
    assert names[76] == "tarantula" and names[281] == "tabby" and names[683] == "oboe"


def test_offline_imagenet_sample_uses_real_photos(offline, capsys):
    """Without the npz: real photographs, 224x224 uint8, valid labels, and a printed note."""
    X, y, class_names = vision.load_imagenet_val()
    assert "offline stand-in" in capsys.readouterr().out
    assert X.dtype == np.uint8 and X.shape[1:] == (224, 224, 3) and len(X) == len(y) >= 4
    assert y.dtype == np.int64 and ((0 <= y) & (y < 1000)).all()
    assert class_names[281] == "tabby" and len(class_names) == 1000
    assert all(X[i].std() > 10 for i in range(len(X)))  # photos, not blank frames
    X3, y3, _ = vision.load_imagenet_val(num=3)
    assert np.array_equal(X3, X[:3]) and np.array_equal(y3, y[:3])


def test_real_sample_is_read_from_the_data_root(offline, capsys):
    """With imagenet_val_25.npz in the data root, its images, labels and label map are used."""
    root = offline / "data"
    root.mkdir()
    X = np.random.RandomState(0).randint(0, 256, size=(4, 224, 224, 3)).astype(np.uint8)
    y = np.array([1, 2, 3, 4])
    label_map = {i: f"class {i}" for i in range(1000)}
    np.savez(root / "imagenet_val_25.npz", X=X, y=y, label_map=np.array(label_map, dtype=object))
    X2, y2, names = vision.load_imagenet_val(num=2)
    assert "stand-in" not in capsys.readouterr().out
    assert np.array_equal(X2, X[:2]) and np.array_equal(y2, y[:2]) and names[3] == "class 3"
