"""Does the leak check find what must not leak, and only that?"""
from __future__ import annotations

import zipfile

import nbformat
import pytest

from course.check import scan, secrets, split_regions

from .demo_course import make_demo_course


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_demo_course(tmp_path_factory.mktemp("leak-course"))
    return root


def test_regions_are_split_into_public_and_secret_lines():
    """Are the lines between BEGIN/END markers secret and the rest public?"""
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x * 2  # secret\n    ### END SOLUTION\n"
    public, secret = split_regions(src)
    assert public == ["def f(x):"]
    assert secret == ["    return x * 2  # secret"]


def test_secrets_include_solutions_hidden_cases_and_reference_answers(course):
    """Are solution lines, case lines and written reference answers all secrets?"""
    found = secrets(course)
    assert "shifted = x - x.max(axis=1, keepdims=True)" in found
    assert "rng = np.random.RandomState(501)" in found
    assert any("keeps exp from overflowing" in s for s in found)
    assert "def softmax(x):" not in found  # the signature is public


def test_a_planted_solution_line_is_found(course, tmp_path):
    """Is a solution line copied into a public file reported?"""
    page = tmp_path / "page.html"
    page.write_text("<pre><span>e</span> <span>=</span> np.exp(shifted)</pre>\n"
                    "<p>shifted = x - x.max(axis=1, keepdims=True)</p>")
    problems = scan([tmp_path], course)
    assert any("shifted = x - x.max" in p for p in problems)


def test_markers_key_and_answer_files_are_found(course, tmp_path):
    """Are region markers, the course key and answer files reported?"""
    (tmp_path / "a.md").write_text("### BEGIN HIDDEN TESTS\n")
    (tmp_path / "b.txt").write_text((course / "autograder" / "answer.key").read_text())
    (tmp_path / "c.answers").write_bytes(b"x")
    problems = "\n".join(scan([tmp_path], course))
    assert "BEGIN HIDDEN TESTS" in problems
    assert "answer key" in problems
    assert "c.answers" in problems


def test_clean_public_material_passes(course, tmp_path):
    """Is a notebook with only public lines (stubs, checks) reported clean?"""
    nb = nbformat.read(str(course / "source" / "demo" / "demo.ipynb"), as_version=4)
    for cell in nb.cells:
        public, _ = split_regions(cell.source)
        cell.source = "\n".join(public)
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "markdown":
            cell.source = "YOUR ANSWER HERE"
    nbformat.write(nb, str(tmp_path / "clean.ipynb"))
    assert scan([tmp_path], course) == []


def test_feedback_may_hold_the_students_own_solution_but_no_hidden_material(course, tmp_path):
    """In feedback, is a solution line allowed while a hidden-input line is reported?"""
    (tmp_path / "own.html").write_text("<pre>shifted = x - x.max(axis=1, keepdims=True)</pre>")
    assert scan([tmp_path], course, feedback=True) == []
    (tmp_path / "hidden.html").write_text("<pre>rng = np.random.RandomState(501)</pre>")
    assert any("RandomState(501)" in p for p in scan([tmp_path], course, feedback=True))


def test_a_solution_line_inside_a_served_wheel_is_found(course, tmp_path):
    """Is a solution line, or an answer file, packed into a wheel (the site serves the helper
    package as one) reported with the member it is in?"""
    with zipfile.ZipFile(tmp_path / "dlcourse-0.1.0-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as whl:
        whl.writestr("dlcourse/__init__.py", '__version__ = "0.1.0"\n')
        whl.writestr("dlcourse/helpers.py", "def f(x):\n    shifted = x - x.max(axis=1, keepdims=True)\n")
        whl.writestr("dlcourse/demo.answers", b"x")
    problems = scan([tmp_path], course)
    assert any("dlcourse-0.1.0-py3-none-any.whl!dlcourse/helpers.py" in p and "shifted = x - x.max" in p
               for p in problems), problems
    assert any("whl!dlcourse/demo.answers: answer file or key" in p for p in problems), problems
    assert not any("__init__.py" in p for p in problems)
