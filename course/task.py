"""One grading task: one student's submission of one assignment, graded in isolation.

``grade_task(task)`` is what a worker runs, on this machine or on a Dask worker elsewhere.
The task carries the submission's files as bytes and returns the grades, comments and
autograded files as data, so a worker needs only a checkout of the private course
repository (``task["root"]``) and never the shared gradebook or other students' files.

Inside, it makes a private course view in a scratch folder: the course's configuration,
``autograder/``, ``source/`` and ``assignments/`` (links), a copy of a template gradebook
that knows the assignment, and the one submission. There it runs plain ``nbgrader
autograde <assignment> --student <student>`` with the course's nbgrader_config.py, so
the unit is exactly what every other entry point grades with: intake, one bubblewrap
sandbox per notebook, verdicts against the checked answers (autograder/). That run is a
process of its own, forked from the worker's warm fork server (course/forkserver.py:
nbgrader's and the cases' imports paid once per worker, not once per task), or started as
``python -m nbgrader`` when there is none (``COURSE_FORKSERVER=0``). ``result["phases"]``
says where its time went (``phases``; ``./course.sh bench --phases``).

``course.merge.merge_result`` (the coordinator, one writer) writes a result into the
real gradebook in one transaction and puts the autograded files in place with a rename.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from autograder.recognise import recognise, release_signatures
from autograder.rmtree import remove_tree
from autograder.scratch import make_scratch, sweep_once
from autograder.submission import TIMESTAMP, collected_record, collection_time, read_folder, safe_text
from course import forkserver
from course.config import tool_env

VIEW_LINKS = ("autograder", "assignments", "course")
VIEW_FILES = ("nbgrader_config.py", "course.toml")


def _read_tree(folder: Path) -> dict:
    """{relative path: base64 bytes} of the regular files under ``folder`` (links skipped)."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(folder))] = base64.b64encode(path.read_bytes()).decode("ascii")
    return out


def _write_tree(folder: Path, files: dict) -> None:
    for rel, data in files.items():
        target = Path(folder) / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            continue  # never write outside the folder
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))


def submission_files(root: Path, assignment: str, student: str) -> dict:
    """The submission as the task carries it: regular files only, read without following
    any link (``autograder.submission.read_folder``), its notebooks under their release
    names whatever the student called them (``autograder.recognise``), notes on what was
    left out or renamed, and the collector's submission time."""
    folder = read_folder(Path(root) / "submitted", student, assignment)
    files, notes = recognise(folder.files, assignment, release_signatures(Path(root) / "assignments"))
    stamp = collection_time(root, assignment, student)
    return {"files": {rel: base64.b64encode(data).decode("ascii") for rel, data in files.items()},
            "notes": folder.notes + notes, "time": stamp.isoformat() if stamp else None}


def task_key(root: Path, assignment: str, student: str, submission: dict) -> str:
    """What a grade depends on: the submission (with the collector's time), the answers and
    manifest, the release, the config (course.toml as read, but of its extensions only the
    student's own, so an extension regrades that student alone), and the assignment's due
    date in the gradebook (what the task's template gradebook holds: course.toml's, synced by
    the preflight, or one set with ``nbgrader db assignment add --duedate``), so a changed due
    date regrades."""
    from course.config import settings
    from course.extensions import extension_for
    from course.gradebook import db_url, gradebook_due_date

    digest = hashlib.sha256()
    digest.update(json.dumps(submission, sort_keys=True).encode())
    root = Path(root)
    for path in [root / "autograder" / "answers" / "MANIFEST.sha256", root / "nbgrader_config.py",
                 *sorted((root / "assignments" / assignment).glob("*.ipynb"))]:
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    if (root / "course.toml").exists():
        config = settings(root)
        config.get("grading", {}).pop("extensions", None)
        extra = extension_for(root, assignment, student)
        digest.update(b"course.toml\0" + json.dumps(config, sort_keys=True, default=str).encode()
                      + b"\0extension\0" + str(extra.total_seconds() if extra else None).encode())
    due = gradebook_due_date(db_url(root), assignment)
    digest.update(b"due date\0" + (due.isoformat() if due else "none").encode())
    return digest.hexdigest()


