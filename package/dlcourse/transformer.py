"""Provided pieces of the Transformer captioning assignment (PyTorch).

Students write the attention itself (``MultiHeadAttention``), the positional encoding
and the captioning model's forward pass in the notebook. This module gives them the
parts around those:

- ``TransformerDecoderLayer``: one post-norm decoder layer (masked self-attention,
  cross-attention to a memory, ReLU feed-forward), built from an attention class that
  is passed in (the student's ``MultiHeadAttention``).
- ``TransformerDecoder``: a stack of deep copies of one layer.
- ``temporal_softmax_loss``: cross-entropy over every time step, masked.
- ``CaptioningSolverTransformer``: Adam training on a COCO-format data dict.

Letters: N batch, T caption length, S query length, E (= W) embedding dim, D feature
dim, V vocabulary size. An attention class is called as
``attention_cls(embed_dim, num_heads, dropout)`` and its instances as
``attn(query (N,S,E), key (N,T,E), value (N,T,E), attn_mask=None (S,T))`` -> (N,S,E).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _require_attention(attention_cls):
    if attention_cls is None:
        raise TypeError(
            "pass the attention class to use, e.g. "
            "TransformerDecoderLayer(E, num_heads, attention_cls=MultiHeadAttention)"
        )
    return attention_cls


class TransformerDecoderLayer(nn.Module):
    """One decoder layer, post-norm: every sub-block is ``x = LayerNorm(x + Dropout(f(x)))``.

    Sub-blocks in order: masked self-attention over the target, cross-attention from the
    target to the memory, and a position-wise feed-forward net ``Linear -> ReLU ->
    Dropout -> Linear``.

    Args:
        input_dim: E, the width of the target and of the memory.
        num_heads: number of attention heads (E must be divisible by it).
        dim_feedforward: hidden width of the feed-forward net.
        dropout: dropout probability used everywhere in the layer.
        attention_cls: the attention class (e.g. the notebook's ``MultiHeadAttention``).
    """

    def __init__(self, input_dim, num_heads, dim_feedforward=2048, dropout=0.1, attention_cls=None):
        super().__init__()
        attention_cls = _require_attention(attention_cls)
        self.self_attn = attention_cls(input_dim, num_heads, dropout)
        self.multihead_attn = attention_cls(input_dim, num_heads, dropout)
        self.linear1 = nn.Linear(input_dim, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, input_dim)

        self.norm1 = nn.LayerNorm(input_dim)
        self.norm2 = nn.LayerNorm(input_dim)
        self.norm3 = nn.LayerNorm(input_dim)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, tgt, memory, tgt_mask=None):
        """
        Inputs:
        - tgt: target sequence, (N, T, E)
        - memory: what the target attends to, (N, M, E) (M = 1 for a captioning image)
        - tgt_mask: (T, T), 0/False where position t may not look at position t'

        Returns: (N, T, E)
        """
        a = self.self_attn(tgt, tgt, tgt, attn_mask=tgt_mask)  # (N, T, E)
        x = self.norm1(tgt + self.dropout1(a))
        a = self.multihead_attn(x, memory, memory)  # (N, T, E)
        x = self.norm2(x + self.dropout2(a))
        a = self.linear2(self.dropout(F.relu(self.linear1(x))))  # (N, T, E)
        return self.norm3(x + self.dropout3(a))


class TransformerDecoder(nn.Module):
    """``num_layers`` independent deep copies of ``layer``, applied one after another."""

    def __init__(self, layer, num_layers):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])
        self.num_layers = num_layers

    def forward(self, tgt, memory, tgt_mask=None):
        """tgt (N, T, E), memory (N, M, E), tgt_mask (T, T) -> (N, T, E)."""
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask)
        return x


def temporal_softmax_loss(scores, targets, mask):
    """Cross-entropy over every time step, masked, averaged over all N*T positions.

    Inputs:
    - scores: (N, T, V) unnormalised scores
    - targets: (N, T) int, the correct word at every step
    - mask: (N, T) bool or 0/1, whether a position counts (False for <NULL> padding)

    Returns a scalar tensor: sum over counted positions of -log p(target), divided by N*T
    (masked positions contribute zero but still count in the denominator).
    """
    N, T, V = scores.shape
    per_position = F.cross_entropy(scores.reshape(N * T, V), targets.reshape(N * T).long(),
                                   reduction="none")  # (N*T,)
    return (per_position * mask.reshape(N * T).to(per_position.dtype)).mean()


class CaptioningSolverTransformer:
    """Train a captioning Transformer with Adam on a COCO-format data dict.

    The data dict has the keys of ``dlcourse.data.load_coco_data``; training uses
    ``train_captions`` (N, T+1), ``train_image_idxs`` and ``train_features``. Every
    iteration draws a random minibatch (with numpy's global generator), feeds
    ``captions[:, :-1]`` to the model and scores its predictions against
    ``captions[:, 1:]`` with ``temporal_softmax_loss``, ignoring ``<NULL>`` targets.

    Batches are moved to the device and floating dtype of the model's parameters, so the
    same code trains on a CPU or a GPU.

    After ``train()``, ``loss_history`` holds the loss of every iteration.
    """

    def __init__(self, model, data, idx_to_word, learning_rate=1e-3, batch_size=100,
                 num_epochs=10, print_every=10, verbose=True):
        self.model = model
        self.data = data
        self.idx_to_word = idx_to_word
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.print_every = print_every
        self.verbose = verbose
        self._null = list(idx_to_word).index("<NULL>") if "<NULL>" in list(idx_to_word) else 0
        self.optim = torch.optim.Adam(model.parameters(), lr=learning_rate)
        self.loss_history = []

    def _minibatch(self):
        """Random training minibatch: captions (B, T+1) int, features (B, D) float."""
        captions = self.data["train_captions"]
        idx = np.random.choice(captions.shape[0], self.batch_size)
        image_idxs = self.data["train_image_idxs"][idx]
        return captions[idx], self.data["train_features"][image_idxs]

    def _step(self):
        """One Adam step on a random minibatch; records and returns the loss."""
        param = next(self.model.parameters())
        captions, features = self._minibatch()
        captions = torch.as_tensor(np.asarray(captions), dtype=torch.long, device=param.device)
        features = torch.as_tensor(np.asarray(features), dtype=param.dtype, device=param.device)

        captions_in = captions[:, :-1]  # (B, T): what the model reads
        captions_out = captions[:, 1:]  # (B, T): what it must predict
        mask = captions_out != self._null  # (B, T)

        scores = self.model(features, captions_in)  # (B, T, V)
        loss = temporal_softmax_loss(scores, captions_out, mask)
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        self.loss_history.append(loss.item())
        return loss.item()

    def train(self):
        """Run ``num_epochs`` epochs of ``max(N_train // batch_size, 1)`` iterations each."""
        num_train = self.data["train_captions"].shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        self.model.train()
        for t in range(num_iterations):
            loss = self._step()
            if self.verbose and t % self.print_every == 0:
                print(f"(Iteration {t + 1} / {num_iterations}) loss: {loss:f}")
        return self.loss_history
