"""Stage `feedback`: autograded/ -> feedback/ (HTML for students), grades.csv, grades table.

Feedback goes through HideHiddenTests (nbgrader_config.py): students see each test's
verdict and points, never the hidden test code, inputs or mark schemes. What the student
wrote is sanitised and every page carries a Content-Security-Policy that forbids scripts
(autograder/sanitize.py); ``lock_down_feedback`` checks each HTML file under feedback/
afterwards and adds the policy to any that lacks it (an HTML file the student handed in,
which nbgrader copies back, or a page made without the course's config).

A class's pages are made in batches of students side by side on the grading engine
(course/engine.py: a local Dask cluster, or threads), each batch one nbgrader process
(``python -m course.feedback --batch``) in the course folder; a batch that fails is
reported with its students, and the others are written. On an external cluster the
workers would need the course folder at the same path, so feedback runs locally.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from course import ROOT
from course.config import assignments, kernel_env, log, run_nbgrader


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


def graded_students(root: Path, assignment: str) -> list[str]:
    """Students with an autograded/<student>/<assignment> folder (what feedback is made from)."""
    base = Path(root) / "autograded"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir()
                  if not p.is_symlink() and (p / assignment).is_dir() and not (p / assignment).is_symlink())


def batches(students: list[str], workers: int, largest: int = 25, total: int | None = None) -> list[list[str]]:
    """``students`` in consecutive batches: about two per worker for the ``total`` student
    pages of the run (default: these students), at most ``largest`` each, so workers share
    the class evenly while each batch pays nbgrader's start-up once."""
    if not students:
        return []
    size = max(1, min(largest, math.ceil((total or len(students)) / (2 * max(1, workers)))))
    return [students[k:k + size] for k in range(0, len(students), size)]


def feedback_task(task: dict, timeout: float | None = None) -> dict:
    """Feedback pages of one batch of students (``task["students"]``), in one nbgrader
    process in the course folder (``task["root"]``, shared with the coordinator), started as
    grading runs are (``course.task.run_module``: forked from the worker's warm fork server).
    A student is done only when the batch said so (a JSON line each): a batch that dies or
    times out fails the rest."""
    from course.late import SETTLED
    from course.task import run_module

    root, students = Path(task["root"]), list(task["students"])
    env = dict(kernel_env(root), **{SETTLED: "1"})  # the coordinator settled the penalties (feedback())
    log, _ = run_module(["course.feedback", "--batch", task["assignment"], *students], root, env,
                        root, timeout)
    done = {}
    for line in log.splitlines():
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("student") in students:
                done[row["student"]] = bool(row.get("ok"))
    failed = [s for s in students if not done.get(s)]
    notes = [f"feedback failed for {', '.join(failed)}"] if failed else []
    return {"assignment": task["assignment"], "student": task["student"], "ok": not failed, "notes": notes,
            "failed": failed, "log": log[-20000:]}


def _generate_batch(root: Path, assignment: str, students: list[str]) -> int:
    """In this process: nbgrader's generate_feedback (with the course's configuration) for
    each of ``students``, one JSON line per student on stdout."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    api = NbGraderAPI(config=config)
    for student in students:
        outcome = api.generate_feedback(assignment, student, force=True)
        if not outcome.get("success"):
            print(outcome.get("log", ""), outcome.get("error", ""), file=sys.stderr)
        print(json.dumps({"student": student, "ok": bool(outcome.get("success"))}), flush=True)
    return 0


def feedback(root: Path = ROOT, which: list[str] | None = None, *, workers: int | None = None,
             engine: str = "dask") -> list[dict]:
    """Feedback pages for every graded student of ``which`` (default: all), then the grades.

    Batches of students run side by side on the grading engine (course/engine.py): a local
    Dask cluster of ``workers`` processes, or threads (``engine="local"``, or one worker).
    A batch that fails is reported with its students; the others are written."""
    from course.engine import default_workers, run_tasks
    from course.late import settle_penalties

    root = Path(root)
    workers = workers or default_workers()
    logfile = root / "build" / "logs" / "feedback.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    classes = {a: graded_students(root, a) for a in which or assignments(root)}
    # Late penalties against the scores as graded now (a grader's points included), once,
    # here: each batch's generate_feedback would otherwise settle its own students (course/late.py).
    for line in settle_penalties(root, assignments=[a for a, students in classes.items() if students]):
        log("feedback", line)
    total = sum(len(students) for students in classes.values())
    # every assignment's batches on one engine, side by side (one cluster for the run)
    tasks = [{"root": str(root), "assignment": assignment, "students": batch,
              "student": f"{batch[0]}..{batch[-1]}" if len(batch) > 1 else batch[0]}
             for assignment, students in classes.items() for batch in batches(students, workers, total=total)]
    failed = {assignment: [] for assignment in classes}

    def on_result(result):
        with open(logfile, "a") as f:
            f.write(f"--- {result['assignment']} {result['student']}\n{result.get('log', '')}\n")
        if not result["ok"]:
            failed[result["assignment"]].extend(result.get("failed") or [result["student"]])

    run_tasks(tasks, min(workers, max(1, len(tasks))), engine, on_result=on_result, size=len(tasks),
              fn=feedback_task, timeout=3600)
    for assignment, students in classes.items():
        lost = failed[assignment]
        log("feedback", f"feedback/*/{assignment}: written for {len(students) - len(lost)} student(s)"
                        + (f"; FAILED for {', '.join(lost)} (see {logfile.relative_to(root)})" if lost else ""))
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

    if argv[:1] == ["--batch"]:  # one batch of feedback_task, in its own process
        return _generate_batch(Path.cwd(), argv[1], argv[2:])
    parser = argparse.ArgumentParser(prog="python -m course feedback")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--workers", type=int, default=None, help="batches side by side (default: the cores)")
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
    feedback(ROOT, args.assignment or None, workers=args.workers)
    if args.lms:
        run(ROOT, args.lms, args.roster, args.assignment or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
