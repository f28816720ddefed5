"""``python -m course bench --coordinator 50 500``: the coordinator against the class size.

For each class size N, in a fresh process (so its peak memory is its own): a scratch copy
of the course with N students, each handing in the reference captioning submission with
a 1 MiB image embedded in an output (a Colab notebook with a few plots), graded by the
real coordinator (``course.engine.grade_class``: lazily made tasks, the template
gradebook, the merge into SQLite, the state files) on 2 threads, with a stand-in for the
grading itself that returns the student's notebooks as graded after 20 ms. It reports
the peak resident memory of the process, the memory before grading, the time until the
first task starts (the assignment's template gradebook is made first, once) and the
coordinator's time per student after that (reading, hashing and encoding a submission,
merging its result; the 20 ms stand-in overlaps it on the second thread) and the mean
merge time per student (``merge_seconds`` of the state files). With ``--postgres`` the
gradebook is a database of a throwaway local PostgreSQL (``course.bench.local_postgres``)
instead of SQLite. Writes build/bench_coordinator.json (bench_coordinator_postgres.json);
docs/MEASUREMENTS.md quotes it.
"""
from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course import ROOT
from course.config import log

ASSIGNMENT = "captioning"
IMAGE_BYTES = 1 << 20
FIRST: list = []


def stand_in(task: dict, timeout=None) -> dict:
    """A grading task that takes 20 ms and hands back the submission as graded."""
    FIRST.append(time.perf_counter())
    time.sleep(0.02)
    files = task["submission"]["files"]
    return {"assignment": task["assignment"], "student": task["student"], "key": task["key"], "ok": True,
            "notes": [], "seconds": 0.02, "autograded": dict(files),
            "gradebook": {"timestamp": None, "notebooks": {}}}


def _with_image(nb_bytes: bytes, seed: int) -> bytes:
    """The notebook with an incompressible PNG-sized image in its first code cell's outputs."""
    nb = json.loads(nb_bytes)
    noise = os.urandom(IMAGE_BYTES - 64) + seed.to_bytes(64, "little")
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", []).append({"output_type": "display_data", "metadata": {},
                                                   "data": {"image/png": base64.b64encode(noise).decode()}})
            break
    return json.dumps(nb).encode()


def run(n: int, url: str | None = None) -> dict:
    """Grade a synthetic class of ``n`` in a scratch copy of the course (this process), into
    the gradebook at ``url`` (default: SQLite in the copy)."""
    from course.check import scratch_copy
    from course.engine import grade_class
    from course.gradebook import sync_gradebook
    from course.samples import make_samples

    with tempfile.TemporaryDirectory(prefix="dlcourse-coordinator-") as tmp:
        root = scratch_copy(ROOT, Path(tmp))
        make_samples(root, [ASSIGNMENT])
        reference = root / "submitted" / "reference" / ASSIGNMENT
        names = sorted(p.name for p in reference.glob("*.ipynb"))
        for k in range(n):
            folder = root / "submitted" / f"s{k:05d}" / ASSIGNMENT
            folder.mkdir(parents=True)
            for name in names:
                (folder / name).write_bytes(_with_image((reference / name).read_bytes(), k))
        students = [f"s{k:05d}" for k in range(n)]
        url = url or f"sqlite:///{root / 'gradebook.db'}"
        sync_gradebook(root, ASSIGNMENT, url)  # what the preflight does before grading
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        grade_class(root, {ASSIGNMENT: students}, workers=2, engine="local", db_url=url, fn=stand_in,
                    log=lambda message: None)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        graded = sum(1 for s in students if (root / "autograded" / s / ASSIGNMENT).is_dir())
        from course.engine import state_file

        merges = [json.loads(state_file(root, ASSIGNMENT, s).read_text()).get("merge_seconds", 0) for s in students
                  if state_file(root, ASSIGNMENT, s).exists()]
    return {"students": n, "graded": graded, "image_mib": IMAGE_BYTES / 2**20,
            "gradebook": url.split(":", 1)[0], "merge_ms_per_student": round(1000 * sum(merges) / max(1, len(merges)), 1),
            "rss_before_mib": round(before / 1024, 1), "peak_rss_mib": round(peak / 1024, 1),
            "first_task_seconds": round(FIRST[0] - start, 2) if FIRST else None,
            "seconds": round(seconds, 1), "coordinator_ms_per_student": round(1000 * (seconds - (FIRST[0] - start if FIRST else 0)) / n, 1)}


def coordinator(sizes: list[int], postgres: bool = False) -> list[dict]:
    from contextlib import nullcontext

    from course.bench import local_postgres

    rows = []
    with (local_postgres() if postgres else nullcontext()) as server:
        for n in sizes:
            args = [sys.executable, "-m", "course.bench_coordinator", str(n)]
            if postgres:
                args.append(server.database(f"coordinator{n}"))
            proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-3000:])
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["load_after"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            log("bench", f"{n} students ({row['gradebook']}): peak RSS {row['peak_rss_mib']} MiB (before grading "
                         f"{row['rss_before_mib']}), first task after {row['first_task_seconds']} s, "
                         f"{row['coordinator_ms_per_student']} ms per student, of which merge "
                         f"{row['merge_ms_per_student']} ms")
    out = ROOT / "build" / f"bench_coordinator{'_postgres' if postgres else ''}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"assignment": ASSIGNMENT, "gradebook": "postgresql" if postgres else "sqlite",
                               "rows": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)))
