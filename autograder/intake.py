"""Intake: what nbgrader reads of a submission, and what it copies, is checked first.

Both run inside ``nbgrader autograde`` (nbgrader_config.py), whoever starts it:

- ``quarantine_hook`` (nbgrader's ``pre_convert_hook``, before nbgrader copies a
  student's files): a student or submission folder that is a link is moved to
  ``build/quarantine/<student>/<assignment>/`` and an empty folder put in its place (the
  notebooks are then graded as the untouched release); inside the folder, symbolic
  links, FIFOs, devices, folders named like notebooks and oversized files are moved
  there too. nbgrader copies every other file of the folder into ``autograded/`` and then
  ``feedback/``, following links, so a link to ``autograder/answer.key`` would otherwise
  come back to the student, and a FIFO would block grading. The student's own
  ``timestamp.txt`` is moved away as well, and the collector's time
  (``autograder.submission.collection_time``) written in its place, if there is one.
- ``IntakeExporter`` (nbgrader's exporter): a submitted notebook that is missing, reached
  through a link anywhere on its path, not a regular file, too large once its outputs
  are dropped, not JSON or not a valid notebook is graded as the untouched release (zero
  points); nbgrader metadata dropped or duplicated by an editor is repaired from the
  release (``autograder.repair``). The submission on disk is never changed.

``python -m course autograde`` reads submissions itself with
``autograder.submission.read_folder`` (same rules) and hands nbgrader a private copy, in
which both of these run again.

What intake did is written to ``build/intake/<student>/<assignment>/<notebook>.json``
(a list of notes, each one printable line), which ``python -m course autograde`` gathers
into ``build/intake_report.json``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from traitlets import Integer

from autograder.recognise import recognise, release_signatures
from autograder.repair import repair
from autograder.submission import (
    MAX_FILE_BYTES,
    MAX_NOTEBOOK_BYTES,
    MAX_RAW_NOTEBOOK_BYTES,
    TIMESTAMP,
    collection_time,
    is_notebook_name,
    safe_text,
    strip_outputs,
    timestamp_text,
)

MIB = 1024 * 1024


def read_submission(path: Path, release_path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES):
    """(notebook to grade, notes) for the submitted ``path`` against ``release_path``.

    The file is read without following a link; its outputs are dropped before the
    ``max_bytes`` bound applies (grading makes its own outputs).
    """
    path, release_path = Path(path), Path(release_path)
    release_nb = nbformat.read(str(release_path), as_version=4)
    name = safe_text(path.name)

    def fallback(why: str):
        return release_nb, [f"{name}: {why}; graded as the untouched release"]

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return fallback("missing")
    if not stat.S_ISREG(info.st_mode):
        return fallback("not a regular file (a link, a folder or a special file)")
    if info.st_size > MAX_RAW_NOTEBOOK_BYTES:
        return fallback(f"larger than {MAX_RAW_NOTEBOOK_BYTES // MIB} MiB even with its outputs")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return fallback("not a regular file")
            raw = f.read(MAX_RAW_NOTEBOOK_BYTES + 1)
    except OSError as exc:
        return fallback(f"unreadable ({exc.strerror})")
    raw = strip_outputs(raw)
    if len(raw) > max_bytes:
        return fallback(f"larger than {max_bytes // MIB} MiB without its outputs")
    try:
        nb = nbformat.convert(nbformat.reader.reads(raw.decode("utf-8")), 4)
        fix_cell_ids(nb)
        nbformat.validate(nb)
    except Exception as exc:  # invalid JSON or UTF-8, not a notebook, wrong schema, too deep
        reason = safe_text((str(exc).splitlines() or [""])[0], 200)
        return fallback(f"not a valid notebook ({type(exc).__name__}: {reason})")
    notes = [f"{name}: {safe_text(fix)}" for fix in repair(nb, release_nb)]
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
    (folder / f"{notebook}.json").write_text(json.dumps([safe_text(n) for n in notes], indent=1) + "\n")


def _inside(path, folder) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def linked_parts(submitted: Path, path: Path) -> list[str]:
    """The components of ``path`` below ``submitted`` that are not real folders (links, files)."""
    submitted, path = Path(os.path.abspath(submitted)), Path(os.path.abspath(path))
    bad, here = [], submitted
    for part in path.relative_to(submitted).parts[:-1]:
        here = here / part
        try:
            if not stat.S_ISDIR(os.lstat(here).st_mode):
                bad.append(part)
        except OSError:
            bad.append(part)
    return bad


class IntakeExporter(NotebookExporter):
    """nbgrader's notebook exporter, reading submissions through ``read_submission``."""

    max_notebook_bytes = Integer(MAX_NOTEBOOK_BYTES,
                                 help="larger submissions (without outputs) are not read").tag(config=True)

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
        if linked_parts(Path(submitted), Path(filename)):
            nb = nbformat.read(str(release), as_version=4)
            notes = [f"{safe_text(Path(filename).name)}: reached through a link; graded as the untouched release"]
        else:
            nb, notes = read_submission(Path(filename), release, self.max_notebook_bytes)
        write_notes(coursedir.root, info["student"], info["assignment"], info["notebook"], notes)
        for note in notes:
            self.log.warning("intake %s/%s: %s", safe_text(info["student"]), info["assignment"], note)
        resources = self._init_resources(resources)
        return self.from_notebook_node(nb, resources=resources, **kw)


