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

import bisect
import copy
import difflib

from autograder.regions import HIDDEN_TESTS, strip_regions


def _norm(source: str) -> str:
    """Source without hidden-test regions and trailing blanks, for matching.

    Linear time in the source (``autograder.regions``; an unterminated BEGIN drops the
    rest of the source), whatever a student put in it.
    """
    source = strip_regions(source, (HIDDEN_TESTS,))
    return "\n".join(line.rstrip() for line in source.strip().splitlines() if line.strip())


def _gid(cell):
    """The cell's grade id, or None (also when its nbgrader metadata is malformed)."""
    meta = cell.metadata.get("nbgrader")
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def _malformed(cell) -> bool:
    """nbgrader metadata that is not a dict, or whose grade id is not a string."""
    if "nbgrader" not in cell.metadata:
        return False
    meta = cell.metadata["nbgrader"]
    return not isinstance(meta, dict) or not isinstance(meta.get("grade_id", ""), str)


def needs_repair(sub, release) -> bool:
    wanted = [_gid(c) for c in release.cells if _gid(c)]
    have = [_gid(c) for c in sub.cells if _gid(c)]
    return sorted(wanted) != sorted(have) or any(_malformed(c) for c in sub.cells)


# Pass 2 compares cells with difflib, whose time on hostile text grows faster than its
# length (a cell of 11 kB built from a 5 kB stub takes seconds). Comparisons are bounded,
# deterministically: cells longer than SIMILARITY_CHARS are not compared character by
# character, and all comparisons of one repair share SIMILARITY_BUDGET units of work
# (characters indexed plus candidate positions examined by difflib; at most about
# 150 ns each, so about 1.5 s in all). A comparison that would pass either bound scores 0
# (the def/class line still counts). The course's notebooks, stripped of metadata,
# shuffled or with every locked cell edited, use at most 1.3 M units: their repair is
# unchanged.
SIMILARITY_CHARS = 50_000
SIMILARITY_BUDGET = 10_000_000


class _OverBudget(Exception):
    pass


class _Budget:
    def __init__(self, units: int):
        self.left = units

    def spend(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise _OverBudget


class _BoundedMatcher(difflib.SequenceMatcher):
    """difflib's matcher, charging its work to a budget before doing it (same results)."""

    def __init__(self, a: str, b: str, budget: _Budget):
        self._budget = budget
        budget.spend(len(a) + len(b) + 1)  # indexing b
        super().__init__(None, a, b)

    def find_longest_match(self, alo=0, ahi=None, blo=0, bhi=None):
        ahi = len(self.a) if ahi is None else ahi
        b2j, a = self.b2j, self.a
        self._budget.spend(ahi - alo + 1 + sum(len(b2j.get(a[i], ())) for i in range(alo, ahi)))
        return super().find_longest_match(alo, ahi, blo, bhi)


def _similarity(stub: str, text: str, budget: _Budget) -> float:
    """difflib's ratio of ``stub`` and ``text``, or 0 when it would cost too much."""
    if len(text) > SIMILARITY_CHARS or len(stub) > SIMILARITY_CHARS:
        return 0.0
    try:
        return _BoundedMatcher(stub, text, budget).ratio()
    except _OverBudget:
        return 0.0


def _ratio_bound(stub: str, text: str) -> float:
    """An upper bound of difflib's ratio from the lengths alone (its real_quick_ratio)."""
    total = len(stub) + len(text)
    return 2.0 * min(len(stub), len(text)) / total if total else 1.0


def repair(sub, release) -> list[str]:
    """Restore nbgrader metadata of ``sub`` in place from ``release``; return notes.

    Each cell's source is normalised once; the time is linear in the size of the
    submission apart from pass 2's comparisons, which are bounded (SIMILARITY_BUDGET).
    """
    notes = []
    if not needs_repair(sub, release):
        return notes
    # Start from a clean slate: metadata that survived may be partial, duplicated or malformed.
    seen, malformed, duplicates = set(), 0, []
    for cell in sub.cells:
        if _malformed(cell):
            cell.metadata.pop("nbgrader", None)
            malformed += 1
            continue
        gid = _gid(cell)
        if gid in seen:
            cell.metadata.pop("nbgrader", None)
            duplicates.append(gid)
        elif gid:
            seen.add(gid)
    if malformed:
        notes.append(f"malformed nbgrader metadata removed from {malformed} cell(s)")
    notes += [f"duplicate cell '{gid}': extra copy is not graded" for gid in duplicates[:10]]
    if len(duplicates) > 10:
        notes.append(f"... and {len(duplicates) - 10} more duplicated cell(s), not graded")

    rel_cells = [c for c in release.cells if _gid(c)]
    rel_norm = [_norm(c.source) for c in rel_cells]
    sub_norm = [_norm(c.source) for c in sub.cells]
    # Pass 1: anchor locked cells by exact source, in order.
    where = {}  # (cell type, normalised source) -> submission indices, ascending
    for si, cell in enumerate(sub.cells):
        where.setdefault((cell.cell_type, sub_norm[si]), []).append(si)
    anchors = {}  # release index -> submission index
    pos = 0
    for ri, rc in enumerate(rel_cells):
        meta = rc.metadata["nbgrader"]
        if not meta.get("locked") or meta.get("solution"):
            continue
        found = where.get((rc.cell_type, rel_norm[ri]), [])
        k = bisect.bisect_left(found, pos)
        if k < len(found):
            anchors[ri] = found[k]
            pos = found[k] + 1
    # Pass 2: solution cells between their anchors, by similarity to the stub.
    budget = _Budget(SIMILARITY_BUDGET)
    sub_lines: dict = {}  # submission index -> set of its normalised lines (for the head line)
    by_type: dict = {}  # cell type -> submission indices, ascending
    for si, cell in enumerate(sub.cells):
        by_type.setdefault(cell.cell_type, []).append(si)
    used = set(anchors.values())
    for ri, rc in enumerate(rel_cells):
        if not rc.metadata["nbgrader"].get("solution"):
            continue
        before = max((anchors[k] for k in anchors if k < ri), default=-1)
        after = min((anchors[k] for k in anchors if k > ri), default=len(sub.cells))
        stub = rel_norm[ri]
        head = stub.splitlines()[:1] if rc.cell_type == "code" else []
        best, best_score = None, 0.0
        same_type = by_type.get(rc.cell_type, [])
        for si in same_type[bisect.bisect_right(same_type, before):bisect.bisect_left(same_type, after)]:
            if si in used:
                continue
            bonus = 0.0
            if head:
                if si not in sub_lines:
                    sub_lines[si] = set(sub_norm[si].splitlines())
                bonus = 1.0 if head[0] in sub_lines[si] else 0.0
            if _ratio_bound(stub, sub_norm[si]) + bonus <= best_score:
                continue  # cannot beat the best so far: not worth a comparison
            score = _similarity(stub, sub_norm[si], budget) + bonus
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
