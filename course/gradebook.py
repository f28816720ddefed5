"""Stage `gradebook`: make sure grading has everything it needs, whoever starts it.

``python -m course gradebook [assignment ...]`` (also run by ``course autograde`` and, for
plain ``nbgrader autograde``, by nbgrader_config.py):

1. the release of each assignment exists (else: run ``./course.sh release``);
2. its answers match the manifest and the tree (else: run ``./course.sh answers``);
3. the sandbox works here (else: run ``./course.sh setup``), and how its limits are
   enforced: "cgroup v2" or "cgroup v1" (a cgroup per kernel: memory with shared memory
   and tmpfs counted, processes, CPU weight) or "rlimits only" (per-process limits, no
   writable cgroup here); the log says which, and why (``autograder.cgroups``);
4. the gradebook knows the assignment, its notebooks and cells. On a fresh clone
   (no ``gradebook.db``) or for a new assignment it is synced from ``source/`` with
   nbgrader's generate_assignment, writing the generated release to a scratch folder so
   the committed ``assignments/`` is not touched;
5. the assignment's due date in the gradebook (where nbgrader's ``AssignLatePenalties``
   reads it) is course.toml's ``[grading] due_dates.<assignment>`` when set
   (``sync_due_date``, which ``./course.sh collect`` uses too); without one, a due date set
   with ``nbgrader db assignment add ASSIGNMENT --duedate=...`` stays as it is;
6. the generated offline data exist (the sandbox mounts them read-only).

Any missing piece raises ``GradingNotReady`` with the command that fixes it.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from course import ROOT


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


class GradingNotReady(RuntimeError):
    """Something grading needs is missing; the message names the command to run."""


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

    where = f"course.toml [grading] due_dates.{assignment}"
    due = (settings(root).get("grading", {}).get("due_dates") or {}).get(assignment)
    if due is None:
        return None
    if isinstance(due, datetime):
        stamp = due
    else:
        try:
            stamp = datetime.fromisoformat(str(due).strip().replace("Z", "+00:00"))
        except ValueError:
            raise DueDateError(f"{where}: {str(due)!r} is not an ISO 8601 time such as "
                               "2026-12-01T23:59:00+00:00") from None
    if stamp.tzinfo is None:
        raise DueDateError(f"{where} has no UTC offset; write it as 2026-12-01T23:59:00+00:00")
    return stamp


def gradebook_due_date(url: str, assignment: str) -> datetime | None:
    """The due date the gradebook at ``url`` holds for ``assignment`` (UTC), None if none.

    One query (about a millisecond, so it can be asked once per student), through nbgrader's
    own table definition; never creates the gradebook or its tables.
    """
    from nbgrader.api import Assignment
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        return None
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            if not engine.dialect.has_table(session.connection(), Assignment.__tablename__):
                return None
            stamp = session.execute(select(Assignment.duedate).where(Assignment.name == assignment)).scalar()
    finally:
        engine.dispose()
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
        raise GradingNotReady(f"could not sync the gradebook for {assignment}: "
                              f"{(proc.stdout + proc.stderr)[-1500:]}")


def _env() -> dict:
    from course.config import tool_env

    env = tool_env()
    env["COURSE_SKIP_PREFLIGHT"] = "1"  # nbgrader_config.py: no preflight inside the sync itself
    return env


def prepare(root: Path = ROOT, which: list[str] | None = None, log=print) -> None:
    """Steps 1 to 6 of the module doc for ``which`` (default: every assignment)."""
    from autograder.answers import AnswersInvalid, verify_answers
    from autograder.sandbox import SandboxUnavailable, check_sandbox
    from course.config import assignments, prepare_offline_data

    root = Path(root)
    todo = which or assignments(root)
    for assignment in todo:
        if not (root / "source" / assignment).is_dir():
            raise GradingNotReady(f"there is no assignment {assignment!r} in source/")
        if not any((root / "assignments" / assignment).glob("*.ipynb")):
            raise GradingNotReady(f"assignments/{assignment} is missing: run `./course.sh release {assignment}`")
        try:
            verify_answers(root, assignment)
        except AnswersInvalid as exc:
            raise GradingNotReady(str(exc)) from None
        try:
            configured_due_date(root, assignment)
        except DueDateError as exc:
            raise GradingNotReady(str(exc)) from None
    try:
        mode = check_sandbox()
    except SandboxUnavailable as exc:
        raise GradingNotReady(str(exc)) from None
    log(f"[gradebook] sandbox limits: {mode}")
    known = known_assignments(root)
    for assignment in todo:
        if assignment not in known:
            log(f"[gradebook] {assignment}: not in the gradebook yet; syncing it from source/")
            sync_gradebook(root, assignment)
    for assignment in todo:
        due, source = sync_due_date(root, assignment)
        if due is not None:
            log(f"[gradebook] {assignment}: due {due.isoformat()} ({source})")
    prepare_offline_data()


_PREPARED: set = set()  # assignments this process has run the preflight for


def preflight_hook(root: Path, then):
    """An nbgrader ``pre_convert_hook`` for plain ``nbgrader autograde`` and the formgrader:
    the preflight (``prepare``) of the assignment being graded, once per process, then
    ``then`` (the intake's hook). nbgrader calls it for each submission before it looks
    the assignment up in the gradebook, so a fresh clone's gradebook is synced in time.
    ``COURSE_SKIP_PREFLIGHT`` (set by ``course autograde``, which runs it itself) skips it.
    Grading that cannot start stops the command with exit status 2 and the reason (in the
    formgrader, nbgrader reports it as the failed autograde's error)."""
    import os

    def hook(assignment=None, student=None, notebooks=None, **kwargs):
        if notebooks and not os.environ.get("COURSE_SKIP_PREFLIGHT"):
            name = Path(os.path.abspath(notebooks[0])).parent.name  # submitted/<student>/<assignment>/
            if name not in _PREPARED:
                try:
                    prepare(root, [name], log=lambda message: print(message, file=sys.stderr))
                except GradingNotReady as exc:
                    print(f"[course] grading cannot start: {exc}", file=sys.stderr)
                    raise SystemExit(2) from None  # not an Exception: nbgrader would swallow it
                _PREPARED.add(name)
        return then(assignment=assignment, student=student, notebooks=notebooks, **kwargs)

    return hook


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course gradebook")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--force", action="store_true", help="sync even assignments the gradebook knows")
    args = parser.parse_args(argv)
    try:
        if args.force:
            from course.config import assignments

            for assignment in args.assignment or assignments(ROOT):
                sync_gradebook(ROOT, assignment)
        prepare(ROOT, args.assignment or None)
    except GradingNotReady as exc:
        print(f"[gradebook] not ready: {exc}", file=sys.stderr)
        return 2
    print("[gradebook] ready to grade")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
