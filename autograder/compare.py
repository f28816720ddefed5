"""Compare a student's case outputs with the stored answers (runs outside the kernel).

Verdict messages name the output and the size of the error, never the expected values
or the hidden inputs, because they are shown to students in feedback.

Nothing a student's outputs hold can make ``compare_outputs`` raise: they go through
``autograder.untrusted`` (only int64 and float64 arrays of bounded size come out), and
any other failure while comparing, a case's ``derive`` included, becomes a failed
Verdict for that case alone.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from autograder.cases import Case
from autograder.payload import to_array
from autograder.untrusted import PayloadError, graded_outputs


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """COURSE.md's relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    with np.errstate(all="ignore"):  # inf - inf, inf / inf: NaN, which fails every tolerance
        return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def abs_error(x: np.ndarray, y: np.ndarray) -> float:
    """max |x - y| (NaN when either holds NaN or the difference of infinities)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        return float(np.max(np.abs(x - y)))


@dataclasses.dataclass
class Verdict:
    case_id: str
    passed: bool
    problems: list

    def message(self) -> str:
        if self.passed:
            return f"{self.case_id}: passed"
        return f"{self.case_id}: " + "; ".join(self.problems)


def _names(names) -> str:
    shown = sorted(names)[:5]
    return str(shown)[:300] + (" ..." if len(names) > 5 else "")


def compare_outputs(case: Case, case_id: str, student: dict, answer: dict) -> Verdict:
    """Check every stored output of ``case`` against the student's outputs.

    A case with ``derive`` compares derived outputs: both sides are passed through it
    here, in the grader's process. Never raises: see the module doc.
    """
    try:
        return _compare(case, case_id, student, answer)
    except Exception as exc:  # a bug or an unforeseen input: this case fails, grading goes on
        return Verdict(case_id, False, [f"could not be judged ({type(exc).__name__})"])


def _derived(case: Case, outputs: dict) -> dict:
    derived = case.derive(outputs)
    if not isinstance(derived, dict):
        raise TypeError("derive must return a dict")
    return graded_outputs({k: to_array(v) for k, v in derived.items()})


def _compare(case: Case, case_id: str, student: dict, answer: dict) -> Verdict:
    answer = graded_outputs(answer)  # the sealed answers: trusted, but held to the same form
    try:
        student = graded_outputs(student)
    except PayloadError as exc:
        return Verdict(case_id, False, [f"result could not be read ({exc})"])
    if case.derive is not None:
        extra = set(student) - set(answer)
        if extra:  # the case emits exactly the answer's names: anything else was forged
            return Verdict(case_id, False, [f"unexpected outputs {_names(extra)}"])
        answer = _derived(case, answer)
        try:
            student = _derived(case, student)
        except ValueError as exc:  # derive's own refusal (its contract): says what was wrong
            return Verdict(case_id, False, [f"outputs could not be used: {str(exc)[:200]}"])
        except Exception as exc:  # anything else may quote hidden inputs: its name only
            return Verdict(case_id, False, [f"outputs could not be used ({type(exc).__name__})"])
    problems = []
    for name, expected in answer.items():
        if name not in student:
            problems.append(f"output '{name}' is missing")
            continue
        got = student[name]
        if got.shape != expected.shape:
            problems.append(f"output '{name}' has shape {tuple(got.shape)}, expected another shape")
            continue
        if expected.dtype.kind == "i":
            if got.dtype.kind != "i":
                problems.append(f"output '{name}' holds floating-point numbers, expected integers")
            elif not np.array_equal(got, expected):
                wrong = int(np.count_nonzero(got != expected))
                problems.append(f"output '{name}' differs in {wrong} of {expected.size} entries")
            continue
        if not np.all(np.isfinite(got)):
            problems.append(f"output '{name}' contains NaN or infinity")
            continue
        err = rel_error(got, expected)
        tol = case.tolerance(name)
        atol = case.abs_tolerance(name)
        if not err <= tol and not abs_error(got, expected) <= atol:
            within = f" and absolute error above {atol:.0e}" if atol else ""
            problems.append(f"output '{name}' is wrong (relative error {err:.1e} > {tol:.0e}{within})")
    extra = set(student) - set(answer)
    if extra:
        problems.append(f"unexpected outputs {_names(extra)}")
    return Verdict(case_id, not problems, problems)
