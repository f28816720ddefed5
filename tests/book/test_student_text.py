"""What students read states the facts they need, and only those they can use.

- every notebook states its points, and the statement matches the nbgrader metadata;
- nothing students see cites the course's private specification (COURSE.md);
- the PyTorch notebooks ask Colab for a GPU runtime, the numpy ones do not;
- every page of the book's sidebar has its own title;
- no notebook prose quotes a measured figure ("took 70 s", "final loss 0.0177"): the
  figures of a run are printed by the run.
"""
from __future__ import annotations

import re

import nbformat
import pytest
import yaml

from course import ROOT
from course.cells import points, title
from course.config import assignments

RELEASES = sorted((ROOT / "assignments").glob("*/*.ipynb"))


@pytest.mark.parametrize("assignment", assignments(ROOT))
def test_every_notebook_states_its_points(assignment):
    for path in (ROOT / "source" / assignment).glob("*.ipynb"):
        nb = nbformat.read(str(path), as_version=4)
        auto, written = points(nb)
        found = re.search(r"(\d+) autograded \+ (\d+) written = (\d+)", nb.cells[0].source)
        assert found, f"{path.name}: the first cell must state 'A autograded + W written = T'"
        assert tuple(float(x) for x in found.groups()) == (auto, written, auto + written), path.name


def test_nothing_students_see_cites_the_private_specification():
    student_files = RELEASES + sorted((ROOT / "package").rglob("*.py")) + sorted((ROOT / "book").glob("*.md"))
    cited = [str(p.relative_to(ROOT)) for p in student_files if "COURSE.md" in p.read_text()]
    assert not cited


@pytest.mark.parametrize("path", RELEASES, ids=lambda p: p.parent.name)
def test_pytorch_notebooks_ask_colab_for_a_gpu(path):
    nb = nbformat.read(str(path), as_version=4)
    imports = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "imports")
    uses_torch = bool(re.search(r"^import torch|^from torch", imports, re.M))
    assert (nb.metadata.get("accelerator") == "GPU") == uses_torch
    if uses_torch:
        assert nb.metadata["colab"]["gpuType"]


def _title(page: str) -> str:
    if page.startswith("book/"):
        text = (ROOT / f"{page}.md").read_text()
        return re.search(r"^# (.+)$", text, re.M).group(1).strip()
    return title(nbformat.read(str(ROOT / f"{page}.ipynb"), as_version=4))


def test_sidebar_titles_are_unique():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    titles = [_title(p) for p in pages]
    assert len(set(titles)) == len(titles), sorted(t for t in titles if titles.count(t) > 1)


MEASURED = re.compile(r"\b(?:took|takes|measured)\b[^.]*?\b\d+(?:\.\d+)?\s?(?:s|seconds|minutes|min)\b"
                      r"|\bloss (?:of )?\*?\*?\d\.\d{3,}", re.I)


@pytest.mark.parametrize("path", RELEASES, ids=lambda p: p.parent.name)
def test_notebook_prose_quotes_no_measured_figure(path):
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert not MEASURED.search(cell.source), cell.source[:300]
