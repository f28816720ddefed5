"""autograder.kernel_notebook: the notebook a grading kernel may read holds the student's text only."""
from __future__ import annotations

import json
import time

import nbformat

from autograder.kernel_notebook import kernel_copy, kernel_view, strip_hidden


def _meta(gid, **flags):
    return {"nbgrader": {"grade_id": gid, "grade": False, "solution": False, "locked": False, "task": False,
                         "schema_version": 3, **flags, "checksum": "abc123"}}


def _nb(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def test_strip_hidden_regions():
    text = ("a\n### BEGIN HIDDEN TESTS\nsecret()\n### END HIDDEN TESTS\nb\n"
            "=== BEGIN MARK SCHEME ===\nx\n=== END MARK SCHEME ===\nc")
    assert strip_hidden(text) == "a\nb\nc"
    assert strip_hidden("q\nbegin mark scheme\nnever ends\nmore") == "q"
    assert strip_hidden("nothing here") == "nothing here"


def test_strip_hidden_is_linear():
    text = "BEGIN MARK SCHEME\n" * 200_000 + "x" * 5_000_000 + "\nEND HIDDEN TESTS\n" * 200_000
    start = time.perf_counter()
    assert "BEGIN" not in strip_hidden(text)
    assert time.perf_counter() - start < 5


def test_kernel_view(tmp_path):
    new_code, new_md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    release = _nb([
        new_code("import numpy as np", metadata=_meta("imports", locked=True)),
        new_code("def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()", metadata=_meta("f", solution=True)),
        new_code("# Graded: f (1 point).", metadata=_meta("test_f", grade=True, locked=True, points=1)),
        new_md("**Question.** Why?", metadata=_meta("q", task=True, locked=True, points=2)),
    ])
    graded = _nb([
        new_code("import numpy as np", metadata=_meta("imports", locked=True)),
        new_code("def f():\n    return 42  # the student's own", metadata=_meta("f", solution=True)),
        new_code("print('extra, the student wrote it')"),
        new_code("# Graded: f (1 point).\n### BEGIN HIDDEN TESTS\nprobe('demo/f', globals())\n"
                 "### END HIDDEN TESTS",
                 metadata=_meta("test_f", grade=True, locked=True, points=1)),
        new_md("**Question.** Why?\n\n=== BEGIN MARK SCHEME ===\n\n2 points if SECRET\n\n=== END MARK SCHEME ===",
               metadata=_meta("q", task=True, locked=True, points=2)),
        new_code("hidden_helper()", metadata=_meta("not_in_release", locked=True)),
        new_code("x = 1\n# BEGIN HIDDEN TESTS (typed by the student)\nstill hidden",
                 metadata=_meta("g", solution=True)),
    ])
    graded.cells[1].outputs = [nbformat.v4.new_output("stream", text="out")]
    (tmp_path / "release").mkdir()
    nbformat.write(release, str(tmp_path / "release" / "hw.ipynb"))
    nbformat.write(graded, str(tmp_path / "hw.ipynb"))
    copy = kernel_copy(tmp_path / "hw.ipynb", tmp_path / "release", tmp_path / "copy.ipynb")
    text = copy.read_text()
    view = json.loads(text)
    sources = [c["source"] for c in view["cells"]]
    assert sources == [
        "import numpy as np",
        "def f():\n    return 42  # the student's own",
        "print('extra, the student wrote it')",
        "# Graded: f (1 point).",
        "**Question.** Why?",
        "",
        "x = 1",
    ]
    for secret in ("BEGIN HIDDEN TESTS", "BEGIN MARK SCHEME", "SECRET", "probe(", "hidden_helper", "abc123"):
        assert secret not in text, secret
    assert all(c.get("outputs", []) == [] for c in view["cells"])
    nbformat.validate(nbformat.reads(text, as_version=4))


def test_no_release_means_locked_cells_lose_their_source(tmp_path):
    graded = _nb([nbformat.v4.new_code_cell("provided()", metadata=_meta("p", locked=True)),
                  nbformat.v4.new_code_cell("mine()", metadata=_meta("s", solution=True))])
    nbformat.write(graded, str(tmp_path / "hw.ipynb"))
    assert [c["source"] for c in kernel_view(tmp_path / "hw.ipynb", None)["cells"]] == ["", "mine()"]


def test_unreadable_notebook_gives_an_empty_one(tmp_path):
    (tmp_path / "hw.ipynb").write_text("{not json")
    assert kernel_view(tmp_path / "hw.ipynb", None)["cells"] == []
