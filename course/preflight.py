"""Stage `preflight`: make sure grading has everything it needs, whoever starts it.

``python -m course preflight [assignment ...]`` (``./course.sh preflight``; ``gradebook``,
the verb's old name, still works), also run by ``course autograde`` and, for plain
``nbgrader autograde`` and the formgrader, by nbgrader_config.py (``preflight_hook``):

1. the release of each assignment exists (else: run ``./course.sh release``);
2. its answers match the manifest and the tree (else: run ``./course.sh answers``);
3. the sandbox works here (else: run ``./course.sh setup``), and how its limits are
   enforced: "cgroup v2" or "cgroup v1" (a cgroup per kernel: memory with shared memory
   and tmpfs counted, processes, CPU weight) or "rlimits only" (per-process limits, no
   writable cgroup here); the log says which, and why (``autograder.cgroups``);
4. the gradebook knows the assignment, its notebooks and cells. On a fresh clone
   (no ``gradebook.db``) or for a new assignment it is synced from ``source/``
   (``course.gradebook.sync_gradebook``);
5. the assignment's due date in the gradebook (where nbgrader's ``AssignLatePenalties``
   reads it) is course.toml's ``[grading] due_dates.<assignment>`` when set
   (``course.gradebook.sync_due_date``, which ``./course.sh collect`` uses too); without
   one, a due date set with ``nbgrader db assignment add ASSIGNMENT --duedate=...`` stays
   as it is; course.toml's extensions of the assignment (``[grading] extensions.<assignment>.
   <student>``, course/extensions.py) are checked and listed, and the hook writes each into
   its student's submission before nbgrader grades it;
6. scratch folders that grading processes of this host left when they were killed outright
   are removed (``autograder.scratch``);
7. the generated offline data exist (the sandbox mounts them read-only).

Any missing piece raises ``GradingNotReady`` with the command that fixes it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.scratch import sweep_scratch
from course import ROOT
from course.extensions import configured_extensions, describe, sync_extension
from course.gradebook import (DueDateError, GradebookSyncFailed, configured_due_date, known_assignments,
                              sync_due_date, sync_gradebook)


class GradingNotReady(RuntimeError):
    """Something grading needs is missing; the message names the command to run."""


def _sync(root: Path, assignment: str) -> None:
    """``sync_gradebook``, its failure a GradingNotReady."""
    try:
        sync_gradebook(root, assignment)
    except GradebookSyncFailed as exc:
        raise GradingNotReady(str(exc)) from None


def prepare(root: Path = ROOT, which: list[str] | None = None, log=print) -> None:
    """Steps 1 to 7 of the module doc for ``which`` (default: every assignment)."""
    from autograder.answer_store import AnswersInvalid, verify_answers
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
    log(f"[preflight] sandbox limits: {mode}")
    known = known_assignments(root)
    for assignment in todo:
        if assignment not in known:
            log(f"[preflight] {assignment}: not in the gradebook yet; syncing it from source/")
            _sync(root, assignment)
    for assignment in todo:
        due, source = sync_due_date(root, assignment)
        if due is not None:
            log(f"[preflight] {assignment}: due {due.isoformat()} ({source})")
        try:
            extensions = configured_extensions(root, assignment, due)
        except DueDateError as exc:
            raise GradingNotReady(str(exc)) from None
        if extensions:
            log(f"[preflight] {assignment}: extensions: " + "; ".join(
                f"{student} {describe(extra, due)}" for student, extra in sorted(extensions.items())))
    for line in sweep_scratch():  # folders of grading processes on this host that were killed outright
        log(f"[preflight] {line}")
    prepare_offline_data()


_PREPARED: set = set()  # assignments this process has run the preflight for


def preflight_hook(root: Path, then):
    """An nbgrader ``pre_convert_hook`` for plain ``nbgrader autograde`` and the formgrader:
    the preflight (``prepare``) of the assignment being graded, once per process, then the
    student's extension written into the gradebook (``sync_extension``), then ``then`` (the
    intake's hook). nbgrader calls it for each submission before it looks the assignment up
    in the gradebook, so a fresh clone's gradebook is synced in time.
    ``COURSE_SKIP_PREFLIGHT`` (set by ``course autograde``, which runs it itself) skips the
    preflight, not the extension: each task of ``course autograde`` writes it into its own
    gradebook. Grading that cannot start stops the command with exit status 2 and the reason
    (in the formgrader, nbgrader reports it as the failed autograde's error)."""
    import os

    def stop(exc: Exception):
        print(f"[course] grading cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None  # not an Exception: nbgrader would swallow it

    def hook(assignment=None, student=None, notebooks=None, **kwargs):
        folder = Path(os.path.abspath(notebooks[0])).parent if notebooks else None  # submitted/<student>/<assignment>/
        if folder is not None and folder.name not in _PREPARED and not os.environ.get("COURSE_SKIP_PREFLIGHT"):
            try:
                prepare(root, [folder.name], log=lambda message: print(message, file=sys.stderr))
            except GradingNotReady as exc:
                stop(exc)
            _PREPARED.add(folder.name)
        # The intake's hook before anything that reads the student's name: nbgrader swallows an
        # Exception from this hook, and the folder must be made safe whatever happens after.
        made_safe = then(assignment=assignment, student=student, notebooks=notebooks, **kwargs)
        if folder is not None:
            try:
                extra = sync_extension(root, folder.name, folder.parent.name)
            except DueDateError as exc:
                stop(exc)
            if extra:
                print(f"[course] {folder.parent.name}: an extension of {describe(extra)} on {folder.name}",
                      file=sys.stderr)
        return made_safe

    return hook


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course preflight")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--force", action="store_true", help="sync even assignments the gradebook knows")
    args = parser.parse_args(argv)
    try:
        if args.force:
            from course.config import assignments

            for assignment in args.assignment or assignments(ROOT):
                _sync(ROOT, assignment)
        prepare(ROOT, args.assignment or None)
    except GradingNotReady as exc:
        print(f"[preflight] not ready: {exc}", file=sys.stderr)
        return 2
    print("[preflight] ready to grade")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