def make_task(root: Path, assignment: str, student: str, template_db: Path) -> dict:
    submission = submission_files(root, assignment, student)
    return {"root": str(root), "assignment": assignment, "student": student, "submission": submission,
            "template_db": str(template_db), "key": task_key(root, assignment, student, submission)}


def _gradebook_rows(db: Path, assignment: str, student: str) -> dict:
    from nbgrader.api import MissingEntry

    from course.gradebook import open_gradebook

    with open_gradebook(f"sqlite:///{db}") as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return {}
        out = {"timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
               "extension_seconds": sub.extension.total_seconds() if sub.extension else None, "notebooks": {}}
        for nb in sub.notebooks:
            out["notebooks"][nb.name] = {
                "late_submission_penalty": nb.late_submission_penalty,
                "grades": {g.name: g.auto_score for g in nb.grades},
                "comments": {c.name: c.auto_comment for c in nb.comments},
            }
        return out


RUNNING: set = set()  # nbgrader processes of the tasks running in this process


def _kill(proc) -> None:
    """Kill an nbgrader process group (its sandboxed kernels die with their parent); ``proc``
    is a ``subprocess.Popen`` or a forked ``course.forkserver.Run``, each its own group."""
    try:
        os.killpg(proc.pid, 9)
    except OSError:
        pass


def run_module(args: list[str], cwd: Path, env: dict, root: Path, timeout: float | None,
               warm: list[str] = ()) -> tuple[str, bool]:
    """``python -m args...`` in ``cwd`` with exactly ``env``, as a process of its own leading its
    own session: forked from this worker's warm fork server for ``root`` (course/forkserver.py:
    nbgrader's and the ``warm`` modules' imports paid once), else started plainly (the log then
    says why). Registered in RUNNING (Ctrl-C cancels it); after ``timeout`` seconds its group is
    killed. Returns (its output, stdout and stderr together; whether it was forked)."""
    proc = forkserver.spawn(args, str(cwd), env, str(root), warm=list(warm))
    why = "" if proc is not None or not forkserver.enabled(env) else \
        f"[course] no fork server ({'; '.join(forkserver.refused()) or 'unavailable'}): a plain process\n"
    if proc is None:
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    RUNNING.add(proc)
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        try:
            rest = proc.communicate(timeout=60)[0] or ""
        except subprocess.TimeoutExpired:
            rest = "(its output did not close within 60 s of the kill)\n"
        log = f"{args[0]} exceeded the task's {timeout} s watchdog\n" + rest
    finally:
        RUNNING.discard(proc)
    return why + log, not isinstance(proc, subprocess.Popen)


def cancel_running() -> None:
    """Stop every task running in this process (Ctrl-C): nothing of theirs is merged."""
    for proc in list(RUNNING):
        _kill(proc)


def grade_task(task: dict, timeout: float | None = None) -> dict:
    """Grade one task (see module doc); returns a result for ``course.merge.merge_result``."""
    root = Path(task["root"])
    assignment, student = task["assignment"], task["student"]
    start = time.perf_counter()
    result = {"assignment": assignment, "student": student, "key": task["key"], "ok": False,
              "notes": list(task["submission"]["notes"])}
    try:
        sweep_once()  # what a killed grading process on this host left in /tmp (autograder/scratch.py)
        _grade_in_view(root, task, result, timeout)
    except Exception as exc:  # this student's task fails; the class goes on
        result["ok"] = False
        result["notes"].append(safe_text(f"grading failed ({type(exc).__name__}: {exc})"))
        result.setdefault("log", "")
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


TIMELINE = re.compile(r"grading timeline: ((?:\w+=[\d.]+ ?)+)")