def _move_out(path: Path, target: Path) -> None:
    """Move ``path`` (never followed: a link moves as a link) to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    os.replace(path, target)


def quarantine(folder: Path, dest: Path, max_bytes: int = MAX_FILE_BYTES) -> list[str]:
    """Move links, special files, folders named like notebooks and oversized files out of ``folder``.

    Notebooks directly in ``folder`` may be up to MAX_RAW_NOTEBOOK_BYTES (their outputs
    are dropped when they are read); other files up to ``max_bytes``. Returns notes.
    """
    notes = []
    folder = Path(folder)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        top = Path(dirpath) == folder
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            try:
                info = os.lstat(path)
            except OSError:
                continue
            mode = info.st_mode
            why = None
            bound = MAX_RAW_NOTEBOOK_BYTES if top and is_notebook_name(name) else max_bytes
            if stat.S_ISDIR(mode):
                if not is_notebook_name(name):
                    continue
                why = "a folder named like a notebook"
                dirnames.remove(name)
            elif stat.S_ISLNK(mode):
                why = "a symbolic link"
            elif not stat.S_ISREG(mode):
                why = "a special file"
            elif info.st_size > bound:
                why = f"larger than {bound // MIB} MiB"
            if why:
                rel = path.relative_to(folder)
                _move_out(path, Path(dest) / rel)
                notes.append(f"{safe_text(rel)}: {why}; moved out of the submission, not graded")
    return notes


def _unlink_folder_links(folder: Path, dest: Path) -> list[str]:
    """Replace a student or submission folder that is a link (or not a folder) by an empty folder."""
    notes = []
    for path, what in ((folder.parent, "student folder"), (folder, "submission folder")):
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(mode):
            continue
        _move_out(path, dest / f"_{what.replace(' ', '_')}")
        notes.append(f"the {what} was a link or a file; moved out, nothing in it was read "
                     "(graded as the untouched release)")
    folder.mkdir(parents=True, exist_ok=True)
    return notes


def _trusted_timestamp(root: Path, folder: Path, dest: Path, assignment: str, student: str) -> list[str]:
    """Put the collector's time in ``timestamp.txt`` (or none), moving the student's file away."""
    stamp = collection_time(root, assignment, student)
    wanted = timestamp_text(stamp) if stamp else None
    path = folder / TIMESTAMP
    notes = []
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None:
        same = False
        if stat.S_ISREG(info.st_mode) and wanted is not None and info.st_size < 100:
            same = path.read_text(errors="replace").strip() == wanted
        if not same:
            _move_out(path, dest / TIMESTAMP)
            notes.append(f"{TIMESTAMP}: written on the student's side; not used (the submission time comes "
                         "from the collector's record)")
    if wanted is not None and not path.exists():
        path.write_text(wanted + "\n")
    return notes


def _recognise_in_place(root: Path, folder: Path, dest: Path, assignment: str, notebooks: list) -> list[str]:
    """Put each notebook recognised by content under its release name (``autograder.recognise``)
    and make nbgrader's list of notebooks (``notebooks``, changed in place) the release's names."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in (".ipynb", ".zip") and stat.S_ISREG(os.lstat(path).st_mode):
            files[path.name] = path.read_bytes()
    chosen, notes = recognise(files, assignment, release_signatures(root / "assignments"))
    release_names = {s.notebook for s in release_signatures(root / "assignments") if s.assignment == assignment}
    for name in sorted(release_names):
        path = folder / name
        if name in chosen and files.get(name) != chosen[name]:
            if path.exists():
                _move_out(path, dest / name)
            path.write_bytes(chosen[name])
        elif name not in chosen and name in files:  # under the release name, but another assignment's
            _move_out(path, dest / name)
    # Every release notebook: one still missing is graded as the untouched release by IntakeExporter.
    notebooks[:] = [str(folder / name) for name in sorted(release_names)]
    return notes


class IntakeRefused(BaseException):
    """The submission folder could not be made safe: nbgrader must not read it.

    A BaseException, because nbgrader swallows any Exception a pre-convert hook raises
    and would then copy the folder as it is.
    """


def quarantine_hook(assignment=None, student=None, notebooks=None, **_):
    """nbgrader ``pre_convert_hook``: make the folder of the notebooks being graded safe to read."""
    if not notebooks:
        return
    folder = Path(os.path.abspath(notebooks[0])).parent
    # submitted/<student>/<assignment>/<notebook>.ipynb
    student_id, assignment_id = folder.parent.name, folder.name
    root = folder.parent.parent.parent
    dest = root / "build" / "quarantine" / student_id / assignment_id
    try:
        notes = _unlink_folder_links(folder, dest)
        notes += quarantine(folder, dest)
        notes += _trusted_timestamp(root, folder, dest, assignment_id, student_id)
        notes += _recognise_in_place(root, folder, dest, assignment_id, notebooks)
    except Exception as exc:  # never let nbgrader copy a folder that may hold links
        raise IntakeRefused(f"intake could not make {folder} safe ({type(exc).__name__}: {exc})") from exc
    if notes:
        folder_notes = intake_dir(root, student_id, assignment_id)
        folder_notes.mkdir(parents=True, exist_ok=True)
        (folder_notes / "_files.json").write_text(json.dumps(notes, indent=1) + "\n")
