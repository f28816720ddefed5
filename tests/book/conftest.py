"""The built course site, shared by the book and browser tests (one build per test session).

The book is built into a temporary copy of the repository, with the instructor-only
folders present and canaries planted in them (and a chapter outside the table of
contents), so the exclusion rules are exercised for real and the working tree is left alone.
"""
from __future__ import annotations

import shutil
import sys
import time

import pytest

from course import ROOT
from course.book import build

INSTRUCTOR_ONLY = ["source", "solutions", "autograder"]
# Not copied: environments, VCS, build outputs and the nbgrader working steps.
IGNORE = shutil.ignore_patterns(".venv", ".git", "_build", "public", "submitted", "autograded",
                                "feedback", "__pycache__", ".pytest_cache", "*.egg-info",
                                "generated", "gradebook.db", "build")


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """(root of the temporary copy, its _build/html, build seconds)."""
    root = tmp_path_factory.mktemp("book") / "repo"
    shutil.copytree(ROOT, root, ignore=IGNORE)
    # Canaries: instructor-only files, and a chapter that is not in the table of contents.
    for folder in INSTRUCTOR_ONLY:
        (root / folder).mkdir(exist_ok=True)
        (root / folder / "canary.md").write_text(
            f"# Canary in {folder}\n\n### BEGIN SOLUTION\nsecret_{folder} = 1\n### END SOLUTION\n")
    (root / "book" / "draft_not_in_toc.md").write_text("# Draft\n\n=== BEGIN MARK SCHEME ===\n")
    # Tools leave markdown in hidden folders (.pytest_cache/README.md): Sphinx must skip them.
    (root / ".hidden_canary").mkdir()
    (root / ".hidden_canary" / "README.md").write_text("# Hidden\n\n=== BEGIN MARK SCHEME ===\n")
    start = time.perf_counter()
    html = build(root)
    seconds = time.perf_counter() - start
    print(f"book build (figures + sphinx): {seconds:.1f} s", file=sys.stderr)
    return root, html, seconds
