"""Stage `bench`: how long grading takes compared with running the notebooks in full.

For each assignment (or those named), on this machine:
- autograde: wall time of ``nbgrader autograde`` of the reference submission (kernel
  start, execution with NBGRADER_EXECUTION set, comparison with the answers, database);
- full: wall time of executing the worked-solution notebook top to bottom without
  NBGRADER_EXECUTION, training included, as a student would run it;
- graded run: the same notebook executed in grading mode (NBGRADER_EXECUTION set) by
  itself, without nbgrader: the difference to autograde is nbgrader's fixed overhead;
- ratio = full / autograde.

``python -m course bench [assignment ...]`` prints the table and writes build/bench.json.
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
    for assignment in todo:
        start = time.perf_counter()
        run_nbgrader(root, ["autograde", assignment, "--force", "--student=reference"],
                     root / "build" / "logs" / "bench.log")
        grade_s = time.perf_counter() - start
        full_s = fast_s = 0.0
        for path in notebooks(root, "solutions", assignment):
            fast_s += execute_notebook(path, root, fast=True, timeout=600)[1]
            full_s += execute_notebook(path, root, fast=False, timeout=3600)[1]
        rows.append({"assignment": assignment, "autograde_s": round(grade_s, 1), "graded_run_s": round(fast_s, 1),
                     "full_execution_s": round(full_s, 1), "ratio": round(full_s / grade_s, 1)})
        log("bench", f"{assignment}: autograde {grade_s:.1f} s, full execution {full_s:.1f} s, ratio {full_s / grade_s:.1f}")
    total_g = sum(r["autograde_s"] for r in rows)
    total_x = sum(r["graded_run_s"] for r in rows)
    total_f = sum(r["full_execution_s"] for r in rows)
    print(f"\n{'assignment':24s} {'autograde (s)':>14s} {'graded run (s)':>15s} {'full run (s)':>13s} {'ratio':>7s}")
    for r in rows:
        print(f"{r['assignment']:24s} {r['autograde_s']:14.1f} {r['graded_run_s']:15.1f} "
              f"{r['full_execution_s']:13.1f} {r['ratio']:7.1f}")
    if rows:
        print(f"{'all':24s} {total_g:14.1f} {total_x:15.1f} {total_f:13.1f} {total_f / total_g:7.1f}")
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
           "rows": rows}
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / "bench.json").write_text(json.dumps(out, indent=2) + "\n")
    return rows


def main(argv: list[str]) -> int:
    bench(ROOT, argv or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
