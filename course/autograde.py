"""Stage `autograde`: submitted/ -> autograded/ with nbgrader, after an intake step.

Intake (per student and notebook), so that one bad submission never stops the class:
- a missing notebook, or one that is not a valid notebook (broken JSON, wrong format),
  is replaced by the untouched release (it then scores zero) and reported;
- nbgrader metadata dropped or duplicated by an editor is repaired from the release
  (autograder/repair.py);
- originals are kept in build/intake/ before anything is changed (a regrade does not
  overwrite them with the repaired copy: a hash stamp tells the two apart).
Then ``nbgrader autograde`` runs every student; kernels that loop, exhaust memory, exit
or die fail only their own cells or notebook (timeouts and memory caps in
nbgrader_config.py and autograder/ipython/). Students whose grading failed are reported.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import nbformat

from autograder.repair import repair
from course import ROOT
from course.config import assignments, log, notebooks, prepare_offline_data, run_nbgrader


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def intake(root: Path, assignment: str, student: str) -> list[str]:
    """Check and repair one student's submission in place; return notes."""
    root = Path(root)
    folder = root / "submitted" / student / assignment
    keep = root / "build" / "intake" / student / assignment
    notes = []
    for release_path in notebooks(root, "assignments", assignment):
        path = folder / release_path.name
        release_nb = nbformat.read(str(release_path), as_version=4)
        if not path.exists():
            notes.append(f"{path.name}: missing; graded as the untouched release")
            nbformat.write(release_nb, str(path))
            continue
        keep.mkdir(parents=True, exist_ok=True)
        stamp = keep / f"{path.name}.intake-sha256"
        if not (stamp.exists() and stamp.read_text() == _sha256(path)):
            shutil.copy2(path, keep / path.name)  # the student's original (not our repaired copy)
        try:
            nb = nbformat.read(str(path), as_version=4)
            nbformat.validate(nb)
        except Exception as exc:  # invalid JSON, not a notebook, wrong schema
            reason = str(exc).splitlines()[0][:200]
            notes.append(f"{path.name}: not a valid notebook ({type(exc).__name__}: {reason}); graded as the untouched release")
            nbformat.write(release_nb, str(path))
            stamp.write_text(_sha256(path))
            continue
        fixes = repair(nb, release_nb)
        if fixes:
            notes.extend(f"{path.name}: {fix}" for fix in fixes)
            nbformat.write(nb, str(path))
            stamp.write_text(_sha256(path))
    return notes


def students(root: Path, assignment: str) -> list[str]:
    sub = Path(root) / "submitted"
    if not sub.exists():
        return []
    return sorted(p.name for p in sub.iterdir() if (p / assignment).is_dir())


def autograde(root: Path = ROOT, which: list[str] | None = None, only: list[str] | None = None) -> dict:
    """Intake and autograde every submission; return {assignment: {student: notes}}."""
    root = Path(root)
    report = {}
    logfile = root / "build" / "logs" / "autograde.log"
    prepare_offline_data()
    for assignment in which or assignments(root):
        report[assignment] = {}
        who = only or students(root, assignment)
        for student in who:
            notes = intake(root, assignment, student)
            report[assignment][student] = notes
            for note in notes:
                log("autograde", f"{student}/{assignment}: intake: {note}")
            shutil.rmtree(root / "autograded" / student / assignment, ignore_errors=True)
        # One nbgrader run for the whole class: it grades each student in turn and
        # carries on past a student whose grading fails.
        args = ["autograde", assignment, "--force"]
        if only:
            args.append("--CourseDirectory.student_id_exclude=" + ",".join(sorted(set(students(root, assignment)) - set(only))))
        run_nbgrader(root, args, logfile, check=False)
        for student in who:
            if (root / "autograded" / student / assignment).is_dir():
                log("autograde", f"{student}/{assignment}: graded")
            else:
                report[assignment][student].append(f"grading failed (see {logfile.relative_to(root)})")
                log("autograde", f"{student}/{assignment}: GRADING FAILED (the rest of the class is still graded)")
    out = root / "build" / "intake_report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course autograde")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--student", action="append", help="grade only this student (repeatable)")
    args = parser.parse_args(argv)
    autograde(ROOT, args.assignment or None, args.student)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
