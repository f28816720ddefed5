"""Fixtures shared by every test folder, and how the suite is split between processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

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


# -- the suite on two processes (pytest-xdist, ``./course.sh test``) --------------------------
# Each group of tests runs on one worker process: a module's tests stay together, so its
# fixtures (a graded class, a cluster) are made once, and modules that share a session
# fixture are one group (SHARED). The groups that take longest go first (LONGEST_FIRST), so
# that no long one is left for the end while the other worker idles (the times:
# ``--durations=0``, docs/MEASUREMENTS.md). xdist's own ``loadgroup`` mode does not group
# with this pytest (its marks reach no node id), hence the scheduler below.
SHARED = {"tests/pipeline/test_pipeline.py": "main-job", "tests/book/test_book.py": "main-job",
          "tests/book/test_site_in_browser.py": "main-job"}
LONGEST_FIRST = (
    "main-job", "tests/pipeline/test_hostile_grading.py",
    "tests/pipeline/test_class_grading.py", "tests/pipeline/test_recipes.py",
    "tests/pipeline/test_colab_setup.py", "tests/pipeline/test_demo_grading.py",
    "tests/pipeline/test_rendered_submissions.py", "tests/pipeline/test_engine_restart.py",
    "tests/mutation/test_variants.py", "tests/pipeline/test_sandbox_limits.py",
    "tests/pipeline/test_forkserver.py", "tests/pipeline/test_text_linear_time.py",
    "tests/pipeline/test_manual_grading.py", "tests/pipeline/test_exactly_once.py",
)


def group_of(nodeid: str) -> str:
    """The group of the test ``nodeid``: its module's, or the shared one its module is in."""
    module = nodeid.split("::")[0]
    return SHARED.get(module, module)


def pytest_collection_modifyitems(config, items):
    rank = {group: k for k, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(rank)))  # stable otherwise


def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadscope``: whole groups to a worker, in the order collected."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False  # keep LONGEST_FIRST
    return GroupScheduling(config, log)


# -- the main job, run once per session ---------------------------------------------------------
INSTRUCTOR_ONLY = ["source", "solutions", "autograder"]


def plant_canaries(root) -> None:
    """Instructor-only files with solution and mark-scheme markers, a chapter outside the table
    of contents and a hidden folder of markdown: none may reach the site or the public tree."""
    for folder in INSTRUCTOR_ONLY:
        (root / folder).mkdir(exist_ok=True)
        (root / folder / "canary.md").write_text(
            f"# Canary in {folder}\n\n### BEGIN SOLUTION\nsecret_{folder} = 1\n### END SOLUTION\n")
    (root / "book" / "draft_not_in_toc.md").write_text("# Draft\n\n=== BEGIN MARK SCHEME ===\n")
    # Tools leave markdown in hidden folders (.pytest_cache/README.md): Sphinx must skip them.
    (root / ".hidden_canary").mkdir()
    (root / ".hidden_canary" / "README.md").write_text("# Hidden\n\n=== BEGIN MARK SCHEME ===\n")


@pytest.fixture(scope="session")
def main_job(tmp_path_factory) -> dict:
    """``python -m course pipeline`` once, in a scratch copy of the repository (the files git
    tracks or would track) with canaries planted: its grades, its site and its public tree are
    checked by tests/pipeline/test_pipeline.py and tests/book/ (one group of tests, one worker).

    Returns {"root": the copy, "stdout", "stderr", "summary": build/pipeline.json, "seconds"}."""
    from course import ROOT
    from course.check import scratch_copy

    root = scratch_copy(ROOT, tmp_path_factory.mktemp("main-job"))
    plant_canaries(root)
    start = time.perf_counter()
    # Deprecation warnings shown in every process it starts (test_pipeline.py looks for them)
    env = dict(os.environ, PYTHONWARNINGS="default::DeprecationWarning,default::PendingDeprecationWarning")
    proc = subprocess.run([sys.executable, "-m", "course", "pipeline"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=3000)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    summary = json.loads((root / "build" / "pipeline.json").read_text())
    return {"root": root, "stdout": proc.stdout, "stderr": proc.stderr, "summary": summary, "seconds": seconds}
