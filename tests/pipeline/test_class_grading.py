"""Class-scale grading: parallel workers, Dask, resume, interrupt, PostgreSQL.

A demo course (tests/pipeline/demo_course.py) with a small class (the four samples and
four broken or partial submissions) is graded serially first; every other way of grading
it must give identical grades and identical feedback.
"""
from __future__ import annotations

import difflib
import shutil
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course.autograde import autograde
from course.feedback import feedback, grades


from .demo_course import sampled_demo_course, submit
from .test_demo_grading import scenarios

pytestmark = pytest.mark.e2e  # an end-to-end run: ./course.sh test-e2e

CLASS = ("deleted_cells", "duplicated", "sys_exit", "invalid_json")


def _snapshot(root: Path) -> tuple[dict, dict]:
    """(grades, feedback pages) of the course at ``root``."""
    feedback(root, ["demo"])
    rows = {r["student"]: (r["auto_score"], r["manual_pending"]) for r in grades(root)}
    pages = {str(p.relative_to(root / "feedback")): p.read_text()
             for p in sorted((root / "feedback").rglob("*.html"))}
    return rows, pages


def _assert_same(snapshot: tuple[dict, dict], serial: tuple[dict, dict]) -> None:
    """Assert two snapshots are equal, reporting only the differing lines when they are not."""
    rows, pages = snapshot
    assert rows == serial[0]
    assert sorted(pages) == sorted(serial[1])
    for name in pages:
        if pages[name] != serial[1][name]:
            diff = difflib.unified_diff(serial[1][name].splitlines(), pages[name].splitlines(),
                                        "serial", "this run", n=2, lineterm="")
            pytest.fail(f"feedback {name} differs from the serial run:\n" + "\n".join(list(diff)[:60]))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    # A generous cell timeout: none of these submissions runs long, and a cell that timed out
    # on a loaded CI machine in one run but not in another would make the runs differ.
    root, _ = sampled_demo_course(tmp_path_factory.mktemp("class-course"), cell_timeout=30, memory_mib=1024)
    reference = nbformat.read(str(root / "submitted" / "reference" / "demo" / "demo.ipynb"), as_version=4)
    release_nb = nbformat.read(str(root / "assignments" / "demo" / "demo.ipynb"), as_version=4)
    for student, (nb, _) in scenarios(reference, release_nb).items():
        if student not in CLASS:
            continue
        submit(root, student, nb)
    start = time.perf_counter()
    autograde(root, ["demo"], workers=1)
    serial_seconds = time.perf_counter() - start
    serial = _snapshot(root)
    return root, serial, serial_seconds


def test_serial_grades_are_the_expected_ones(course):
    """Does the serial run give the known points (the baseline of every comparison here)?"""
    _, (rows, _), _ = course
    expected = {"reference": 6, "untouched": 0, "partial": 5, "stripped": 6, "deleted_cells": 6,
                "duplicated": 6, "sys_exit": 4, "invalid_json": 0}
    assert {s: rows[s][0] for s in expected} == expected


def test_two_workers_grade_identically(course):
    """Do 2 local worker threads give the same grades and feedback as 1?"""
    root, serial, _ = course
    autograde(root, ["demo"], workers=2, engine="local", force=True)
    _assert_same(_snapshot(root), serial)


def test_dask_local_cluster_grades_identically(course):
    """Does a local Dask cluster of 2 worker processes give the same grades and feedback?"""
    root, serial, _ = course
    autograde(root, ["demo"], workers=2, engine="dask", force=True)
    _assert_same(_snapshot(root), serial)


