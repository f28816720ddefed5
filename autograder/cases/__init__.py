"""Hidden-test cases: unseen inputs, built from fixed seeds, run on the student's code.

A case is a function ``(ns) -> {name: value}``: ``ns`` is the notebook namespace
(``globals()`` of the student's kernel), from which the case takes the student's
functions and classes by the names of COURSE.md. It builds its own inputs (never those
of the visible sanity checks), calls the student's code and returns named outputs
(numbers, numpy arrays or torch tensors). The grader compares every output with the
reference solution's output on the same inputs.

Register a case with the decorator, in ``autograder/cases/<assignment>.py``::

    @case("rnn_step_forward", tol=1e-6)
    def rnn_step_forward(ns):
        rng = np.random.RandomState(7001)
        ...
        next_h, _ = ns["rnn_step_forward"](x, prev_h, Wx, Wh, b)
        return {"next_h": next_h}

``tol`` is the largest allowed ``rel_error`` (COURSE.md's formula) between student and
reference outputs; integer outputs must match exactly. ``tols`` overrides it per output.
``atols`` gives an output an absolute tolerance as well: it passes when the largest
absolute difference is at most its ``atol``, whatever the relative error. Use it where
the reference is exactly zero (or near it), since the relative error of a correct
value computed differently (-2e-16 against 0) is 1 there; choose tolerances from the
conditioning of the case, not from how close the reference happens to land.
The case id used in notebooks is ``"<assignment>/<name>"``.

``derive`` is for answers that are not unique, such as hand-chosen weights: the case
emits what the student chose, and ``derive(outputs) -> {name: value}`` turns it into
checkable outputs (for instance, the predictions of those weights on hidden inputs).
``derive`` runs in the grader's process, on the student's outputs and on the stored
reference outputs alike, so patching anything in the kernel cannot change its result.
What it receives has passed ``autograder.untrusted``: a dict of the answer's output names
(an extra name fails the case before ``derive`` runs; a missing one is for ``derive`` to
refuse) to int64 or float64 arrays of bounded size, which may still hold any shape, NaN
or infinity. It must reject outputs it cannot use with ``ValueError``, whose message is
shown to the student (so it must not quote hidden inputs); any other exception fails the
case too, named by its type only. ``tests/pipeline/test_payload_properties.py`` feeds
every ``derive`` hostile outputs.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Case:
    """One hidden test: a name, how to run it, and how closely it must match."""

    name: str
    run: Callable[[dict], dict]
    tol: float = 1e-6
    tols: dict = dataclasses.field(default_factory=dict)
    derive: Callable[[dict], dict] | None = None
    atols: dict = dataclasses.field(default_factory=dict)

    def tolerance(self, output: str) -> float:
        return self.tols.get(output, self.tol)

    def abs_tolerance(self, output: str) -> float:
        """The absolute tolerance of ``output`` (0: the relative error alone decides)."""
        return self.atols.get(output, 0.0)


def case(name: str, tol: float = 1e-6, tols: dict | None = None,
         derive: Callable[[dict], dict] | None = None, atols: dict | None = None):
    """Register ``fn`` as the case ``name`` of the module it is defined in."""

    def register(fn):
        module = importlib.import_module(fn.__module__)
        registry = module.__dict__.setdefault("CASES", {})
        if name in registry:
            raise ValueError(f"case {name!r} is defined twice in {fn.__module__}")
        registry[name] = Case(name=name, run=fn, tol=tol, tols=dict(tols or {}), derive=derive,
                              atols=dict(atols or {}))
        return fn

    return register


def get_case(case_id: str) -> Case:
    """Look up ``"<assignment>/<name>"``."""
    assignment, _, name = case_id.partition("/")
    module = importlib.import_module(f"autograder.cases.{assignment}")
    try:
        return module.CASES[name]
    except (AttributeError, KeyError):
        raise KeyError(f"no hidden-test case {case_id!r}") from None


def all_cases(assignment: str, root=None) -> dict:
    """Every case of an assignment, by name.

    With ``root`` (a course folder), the case module is read from
    ``root/autograder/cases/<assignment>.py`` instead of this package.
    """
    if root is None:
        module = importlib.import_module(f"autograder.cases.{assignment}")
    else:
        path = Path(root) / "autograder" / "cases" / f"{assignment}.py"
        name = f"_course_cases_{abs(hash(str(path)))}_{assignment}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return dict(getattr(module, "CASES", {}))
