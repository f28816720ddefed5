"""A tiny course (one `demo` assignment) in a temporary folder, for fast grading tests.

It has the real nbgrader_config.py, autograder/, course/ and course.toml of this repository, the
demo source notebook of tests/files/make_demo.py and its cases (tests/files/demo_cases.py).
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from course import ROOT

FILES = ROOT / "tests" / "files"


def make_demo_course(dest: Path, cell_timeout: int = 10, memory_mib: int = 1024, **grading) -> Path:
    """The demo course in ``dest``; ``grading`` overrides other course.toml [grading] keys."""
    dest = Path(dest)
    shutil.copy2(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    toml = (ROOT / "course.toml").read_text()
    grading = {"cell_timeout": cell_timeout, "kernel_memory_mib": memory_mib, **grading}
    for key, value in grading.items():
        toml, n = re.subn(rf"^{key} = ", f"{key} = {value}  # demo; was ", toml, flags=re.M)
        assert n == 1, f"course.toml has no [grading] key {key}"
    (dest / "course.toml").write_text(toml)
    shutil.copytree(ROOT / "autograder", dest / "autograder",
                    ignore=shutil.ignore_patterns("answers", "__pycache__", "captioning.py", "gan.py",
                                                  "transformer_captioning.py", "network_visualization.py",
                                                  "style_transfer.py"))
    shutil.copy2(FILES / "demo_cases.py", dest / "autograder" / "cases" / "demo.py")
    shutil.copytree(ROOT / "course", dest / "course", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "source" / "demo").mkdir(parents=True)
    sys.path.insert(0, str(FILES))
    try:
        import make_demo
    finally:
        sys.path.remove(str(FILES))
    make_demo.write(dest / "source" / "demo" / "demo.ipynb")
    return dest


def submit(root: Path, student: str, nb) -> None:
    """Put ``nb`` (a notebook, or raw text for a broken file) in the demo submission of ``student``."""
    import nbformat

    folder = Path(root) / "submitted" / student / "demo"
    folder.mkdir(parents=True)
    if isinstance(nb, str):
        (folder / "demo.ipynb").write_text(nb)
    else:
        nbformat.write(nb, str(folder / "demo.ipynb"))


def sampled_demo_course(dest: Path, **settings) -> tuple[Path, dict]:
    """The demo course in ``dest`` (``settings`` as for make_demo_course) with its answers,
    release and sample submissions made: (root, {assignment: expected partial points})."""
    from course.answers import make_answers
    from course.release import release
    from course.samples import make_samples

    root = make_demo_course(dest, **settings)
    make_answers(root, "demo")
    release(root)
    return root, make_samples(root)


def late_demo_course(dest: Path, due: str, times: dict, **settings) -> tuple[Path, dict]:
    """``sampled_demo_course`` with ``due`` as course.toml's due date of `demo` and ``times``
    ({student: ISO 8601 time}) as the collector's record, as `collect` writes it: the course
    the due-date, extension and late-penalty tests grade. Returns the same pair."""
    import json

    root, expected = sampled_demo_course(dest, **settings)
    toml = (root / "course.toml").read_text()
    (root / "course.toml").write_text(toml.replace("[grading]\n", f'[grading]\ndue_dates.demo = "{due}"\n', 1))
    record = root / "build" / "collected" / "demo.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(times))
    return root, expected
