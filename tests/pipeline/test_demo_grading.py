"""Does grading give every submission exactly the points it earned, whatever it did?

Runs the real stages (answers, release, samples, autograde, feedback) on a tiny demo
course, with submissions that are good, partial, broken, hostile or mangled by editors.
Demo points: softmax 2, pairwise_sq_dists 3, Counter 1 (6 autograded) + a 2-point
written question graded by hand.
"""
from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from course import ROOT
from course.autograde import autograde
from course.feedback import feedback, grades

from .demo_course import sampled_demo_course, submit

pytestmark = pytest.mark.e2e  # an end-to-end run: ./course.sh test-e2e

WRONG_SOFTMAX = '''
def softmax(x):
    """Wrong on purpose: uniform probabilities."""
    return np.ones_like(x) / x.shape[1]
'''


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def scenarios(reference, release_nb):
    """{student: (notebook or raw text, expected autograded points)}."""
    out = {}

    def variant(base=reference):
        return nbformat.from_dict(json.loads(json.dumps(base)))

    nb = variant()
    del nb.cells[index(nb, "test_softmax")]
    del nb.cells[index(nb, "test_counter")]
    nb.cells.insert(index(nb, "q_softmax_answer"), variant().cells[index(reference, "q_softmax_answer")])
    out["deleted_cells"] = (nb, 6)

    nb = variant()
    nb.cells.insert(index(nb, "softmax") + 1, variant().cells[index(reference, "softmax")])
    out["duplicated"] = (nb, 6)

    nb = variant()
    cell(nb, "softmax").source = "def softmax(x):\n    while True:\n        pass\n"
    out["infinite_loop"] = (nb, 4)

    nb = variant()
    cell(nb, "softmax").source = ("def softmax(x):\n    hog = []\n    while True:\n"
                                  "        hog.append(np.ones(10**7))\n")
    out["memory_hog"] = (nb, 4)

    nb = variant()
    cell(nb, "softmax").source = "import sys\nsys.exit(1)\n" + cell(nb, "softmax").source
    out["sys_exit"] = (nb, 4)

    nb = variant()
    cell(nb, "Counter").source = "import os\nos._exit(1)\n"
    out["kernel_killed"] = (nb, 5)

    nb = variant()
    cell(nb, "softmax").source = WRONG_SOFTMAX + (
        "np.allclose = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        "np.array_equal = lambda *a, **k: True\n")
    out["cheat_numpy"] = (nb, 4)

    nb = variant()
    cell(nb, "softmax").source = WRONG_SOFTMAX + (
        "import autograder.probe\n"
        "autograder.probe.probe = lambda case_id, ns: print('passed')\n")
    out["cheat_grader_code"] = (nb, 0)

    nb = variant()
    cell(nb, "softmax").source = '''
import glob, json, os
def softmax(x):
    """Tries to read the stored answers instead of computing."""
    here = os.path.abspath(".")
    for _ in range(6):
        for path in glob.glob(os.path.join(here, "**", "*.answers"), recursive=True):
            try:
                data = json.loads(open(path, "rb").read())
                return np.asarray(data["demo/softmax"]["probs"])
            except Exception:
                pass
        here = os.path.dirname(here)
    return np.zeros_like(x)
'''
    out["cheat_read_answers"] = (nb, 4)

    nb = variant()
    cell(nb, "softmax").source = WRONG_SOFTMAX
    cell(nb, "test_softmax").source = "print('all good')"
    out["cheat_edit_test"] = (nb, 4)

    nb = variant()
    cell(nb, "softmax").source = ("import sys, warnings\n" + cell(nb, "softmax").source.replace(
        '    """Row-wise softmax', '    warnings.warn("careful"); print("noise", file=sys.stderr)\n    """Row-wise softmax'))
    out["noisy_warnings"] = (nb, 6)

    out["invalid_json"] = ('{"cells": [ this is not json', 0)
    return out


def named_by_the_student(root: Path, reference) -> dict:
    """Submissions whose notebook is not called demo.ipynb, or is not the demo's at all; another
    assignment's release (the real captioning notebook) is put beside the demo's release.
    {student: (None, expected points)}; the files are written here."""
    other = root / "assignments" / "captioning"
    other.mkdir(parents=True)
    shutil.copyfile(ROOT / "assignments" / "captioning" / "captioning.ipynb", other / "captioning.ipynb")
    good = nbformat.writes(reference)
    partial = nbformat.read(str(root / "submitted" / "partial" / "demo" / "demo.ipynb"), as_version=4)

    def folder(student):
        path = root / "submitted" / student / "demo"
        path.mkdir(parents=True)
        return path

    (folder("copy_of") / "Copy of demo.ipynb").write_text(good)
    (folder("numbered_copy") / "demo (1).ipynb").write_text(good)
    with zipfile.ZipFile(folder("zipped") / "handin.zip", "w") as z:
        z.writestr("my work/demo.ipynb", good)
    path = folder("two_candidates")
    nbformat.write(partial, str(path / "demo.ipynb"))
    (path / "Copy of demo.ipynb").write_text(good)
    shutil.copyfile(other / "captioning.ipynb", folder("other_assignment") / "demo.ipynb")
    shutil.copyfile(other / "captioning.ipynb", folder("other_assignment_renamed") / "captioning.ipynb")
    return {"copy_of": (None, 6), "numbered_copy": (None, 6), "zipped": (None, 6), "two_candidates": (None, 5),
            "other_assignment": (None, 0), "other_assignment_renamed": (None, 0)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root, expected = sampled_demo_course(tmp_path_factory.mktemp("demo-course"), cell_timeout=8, memory_mib=1024)
    reference = nbformat.read(str(root / "submitted" / "reference" / "demo" / "demo.ipynb"), as_version=4)
    release_nb = nbformat.read(str(root / "assignments" / "demo" / "demo.ipynb"), as_version=4)
    extra = scenarios(reference, release_nb)
    for student, (nb, _) in extra.items():
        submit(root, student, nb)
    extra.update(named_by_the_student(root, reference))
    report = autograde(root)
    first = {r["student"]: r["auto_score"] for r in grades(root)}
    rows = feedback(root)
    want = {"reference": 6, "untouched": 0, "partial": expected["demo"], "stripped": 6}
    want.update({s: pts for s, (_, pts) in extra.items()})
    return root, report, first, rows, want


def test_partial_expectation_is_the_tests_before_the_first_stub(demo):
    """Does the partial sample expect the 2 + 3 points of the two solved functions?"""
    _, _, _, _, want = demo
    assert want["partial"] == 5


@pytest.mark.parametrize("student", [
    "reference", "untouched", "partial", "stripped", "deleted_cells", "duplicated", "infinite_loop",
    "memory_hog", "sys_exit", "kernel_killed", "cheat_numpy", "cheat_grader_code",
    "cheat_read_answers", "cheat_edit_test", "noisy_warnings", "invalid_json", "copy_of", "numbered_copy",
    "zipped", "two_candidates", "other_assignment", "other_assignment_renamed"])
def test_each_submission_gets_exactly_its_points(demo, student):
    """Is every submission graded (none crashes the run) with exactly the points it earned?"""
    _, report, first, _, want = demo
    assert student in first, f"{student} was not graded: {report['demo'].get(student)}"
    assert first[student] == want[student]


def test_written_question_is_left_for_manual_grading(demo):
    """Are the 2 points of the written question pending for a human, not auto-scored?"""
    _, _, _, rows, _ = demo
    assert all(r["manual_pending"] == 2 for r in rows)
    assert all(r["auto_max"] == 6 for r in rows)


def test_intake_reports_broken_and_repaired_notebooks(demo):
    """Does the intake say what it did to the invalid and the metadata-stripped notebooks?"""
    _, report, _, _, _ = demo
    assert any("not a valid notebook" in n for n in report["demo"]["invalid_json"])
    assert any("restored metadata" in n for n in report["demo"]["stripped"])
    assert report["demo"]["reference"] == []


@pytest.mark.parametrize("student,words", [
    ("copy_of", "Copy of demo.ipynb: recognised by its content as demo.ipynb"),
    ("numbered_copy", "demo (1).ipynb: recognised by its content as demo.ipynb"),
    ("zipped", "handin.zip/my work/demo.ipynb: recognised by its content as demo.ipynb"),
    ("two_candidates", "2 candidates for demo.ipynb: graded 'demo.ipynb', not Copy of demo.ipynb"),
    ("other_assignment", "demo.ipynb: a notebook of assignment 'captioning'"),
    ("other_assignment_renamed", "captioning.ipynb: a notebook of assignment 'captioning'"),
])
def test_notebooks_are_recognised_by_content(demo, student, words):
    """Whatever the student named it, is a notebook graded as the one it is, and said so?"""
    _, report, _, _, _ = demo
    assert any(words in n for n in report["demo"][student]), report["demo"][student]


def test_grading_twice_gives_the_same_grades(demo):
    """Does autograding the same submissions again give identical grades?"""
    root, _, first, _, _ = demo
    autograde(root, ["demo"], only=["reference", "partial", "cheat_numpy"], force=True)
    again = {r["student"]: r["auto_score"] for r in grades(root)}
    for student in ("reference", "partial", "cheat_numpy"):
        assert again[student] == first[student]


def test_feedback_shows_verdicts_but_no_hidden_tests(demo):
    """Does feedback show scores and verdicts, and hide test code, inputs and mark schemes?"""
    root, _, _, _, _ = demo
    pages = sorted((root / "feedback").rglob("*.html"))
    assert len(pages) >= 10
    for page in pages:
        text = page.read_text()
        for secret in ("BEGIN HIDDEN TESTS", 'probe("demo/', "probe(&quot;demo/", "MARK SCHEME",
                       "overflow of exp", "RandomState(501)", "autograder/probe.py", "cases/demo.py"):
            assert secret not in text, (page, secret)
    partial = (root / "feedback" / "partial" / "demo" / "demo.html").read_text()
    assert "Hidden tests passed: softmax" in partial
    assert re.search(r"Score:\s*0(\.0)?\s*/\s*1", partial)


def test_answer_files_are_sealed(demo):
    """Is the stored answer file unreadable without the course key?"""
    root, _, _, _, _ = demo
    blob = (root / "autograder" / "answers" / "demo.answers").read_bytes()
    assert b"demo/softmax" not in blob and b"probs" not in blob
    with pytest.raises(ValueError):
        json.loads(blob)


def test_intake_never_changes_the_submission(demo):
    """After grading twice, are the invalid and the metadata-stripped submissions untouched?"""
    root, _, _, _, _ = demo
    autograde(root, ["demo"], only=["invalid_json", "stripped"])
    kept = root / "submitted" / "invalid_json" / "demo" / "demo.ipynb"
    assert kept.read_text().startswith('{"cells": [ this is not json')
    stripped = nbformat.read(str(root / "submitted" / "stripped" / "demo" / "demo.ipynb"), as_version=4)
    assert all("nbgrader" not in c.metadata for c in stripped.cells)
