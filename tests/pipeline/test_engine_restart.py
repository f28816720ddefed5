"""A scheduler that restarts costs the students in flight, never the run.

A real ``dask scheduler`` and ``dask worker`` (separate processes, plain TCP on 127.0.0.1)
run stand-in tasks (tests/pipeline/engine_tasks.py); the scheduler is killed with SIGKILL
mid-run and started again on the same address. The task in flight fails (reported, so
the next run grades it). If a worker joins the new scheduler, the run goes on and grades
everyone else; if none does, the run ends after the engine's watchdog
(``LOST_AFTER_SECONDS``) with every student left reported, instead of waiting forever.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from course import ROOT, engine

from tests.net import free_port

from .engine_tasks import sleepy

DASK = str(Path(sys.executable).parent / "dask")


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([DASK, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def _run_with_restart(new_worker: bool) -> list[dict]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler_args = ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    worker_args = ["worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard"]
    procs = [_start(scheduler_args)]
    time.sleep(3)
    procs.append(_start(worker_args))
    results, started = [], {}

    def tasks():
        for k in range(10):
            yield {"assignment": "demo", "student": f"s{k}", "seconds": 1.0}

    def on_result(result):
        results.append(result)
        if len(results) == 3 and "restart" not in started:  # three graded: the scheduler goes down
            started["restart"] = True
            threading.Thread(target=restart).start()

    def restart():
        _stop(procs[0])
        time.sleep(1)
        procs[0] = _start(scheduler_args)
        if new_worker:
            time.sleep(3)
            procs.append(_start(worker_args))

    try:
        engine.run_tasks(tasks(), 1, scheduler=address, insecure=True, fn=sleepy, on_result=on_result, size=10)
    finally:
        for proc in procs:
            _stop(proc)
    return results


def test_a_restarted_scheduler_costs_the_task_in_flight_and_the_run_goes_on(monkeypatch):
    monkeypatch.setattr(engine, "LOST_AFTER_SECONDS", 60.0)
    results = _run_with_restart(new_worker=True)
    assert sorted(r["student"] for r in results) == [f"s{k}" for k in range(10)]
    failed = [r["student"] for r in results if not r["ok"]]
    assert 1 <= len(failed) <= 2, failed  # the task(s) in flight when the scheduler died
    assert all("scheduler" in " ".join(r["notes"]) or "cancelled" in " ".join(r["notes"]).lower()
               for r in results if not r["ok"])


def test_a_cluster_that_does_not_come_back_ends_the_run_with_everyone_reported(monkeypatch):
    monkeypatch.setattr(engine, "LOST_AFTER_SECONDS", 8.0)
    start = time.monotonic()
    results = _run_with_restart(new_worker=False)
    assert time.monotonic() - start < 90, "the run waited for a cluster that was gone"
    assert sorted(r["student"] for r in results) == [f"s{k}" for k in range(10)]
    graded = [r["student"] for r in results if r["ok"]]
    assert len(graded) >= 3
    left = [r for r in results if not r["ok"] and "waiting for the cluster" in r["notes"][0]]
    assert len(left) >= 5 and all("run autograde again" in r["notes"][0] for r in left)


pytestmark = [pytest.mark.e2e,  # ./course.sh test-e2e
              pytest.mark.skipif(not Path(DASK).exists(), reason="the dask command line is not installed")]
