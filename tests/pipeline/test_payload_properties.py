"""Do hostile payloads fail their own test, and only that, without ever raising in the grader?

Property-based (Hypothesis): random JSON, adversarial fields (dtype strings numpy would
choke on, shapes that overflow or lie about the data, non-str data, deep nesting, missing
and extra keys) and mutations of a correct payload are fed to the decoding
(``autograder.untrusted``), to ``compare_outputs``, to ``judge_cell`` (on a test cell as
``CompareWithAnswers`` sees it) and to every case's ``derive`` (found by iterating the
``CASES`` of every module of ``autograder.cases``). Properties: nothing raises past the
verdict; a verdict passes only if an independent check of the payload says it should;
honest payloads always pass; messages never show the expected values.

Reproducible: ``derandomize=True`` and no example database; a few hundred examples per
property, about 20 s in all on 2 cores.
"""
from __future__ import annotations

import base64
import importlib
import json
import math
import pkgutil
import time

import nbformat
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograder.cases
from autograder.answer_store import load_answers, read_encoded
from autograder.cases import get_case
from autograder.compare import Verdict, compare_outputs
from autograder.preprocessors.compare_with_answers import judge_cell
from autograder.payload import MIME, encode_array, encode_outputs, to_array
from autograder.untrusted import (
    DTYPES,
    MAX_BYTES,
    PayloadError,
    decode_array,
    decode_outputs,
    decode_payload,
    graded_outputs,
)
from course import ROOT
from course.config import assignments

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix, on purpose

PROPERTY = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
FEW = settings(PROPERTY, max_examples=120)

CASE_ID = "captioning/rnn_step_forward"  # a real case (tol 1e-8); its answer here is synthetic
SENTINEL_FLOAT = 0.8765432109876543  # expected values that must never appear in a message
SENTINEL_INT = 918273645
ANSWER = {"next_h": np.full((3, 4), SENTINEL_FLOAT), "count": np.array([SENTINEL_INT, 2, 3], dtype=np.int64)}


def derive_cases() -> list:
    """(case id, Case) of every case with a ``derive``, in every module of autograder.cases."""
    found = []
    for info in pkgutil.iter_modules(autograder.cases.__path__):
        module = importlib.import_module(f"autograder.cases.{info.name}")
        for name, case in getattr(module, "CASES", {}).items():
            if case.derive is not None:
                found.append((f"{info.name}/{name}", case))
    return found


DERIVE_CASES = derive_cases()


# -- strategies ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25)

HOSTILE_DTYPES = ["|S4", "S4", "<U3", "O", "|O", "V8", "|V8", "|V0", ">f8", ">i8", "<c16", "<c8", "<m8[s]",
                  "<M8[D]", "<f16", "f8", "float64", "int", "?", "(2,)f8", "<f8\x00", "", " <f8", "<f8 ",
                  "[('a', '<f8')]", "<i16", "<u16", "|b2", "=f8"]
dtype_fields = st.sampled_from(HOSTILE_DTYPES + sorted(DTYPES)) | st.text(max_size=10) | json_values
shape_fields = st.one_of(
    st.lists(st.integers(-3, 6), max_size=5),
    st.lists(st.integers(-2**70, 2**70), max_size=5),
    st.lists(st.sampled_from([2**31, 2**32, 2**62, 2**63, 2**64, 10**30]), min_size=1, max_size=6),
    st.lists(st.one_of(st.booleans(), st.floats(), st.text(max_size=3), st.none()), min_size=1, max_size=3),
    json_values)
data_fields = st.one_of(
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=40), json_values,
    st.sampled_from(["A" * 1024, "====", "AAAA====", "AA==AA==", "\u00e9\u00e9\u00e9\u00e9", "AAA\nAAAA"]))

honest_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                           np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))

any_arrays = hnp.arrays(
    dtype=st.one_of(hnp.scalar_dtypes(), hnp.byte_string_dtypes(max_len=4), hnp.unicode_string_dtypes(max_len=4),
                    hnp.complex_number_dtypes(), hnp.datetime64_dtypes(), hnp.timedelta64_dtypes(),
                    hnp.floating_dtypes(endianness=">"), hnp.integer_dtypes(endianness=">"),
                    st.just(np.dtype([("a", "<f8"), ("b", "<i4")]))),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))

