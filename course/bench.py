"""Stage `bench`: how long grading takes compared with running the notebooks in full.

For each assignment (or those named), on this machine:
- autograde: wall time of ``nbgrader autograde`` of the reference submission (kernel
  start, execution with NBGRADER_EXECUTION set, comparison with the answers, database);
- full: wall time of executing the worked-solution notebook top to bottom without
  NBGRADER_EXECUTION, training included, as a student would run it;
- graded run: the same notebook executed in grading mode (NBGRADER_EXECUTION set) by
  itself, without nbgrader: the difference to autograde is nbgrader's fixed overhead;
- sandboxed run: the same graded run inside the grading sandbox (bubblewrap,
  autograder/sandbox.py); sandbox cost = sandboxed run - graded run;
- ratio = full / autograde.

``python -m course bench [assignment ...]`` prints the table and writes build/bench.json.
``python -m course bench --parallel [--copies K] [--workers 1 2] [--engine local|dask]``
measures class grading throughput instead: K copies of the reference captioning
submission graded by the real autograde stage (course/engine.py) with W workers, for
each W; it writes build/bench_parallel.json. ``--coordinator 50 500`` measures the
coordinator's memory and start-up against the class size (course/bench_coordinator.py).
The figures in docs/MEASUREMENTS.md come from this command.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from course import ROOT
from course.config import assignments, log, notebooks, run_nbgrader


def bench(root: Path = ROOT, which: list[str] | None = None) -> list[dict]:
    from course.execute import execute_notebook
    from course.samples import make_samples

    root = Path(root)
    rows = []
    todo = which or assignments(root)
    make_samples(root, todo)
    from course.gradebook import prepare

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


def parallel(root: Path = ROOT, assignment: str = "captioning", copies: int = 8,
             workers: tuple = (1, 2), engine: str = "local") -> list[dict]:
    """Class throughput of the real autograde stage against the number of workers.

    K copies of the reference submission are graded by ``course.autograde`` (tasks,
    sandbox, merge into the gradebook: what a class costs), once per worker count. The
    engine is threads unless asked: the figure is the grading, not a cluster's start-up.
    """
    import shutil

    from course.autograde import autograde
    from course.samples import make_samples

    root = Path(root)
    make_samples(root, [assignment])
    reference = root / "submitted" / "reference" / assignment
    students = [f"bench{i:03d}" for i in range(copies)]
    for student in students:
        shutil.copytree(reference, root / "submitted" / student / assignment, dirs_exist_ok=True)
    rows = []
    try:
        autograde(root, [assignment], only=students[:1], workers=1, force=True)  # warm-up: data, caches
        for w in workers:
            start = time.perf_counter()
            report = autograde(root, [assignment], only=students, workers=w, engine=engine, force=True)
            seconds = time.perf_counter() - start
            failures = sum(1 for notes in report[assignment].values() if any("grading failed" in n for n in notes))
            from course.engine import state_file

            states = [json.loads(state_file(root, assignment, s).read_text()) for s in students
                      if state_file(root, assignment, s).exists()]
            merge = sum(st.get("merge_seconds", 0) for st in states) / max(1, len(states))
            rows.append({"workers": w, "engine": engine, "submissions": copies, "seconds": round(seconds, 1),
                         "per_minute": round(60 * copies / seconds, 2),
                         "seconds_per_submission": round(seconds / copies, 2), "failures": failures,
                         "gradebook_merge_seconds": round(merge, 3)})
            log("bench", f"{w} worker(s): {copies} submissions in {seconds:.1f} s = {60 * copies / seconds:.2f}/min")
    finally:
        for student in students:
            shutil.rmtree(root / "submitted" / student, ignore_errors=True)
            shutil.rmtree(root / "autograded" / student, ignore_errors=True)
    if len(rows) > 1:
        log("bench", f"speed-up {rows[-1]['workers']} vs {rows[0]['workers']} worker(s): "
                     f"{rows[-1]['per_minute'] / rows[0]['per_minute']:.2f}x")
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "assignment": assignment,
           "rows": rows}
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / "bench_parallel.json").write_text(json.dumps(out, indent=2) + "\n")
    return rows


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course bench")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--parallel", action="store_true", help="grading throughput against the number of workers")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engine", choices=["local", "dask"], default="local")
    parser.add_argument("--coordinator", type=int, nargs="+", metavar="N",
                        help="the coordinator's peak memory and start-up for classes of N students "
                             "(course/bench_coordinator.py)")
    args = parser.parse_args(argv)
    if args.coordinator:
        from course.bench_coordinator import coordinator

        coordinator(args.coordinator)
    elif args.parallel:
        parallel(ROOT, (args.assignment or ["captioning"])[0], args.copies, tuple(args.workers), args.engine)
    else:
        bench(ROOT, args.assignment or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
