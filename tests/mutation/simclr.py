"""Correct variants and plausible mistakes for simclr (see tests/mutation/__init__.py)."""

CORRECT = {}
WRONG = {}
