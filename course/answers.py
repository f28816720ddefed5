"""Stage `answers`: run the reference solutions and store their outputs on the hidden cases.

``python -m course answers [assignment ...] [--if-stale]``. Each source notebook runs in
a fresh kernel with NBGRADER_EXECUTION set (as in grading); every hidden-test cell's
probe emits its case outputs; these become the sealed answers. It fails when a cell
errors, when a test cell's case emitted nothing, or when a registered case is unused.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

from course import ROOT
from course.config import assignments, log, notebooks, prepare_offline_data
from course.execute import execute_notebook


def collect_payloads(nb, where: str) -> dict:
    """{case_id: encoded outputs} from an executed source notebook."""
    from autograder.graded_cells import is_test_cell, probed_cases
    from autograder.payload import MIME

    found = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            e = errors[0]
            raise RuntimeError(f"{where} cell {index} raised {e.get('ename')}: {e.get('evalue')}")
        if not is_test_cell(cell):
            continue
        emitted = {}
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if MIME in data:
                emitted[data[MIME]["case"]] = data[MIME]["outputs"]
        for case_id in probed_cases(cell.source):
            if case_id not in emitted:
                raise RuntimeError(f"{where} cell {index}: case {case_id} emitted no outputs")
            if case_id in found:
                raise RuntimeError(f"{where}: case {case_id} is probed twice")
            found[case_id] = emitted[case_id]
    return found


def versions() -> dict:
    import numpy

    out = {"python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        pass
    import dlcourse

    out["dlcourse"] = dlcourse.__version__
    return out


def make_answers(root: Path, assignment: str) -> Path:
    from autograder.answer_store import write_answers
    from autograder.cases import all_cases

    root = Path(root)
    prepare_offline_data()
    encoded = {}
    for path in notebooks(root, "source", assignment):
        nb, seconds = execute_notebook(path, root, fast=True, timeout=600)
        found = collect_payloads(nb, str(path.relative_to(root)))
        log("answers", f"{path.relative_to(root)}: {len(found)} case(s) recorded in {seconds:.1f} s")
        encoded.update(found)
    registered = {f"{assignment}/{name}" for name in all_cases(assignment, root)}
    unused = sorted(registered - set(encoded))
    if unused:
        raise RuntimeError(f"cases registered but never probed by a test cell: {unused}")
    meta = {
        "assignment": assignment,
        "generated_by": f"python -m course answers {assignment}",
        "cases": sorted(encoded),
        "seeds": "each case seeds its own inputs; the probe seeds python, numpy and torch from the case id",
        "versions": versions(),
    }
    return write_answers(root, assignment, encoded, meta)


def ensure_answers(root: Path = ROOT, which: list[str] | None = None, only_if_stale: bool = True) -> None:
    from autograder.answer_store import stale_reasons

    for assignment in which or assignments(root):
        reasons = stale_reasons(root, assignment)
        if only_if_stale and not reasons:
            log("answers", f"{assignment}: up to date")
            continue
        log("answers", f"{assignment}: regenerating ({'; '.join(reasons) or 'forced'})")
        make_answers(root, assignment)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course answers")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--if-stale", action="store_true", help="only regenerate stale answers")
    args = parser.parse_args(argv)
    ensure_answers(ROOT, args.assignment or None, only_if_stale=args.if_stale)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
