"""No single submission stops the class or its report (course/engine.py).

A task that raises (in a thread, or in a Dask worker), a worker that dies under a task
(KilledWorker), a merge that raises, a state file or failure log that cannot be written:
each ends only that student's task, reported as failed with the error's type and message
and its log under build/logs/failed/, while every other student is graded and merged and
the run's summary lists the failures. Ctrl-C (KeyboardInterrupt) still stops the run.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from course import engine
from course.autograde import autograde
from course.feedback import grades

POINTS = {"reference": 6, "untouched": 0, "partial": 5, "stripped": 6}  # the samples, graded for real
CRASH_TASK, CRASH_MERGE, NO_STATE, NO_LOG, KILLS_WORKER = (
    "crash_task", "crash_merge", "no_state", "no_log", "kills_worker")


def grade_or_raise(task, timeout=None):
    """engine.grade_task for the Dask test: runs in the worker process (imported from here)."""
    if task["student"] in (CRASH_TASK, NO_LOG):
        raise RuntimeError(f"boom in pid {os.getpid()}")
    if task["student"] == KILLS_WORKER:  # the worker process dies under the task, leaving its scratch view
        from autograder.scratch import make_scratch

        Path(task["root"], "build", "killed-task-view").write_text(str(make_scratch("dlcourse-task-")))
        os._exit(3)
    from course.task import grade_task

    return grade_task(task, timeout)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The demo course: the four samples, and copies of the reference submission for the
    students whose task, merge, state or log is made to fail."""
    from .demo_course import sampled_demo_course, submit

    root, _ = sampled_demo_course(tmp_path_factory.mktemp("failures-course"), cell_timeout=30)
    reference = nbformat.read(str(root / "submitted" / "reference" / "demo" / "demo.ipynb"), as_version=4)
    for student in (CRASH_TASK, CRASH_MERGE, NO_STATE, NO_LOG, KILLS_WORKER):
        submit(root, student, reference)
    return root


def _break(root, monkeypatch, merge_fails_for=CRASH_MERGE):
    """Make the coordinator's side fail: the merge of one student, the state file of another,
    the failure log of a third; stale state and graded folders for the failing ones."""
    real_merge, real_state = engine.merge_result, engine.state_file

    def merge(root_, url, result):
        if result["student"] == merge_fails_for:
            raise OSError(28, "No space left on device (test)")
        real_merge(root_, url, result)

    class Unwritable(type(root)):
        def write_text(self, *args, **kwargs):
            raise PermissionError(13, "Permission denied (test)", str(self))

    def state(root_, assignment, student):
        path = real_state(root_, assignment, student)
        return Unwritable(path) if student == NO_STATE else path  # merged, then its state cannot be written

    monkeypatch.setattr(engine, "merge_result", merge)
    monkeypatch.setattr(engine, "state_file", state)
    failed_logs = root / "build" / "logs" / "failed"
    shutil.rmtree(failed_logs, ignore_errors=True)
    (failed_logs / f"demo-{NO_LOG}.log").mkdir(parents=True)  # the log cannot be written
    for student in (CRASH_TASK, merge_fails_for):
        stale = real_state(root, "demo", student)
        stale.parent.mkdir(parents=True, exist_ok=True)
        stale.write_text(json.dumps({"key": "stale"}) + "\n")


def _assert_report(root, report, out, failing):
    """The others graded and merged with their known points; each failure reported and logged."""
    points = {r["student"]: r["auto_score"] for r in grades(root)}
    for student, expected in POINTS.items():
        assert points[student] == expected, student
        assert engine.state_file(root, "demo", student).exists()
        assert not any("grading failed" in n for n in report["demo"][student])
    assert not list((root / "autograded").glob("*/.demo.incoming"))
    for student, error in failing.items():
        notes = " | ".join(report["demo"][student])
        assert error in notes, notes
        assert not engine.state_file(root, "demo", student).exists()  # a re-run grades them again
        if student == NO_LOG:
            assert f"its log could not be written to build/logs/failed/demo-{NO_LOG}.log" in notes
        else:
            assert f"see build/logs/failed/demo-{student}.log" in notes
            kind = error.split(": ")[1]  # the error's type, and its traceback, in the log
            log = (root / "build" / "logs" / "failed" / f"demo-{student}.log").read_text()
            assert kind in log and "Traceback" in log, log[-2000:]
    summary = f"demo: {len(POINTS)} graded, {len(failing)} failed: "
    line = next((line for line in out.splitlines() if summary in line), out[-2000:])
    assert set(line.split(summary)[-1].split(", ")) == set(failing), line


