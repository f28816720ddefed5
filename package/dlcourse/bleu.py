"""Unigram BLEU of generated captions (for the captioning extra-credit section).

BLEU compares a candidate sentence with reference sentences by n-gram precision times a
brevity penalty. The captioning assignment reports the unigram version (nltk's
``sentence_bleu`` with weights (1, 0, 0, 0)) against the one ground-truth caption of each
sample, ignoring the special tokens ``<START>``, ``<END>`` and ``<UNK>``.
"""
from __future__ import annotations

import warnings

import numpy as np

IGNORED_TOKENS = ("<START>", "<END>", "<UNK>", "<NULL>")


def caption_words(caption: str) -> list[str]:
    """Split a decoded caption into words, dropping the special tokens."""
    return [w for w in caption.split() if w not in IGNORED_TOKENS]


def unigram_bleu(reference: str, candidate: str) -> float:
    """Unigram BLEU of one decoded ``candidate`` caption against one ``reference``."""
    from nltk.translate.bleu_score import sentence_bleu

    ref, cand = caption_words(reference), caption_words(candidate)
    if not cand:
        return 0.0
    with warnings.catch_warnings():
        # nltk warns that higher-order n-grams have no overlap; they have weight 0 here.
        warnings.simplefilter("ignore")
        return float(sentence_bleu([ref], cand, weights=(1, 0, 0, 0)))


def average_bleu(model, data, split="train", num_samples=1000, max_length=30, seed=0):
    """Average unigram BLEU of ``model.sample`` on captions of ``split``.

    Picks ``min(num_samples, number of captions)`` captions of the split without
    replacement (seeded, so the same captions every call), generates a caption for each
    image greedily and compares it with that ground-truth caption.

    Inputs:
    - model: has ``sample(features (N, D), max_length)`` -> int array (N, max_length)
    - data: dict in the layout of ``dlcourse.data.load_coco_data``
    - split: 'train' or 'val'
    - num_samples: number of captions to score (at most all of the split)
    - seed: seed of the subset choice (a private RandomState; global state untouched)

    Returns ``(mean_bleu, n)``: the average and the number of captions scored.
    """
    from dlcourse.data import decode_captions

    captions = data[f"{split}_captions"]
    n = min(num_samples, captions.shape[0])
    rows = np.random.RandomState(seed).choice(captions.shape[0], size=n, replace=False)
    features = data[f"{split}_features"][data[f"{split}_image_idxs"][rows]]
    generated = model.sample(features, max_length=max_length)
    refs = decode_captions(captions[rows], data["idx_to_word"])
    cands = decode_captions(generated, data["idx_to_word"])
    scores = [unigram_bleu(r, c) for r, c in zip(refs, cands)]
    return float(np.mean(scores)), n
