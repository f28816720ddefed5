"""Kernel side of a hidden test: run a case on the student's code and emit its outputs.

Hidden test cells in the source notebooks contain only::

    from autograder.probe import probe
    probe("captioning/rnn_step_forward", globals())

The probe never sees an answer. Whatever happens here is untrusted: the grader, outside
the kernel, compares the emitted outputs with the stored answers (``autograder.compare``),
so patching numpy, this module or the payload gains nothing without the answers.

Warnings and anything the student's code writes to stderr are swallowed here, because
nbgrader gives zero points to a test cell that writes to stderr.
"""
from __future__ import annotations

import contextlib
import io
import random
import sys
import warnings

import numpy as np

from autograder.cases import get_case
from autograder.payload import MIME, encode_outputs


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")  # numpy-only notebooks never pay for importing torch
    if torch is not None:
        torch.manual_seed(seed)


def probe(case_id: str, namespace: dict) -> None:
    """Run the hidden case ``case_id`` against ``namespace`` and emit its outputs.

    Exceptions raised by the student's code propagate, so the test cell fails as usual.
    """
    from IPython.display import display

    case = get_case(case_id)
    _seed_everything(int.from_bytes(case_id.encode(), "little") % (2**31))
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        outputs = case.run(namespace)
        payload = {"case": case_id, "outputs": encode_outputs(outputs)}
    display({MIME: payload, "text/plain": f"[hidden test {case_id}: outputs recorded]"}, raw=True)


