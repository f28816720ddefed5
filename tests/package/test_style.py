"""Tests of dlcourse.style: feature extraction, the style images and the provided loop.

Everything runs offline on tiny images. The losses handed to ``run_style_transfer`` are
written here independently of the notebook (einsum, explicit differences), and some are
spies that record what the loop does (learning rates, clamping, the starting image).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from dlcourse import style, vision


@pytest.fixture(scope="module")
def squeezenet_features():
    return vision.seeded_squeezenet(3).features


@pytest.fixture
def empty_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def _photo(h=40, w=52, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(h, w, 3)).astype(np.uint8)


# ----------------------------------------------------------------- independent losses

def _content(weight, current, original):
    return weight * torch.einsum("nchw,nchw->", current - original, current - original)


def _gram(f, normalize=True):
    _, C, H, W = f.shape
    g = torch.einsum("nchw,ndhw->ncd", f, f)
    return g / (C * H * W) if normalize else g


def _style(feats, layers, targets, weights):
    total = torch.zeros((), dtype=feats[0].dtype)
    for layer, target, weight in zip(layers, targets, weights):
        total = total + weight * (_gram(feats[layer]) - target).pow(2).sum()
    return total


def _tv(img, weight):
    return weight * (torch.diff(img, dim=2).pow(2).sum() + torch.diff(img, dim=3).pow(2).sum())


LOSSES = style.LossFunctions(_content, _gram, _style, _tv)


# ----------------------------------------------------------------- features

def test_extract_features_keeps_every_module_output():
    """Is feats[i] the output of module i applied to feats[i - 1]?"""
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 2, 1))
    x = torch.randn(2, 3, 10, 10)
    feats = style.extract_features(x, cnn)
    assert len(feats) == 4
    assert torch.equal(feats[0], cnn[0](x))
    assert torch.equal(feats[1], torch.relu(feats[0]))
    assert torch.equal(feats[2], cnn[2](feats[1]))
    assert torch.equal(feats[3], cnn(x))
    assert [f.shape for f in feats] == [(2, 4, 8, 8), (2, 4, 8, 8), (2, 4, 4, 4), (2, 2, 4, 4)]


def test_extract_features_on_squeezenet(squeezenet_features):
    """Does SqueezeNet's `features` give 13 outputs, the last equal to the whole network's?"""
    x = torch.randn(1, 3, 64, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = style.extract_features(x, squeezenet_features)
        assert len(feats) == len(squeezenet_features) == 13
        assert torch.allclose(feats[-1], squeezenet_features(x))
    assert feats[0].shape[1] == 64 and feats[-1].shape[1] == 512


def test_features_from_img_accepts_a_path_a_pil_image_and_an_array(tmp_path, squeezenet_features):
    """Do a PNG file, the PIL image and the array give the same image and features?"""
    arr = _photo()
    path = tmp_path / "photo.png"
    Image.fromarray(arr).save(path)
    with torch.no_grad():
        results = [style.features_from_img(src, 32, squeezenet_features)
                   for src in (path, str(path), Image.fromarray(arr), arr)]
    for feats, img in results:
        assert img.shape == (1, 3, 32, 42)  # shorter side 32, aspect ratio kept
        assert torch.equal(img, results[0][1])
        assert torch.equal(feats[5], results[0][0][5])
    assert torch.equal(results[0][1], vision.preprocess(arr, size=32))


def test_load_image_drops_alpha_and_greys():
    """Is every input turned into an RGB PIL image?"""
    rgba = np.dstack([_photo(8, 9), np.full((8, 9), 255, np.uint8)])
    assert style.load_image(rgba).mode == "RGB" and style.load_image(rgba).size == (9, 8)
    assert np.array_equal(np.asarray(style.load_image(rgba)), rgba[..., :3])
    assert style.load_image(Image.fromarray(_photo()[..., 0])).mode == "RGB"


# ----------------------------------------------------------------- images

def test_load_style_images_offline_uses_scikit_image_photos(empty_data_root, capsys):
    """Without the download, are the four roles filled by real skimage photos, and said so?"""
    import skimage.data

    images = style.load_style_images()
    out = capsys.readouterr().out
    assert list(images) == ["content", "style_a", "style_b", "style_c"]
    for role, img in images.items():
        name = style.OFFLINE_STAND_INS[role][0]
        assert isinstance(img, Image.Image) and img.mode == "RGB"
        photo = np.asarray(getattr(skimage.data, name)())[..., :3]
        assert np.array_equal(np.asarray(img), photo)
        assert f"skimage.data.{name}()" in out
    assert "python -m dlcourse.download style_images" in out
    assert len({np.asarray(img).tobytes() for img in images.values()}) == 4


def test_load_style_images_prefers_the_downloaded_files(empty_data_root, capsys):
    """With all four files in data_root()/styles, are their paths returned?"""
    folder = empty_data_root / "styles"
    folder.mkdir(parents=True)
    for k, name in enumerate(style.STYLE_IMAGE_FILES.values()):
        Image.fromarray(_photo(seed=k)).save(folder / name)
    images = style.load_style_images()
    assert images == {role: folder / name for role, name in style.STYLE_IMAGE_FILES.items()}
    assert "course's style images" in capsys.readouterr().out


def test_load_style_images_falls_back_when_a_file_is_missing(empty_data_root, capsys):
    """Is a partial download treated as missing (and the missing file named)?"""
    folder = empty_data_root / "styles"
    folder.mkdir(parents=True)
    Image.fromarray(_photo()).save(folder / style.STYLE_IMAGE_FILES["content"])
    images = style.load_style_images()
    assert all(isinstance(img, Image.Image) for img in images.values())
    assert style.STYLE_IMAGE_FILES["style_c"] in capsys.readouterr().out


# ----------------------------------------------------------------- the loop

class _RecordingAdam(torch.optim.Adam):
    """Adam that logs its learning rate and how many steps it took."""

    log: list = []

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.entry = {"lr": lr, "steps": 0}
        _RecordingAdam.log.append(self.entry)

    def step(self, closure=None):
        self.entry["steps"] += 1
        return super().step(closure)


def _tiny_cnn():
    torch.manual_seed(5)
    cnn = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, stride=2), nn.ReLU())
    for p in cnn.parameters():
        p.requires_grad_(False)
    return cnn.eval()


def _run(losses, num_iterations, **kwargs):
    args = dict(content_image=_photo(16, 20, seed=1), style_image=_photo(20, 20, seed=2),
                image_size=16, style_size=20, content_layer=1, content_weight=1e-2,
                style_layers=(1, 3), style_weights=(10.0, 1.0), tv_weight=1e-3)
    args.update(kwargs)
    return style.run_style_transfer(**args, cnn=_tiny_cnn(), losses=losses,
                                    num_iterations=num_iterations, show=False, verbose=False)


def test_schedule_is_adam_3_then_0_1_for_the_last_tenth(monkeypatch):
    """With 200 iterations: lr 3.0 for 180 steps, then a new Adam with lr 0.1 for 20?"""
    _RecordingAdam.log = []
    monkeypatch.setattr(torch.optim, "Adam", _RecordingAdam)
    _run(LOSSES, 200, image_size=8, style_size=8)
    assert _RecordingAdam.log == [{"lr": 3.0, "steps": 180}, {"lr": 0.1, "steps": 20}]


def test_pixels_are_clamped_only_during_the_first_95_percent():
    """Are the pixels within [-1.5, 1.5] at iterations 0..18 of 20, and free at 19?"""
    seen = []

    def pushing_tv(img, weight):  # pulls every pixel upwards, hard
        seen.append(float(img.detach().max()))
        return -100.0 * img.sum()

    result = _run(LOSSES._replace(tv_loss=pushing_tv), 20)
    assert len(seen) == 20
    assert max(seen[:19]) <= 1.5
    assert seen[19] > 1.5 and float(result.max()) > seen[19]


def test_init_from_content_or_from_seeded_noise():
    """Does the loop start at the content image (content loss 0), or at noise in [0, 1)?"""
    first = {}

    def spy_content(weight, current, original):
        first.setdefault("diff", float((current - original).detach().abs().max()))
        return _content(weight, current, original)

    _run(LOSSES._replace(content_loss=spy_content), 1)
    assert first["diff"] == 0.0

    starts = []

    def spy_tv(img, weight):
        starts.append(img.detach().clone())
        return _tv(img, weight)

    a = _run(LOSSES._replace(tv_loss=spy_tv), 1, init_random=True)
    b = _run(LOSSES._replace(tv_loss=spy_tv), 1, init_random=True)
    assert torch.equal(starts[0], starts[1]) and torch.equal(a, b)
    assert 0.0 <= float(starts[0].min()) and float(starts[0].max()) < 1.0
    assert float(starts[0].std()) > 0.2  # uniform noise, not a constant image
    c = _run(LOSSES._replace(tv_loss=spy_tv), 1, init_random=True, seed=1)
    assert not torch.equal(a, c)


def test_feature_inversion_reduces_the_content_loss():
    """From noise, with style weights 0, does the content loss fall a lot in 40 steps?"""
    record = []

    def spy_content(weight, current, original):
        loss = _content(weight, current, original)
        record.append(float(loss.detach()))
        return loss

    result = _run(LOSSES._replace(content_loss=spy_content), 40, init_random=True,
                  style_weights=(0.0, 0.0), tv_weight=0.0)
    assert record[-1] < 0.2 * record[0]
    assert result.shape == (1, 3, 16, 20) and not result.requires_grad
    assert result.device.type == "cpu"


def test_style_targets_are_gram_matrices_of_the_style_image():
    """Are the style targets handed to style_loss the Gram matrices of the style image?"""
    got = {}

    def spy_style(feats, layers, targets, weights):
        got.setdefault("targets", [t.clone() for t in targets])
        return _style(feats, layers, targets, weights)

    _run(LOSSES._replace(style_loss=spy_style), 1)
    cnn = _tiny_cnn()
    with torch.no_grad():
        feats = style.extract_features(vision.preprocess(_photo(20, 20, seed=2), size=20), cnn)
    assert len(got["targets"]) == 2
    assert torch.allclose(got["targets"][0], _gram(feats[1]))
    assert torch.allclose(got["targets"][1], _gram(feats[3]))


def test_showing_works_without_a_display(monkeypatch, capsys):
    """With show=True (Agg backend) and show_every, does it run and report the losses?"""
    import matplotlib

    matplotlib.use("Agg")
    args = dict(content_image=_photo(16, 20, seed=1), style_image=_photo(20, 20, seed=2),
                image_size=16, style_size=20, content_layer=1, content_weight=1e-2,
                style_layers=(1, 3), style_weights=(10.0, 1.0), tv_weight=1e-3)
    style.run_style_transfer(**args, cnn=_tiny_cnn(), losses=LOSSES, num_iterations=3,
                             show_every=1, show=True)
    out = capsys.readouterr().out
    assert "iteration 0" in out and "after 3 iterations" in out
    with pytest.raises(ValueError):
        style.run_style_transfer(**args, cnn=_tiny_cnn(), losses=LOSSES, num_iterations=0)
