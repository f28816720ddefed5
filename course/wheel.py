"""The helper package as a wheel, served by the course site.

The setup cell of every notebook installs ``dlcourse`` from the public repository with
pip; when that fails (GitHub unreachable, repository not published yet) it installs this
wheel from the site instead: ``<site>/downloads/dlcourse-<version>-py3-none-any.whl``.
The book stage builds it into ``_build/html/downloads/`` (so the published site serves
it) and the release step writes its address into the setup cells (COURSE_WHEEL).
"""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from course import ROOT
from course.config import settings

FOLDER = "downloads"  # under the site root


def version(root: Path = ROOT) -> str:
    """The helper package's version, from <root>/package (this repository's for a course
    folder without its own copy, such as the small courses the tests build)."""
    pyproject = Path(root) / "package" / "pyproject.toml"
    if not pyproject.is_file():
        pyproject = ROOT / "package" / "pyproject.toml"
    with open(pyproject, "rb") as f:
        return tomllib.load(f)["project"]["version"]


def filename(root: Path = ROOT) -> str:
    """The wheel's file name (pure Python, any platform)."""
    return f"dlcourse-{version(root)}-py3-none-any.whl"


def url(root: Path = ROOT) -> str:
    """Where the published site serves the wheel (course.toml [public] site)."""
    return f"{settings(root)['public']['site'].rstrip('/')}/{FOLDER}/{filename(root)}"


def build(root: Path, site: Path) -> Path:
    """Build the wheel of <root>/package into <site>/downloads/; return its path.

    ``pip wheel --no-deps --no-build-isolation``: offline, with the setuptools of this
    environment; setuptools' scratch folders (package/build, *.egg-info) are git-ignored.
    """
    out = Path(site) / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(out), str(Path(root) / "package")],
                          capture_output=True, text=True)
    wheel = out / filename(root)
    if proc.returncode != 0 or not wheel.is_file():
        raise RuntimeError(f"building the dlcourse wheel failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return wheel
