"""Delimited regions of cell sources (hidden tests, mark schemes, solutions), in linear time.

Student text reaches this module (feedback hides regions in a student's cells; intake
strips them before matching cells), so it scans each line once and never runs a
regular expression across lines: the time is linear in the size of the text, whatever
the text holds (megabytes of BEGIN markers without END, one line of 10 MB, 10 MB of
newlines).

Semantics are nbgrader's (``ClearHiddenTests`` and ``ClearMarkScheme``), line by line and
for each kind of region on its own:

- a line containing the BEGIN marker starts a region; the line itself is removed;
- a line containing the END marker ends it and is removed too, inside a region or not
  (nbgrader drops a stray END line as well);
- a line containing both markers starts a region (BEGIN is checked first, as nbgrader does);
- a BEGIN inside a region (nested; nbgrader refuses it) keeps the region open;
- a BEGIN that is never closed (nbgrader refuses it) removes everything up to the end of
  the text: for hiding, removing too much is the safe side, and a student cannot reveal
  what follows a marker by leaving out the END.

Lines are separated by ``"\\n"`` (as nbgrader splits them); kept text, line endings
included, is returned unchanged.
"""
from __future__ import annotations

from typing import NamedTuple


class Region(NamedTuple):
    begin: str
    end: str


HIDDEN_TESTS = Region("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MARK_SCHEME = Region("BEGIN MARK SCHEME", "END MARK SCHEME")
SOLUTION = Region("BEGIN SOLUTION", "END SOLUTION")


def _marker_lines(text: str, needles: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) of every line holding one of ``needles``, in order; ``end`` excludes "\\n".

    Each search resumes after the end of the line it found, so every character is looked
    at a bounded number of times per needle (str.find and str.rfind run in C).
    """
    found = set()
    for needle in needles:
        i = text.find(needle)
        while i != -1:
            start = text.rfind("\n", 0, i) + 1
            end = text.find("\n", i + len(needle))
            end = len(text) if end == -1 else end
            found.add((start, end))
            i = text.find(needle, end)
    return sorted(found)


def strip_regions(text: str, regions: tuple[Region, ...] | list[Region],
                  replacements: dict | None = None) -> str:
    """``text`` without the regions of the given kinds (see the module doc for the rules).

    ``replacements`` maps a Region to a line put where each of its regions began (for
    instance ``"# (hidden tests ran here)"``); other regions leave nothing behind.
    """
    regions = tuple(regions)
    replacements = replacements or {}
    needles = tuple(m for r in regions for m in r)
    if not any(n in text for n in needles):  # the common case: nothing to do
        return text
    inside = dict.fromkeys(regions, False)
    out = []
    pos = 0
    for start, end in _marker_lines(text, needles):
        if not any(inside.values()):
            out.append(text[pos:start])
        line = text[start:end]
        for region in regions:
            if region.begin in line:
                if not inside[region] and region in replacements:
                    out.append(replacements[region] + "\n")
                inside[region] = True
            elif region.end in line:
                inside[region] = False
        pos = end + 1
    if not any(inside.values()):
        out.append(text[pos:])
    return "".join(out)

