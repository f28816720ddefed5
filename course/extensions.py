"""Extensions: one student's extra time on one assignment, written in course.toml and seen
by nbgrader's late penalty, the formgrader and the collect report alike.

course.toml, in ``[grading]`` (a student id other than letters, digits, ``_`` and ``-`` is
quoted, as TOML wants)::

    extensions.captioning.s1234 = 48                                   # hours after the due date
    extensions.captioning."ada@uni.edu" = "2026-10-05T23:59:00-07:00"  # the student's own due date

nbgrader keeps an extension on the student's submission (``SubmittedAssignment.extension``)
and measures lateness from the assignment's due date plus it, so ``AssignLatePenalties``
(``course.late.LatePenalty``) charges nothing for the extra time and the formgrader shows
it. ``sync_extension`` writes it there before nbgrader grades a submission: the grading hook
does it (course/preflight.py ``preflight_hook``) under plain ``nbgrader autograde`` and the
formgrader, and in each task of ``course autograde``, whose merge carries it into the class's
gradebook (course/merge.py). course.toml is the only source: an extension removed there is
removed from the submission at its next grading, and since course.toml is part of every
task's key (course/task.py), changing it grades the class again.

A due date given for a student is kept as that date: the extension is recomputed from the
assignment's due date in force each time, so moving the class's date does not move it.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

from course.gradebook import DueDateError, parse_time

LONGEST = timedelta(days=366)  # more than this is a typo, not an extension


def configured_extensions(root: Path, assignment: str, due: datetime | None = None) -> dict[str, timedelta]:
    """{student id: extra time} course.toml gives for ``assignment`` ({} when none). ``due``:
    the assignment's due date in force, which a student's own due date is measured from.
    DueDateError, naming the line, for anything that cannot be used."""
    from course.config import settings

    table = settings(root).get("grading", {}).get("extensions") or {}
    where = f"course.toml [grading] extensions.{assignment}"
    given = (table.get(assignment) if isinstance(table, dict) else table) or {}
    if not isinstance(given, dict):
        raise DueDateError(f"{where}: write one line per student, e.g. extensions.{assignment}.s1234 = 48 (hours)")
    out = {}
    for student, value in given.items():
        here = f'{where}."{student}"'
        if isinstance(value, bool) or not isinstance(value, (int, float, str, datetime)):
            raise DueDateError(f"{here}: give hours (48) or the student's own due date "
                               "(\"2026-12-01T23:59:00+00:00\")")
        if isinstance(value, (int, float)):
            if not math.isfinite(value) or not 0 <= value <= LONGEST / timedelta(hours=1):
                raise DueDateError(f"{here} = {value}: hours between 0 and {LONGEST / timedelta(hours=1):g}")
            extra = timedelta(hours=value)
        else:
            own = parse_time(value, here)
            if due is None:
                raise DueDateError(f"{here} is a due date, but {assignment} has none to extend: set "
                                   f"due_dates.{assignment} or give the extension in hours")
            extra = own - due
            if not timedelta(0) <= extra <= LONGEST:
                raise DueDateError(f"{here}: {own.isoformat()} is not within a year after the assignment's "
                                   f"due date {due.isoformat()}")
        if extra:  # an extension of 0 is none
            out[str(student)] = extra
    return out


def extension_for(root: Path, assignment: str, student: str, url: str | None = None) -> timedelta | None:
    """The student's extension on ``assignment`` (None: none), measured from the due date in
    force (course.toml's, else the gradebook's at ``url``)."""
    from course.gradebook import due_date

    extensions = configured_extensions(root, assignment, due_date(root, assignment, url)[0])
    return extensions.get(student)


def gradebook_extension(url: str, assignment: str, student: str) -> timedelta | None:
    """The extension the gradebook's submission of ``student`` holds (None: none, or no
    submission); creates nothing (``course.gradebook.query_scalar``)."""
    from nbgrader.api import Assignment, Student, SubmittedAssignment
    from sqlalchemy import select

    from course.gradebook import query_scalar

    query = (select(SubmittedAssignment.extension).join(Assignment).join(Student)
             .where(Assignment.name == assignment, Student.id == student))
    return query_scalar(url, SubmittedAssignment, query) or None


def sync_extension(root: Path, assignment: str, student: str, url: str | None = None) -> timedelta | None:
    """Make the gradebook's submission of ``student`` hold the extension course.toml gives
    (creating the student and the submission for one, clearing one course.toml no longer
    gives); return it. Writes only when something changes."""
    from course.gradebook import db_url, open_gradebook

    url = url or db_url(root)
    try:
        student.encode("utf-8")
    except UnicodeEncodeError:  # a folder name of undecodable bytes: course.toml cannot name it
        return None
    extra = extension_for(root, assignment, student, url)
    if gradebook_extension(url, assignment, student) == extra:
        return extra
    with open_gradebook(url) as gb:
        gb.update_or_create_student(student)
        with gb.db.no_autoflush:  # nbgrader builds the new submission's rows before adding it
            gb.update_or_create_submission(assignment, student, extension=extra)
    return extra


def describe(extra: timedelta | None, due: datetime | None = None) -> str:
    """'48 h (until 2026-12-03T23:59:00+00:00)', for logs and reports."""
    if not extra:
        return "none"
    hours = f"{extra / timedelta(hours=1):g} h"
    return f"{hours} (until {(due + extra).astimezone(timezone.utc).isoformat()})" if due else hours
