"""Graded test cells: which cells are tests, which hidden cases they probe, and the error
output the grader leaves in a cell.

Shared by the preprocessors (``autograder.preprocessors``) and the answers stage
(course/answers.py), which must agree on both questions: a case probed by a test cell in
the source notebook is a case whose answer is stored and judged.
"""
from __future__ import annotations

import re

from nbformat.notebooknode import NotebookNode

PROBE_CALL = re.compile(r"""probe\(\s*["']([\w./-]+)["']""")


def probed_cases(source: str) -> list[str]:
    """Case ids a test cell's source asks for, in order."""
    return PROBE_CALL.findall(source)


def is_test_cell(cell) -> bool:
    """A graded code cell that is not a solution (nbgrader's "autograder tests" cell)."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output with name and message only (its one traceback line repeats them)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
