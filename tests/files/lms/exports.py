"""LMS bulk downloads, generated in each LMS's layout for tests/pipeline/test_collect.py.

Where each layout comes from (the same sources as course/lms/<lms>.py):

- Canvas: canvas-lms ``app/models/content_zipper.rb`` (``get_filename``: sortable name with
  non-word characters removed and lower-cased, ``LATE`` (lower-cased) when late, the user id;
  ``add_upload_submission``: ``_<attachment id>_<display name>``); resubmitted files are
  ``name-1.ext`` (Canvas's unique name in the student's submissions folder).
- Moodle: ``mod/assign/classes/downloader.php`` (``<Full Name>_<participant id>`` prefix,
  ``_assignsubmission_file_`` folders (``_file`` without the trailing ``_`` since 4.1), or
  flat ``..._assignsubmission_file_<name>`` files).
- Gradescope: "Export Submissions": ``assignment_<id>_export/submission_metadata.yml`` (Ruby
  YAML: ``:submitters:``, ``:sid:``, ``:created_at:``, Ruby-tagged values) and one
  ``submission_<id>/`` folder per submission.
- Blackboard: ``<Assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>`` (nbgrader's
  zip_collect documentation) and one ``.txt`` receipt per attempt (Name, Date Submitted,
  Files: Original filename / Filename).
- folder: ``<id>/<file>``.
"""
from __future__ import annotations

import io
import json
import re
import stat
import warnings
import zipfile
from pathlib import Path

# -- notebooks ------------------------------------------------------------------------------


def _cell(kind, source, **nbgrader):
    cell = {"cell_type": kind, "metadata": {}, "source": source, "id": nbgrader.pop("id", None) or
            re.sub(r"\W", "-", (nbgrader.get("grade_id") or source)[:40]) or "cell"}
    if kind == "code":
        cell.update({"outputs": [], "execution_count": None})
    if nbgrader:
        cell["metadata"]["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False, "grade": False,
                                        **nbgrader}
    return cell


def notebook(assignment: str, answer: str = "# YOUR CODE HERE\nraise NotImplementedError()") -> dict:
    """A small nbgrader notebook of ``assignment``: a locked intro, an answer cell, a test cell."""
    cells = [
        _cell("markdown", f"# The {assignment} assignment\nRead the instructions of {assignment}.",
              grade_id=f"{assignment}_intro", locked=True),
        _cell("code", answer, grade_id=f"{assignment}_answer", solution=True),
        _cell("code", f"assert answer() == 42  # {assignment}", grade_id=f"test_{assignment}", grade=True,
              locked=True, points=1),
    ]
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def nb_bytes(nb: dict) -> bytes:
    return (json.dumps(nb, indent=1) + "\n").encode()


def answered(assignment: str, value: int = 42) -> bytes:
    return nb_bytes(notebook(assignment, f"def answer():\n    return {value}\n"))


def stripped(assignment: str, value: int = 42) -> bytes:
    """An answered notebook after an editor dropped every nbgrader metadata (locked text kept)."""
    nb = notebook(assignment, f"def answer():\n    return {value}\n")
    for cell in nb["cells"]:
        cell["metadata"] = {}
    return nb_bytes(nb)


# -- zips -----------------------------------------------------------------------------------


def zip_bytes(entries, times: dict | None = None) -> bytes:
    """A zip of ``entries`` ({name: bytes} or [(name, bytes)]); ``times``: {name: (y, m, d, H, M, S)}."""
    buf = io.BytesIO()
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in items:
            info = zipfile.ZipInfo(name, (times or {}).get(name, (2026, 12, 2, 9, 0, 0)))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            z.writestr(info, data)
    return buf.getvalue()


def write_zip(path: Path, entries, times: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zip_bytes(entries, times))
    return path


# -- Canvas ---------------------------------------------------------------------------------


def canvas_lastfirst(last: str, first: str) -> str:
    """Canvas's ``sanitize_file_name`` of the sortable name "Last, First"."""
    return re.sub(r"[^\w]", "", f"{last}, {first}").lower()


def canvas_name(last: str, first: str, user_id: int, attachment_id: int, filename: str, late: bool = False) -> str:
    head = "_".join([canvas_lastfirst(last, first)] + (["late"] if late else []) + [str(user_id)])
    return f"{head}_{attachment_id}_{filename}"


# -- Moodle ---------------------------------------------------------------------------------


def moodle_name(full_name: str, participant: int, filename: str, folders: bool = True, since_41: bool = False,
                plugin: str = "file") -> str:
    prefix = f"{full_name.replace('_', ' ')}_{participant}_assignsubmission_{plugin}"
    if folders:
        return f"{prefix}{'' if since_41 else '_'}/{filename}"
    return f"{prefix}_{filename}"


# -- Gradescope -----------------------------------------------------------------------------


