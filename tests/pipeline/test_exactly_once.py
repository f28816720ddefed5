"""A student's grades are merged exactly once: old grades or new ones, never a mix.

The coordinator alone writes the gradebook (course/merge.py), one transaction per student.
Here a child process plays the coordinator, merging two complete results of one student
(A: every cell scored, B: every cell scored differently) back and forth; it is killed
with SIGKILL at a random moment, again and again, and the gradebook must then hold
exactly A or exactly B for that student, on SQLite and on PostgreSQL. A kill between the
writes and the commit (a seam in the merge) must leave the previous grades. The gradebook
going away for a moment (PostgreSQL stopped and restarted during a merge) costs a retry,
not the grade; a second grading run while one holds the course stops with a message
naming the running one, and a killed run leaves no lock behind.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from course import ROOT
from course.gradebook import open_gradebook, sync_gradebook
from course.lock import CourseBusy, course_lock

from .demo_course import make_demo_course

A = "demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_course(tmp_path_factory.mktemp("once"), late_penalty_per_hour=1)


def _results(url: str) -> tuple[dict, dict]:
    """Two complete results of student s1 that differ in every grade, comment and penalty:
    the assignment is due at 09:00 and result k came k hours later, so its penalty (1 point
    per started hour) is k points, as the merge settles it (course/late.py)."""
    from datetime import datetime

    with open_gradebook(url) as gb:
        gb.update_or_create_assignment(A, duedate=datetime(2026, 1, 1, 9, 0))
        notebooks = gb.find_assignment(A).notebooks
        cells = {nb.name: ([c.name for c in nb.grade_cells], [c.name for c in nb.solution_cells])
                 for nb in notebooks}

    def result(tag: int) -> dict:
        rows = {"timestamp": f"2026-01-01T{9 + tag:02d}:00:00", "notebooks": {
            name: {"late_submission_penalty": float(tag),
                   "grades": {g: float(tag + k) for k, g in enumerate(grades)},
                   "comments": {c: f"comment {tag}" for c in comments}}
            for name, (grades, comments) in cells.items()}}
        return {"assignment": A, "student": "s1", "ok": True, "notes": [], "autograded": {}, "gradebook": rows}

    return result(1), result(2)


def _state(url: str) -> dict:
    """What the gradebook holds for s1: {"grades": ..., "comments": ..., ...} or {} before any merge."""
    from nbgrader.api import MissingEntry

    with open_gradebook(url) as gb:
        try:
            sub = gb.find_submission(A, "s1")
        except MissingEntry:
            return {}
        return {"timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
                "notebooks": {nb.name: {"late_submission_penalty": nb.late_submission_penalty,
                                        "grades": {g.name: g.auto_score for g in nb.grades},
                                        "comments": {c.name: c.auto_comment for c in nb.comments}}
                              for nb in sub.notebooks}}


COORDINATOR = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import course.merge as merge
    root, url, results, stall = sys.argv[2], sys.argv[3], json.loads(open(sys.argv[4]).read()), sys.argv[5]
    if stall == "before-commit":
        def hold(assignment, student):
            print("written", flush=True)
            import time; time.sleep(600)
        merge._before_commit = hold
    k = 0
    while True:
        merge.merge_result(root, url, results[k % 2])
        print("merged", k % 2, flush=True)
        if stall == "after-one":  # the first result in place, and nothing more
            import time; time.sleep(600)
        k += 1
""")


def _coordinator(root: Path, url: str, results: tuple, tmp: Path, stall: str = "") -> subprocess.Popen:
    payload = tmp / "results.json"
    payload.write_text(json.dumps(list(results)))
    return subprocess.Popen([sys.executable, "-c", COORDINATOR, str(ROOT), str(root), url, str(payload), stall],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root)


def _expected(result: dict) -> dict:
    rows = result["gradebook"]
    return {"timestamp": rows["timestamp"], "notebooks": rows["notebooks"]}


