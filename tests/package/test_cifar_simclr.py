"""The CIFAR-10 dataset class and its offline stand-in, and the provided SimCLR code.

The stand-in must load through torchvision's CIFAR10 machinery (our subclass), be
deterministic and stratified, and keep the digit as the class. The provided model,
k-nearest-neighbour and linear evaluation are checked on data whose answer is known.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import datasets

from dlcourse import download
from dlcourse.data import cifar
from dlcourse.simclr import Model, knn_accuracy, linear_evaluation


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    return cifar.make_offline_cifar10(tmp_path_factory.mktemp("cifar") / "cifar10_offline")


def test_offline_set_loads_with_the_cifar10_api(offline):
    train, test = cifar.CIFAR10(offline, train=True), cifar.CIFAR10(offline, train=False)
    assert len(train) == 4000 and len(test) == 1000
    assert train.data.shape == (4000, 32, 32, 3) and train.data.dtype == np.uint8
    assert train.classes == cifar.DIGIT_NAMES and train.class_to_idx["seven"] == 7
    assert np.bincount(test.targets).tolist() == [100] * 10
    img, label = train[0]
    assert img.size == (32, 32) and img.mode == "RGB" and 0 <= label < 10
    with pytest.raises(RuntimeError):  # torchvision's own class checks the official MD5s
        datasets.CIFAR10(offline, train=True)


def test_offline_set_is_deterministic_and_coloured(offline, tmp_path):
    again = cifar.make_offline_cifar10(tmp_path / "again")
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        assert (again / cifar.BASE_FOLDER / name).read_bytes() == (offline / cifar.BASE_FOLDER / name).read_bytes()
    data = cifar.CIFAR10(offline, train=True).data.astype(float)
    channel_spread = data.std(axis=3).mean()  # grey images would have 0
    assert channel_spread > 10


def test_offline_labels_are_the_digits(offline):
    """The image of a '1' has far less ink than the image of an '8' on average."""
    train = cifar.CIFAR10(offline, train=True)
    y = np.array(train.targets)
    bright = train.data.max(axis=3).astype(float)
    ink = (bright > bright.mean(axis=(1, 2), keepdims=True)).mean(axis=(1, 2))
    assert ink[y == 1].mean() < 0.8 * ink[y == 8].mean()


def test_cifar10_root_offline_makes_the_stand_in_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    monkeypatch.setenv("DLCOURSE_OFFLINE", "1")
    root, source = cifar.cifar10_root()
    assert source == "offline coloured digits" and root == tmp_path / "cifar10_offline"
    stamp = (root / cifar.BASE_FOLDER / "data_batch_1").stat().st_mtime_ns
    assert cifar.cifar10_root() == (root, source)
    assert (root / cifar.BASE_FOLDER / "data_batch_1").stat().st_mtime_ns == stamp


def test_download_cli_builds_the_offline_stand_ins(tmp_path, capsys):
    assert download.main(["--offline", "cola", "cifar10", "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.err == "" and "cola_offline" in out.out and "cifar10_offline" in out.out
    assert cifar.CIFAR10(tmp_path / "cifar10_offline", train=False).data.shape[0] == 1000


@pytest.mark.parametrize("arch,width", [("small", 64), ("resnet50", 2048)])
def test_model_shapes_and_normalisation(arch, width):
    model = Model(feature_dim=16, arch=arch).eval()
    with torch.no_grad():
        h, z = model(torch.randn(3, 3, 32, 32))
    assert h.shape == (3, width) and z.shape == (3, 16)
    assert torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(h.norm(dim=1), torch.ones(3), atol=1e-5)
    if arch == "resnet50":
        first = model.f[0]
        assert first.kernel_size == (3, 3) and first.stride == (1, 1)
        assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.f.modules())
    with pytest.raises(ValueError):
        Model(arch="vgg")


def _clusters(seed, n_per, dim=8):
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(10, dim) * 3 if dim >= 10 else torch.randn(10, dim, generator=g) * 3
    x = torch.cat([centres[c] + 0.3 * torch.randn(n_per, dim, generator=g) for c in range(10)])
    y = torch.arange(10).repeat_interleave(n_per)
    return torch.nn.functional.normalize(x, dim=1), y


def test_knn_and_linear_evaluation_on_separable_clusters():
    train_h, train_y = _clusters(0, 30, dim=12)
    test_h, test_y = _clusters(1, 10, dim=12)
    assert knn_accuracy(train_h, train_y, test_h, test_y, k=5) == 1.0
    res = linear_evaluation(train_h, train_y, test_h, test_y, epochs=200, lr=0.05)
    assert res["test_top1"] == 1.0 and res["train_top1"] == 1.0


def test_knn_on_shuffled_labels_is_near_chance():
    train_h, train_y = _clusters(0, 30, dim=12)
    test_h, test_y = _clusters(1, 30, dim=12)
    shuffled = train_y[torch.randperm(len(train_y), generator=torch.Generator().manual_seed(2))]
    assert knn_accuracy(train_h, shuffled, test_h, test_y, k=5) < 0.35
