"""nbgrader preprocessors that make autograding and feedback safe.

``ResilientExecute`` (autograde, instead of nbgrader's ``Execute``): when a submission
kills its kernel (``os._exit``, a crash, the memory cap), the cells already run keep
their results, the cell that died and every later cell get a ``KernelDied`` error, and
the notebook is graded instead of failing as a whole.

``CompareWithAnswers`` (autograde, right after ``Execute``): in every graded test cell
whose (restored, trusted) source calls ``probe("<case>", ...)``, it takes the outputs the
probe emitted, compares them with the sealed answers outside the student's kernel, and
replaces them with a verdict: a short stdout line when everything matches, or an error
output (which ``SaveAutoGrades`` scores as zero) naming what was wrong. It also removes
stderr from graded cells, so a warning never costs points.

``HideHiddenTests`` (feedback): removes hidden-test regions, mark schemes and error
tracebacks from what students get back; they see which tests passed and their points.
"""
from __future__ import annotations

import re
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import Execute
from nbformat.notebooknode import NotebookNode
from traitlets import Bool

from autograder.answers import load_answers
from autograder.cases import get_case
from autograder.compare import Verdict, compare_outputs
from autograder.payload import MIME, decode_outputs

PROBE_CALL = re.compile(r"""probe\(\s*["']([\w./-]+)["']""")


def probed_cases(source: str) -> list[str]:
    """Case ids a test cell's source asks for, in order."""
    return PROBE_CALL.findall(source)


def is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def judge_cell(cell, answers: dict) -> list[Verdict]:
    """Replace the probe outputs of one test cell by verdicts; return the verdicts."""
    wanted = probed_cases(cell.source)
    payloads: dict[str, list] = {}
    kept = []
    for out in cell.get("outputs", []):
        if out.get("output_type") in ("display_data", "execute_result") and MIME in out.get("data", {}):
            data = out["data"][MIME]
            payloads.setdefault(data.get("case") if isinstance(data, dict) else None, []).append(data)
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            continue  # warnings must not cost points
        else:
            kept.append(out)
    crashed = any(out.get("output_type") == "error" for out in kept)
    verdicts = []
    for case_id in wanted:
        found = payloads.get(case_id, [])
        if crashed and not found:
            verdicts.append(Verdict(case_id, False, ["did not run (the cell raised an error)"]))
            continue
        if len(found) != 1:
            verdicts.append(Verdict(case_id, False, [f"expected one result, got {len(found)}"]))
            continue
        if case_id not in answers:
            verdicts.append(Verdict(case_id, False, ["no stored answer (instructor: run `python -m course answers`)"]))
            continue
        try:
            student = decode_outputs(found[0]["outputs"])
        except Exception:  # malformed payload: forged or corrupted
            verdicts.append(Verdict(case_id, False, ["result could not be read"]))
            continue
        verdicts.append(compare_outputs(get_case(case_id), case_id, student, answers[case_id]))
    if not crashed:
        failed = [v for v in verdicts if not v.passed]
        if failed:
            kept.append(_error("HiddenTestFailed", " | ".join(v.message() for v in failed)))
        else:
            names = ", ".join(case_id.split("/", 1)[1] for case_id in wanted)
            kept.append(NotebookNode(output_type="stream", name="stdout", text=f"Hidden tests passed: {names}\n"))
    cell.outputs = kept
    return verdicts


class ResilientExecute(Execute):
    """nbgrader's Execute, but a dead kernel fails only the cells it did not finish."""

    _dead = False

    def preprocess(self, nb, resources=None, km=None):
        self._dead = False
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._dead:
            cell.outputs = [_error("KernelDied", "not run: the kernel died in an earlier cell")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead = True
            cell.outputs.append(_error("KernelDied", "the kernel died while running this cell "
                                       "(os._exit, a crash, or memory exhaustion)"))
            return cell, resources


class CompareWithAnswers(Preprocessor):
    """Autograde step: judge probe outputs against the sealed answers (see module doc)."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        assignment = resources["nbgrader"]["assignment"]
        root = Path(resources["nbgrader"].get("course_root", "") or _course_root())
        answers = None
        for cell in nb.cells:
            if not is_test_cell(cell):
                continue
            # Grade cells never keep stderr: a warning must not zero a test.
            if not probed_cases(cell.source):
                cell.outputs = [o for o in cell.get("outputs", [])
                                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
                continue
            if answers is None:
                answers = load_answers(root, assignment)
            judge_cell(cell, answers)
        return nb, resources


def _course_root() -> Path:
    return Path(__file__).resolve().parent.parent


HIDDEN = re.compile(r"^[^\n]*BEGIN HIDDEN TESTS.*?END HIDDEN TESTS[^\n]*$\n?", re.S | re.M)
MARK_SCHEME = re.compile(r"^[^\n]*BEGIN MARK SCHEME.*?END MARK SCHEME[^\n]*$\n?", re.S | re.M)


class HideHiddenTests(Preprocessor):
    """Feedback step: strip hidden tests, mark schemes and tracebacks (see module doc)."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("task") or cell.cell_type == "markdown":
                cell.source = MARK_SCHEME.sub("", cell.source)
            if is_test_cell(cell):
                cell.source = HIDDEN.sub("# (hidden tests ran here)\n", cell.source).rstrip("\n")
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return nb, resources
