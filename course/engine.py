"""Grade a class: run grading tasks (course/task.py) on workers, merge results one by one.

Engines:
- ``dask`` (the default): Dask distributed, one task = one student's assignment. With
  ``--workers N`` (default: the number of cores) a local cluster of N single-threaded
  worker processes; with ``--scheduler ADDRESS`` an existing cluster, whose workers need
  the private course repository at the same path (``task["root"]``) and this environment;
- ``local`` (``--engine local``, and whenever one worker is asked for): threads in this
  process, each running one task at a time (a task is an nbgrader process with its own
  sandboxed kernel, so threads are enough); no cluster to start.

Whatever the engine, only this process writes the gradebook (``merge_result``: one
transaction per task), so SQLite never sees two writers and PostgreSQL one per class.

Resumable: after a task is merged its key (submission, answers manifest, release and
configuration hashes; ``course.task.task_key``) is stored in
``build/grading/state/<assignment>/<student>.json``; a re-run skips students whose key is
unchanged unless ``force``. Interruptible: Ctrl-C stops handing out tasks, merges
nothing that is half done, and leaves every merged grade complete.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from course.task import cancel_running, grade_task, make_task, merge_result


def state_file(root: Path, assignment: str, student: str) -> Path:
    return Path(root) / "build" / "grading" / "state" / assignment / f"{student}.json"


def template_gradebook(root: Path, assignment: str, main_url: str) -> Path:
    """A SQLite gradebook that knows ``assignment`` (and its due date, if any), for tasks.

    Made from source/ once per version of the source notebooks, configuration and due date.
    """
    import hashlib

    from nbgrader.api import MissingEntry

    from course.gradebook import open_gradebook, sync_gradebook

    root = Path(root)
    with open_gradebook(main_url) as main:
        try:
            duedate = main.find_assignment(assignment).duedate
        except MissingEntry:
            duedate = None
    digest = hashlib.sha256(str(duedate).encode())
    for path in [root / "nbgrader_config.py", *sorted((root / "source" / assignment).glob("*.ipynb"))]:
        digest.update(path.read_bytes())
    path = root / "build" / "grading" / "templates" / f"{assignment}-{digest.hexdigest()[:16]}.db"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    url = f"sqlite:///{partial}"
    sync_gradebook(root, assignment, url)
    if duedate is not None:
        with open_gradebook(url) as gb:
            gb.update_or_create_assignment(assignment, duedate=duedate)
    os.replace(partial, path)
    return path


class Progress:
    """One status line for the class: done / total, rate, ETA, failures."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.failed = total, 0, 0
        self.start = time.perf_counter()
        self.stream = stream

    def update(self, ok: bool, label: str) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed * 60 if elapsed > 0 else 0.0
        eta = (self.total - self.done) / (self.done / elapsed) if self.done else 0.0
        width = 30
        filled = int(width * self.done / max(1, self.total))
        self.stream.write(f"[autograde] [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                          f"{rate:.1f}/min ETA {eta:.0f} s  failed {self.failed}  last: {label}\n")
        self.stream.flush()


def run_tasks(tasks: list[dict], workers: int, engine: str = "local", scheduler: str | None = None,
              on_result=None, timeout: float | None = None) -> None:
    """Run ``tasks`` on ``workers`` and call ``on_result(result)`` in this thread for each."""
    if scheduler or (engine == "dask" and workers > 1 and len(tasks) > 1):
        return _run_dask(tasks, workers, scheduler, on_result, timeout)
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    pending = set()
    queue = list(tasks)
    try:
        while queue or pending:
            while queue and len(pending) < max(1, workers):
                pending.add(pool.submit(grade_task, queue.pop(0), timeout))
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_result(future.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_dask(tasks, workers, scheduler, on_result, timeout):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        # A bounded number of tasks in flight: a task carries its submission's bytes, and
        # the scheduler should not hold a whole course's submissions at once.
        slots = max(1, len(client.scheduler_info().get("workers", {})) or workers) * 4
        queue = list(tasks)

        def submit(task):
            return client.submit(grade_task, task, timeout, pure=False, retries=2,  # retried if a worker is lost
                                 key=f"grade-{task['assignment']}-{task['student']}-{time.time_ns()}")

        running = as_completed([submit(queue.pop(0)) for _ in range(min(slots, len(queue)))])
        for future in running:
            on_result(future.result())
            if queue:
                running.add(submit(queue.pop(0)))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def grade_class(root: Path, plan: dict[str, list[str]], *, workers: int = 1, engine: str = "local",
                scheduler: str | None = None, force: bool = False, db_url: str, timeout: float | None = None,
                log=print) -> dict:
    """Grade ``plan`` = {assignment: [student, ...]}; return {assignment: {student: {"ok", "notes", "skipped"}}}.

    All tasks of all assignments share one pool of workers (and one Dask cluster), so a
    single student's whole submission is graded ``workers`` notebooks at a time too, not
    one assignment after another. Results are merged in this process as they arrive.
    """
    root = Path(root)
    report = {assignment: {} for assignment in plan}
    tasks = []
    for assignment, students in plan.items():
        template = template_gradebook(root, assignment, db_url)
        skipped = 0
        for student in students:
            task = make_task(root, assignment, student, template)
            state = state_file(root, assignment, student)
            graded = (root / "autograded" / student / assignment).is_dir()
            if not force and graded and state.exists() and json.loads(state.read_text()).get("key") == task["key"]:
                old = json.loads(state.read_text())
                report[assignment][student] = {"ok": True, "notes": old.get("notes", []), "skipped": True}
                skipped += 1
                continue
            tasks.append(task)
        if skipped:
            log(f"[autograde] {assignment}: {skipped} student(s) unchanged since their last grading, skipped "
                f"(--force regrades them)")
    progress = Progress(len(tasks))

    def on_result(result):
        assignment = result["assignment"]
        started = time.perf_counter()
        merge_result(root, db_url, result)
        result["merge_seconds"] = round(time.perf_counter() - started, 3)
        state = state_file(root, assignment, result["student"])
        state.parent.mkdir(parents=True, exist_ok=True)
        if result["ok"]:
            state.write_text(json.dumps({"key": result["key"], "notes": result["notes"], "seconds": result["seconds"],
                                         "merge_seconds": result["merge_seconds"]}) + "\n")
        else:
            state.unlink(missing_ok=True)
            failure_log = root / "build" / "logs" / "failed" / f"{assignment}-{result['student']}.log"
            failure_log.parent.mkdir(parents=True, exist_ok=True)
            failure_log.write_text(result.get("log", ""))
            result["notes"].append(f"grading failed (see {failure_log.relative_to(root)})")
        report[assignment][result["student"]] = {"ok": result["ok"], "notes": result["notes"], "skipped": False}
        progress.update(result["ok"], f"{result['student']}/{assignment} {result['seconds']:.0f} s")

    try:
        run_tasks(tasks, workers, engine, scheduler, on_result, timeout)
    except KeyboardInterrupt:
        cancel_running()
        log(f"[autograde] interrupted; {progress.done} of {len(tasks)} merged, none half-written")
        for assignment, students in plan.items():
            for student in students:
                staging = root / "autograded" / student / f".{assignment}.incoming"
                shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def default_workers() -> int:
    return os.cpu_count() or 1
