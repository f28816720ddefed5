"""Run the reference code of a source notebook in a plain namespace, for tests.

The source notebook is the single source of truth for reference solutions, so tests of
the reference implementations (numeric gradients, independent formulas) execute its
code cells instead of keeping a copy. Which cells run:

- the cell with ``grade_id == "imports"`` (the notebook's imports),
- every ``provided_*`` cell (locked provided code, e.g. a provided class body),
- every solution cell (``nbgrader.solution`` true, code).

Cells that load data, train or plot are not run, so this is fast and offline.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def reference_cells(notebook: str | Path) -> list[str]:
    """Sources of the cells described above, in notebook order."""
    nb = nbformat.read(str(ROOT / notebook), as_version=4)
    sources = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id", "")
        if cell.cell_type != "code":
            continue
        if gid == "imports" or gid.startswith("provided") or meta.get("solution"):
            sources.append(cell.source)
    return sources


def load_reference(notebook: str | Path) -> dict:
    """Execute the reference cells of ``notebook`` (path relative to the repo root)."""
    ns: dict = {"__name__": "reference"}
    for src in reference_cells(notebook):
        exec(compile(src, str(notebook), "exec"), ns)
    return ns


def run_case(case, ns: dict) -> dict:
    """Run a hidden-test case on ``ns`` with fixed seeds, as decoded grader-side outputs.

    The outputs go through the payload encoding the probe uses, so tests compare exactly
    what the grader would see.
    """
    import torch

    from autograder.payload import decode_outputs, encode_outputs

    torch.manual_seed(0)
    np.random.seed(0)
    return decode_outputs(encode_outputs(case.run(ns)))
