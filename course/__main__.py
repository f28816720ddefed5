"""``python -m course <verb> [args]``: one verb, one module, one pipeline stage."""
from __future__ import annotations

import importlib
import sys

VERBS = {
    "answers": "regenerate the sealed hidden-test answers from the source notebooks",
    "release": "source/ -> assignments/ (student release) and solutions/",
    "samples": "make sample submissions in submitted/ (reference, untouched, partial, stripped)",
    "collect": "an LMS bulk download (zip or folder) -> submitted/, with times, a roster and a report",
    "preflight": "check grading can start: release, answers, sandbox, offline data; sync a missing gradebook",
    "autograde": "submitted/ -> autograded/ (nbgrader autograde: intake, one sandbox per notebook, verdicts)",
    "feedback": "autograded/ -> feedback/ and grades.csv, and print the grades table",
    "grades": "the gradebook -> the grades file an LMS imports (Canvas, Moodle, CSV)",
    "book": "build the Jupyter Book into _build/html",
    "sitecheck": "open every page of the built site in headless Chromium (math, links, images, console)",
    "publish": "assemble the public student-facing tree in public/",
    "check": "leak and drift checks",
    "overlaps": "mark schemes and reference answers vs what students read (give-aways)",
    "execute": "run a notebook top to bottom and time it",
    "bench": "autograde time vs full execution time, per notebook",
    "pipeline": "the main job: all of the above on the bundled offline data",
}
# Old names of verbs, kept for instructors' scripts: old name -> verb.
ALIASES = {
    "gradebook": "preflight",
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ALIASES:
        argv = [ALIASES[argv[0]], *argv[1:]]
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in VERBS:
        print("usage: python -m course <verb> [args]\n")
        for verb, what in VERBS.items():
            print(f"  {verb:10s} {what}")
        print("\nold names: " + ", ".join(f"{old} (now {verb})" for old, verb in ALIASES.items()))
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"course.{argv[0]}")
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
