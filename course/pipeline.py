"""The main job: the whole instructor pipeline on the bundled offline data.

    data -> answers (if stale) -> release -> samples, as a Canvas export -> collect -> autograde
    -> feedback (and Canvas's per-student pages) -> grades for Canvas -> book -> publish -> leak check

The sample class goes through the term's loop as a real one does: its notebooks arrive as
Canvas's "Download Submissions" zip (renamed and resubmitted copies included, with a roster
and Canvas's submission times), are collected into submitted/, graded, and leave as the
grades file Canvas imports and the feedback pages to attach.

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
    from course import feedback_bundle
    from course.collect import collect
    from course.grades import export as grades_export
    from course.samples import canvas_export, make_samples

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
    samples = root / "build" / "samples"
    expected = stage("samples", make_samples, root, dest=samples / "handed-in")
    exports = {a: canvas_export(root, samples / "handed-in", a, samples / "canvas") for a in expected}
    lms = samples / "canvas"
    for assignment, made in exports.items():
        stage(f"collect {assignment}", collect, root, assignment, made["export"], lms="canvas",
              roster=made["roster"], times=made["times"])
    stage("autograde", autograde, root)
    rows = stage("feedback", feedback, root)
    bundles = stage("feedback for Canvas", feedback_bundle.run, root, "canvas", lms / "roster.csv")
    grades_file = root / "build" / "lms" / "canvas-grades.csv"
    # Written answers are graded by hand later: post the autograded points now (a later export adds them).
    stage("grades for Canvas", grades_export, root, "canvas", grades_file, roster=lms / "roster.csv", pending="partial")
    site = None
    if book:
        from course.book import build

        site = stage("book", build, root)
    public = stage("publish", publish, root, site)
    leaks = stage("leak check", leak_check, [public, root / "assignments", root / "package"], root,
                  feedback=[root / "feedback"])
    summary = {"times": times, "expected_partial": expected, "grades": rows, "leaks": leaks,
               "lms": {"exports": {a: str(m["export"]) for a, m in exports.items()},
                       "grades": str(grades_file), "feedback": [str(p) for p in bundles.get("written", [])]}}
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / "pipeline.json").write_text(json.dumps(summary, indent=2) + "\n")
    total = sum(times.values())
    print(f"""
Pipeline finished in {total:.0f} s. Where to look:
  student release      {root / 'assignments'}
  worked solutions     {root / 'solutions'}
  LMS export (Canvas)  {lms}   (the sample class as handed in: <assignment>.zip, roster.csv, times.csv)
  collect reports      {root / 'build' / 'collect'}
  sample submissions   {root / 'submitted'}   (collected from the export)
  autograded           {root / 'autograded'}   (nbgrader formgrader shows them too)
  feedback (HTML)      {root / 'feedback'}
  feedback for Canvas  {root / 'build' / 'lms' / 'canvas'}   (per-student pages to attach in SpeedGrader)
  grades               {root / 'grades.csv'}; for Canvas's gradebook import: {grades_file}
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
