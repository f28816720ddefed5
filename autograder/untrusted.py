"""Reading what a student's kernel emitted: every payload is hostile data.

The probe (``autograder.probe``) emits ``{"case": id, "outputs": {name: {"dtype", "shape",
"data"}}}`` (``autograder.payload``). In the grader's process that JSON may be anything a
student's code chose to display: a list, a number, a dtype numpy would choke on, a shape
claiming gigabytes, NaN, nesting a thousand levels deep. This module is the one place
where such data becomes arrays, by an allow-list:

- the payload is a dict with exactly the keys ``case`` (the case asked for) and
  ``outputs``; ``outputs`` is a dict of at most MAX_OUTPUTS outputs named by NAME;
- every output is a dict with exactly ``dtype``, ``shape`` and ``data``;
- ``dtype`` is one of DTYPES (booleans, integers and floats of standard sizes, little
  endian, as numpy writes them): nothing else reaches ``np.dtype``;
- ``shape`` is a list of at most MAX_NDIM non-negative ints (not bools) whose product,
  zero-length axes counted as 1, is at most MAX_ELEMENTS;
- ``data`` is a str whose length is exactly the base64 length of the claimed bytes,
  checked before anything is decoded; it decodes strictly (``validate=True``);
- all outputs together hold at most MAX_BYTES.

Arrays come out as int64 (booleans and integers; unsigned 64-bit values above the int64
range are refused) or float64, so comparisons never meet another dtype. ``graded_array``
applies the same rules to a value already in memory (the output of a case's ``derive``,
or arguments of ``compare_outputs`` in tests).

Every refusal raises ``PayloadError`` with a short message that names the output at
most, never the data. The limits are far above what the course's cases emit (the largest
stored answer is 0.3 MB, 26 outputs, 4 axes; ``tests/pipeline/test_payload_properties.py``
checks every stored answer against them).
"""
from __future__ import annotations

import base64
import binascii
import math
import re

import numpy as np

MAX_BYTES = 8 * 1024 * 1024  # decoded bytes of all outputs of one payload
MAX_ELEMENTS = MAX_BYTES  # entries of one output (every allowed dtype has >= 1 byte)
MAX_OUTPUTS = 256
MAX_NDIM = 32
NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")  # fullmatch on short strings only (length checked first)

# dtype string -> numpy dtype; what ``arr.dtype.str`` gives for these types on a
# little-endian machine (one-byte types have no byte order: "|").
DTYPES = {s: np.dtype(s) for s in ("|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8",
                                   "<f2", "<f4", "<f8")}
INT64_MAX = np.iinfo(np.int64).max


class PayloadError(ValueError):
    """The payload is not what the probe emits; the message is safe to show a student."""


def check_name(name) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 100 or not NAME.fullmatch(name):
        raise PayloadError("an output name is not allowed")
    return name


def _shape(shape, name: str) -> tuple:
    if not isinstance(shape, list) or len(shape) > MAX_NDIM:
        raise PayloadError(f"output '{name}' has a malformed shape")
    for d in shape:
        if type(d) is not int or d < 0 or d > MAX_ELEMENTS:  # bool is not int here
            raise PayloadError(f"output '{name}' has a malformed shape")
    if math.prod(max(d, 1) for d in shape) > MAX_ELEMENTS:
        raise PayloadError(f"output '{name}' is too large")
    return tuple(shape)


def _normalised(arr: np.ndarray, name: str) -> np.ndarray:
    """int64 or float64 copy of an array of an allowed kind."""
    kind = arr.dtype.kind
    if kind == "f":
        return arr.astype(np.float64)
    if kind == "u" and arr.dtype.itemsize == 8 and arr.size and int(arr.max()) > INT64_MAX:
        raise PayloadError(f"output '{name}' holds integers out of range")
    if kind in "biu":
        return arr.astype(np.int64)
    raise PayloadError(f"output '{name}' has an unsupported type")


def decode_array(obj, name: str) -> np.ndarray:
    """One encoded output -> int64 or float64 array (rules in the module doc)."""
    if not isinstance(obj, dict) or set(obj) != {"dtype", "shape", "data"}:
        raise PayloadError(f"output '{name}' is malformed")
    dtype = DTYPES.get(obj["dtype"]) if isinstance(obj["dtype"], str) else None
    if dtype is None:
        raise PayloadError(f"output '{name}' has an unsupported type")
    shape = _shape(obj["shape"], name)
    nbytes = math.prod(shape) * dtype.itemsize
    data = obj["data"]
    if not isinstance(data, str) or len(data) != 4 * ((nbytes + 2) // 3):
        raise PayloadError(f"output '{name}' does not hold the data its shape claims")
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise PayloadError(f"output '{name}' holds malformed data") from None
    if len(raw) != nbytes:
        raise PayloadError(f"output '{name}' does not hold the data its shape claims")
    return _normalised(np.frombuffer(raw, dtype=dtype).reshape(shape), name)


def decode_outputs(obj) -> dict:
    """``{name: encoded array}`` -> ``{name: array}``, with every limit of the module doc."""
    if not isinstance(obj, dict):
        raise PayloadError("the outputs are not a set of named outputs")
    if len(obj) > MAX_OUTPUTS:
        raise PayloadError("too many outputs")
    claimed = 0
    for name, value in obj.items():
        check_name(name)
        if isinstance(value, dict) and isinstance(value.get("data"), str):
            claimed += len(value["data"]) // 4 * 3
    if claimed > MAX_BYTES + 3 * len(obj):
        raise PayloadError("the outputs are too large")
    return {name: decode_array(value, name) for name, value in obj.items()}


def decode_payload(payload, case_id: str) -> dict:
    """A probe payload for ``case_id`` -> ``{name: array}``; PayloadError if it is anything else."""
    if not isinstance(payload, dict) or set(payload) != {"case", "outputs"}:
        raise PayloadError("the result is malformed")
    if payload["case"] != case_id:
        raise PayloadError("the result is for another case")
    return decode_outputs(payload["outputs"])


def graded_array(value, name: str) -> np.ndarray:
    """An output already in memory -> int64 or float64 array, by the same rules.

    Accepts numpy arrays and scalars of allowed kinds and Python bools, ints (within
    int64) and floats; anything else (lists, objects, strings, complex) is refused.
    """
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64_MAX:
            raise PayloadError(f"output '{name}' holds integers out of range")
        value = np.asarray(value)
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if type(value) is not np.ndarray:
        raise PayloadError(f"output '{name}' has an unsupported type")
    if value.ndim > MAX_NDIM or value.size > MAX_ELEMENTS or value.nbytes > MAX_BYTES:
        raise PayloadError(f"output '{name}' is too large")
    return _normalised(value, name)


def graded_outputs(outputs) -> dict:
    """``{name: value}`` in memory -> ``{name: array}`` (``graded_array`` on each)."""
    if not isinstance(outputs, dict):
        raise PayloadError("the outputs are not a set of named outputs")
    if len(outputs) > MAX_OUTPUTS:
        raise PayloadError("too many outputs")
    return {check_name(name): graded_array(value, name) for name, value in outputs.items()}