object_values = st.one_of(
    any_arrays, st.just(np.array([1, "a", None], dtype=object)), st.just(np.ma.masked_array([1.0, 2.0], [0, 1])),
    st.builds(lambda: np.matrix([[1.0, 2.0]])), json_values, st.just(np.float64(SENTINEL_FLOAT)), st.just(2**80))


@st.composite
def encoded_outputs(draw, answer=ANSWER):
    """A correct encoding of ``answer`` with zero or more fields made hostile."""
    outputs = {name: encode_array(arr) for name, arr in answer.items()}
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(sorted(outputs) + ["extra", "\u00e9", "x" * 200, ""]))
        field = draw(st.sampled_from(["dtype", "shape", "data", "drop", "extra_key", "whole", "flip", "nan"]))
        enc = dict(outputs[name]) if isinstance(outputs.get(name), dict) else encode_array(np.zeros(2))
        if field == "dtype":
            enc["dtype"] = draw(dtype_fields)
        elif field == "shape":
            enc["shape"] = draw(shape_fields)
        elif field == "data":
            enc["data"] = draw(data_fields)
        elif field == "drop":
            enc.pop(draw(st.sampled_from(["dtype", "shape", "data"])), None)
        elif field == "extra_key":
            enc[draw(st.text(max_size=5))] = draw(json_values)
        elif field == "flip" and isinstance(enc.get("data"), str) and enc.get("dtype") in sorted(DTYPES):
            raw = bytearray(base64.b64decode(enc["data"]))
            if raw:
                raw[draw(st.integers(0, len(raw) - 1))] ^= 1 << draw(st.integers(0, 7))
            enc["data"] = base64.b64encode(bytes(raw)).decode()
        elif field == "nan" and enc.get("dtype") == "<f8":
            arr = np.frombuffer(base64.b64decode(enc["data"]), "<f8").copy()
            if arr.size:
                arr[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
            enc["data"] = base64.b64encode(arr.tobytes()).decode()
        if field == "whole":
            outputs[name] = draw(json_values)
        else:
            outputs[name] = enc
    if draw(st.booleans()) and outputs:
        outputs.pop(draw(st.sampled_from(sorted(outputs))))
    return outputs


@st.composite
def payloads(draw, case_id=CASE_ID, answer=ANSWER):
    """What a student's kernel may display under the probe's MIME type."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "honest", "json", "keys"]))
    if kind == "json":
        return draw(json_values)
    payload = {"case": case_id, "outputs": encode_outputs(answer) if kind == "honest" else draw(encoded_outputs(answer))}
    if kind == "keys":
        choice = draw(st.sampled_from(["drop_case", "drop_outputs", "extra", "case"]))
        if choice == "drop_case":
            payload.pop("case")
        elif choice == "drop_outputs":
            payload.pop("outputs")
        elif choice == "extra":
            payload["passed"] = True
        else:
            payload["case"] = draw(json_values)
    return payload


# -- an independent reading of a payload: what it means, by the probe's own format ----------

def reference_decode(payload, case_id):
    """The arrays a payload means, or None if it is not exactly what the probe emits."""
    if not isinstance(payload, dict) or set(payload) != {"case", "outputs"} or payload["case"] != case_id:
        return None
    outputs = payload["outputs"]
    if not isinstance(outputs, dict):
        return None
    out = {}
    for name, enc in outputs.items():
        if not isinstance(enc, dict) or set(enc) != {"dtype", "shape", "data"}:
            return None
        if enc["dtype"] not in ("<f8", "<i8", "<f4", "<f2", "<i4", "<i2", "|i1", "|u1", "<u2", "<u4", "<u8", "|b1"):
            return None
        shape = enc["shape"]
        if not isinstance(shape, list) or not all(type(d) is int and 0 <= d < 2**20 for d in shape):
            return None
        if not isinstance(enc["data"], str):
            return None
        try:
            raw = base64.b64decode(enc["data"], validate=True)
            arr = np.frombuffer(raw, dtype=np.dtype(enc["dtype"])).reshape(shape)
        except Exception:
            return None
        out[name] = arr
    return out


def truly_matches(student, answer, case) -> bool:
    """Does ``student`` equal ``answer`` within the case's tolerances? (written independently)"""
    if not isinstance(student, dict) or set(student) != set(answer):
        return False
    for name, expected in answer.items():
        got = student[name]
        if not isinstance(got, (np.ndarray, np.generic)) or got.dtype.kind not in "biuf":
            return False
        got = np.asarray(got)
        if got.shape != expected.shape:
            return False
        if expected.dtype.kind in "biu":
            if got.dtype.kind not in "biu" or got.tolist() != expected.tolist():
                return False
        else:
            x, y = got.astype(np.float64), expected.astype(np.float64)
            if not np.all(np.isfinite(x)):
                return False
            if x.size:
                with np.errstate(all="ignore"):
                    err = max(abs(float(a) - float(b)) / max(1e-8, abs(float(a)) + abs(float(b)))
                              for a, b in zip(x.ravel(), y.ravel()))
                if not err <= case.tolerance(name):
                    return False
    return True


def assert_safe_message(verdict: Verdict) -> None:
    text = verdict.message()
    assert isinstance(text, str) and len(text) < 2000
    for secret in (repr(SENTINEL_FLOAT)[:8], str(SENTINEL_INT)):
        assert secret not in text, text


def test_cases_with_derive_were_found():
    assert {cid for cid, _ in DERIVE_CASES} >= {"written_problems/rnn_parity", "written_problems/lstm_parity"}


# -- decoding -----------------------------------------------------------------------------

@PROPERTY
@given(payload=payloads() | json_values)
def test_decoding_returns_int64_or_float64_arrays_or_refuses(payload):
    try:
        out = decode_payload(payload, CASE_ID)
    except PayloadError as exc:
        assert len(str(exc)) < 200
        return
    meant = reference_decode(payload, CASE_ID)
    assert meant is not None and set(out) == set(meant)
    for name, arr in out.items():
        assert type(arr) is np.ndarray and arr.dtype in (np.int64, np.float64)
        assert arr.shape == meant[name].shape
        np.testing.assert_array_equal(arr, meant[name].astype(arr.dtype))


@PROPERTY
@given(arrays=st.dictionaries(st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True), honest_arrays, max_size=4))
def test_every_honest_payload_round_trips(arrays):
    """What the probe's encoder writes is always read back, exactly (no honest payload refused)."""
    out = decode_payload({"case": CASE_ID, "outputs": encode_outputs(arrays)}, CASE_ID)
    assert set(out) == set(arrays)
    for name, arr in arrays.items():
        np.testing.assert_array_equal(out[name], to_array(arr))
        raw = {name: encode_array(arr)}  # the raw dtype too, not only the probe's int64/float64
        if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            with pytest.raises(PayloadError):  # no int64 holds it (the probe itself wraps it into int64)
                decode_outputs(raw)
        else:
            np.testing.assert_array_equal(decode_outputs(raw)[name], arr)


