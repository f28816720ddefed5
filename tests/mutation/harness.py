"""Grade a variant of a graded name the way the grader would, without a kernel.

``grade_variant(assignment, name, code)`` runs the reference cells of the assignment's
source notebooks (tests/notebook_code.py) in a fresh namespace, then ``code`` (which
redefines ``name``), then every hidden case of the assignment, each seeded as the probe
seeds it, with its outputs encoded and decoded as the payload carries them, and
compares them with the sealed answers (``autograder/answers``), as CompareWithAnswers
does. It returns {case_id: Verdict}; an exception in a case is a failed verdict (the
test cell would raise).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import textwrap
import warnings
from functools import lru_cache
from pathlib import Path

from autograder.answer_store import load_answers
from autograder.cases import all_cases
from autograder.compare import Verdict, compare_outputs
from autograder.payload import decode_outputs, encode_outputs
from autograder.probe import _seed_everything
from course import ROOT
from course.config import assignments

from tests.notebook_code import reference_cells

MIN_CORRECT = 2
MIN_WRONG = 3


def source_notebooks(assignment: str) -> list[Path]:
    return sorted((ROOT / "source" / assignment).glob("*.ipynb"))


def variants(assignment: str) -> tuple[dict, dict]:
    """(CORRECT, WRONG) of ``tests/mutation/<assignment>.py``, code dedented."""
    module = importlib.import_module(f"tests.mutation.{assignment}")
    tidy = {kind: {name: {label: textwrap.dedent(code).strip() + "\n" for label, code in by_label.items()}
                   for name, by_label in getattr(module, kind).items()}
            for kind in ("CORRECT", "WRONG")}
    return tidy["CORRECT"], tidy["WRONG"]


def all_variants() -> list[tuple[str, str, str, str, str]]:
    """[(assignment, name, kind, label, code)] for every assignment, kind "correct" or "wrong"."""
    out = []
    for assignment in assignments():
        correct, wrong = variants(assignment)
        for kind, table in (("correct", correct), ("wrong", wrong)):
            for name, by_label in table.items():
                for label, code in by_label.items():
                    out.append((assignment, name, kind, label, code))
    return out


@lru_cache(maxsize=None)
def _compiled_reference(assignment: str) -> tuple:
    return tuple(compile(src, f"source/{assignment}/{nb.name}", "exec")
                 for nb in source_notebooks(assignment) for src in reference_cells(nb.relative_to(ROOT)))


@lru_cache(maxsize=None)
def sealed_answers(assignment: str) -> dict:
    return load_answers(ROOT, assignment)


def namespace(assignment: str, code: str | None = None) -> dict:
    """A fresh namespace with the reference solutions, then ``code``, executed (output swallowed)."""
    ns: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for compiled in _compiled_reference(assignment):
            exec(compiled, ns)
        if code is not None:
            exec(compile(code, f"<variant of {assignment}>", "exec"), ns)
    return ns


def grade_namespace(assignment: str, ns: dict, stop_at_first_failure: bool = False) -> dict:
    """{case_id: Verdict} of every hidden case of ``assignment`` run on ``ns``, with one
    BLAS and torch thread, as grading kernels run (course/config.py; many threads on a
    loaded machine are many times slower)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _grade_namespace(assignment, ns, stop_at_first_failure)


def _grade_namespace(assignment: str, ns: dict, stop_at_first_failure: bool) -> dict:
    import sys

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(1)
    try:
        return _run_cases(assignment, ns, stop_at_first_failure)
    finally:
        if torch:
            torch.set_num_threads(threads)


def _run_cases(assignment: str, ns: dict, stop_at_first_failure: bool) -> dict:
    answers = sealed_answers(assignment)
    verdicts = {}
    for name, case in all_cases(assignment).items():
        case_id = f"{assignment}/{name}"
        _seed_everything(int.from_bytes(case_id.encode(), "little") % (2**31))
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outputs = decode_outputs(encode_outputs(case.run(ns)))
        except Exception as exc:  # the test cell raises: no points
            verdicts[case_id] = Verdict(case_id, False, [f"raised {type(exc).__name__}: {str(exc)[:200]}"])
        else:
            verdicts[case_id] = compare_outputs(case, case_id, outputs, answers[case_id])
        if stop_at_first_failure and not verdicts[case_id].passed:
            break
    return verdicts


def grade_variant(assignment: str, code: str, stop_at_first_failure: bool = False) -> dict:
    return grade_namespace(assignment, namespace(assignment, code), stop_at_first_failure)


def defined_names(assignment: str) -> list[str]:
    """Top-level functions, classes and variables the solution cells define: the graded names."""
    import ast

    import nbformat

    names = []
    for nb_path in source_notebooks(assignment):
        nb = nbformat.read(str(nb_path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("solution"):
                continue
            code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for node in ast.parse(code).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names.append(node.name)
                elif isinstance(node, ast.Assign):
                    names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def counts() -> dict:
    """{assignment: (graded names, correct variants, wrong variants)}."""
    table = {}
    for assignment in assignments():
        correct, wrong = variants(assignment)
        table[assignment] = (len(defined_names(assignment)),
                             sum(len(v) for v in correct.values()), sum(len(v) for v in wrong.values()))
    return table
