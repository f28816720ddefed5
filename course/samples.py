"""Stage `samples`: make sample submissions in submitted/<student>/<assignment>/.

Four students, one per situation the grader must handle:

| student | what it is | expected autograde score |
| --- | --- | --- |
| `reference` | the release answered with the worked solutions | full marks |
| `untouched` | the release as handed out | zero, without crashing the run |
| `partial` | the first half of the solution cells solved, the rest stubs | exactly the points of the tests before the first stub |
| `stripped` | the reference after an editor dropped all nbgrader metadata and cell ids | full marks (metadata is repaired on intake) |
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat

from course import ROOT
from course.config import assignments, log, notebooks

STUDENTS = ("reference", "untouched", "partial", "stripped")


def solution_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def filled_notebook(release_nb, solution_nb, code_cells: int | None = None):
    """The release as a student hands it in, answered from the worked solutions.

    ``code_cells=None`` answers every solution cell (code and written answers), which is
    the perfect submission; ``code_cells=k`` answers only the first k code solution cells.
    """
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    sols = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution_nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}
    if code_cells is None:
        chosen = [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution")]
    else:
        chosen = solution_cells(nb)[:code_cells]
    for i in chosen:
        source = sols[nb.cells[i].metadata["nbgrader"]["grade_id"]]
        # A student's answer has no nbgrader markers: keep the code, drop the marker lines.
        nb.cells[i].source = "\n".join(line for line in source.splitlines()
                                       if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)
    return nb


def half(release_nb) -> int:
    """How many code solution cells the partial submission answers: the first half, rounded up."""
    return (len(solution_cells(release_nb)) + 1) // 2


def expected_partial_points(release_nb) -> float:
    """Points of the test cells placed before the first solution cell left as a stub."""
    cells = solution_cells(release_nb)
    first_stub = cells[half(release_nb)] if half(release_nb) < len(cells) else len(release_nb.cells)
    total = 0.0
    for c in release_nb.cells[:first_stub]:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            total += float(meta.get("points", 0))
    return total


def strip_metadata(nb):
    """What an editor that drops nbgrader metadata (and renumbers cells) hands back."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for i, cell in enumerate(nb.cells):
        cell.metadata = {}
        cell["id"] = f"edited-{i}"
    nb.metadata.pop("dlcourse", None)
    return nb


def make_samples(root: Path = ROOT, which: list[str] | None = None) -> dict:
    """Write the sample submissions; return {assignment: expected partial points}."""
    root = Path(root)
    expected = {}
    for assignment in which or assignments(root):
        for student in STUDENTS:
            folder = root / "submitted" / student / assignment
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
        points = 0.0
        for release_path in notebooks(root, "assignments", assignment):
            release_nb = nbformat.read(str(release_path), as_version=4)
            solution_nb = nbformat.read(str(root / "solutions" / assignment / release_path.name), as_version=4)
            reference = filled_notebook(release_nb, solution_nb)
            made = {
                "reference": reference,
                "untouched": release_nb,
                "partial": filled_notebook(release_nb, solution_nb, half(release_nb)),
                "stripped": strip_metadata(reference),
            }
            for student, nb in made.items():
                nbformat.write(nb, str(root / "submitted" / student / assignment / release_path.name))
            points += expected_partial_points(release_nb)
        expected[assignment] = points
        log("samples", f"{assignment}: {', '.join(STUDENTS)} (partial expects {points:g} points)")
    return expected


def main(argv: list[str]) -> int:
    make_samples(ROOT, argv or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