def test_local_engine_class_survives_failures(course, monkeypatch, capsys):
    """Local threads: a task raising, a merge raising, a state file and a failure log that
    cannot be written: are these students failed with the error named, and the rest graded?"""
    root = course
    real_task = engine.grade_task

    def task(task_, timeout=None):
        if task_["student"] in (CRASH_TASK, NO_LOG):
            raise RuntimeError("boom in the grading thread")
        return real_task(task_, timeout)

    monkeypatch.setattr(engine, "grade_task", task)
    _break(root, monkeypatch)
    (root / "autograded" / CRASH_TASK / "demo").mkdir(parents=True, exist_ok=True)  # an old grading
    plan = [*POINTS, CRASH_TASK, CRASH_MERGE, NO_STATE, NO_LOG]
    report = autograde(root, ["demo"], plan, workers=2, engine="local", force=True)
    out = capsys.readouterr().out
    _assert_report(root, report, out, {
        CRASH_TASK: "grading failed in the grading task: RuntimeError: boom in the grading thread",
        NO_LOG: "grading failed in the grading task: RuntimeError: boom in the grading thread",
        CRASH_MERGE: "grading failed in its merge: OSError: [Errno 28] No space left on device (test)",
        NO_STATE: "grading failed in its merge: PermissionError: [Errno 13] Permission denied (test)",
    })
    assert not (root / "autograded" / CRASH_TASK / "demo").exists()  # a failed grading leaves no old files


def test_dask_engine_class_survives_failures(course, monkeypatch, capsys):
    """A local Dask cluster of 2 workers: a task raising in the worker process (after its
    retries), a task whose worker dies (KilledWorker), a merge raising: are these students
    failed with the error named, and the rest graded and merged?"""
    import dask

    root = course
    monkeypatch.setattr(engine, "grade_task", grade_or_raise)
    _break(root, monkeypatch)
    plan = [*POINTS, CRASH_TASK, CRASH_MERGE, NO_LOG, KILLS_WORKER]
    # One death is enough for KilledWorker (default: 3). The engine gives a worker one task at a
    # time, so that death concerns only the task that caused it, not a task queued behind it.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        report = autograde(root, ["demo"], plan, workers=2, engine="dask", force=True)
    out = capsys.readouterr().out
    _assert_report(root, report, out, {
        CRASH_TASK: "grading failed in the grading task: RuntimeError: boom in pid",
        NO_LOG: "grading failed in the grading task: RuntimeError: boom in pid",
        KILLS_WORKER: "grading failed in the grading task: KilledWorker",
        CRASH_MERGE: "grading failed in its merge: OSError: [Errno 28] No space left on device (test)",
    })
    crashed_in = int(next(n for n in report["demo"][CRASH_TASK] if "boom in pid" in n).split("boom in pid ")[1])
    assert crashed_in != os.getpid()  # it raised in a worker process
    # The dead worker left its scratch view in /tmp. Whoever comes first removes it: the worker
    # that replaces it (its first task), any grading process of this host (in a parallel test
    # run, another test's), or at the latest the next preflight, run here.
    from course.preflight import prepare

    left = Path((root / "build" / "killed-task-view").read_text())
    assert left.name.startswith("dlcourse-task-")
    prepare(root, ["demo"], log=lambda line: None)
    assert not left.exists()


def test_the_preflight_removes_what_a_killed_grader_left(course, tmp_path, monkeypatch):
    """In a temporary folder of its own (no other process sweeps it), the preflight removes
    the scratch folder of a grading process killed with SIGKILL, and says so."""
    import signal
    import subprocess
    import sys
    import tempfile

    from course import ROOT
    from course.preflight import prepare

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    child = ("import os, signal\nfrom autograder.scratch import make_scratch\n"
             "print(make_scratch('dlcourse-task-'), flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = Path(proc.stdout.strip())
    assert left.parent == tmp_path and left.is_dir()
    lines = []
    prepare(course, ["demo"], log=lines.append)
    assert f"[preflight] removed {left}, left by a grader that died" in lines and not left.exists()


def test_keyboard_interrupt_still_stops_the_run(monkeypatch):
    """Does Ctrl-C (KeyboardInterrupt) in a task or in the result handling still stop the run,
    while a task's other exception, or a malformed result, becomes that task's failure?"""
    tasks = [{"assignment": "demo", "student": s, "key": s} for s in ("a", "b", "c")]

    def task(task_, timeout=None):
        if task_["student"] == "a":
            raise ValueError("bad task")
        if task_["student"] == "b":
            return None  # not a result
        return {"assignment": "demo", "student": "c", "key": "c", "ok": True, "notes": [], "seconds": 0}

    monkeypatch.setattr(engine, "grade_task", task)
    results = []
    engine.run_tasks(tasks, 1, "local", on_result=results.append)
    by_student = {r["student"]: r for r in results}
    assert by_student["c"]["ok"] and not by_student["a"]["ok"] and not by_student["b"]["ok"]
    assert by_student["a"]["notes"] == ["grading failed in the grading task: ValueError: bad task"]
    assert "TypeError: the task returned NoneType" in by_student["b"]["notes"][0]
    assert "ValueError: bad task" in by_student["a"]["log"]

    def interrupted(task_, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "grade_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.run_tasks(tasks, 1, "local", on_result=results.append)

    def stop(result):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "grade_task", task)
    with pytest.raises(KeyboardInterrupt):
        engine.run_tasks(tasks, 1, "local", on_result=stop)
