"""Correct variants and plausible mistakes for sentence_classification (see tests/mutation/__init__.py)."""

CORRECT = {}
WRONG = {}