def test_every_stored_answer_is_within_the_limits():
    """The sealed answers pass the same allow-list (so the limits refuse no honest result)."""
    for assignment in assignments(ROOT):
        for case_id, outputs in read_encoded(ROOT, assignment).items():
            decoded = decode_payload({"case": case_id, "outputs": outputs}, case_id)
            assert set(decoded) == set(outputs), case_id


@pytest.mark.parametrize("field,value", [
    ("dtype", "|S4"), ("dtype", "O"), ("dtype", "V8"), ("dtype", [["a", "<f8"]]), ("dtype", ">f8"),
    ("dtype", "<c16"), ("dtype", "<m8[s]"), ("dtype", None),
    ("shape", [2**40, 2**40]), ("shape", [2**64]), ("shape", [3]), ("shape", [-3, -4]), ("shape", "3, 4"),
    ("shape", [3.0, 4.0]), ("shape", [True, 4]), ("shape", None),
    ("data", 12), ("data", ["AAAA"]), ("data", None), ("data", "@@@@"),
])
def test_each_listed_hostile_field_is_refused(field, value):
    enc = encode_array(np.zeros((3, 4)))
    if field == "dtype" and value == "|S4":
        enc = encode_array(np.zeros((3, 4), dtype="|S4"))  # right shape and length, bytes inside
    enc[field] = value
    with pytest.raises(PayloadError):
        decode_array(enc, "x")