def phases(log: str, spawned: float, ended: float) -> dict:
    """Where the nbgrader run's time went (seconds, summed over its notebooks), from the
    timeline SandboxedExecute and CompareWithAnswers log: ``start-up`` (process, imports,
    configuration, intake, up to the executor), ``kernel start`` (sandbox and kernel until
    it answers), ``cells`` (the notebook's code), ``kernel stop``, ``compare`` (verdicts
    against the answers) and ``rest`` (grades saved, files written, exit)."""
    out = {"total": round(ended - spawned, 3)}
    marks = [dict((k, float(v)) for k, v in (item.split("=") for item in m.group(1).split()))
             for m in TIMELINE.finditer(log)]
    runs = [m for m in marks if "execute" in m]
    compares = [m for m in marks if "compare" in m]
    if not runs:
        return out
    parts = {"start-up": runs[0]["execute"] - spawned, "kernel start": 0.0, "cells": 0.0, "kernel stop": 0.0,
             "compare": sum(m["compared"] - m["compare"] for m in compares)}
    for m in runs:
        ready = m.get("kernel_ready", m["executed"])
        parts["kernel start"] += ready - m["execute"]
        parts["cells"] += m.get("cells_done", ready) - ready
        parts["kernel stop"] += m["executed"] - m.get("cells_done", ready)
    parts["rest"] = out["total"] - sum(parts.values())
    out.update({k: round(v, 3) for k, v in parts.items()})
    return out


def _course_view(root: Path, view: Path, assignment: str) -> None:
    """The course as the task's nbgrader sees it: links to what grading reads, copies of
    the configuration, and a source folder holding only the assignment's notebooks (nbgrader
    copies any other source file into autograded/ and from there into feedback/)."""
    for name in VIEW_LINKS:
        if (root / name).exists():
            os.symlink(root / name, view / name)
    for name in VIEW_FILES:
        shutil.copy2(root / name, view / name)
    (view / "source" / assignment).mkdir(parents=True)
    for nb in sorted((root / "source" / assignment).glob("*.ipynb")):
        shutil.copyfile(nb, view / "source" / assignment / nb.name)


def task_env(view: Path) -> dict:
    """The environment of a task's nbgrader run in the course view ``view``: this process's
    (the tools' PATH first), the preflight left to the coordinator, the view's gradebook."""
    return tool_env(dict(os.environ, COURSE_SKIP_PREFLIGHT="1",
                         COURSE_GRADEBOOK_URL=f"sqlite:///{Path(view) / 'gradebook.db'}"))


def _grade_in_view(root: Path, task: dict, result: dict, timeout: float | None) -> None:
    assignment, student = task["assignment"], task["student"]
    submission = task["submission"]
    view = make_scratch("dlcourse-task-")  # names its owner: a sweep removes it if this process dies
    try:
        _course_view(root, view, assignment)
        shutil.copy2(task["template_db"], view / "gradebook.db")
        folder = view / "submitted" / student / assignment
        folder.mkdir(parents=True)
        _write_tree(folder, submission["files"])
        if submission.get("time"):  # the collector's time, for the intake hook to write
            record = collected_record(view, assignment)
            record.parent.mkdir(parents=True)
            record.write_text(json.dumps({student: submission["time"]}))
        release_names = [nb.name for nb in sorted((root / "assignments" / assignment).glob("*.ipynb"))]
        for name in release_names:
            if name not in submission["files"]:  # nbgrader lists only present notebooks
                shutil.copyfile(root / "assignments" / assignment / name, folder / name)
                result["notes"].append(f"{name}: missing; graded as the untouched release")
        env = task_env(view)
        args = ["nbgrader", "autograde", assignment, f"--student={student}", "--force"]
        spawned = time.time()
        log, forked = run_module(args, view, env, root, timeout, warm=[f"autograder.cases.{assignment}"])
        result["log"] = log[-20000:]
        result["phases"] = phases(log, spawned, time.time())
        result["phases"]["forked"] = forked
        graded = view / "autograded" / student / assignment
        if graded.is_dir():
            # Only the graded notebooks, the student's own files and nbgrader's timestamp leave.
            allowed = set(release_names) | set(submission["files"]) | {TIMESTAMP}
            result["autograded"] = {rel: data for rel, data in _read_tree(graded).items() if rel in allowed}
            result["gradebook"] = _gradebook_rows(view / "gradebook.db", assignment, student)
            result["ok"] = True
        for path in sorted((view / "build" / "intake" / student / assignment).glob("*.json")):
            result["notes"] += [safe_text(n) for n in json.loads(path.read_text())]
    finally:
        left = remove_tree(view)
        if left:  # the owner lives on, so no sweep removes it: say so in the task's log
            result["log"] = result.get("log", "") + f"\n[course] task view {view} not removed: {'; '.join(left[:5])}\n"
