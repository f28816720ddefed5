"""Correct variants and plausible mistakes for transformer_captioning (see tests/mutation/__init__.py)."""

CORRECT = {}
WRONG = {}
