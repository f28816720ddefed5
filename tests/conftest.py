"""Fixtures shared by every test folder."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def browser_ready() -> str:
    """The path of Debian's chromium for the browser tests. Without it they skip, except on
    CI (``CI`` set), where a missing browser is a failure (.ci/run installs it)."""
    from course.sitecheck import chromium_path

    try:
        return chromium_path()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