def test_gigabytes_claimed_are_refused_before_decoding():
    started = time.process_time()
    for shape, data in (([2**15, 2**15], ""), ([2**28], "AAAA"), ([MAX_BYTES // 8 + 1], "A" * 100)):
        with pytest.raises(PayloadError):
            decode_array({"dtype": "<f8", "shape": shape, "data": data}, "x")
    n = MAX_BYTES // 8 + 8  # data that does match its shape, but is over the bound
    with pytest.raises(PayloadError):
        decode_outputs({"x": {"dtype": "<f8", "shape": [n], "data": "A" * (4 * math.ceil(n * 8 / 3))}})
    assert time.process_time() - started < 2


def test_payloads_that_are_not_payloads_are_refused():
    nested = []
    for _ in range(900):
        nested = [nested]
    for payload in ([1, 2], 3, "x", None, {"case": CASE_ID}, {"outputs": {}},
                    {"case": CASE_ID, "outputs": []}, {"case": CASE_ID, "outputs": {"x": nested}},
                    {"case": CASE_ID, "outputs": {"x": {"dtype": "<f8", "shape": nested, "data": ""}}},
                    {"case": CASE_ID, "outputs": {str(k): {} for k in range(300)}},
                    {"case": "other/case", "outputs": {}}, {"case": CASE_ID, "outputs": {}, "extra": 1}):
        with pytest.raises(PayloadError):
            decode_payload(payload, CASE_ID)


# -- comparing ----------------------------------------------------------------------------

@PROPERTY
@given(student=st.one_of(st.dictionaries(st.sampled_from(["next_h", "count", "extra"]), object_values, max_size=3),
                         json_values, st.dictionaries(st.just("next_h"), any_arrays)))
def test_compare_outputs_never_raises_and_passes_only_true_matches(student):
    case = get_case(CASE_ID)
    verdict = compare_outputs(case, CASE_ID, student, ANSWER)
    assert isinstance(verdict, Verdict) and isinstance(verdict.passed, bool)
    assert_safe_message(verdict)
    if verdict.passed:
        assert truly_matches(student, ANSWER, case)


@PROPERTY
@given(expected=hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=3),
                           elements=st.floats(allow_nan=True, allow_infinity=True)),
       got=hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=3),
                      elements=st.floats(allow_nan=True, allow_infinity=True)))
def test_nan_and_infinity_on_either_side_never_pass_wrongly(expected, got):
    case = get_case(CASE_ID)
    verdict = compare_outputs(case, CASE_ID, {"y": got}, {"y": expected})
    if verdict.passed:
        assert np.all(np.isfinite(got)) and truly_matches({"y": got}, {"y": expected}, case)
    if got.shape == expected.shape and np.all(np.isfinite(expected)):
        assert compare_outputs(case, CASE_ID, {"y": expected.copy()}, {"y": expected}).passed


def test_types_across_sides():
    case = get_case(CASE_ID)
    ints = {"y": np.array([1, 2, 3])}
    assert not compare_outputs(case, CASE_ID, {"y": np.array([1.0, 2.0, 3.0])}, ints).passed  # ints given as floats
    assert "expected integers" in compare_outputs(case, CASE_ID, {"y": np.array([1.0, 2.0, 3.0])}, ints).message()
    assert compare_outputs(case, CASE_ID, {"y": np.array([1, 2, 3], dtype=np.uint8)}, ints).passed
    assert compare_outputs(case, CASE_ID, {"y": np.array([True, False])}, {"y": np.array([1, 0])}).passed
    assert compare_outputs(case, CASE_ID, {"y": np.array([1, 2])}, {"y": np.array([1.0, 2.0])}).passed  # ints where floats are
    assert not compare_outputs(case, CASE_ID, {"y": np.array([1 + 0j, 2])}, {"y": np.array([1.0, 2.0])}).passed
    big = np.array([2**63 + 1], dtype=np.uint64)  # equal to 2**63 only after a float conversion
    assert not compare_outputs(case, CASE_ID, {"y": big}, {"y": np.array([2**63 - 1])}).passed
    verdict = compare_outputs(case, CASE_ID, {"y": np.array([1.0]), "z" * 300: np.array([1.0])}, {"y": np.array([1.0])})
    assert not verdict.passed and len(verdict.message()) < 400


