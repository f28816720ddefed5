"""Reading a submission folder without trusting anything in it.

``submitted/<student>/<assignment>/`` is written by a collector (nbgrader's exchange, an
LMS export, a script), from what students sent: every name, link, file type, size and
timestamp in it is hostile. This module is the one place that reads such a folder:

- ``read_folder`` walks it by file descriptors (``O_NOFOLLOW`` on every component, the
  student and assignment folders included), so no symbolic link is ever followed, and
  returns only the regular files inside the student's own folder, as bytes, with a note
  for everything it left out: links, special files, folders named like notebooks,
  oversized files, too many files, and the student's own ``timestamp.txt``;
- notebooks may be large because of their outputs (embedded images): grading regenerates
  outputs, so ``strip_outputs`` drops them before the size bound of what grading needs;
- ``collection_time`` is the submission time, taken from the collector's record
  (``build/collected/<assignment>.json``), never from a file the student controls;
- ``safe_text`` makes any string (lone surrogates, terminal escapes, newlines) printable
  on one line, for notes that name hostile file names or cell ids.

The bounds are the threat model's (docs/INSTRUCTORS.md).
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import stat
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

MIB = 1024 * 1024
MAX_RAW_NOTEBOOK_BYTES = 256 * MIB  # a notebook file as submitted, outputs included
MAX_NOTEBOOK_BYTES = 32 * MIB  # a notebook once its outputs are dropped: what grading needs
MAX_FILE_BYTES = 32 * MIB  # any other file
MAX_EXTRA_BYTES = 64 * MIB  # all other files together
MAX_ENTRIES = 1000  # files and folders read in one submission
MAX_DEPTH = 16  # folder nesting
TIMESTAMP = "timestamp.txt"  # nbgrader reads the submission time from this file
MAX_NOTE = 300  # characters of one note


def safe_text(text, limit: int = MAX_NOTE) -> str:
    """``text`` on one printable line: controls and lone surrogates escaped, length bounded."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
        if len(out) > limit:
            return "".join(out[:limit]) + "..."
    return "".join(out)


def is_notebook_name(name: str) -> bool:
    return name.endswith(".ipynb")


def strip_outputs(raw: bytes) -> bytes:
    """The notebook ``raw`` without outputs and execution counts; ``raw`` itself if it is not one.

    Only the cells' sources (and attachments) matter to grading: the grader runs the
    notebook again and makes its own outputs.
    """
    try:
        nb = json.loads(raw)
    except (ValueError, RecursionError):
        return raw
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return raw
    for cell in nb["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return json.dumps(nb, indent=1).encode("ascii")  # ASCII: escapes such as lone surrogates stay escapes


@dataclasses.dataclass
class Folder:
    """What ``read_folder`` found: regular files by relative path, and notes on the rest."""

    files: dict = dataclasses.field(default_factory=dict)  # {"a/b.txt": bytes}
    notes: list = dataclasses.field(default_factory=list)
    readable: bool = True  # False: the folder itself is missing, a link or not a folder


class _Budget:
    def __init__(self):
        self.entries = 0
        self.extra = 0


def _open_dir(name: str, dir_fd: int | None) -> int:
    """A folder's descriptor, refusing a link (ELOOP) or anything not a folder (ENOTDIR)."""
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                   dir_fd=dir_fd)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    return "a special file (FIFO, socket or device)"


def read_folder(submitted: Path, student: str, assignment: str) -> Folder:
    """The regular files of ``submitted/<student>/<assignment>/`` and notes on what was left out.

    ``submitted`` is the instructor's folder and is trusted; nothing below it is. Paths are
    relative, with ``/``; notebooks directly in the folder have their outputs stripped.
    """
    out = Folder()
    for part in (student, assignment):
        if part in ("", ".", "..") or "/" in part or "\0" in part:
            out.readable = False
            out.notes.append(f"{safe_text(part)}: not a usable folder name; nothing was read")
            return out
    try:
        top = _open_dir(str(submitted), None)
    except OSError as exc:
        out.readable = False
        out.notes.append(f"submitted/ cannot be read ({exc.strerror})")
        return out
    fds = [top]
    try:
        for part, what in ((student, "student folder"), (assignment, "submission folder")):
            try:
                fd = _open_dir(part, fds[-1])
            except OSError as exc:
                out.readable = False
                if exc.errno == errno.ENOENT:
                    out.notes.append(f"no {what}")
                else:
                    try:
                        kind = _kind(os.lstat(part, dir_fd=fds[-1]).st_mode)
                    except OSError:
                        kind = "unreadable"
                    out.notes.append(f"the {what} is {kind}, not a folder: nothing in it was read; "
                                     "graded as the untouched release")
                return out
            fds.append(fd)
        _walk(fds[-1], "", 0, out, _Budget())
    finally:
        for fd in fds:
            os.close(fd)
    return out


