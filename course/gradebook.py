"""The course's gradebook (nbgrader's database): where it is, opening it, what it knows,
syncing an assignment into it from source/, and due dates.

- ``db_url``: its URL (``COURSE_GRADEBOOK_URL``, else course.toml ``[grading]
  gradebook_url``, else ``gradebook.db`` in the course root), as nbgrader_config.py resolves it;
- ``open_gradebook``: nbgrader's ``Gradebook`` for this course;
- ``known_assignments`` / ``sync_gradebook``: the assignments it holds, and an assignment
  synced from ``source/`` with nbgrader's generate_assignment (the generated release goes to
  a scratch folder, so the committed ``assignments/`` is not touched);
- due dates: course.toml's ``[grading] due_dates.<assignment>`` (``configured_due_date``),
  the gradebook's (``gradebook_due_date``, where nbgrader's ``AssignLatePenalties`` reads
  it), the one in force (``due_date``) and course.toml's written into the gradebook
  (``sync_due_date``, run by the grading preflight, course/preflight.py, and by
  ``./course.sh collect``). Without a course.toml due date, one set with ``nbgrader db
  assignment add ASSIGNMENT --duedate=...`` stays as it is.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

COURSE_ID = "dlcourse"  # nbgrader's course id (nbgrader_config.py sets the same)


def open_gradebook(url: str):
    """nbgrader's Gradebook at ``url`` for this course.

    Creating a new gradebook, nbgrader runs ``alembic`` by name: for that moment only, the
    PATH of ``course.config.tool_env`` is this process's (and restored after)."""
    import os

    from nbgrader.api import Gradebook

    from course.config import tool_env

    saved = os.environ.get("PATH")
    os.environ["PATH"] = tool_env()["PATH"]
    try:
        return Gradebook(url, course_id=COURSE_ID)
    finally:
        if saved is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = saved


def db_url(root: Path) -> str:
    """The gradebook's URL, resolved as nbgrader_config.py does."""
    import os

    from course.config import settings

    return (os.environ.get("COURSE_GRADEBOOK_URL") or settings(root)["grading"].get("gradebook_url")
            or "sqlite:///" + str(Path(root) / "gradebook.db"))


class DueDateError(ValueError):
    """course.toml's due date of an assignment cannot be used; the message says how to write it."""


def configured_due_date(root: Path, assignment: str) -> datetime | None:
    """course.toml's ``[grading] due_dates.<assignment>`` (with its UTC offset), None when not set."""
    from course.config import settings

    due = (settings(root).get("grading", {}).get("due_dates") or {}).get(assignment)
    return None if due is None else parse_time(due, f"course.toml [grading] due_dates.{assignment}")


def parse_time(value, where: str) -> datetime:
    """A time course.toml gives (a TOML date-time, or ISO 8601 text) with its UTC offset;
    DueDateError, naming ``where``, when it is not one."""
    if isinstance(value, datetime):
        stamp = value
    else:
        try:
            stamp = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise DueDateError(f"{where}: {str(value)!r} is not an ISO 8601 time such as "
                               "2026-12-01T23:59:00+00:00") from None
    if stamp.tzinfo is None:
        raise DueDateError(f"{where} has no UTC offset; write it as 2026-12-01T23:59:00+00:00")
    return stamp


def query_scalar(url: str, table, query):
    """The first value ``query`` (a SQLAlchemy select over nbgrader's tables) finds in the
    gradebook at ``url``; None when there is none, or no gradebook, or no ``table`` in it.

    One query (about a millisecond, so it can be asked once per student); never creates the
    gradebook or its tables, as opening nbgrader's ``Gradebook`` would.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        return None
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            if not engine.dialect.has_table(session.connection(), table.__tablename__):
                return None
            return session.execute(query).scalar()
    finally:
        engine.dispose()


def gradebook_due_date(url: str, assignment: str) -> datetime | None:
    """The due date the gradebook at ``url`` holds for ``assignment`` (UTC), None if none."""
    from nbgrader.api import Assignment
    from sqlalchemy import select

    stamp = query_scalar(url, Assignment, select(Assignment.duedate).where(Assignment.name == assignment))
    return stamp.replace(tzinfo=timezone.utc) if stamp else None


def due_date(root: Path, assignment: str, url: str | None = None) -> tuple[datetime | None, str]:
    """(the due date of ``assignment``, where it comes from: "course.toml", "gradebook" or ""),
    without writing anything. DueDateError if course.toml's cannot be used."""
    due = configured_due_date(root, assignment)
    if due is not None:
        return due, "course.toml"
    due = gradebook_due_date(url or db_url(root), assignment)
    return (due, "gradebook") if due else (None, "")


def sync_due_date(root: Path, assignment: str, url: str | None = None) -> tuple[datetime | None, str]:
    """Write course.toml's due date of ``assignment`` into the gradebook (at ``url``) when it is
    set and the gradebook holds another; return ``due_date``'s (due date, source)."""
    due, source = due_date(root, assignment, url)
    if source == "course.toml":
        url = url or db_url(root)
        if gradebook_due_date(url, assignment) != due.astimezone(timezone.utc):
            with open_gradebook(url) as gb:
                gb.update_or_create_assignment(assignment, duedate=due)
    return due, source


def known_assignments(root: Path, url: str | None = None) -> set[str]:
    """Assignment ids the gradebook holds with at least one notebook."""
    url = url or db_url(root)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return set()
    with open_gradebook(url) as gb:
        return {a.name for a in gb.assignments if a.notebooks}


class GradebookSyncFailed(RuntimeError):
    """nbgrader could not sync an assignment into the gradebook; the message holds its output."""


def sync_gradebook(root: Path, assignment: str, url: str | None = None) -> None:
    """Create or update the gradebook entries of ``assignment`` from source/ (in ``url``)."""
    root = Path(root)
    env = _env()
    env["COURSE_GRADEBOOK_URL"] = url or db_url(root)
    with tempfile.TemporaryDirectory(prefix="dlcourse-gradebook-") as scratch:
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
               f"--CourseDirectory.release_directory={scratch}"]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True,
                              env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise GradebookSyncFailed(f"could not sync the gradebook for {assignment}: "
                                  f"{(proc.stdout + proc.stderr)[-1500:]}")


def _env() -> dict:
    from course.config import tool_env

    env = tool_env()
    env["COURSE_SKIP_PREFLIGHT"] = "1"  # nbgrader_config.py: no preflight inside the sync itself
    return env
