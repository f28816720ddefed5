"""SandboxedExecute's output cap holds for every message that adds or replaces output:
new outputs, display updates (applied by nbclient in place, in any cell) and widget state."""
from __future__ import annotations

import json

import nbformat
import pytest

from autograder.preprocessors import SandboxedExecute
from autograder.payload import MIME

CAP = 2000


def _msg(kind, data=None, display_id=None, **content):
    content = {"data": data or {}, "metadata": {}, **content}
    if display_id is not None:
        content["transient"] = {"display_id": display_id}
    return {"msg_type": kind, "header": {"msg_type": kind}, "parent_header": {"msg_id": "parent"},
            "content": content, "buffers": []}


@pytest.fixture
def ex():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x") for _ in range(5)]
    test = nbformat.v4.new_code_cell("probe()", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1}})
    nb.cells.append(test)
    executor = SandboxedExecute(output_cap=CAP)
    executor.nb = nb
    executor.reset_execution_trackers()
    executor._out_bytes = {}
    executor.clear_before_next_output = False
    return executor


def _send(ex, index, msg):
    ex.process_message(msg, ex.nb.cells[index], index)


def _bytes(cell) -> int:
    return len(json.dumps(cell.outputs))


def test_display_updates_in_many_cells_stay_capped(ex):
    for index in range(4):
        for _ in range(10):
            _send(ex, index, _msg("display_data", {"text/plain": "small"}, display_id="flood"))
    before = [_bytes(c) for c in ex.nb.cells[:4]]
    assert all(b < CAP for b in before)
    for _ in range(3):
        _send(ex, 4, _msg("update_display_data", {"text/plain": "A" * 100_000}, display_id="flood"))
    _send(ex, 4, _msg("display_data", {"text/plain": "A" * 100_000}, display_id="flood"))
    for cell in ex.nb.cells[:5]:
        assert _bytes(cell) < CAP + 1000, _bytes(cell)
        assert "A" * 1000 not in json.dumps(cell.outputs)
    assert "output cut" in json.dumps(ex.nb.cells[0].outputs)


def test_small_updates_are_applied_everywhere(ex):
    for index in range(2):
        _send(ex, index, _msg("display_data", {"text/plain": "old"}, display_id="d"))
    _send(ex, 2, _msg("update_display_data", {"text/plain": "new"}, display_id="d"))
    assert [c.outputs[0]["data"]["text/plain"] for c in ex.nb.cells[:2]] == ["new", "new"]
    assert ex.nb.cells[2].outputs == []  # an update adds no output of its own


def test_new_outputs_are_capped(ex):
    for _ in range(100):
        _send(ex, 0, _msg("stream", name="stdout", text="B" * 100))
    assert _bytes(ex.nb.cells[0]) < CAP + 500
    assert "output cut" in ex.nb.cells[0].outputs[-1]["text"]


def test_probe_payloads_are_kept_in_test_cells_only(ex):
    payload = {MIME: {"case": "demo/x", "outputs": {"v": "C" * 5000}}, "text/plain": "[hidden test]"}
    _send(ex, 5, _msg("display_data", payload))
    assert ex.nb.cells[5].outputs[0]["data"][MIME]["case"] == "demo/x"
    _send(ex, 0, _msg("display_data", payload))  # the same bytes in a student's cell are just output
    assert "C" * 5000 not in json.dumps(ex.nb.cells[0].outputs)


def test_an_update_never_makes_or_replaces_a_payload(ex):
    _send(ex, 5, _msg("display_data", {MIME: {"case": "demo/x"}, "text/plain": "p"}, display_id="pay"))
    _send(ex, 5, _msg("display_data", {"text/plain": "plain"}, display_id="other"))
    _send(ex, 0, _msg("update_display_data", {"text/plain": "replaced"}, display_id="pay"))
    _send(ex, 0, _msg("update_display_data", {MIME: {"case": "demo/forged"}}, display_id="other"))
    outs = ex.nb.cells[5].outputs
    assert outs[0]["data"][MIME] == {"case": "demo/x"}
    assert MIME not in outs[1]["data"]


def test_forged_display_ids_do_not_crash_grading(ex):
    _send(ex, 0, _msg("display_data", {"text/plain": "x"}, display_id=["not", "hashable"]))
    _send(ex, 0, _msg("update_display_data", {"text/plain": "y"}, display_id={"a": 1}))
    assert ex.nb.cells[0].outputs[0]["data"]["text/plain"] == "x"


def test_widget_state_is_capped(ex):
    for i in range(200):
        state = {"_model_name": "X", "value": "D" * 500}
        _send(ex, 0, {"msg_type": "comm_open", "header": {"msg_type": "comm_open"},
                      "parent_header": {"msg_id": "parent"}, "buffers": [],
                      "content": {"comm_id": f"c{i}", "target_name": "none", "data": {"state": state}}})
    assert len(json.dumps(ex.widget_state)) < CAP + 1000
    _send(ex, 0, {"msg_type": "comm_msg", "header": {"msg_type": "comm_msg"}, "parent_header": {"msg_id": "p"},
                  "buffers": [], "content": {"comm_id": ["bad"], "data": {"state": "not a dict"}}})


def test_a_stream_cut_into_pieces_is_one_output(ex):
    """print("x") may reach the grader as "x" and "\\n" or as "x\\n", as the kernel's flushes
    fall: the graded notebook (and its feedback) must not depend on which."""
    _send(ex, 0, _msg("stream", name="stdout", text="Check and hand in: skipped."))
    _send(ex, 0, _msg("stream", name="stdout", text="\n"))
    _send(ex, 0, _msg("stream", name="stderr", text="warn\n"))
    _send(ex, 0, _msg("stream", name="stderr", text="more\n"))
    _send(ex, 0, _msg("display_data", {"text/plain": "figure"}))
    _send(ex, 0, _msg("stream", name="stdout", text="after\n"))
    assert [(o["output_type"], o.get("name"), o.get("text")) for o in ex.nb.cells[0].outputs] == [
        ("stream", "stdout", "Check and hand in: skipped.\n"), ("stream", "stderr", "warn\nmore\n"),
        ("display_data", None, None), ("stream", "stdout", "after\n")]


def test_joined_streams_stay_capped(ex):
    for _ in range(100):
        _send(ex, 1, _msg("stream", name="stdout", text="B" * 100))
    assert len(ex.nb.cells[1].outputs) == 2  # the joined text, then the note
    assert _bytes(ex.nb.cells[1]) < CAP + 500
    assert "output cut" in ex.nb.cells[1].outputs[-1]["text"]
