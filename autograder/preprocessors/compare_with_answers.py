"""``CompareWithAnswers``: the autograde step right after ``SandboxedExecute`` that makes
each graded test cell's outputs the grader's verdict and nothing else.

It checks the answer files first (``autograder.answer_store.verify_answers``; answers
that cannot be trusted stop the whole run, ``GradingStopped``). For a cell whose
(restored, trusted) source calls ``probe("<case>", ...)`` it takes the outputs the probe
emitted, compares them with the sealed answers outside the student's kernel
(``autograder.compare``), and leaves one output: a stdout line when everything matches, or
an error naming what was wrong (scored zero by nbgrader's ``SaveAutoGrades``). Whatever
else the student's code left in the cell (results, display data, forged payloads,
"passed" lines, stderr) is discarded. A test cell without a probe passes when it raised
nothing.
"""
from __future__ import annotations

from pathlib import Path
from time import time

from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool

from autograder.answer_store import AnswersInvalid, load_answers, verify_answers
from autograder.cases import get_case
from autograder.compare import Verdict, compare_outputs
from autograder.graded_cells import error_output, is_test_cell, probed_cases
from autograder.payload import MIME
from autograder.sandbox import COURSE_ROOT
from autograder.untrusted import PayloadError, decode_payload


def _crash_reason(errors: list) -> str:
    """The student's own error, short: its name and message, never a traceback."""
    first = errors[0]
    ename = str(first.get("ename", "Error"))[:100]
    evalue = str(first.get("evalue", ""))
    evalue = evalue if len(evalue) <= 200 else evalue[:200] + "..."
    return f"{ename}: {evalue}"


def _outputs(cell) -> list:
    """The cell's outputs that are dicts (anything else came from nowhere sensible)."""
    outs = cell.get("outputs", [])
    return [o for o in outs if isinstance(o, dict)] if isinstance(outs, list) else []


def _judge_case(case_id: str, found: list, errors: list, answers: dict) -> Verdict:
    if errors and not found:
        return Verdict(case_id, False, [f"did not run (the cell raised {_crash_reason(errors)})"])
    if len(found) != 1:
        return Verdict(case_id, False, [f"expected one result, got {len(found)}"])
    if case_id not in answers:
        return Verdict(case_id, False, ["no stored answer (instructor: run `./course.sh answers`)"])
    try:
        student = decode_payload(found[0], case_id)
    except PayloadError as exc:  # malformed payload: forged or corrupted
        return Verdict(case_id, False, [f"result could not be read ({exc})"])
    return compare_outputs(get_case(case_id), case_id, student, answers[case_id])


def judge_cell(cell, answers: dict) -> list[Verdict]:
    """Replace every output of one test cell by the grader's verdict; return the verdicts.

    Payloads are hostile data (``autograder.untrusted``): whatever they hold, judging one
    case ends in a Verdict for that case, never in an exception that would fail the
    whole notebook. Messages never show expected values or hidden inputs.
    """
    wanted = probed_cases(cell.source)
    payloads: dict = {}
    errors = []
    for out in _outputs(cell):
        kind = out.get("output_type")
        data = out.get("data")
        if kind in ("display_data", "execute_result") and isinstance(data, dict) and MIME in data:
            payload = data[MIME]
            key = payload.get("case") if isinstance(payload, dict) else None
            payloads.setdefault(key if isinstance(key, str) else None, []).append(payload)
        elif kind == "error":
            errors.append(out)
    verdicts = []
    for case_id in wanted:
        try:
            verdict = _judge_case(case_id, payloads.get(case_id, []), errors, answers)
        except Exception as exc:  # a bug or an unforeseen payload: this case fails, nothing else
            verdict = Verdict(case_id, False, [f"could not be judged ({type(exc).__name__})"])
        verdicts.append(verdict)
    failed = [v for v in verdicts if not v.passed]
    if errors and not failed:
        failed_text = f"the cell raised {_crash_reason(errors)}"
        cell.outputs = [error_output("HiddenTestFailed", failed_text)]
    elif failed:
        cell.outputs = [error_output("HiddenTestFailed", " | ".join(v.message() for v in failed))]
    else:
        names = ", ".join(case_id.split("/", 1)[1] for case_id in wanted)
        cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=f"Hidden tests passed: {names}\n")]
    return verdicts


def judge_plain_test_cell(cell) -> None:
    """A graded test cell without a probe passes when it raised nothing; only that is kept."""
    errors = [o for o in _outputs(cell) if o.get("output_type") == "error"]
    if errors:
        cell.outputs = [error_output("TestFailed", f"the cell raised {_crash_reason(errors)}")]
    else:
        cell.outputs = [NotebookNode(output_type="stream", name="stdout", text="Test passed\n")]


class CompareWithAnswers(Preprocessor):
    """Autograde step: judge probe outputs against the sealed answers (see module doc)."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        started = time()
        try:
            return self._judge(nb, resources)
        finally:
            self.log.info("grading timeline: compare=%.3f compared=%.3f", started, time())

    def _judge(self, nb, resources):
        assignment = resources["nbgrader"]["assignment"]
        root = Path(resources["nbgrader"].get("course_root", "") or COURSE_ROOT)
        answers = None
        for cell in nb.cells:
            if not is_test_cell(cell):
                continue
            if not probed_cases(cell.source):
                judge_plain_test_cell(cell)
                continue
            if answers is None:
                answers = trusted_answers(root, assignment)
            judge_cell(cell, answers)
        return nb, resources


class GradingStopped(BaseException):
    """Raised through nbgrader (which catches Exception per student) to stop a whole run."""


def trusted_answers(root: Path, assignment: str) -> dict:
    """The answers of ``assignment`` after checking them; stops grading when they are not sound."""
    try:
        verify_answers(root, assignment)
    except AnswersInvalid as exc:
        raise GradingStopped(f"grading stopped, no grade was written: {exc}") from None
    return load_answers(root, assignment)
