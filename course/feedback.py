"""Stage `feedback`: autograded/ -> feedback/ (HTML for students), grades.csv, grades table.

Feedback goes through HideHiddenTests (nbgrader_config.py): students see each test's
verdict and points, never the hidden test code, inputs or mark schemes. What the student
wrote is sanitised and every page carries a Content-Security-Policy that forbids scripts
(autograder/sanitize.py); ``lock_down_feedback`` checks each HTML file under feedback/
afterwards and adds the policy to any that lacks it (an HTML file the student handed in,
which nbgrader copies back, or a page made without the course's config).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from course import ROOT
from course.config import assignments, log, run_nbgrader


def grades(root: Path = ROOT) -> list[dict]:
    """One row per (assignment, student): autograded score and manual points pending."""

    from nbgrader.api import MissingEntry

    from course.gradebook import db_url, open_gradebook

    rows = []
    with open_gradebook(db_url(root)) as gb:
        for assignment in assignments(root):
            try:
                gb.find_assignment(assignment)
            except MissingEntry:  # never graded, nor synced: no rows (anything else is an error)
                continue
            subs = gb.assignment_submissions(assignment)
            for sub in subs:
                auto = auto_max = manual_max = 0.0
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        if grade.cell.cell_type == "code" and grade.auto_score is not None:
                            auto += grade.auto_score
                            auto_max += grade.max_score
                        else:
                            manual_max += grade.max_score
                rows.append({
                    "assignment": assignment,
                    "student": sub.student_id,
                    "auto_score": auto,
                    "auto_max": auto_max,
                    "manual_pending": manual_max,
                })
    return sorted(rows, key=lambda r: (r["assignment"], r["student"]))


def table(rows: list[dict], intake: dict | None = None) -> str:
    intake = intake or {}
    lines = [f"{'assignment':24s} {'student':12s} {'autograded':>12s} {'manual (pending)':>17s}  notes",
             "-" * 90]
    for r in rows:
        notes = intake.get(r["assignment"], {}).get(r["student"], [])
        note = f"{len(notes)} intake note(s)" if notes else ""
        lines.append(f"{r['assignment']:24s} {r['student']:12s} {r['auto_score']:6g} / {r['auto_max']:<4g} "
                     f"{r['manual_pending']:>12g} pts   {note}")
    return "\n".join(lines)


HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def lock_down_feedback(root: Path, assignment: str) -> list[str]:
    """Give every HTML file of feedback/*/<assignment>/ the feedback CSP; return what was changed."""
    from autograder.sanitize import lock_down, page_problems

    changed = []
    for student_dir in sorted((Path(root) / "feedback").glob("*")):
        folder = student_dir / assignment
        if student_dir.is_symlink() or folder.is_symlink() or not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in HTML_SUFFIXES or path.is_symlink() or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            problems = page_problems(text)
            if problems:
                path.write_text(lock_down(text), encoding="utf-8")
                changed.append(f"{path.relative_to(root)}: {'; '.join(problems)}; locked down "
                               "(scripts removed, Content-Security-Policy added)")
    return changed


def feedback(root: Path = ROOT, which: list[str] | None = None) -> list[dict]:
    root = Path(root)
    logfile = root / "build" / "logs" / "feedback.log"
    for assignment in which or assignments(root):
        run_nbgrader(root, ["generate_feedback", assignment, "--force"], logfile, check=False)
        log("feedback", f"feedback/*/{assignment}: written")
        for note in lock_down_feedback(root, assignment):
            log("feedback", "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in note))
    run_nbgrader(root, ["export", "--to", str(root / "grades.csv")], logfile)
    log("feedback", f"grades exported to {root / 'grades.csv'}")
    rows = grades(root)
    report = root / "build" / "intake_report.json"
    intake = json.loads(report.read_text()) if report.exists() else {}
    print(table(rows, intake), flush=True)
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / "grades.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course feedback")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--lms", choices=("canvas", "moodle"),
                        help="then bundle each student's pages for the LMS into build/lms/ (course/feedback_bundle.py)")
    parser.add_argument("--roster", type=Path, help="with --lms: CSV with id,lms_id,first_name,last_name,email "
                                                    "(default: the gradebook's students)")
    args = parser.parse_args(argv)
    if args.roster and not args.lms:
        parser.error("--roster goes with --lms")
    if args.lms:  # check the roster before the long part
        from course.feedback_bundle import roster_or_gradebook, run
        from course.grades import RosterError

        try:
            roster_or_gradebook(ROOT, args.roster)
        except RosterError as exc:
            print(f"[feedback] {exc}", file=sys.stderr)
            return 2
    feedback(ROOT, args.assignment or None)
    if args.lms:
        run(ROOT, args.lms, args.roster, args.assignment or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
