"""Instructor commands. ``python -m course <verb>``; each verb is one module and one stage.

source/ -> (release) assignments/, solutions/ -> (answers) autograder/answers/
submitted/ -> (autograde) autograded/ -> (feedback) feedback/ -> (export) grades.csv
book/ + assignments/ -> (book) _build/html -> (publish) public/
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# nbgrader runs `alembic` by name when it opens a new gradebook: the environment's bin
# folder must be on PATH however this package was started (course.sh, pytest, an IDE).
import os as _os
import sys as _sys

_bin = _os.path.dirname(_sys.executable)
if _bin not in _os.environ.get("PATH", "").split(_os.pathsep):
    _os.environ["PATH"] = _os.pathsep.join([_bin, _os.environ.get("PATH", "")])
del _os, _sys, _bin
