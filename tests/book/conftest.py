"""The built course site, shared by the book and browser tests: the one the main job builds.

The main job (tests/conftest.py ``main_job``) runs in a scratch copy of the repository
with the instructor-only folders present and canaries planted in them (and a chapter
outside the table of contents), so the exclusion rules are exercised for real and the
working tree is left alone.
"""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def site(main_job):
    """(root of the temporary copy, its _build/html, seconds the main job's book stage took)."""
    root = main_job["root"]
    return root, root / "_build" / "html", main_job["summary"]["times"]["book"]
