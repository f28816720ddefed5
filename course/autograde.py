"""Stage `autograde`: submitted/ -> autograded/ with nbgrader, every notebook sandboxed.

``python -m course autograde [assignment ...] [--student S ...]``:

1. preflight (course/gradebook.py): the release, the answers (checked against their
   manifest), the sandbox and the offline data are there, and the gradebook knows each
   assignment (synced from source/ on a fresh clone). A missing piece stops here with the
   command that fixes it; no grade is written.
2. ``nbgrader autograde`` per assignment. Everything that protects grading runs inside
   it (nbgrader_config.py): intake and quarantine (autograder/intake.py), one bubblewrap
   sandbox per notebook with a cell timeout and a notebook deadline
   (autograder/sandbox.py), verdicts compared with the answers outside the kernel
   (autograder/nbgrader_plugins.py). The submissions in submitted/ are never modified,
   except that links and special files are moved to build/quarantine/.
3. the answers are checked again after grading, what intake did is gathered into
   build/intake_report.json, and students whose grading failed are listed.

A watchdog kills nbgrader if a whole assignment takes longer than every notebook's
deadline together (it never should: each notebook has its own deadline).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from course import ROOT
from course.config import assignments, log, notebooks, run_nbgrader, settings
from course.gradebook import GradingNotReady, prepare


def students(root: Path, assignment: str) -> list[str]:
    sub = Path(root) / "submitted"
    if not sub.exists():
        return []
    return sorted(p.name for p in sub.iterdir() if (p / assignment).is_dir() and not p.is_symlink())


def intake_notes(root: Path, assignment: str, student: str) -> list[str]:
    folder = Path(root) / "build" / "intake" / student / assignment
    notes = []
    for path in sorted(folder.glob("*.json")):
        notes.extend(json.loads(path.read_text()))
    return notes


def autograde(root: Path = ROOT, which: list[str] | None = None, only: list[str] | None = None) -> dict:
    """Grade every submission (or those of ``only``); return {assignment: {student: notes}}."""
    root = Path(root)
    todo = which or assignments(root)
    prepare(root, todo, log=print)
    report = {}
    logfile = root / "build" / "logs" / "autograde.log"
    grading = settings(root)["grading"]
    for assignment in todo:
        report[assignment] = {}
        everyone = students(root, assignment)
        who = [s for s in (only or everyone) if s in everyone]
        for student in who:
            shutil.rmtree(root / "autograded" / student / assignment, ignore_errors=True)
            shutil.rmtree(root / "build" / "intake" / student / assignment, ignore_errors=True)
        if not who:
            continue
        args = ["autograde", assignment, "--force"]
        if only:
            args.append("--CourseDirectory.student_id_exclude=" + ",".join(sorted(set(everyone) - set(who))))
        per_student = int(grading["notebook_deadline"]) * max(1, len(notebooks(root, "assignments", assignment))) + 120
        try:
            run_nbgrader(root, args, logfile, check=False, timeout=per_student * len(who) + 300,
                         extra_env={"COURSE_SKIP_PREFLIGHT": "1"})
        except subprocess.TimeoutExpired:
            log("autograde", f"{assignment}: nbgrader exceeded its watchdog and was stopped (see {logfile})")
        from autograder.answers import verify_answers

        verify_answers(root, assignment)  # grading must not have changed them
        for student in who:
            report[assignment][student] = intake_notes(root, assignment, student)
            for note in report[assignment][student]:
                log("autograde", f"{student}/{assignment}: intake: {note}")
            if (root / "autograded" / student / assignment).is_dir():
                log("autograde", f"{student}/{assignment}: graded")
            else:
                report[assignment][student].append(f"grading failed (see {logfile.relative_to(root)})")
                log("autograde", f"{student}/{assignment}: GRADING FAILED (the rest of the class is still graded)")
    out = root / "build" / "intake_report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(out.read_text()) if out.exists() else {}
    for assignment, rows in report.items():
        old.setdefault(assignment, {}).update(rows)
    out.write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    return report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course autograde")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--student", action="append", help="grade only this student (repeatable)")
    args = parser.parse_args(argv)
    try:
        autograde(ROOT, args.assignment or None, args.student)
    except GradingNotReady as exc:
        log("autograde", f"grading cannot start: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
