"""Correct variants and plausible mistakes for gan (see tests/mutation/__init__.py)."""

CORRECT = {}
WRONG = {}
