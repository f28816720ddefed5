"""Correct variants and plausible mistakes for style_transfer (see tests/mutation/__init__.py)."""

CORRECT = {}
WRONG = {}
