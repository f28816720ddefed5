"""Correct variants and plausible mistakes for network_visualization (see tests/mutation/__init__.py)."""

CORRECT = {}
WRONG = {}
