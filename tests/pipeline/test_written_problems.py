"""Hand-chosen weights are judged by the grader, not by the student's kernel.

The parity cases emit a submission's weights; the grader runs them on hidden bit strings
in its own process (``derive``). A submission with wrong weights that patches every
runner it can reach inside its kernel (the helper package, the case module, numpy's
comparison) must still lose exactly those points, and keep the rest.
"""
from __future__ import annotations

import nbformat
import pytest

from course import ROOT
from course.autograde import autograde
from course.check import scratch_copy
from course.feedback import grades
from course.samples import filled_notebook

A = "written_problems"
NB = "written_problems.ipynb"

PATCH = '''
import sys, numpy as np
import dlcourse.parity as _p
_p.threshold_rnn = lambda w, bits, *a, **k: _p.running_parity(bits)
_p.saturated_lstm = lambda w, bits, *a, **k: _p.running_parity(bits)
import autograder.cases.written_problems as _c
_c._rnn_outputs = lambda w: {"y": _p.running_parity(_c._hidden_bits())}
np.array_equal = lambda *a, **k: True
def rnn_parity_weights():
    return {"Wx": np.zeros((1, 2)), "Wh": np.zeros((2, 2)), "b": np.zeros(2), "v": np.zeros(2), "c": 0.0}
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = scratch_copy(ROOT, tmp_path_factory.mktemp("written"))
    release = nbformat.read(str(root / "assignments" / A / NB), as_version=4)
    solutions = nbformat.read(str(root / "solutions" / A / NB), as_version=4)
    reference = filled_notebook(release, solutions)
    hostile = filled_notebook(release, solutions)
    cell = next(c for c in hostile.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "rnn_parity_weights")
    cell.source = PATCH
    for student, nb in {"reference": reference, "patcher": hostile}.items():
        folder = root / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / NB))
    autograde(root, [A], workers=1)
    return {r["student"]: r for r in grades(root) if r["assignment"] == A}


def test_reference_weights_get_every_autograded_point(graded):
    assert graded["reference"]["auto_score"] == graded["reference"]["auto_max"] == 11


def test_patching_the_runners_in_the_kernel_gains_nothing(graded):
    assert graded["patcher"]["auto_score"] == 11 - 3
