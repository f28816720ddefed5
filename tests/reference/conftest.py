"""Fixtures shared by the reference tests: each module names its source notebook in NOTEBOOK
("source/<assignment>/<name>.ipynb"); `ref` is that notebook's reference code, executed,
and `cases` the hidden cases of its assignment (autograder/cases/<assignment>.py)."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.notebook_code import load_reference


@pytest.fixture(scope="module")
def ref(request):
    return load_reference(request.module.NOTEBOOK)


@pytest.fixture(scope="module")
def cases(request):
    assignment = Path(request.module.NOTEBOOK).parts[1]
    return dict(importlib.import_module(f"autograder.cases.{assignment}").CASES)
