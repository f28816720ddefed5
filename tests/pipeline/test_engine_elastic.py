"""The engine follows the cluster: tasks in flight track the workers connected now.

Tasks are made lazily (one per free worker thread) and the in-flight limit is counted
again whenever a task finishes, so a worker that joins a running cluster (an adaptive
cluster, dask-jobqueue) gets work, and the coordinator never holds more tasks than there
are workers.
"""
from __future__ import annotations

import threading
import time

from course.engine import run_tasks

from .engine_tasks import sleepy


def test_a_worker_that_joins_a_running_cluster_is_used():
    from dask.distributed import LocalCluster

    made = []

    def tasks():
        for k in range(14):
            made.append((k, time.time()))
            yield {"assignment": "demo", "student": f"s{k:02d}", "seconds": 0.6}

    results = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        joined = {}

        def grow():
            time.sleep(2.0)
            cluster.scale(2)
            joined["at"] = time.time()

        grower = threading.Thread(target=grow)
        grower.start()
        run_tasks(tasks(), 1, scheduler=cluster.scheduler_address, insecure=True, fn=sleepy,
                  on_result=results.append, size=14)
        grower.join()
    workers = {r["worker"] for r in results}
    assert len(results) == 14 and all(r["ok"] for r in results)
    assert len(workers) == 2, "the worker that joined got no task"
    late = [r for r in results if r["started"] > joined["at"] + 1.0]
    overlapping = any(a["started"] < b["ended"] and b["started"] < a["ended"] and a["worker"] != b["worker"]
                      for a in late for b in late if a is not b)
    assert overlapping, "after the second worker joined, tasks never ran side by side"


def test_tasks_are_made_as_workers_free_up_not_ahead():
    """With one worker thread, task k+1 is not made (its submission not read) before task k has finished."""
    from dask.distributed import LocalCluster

    made, results = {}, []

    def tasks():
        for k in range(6):
            made[k] = time.time()
            yield {"assignment": "demo", "student": f"s{k}", "seconds": 0.5}

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        run_tasks(tasks(), 1, scheduler=cluster.scheduler_address, insecure=True, fn=sleepy,
                  on_result=results.append, size=6)
    ended = {int(r["student"][1:]): r["ended"] for r in results}
    for k in range(5):
        assert made[k + 1] >= ended[k] - 0.05, f"task {k + 1} was made before task {k} finished"
