"""Do due dates reach grading without `collect`, and does a changed due date regrade?

course.toml's ``[grading] due_dates.<assignment>`` is written into the gradebook by
``course.gradebook.sync_due_date``, which the grading preflight (``course.preflight.prepare``) and
``./course.sh collect`` both run; ``course.task.task_key`` includes the gradebook's due date,
so a student whose due date changed is graded again without ``--force``. The last test
grades the demo course with ``course.autograde.autograde``: a submission whose collector
record is 1.5 h after the due date loses 2 points (1 per started hour), and moving the due
date (in course.toml, then in the gradebook alone) regrades it without ``--force``.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

DUE = "2026-12-01T23:59:00+00:00"


def set_due(root, due: str | None) -> None:
    """course.toml's [grading] due_dates.demo: ``due``, or none."""
    lines = [line for line in (root / "course.toml").read_text().splitlines(keepends=True)
             if not line.startswith("due_dates.demo")]
    if due is not None:
        at = lines.index("[grading]\n") + 1
        lines.insert(at, f'due_dates.demo = "{due}"\n')
    (root / "course.toml").write_text("".join(lines))


@pytest.fixture
def small(tmp_path, monkeypatch):
    """A course folder with a course.toml and a gradebook that knows `demo`."""
    from course.gradebook import open_gradebook

    monkeypatch.delenv("COURSE_GRADEBOOK_URL", raising=False)
    (tmp_path / "course.toml").write_text("[grading]\nlate_penalty_per_hour = 1\n")
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with open_gradebook(url) as gb:
        gb.update_or_create_assignment("demo")
    return tmp_path, url


def test_course_toml_due_date_is_synced_into_the_gradebook(small):
    from course.gradebook import (DueDateError, due_date, gradebook_due_date, open_gradebook, sync_due_date)

    root, url = small
    assert sync_due_date(root, "demo") == (None, "") and gradebook_due_date(url, "demo") is None
    set_due(root, "2026-12-01T18:59:00-05:00")
    due, source = sync_due_date(root, "demo")
    assert (due.isoformat(), source) == ("2026-12-01T18:59:00-05:00", "course.toml")
    with open_gradebook(url) as gb:
        assert gb.find_assignment("demo").duedate == datetime(2026, 12, 1, 23, 59)  # nbgrader's naive UTC
    assert gradebook_due_date(url, "demo") == datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc)
    # Without one in course.toml, the gradebook's (nbgrader db assignment add --duedate) stays.
    set_due(root, None)
    assert sync_due_date(root, "demo") == (datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc), "gradebook")
    assert gradebook_due_date(url, "nope") is None and gradebook_due_date(f"sqlite:///{root}/none.db", "demo") is None
    assert not (root / "none.db").exists()
    for bad, message in (("2026-12-01 23:59", "has no UTC offset"), ("next friday", "is not an ISO 8601 time")):
        set_due(root, bad)
        with pytest.raises(DueDateError, match=message):
            due_date(root, "demo")


def test_the_task_key_includes_the_due_date(small):
    """The key changes with the gradebook's due date alone (course.toml and submission unchanged)."""
    from course.gradebook import open_gradebook
    from course.task import task_key

    root, url = small
    submission = {"files": {}, "notes": [], "time": "2026-12-02T01:30:00+00:00"}
    keys = [task_key(root, "demo", "s1", submission)]
    for due in (datetime(2026, 12, 1, 23, 59), datetime(2026, 12, 2, 1, 0), datetime(2026, 12, 1, 23, 59)):
        with open_gradebook(url) as gb:
            gb.update_or_create_assignment("demo", duedate=due)
        keys.append(task_key(root, "demo", "s1", submission))
    assert keys[0] != keys[1] != keys[2] and keys[1] == keys[3]
    assert task_key(root, "demo", "s1", submission) == keys[3]  # the same inputs, the same key


def test_due_date_reaches_grading_without_collect(tmp_path, monkeypatch):
    from course.autograde import autograde
    from course.engine import state_file
    from course.gradebook import open_gradebook

    from .demo_course import late_demo_course

    monkeypatch.delenv("COURSE_GRADEBOOK_URL", raising=False)
    root, expected = late_demo_course(tmp_path, DUE, {  # the collector's record, as it writes it; no `collect` run
        "reference": "2026-12-01T20:00:00+00:00", "partial": "2026-12-02T01:30:00+00:00"},
        cell_timeout=8, memory_mib=1024, late_penalty_per_hour=1)
    url = f"sqlite:///{root}/gradebook.db"

    def graded(who):  # {student: (score before the penalty, the penalty, the collector's time)}
        with open_gradebook(url) as gb:
            subs = {s.student_id: s for s in gb.assignment_submissions("demo")}
            return {s: (subs[s].score, subs[s].late_submission_penalty, subs[s].timestamp) for s in who}

    def state():
        path = state_file(root, "demo", "partial")
        return json.loads(path.read_text())["key"], path.stat().st_mtime_ns

    autograde(root, ["demo"], ["reference", "partial"])
    with open_gradebook(url) as gb:
        assert gb.find_assignment("demo").duedate == datetime(2026, 12, 1, 23, 59)  # synced by the preflight
    assert graded(["reference", "partial"]) == {
        "reference": (6, 0, datetime(2026, 12, 1, 20, 0)),
        "partial": (expected["demo"], 2, datetime(2026, 12, 2, 1, 30))}  # 1.5 h late: 2 started hours off
    first = state()
    autograde(root, ["demo"], ["partial"])  # nothing changed: skipped
    assert state() == first
    set_due(root, "2026-12-02T01:00:00+00:00")  # 30 min late now
    autograde(root, ["demo"], ["partial"])  # no --force
    assert state()[0] != first[0]
    assert graded(["partial"])["partial"][:2] == (expected["demo"], 1)
    # Only the gradebook's due date changes (course.toml has none; `nbgrader db assignment add --duedate`).
    set_due(root, None)
    autograde(root, ["demo"], ["partial"])  # course.toml changed: graded again, the gradebook's due date kept
    assert graded(["partial"])["partial"][:2] == (expected["demo"], 1)
    before = state()
    with open_gradebook(url) as gb:
        gb.update_or_create_assignment("demo", duedate=datetime(2026, 12, 2, 0, 0))
    autograde(root, ["demo"], ["partial"])  # no --force
    assert state()[0] != before[0]
    assert graded(["partial"])["partial"][:2] == (expected["demo"], 2)  # 1.5 h late again
