"""Stage `autograde`: submitted/ -> autograded/, every notebook sandboxed, a class at a time.

``python -m course autograde [assignment ...] [--student S ...] [--workers N]
[--scheduler tls://HOST:PORT --tls-ca-file CA --tls-cert CERT --tls-key KEY | --engine local]
[--force]``:

1. preflight (course/preflight.py): the release, the answers (checked against their
   manifest), the sandbox and the offline data are there, and the gradebook knows each
   assignment (synced from source/ on a fresh clone). A missing piece stops here with the
   command that fixes it; no grade is written.
2. each student's assignment is one task (course/task.py): plain ``nbgrader autograde``
   in a private course view, with everything that protects grading inside it
   (nbgrader_config.py: intake and quarantine, one bubblewrap sandbox per notebook,
   verdicts against the answers). The tasks of all the assignments graded share one pool
   (a student's whole submission is graded N notebooks at a time) and run on a local Dask
   cluster of N workers, an existing Dask cluster (``--scheduler``) or threads
   (``--engine local``) (course/engine.py); this process alone merges their results into
   the gradebook, one transaction per student. The submissions are never modified.
3. the answers are checked again after grading, what intake did is gathered into
   build/intake_report.json, and students whose grading failed are listed.

A re-run skips students whose submission, answers and configuration are unchanged
(``--force`` regrades them); Ctrl-C leaves no half-written grades.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from autograder.submission import safe_text
from course import ROOT
from course.config import assignments, log, notebooks, settings
from course.engine import default_workers, grade_class
from course.gradebook import GradebookSyncFailed, db_url
from course.lock import CourseBusy, course_lock
from course.preflight import GradingNotReady, prepare


STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")  # shown in pages, paths and command lines


def students(root: Path, assignment: str) -> list[str]:
    """Students with an entry ``submitted/<student>/<assignment>``, whatever it is.

    Nothing is followed here: a student or submission folder that is a link, or a file,
    still makes a task, whose intake reports it and grades the untouched release
    (``autograder.submission.read_folder``). Folder names that are not STUDENT_ID (HTML,
    spaces, control characters, undecodable bytes, a leading dash) are reported and left out.
    """
    sub = Path(root) / "submitted"
    if not sub.is_dir():
        return []
    found = []
    for entry in sorted(os.listdir(sub)):
        if not STUDENT_ID.fullmatch(entry):
            log("autograde", f"submitted/{safe_text(entry)}: not a usable student id (letters, digits and "
                             "._@+- only); not graded: rename the folder")
            continue
        try:
            os.lstat(sub / entry / assignment)
        except OSError:
            continue
        found.append(entry)
    return found


def autograde(root: Path = ROOT, which: list[str] | None = None, only: list[str] | None = None, **options) -> dict:
    """Grade every submission (or those of ``only``); return {assignment: {student: notes}}.

    One run at a time: a second one stops with ``course.lock.CourseBusy`` naming this one.
    """
    with course_lock(root, "autograde"):
        return _autograde(Path(root), which, only, **options)


def _autograde(root: Path, which: list[str] | None, only: list[str] | None, *,
               workers: int | None = None, engine: str = "dask", scheduler: str | None = None,
               force: bool = False, tls_ca_file: str | None = None, tls_cert: str | None = None,
               tls_key: str | None = None, insecure: bool = False) -> dict:
    from autograder.answer_store import verify_answers

    todo = which or assignments(root)
    prepare(root, todo, log=print)
    workers = workers or default_workers()
    url = db_url(root)
    deadline = int(settings(root)["grading"]["notebook_deadline"])
    plan = {}
    for assignment in todo:
        everyone = students(root, assignment)
        plan[assignment] = [s for s in (only or everyone) if s in everyone]
    plan = {a: who for a, who in plan.items() if who}
    count = sum(len(who) for who in plan.values())
    # Every task of every assignment shares one pool: a student's whole submission is
    # graded `workers` notebooks at a time. A task's timeout covers its notebooks' deadlines.
    timeout = deadline * max([1] + [len(notebooks(root, "assignments", a)) for a in plan]) + 180
    dask = scheduler or (engine == "dask" and workers > 1 and count > 1)
    where = f"Dask at {scheduler}" if scheduler else f"{workers} {'Dask ' if dask else ''}worker(s)"
    for assignment, who in plan.items():
        log("autograde", f"{assignment}: {len(who)} student(s)")
    if plan:
        log("autograde", f"{count} student assignment(s) on {where}")
    rows = grade_class(root, plan, workers=workers, engine=engine, scheduler=scheduler,
                       force=force, db_url=url, timeout=timeout, tls_ca_file=tls_ca_file, tls_cert=tls_cert,
                       tls_key=tls_key, insecure=insecure) if plan else {}
    report = {}
    for assignment in todo:
        who = plan.get(assignment, [])
        report[assignment] = {}
        if not who:
            continue
        verify_answers(root, assignment)  # grading must not have changed them
        for student in who:
            row = rows[assignment].get(student, {"ok": False, "notes": ["not graded"]})
            report[assignment][student] = row["notes"]
            for note in row["notes"]:
                log("autograde", f"{student}/{assignment}: intake: {safe_text(note)}")
            if not row["ok"]:
                log("autograde", f"{student}/{assignment}: GRADING FAILED (the rest of the class is still graded)")
        failed = [s for s in who if not rows[assignment].get(s, {}).get("ok")]
        log("autograde", f"{assignment}: {len(who) - len(failed)} graded, {len(failed)} failed"
                         + (f": {', '.join(failed)}" if failed else ""))
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
    parser.add_argument("--workers", type=int, default=None,
                        help=f"students graded at once (default: the number of cores, {default_workers()})")
    parser.add_argument("--engine", choices=["dask", "local"], default="dask",
                        help="dask: a local Dask cluster of --workers processes (default); local: threads here")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of an existing Dask scheduler, tls://HOST:8786, reached with the --tls-* "
                             "files (a plain tcp:// one only with --insecure)")
    parser.add_argument("--tls-ca-file", metavar="PEM",
                        help="with --scheduler: the CA certificate that signed the cluster's certificates")
    parser.add_argument("--tls-cert", metavar="PEM", help="with --scheduler: this client's certificate")
    parser.add_argument("--tls-key", metavar="PEM",
                        help="with --scheduler: this client's private key (if not in --tls-cert)")
    parser.add_argument("--insecure", action="store_true",
                        help="with --scheduler: allow a plain tcp:// scheduler (no authentication: whoever "
                             "reaches its port runs code as the grader)")
    parser.add_argument("--force", action="store_true", help="regrade students whose submission is unchanged")
    args = parser.parse_args(argv)
    tls = {"tls_ca_file": args.tls_ca_file, "tls_cert": args.tls_cert, "tls_key": args.tls_key}
    if args.scheduler:
        from course.engine import SchedulerNotSecure, scheduler_security

        try:  # before anything runs: a plain scheduler or unusable TLS files stop here
            scheduler_security(args.scheduler, insecure=args.insecure, **tls)
        except SchedulerNotSecure as exc:
            parser.error(str(exc))
    elif any(tls.values()) or args.insecure:
        parser.error("--tls-ca-file, --tls-cert, --tls-key and --insecure go with --scheduler; "
                     "the local cluster makes its own TLS credentials for each run")
    try:
        autograde(ROOT, args.assignment or None, args.student, workers=args.workers, engine=args.engine,
                  scheduler=args.scheduler, force=args.force, insecure=args.insecure, **tls)
    except (GradingNotReady, GradebookSyncFailed) as exc:
        log("autograde", f"grading cannot start: {exc}")
        return 2
    except CourseBusy as exc:
        log("autograde", f"not started: {exc}")
        return 3
    except KeyboardInterrupt:
        log("autograde", "interrupted: every grade written so far is complete; run again to go on")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
