"""A sample of the variants graded through the whole ``python -m course autograde`` path (slow).

For each assignment, one correct variant and one wrong one (chosen with a fixed seed, or
all of them with ``MUTATION_SAMPLE=all``) are written into the release answered with the
worked solutions, in the cell that defines the graded name, and handed in as two students
of a scratch copy of the course; the real command grades them in its sandbox. The correct
one must get every autograded point, the wrong one must lose some.
"""
from __future__ import annotations

import ast
import os
import random
import subprocess
import sys

import nbformat
import pytest

from course import ROOT
from course.check import scratch_copy
from course.config import assignments, notebooks
from course.feedback import grades
from course.samples import filled_notebook

from tests.mutation.harness import all_variants

pytestmark = pytest.mark.slow


def sample() -> list[tuple]:
    items = all_variants()
    if os.environ.get("MUTATION_SAMPLE") == "all":
        return items
    chosen = []
    for assignment in assignments():
        for kind in ("correct", "wrong"):
            pool = [v for v in items if v[0] == assignment and v[2] == kind]
            if pool:
                chosen.append(random.Random(f"{assignment}/{kind}").choice(pool))
    return chosen


def defines(source: str, name: str) -> bool:
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
    return False


def with_variant(nb, name: str, code: str):
    """``nb`` with ``code`` appended to the solution cell that defines ``name`` (True if found)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution") and defines(cell.source, name):
            cell.source = cell.source.rstrip() + "\n\n\n# variant under test\n" + code
            return True
    return False


def student(index: int, kind: str) -> str:
    return f"{kind}{index:03d}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = scratch_copy(ROOT, tmp_path_factory.mktemp("mutation"))
    chosen = sample()
    for index, (assignment, name, kind, label, code) in enumerate(chosen):
        placed = False
        for release_path in notebooks(root, "assignments", assignment):
            release = nbformat.read(str(release_path), as_version=4)
            solutions = nbformat.read(str(root / "solutions" / assignment / release_path.name), as_version=4)
            nb = filled_notebook(release, solutions)
            placed = with_variant(nb, name, code) or placed
            folder = root / "submitted" / student(index, kind) / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(folder / release_path.name))
        assert placed, f"no solution cell of {assignment} defines {name}"
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run([sys.executable, "-m", "course", "autograde", *sorted({c[0] for c in chosen})],
                         cwd=root, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = {(r["student"], r["assignment"]): r for r in grades(root)}
    return [(item, rows.get((student(i, item[2]), item[0]))) for i, item in enumerate(chosen)]


def test_correct_variants_get_every_point_and_wrong_ones_lose_some(graded):
    problems = []
    for (assignment, name, kind, label, _), row in graded:
        if row is None:
            problems.append(f"{assignment}:{name}:{label}: not graded")
        elif kind == "correct" and row["auto_score"] != row["auto_max"]:
            problems.append(f"{assignment}:{name}: correct '{label}' got {row['auto_score']}/{row['auto_max']}")
        elif kind == "wrong" and not row["auto_score"] < row["auto_max"]:
            problems.append(f"{assignment}:{name}: wrong '{label}' got every point")
    assert problems == []
    assert {kind for (_, _, kind, _, _), _ in graded} == {"correct", "wrong"}
