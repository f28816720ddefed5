"""Intake: what nbgrader reads of a submission, and what it copies, is checked first.

Both run inside ``nbgrader autograde`` (nbgrader_config.py), whoever starts it:

- ``quarantine_hook`` (nbgrader's ``pre_convert_hook``, before nbgrader copies a
  student's files): symbolic links, FIFOs, devices and oversized files in the student's
  submission folder are moved to ``build/quarantine/<student>/<assignment>/``. nbgrader
  copies every other file of the folder into ``autograded/`` and then ``feedback/``,
  following links, so a link to ``autograder/answer.key`` would otherwise come back to the
  student, and a FIFO would block grading.
- ``IntakeExporter`` (nbgrader's exporter): a submitted notebook that is missing, not a
  regular file, too large, not JSON or not a valid notebook is graded as the untouched
  release (zero points); nbgrader metadata dropped or duplicated by an editor is repaired
  from the release (``autograder.repair``). The submission on disk is never changed.

What intake did is written to ``build/intake/<student>/<assignment>/<notebook>.json``
(a list of notes), which ``python -m course autograde`` gathers into
``build/intake_report.json``.
"""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from traitlets import Integer

from autograder.repair import repair

MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024
MAX_FILE_BYTES = 32 * 1024 * 1024


def read_submission(path: Path, release_path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES):
    """(notebook to grade, notes) for the submitted ``path`` against ``release_path``."""
    path, release_path = Path(path), Path(release_path)
    release_nb = nbformat.read(str(release_path), as_version=4)

    def fallback(why: str):
        return release_nb, [f"{path.name}: {why}; graded as the untouched release"]

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return fallback("missing")
    if not stat.S_ISREG(info.st_mode):
        return fallback("not a regular file (a link or a special file)")
    if info.st_size > max_bytes:
        return fallback(f"larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            raw = f.read(max_bytes + 1)
        nb = nbformat.convert(nbformat.reader.reads(raw.decode("utf-8")), 4)
        fix_cell_ids(nb)
        nbformat.validate(nb)
    except Exception as exc:  # invalid JSON or UTF-8, not a notebook, wrong schema
        reason = (str(exc).splitlines() or [""])[0][:200]
        return fallback(f"not a valid notebook ({type(exc).__name__}: {reason})")
    notes = [f"{path.name}: {fix}" for fix in repair(nb, release_nb)]
    fix_cell_ids(nb)  # cells put back from the release may repeat an id
    return nb, notes


CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def fix_cell_ids(nb) -> None:
    """Give duplicated, missing or malformed cell ids fresh ones derived from their position.

    nbformat would repair them with random ids, and a regrade would then differ from the
    first grading (feedback pages show cell ids).
    """
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        return
    seen = set()
    for index, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if not isinstance(cid, str) or cid in seen or not CELL_ID.match(cid):
            cid = f"cell-{index}"
            while cid in seen:
                cid += "-"
            cell["id"] = cid
        seen.add(cid)


def intake_dir(root: Path, student: str, assignment: str) -> Path:
    return Path(root) / "build" / "intake" / student / assignment


def write_notes(root: Path, student: str, assignment: str, notebook: str, notes: list[str]) -> None:
    folder = intake_dir(root, student, assignment)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{notebook}.json").write_text(json.dumps(notes, indent=1) + "\n")


def _inside(path, folder) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path.startswith(folder.rstrip(os.sep) + os.sep)


class IntakeExporter(NotebookExporter):
    """nbgrader's notebook exporter, reading submissions through ``read_submission``."""

    max_notebook_bytes = Integer(MAX_NOTEBOOK_BYTES, help="larger submissions are not read").tag(config=True)

    def from_filename(self, filename, resources=None, **kw):
        coursedir = getattr(self.parent, "coursedir", None)
        info = (resources or {}).get("nbgrader", {})
        if coursedir is None or "student" not in info:
            return super().from_filename(filename, resources, **kw)
        submitted = os.path.join(coursedir.root, coursedir.submitted_directory)
        if not _inside(filename, submitted):  # nbgrader's own intermediate copy (autograded/)
            return super().from_filename(filename, resources, **kw)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", info["assignment"]))
        release = release / f"{info['notebook']}.ipynb"
        if not release.exists():
            raise FileNotFoundError(f"{release} is missing: run `./course.sh release` first")
        nb, notes = read_submission(Path(filename), release, self.max_notebook_bytes)
        write_notes(coursedir.root, info["student"], info["assignment"], info["notebook"], notes)
        for note in notes:
            self.log.warning("intake %s/%s: %s", info["student"], info["assignment"], note)
        resources = self._init_resources(resources)
        return self.from_notebook_node(nb, resources=resources, **kw)


def quarantine(folder: Path, dest: Path, max_bytes: int = MAX_FILE_BYTES) -> list[str]:
    """Move links, special files and files over ``max_bytes`` out of ``folder``; return notes."""
    notes = []
    folder = Path(folder)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            try:
                info = os.lstat(path)
            except OSError:
                continue
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                continue
            why = None
            if stat.S_ISLNK(mode):
                why = "a symbolic link"
            elif not stat.S_ISREG(mode):
                why = "a special file"
            elif info.st_size > max_bytes:
                why = f"larger than {max_bytes // (1024 * 1024)} MiB"
            if why:
                target = Path(dest) / path.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists() or target.is_symlink():
                    target.unlink()
                os.replace(path, target)
                notes.append(f"{path.relative_to(folder)}: {why}; moved out of the submission, not graded")
    return notes


def quarantine_hook(assignment=None, student=None, notebooks=None, **_):
    """nbgrader ``pre_convert_hook``: quarantine the folder of the notebooks being graded."""
    if not notebooks:
        return
    folder = Path(notebooks[0]).parent
    # submitted/<student>/<assignment>/<notebook>.ipynb
    student_id, assignment_id = folder.parent.name, folder.name
    root = folder.parent.parent.parent
    dest = root / "build" / "quarantine" / student_id / assignment_id
    try:
        notes = quarantine(folder, dest)
    except Exception as exc:  # never let a half-done quarantine pass silently
        notes = [f"quarantine failed ({type(exc).__name__}: {exc}); every file but notebooks removed"]
        for path in list(folder.rglob("*")):
            if path.is_symlink() or (path.is_file() and path.suffix != ".ipynb"):
                path.unlink()
    if notes:
        folder_notes = intake_dir(root, student_id, assignment_id)
        folder_notes.mkdir(parents=True, exist_ok=True)
        (folder_notes / "_files.json").write_text(json.dumps(notes, indent=1) + "\n")