def _walk(dir_fd: int, prefix: str, depth: int, out: Folder, budget: _Budget) -> None:
    with os.scandir(dir_fd) as it:
        names = sorted(entry.name for entry in it)
    for name in names:
        rel = prefix + name
        shown = safe_text(rel)
        budget.entries += 1
        if budget.entries > MAX_ENTRIES:
            out.notes.append(f"more than {MAX_ENTRIES} files and folders: the rest was not read")
            return
        try:
            mode = os.lstat(name, dir_fd=dir_fd).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            if is_notebook_name(name):
                out.notes.append(f"{shown}: a folder named like a notebook; not read")
            elif depth + 1 >= MAX_DEPTH:
                out.notes.append(f"{shown}: folders nested deeper than {MAX_DEPTH}; not read")
            else:
                try:
                    sub = _open_dir(name, dir_fd)
                except OSError:
                    out.notes.append(f"{shown}: a folder that could not be opened; not read")
                    continue
                try:
                    _walk(sub, rel + "/", depth + 1, out, budget)
                finally:
                    os.close(sub)
            continue
        if not stat.S_ISREG(mode):
            out.notes.append(f"{shown}: {_kind(mode)}; not read, not graded")
            continue
        if depth == 0 and name == TIMESTAMP:
            out.notes.append(f"{TIMESTAMP}: written on the student's side; not used (the submission time "
                             "comes from the collector's record)")
            continue
        notebook = depth == 0 and is_notebook_name(name)
        bound = MAX_RAW_NOTEBOOK_BYTES if notebook else MAX_FILE_BYTES
        data = _read_regular(name, dir_fd, bound)
        if data is None:
            out.notes.append(f"{shown}: larger than {bound // MIB} MiB or not a regular file; not read")
            continue
        if notebook:
            out.files[rel] = strip_outputs(data)
            continue
        if budget.extra + len(data) > MAX_EXTRA_BYTES:
            out.notes.append(f"{shown}: the submission's other files pass {MAX_EXTRA_BYTES // MIB} MiB; not read")
            continue
        budget.extra += len(data)
        out.files[rel] = data


def _read_regular(name: str, dir_fd: int, bound: int) -> bytes | None:
    """The bytes of regular file ``name`` (never through a link), or None past ``bound``."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
                     dir_fd=dir_fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > bound:
            return None
        data = f.read(bound + 1)
    return data if len(data) <= bound else None


# -- submission times ----------------------------------------------------------------
def collected_record(root: Path, assignment: str) -> Path:
    """The collector's record of submission times: ``{student: ISO 8601 time}``."""
    return Path(root) / "build" / "collected" / f"{assignment}.json"


def collection_time(root: Path, assignment: str, student: str) -> datetime | None:
    """When ``student`` handed ``assignment`` in, by the collector's record (UTC); None if unknown.

    The record is written by whatever collected the submissions (an LMS export's own
    submission times, or the time a file reached the instructor's exchange), never from
    a file inside the submission. Without a record nbgrader gets no time, so no late
    penalty applies.
    """
    path = collected_record(root, assignment)
    try:
        record = json.loads(path.read_text())
        value = record.get(student) if isinstance(record, dict) else None
        if isinstance(value, dict):
            value = value.get("time")
        if not isinstance(value, str):
            return None
        stamp = datetime.fromisoformat(value)
    except (OSError, ValueError):
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc)


def timestamp_text(stamp: datetime) -> str:
    """``stamp`` as nbgrader's timestamp.txt holds it (UTC, parsed by nbgrader's parse_utc)."""
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