def _graded_part(state: dict, result: dict) -> dict:
    """``state`` limited to the cells ``result`` scores (the task cell is left to a person)."""
    if not state:
        return state
    notebooks = {}
    for name, rows in result["gradebook"]["notebooks"].items():
        got = state["notebooks"][name]
        notebooks[name] = {"late_submission_penalty": got["late_submission_penalty"],
                           "grades": {g: got["grades"][g] for g in rows["grades"]},
                           "comments": {c: got["comments"][c] for c in rows["comments"]}}
    return {"timestamp": state["timestamp"], "notebooks": notebooks}


def _kill_at_random_moments(root: Path, url: str, tmp: Path, rounds: int) -> list[int]:
    a, b = _results(url)
    seen = []
    rng = random.Random(7)
    for _ in range(rounds):
        proc = _coordinator(root, url, (a, b), tmp)
        first = proc.stdout.readline()  # one merge done: the process is warm
        assert first.startswith("merged"), proc.stderr.read()[-2000:]
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = _graded_part(_state(url), a)
        assert state in (_expected(a), _expected(b)), "a merge killed half-way left a mix of grades"
        seen.append(1 if state == _expected(a) else 2)
    return seen


def _kill_before_commit(root: Path, url: str, tmp: Path) -> None:
    a, b = _results(url)
    proc = _coordinator(root, url, (a, b), tmp, stall="after-one")  # the state A first (and only A:
    line = proc.stdout.readline()  # a coordinator left to go on may commit B before the kill lands)
    assert line.strip() == "merged 0", line + proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _graded_part(_state(url), a) == _expected(a)
    proc = _coordinator(root, url, (b, a), tmp, stall="before-commit")  # B written, not committed
    assert proc.stdout.readline().strip() == "written", proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _graded_part(_state(url), a) == _expected(a), "an uncommitted merge changed the grades"


def test_sqlite_holds_old_or_new_grades_whenever_the_coordinator_is_killed(demo, tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    sync_gradebook(demo, A, url)
    _kill_before_commit(demo, url, tmp_path)
    seen = _kill_at_random_moments(demo, url, tmp_path, rounds=8)
    assert len(set(seen)) == 2, f"the kills all landed on one state ({seen}): the test did not exercise merges"


def test_postgresql_holds_old_or_new_grades_whenever_the_coordinator_is_killed(demo, postgres, tmp_path):
    sync_gradebook(demo, A, postgres)
    _kill_before_commit(demo, postgres, tmp_path)
    seen = _kill_at_random_moments(demo, postgres, tmp_path, rounds=8)
    assert len(set(seen)) == 2, f"the kills all landed on one state ({seen}): the test did not exercise merges"


def test_a_gradebook_away_for_a_moment_costs_a_retry_not_the_grade(demo, postgres, postgres_control, tmp_path):
    from course.merge import merge_result

    sync_gradebook(demo, A, postgres)
    a, b = _results(postgres)
    merge_result(demo, postgres, a)
    subprocess.run(postgres_control["stop"], check=True, capture_output=True)
    restart = threading.Timer(2.0, lambda: subprocess.run(postgres_control["start"], check=True,
                                                          capture_output=True))
    restart.start()
    try:
        started = time.monotonic()
        merge_result(demo, postgres, b)  # the database is down when it starts
        waited = time.monotonic() - started
    finally:
        restart.join()
    assert _graded_part(_state(postgres), b) == _expected(b)
    assert waited >= 1.5, "the merge did not wait for the database"


def test_a_second_run_stops_naming_the_first_and_a_killed_run_leaves_no_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from course.lock import course_lock
        with course_lock({str(tmp_path)!r}, "autograde"):
            print("holding", flush=True)
            time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        from course.autograde import autograde
        from course.collect import collect

        with pytest.raises(CourseBusy) as busy:
            autograde(tmp_path, ["demo"])
        message = str(busy.value)
        assert "`autograde`" in message and f"process {holder.pid}" in message and "started" in message
        with pytest.raises(CourseBusy):
            collect(tmp_path, "demo", tmp_path / "export.zip")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with course_lock(tmp_path, "autograde") as mine:  # the dead holder's lock went with it
        assert mine["pid"] == os.getpid()
