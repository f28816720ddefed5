"""Stage `bench`: how long grading takes, where the time goes, and how it scales.

``python -m course bench [assignment ...]``: for each assignment (or those named), on this
machine:
- autograde: wall time of ``nbgrader autograde`` of the reference submission (kernel
  start, execution with NBGRADER_EXECUTION set, comparison with the answers, database);
- full: wall time of executing the worked-solution notebook top to bottom without
  NBGRADER_EXECUTION, training included, as a student would run it;
- graded run: the same notebook executed in grading mode (NBGRADER_EXECUTION set) by
  itself, without nbgrader: the difference to autograde is nbgrader's fixed overhead;
- sandboxed run: the same graded run inside the grading sandbox (bubblewrap,
  autograder/sandbox.py); sandbox cost = sandboxed run - graded run;
- ratio = full / autograde.
It prints the table and writes build/bench.json.

The other measurements (each writes build/bench_<name>.json; docs/MEASUREMENTS.md quotes them):
- ``--phases [assignment ...]``: where one notebook's grading time goes, one grading task
  (course/task.py) at a time: start-up of the nbgrader process, kernel start, the cells,
  kernel stop, the comparison with the answers, the rest (grades and files written); as
  a plain ``python -m nbgrader`` process and forked from a warm fork server
  (course/forkserver.py), and the server's own start;
- ``--submission [--workers 1 2] [--repeat R]``: ``python -m course autograde --student
  reference --force --workers W`` (what ``./course.sh autograde`` runs) of the reference
  submission of every assignment, timed as a command, R times for each W;
- ``--parallel [assignment ...] [--copies K] [--workers 1 2] [--engine dask|local]
  [--image-kib N] [--postgres]``: class grading throughput of the real autograde stage
  (course/engine.py): K students, each handing in the reference submission of every
  assignment (or those named) with N KiB of PNG figures in its outputs, graded with W
  workers, for each W (Dask, the default engine, uses threads for one worker); the merge
  time per student into SQLite, or into a throwaway local PostgreSQL with ``--postgres``;
- ``--coordinator 50 500 [--postgres]``: the coordinator's peak memory, start-up and time
  per student against the class size (course/bench_coordinator.py).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from course import ROOT
from course.config import assignments, log, notebooks, run_nbgrader, tool_env


def bench(root: Path = ROOT, which: list[str] | None = None) -> list[dict]:
    from course.execute import execute_notebook
    from course.samples import make_samples

    root = Path(root)
    rows = []
    todo = which or assignments(root)
    make_samples(root, todo)
    from course.preflight import prepare

    prepare(root, todo)  # preflight once, outside the timings
    for assignment in todo:
        start = time.perf_counter()
        run_nbgrader(root, ["autograde", assignment, "--force", "--student=reference"],
                     root / "build" / "logs" / "bench.log", extra_env={"COURSE_SKIP_PREFLIGHT": "1"})
        grade_s = time.perf_counter() - start
        full_s = fast_s = boxed_s = 0.0
        for path in notebooks(root, "solutions", assignment):
            fast_s += execute_notebook(path, root, fast=True, timeout=600)[1]
            boxed_s += execute_notebook(path, root, fast=True, timeout=600, sandbox=True)[1]
            full_s += execute_notebook(path, root, fast=False, timeout=3600)[1]
        rows.append({"assignment": assignment, "autograde_s": round(grade_s, 1), "graded_run_s": round(fast_s, 1),
                     "sandboxed_run_s": round(boxed_s, 1), "sandbox_cost_s": round(boxed_s - fast_s, 1),
                     "full_execution_s": round(full_s, 1), "ratio": round(full_s / grade_s, 1)})
        log("bench", f"{assignment}: autograde {grade_s:.1f} s (sandbox cost {boxed_s - fast_s:+.1f} s), "
                     f"full execution {full_s:.1f} s, ratio {full_s / grade_s:.1f}")
    total_g = sum(r["autograde_s"] for r in rows)
    total_x = sum(r["graded_run_s"] for r in rows)
    total_f = sum(r["full_execution_s"] for r in rows)
    total_b = sum(r["sandboxed_run_s"] for r in rows)
    print(f"\n{'assignment':24s} {'autograde (s)':>14s} {'graded run (s)':>15s} {'sandboxed (s)':>14s} "
          f"{'full run (s)':>13s} {'ratio':>7s}")
    for r in rows:
        print(f"{r['assignment']:24s} {r['autograde_s']:14.1f} {r['graded_run_s']:15.1f} {r['sandboxed_run_s']:14.1f} "
              f"{r['full_execution_s']:13.1f} {r['ratio']:7.1f}")
    if rows:
        print(f"{'all':24s} {total_g:14.1f} {total_x:15.1f} {total_b:14.1f} {total_f:13.1f} {total_f / total_g:7.1f}")
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
           "rows": rows}
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / "bench.json").write_text(json.dumps(out, indent=2) + "\n")
    return rows


def _machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_before": round(os.getloadavg()[0], 2)}


def _write(root: Path, name: str, out: dict) -> None:
    out["machine"]["load_after"] = round(os.getloadavg()[0], 2)
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / f"bench_{name}.json").write_text(json.dumps(out, indent=2) + "\n")


PHASES = ("start-up", "kernel start", "cells", "kernel stop", "compare", "rest")


def phases(root: Path = ROOT, which: list[str] | None = None, repeat: int = 2) -> dict:
    """Where one notebook's grading time goes (module doc): each assignment's reference
    submission graded by one task at a time, as a plain process and forked; the best of
    ``repeat`` runs of each (the forked runs after one that warms the server up)."""
    from course import forkserver
    from course.engine import template_gradebook
    from course.gradebook import db_url
    from course.preflight import prepare
    from course.samples import make_samples
    from course.task import grade_task, make_task, task_env

    root = Path(root)
    machine = _machine()
    todo = which or assignments(root)
    make_samples(root, todo)
    prepare(root, todo)
    url = db_url(root)
    tasks = {a: make_task(root, a, "reference", template_gradebook(root, a, url)) for a in todo}

    def graded(assignment: str, switch: str) -> dict:
        saved = os.environ.get(forkserver.ENV_SWITCH)
        os.environ[forkserver.ENV_SWITCH] = switch
        try:
            result = grade_task(tasks[assignment], timeout=3600)
        finally:
            if saved is None:
                os.environ.pop(forkserver.ENV_SWITCH)
            else:
                os.environ[forkserver.ENV_SWITCH] = saved
        if not result["ok"] or result["phases"].get("forked") != (switch == "1"):
            raise RuntimeError(f"{assignment}: grading failed or ran the wrong way:\n{result.get('log', '')[-3000:]}")
        return result["phases"]

    forkserver.shutdown()
    os.environ[forkserver.ENV_SWITCH] = "1"
    start = time.perf_counter()
    forkserver.start_server(str(root), task_env(root))
    server_s = time.perf_counter() - start
    os.environ.pop(forkserver.ENV_SWITCH)
    rows = []
    for assignment in todo:
        graded(assignment, "1")  # the server imports the assignment's cases the first time
        plain = min((graded(assignment, "0") for _ in range(repeat)), key=lambda p: p["total"])
        forked = min((graded(assignment, "1") for _ in range(repeat)), key=lambda p: p["total"])
        rows.append({"assignment": assignment, "plain": plain, "forked": forked})
        log("bench", f"{assignment}: plain process {plain['total']:.2f} s, forked {forked['total']:.2f} s")
    memory = max(forkserver.memory_mib() or [{"rss": 0.0, "anon": 0.0}], key=lambda m: m["rss"])
    forkserver.shutdown()
    print(f"\nfork server start (imports, once per worker process): {server_s:.2f} s; its resident memory "
          f"after grading every assignment: {memory['rss']:.0f} MiB, of which its own (not mapped files) "
          f"{memory['anon']:.0f} MiB\n")
    print(f"{'assignment':24s} {'':7s} {'total':>6s} " + " ".join(f"{p:>12s}" for p in PHASES))
    for r in rows:
        for kind in ("plain", "forked"):
            print(f"{r['assignment'] if kind == 'plain' else '':24s} {kind:7s} {r[kind]['total']:6.2f} "
                  + " ".join(f"{r[kind].get(p, 0):12.2f}" for p in PHASES))
    for kind in ("plain", "forked"):
        total = sum(r[kind]["total"] for r in rows)
        print(f"{'all' if kind == 'plain' else '':24s} {kind:7s} {total:6.2f} "
              + " ".join(f"{sum(r[kind].get(p, 0) for r in rows):12.2f}" for p in PHASES))
    out = {"machine": machine, "server_start_s": round(server_s, 2), "server_memory_mib": memory, "rows": rows}
    _write(root, "phases", out)
    return out


def submission(root: Path = ROOT, workers: tuple = (1, 2), repeat: int = 1) -> list[dict]:
    """``python -m course autograde --student reference --force --workers W`` (what
    ``./course.sh autograde ...`` runs), timed as a command: the reference submission of
    every assignment, preflight, grading, merge and checks."""
    import subprocess

    from course.samples import make_samples

    root = Path(root)
    make_samples(root, assignments(root))
    rows = []
    machine = _machine()
    for w in workers:
        for _ in range(repeat):
            load = os.getloadavg()[0]
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "course", "autograde", "--student", "reference", "--force",
                                   "--workers", str(w)], cwd=root, capture_output=True, text=True,
                                  env=dict(tool_env(), MPLBACKEND="Agg"))  # what course.sh runs
            seconds = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError(f"autograde failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
            rows.append({"workers": w, "seconds": round(seconds, 1), "load_before": round(load, 2),
                         "load_after": round(os.getloadavg()[0], 2)})
            log("bench", f"{w} worker(s): the reference submission ({len(assignments(root))} notebooks) "
                         f"graded in {seconds:.1f} s (load {load:.2f} before)")
    _write(root, "submission", {"machine": machine, "rows": rows})
    return rows


def with_figures(nb_bytes: bytes, kib: int, seed: int, images: int = 4) -> bytes:
    """The notebook with ``images`` PNG figures (random pixels, so they do not compress;
    ``kib`` KiB in all) as display outputs of its first code cells, as a Colab notebook
    with its plots keeps them."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    nb = json.loads(nb_bytes)
    if kib <= 0:
        return nb_bytes
    rng = np.random.default_rng(seed)
    side = max(8, int((kib * 1024 / images / 3) ** 0.5))
    cells = [c for c in nb["cells"] if c.get("cell_type") == "code"][:images]
    for k in range(images):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)).save(buf, format="PNG")
        cells[k % len(cells)].setdefault("outputs", []).append({
            "output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode(), "text/plain": ["<Figure>"]}})
    return json.dumps(nb, indent=1).encode()


def pg_binary(name: str) -> str | None:
    """The path of PostgreSQL's program ``name`` (initdb, pg_ctl): on PATH, else the newest in
    Debian's /usr/lib/postgresql/<version>/bin; None if it is not installed."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


class local_postgres:
    """A throwaway PostgreSQL server (Debian's postgresql: initdb and pg_ctl) in a scratch
    folder, listening on a Unix socket only; ``database(name)`` makes a database and returns
    its URL. Stopped and removed on exit."""

    def __enter__(self):
        import shutil
        import subprocess
        import tempfile

        def find(name):
            found = pg_binary(name)
            if found is None:
                raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
            return found

        initdb, pg_ctl = find("initdb"), find("pg_ctl")
        self.base = Path(tempfile.mkdtemp(prefix="dlcourse-bench-pg-"))
        data, sock = self.base / "data", self.base / "sock"
        sock.mkdir()
        prefix = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.base, "postgres")
            shutil.chown(sock, "postgres")
            prefix = ["runuser", "-u", "postgres", "--"]
        subprocess.run(prefix + [initdb, "-D", str(data), "-U", "grader", "--auth=trust"], check=True,
                       capture_output=True)
        self.stop = prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-w", "-l", str(self.base / "log"), "-o",
                                 f"-p 5432 -k {sock} -c listen_addresses=''", "start"], check=True,
                       capture_output=True)
        self.sock = sock
        return self

    def database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(f"postgresql://grader@/postgres?host={self.sock}&port=5432",
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return f"postgresql://grader@/{name}?host={self.sock}&port=5432"

    def __exit__(self, *exc):
        import shutil
        import subprocess

        subprocess.run(self.stop, capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def parallel(root: Path = ROOT, which: list[str] | None = None, copies: int = 4, workers: tuple = (1, 2),
             engine: str = "dask", image_kib: int = 1024, postgres: bool = False) -> dict:
    """Class throughput of the real autograde stage against the number of workers (module doc).

    ``copies`` students each hand in the reference submission of every assignment in
    ``which`` (default: all) with ``image_kib`` KiB of PNG figures in each notebook's
    outputs; ``course.autograde`` grades them (tasks, sandbox, merge into the gradebook:
    what a class costs) once per worker count, after a warm-up that grades one of them.
    """
    import shutil
    from contextlib import nullcontext

    from course.autograde import autograde
    from course.engine import state_file
    from course.samples import make_samples

    root = Path(root)
    todo = which or assignments(root)
    make_samples(root, todo)
    students = [f"bench{i:03d}" for i in range(copies)]
    sizes = []
    for i, student in enumerate(students):
        for assignment in todo:
            reference = root / "submitted" / "reference" / assignment
            folder = root / "submitted" / student / assignment
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for nb in sorted(reference.glob("*.ipynb")):
                data = with_figures(nb.read_bytes(), image_kib, seed=i)
                (folder / nb.name).write_bytes(data)
                sizes.append(len(data))
    rows = []
    machine = _machine()
    saved_url = os.environ.get("COURSE_GRADEBOOK_URL")
    server = local_postgres() if postgres else nullcontext()
    try:
        with server:
            if postgres:
                os.environ["COURSE_GRADEBOOK_URL"] = server.database("bench")
            autograde(root, todo, only=students[:1], workers=1, force=True)  # warm-up: data, caches, gradebook
            for w in workers:
                load = os.getloadavg()[0]
                start = time.perf_counter()
                report = autograde(root, todo, only=students, workers=w, engine=engine, force=True)
                seconds = time.perf_counter() - start
                failures = sum(1 for a in report for notes in report[a].values()
                               if any("grading failed" in n for n in notes))
                states = [json.loads(state_file(root, a, s).read_text()) for a in todo for s in students
                          if state_file(root, a, s).exists()]
                merges = sorted(st.get("merge_seconds", 0) for st in states)
                notebooks = copies * sum(len(notebooks_of(root, a)) for a in todo)
                rows.append({"workers": w, "engine": engine if w > 1 else "threads (one worker)",
                             "students": copies, "notebooks": notebooks, "seconds": round(seconds, 1),
                             "notebooks_per_minute": round(60 * notebooks / seconds, 2),
                             "core_seconds_per_notebook": round(seconds * w / notebooks, 2),
                             "failures": failures, "load_before": round(load, 2),
                             "merge_seconds_mean": round(sum(merges) / max(1, len(merges)), 3),
                             "merge_seconds_max": round(merges[-1], 3) if merges else None})
                log("bench", f"{w} worker(s): {notebooks} notebooks in {seconds:.1f} s = "
                             f"{60 * notebooks / seconds:.2f}/min, {seconds * w / notebooks:.2f} core-s per notebook, "
                             f"merge {rows[-1]['merge_seconds_mean']:.3f} s per task (load {load:.2f} before)")
    finally:
        if saved_url is None:
            os.environ.pop("COURSE_GRADEBOOK_URL", None)
        else:
            os.environ["COURSE_GRADEBOOK_URL"] = saved_url
        for student in students:
            shutil.rmtree(root / "submitted" / student, ignore_errors=True)
            shutil.rmtree(root / "autograded" / student, ignore_errors=True)
            for assignment in todo:
                state_file(root, assignment, student).unlink(missing_ok=True)
    if len(rows) > 1:
        log("bench", f"speed-up {rows[-1]['workers']} vs {rows[0]['workers']} worker(s): "
                     f"{rows[-1]['notebooks_per_minute'] / rows[0]['notebooks_per_minute']:.2f}x")
    out = {"machine": machine, "assignments": todo, "gradebook": "postgresql" if postgres else "sqlite",
           "image_kib": image_kib, "notebook_kib_mean": round(sum(sizes) / max(1, len(sizes)) / 1024),
           "rows": rows}
    _write(root, "parallel" + ("_postgres" if postgres else ""), out)
    return out


def notebooks_of(root: Path, assignment: str) -> list[Path]:
    return notebooks(root, "assignments", assignment)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course bench")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--phases", action="store_true", help="where one notebook's grading time goes")
    parser.add_argument("--submission", action="store_true",
                        help="`autograde --student reference --force --workers W`, timed")
    parser.add_argument("--parallel", action="store_true", help="grading throughput against the number of workers")
    parser.add_argument("--copies", type=int, default=4, help="--parallel: students (default 4)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engine", choices=["local", "dask"], default="dask")
    parser.add_argument("--image-kib", type=int, default=1024,
                        help="--parallel: KiB of PNG figures in each submitted notebook (default 1024)")
    parser.add_argument("--postgres", action="store_true",
                        help="--parallel, --coordinator: the gradebook in a throwaway local PostgreSQL")
    parser.add_argument("--repeat", type=int, default=1, help="--submission: runs per worker count")
    parser.add_argument("--coordinator", type=int, nargs="+", metavar="N",
                        help="the coordinator's peak memory and start-up for classes of N students "
                             "(course/bench_coordinator.py)")
    args = parser.parse_args(argv)
    if args.coordinator:
        from course.bench_coordinator import coordinator

        coordinator(args.coordinator, postgres=args.postgres)
    elif args.phases:
        phases(ROOT, args.assignment or None)
    elif args.submission:
        submission(ROOT, tuple(args.workers), args.repeat)
    elif args.parallel:
        parallel(ROOT, args.assignment or None, args.copies, tuple(args.workers), args.engine, args.image_kib,
                 args.postgres)
    else:
        bench(ROOT, args.assignment or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
