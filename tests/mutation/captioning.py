"""Correct variants and plausible mistakes for captioning (see tests/mutation/__init__.py)."""

CORRECT = {}
WRONG = {}
