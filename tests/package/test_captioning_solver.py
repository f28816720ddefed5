"""Does CaptioningSolver train a model with the update rules of dlcourse.optim?"""
from __future__ import annotations

import numpy as np
import pytest

from dlcourse.captioning_solver import CaptioningSolver


class FirstWordModel:
    """A tiny stand-in captioning model: softmax regression from features to the first word.

    loss(features (N, D), captions (N, T)) -> (mean cross-entropy of captions[:, 1], grads).
    """

    def __init__(self, D, V, seed=0):
        rng = np.random.RandomState(seed)
        self.params = {"W": 0.01 * rng.randn(D, V), "b": np.zeros(V)}
        self.calls = 0

    def loss(self, features, captions):
        self.calls += 1
        y = captions[:, 1]
        scores = features @ self.params["W"] + self.params["b"]
        scores = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        N = len(y)
        loss = -np.log(p[np.arange(N), y]).mean()
        dscores = p
        dscores[np.arange(N), y] -= 1
        dscores /= N
        return loss, {"W": features.T @ dscores, "b": dscores.sum(axis=0)}


def fake_data(num_captions=40, num_images=10, D=6, V=5, seed=1):
    """A data dict in load_coco_data's layout: the first word is decided by the image."""
    rng = np.random.RandomState(seed)
    features = rng.randn(num_images, D).astype(np.float32)
    word_of_image = rng.randint(V, size=num_images)
    idxs = rng.randint(num_images, size=num_captions).astype(np.int32)
    captions = np.zeros((num_captions, 4), dtype=np.int32)
    captions[:, 0] = 1
    captions[:, 1] = word_of_image[idxs]
    return {"train_captions": captions, "train_image_idxs": idxs, "train_features": features,
            "train_urls": np.array([f"img{i}.png" for i in range(num_images)]),
            "val_captions": captions[:5], "val_image_idxs": idxs[:5], "val_features": features,
            "val_urls": np.array([f"img{i}.png" for i in range(num_images)])}


def test_adam_decreases_the_loss():
    """Does training with Adam drive the minibatch loss well below its start?"""
    np.random.seed(0)
    model = FirstWordModel(6, 5)
    solver = CaptioningSolver(model, fake_data(), update_rule="adam", optim_config={"learning_rate": 0.1},
                              batch_size=10, num_epochs=15, verbose=False)
    solver.train()
    history = solver.loss_history
    assert len(history) == 15 * (40 // 10) == model.calls
    assert np.mean(history[-5:]) < 0.3 * history[0]


def test_learning_rate_decays_once_per_epoch():
    """After 3 epochs with lr_decay 0.5, is every parameter's rate lr * 0.5**3?"""
    np.random.seed(0)
    solver = CaptioningSolver(FirstWordModel(6, 5), fake_data(), update_rule="sgd",
                              optim_config={"learning_rate": 0.2}, lr_decay=0.5, batch_size=20,
                              num_epochs=3, verbose=False)
    solver.train()
    assert solver.epoch == 3
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == pytest.approx(0.2 * 0.5**3)


def test_parameters_keep_separate_optimizer_state():
    """Does every parameter get its own copy of optim_config (Adam moments of its shape)?"""
    np.random.seed(0)
    model = FirstWordModel(6, 5)
    solver = CaptioningSolver(model, fake_data(), update_rule="adam", batch_size=40, num_epochs=1,
                              verbose=False)
    solver.train()
    assert solver.optim_configs["W"]["m"].shape == (6, 5)
    assert solver.optim_configs["b"]["m"].shape == (5,)


def test_at_least_one_iteration_per_epoch_and_printing(capsys):
    """With a batch larger than the data, is an epoch one iteration, and is progress printed?"""
    np.random.seed(0)
    solver = CaptioningSolver(FirstWordModel(6, 5), fake_data(num_captions=8), update_rule="sgd_momentum",
                              batch_size=100, num_epochs=4, print_every=2, verbose=True)
    solver.train()
    assert len(solver.loss_history) == 4
    out = capsys.readouterr().out
    assert "(Iteration 1 / 4)" in out and "(Iteration 3 / 4)" in out


def test_unknown_update_rule_is_an_error():
    """Is a misspelt update rule reported at construction?"""
    with pytest.raises(ValueError):
        CaptioningSolver(FirstWordModel(6, 5), fake_data(), update_rule="adamw")


def test_update_rule_may_be_a_function():
    """Can a custom rule with the (w, dw, config) signature be passed directly?"""
    seen = []

    def frozen(w, dw, config):
        seen.append(w.shape)
        return w, config

    np.random.seed(0)
    model = FirstWordModel(6, 5)
    W0 = model.params["W"].copy()
    CaptioningSolver(model, fake_data(), update_rule=frozen, batch_size=40, num_epochs=2, verbose=False).train()
    assert np.array_equal(model.params["W"], W0) and len(seen) == 4
