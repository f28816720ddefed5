"""A tiny course (one `demo` assignment) in a temporary folder, for fast grading tests.

It has the real nbgrader_config.py, autograder/ and course.toml of this repository, the
demo source notebook of tests/files/make_demo.py and its cases (tests/files/demo_cases.py).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from course import ROOT

FILES = ROOT / "tests" / "files"


def make_demo_course(dest: Path, cell_timeout: int = 10, memory_mib: int = 1024) -> Path:
    dest = Path(dest)
    shutil.copy2(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    toml = (ROOT / "course.toml").read_text()
    toml = toml.replace("cell_timeout = ", f"cell_timeout = {cell_timeout}  # demo; was ")
    toml = toml.replace("kernel_memory_mib = ", f"kernel_memory_mib = {memory_mib}  # demo; was ")
    (dest / "course.toml").write_text(toml)
    shutil.copytree(ROOT / "autograder", dest / "autograder",
                    ignore=shutil.ignore_patterns("answers", "__pycache__", "captioning.py", "gan.py",
                                                  "transformer_captioning.py", "network_visualization.py",
                                                  "style_transfer.py"))
    shutil.copy2(FILES / "demo_cases.py", dest / "autograder" / "cases" / "demo.py")
    (dest / "source" / "demo").mkdir(parents=True)
    sys.path.insert(0, str(FILES))
    try:
        import make_demo
    finally:
        sys.path.remove(str(FILES))
    make_demo.write(dest / "source" / "demo" / "demo.ipynb")
    return dest