def gradescope_yml(submissions: dict) -> str:
    """submission_metadata.yml as Gradescope (Ruby) writes it: {key: {"submitters": [(name, sid, email)],
    "created_at": "2026-12-01 15:58:30.000000000 -08:00", "history": [created_at, ...]}}."""
    lines = []
    for key, sub in submissions.items():
        lines.append(f"{key}:")
        lines.append("  :submitters:")
        for name, sid, email in sub["submitters"]:
            lines += [f"  - :name: {name}", f"    :sid: '{sid}'", f"    :email: {email}"]
        lines.append(f"  :created_at: {sub['created_at']}")
        lines += ["  :score: 0.0", "  :status: processed",
                  "  :results: !ruby/hash:ActiveSupport::HashWithIndifferentAccess",
                  "    score: 0.0", "    tests: []"]
        history = sub.get("history", [])
        if history:
            lines.append("  :history:")
            for when in history:
                lines += [f"  - :created_at: {when}", "    :score: 0.0"]
        else:
            lines.append("  :history: []")
    return "\n".join(lines) + "\n"


def gradescope_export(path: Path, submissions: dict, assignment_id: int = 777) -> Path:
    root = f"assignment_{assignment_id}_export"
    entries = [(f"{root}/submission_metadata.yml", gradescope_yml(submissions).encode())]
    for key, sub in submissions.items():
        for name, data in sub.get("files", {}).items():
            entries.append((f"{root}/{key}/{name}", data))
    return write_zip(path, entries)


# -- Blackboard -----------------------------------------------------------------------------


def blackboard_receipt(name: str, user: str, assignment: str, date_text: str, files: dict) -> bytes:
    """The .txt Blackboard writes beside an attempt's files; ``files``: {original: stored name}."""
    lines = [f"Name: {name} ({user})", f"Assignment: {assignment}", f"Date Submitted: {date_text}",
             "Current Grade: Needs Grading", "", "Submission Field:",
             "There is no student submission text data for this assignment.", "", "Comments:",
             "There are no student comments for this assignment.", "", "Files:"]
    for original, stored in files.items():
        lines += [f"\tOriginal filename: {original}", f"\tFilename: {stored}"]
    return ("\n".join(lines) + "\n").encode()


def blackboard_attempt(assignment: str, name: str, user: str, stamp: str, date_text: str, files: dict,
                       receipt: bool = True) -> list[tuple[str, bytes]]:
    """Entries of one attempt: ``stamp`` "2026-12-01-23-58-30", ``files`` {original name: bytes}."""
    prefix = f"{assignment}_{user}_attempt_{stamp}"
    entries = [(f"{prefix}_{original}", data) for original, data in files.items()]
    if receipt:
        entries.append((f"{prefix}.txt", blackboard_receipt(name, user, assignment, date_text,
                                                            {o: f"{prefix}_{o}" for o in files})))
    return entries


# -- hostile --------------------------------------------------------------------------------


def hostile_zip(path: Path, good: list[tuple[str, bytes]]) -> Path:
    """A zip with the ``good`` entries and every kind of hostile entry beside them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in good:
            z.writestr(name, data)
        z.writestr("../escape.ipynb", b"{}")
        z.writestr("/etc/absolute.ipynb", b"{}")
        z.writestr("C:\\windows\\drive.ipynb", b"{}")
        z.writestr("a/../../climb.txt", b"x")
        link = zipfile.ZipInfo("link_to_key.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "../../autograder/answer.key")
        z.writestr("bomb.txt", b"\0" * (64 * 1024 * 1024))  # 64 MiB that compress to about 64 KiB
        z.writestr("ctrl\x1b[31mred.txt", b"x")
        with warnings.catch_warnings():  # zipfile warns about the duplicate: it is the point
            warnings.simplefilter("ignore")
            z.writestr(good[0][0], b"second entry of the same name")
        fifo = zipfile.ZipInfo("fifo")
        fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
        z.writestr(fifo, b"")
        z.writestr("secret.ipynb", b"{}")
    path = Path(path)
    path.write_bytes(mark_encrypted(buf.getvalue(), "secret.ipynb"))
    return path


def mark_encrypted(data: bytes, name: str) -> bytes:
    """``data`` (a zip) with the entry ``name`` flagged as encrypted (zipfile cannot write one)."""
    return patch_flags(data, name, set_bits=0x1)


def without_utf8_flag(data: bytes, name: str) -> bytes:
    """``data`` with the UTF-8 flag of ``name`` cleared, as many zip tools write UTF-8 names."""
    return patch_flags(data, name, clear_bits=0x800)


def patch_flags(data: bytes, name: str, set_bits: int = 0, clear_bits: int = 0) -> bytes:
    """``data`` (a zip) with the general purpose flags of entry ``name`` changed in both headers."""
    data = bytearray(data)

    def patch(at):
        flags = (int.from_bytes(data[at:at + 2], "little") | set_bits) & ~clear_bits
        data[at:at + 2] = flags.to_bytes(2, "little")

    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    patch(archive.getinfo(name).header_offset + 6)  # local header
    at = archive.start_dir
    while data[at:at + 4] == b"PK\x01\x02":  # central directory records
        size = int.from_bytes(data[at + 28:at + 30], "little")
        extra = int.from_bytes(data[at + 30:at + 32], "little")
        comment = int.from_bytes(data[at + 32:at + 34], "little")
        if bytes(data[at + 46:at + 46 + size]) == name.encode():
            patch(at + 8)
        at += 46 + size + extra + comment
    return bytes(data)
