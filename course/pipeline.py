"""The main job: the whole instructor pipeline on the bundled offline data.

    data -> answers (if stale) -> release -> samples -> autograde -> feedback -> book -> publish -> leak check

One log line per stage with its time; at the end, the grades table and where to look.
``python -m course pipeline [--skip-book]``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from course import ROOT
from course.config import log


def run(root: Path = ROOT, book: bool = True) -> dict:
    from course.answers import ensure_answers
    from course.config import prepare_offline_data
    from course.autograde import autograde
    from course.check import leak_check
    from course.feedback import feedback
    from course.publish import publish
    from course.release import release
    from course.samples import make_samples

    root = Path(root)
    times = {}

    def stage(name, fn, *args, **kwargs):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        times[name] = time.perf_counter() - start
        log("pipeline", f"{name}: done in {times[name]:.1f} s")
        return result

    stage("data", prepare_offline_data)
    stage("answers", ensure_answers, root)
    stage("release", release, root)
    expected = stage("samples", make_samples, root)
    stage("autograde", autograde, root)
    rows = stage("feedback", feedback, root)
    site = None
    if book:
        from course.book import build

        site = stage("book", build, root)
    public = stage("publish", publish, root, site)
    leaks = stage("leak check", leak_check, [public, root / "assignments", root / "package"], root,
                  feedback=[root / "feedback"])
    summary = {"times": times, "expected_partial": expected, "grades": rows, "leaks": leaks}
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / "pipeline.json").write_text(json.dumps(summary, indent=2) + "\n")
    total = sum(times.values())
    print(f"""
Pipeline finished in {total:.0f} s. Where to look:
  student release      {root / 'assignments'}
  worked solutions     {root / 'solutions'}
  sample submissions   {root / 'submitted'}
  autograded           {root / 'autograded'}   (nbgrader formgrader shows them too)
  feedback (HTML)      {root / 'feedback'}
  grades               {root / 'grades.csv'}
  intake report        {root / 'build' / 'intake_report.json'}
  book                 {(site / 'index.html') if site else '(skipped)'}
  public tree          {public}   (push to the public repository; leak check: {len(leaks)} problem(s))
  logs                 {root / 'build' / 'logs'}""", flush=True)
    if leaks:
        raise SystemExit("leak check failed")
    return summary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course pipeline")
    parser.add_argument("--skip-book", action="store_true")
    args = parser.parse_args(argv)
    run(ROOT, book=not args.skip_book)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
