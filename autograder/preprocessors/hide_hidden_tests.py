"""``HideHiddenTests``: the feedback step that keeps hidden tests, mark schemes and error
tracebacks out of what students get back, and states the output cap; students see which
tests passed and their points.
"""
from __future__ import annotations

import json

from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Integer

from autograder.graded_cells import is_test_cell
from autograder.regions import HIDDEN_TESTS, MARK_SCHEME, strip_regions


class HideHiddenTests(Preprocessor):
    """Feedback step: strip hidden tests, mark schemes and tracebacks (see module doc).

    Every cell's source is scanned (``autograder.regions``, linear time), whatever its
    type or metadata: task cells hold mark schemes, test cells hidden tests, and a student
    may paste either marker anywhere. In a test cell each hidden-test region becomes
    HIDDEN_NOTE; elsewhere a region leaves nothing. An unterminated BEGIN hides the rest
    of the cell.
    """

    enabled = Bool(True)
    output_cap = Integer(64 * 1024, help="bytes of output kept per cell (stated in feedback)").tag(config=True)
    HIDDEN_NOTE = "# (hidden tests ran here)"

    @classmethod
    def hide_regions(cls, cell) -> None:
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(x for x in source if isinstance(x, str))
        elif not isinstance(source, str):
            source = ""
        if is_test_cell(cell):
            source = strip_regions(source, (HIDDEN_TESTS, MARK_SCHEME),
                                   {HIDDEN_TESTS: cls.HIDDEN_NOTE}).rstrip("\n")
        else:
            source = strip_regions(source, (HIDDEN_TESTS, MARK_SCHEME))
        cell.source = source

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            self.hide_regions(cell)
            if cell.cell_type != "code":
                continue
            kept, used = [], 0
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":  # name and message only, never a traceback
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
                size = len(json.dumps(out, default=str))
                if used + size > self.output_cap:
                    kept.append(NotebookNode(output_type="stream", name="stdout",
                                             text=f"[output cut at {self.output_cap} bytes]\n"))
                    break
                used += size
                kept.append(out)
            cell.outputs = kept
        note = NotebookNode(cell_type="markdown", metadata={}, source=(
            "**Grading notes.** Each graded test shows the grader's verdict. Outputs are shown up to "
            f"{self.output_cap} bytes per cell; errors show their name and message only."))
        nb.cells.insert(0, note)
        return nb, resources
