"""Minibatch training loop for numpy captioning models.

The model is any object with

- ``model.params``: dict name -> numpy array (updated in place in the dict),
- ``model.loss(features (N, D), captions (N, T))`` -> ``(loss, grads)`` with ``grads``
  a dict parallel to ``params``.

The data is a dict in the layout of :func:`dlcourse.data.load_coco_data`; minibatches
are drawn with :func:`dlcourse.data.sample_coco_minibatch` (random, with replacement,
from numpy's global random state: seed it for a reproducible run).

Example::

    solver = CaptioningSolver(model, data, update_rule="adam",
                              optim_config={"learning_rate": 5e-3},
                              lr_decay=0.95, batch_size=25, num_epochs=50)
    solver.train()
    plt.plot(solver.loss_history)
"""
from __future__ import annotations

import copy

from dlcourse import optim


class CaptioningSolver:
    """Trains a captioning model with one of the update rules of :mod:`dlcourse.optim`.

    Inputs:
    - model: see the module docstring
    - data: dict with at least ``train_captions`` (N, T), ``train_image_idxs`` (N,),
      ``train_features`` and ``train_urls`` (what ``sample_coco_minibatch`` reads)
    - update_rule: name of a rule in :mod:`dlcourse.optim` ('sgd', 'sgd_momentum',
      'rmsprop', 'adam') or a function with the same signature
    - optim_config: hyperparameters given to the rule (e.g. ``{'learning_rate': 1e-3}``);
      every parameter gets its own copy, which also holds that parameter's state
    - lr_decay: the learning rate is multiplied by this after every epoch
    - batch_size: captions per minibatch
    - num_epochs: an epoch is ``max(num_train // batch_size, 1)`` iterations
    - print_every: print the loss every this many iterations (when verbose)
    - verbose: print progress

    After :meth:`train`, ``loss_history`` holds the minibatch loss of every iteration.
    """

    def __init__(self, model, data, update_rule="sgd", optim_config=None, lr_decay=1.0,
                 batch_size=100, num_epochs=10, print_every=10, verbose=True):
        self.model = model
        self.data = data
        if isinstance(update_rule, str):
            if not hasattr(optim, update_rule):
                raise ValueError(f"unknown update rule {update_rule!r}")
            update_rule = getattr(optim, update_rule)
        self.update_rule = update_rule
        self.optim_config = dict(optim_config or {})
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.print_every = print_every
        self.verbose = verbose
        self._reset()

    def _reset(self):
        """Forget the training history and the optimizer state."""
        self.epoch = 0
        self.loss_history = []
        self.optim_configs = {name: copy.deepcopy(self.optim_config) for name in self.model.params}

    def _step(self):
        """One minibatch: loss, gradients, parameter update. Returns the loss."""
        from dlcourse.data import sample_coco_minibatch  # imported late: data is optional

        captions, features, _ = sample_coco_minibatch(self.data, batch_size=self.batch_size,
                                                      split="train")
        loss, grads = self.model.loss(features, captions)
        self.loss_history.append(float(loss))
        for name, w in self.model.params.items():
            next_w, next_config = self.update_rule(w, grads[name], self.optim_configs[name])
            self.model.params[name] = next_w
            self.optim_configs[name] = next_config
        return loss

    def train(self):
        """Run ``num_epochs`` epochs of minibatch updates."""
        num_train = self.data["train_captions"].shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        for it in range(num_iterations):
            loss = self._step()
            if self.verbose and it % self.print_every == 0:
                print(f"(Iteration {it + 1} / {num_iterations}) loss: {loss:f}")
            if (it + 1) % iterations_per_epoch == 0:
                self.epoch += 1
                for config in self.optim_configs.values():
                    if "learning_rate" in config:
                        config["learning_rate"] *= self.lr_decay
        return self.loss_history
