"""Merge one graded task into the class's gradebook and autograded/: exactly once.

``merge_result(root, db_url, result)`` runs in the coordinator only (one writer). A
student's grades, comments, late penalties (settled against the notebook's score with a
grader's points, course/late.py), submission time, extension and (on a first grading) the
student and submission rows are written in ONE database transaction through the
gradebook's own session: nbgrader's helpers (``update_or_create_student``,
``update_or_create_submission``) commit as they go, so they are not used here. A
coordinator killed at any point (SIGKILL included) leaves the previous grades or the new
ones, never a mix: the database rolls back a transaction that did not commit.

The autograded files are written to a staging folder and put in place with a rename
after the commit; the task's state (``build/grading/state``) is removed before the merge
and written after it, so a merge cut short is graded again by the next run.

A gradebook that cannot be reached (a database restarting, a locked SQLite file) is
retried with back-off for ``DB_RETRY_SECONDS`` before the merge fails; a failed merge is
that student's failure (course/engine.py), never the run's.
"""
from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

from course.late import course_plugin, settle_submission

DB_RETRY_SECONDS = 30.0


def _write_grades(gb, assignment: str, student: str, rows: dict, late=None) -> None:
    """Everything of one result in the session of ``gb``, committed once (rolled back on error).
    ``late``: the course's late-submission plugin, which settles each notebook's penalty
    against its score with the grades already there (a grader's points included)."""
    from nbgrader.api import (Comment, Grade, MissingEntry, Student, SubmittedAssignment,
                              SubmittedNotebook)

    db = gb.db
    try:
        person = db.query(Student).filter(Student.id == student).one_or_none()
        if person is None:
            person = Student(id=student)
            db.add(person)
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:  # the structure nbgrader's add_submission mirrors, without its commit
            with db.no_autoflush:  # nothing half-built is flushed by the lazy loads below
                sub = SubmittedAssignment(assignment=gb.find_assignment(assignment), student=person)
                for notebook in sub.assignment.notebooks:
                    nb = SubmittedNotebook(notebook=notebook, assignment=sub)
                    for cell in notebook.grade_cells:
                        Grade(cell_id=cell.id, notebook=nb)
                    for cell in notebook.solution_cells:
                        Comment(cell_id=cell.id, notebook=nb)
                    for cell in notebook.task_cells:
                        Comment(cell_id=cell.id, notebook=nb)
                        Grade(cell_id=cell.id, notebook=nb)
                db.add(sub)
            db.flush()
        # The collector's time or none: a time left by an earlier grading never survives a regrade.
        sub.timestamp = datetime.fromisoformat(rows["timestamp"]) if rows.get("timestamp") else None
        # The extension the task's grading used (course.toml's, course/extensions.py), or none.
        sub.extension = timedelta(seconds=rows["extension_seconds"]) if rows.get("extension_seconds") else None
        for nb in sub.notebooks:
            got = rows["notebooks"].get(nb.name)
            if got is None:
                continue
            nb.late_submission_penalty = got["late_submission_penalty"]
            for grade in nb.grades:
                if grade.name in got["grades"]:
                    grade.auto_score = got["grades"][grade.name]
                    grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
            for comment in nb.comments:
                if comment.name in got["comments"]:
                    comment.auto_comment = got["comments"][comment.name]
        if late is not None:
            settle_submission(sub, late)
        _before_commit(assignment, student)
        db.commit()
        db.expunge_all()  # the next student starts from an empty identity map
    except BaseException:
        db.rollback()
        raise


def _before_commit(assignment: str, student: str) -> None:
    """A seam for tests (a coordinator killed with everything written but not committed)."""


def _transient(exc: BaseException) -> bool:
    """Is ``exc`` a database that cannot be reached for now (worth retrying)?"""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(getattr(exc, "connection_invalidated", False))


_OPEN: dict = {}  # db_url -> nbgrader Gradebook kept open between merges (opening one costs ~0.2 s)


def close_gradebooks() -> None:
    """Close the gradebooks the merges of this process keep open (end of a run)."""
    while _OPEN:
        _, gb = _OPEN.popitem()
        try:
            gb.close()
        except Exception:
            pass


def write_grades(db_url: str, assignment: str, student: str, rows: dict,
                 retry_seconds: float = DB_RETRY_SECONDS, late=None) -> None:
    """Write one student's rows in one transaction, through a gradebook kept open for the
    run; retry (with a fresh connection) while the database cannot be reached, for up to
    ``retry_seconds``."""
    from course.gradebook import open_gradebook

    deadline = time.monotonic() + retry_seconds
    pause = 0.5
    while True:
        try:
            if db_url not in _OPEN:
                _OPEN[db_url] = open_gradebook(db_url)
            _write_grades(_OPEN[db_url], assignment, student, rows, late)
            return
        except Exception as exc:
            gb = _OPEN.pop(db_url, None)  # whatever went wrong, the next try starts afresh
            if gb is not None:
                try:
                    gb.close()
                except Exception:
                    pass
            if not _transient(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 8.0)


def merge_result(root: Path, db_url: str, result: dict) -> None:
    """Write one task's result into the gradebook (one transaction) and autograded/ (a rename)."""
    from course.task import _write_tree

    root = Path(root)
    assignment, student = result["assignment"], result["student"]
    final = root / "autograded" / student / assignment
    if not result["ok"]:
        shutil.rmtree(final, ignore_errors=True)
        return
    staging = root / "autograded" / student / f".{assignment}.incoming"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _write_tree(staging, result["autograded"])
    write_grades(db_url, assignment, student, result["gradebook"], late=course_plugin(root))
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