# -- judging one cell, as CompareWithAnswers does -------------------------------------------

def probe_cell(outputs: list, source: str = f'from autograder.probe import probe\nprobe("{CASE_ID}", globals())'):
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": "test_x", "points": 1}})
    cell.outputs = outputs
    return cell



junk_outputs = st.one_of(
    st.builds(lambda p: nbformat.v4.new_output("display_data", data={MIME: p, "text/plain": "passed"}), payloads()),
    st.builds(lambda p: {"output_type": "execute_result", "data": {MIME: p}, "metadata": {}, "execution_count": 1},
              payloads()),
    st.builds(lambda d: {"output_type": "display_data", "data": d}, json_values),
    st.builds(lambda t: nbformat.v4.new_output("stream", name="stdout", text=t), st.text(max_size=30)),
    st.builds(lambda n, v: {"output_type": "error", "ename": n, "evalue": v, "traceback": []}, json_values, json_values),
    json_values)


@PROPERTY
@given(outputs=st.lists(junk_outputs, max_size=4))
def test_judge_cell_ends_in_one_verdict_whatever_the_cell_holds(outputs):
    cell = probe_cell(list(outputs))
    verdicts = judge_cell(cell, {CASE_ID: ANSWER})
    assert len(verdicts) == 1 and len(cell.outputs) == 1
    assert_safe_message(verdicts[0])
    if verdicts[0].passed:
        found = [o["data"][MIME] for o in outputs if isinstance(o, dict) and isinstance(o.get("data"), dict)
                 and MIME in o["data"] and o.get("output_type") in ("display_data", "execute_result")]
        mine = [p for p in found if isinstance(p, dict) and p.get("case") == CASE_ID]
        assert len(mine) == 1
        assert truly_matches(reference_decode(mine[0], CASE_ID), ANSWER, get_case(CASE_ID))
    if verdicts[0].passed and not any(isinstance(o, dict) and o.get("output_type") == "error" for o in outputs):
        assert cell.outputs[0]["output_type"] == "stream"
    else:
        assert cell.outputs[0]["output_type"] == "error"


def test_a_byte_string_payload_fails_its_case_and_nothing_else():
    """The issue's case: dtype "|S4" with the right shape made the whole notebook fail."""
    bad = encode_array(np.zeros((3, 4), dtype="|S4"))
    other = "captioning/rnn_step_backward"
    payload = {"case": CASE_ID, "outputs": {"next_h": bad, "count": encode_array(ANSWER["count"])}}
    cell = probe_cell([nbformat.v4.new_output("display_data", data={MIME: payload}),
                      nbformat.v4.new_output("display_data", data={MIME: {"case": other, "outputs": encode_outputs(ANSWER)}})],
                     source=f'probe("{CASE_ID}", globals())\nprobe("{other}", globals())')
    first, second = judge_cell(cell, {CASE_ID: ANSWER, other: ANSWER})
    assert not first.passed and "could not be read" in first.message()
    assert second.passed


def test_unknown_case_or_broken_answer_fails_that_case_only():
    ids = ["nonexistent/case", "captioning/nope"]
    cell = probe_cell([nbformat.v4.new_output("display_data", data={MIME: {"case": cid, "outputs": encode_outputs(ANSWER)}})
                       for cid in ids + [CASE_ID]],
                      source="".join(f'probe("{cid}", globals())\n' for cid in ids + [CASE_ID]))
    verdicts = judge_cell(cell, {cid: ANSWER for cid in ids + [CASE_ID]})
    assert [v.passed for v in verdicts] == [False, False, True]
    assert all("could not be judged" in v.message() for v in verdicts[:2])
    payload = {"case": CASE_ID, "outputs": encode_outputs(ANSWER)}
    cell = probe_cell([nbformat.v4.new_output("display_data", data={MIME: payload})])
    verdict, = judge_cell(cell, {CASE_ID: {"next_h": np.array(["a"])}})  # an answer no grader should hold
    assert not verdict.passed


# -- derive: every case that has one ------------------------------------------------------

def _stored_answer(case_id):
    assignment = case_id.split("/", 1)[0]
    return load_answers(ROOT, assignment)[case_id]


