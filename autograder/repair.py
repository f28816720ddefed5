"""Repair a submission's nbgrader metadata against the release before autograding.

Colab and other editors drop the nbgrader metadata, renumber cell ids, duplicate or
delete cells. nbgrader grades cells by their metadata, so a submission without it would
score zero however good its code. ``repair`` restores it from the release notebook:

1. Locked release cells (setup, provided code, visible checks, hidden-test cells, task
   cells) are found in the submission by their exact source (ignoring whitespace at the
   ends) and get their metadata back, in order.
2. Each solution cell is the cell of the same type between the same locked neighbours
   whose source is most like the release stub (the ``def``/``class`` line survives).
3. A cell that was deleted is put back from the release at its place: a locked one so
   the hidden tests it stands for run as usual, a solution cell as its unanswered stub.
4. Later copies of a grade id (duplicated cells) lose their metadata; nbgrader keeps the
   first, and the code of every copy still runs.

Returns a list of human-readable notes on what was repaired (empty: nothing to do).
"""
from __future__ import annotations

import copy
import difflib
import re

import nbformat


HIDDEN = re.compile(r"^[^\n]*BEGIN HIDDEN TESTS.*?END HIDDEN TESTS[^\n]*$", re.S | re.M)


def _norm(source: str) -> str:
    """Source without hidden-test regions and trailing blanks, for matching."""
    source = HIDDEN.sub("", source)
    return "\n".join(line.rstrip() for line in source.strip().splitlines() if line.strip())


def _gid(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def needs_repair(sub, release) -> bool:
    wanted = [_gid(c) for c in release.cells if _gid(c)]
    have = [_gid(c) for c in sub.cells if _gid(c)]
    return sorted(wanted) != sorted(have)


def repair(sub, release) -> list[str]:
    """Restore nbgrader metadata of ``sub`` in place from ``release``; return notes."""
    notes = []
    if not needs_repair(sub, release):
        return notes
    # Start from a clean slate: metadata that survived may be partial or duplicated.
    seen = set()
    for cell in sub.cells:
        gid = _gid(cell)
        if gid in seen:
            cell.metadata.pop("nbgrader", None)
            notes.append(f"duplicate cell '{gid}': extra copy is not graded")
        elif gid:
            seen.add(gid)

    rel_cells = [c for c in release.cells if _gid(c)]
    # Pass 1: anchor locked cells by exact source, in order.
    anchors = {}  # release index -> submission index
    pos = 0
    for ri, rc in enumerate(rel_cells):
        meta = rc.metadata["nbgrader"]
        if not meta.get("locked") or meta.get("solution"):
            continue
        target = _norm(rc.source)
        for si in range(pos, len(sub.cells)):
            if sub.cells[si].cell_type == rc.cell_type and _norm(sub.cells[si].source) == target:
                anchors[ri] = si
                pos = si + 1
                break
    # Pass 2: solution cells between their anchors, by similarity to the stub.
    used = set(anchors.values())
    for ri, rc in enumerate(rel_cells):
        if not rc.metadata["nbgrader"].get("solution"):
            continue
        before = max((anchors[k] for k in anchors if k < ri), default=-1)
        after = min((anchors[k] for k in anchors if k > ri), default=len(sub.cells))
        best, best_score = None, 0.0
        for si in range(before + 1, after):
            cell = sub.cells[si]
            if si in used or cell.cell_type != rc.cell_type:
                continue
            score = difflib.SequenceMatcher(None, _norm(rc.source), _norm(cell.source)).ratio()
            if rc.cell_type == "code":
                head = _norm(rc.source).splitlines()[:1]
                if head and head[0] in _norm(cell.source).splitlines():
                    score += 1.0
            if score > best_score:
                best, best_score = si, score
        if best is not None:
            anchors[ri] = best
            used.add(best)
    # Apply metadata; re-insert missing locked cells from the release. Cells that match no
    # release cell lose stale nbgrader metadata, so no grade id is claimed twice.
    for si, cell in enumerate(sub.cells):
        if si not in used and "nbgrader" in cell.metadata:
            del cell.metadata["nbgrader"]
    restored = []
    for ri, rc in enumerate(rel_cells):
        gid = _gid(rc)
        if ri in anchors:
            cell = sub.cells[anchors[ri]]
            if _gid(cell) != gid:
                cell.metadata["nbgrader"] = copy.deepcopy(rc.metadata["nbgrader"])
                restored.append(gid)
    if restored:
        shown = ", ".join(restored[:4]) + (", ..." if len(restored) > 4 else "")
        notes.append(f"restored metadata of {len(restored)} cell(s) ({shown})")
    for ri, rc in enumerate(rel_cells):
        if ri in anchors:
            continue
        gid = _gid(rc)
        before = max((anchors[k] for k in anchors if k < ri), default=-1)
        sub.cells.insert(before + 1, copy.deepcopy(rc))
        for k in anchors:
            if anchors[k] > before:
                anchors[k] += 1
        anchors[ri] = before + 1
        if rc.metadata["nbgrader"].get("solution"):
            notes.append(f"no answer found for '{gid}': the release stub was put back (graded as unanswered)")
        else:
            notes.append(f"re-inserted missing cell '{gid}' from the release")
    return notes
