"""The helper package as a wheel, served by the course site.

The setup cell of every notebook installs ``dlcourse`` from the public repository with
pip; when that fails (GitHub unreachable, repository not published yet) it installs this
wheel from the site instead: ``<site>/downloads/dlcourse-<version>-py3-none-any.whl``.
The book stage builds it into ``_build/html/downloads/`` (so the published site serves
it) and the release step writes its address into the setup cells (COURSE_WHEEL).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
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


# Left behind by earlier builds and editable installs; never part of a wheel.
SCRATCH = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".ipynb_checkpoints")


def build(root: Path, site: Path) -> Path:
    """Build the wheel of <root>/package into <site>/downloads/; return its path.

    ``pip wheel --no-deps --no-build-isolation``: offline, with the setuptools of this
    environment, from a clean temporary copy of package/ (setuptools reuses package/build,
    so a module deleted from dlcourse/ would otherwise live on in every later wheel).
    """
    out = Path(site) / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dlcourse-wheel-") as tmp:
        source = Path(tmp) / "package"
        shutil.copytree(Path(root) / "package", source, ignore=SCRATCH)
        built = Path(tmp) / "wheel"
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                               "--wheel-dir", str(built), str(source)], capture_output=True, text=True)
        wheels = sorted(built.glob("dlcourse-*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            raise RuntimeError(f"building the dlcourse wheel failed (exit {proc.returncode}, "
                               f"wheels: {[w.name for w in wheels]}):\n{proc.stdout}{proc.stderr}")
        wheel = out / wheels[0].name
        shutil.copy2(wheels[0], wheel)
    if wheel.name != filename(root):
        raise RuntimeError(f"the wheel is named {wheel.name}, but the setup cells expect {filename(root)}: "
                           "give package/pyproject.toml a version in pip's normal form (e.g. 1.0rc1, not 1.0-rc1)")
    return wheel
