"""Grade a class: run grading tasks (course/task.py) on workers, merge results one by one.

Engines:
- ``dask`` (the default): Dask distributed, one task = one student's assignment. With
  ``--workers N`` (default: the number of cores) a local cluster of N single-threaded
  worker processes on 127.0.0.1 that speaks only TLS with credentials made for the run
  (``local_security``: a fresh key and certificate, in memory only), so no other user of
  the machine can connect to it and run code as the grader; with ``--scheduler ADDRESS``
  an existing cluster, reached over TLS with the instructor's files (``scheduler_security``:
  a plain ``tcp://`` scheduler is refused unless ``insecure``), whose workers need the
  private course repository at the same path (``task["root"]``) and this environment;
- ``local`` (``--engine local``, and whenever one worker is asked for): threads in this
  process, each running one task at a time (a task is an nbgrader process with its own
  sandboxed kernel, so threads are enough); no cluster to start.

Whatever the engine, only this process writes the gradebook (``merge_result``: one
transaction per task), so SQLite never sees two writers and PostgreSQL one per class.

No single submission stops the class: an exception in a task (in the worker, a lost
worker after the retries, a malformed result), in its merge or in writing its state or
failure log ends only that student's task, reported as failed (a note naming the error,
its log in ``build/logs/failed/``); the rest of the class is graded and merged.

Resumable: after a task is merged its key (submission, answers manifest, release and
configuration hashes, the assignment's due date; ``course.task.task_key``) is stored in
``build/grading/state/<assignment>/<student>.json``; a re-run skips students whose key is
unchanged unless ``force``. Interruptible: Ctrl-C stops handing out tasks, merges
nothing that is half done, and leaves every merged grade complete.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import ssl
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path

from autograder.scratch import make_scratch
from course.merge import close_gradebooks, merge_result
from course.task import cancel_running, grade_task, make_task


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

    def skip(self) -> None:
        """A student left out of this run (unchanged since the last grading): not counted as graded."""
        self.total -= 1

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


class SchedulerNotSecure(ValueError):
    """An external scheduler that would be reached without TLS, or TLS files that cannot be used."""


def local_security():
    """Credentials for one run's local cluster: a fresh self-signed key and certificate
    (distributed's ``Security.temporary()``), in memory only, required for every connection
    (scheduler, workers, nannies, clients): a client without them cannot connect."""
    from distributed import Security

    return Security.temporary()


def scheduler_security(address: str, *, tls_ca_file: str | None = None, tls_cert: str | None = None,
                       tls_key: str | None = None, insecure: bool = False):
    """The ``Security`` to reach an existing scheduler at ``address``, or None (``insecure`` plain TCP).

    ``tls://`` addresses need a CA and a client certificate (and key): the files given, or
    Dask's own configuration (``distributed.comm.tls.ca-file``, ``.client.cert``,
    ``.client.key``); they are loaded here, so a wrong file stops the run before it starts.
    Any other address (``tcp://``, or none) is refused unless ``insecure``: a plain scheduler
    lets whoever reaches its port run code as the grader.
    """
    from distributed import Security

    scheme = address.split("://", 1)[0].lower() if "://" in address else "tcp"
    given = {name: value for name, value in (("tls_ca_file", tls_ca_file), ("tls_client_cert", tls_cert),
                                             ("tls_client_key", tls_key)) if value}
    if scheme != "tls":
        if given:
            raise SchedulerNotSecure(f"--tls-ca-file, --tls-cert and --tls-key are for a tls:// scheduler; "
                                     f"{address} is not one (tls://HOST:8786)")
        if insecure:
            return None
        raise SchedulerNotSecure(
            f"refusing the {scheme}:// scheduler {address}: a plain Dask scheduler has no authentication, so "
            f"anyone who can reach its port can run code as the grader and read every submission and grade. "
            f"Use a TLS scheduler: --scheduler tls://HOST:8786 --tls-ca-file ca.pem --tls-cert client.pem "
            f"--tls-key client-key.pem (docs/GRADING_AT_SCALE.md), or pass --insecure if only trusted users "
            f"can reach it")
    security = Security(require_encryption=True, **given)
    missing = [flag for flag, value in (("--tls-ca-file", security.tls_ca_file),
                                        ("--tls-cert", security.tls_client_cert)) if not value]
    if missing:
        raise SchedulerNotSecure(f"the TLS scheduler {address} needs {' and '.join(missing)} (the CA that signed "
                                 f"the cluster's certificates, this client's certificate and --tls-key), or "
                                 f"distributed.comm.tls.ca-file / client.cert / client.key in Dask's configuration")
    try:
        security.get_connection_args("client")  # loads the CA, the certificate and the key now
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise SchedulerNotSecure(f"cannot use the TLS files for {address}: {describe(exc)}") from exc
    return security


@contextmanager
def dask_client(workers: int, scheduler: str | None = None, security=None):
    """A Dask client: to ``scheduler`` with ``security``, or to a new local cluster of
    ``workers`` single-threaded processes that listens only on 127.0.0.1, only TLS, with
    ``local_security()`` credentials (the client's ``security`` holds them), and keeps its
    scratch space (spilled data) in a private 0700 folder removed at the end."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler, security=security)
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    security = local_security()
    scratch = make_scratch("dlcourse-dask-")  # 0700: not a shared /tmp/dask-scratch-space
    cluster = None
    try:
        # No HTTP routes: the scheduler and workers still open an HTTP port on 127.0.0.1, plain
        # and open to every local user, whose default pages show task names (students) and logs.
        with dask.config.set({"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}):
            cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                   host="127.0.0.1", protocol="tls://", security=security,
                                   dashboard_address=None, local_directory=scratch,
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})  # not :8787
        client = Client(cluster, security=security)
        try:
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
        shutil.rmtree(scratch, ignore_errors=True)


def unchanged(root: Path, task: dict) -> dict | None:
    """The state of ``task``'s last grading if it had exactly this key (and its files are
    still there), else None."""
    state = state_file(root, task["assignment"], task["student"])
    if not (Path(root) / "autograded" / task["student"] / task["assignment"]).is_dir():
        return None
    try:
        old = json.loads(state.read_text())
    except (OSError, ValueError):
        return None  # no state, or an unreadable one: grade again
    return old if isinstance(old, dict) and old.get("key") == task["key"] else None


def describe(exc: BaseException) -> str:
    """``TypeName: short message`` of an exception, for a report note."""
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failed_result(task: dict, stage: str, exc: BaseException, seconds: float = 0.0) -> dict:
    """The result of a task that raised (``stage``: where): failed, with the error and its traceback."""
    return {"assignment": task["assignment"], "student": task["student"], "key": task.get("key"), "ok": False,
            "notes": [f"grading failed in {stage}: {describe(exc)}"],
            "log": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            "seconds": round(seconds, 2)}


def _outcome(task: dict, future, started: float) -> dict:
    """The result of a finished future (thread or Dask) of ``task``; an error becomes a failed result.
    KeyboardInterrupt still stops the run."""
    try:
        result = future.result()
        if not (isinstance(result, dict) and result.get("assignment") == task["assignment"]
                and result.get("student") == task["student"] and isinstance(result.get("notes"), list)):
            raise TypeError(f"the task returned {type(result).__name__}, not the result of "
                            f"{task['student']}/{task['assignment']}")
        return result
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the task's own error, KilledWorker, CancelledError, a lost connection
        return failed_result(task, "the grading task", exc, time.perf_counter() - started)


def run_tasks(tasks, workers: int, engine: str = "local", scheduler: str | None = None,
              on_result=None, timeout: float | None = None, *, security=None, insecure: bool = False,
              size: int | None = None, fn=None) -> None:
    """Run ``tasks`` on ``workers`` and call ``on_result(result)`` in this thread for each.

    ``tasks`` is any iterable, read lazily: the next task is made only when a worker is
    free for it, so the coordinator holds the tasks in flight and no more, whatever the
    class size (``size``, if known, only chooses between one worker and a cluster).
    A task that raises gives a failed result (``failed_result``) instead of stopping the run.
    ``scheduler`` is reached with ``security`` (default: ``scheduler_security(scheduler,
    insecure=insecure)``, which refuses a plain tcp:// scheduler unless ``insecure``).
    ``fn(task, timeout)`` runs a task (default ``course.task.grade_task``; feedback passes its own).
    """
    fn = fn or grade_task
    if scheduler and security is None:  # a plain scheduler is refused before anything else
        security = scheduler_security(scheduler, insecure=insecure)
    queue = iter(tasks)
    first = next(queue, None)  # nothing to run (every student unchanged): no cluster is started
    if first is None:
        return None
    queue = itertools.chain([first], queue)
    if scheduler:
        return _run_dask(queue, workers, scheduler, security, on_result, timeout, fn)
    if engine == "dask" and workers > 1 and (size is None or size > 1):
        return _run_dask(queue, workers, None, None, on_result, timeout, fn)
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    pending = {}
    exhausted = False
    try:
        while not exhausted or pending:
            while not exhausted and len(pending) < max(1, workers):
                task = next(queue, None)
                if task is None:
                    exhausted = True
                    break
                pending[pool.submit(fn, task, timeout)] = (task, time.perf_counter())
            if not pending:
                continue
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task, started = pending.pop(future)
                on_result(_outcome(task, future, started))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


HEALTH_SECONDS = 5.0  # how often a run with no finished task checks that its cluster is there
# How long a run waits for a cluster that lost every worker (or its scheduler) before it
# gives up on the students not yet graded: $COURSE_DASK_LOST_AFTER seconds, default 300.
LOST_AFTER_SECONDS = float(os.environ.get("COURSE_DASK_LOST_AFTER", "300"))


def _abandon(client, owner: dict, queue, on_result) -> None:
    """The cluster is gone: every task in flight and every task not started fails, reported."""
    lost = RuntimeError(f"the Dask cluster had no worker (or no scheduler) for {LOST_AFTER_SECONDS:.0f} s; "
                        f"not graded in this run: run autograde again")
    for task, started, future in list(owner.values()):
        try:
            future.cancel()
        except Exception:
            pass
        on_result(failed_result(task, "waiting for the cluster", lost, time.perf_counter() - started))
    owner.clear()
    for task in queue:
        on_result(failed_result(task, "waiting for the cluster", lost))


def _run_dask(queue, workers, scheduler, security, on_result, timeout, fn):
    from dask.distributed import wait as dask_wait

    with dask_client(workers, scheduler, security) as client:
        # One task in flight per worker thread (counted again as tasks finish, so workers that
        # join later are used): a task carries its submission's bytes, so the scheduler never
        # holds a whole course's submissions; and a task waits here, not in a worker's queue, so
        # a worker that dies under one task (a crash, the memory limit) takes no other task
        # with it (a death counts against every task the worker holds, and more than
        # distributed.scheduler.allowed-failures of them fail a task as KilledWorker).
        owner = {}  # in flight: future key -> (task, submitted at, future)
        seen = {"workers": False}  # has this run seen a worker (the watchdog below waits for one)

        def capacity() -> int:
            try:
                threads = sum(client.nthreads().values())
            except Exception:
                return max(1, workers)
            seen["workers"] = seen["workers"] or threads > 0
            return max(1, threads or workers)

        def top_up():
            target = capacity()
            while len(owner) < target:
                task = next(queue, None)  # made now, not before: only the tasks in flight are held
                if task is None:
                    return
                try:
                    # retries: a task that raises runs twice more (a worker dying under it is
                    # allowed-failures' business). Either way only this student fails in the end.
                    future = client.submit(fn, task, timeout, pure=False, retries=2,
                                           key=f"grade-{task['assignment']}-{task['student']}-{time.time_ns()}")
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    on_result(failed_result(task, "submitting the grading task", exc))
                    continue
                owner[future.key] = (task, time.perf_counter(), future)

        def cluster_alive() -> bool:
            try:
                return client.status == "running" and sum(client.nthreads().values()) > 0
            except Exception:  # the scheduler cannot be asked
                return False

        top_up()
        lost_since = None
        while owner:
            futures = [future for _, _, future in owner.values()]
            try:
                done, _ = dask_wait(futures, timeout=HEALTH_SECONDS, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            except KeyboardInterrupt:
                raise
            except BaseException:  # futures cancelled (a lost scheduler): done, and failed below
                done = {future for future in futures if future.done()}
            for future in done:
                task, started, _ = owner.pop(future.key)
                result = _outcome(task, future, started)
                future.release()
                top_up()  # the next task starts before this one is merged
                on_result(result)
            if done:
                continue
            # Nothing finished for a while: is there still a cluster? A scheduler that restarts
            # comes back without the tasks (they fail above, "scheduler-connection-lost") and
            # often without workers; tasks sent to it would wait forever. Workers that do not
            # come back within LOST_AFTER_SECONDS end the run, every student left reported.
            if cluster_alive():
                seen["workers"], lost_since = True, None
            elif seen["workers"]:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > LOST_AFTER_SECONDS:
                    _abandon(client, owner, queue, on_result)
                    return


def grade_class(root: Path, plan: dict[str, list[str]], *, workers: int = 1, engine: str = "local",
                scheduler: str | None = None, force: bool = False, db_url: str, timeout: float | None = None,
                log=print, tls_ca_file: str | None = None, tls_cert: str | None = None, tls_key: str | None = None,
                insecure: bool = False, fn=None) -> dict:
    """Grade ``plan`` = {assignment: [student, ...]}; return {assignment: {student: {"ok", "notes", "skipped"}}}.

    All tasks of all assignments share one pool of workers (and one Dask cluster), so a
    single student's whole submission is graded ``workers`` notebooks at a time too, not
    one assignment after another. Results are merged in this process as they arrive.
    An external ``scheduler`` is reached over TLS with the ``tls_*`` files (or Dask's
    configuration); a plain tcp:// one is refused, before anything else, unless ``insecure``.
    Whatever fails in one student's task or merge is that student's failure, in the report.
    ``fn`` replaces ``course.task.grade_task`` (benchmarks of the coordinator alone).
    """
    root = Path(root)
    security = None
    if scheduler:
        security = scheduler_security(scheduler, tls_ca_file=tls_ca_file, tls_cert=tls_cert, tls_key=tls_key,
                                      insecure=insecure)
    report = {assignment: {} for assignment in plan}
    progress = Progress(sum(len(students) for students in plan.values()))


    def merge(result):
        """Merge one result and record its state; any error here is that student's failure."""
        assignment, student = result["assignment"], result["student"]
        state = state_file(root, assignment, student)
        state.unlink(missing_ok=True)  # until this merge is complete, a re-run grades the student again
        started = time.perf_counter()
        merge_result(root, db_url, result)
        result["merge_seconds"] = round(time.perf_counter() - started, 3)
        if result["ok"]:
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps({"key": result["key"], "notes": result["notes"], "seconds": result["seconds"],
                                         "merge_seconds": result["merge_seconds"]}) + "\n")

    def on_result(result):
        assignment, student = result["assignment"], result["student"]
        result.setdefault("notes", [])
        try:
            merge(result)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            result["ok"] = False
            result["notes"].append(f"grading failed in its merge: {describe(exc)}")
            result["log"] = (result.get("log") or "") + "\n--- merge ---\n" + "".join(
                traceback.format_exception(type(exc), exc, exc.__traceback__))
            shutil.rmtree(root / "autograded" / student / f".{assignment}.incoming", ignore_errors=True)
            try:
                state_file(root, assignment, student).unlink(missing_ok=True)
            except OSError:
                pass
        if not result["ok"]:
            failure_log = root / "build" / "logs" / "failed" / f"{assignment}-{student}.log"
            try:
                failure_log.parent.mkdir(parents=True, exist_ok=True)
                failure_log.write_text(result.get("log") or "")
                result["notes"].append(f"grading failed (see {failure_log.relative_to(root)})")
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                result["notes"].append(f"grading failed (its log could not be written to "
                                       f"{failure_log.relative_to(root)}: {describe(exc)})")
        report[assignment][student] = {"ok": bool(result["ok"]), "notes": result["notes"], "skipped": False}
        seconds = result.get("seconds")
        progress.update(bool(result["ok"]), f"{student}/{assignment} "
                        f"{seconds if isinstance(seconds, (int, float)) else 0:.0f} s")

    def tasks():
        """The tasks still to grade, made one at a time as workers free up (nothing is read
        ahead): a submission is read, hashed and compared with its state only here."""
        for assignment, students in plan.items():
            try:
                template = template_gradebook(root, assignment, db_url)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # the assignment's gradebook template: its students fail
                for student in students:
                    on_result(failed_result({"assignment": assignment, "student": student},
                                            "preparing the assignment's gradebook", exc))
                continue
            skipped = 0
            for student in students:
                try:
                    task = make_task(root, assignment, student, template)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # an unreadable submission: that student's failure
                    on_result(failed_result({"assignment": assignment, "student": student},
                                            "reading the submission", exc))
                    continue
                old = None if force else unchanged(root, task)
                if old is not None:
                    report[assignment][student] = {"ok": True, "notes": old.get("notes", []), "skipped": True}
                    progress.skip()
                    skipped += 1
                    continue
                yield task
            if skipped:
                log(f"[autograde] {assignment}: {skipped} student(s) unchanged since their last grading, "
                    f"skipped (--force regrades them)")

    try:
        run_tasks(tasks(), workers, engine, scheduler, on_result, timeout, security=security, insecure=insecure,
                  size=progress.total, fn=fn)
    except KeyboardInterrupt:
        cancel_running()
        log(f"[autograde] interrupted; {progress.done} of {progress.total} merged, none half-written")
        for assignment, students in plan.items():
            for student in students:
                staging = root / "autograded" / student / f".{assignment}.incoming"
                shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        close_gradebooks()
    return report


def default_workers() -> int:
    return os.cpu_count() or 1
