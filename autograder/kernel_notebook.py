"""The copy of its own notebook that a grading kernel may read: the student's text only.

nbgrader grades the notebook it restored in ``autograded/<student>/<assignment>/``: every
locked cell put back from the gradebook, hidden tests and mark schemes included. A
student's cell can open the notebook file in its working folder, so the kernel gets
``kernel_copy`` of it instead:

- every locked nbgrader cell that is not a solution cell (provided code, visible checks,
  graded test cells, task cells) gets the source the student saw: the cell of the same
  ``grade_id`` in the release notebook (``assignments/<assignment>/<notebook>``); a
  locked cell the release does not have keeps no source;
- every cell (the student's own included) loses any region from a line holding
  ``BEGIN HIDDEN TESTS`` / ``BEGIN MARK SCHEME`` to the line holding the matching END
  (line by line, linear time, no regular expression across lines); a region that never
  ends runs to the end of the cell;
- outputs, attachments, notebook metadata and nbgrader checksums are dropped (the kernel
  never needs them).

What the kernel executes is not this file: the executor sends it the restored cells.
"""
from __future__ import annotations

import json
from pathlib import Path

KEPT_META = ("grade_id", "grade", "solution", "locked", "task", "points", "schema_version")
REGIONS = (("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"), ("BEGIN MARK SCHEME", "END MARK SCHEME"))


def strip_hidden(text: str) -> str:
    """``text`` without hidden-test and mark-scheme regions (see module doc); linear time."""
    upper = text.upper()
    if not any(begin in upper for begin, _ in REGIONS):
        return text
    out, inside = [], None
    for line in text.split("\n"):
        key = line.upper()
        if inside is None:
            for begin, end in REGIONS:
                if begin in key:
                    inside = end
                    break
            else:
                out.append(line)
                continue
        if inside is not None and inside in key:
            inside = None  # the END line goes too
    return "\n".join(out)


def _source(cell) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _cells(path: Path) -> list:
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    cells = nb.get("cells") if isinstance(nb, dict) else None
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def release_sources(release_nb: Path | None) -> dict[str, str]:
    """{grade_id: source} of the release notebook's nbgrader cells (empty if there is none)."""
    out: dict[str, str] = {}
    if release_nb is None:
        return out
    for cell in _cells(release_nb):
        gid = _nbgrader(cell).get("grade_id")
        if isinstance(gid, str) and gid not in out:
            out[gid] = _source(cell)
    return out


def kernel_view(graded_nb: Path, release_nb: Path | None) -> dict:
    """The notebook (as JSON data) the kernel may read for ``graded_nb`` (see module doc)."""
    released = release_sources(release_nb)
    cells = []
    for cell in _cells(graded_nb):
        meta = _nbgrader(cell)
        kind = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown", "raw") else "raw"
        source = _source(cell)
        if meta.get("locked") and not meta.get("solution"):
            gid = meta.get("grade_id")
            source = released.get(gid, "") if isinstance(gid, str) else ""
        kept = {k: meta[k] for k in KEPT_META if k in meta and isinstance(meta[k], (bool, int, float, str))}
        if isinstance(kept.get("grade_id"), str) and strip_hidden(kept["grade_id"]) != kept["grade_id"]:
            del kept["grade_id"]
        new = {"cell_type": kind, "metadata": {"nbgrader": kept} if kept else {}, "source": strip_hidden(source)}
        if kind == "code":
            new["execution_count"] = None
            new["outputs"] = []
        cells.append(new)
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}


def kernel_copy(graded_nb: Path, release_dir: Path | str | None, dest: Path) -> Path:
    """Write the kernel's view of ``graded_nb`` to ``dest`` (the release is looked up by name)."""
    release_nb = None
    if release_dir:
        candidate = Path(release_dir) / Path(graded_nb).name
        if candidate.is_file() and not candidate.is_symlink():
            release_nb = candidate
    view = kernel_view(Path(graded_nb), release_nb)
    Path(dest).write_text(json.dumps(view, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return Path(dest)
