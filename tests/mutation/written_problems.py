"""Correct variants and plausible mistakes for written_problems (see tests/mutation/__init__.py)."""

CORRECT = {}
WRONG = {}