weight_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.sampled_from([0.0, 1.0, -1.0, 0.5, 1.5, -0.5, 2.0, 1e308, -1e308, 5e-324]))


@st.composite
def weights_near(draw, answer):
    """Outputs for a derive case: the answer (scaled, as other correct weights may be) with
    fields made hostile, dropped or added; or the answer's names with hostile shapes and values."""
    if draw(st.booleans()):
        scale = draw(st.sampled_from([1.0, 2.0, 0.5, -1.0, 0.0]))
        out = {name: np.array(arr, dtype=np.float64) * scale for name, arr in answer.items()}
        for _ in range(draw(st.integers(0, 2))):
            name = draw(st.sampled_from(sorted(answer)))
            change = draw(st.sampled_from(["value", "shape", "drop", "extra", "int"]))
            if change == "value" and out.get(name) is not None and out[name].size:
                flat = out[name].ravel().copy()
                flat[draw(st.integers(0, flat.size - 1))] = draw(weight_values)
                out[name] = flat.reshape(out[name].shape)
            elif change == "shape":
                out[name] = np.zeros(draw(st.sampled_from([(), (1,), (2, 2), (40, 40), (0,), (1, 1, 1)])))
            elif change == "drop":
                out.pop(name, None)
            elif change == "extra":
                out[draw(st.sampled_from(["extra", "y", name + "_"]))] = np.zeros(1)
            elif out.get(name) is not None:
                out[name] = out[name].astype(np.int64)
        return out
    out = {}
    for name, arr in answer.items():
        if draw(st.integers(0, 9)) == 0:
            continue  # missing
        shape = draw(st.sampled_from([arr.shape, arr.shape, (), (1,), (2, 2), (40, 40), (0,), arr.shape[::-1]]))
        out[name] = draw(hnp.arrays(np.float64, shape, elements=weight_values))
    return out


@pytest.mark.parametrize("case_id,case", DERIVE_CASES, ids=[c for c, _ in DERIVE_CASES])
def test_derive_refuses_with_valueerror_or_derives_and_compare_never_raises(case_id, case):
    answer = _stored_answer(case_id)
    truth = {k: to_array(v) for k, v in case.derive(answer).items()}
    assert compare_outputs(case, case_id, answer, answer).passed

    @FEW
    @given(student=weights_near(answer) | st.dictionaries(st.sampled_from(sorted(answer) + ["x"]), object_values,
                                                          max_size=len(answer) + 1))
    def check(student):
        verdict = compare_outputs(case, case_id, student, answer)
        assert isinstance(verdict, Verdict)
        assert_safe_message(verdict)
        try:
            clean = graded_outputs(student)
        except PayloadError:
            assert not verdict.passed
            return
        try:
            derived = case.derive(clean)  # its contract: ValueError for what it cannot use
        except ValueError:
            assert not verdict.passed
            return
        derived = {k: to_array(v) for k, v in derived.items()}
        if verdict.passed:  # passing means the derived outputs are the reference's, exactly
            assert set(clean) <= set(answer)
            assert set(derived) == set(truth)
            for k in truth:
                assert derived[k].tolist() == truth[k].tolist()

    check()


def test_derive_outputs_are_safe_to_compare():
    """A derive that returns junk, or raises anything, fails the case with a short message."""
    import dataclasses

    base = get_case("written_problems/rnn_parity")
    answer = _stored_answer("written_problems/rnn_parity")
    for derive in (lambda o: [1, 2], lambda o: {"y": "text"}, lambda o: {"y": np.array([1 + 1j])},
                   lambda o: 1 / 0, lambda o: {"y": object()}):
        case = dataclasses.replace(base, derive=derive)
        verdict = compare_outputs(case, "x/y", answer, answer)
        assert not verdict.passed and len(verdict.message()) < 300


def test_json_round_trip_of_a_payload_keeps_it_valid():
    """The payload travels as JSON through Jupyter's messages; decoding sees parsed JSON."""
    payload = json.loads(json.dumps({"case": CASE_ID, "outputs": encode_outputs(ANSWER)}))
    out = decode_payload(payload, CASE_ID)
    assert compare_outputs(get_case(CASE_ID), CASE_ID, out, ANSWER).passed
