"""Compare a student's case outputs with the stored answers (runs outside the kernel).

Verdict messages name the output and the size of the error, never the expected values
or the hidden inputs, because they are shown to students in feedback.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from autograder.cases import Case
from autograder.payload import to_array


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """COURSE.md's relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


@dataclasses.dataclass
class Verdict:
    case_id: str
    passed: bool
    problems: list

    def message(self) -> str:
        if self.passed:
            return f"{self.case_id}: passed"
        return f"{self.case_id}: " + "; ".join(self.problems)


def compare_outputs(case: Case, case_id: str, student: dict, answer: dict) -> Verdict:
    """Check every stored output of ``case`` against the student's outputs.

    A case with ``derive`` compares derived outputs: both sides are passed through it
    here, in the grader's process.
    """
    if case.derive is not None:
        answer = {k: to_array(v) for k, v in case.derive(answer).items()}
        try:
            student = {k: to_array(v) for k, v in case.derive(student).items()}
        except Exception as exc:  # the student's outputs are untrusted data: any failure fails the case
            return Verdict(case_id, False, [f"outputs could not be used: {str(exc)[:200]}"])
    problems = []
    for name, expected in answer.items():
        if name not in student:
            problems.append(f"output '{name}' is missing")
            continue
        got = student[name]
        if got.shape != expected.shape:
            problems.append(f"output '{name}' has shape {tuple(got.shape)}, expected another shape")
            continue
        if expected.dtype.kind in "iub":
            if got.dtype.kind not in "iub" or not np.array_equal(got, expected):
                wrong = int(np.sum(got != expected)) if got.dtype.kind in "iubf" else got.size
                problems.append(f"output '{name}' differs in {wrong} of {expected.size} entries")
            continue
        if not np.all(np.isfinite(got)):
            problems.append(f"output '{name}' contains NaN or infinity")
            continue
        err = rel_error(got, expected)
        tol = case.tolerance(name)
        if not err <= tol:
            problems.append(f"output '{name}' is wrong (relative error {err:.1e} > {tol:.0e})")
    extra = sorted(set(student) - set(answer))
    if extra:
        problems.append(f"unexpected outputs {extra}")
    return Verdict(case_id, not problems, problems)
