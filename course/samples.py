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


def make_samples(root: Path = ROOT, which: list[str] | None = None, dest: Path | None = None) -> dict:
    """Write the sample submissions into ``dest`` (default: submitted/), one folder per
    student and assignment; return {assignment: expected partial points}."""
    root = Path(root)
    dest = Path(dest) if dest else root / "submitted"
    expected = {}
    for assignment in which or assignments(root):
        for student in STUDENTS:
            folder = dest / student / assignment
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
                nbformat.write(nb, str(dest / student / assignment / release_path.name))
            points += expected_partial_points(release_nb)
        expected[assignment] = points
        log("samples", f"{assignment}: {', '.join(STUDENTS)} (partial expects {points:g} points)")
    return expected


# The sample class as Canvas knows it: (user id, first name, last name), and what each hands in.
CANVAS_STUDENTS = {"reference": (1001, "Ada", "Reference"), "untouched": (1002, "Blaise", "Untouched"),
                   "partial": (1003, "Carl", "Partial"), "stripped": (1004, "Dana", "Stripped")}
HANDED_IN = "2026-12-01T12:00:00+00:00"  # Canvas's submitted_at for every sample (exports carry no time)


def canvas_export(root: Path, samples: Path, assignment: str, out: Path) -> dict:
    """The samples of ``assignment`` (``samples/<student>/<assignment>/``) as Canvas's "Download
    Submissions" zip (``out/<assignment>.zip``, named ``<lastfirst>_<user id>_<attachment id>_<file>``,
    see course/lms/canvas.py), with the roster and the submission times Canvas would give.

    Files are renamed as students' editors and Canvas rename them: ``stripped`` hands in
    Colab's "Copy of <notebook>.ipynb"; ``partial`` hands in twice, the untouched release
    first and its work as Canvas's resubmission ``<notebook>-1.ipynb``. Returns the paths.
    """
    import csv
    import zipfile

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    export = out / f"{assignment}.zip"
    attachment = 5000
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as z:
        for student, (user, first, last) in CANVAS_STUDENTS.items():
            lastfirst = (last + first).lower()
            for nb in sorted((Path(samples) / student / assignment).glob("*.ipynb")):
                data = nb.read_bytes()
                names = [nb.name]
                if student == "stripped":
                    names = [f"Copy of {nb.name}"]
                elif student == "partial":
                    release_nb = Path(root) / "assignments" / assignment / nb.name
                    attachment += 1
                    z.writestr(f"{lastfirst}_{user}_{attachment}_{nb.name}", release_nb.read_bytes())
                    names = [f"{nb.stem}-1{nb.suffix}"]
                for name in names:
                    attachment += 1
                    z.writestr(f"{lastfirst}_{user}_{attachment}_{name}", data)
    roster = out / "roster.csv"
    times = out / "times.csv"
    with open(roster, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "lms_id", "first_name", "last_name", "email"])
        for student, (user, first, last) in CANVAS_STUDENTS.items():
            w.writerow([student, user, first, last, f"{student}@example.edu"])
    with open(times, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lms_id", "submitted_at"])
        for user, _, _ in CANVAS_STUDENTS.values():
            w.writerow([user, HANDED_IN])
    return {"export": export, "roster": roster, "times": times}


def main(argv: list[str]) -> int:
    make_samples(ROOT, argv or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
