"""``dlcourse-instructor <verb> [args]``: the console script of the installed package (pyproject.toml).

It runs ``python -m course <verb>`` of a course checkout, with this environment's Python:
the checkout named by ``$COURSE_ROOT``, else the current folder or its nearest parent
holding course.toml and nbgrader_config.py (``course.find_root``). The checkout's own code
runs, not this installed copy, so the commands always match the answers, cases, key and
configuration they read (an installed copy that is older than the checkout changes nothing
here). Outside any course it stops with a message saying how to name one.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import course


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    root = course.find_root()
    if root is None:
        where = (f"COURSE_ROOT={os.environ['COURSE_ROOT']} is not" if os.environ.get("COURSE_ROOT")
                 else f"{Path.cwd()} is not inside")
        print(f"dlcourse-instructor: {where} a course checkout (a folder with course.toml and "
              f"nbgrader_config.py): run it in the checkout or set COURSE_ROOT", file=sys.stderr)
        return 2
    if Path(course.__file__).resolve().parent == root / "course":  # this copy is the checkout's
        from course.__main__ import main as course_main

        return course_main(argv)
    if not (root / "course" / "__main__.py").is_file():
        print(f"dlcourse-instructor: {root} has no course/ package to run", file=sys.stderr)
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    code = ("import sys; sys.path.insert(0, sys.argv.pop(1)); from course.__main__ import main; "
            "sys.exit(main(sys.argv[1:]))")
    os.execv(sys.executable, [sys.executable, "-c", code, str(root), *argv])
    return 0  # not reached
