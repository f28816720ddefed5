"""The CIFAR-10 dataset class and its offline stand-in, and the provided SimCLR code.

The stand-in must load through torchvision's CIFAR10 machinery (our subclass), be
deterministic and stratified, and keep the digit as the class. The provided model,
k-nearest-neighbour and linear evaluation, the raw-pixel baseline beside them and the
FLOP count behind the notebook's time estimates are checked on data and networks whose
answer is known.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import datasets

from dlcourse import download
from dlcourse.data import cifar
from dlcourse.simclr import (Model, compare_representations, estimated_minutes, knn_accuracy, linear_evaluation,
                             pixels, train_flops_per_view)


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


@pytest.mark.parametrize("arch,width", [("small", 64), ("resnet18", 512), ("resnet50", 2048)])
def test_model_shapes_and_normalisation(arch, width):
    model = Model(feature_dim=16, arch=arch).eval()
    with torch.no_grad():
        h, z = model(torch.randn(3, 3, 32, 32))
    assert h.shape == (3, width) and z.shape == (3, 16)
    assert torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(h.norm(dim=1), torch.ones(3), atol=1e-5)
    if arch != "small":
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


def test_knn_in_chunks_is_the_same_vote():
    train_h, train_y = _clusters(3, 20, dim=6)
    test_h, test_y = _clusters(4, 7, dim=6)
    whole = knn_accuracy(train_h, train_y, test_h, test_y, k=7, chunk=10_000)
    assert 0.0 < whole < 1.0  # overlapping clusters: some right, some wrong
    assert knn_accuracy(train_h, train_y, test_h, test_y, k=7, chunk=3) == whole


class _Images(torch.utils.data.Dataset):
    """Images of class c: a fixed random pattern of class c plus noise twice as strong, per pixel."""

    def __init__(self, seed, n):
        patterns = torch.randn(10, 3, 32, 32, generator=torch.Generator().manual_seed(99))
        self.y = torch.arange(n) % 10
        self.x = patterns[self.y] + 2 * torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def test_pixels_are_the_flattened_images_in_order():
    ds = _Images(0, 10)
    x, y = pixels(torch.utils.data.DataLoader(ds, batch_size=4))
    assert x.shape == (10, 3072) and torch.equal(x[7], ds.x[7].flatten()) and y.tolist() == ds.y.tolist()


def test_comparison_puts_raw_pixels_beside_each_encoder(capsys):
    train = torch.utils.data.DataLoader(_Images(1, 200), batch_size=64)
    test = torch.utils.data.DataLoader(_Images(2, 60), batch_size=64)
    torch.manual_seed(0)
    res = compare_representations({"untrained": Model(feature_dim=8, arch="small")}, train, test, linear_epochs=60)
    assert list(res) == ["raw pixels", "untrained"]
    assert res["raw pixels"]["linear"] >= 0.95 and res["raw pixels"]["knn"] >= 0.95  # 3,072 weak clues add up
    assert set(res["untrained"]) == {"linear", "linear_train", "knn"}
    assert all(0 <= v <= 1 for row in res.values() for v in row.values())
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["raw", "untrained"]
    assert "[3072 numbers per image]" in lines[0] and "[64 numbers per image]" in lines[1]


def test_flops_are_counted_per_view_forward_and_backward():
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    # forward 2*(4*5 + 5*3) = 70; backward: second layer input and weight gradients 2*15 each,
    # first layer weight gradient 2*20 (the input needs no gradient): 100
    assert train_flops_per_view(mlp, image_shape=(4,)) == 170
    conv = torch.nn.Conv2d(3, 2, 3, padding=1, bias=False)
    assert train_flops_per_view(conv) == 2 * (2 * 2 * 27 * 32 * 32)  # forward and weight gradient
    model = Model(arch="small")
    state = torch.random.get_rng_state()
    small = train_flops_per_view(model)
    assert torch.equal(state, torch.random.get_rng_state())  # the notebook's seeds still hold
    assert 3 * 2 * 16 * 27 * 1024 < small < 3 * 2 * 80e6  # more than the stem, less than 3x a forward bound
    assert train_flops_per_view(Model(arch="resnet18")) > 15 * small


def test_time_estimate_is_the_arithmetic_it_states():
    assert estimated_minutes(1e9, 1000, 3, flops_per_second=1e11) == pytest.approx(0.5)