def test_rerun_skips_unchanged_students(course):
    """Does a re-run without --force skip everyone, and regrade only a changed submission?"""
    root, serial, serial_seconds = course
    start = time.perf_counter()
    report = autograde(root, ["demo"], workers=1)
    assert time.perf_counter() - start < serial_seconds / 2
    assert set(report["demo"]) == set(serial[0])
    path = root / "submitted" / "untouched" / "demo" / "demo.ipynb"
    original = path.read_bytes()
    reference = (root / "submitted" / "reference" / "demo" / "demo.ipynb").read_bytes()
    try:
        path.write_bytes(reference)
        from course.engine import state_file

        before = {s: state_file(root, "demo", s).stat().st_mtime for s in serial[0]}
        autograde(root, ["demo"], workers=1)
        after = {s: state_file(root, "demo", s).stat().st_mtime for s in serial[0]}
        assert [s for s in before if before[s] != after[s]] == ["untouched"]
        assert {r["student"]: r["auto_score"] for r in grades(root)}["untouched"] == 6
    finally:
        path.write_bytes(original)
        autograde(root, ["demo"], workers=1)
    _assert_same(_snapshot(root), serial)


def test_interrupt_leaves_no_half_written_grades(course, monkeypatch):
    """After Ctrl-C during a class, is every merged grade complete, and does a re-run finish it?"""
    root, serial, _ = course
    import course.engine as engine

    real = engine.merge_result
    merged = []

    def merge_then_interrupt(root_, url, result):
        if len(merged) == 2:
            raise KeyboardInterrupt
        real(root_, url, result)
        merged.append(result["student"])

    monkeypatch.setattr(engine, "merge_result", merge_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        autograde(root, ["demo"], workers=1, force=True)
    monkeypatch.setattr(engine, "merge_result", real)
    assert len(merged) == 2
    assert not list((root / "autograded").glob("*/.demo.incoming"))
    rows = {r["student"]: r["auto_score"] for r in grades(root)}
    for student in merged:
        assert rows[student] == serial[0][student][0]
    autograde(root, ["demo"], workers=2)
    _assert_same(_snapshot(root), serial)


def test_postgresql_gradebook_under_concurrent_workers(course, postgres, monkeypatch):
    """With COURSE_GRADEBOOK_URL on PostgreSQL and 2 workers: same grades, no lost rows?"""
    root, serial, _ = course
    monkeypatch.setenv("COURSE_GRADEBOOK_URL", postgres)
    autograde(root, ["demo"], workers=2, force=True)
    rows = {r["student"]: (r["auto_score"], r["manual_pending"]) for r in grades(root)}
    assert rows == serial[0]
    from course.gradebook import open_gradebook

    with open_gradebook(postgres) as gb:  # no lost rows: every student, every grade cell
        subs = gb.assignment_submissions("demo")
        assert len(subs) == len(serial[0])
        for sub in subs:
            for nb in sub.notebooks:
                assert len(nb.grades) == len(nb.notebook.grade_cells) + len(nb.notebook.task_cells) == 5
                assert all(g.auto_score is not None for g in nb.grades if g.cell.cell_type == "code")


def test_command_line_shows_progress_and_summary(course):
    """Does `python -m course autograde --workers 2 --force` show progress and a summary?"""
    root, serial, _ = course
    proc = subprocess.run([sys.executable, "-m", "course", "autograde", "demo", "--workers", "2", "--force"],
                          cwd=root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{len(serial[0])}/{len(serial[0])}" in proc.stderr
    assert "ETA" in proc.stderr and "/min" in proc.stderr
    assert f"demo: {len(serial[0])} graded, 0 failed" in proc.stdout
    report = json.loads((root / "build" / "intake_report.json").read_text())
    assert any("not a valid notebook" in n for n in report["demo"]["invalid_json"])


def test_feedback_in_parallel_batches_matches_one_process(course):
    """Are the feedback pages made by batches on two workers those of one process?"""
    from course.feedback import batches

    root, _, _ = course
    students = sorted(p.name for p in (root / "autograded").iterdir() if (p / "demo").is_dir())
    assert len(batches(students, 2)) >= 3  # the class really is split
    feedback(root, ["demo"], workers=1, engine="local")
    one = {str(p.relative_to(root / "feedback")): p.read_text() for p in sorted((root / "feedback").rglob("*.html"))}
    shutil.rmtree(root / "feedback")
    feedback(root, ["demo"], workers=2)
    two = {str(p.relative_to(root / "feedback")): p.read_text() for p in sorted((root / "feedback").rglob("*.html"))}
    assert sorted(two) == sorted(one) and len(one) == len(students)
    assert two == one
