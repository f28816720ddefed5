"""Shared helpers of the sandbox unit tests."""
from __future__ import annotations

import os

import pytest

from autograder import cgroups

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def live_support():
    """This machine's cgroup support; skips where there is none, but fails in CI (CI=true)."""
    support = cgroups.detect(refresh=True)
    if not support.usable:
        if IN_CI:
            pytest.fail(f"CI must have writable cgroups (run as root): {support.describe()}")
        pytest.skip(f"no writable cgroups here: {support.describe()}")
    return support
