"""Instructor commands. ``python -m course <verb>``; each verb is one module and one stage.

source/ -> (release) assignments/, solutions/ -> (answers) autograder/answers/
submitted/ -> (autograde) autograded/ -> (feedback) feedback/ -> (export) grades.csv
book/ + assignments/ -> (book) _build/html -> (publish) public/
"""
import os
from pathlib import Path


def is_course(folder: Path) -> bool:
    """Is ``folder`` a course checkout (its course.toml and nbgrader_config.py)?"""
    return (Path(folder) / "course.toml").is_file() and (Path(folder) / "nbgrader_config.py").is_file()


def find_root() -> Path | None:
    """The course checkout an installed copy works on: ``$COURSE_ROOT`` if set (None if it
    is not a course), else the current folder or its nearest parent that is one, else None."""
    if os.environ.get("COURSE_ROOT"):
        folder = Path(os.environ["COURSE_ROOT"]).expanduser().resolve()
        return folder if is_course(folder) else None
    try:
        here = Path.cwd().resolve()
    except OSError:  # the current folder was removed
        return None
    return next((folder for folder in (here, *here.parents) if is_course(folder)), None)


# ROOT: the checkout this package is in (``python -m course``, ./course.sh, tests, an
# editable install); for an installed copy (``pip install .``, in site-packages) the
# checkout ``find_root`` names, or None outside any course: never site-packages. A Dask
# worker or scheduler needs no ROOT: a grading task names its course (task["root"]).
_HOME = Path(__file__).resolve().parent.parent
ROOT = _HOME if is_course(_HOME) else find_root()
