"""``SandboxedExecute``: nbgrader's ``Execute`` for autograde, in a sandbox, with a deadline,
recovery and output caps.

It runs the notebook in a sandboxed kernel (``autograder.sandbox``) under a per-cell
timeout and a wall-clock deadline for the whole notebook (course.toml ``[grading]``). A
cell that times out is interrupted; a kernel that ignores the interrupt, or dies, is
killed and restarted, the cells that had finished are run again silently to rebuild its
state, and grading goes on: the cell that hung or died fails, the points earned elsewhere
count. Each cell keeps at most ``output_cap`` bytes of output (the rest is cut, and the
cut is said). Stream output that the kernel's flushes cut into pieces is joined, so the
graded notebook does not depend on the machine's load. The wall-clock marks of the run
(start, kernel ready, cells done) are logged as its "grading timeline".
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from queue import Empty
from time import monotonic, time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbgrader.preprocessors import Execute
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import output_from_msg
from traitlets import Bool, Integer

from autograder.graded_cells import error_output, is_test_cell
from autograder.payload import MIME
from autograder.sandbox import COURSE_ROOT, SandboxKernelManager


def _output_bytes(out) -> int:
    return len(json.dumps(out, default=str))


class SandboxedExecute(Execute):
    """nbgrader's Execute in a sandbox, with a deadline, recovery and output caps (module doc)."""

    notebook_deadline = Integer(600, help="wall-clock seconds for the whole notebook").tag(config=True)
    interrupt_grace = Integer(5, help="seconds an interrupted kernel has to answer").tag(config=True)
    output_cap = Integer(64 * 1024, help="bytes of output kept per cell").tag(config=True)
    max_restarts = Integer(3, help="kernel restarts per notebook before the rest fails").tag(config=True)
    interrupt_on_timeout = Bool(False)  # timeouts are handled here (interrupt, then kill)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)

    # -- kernel manager: tell the sandbox which course and assignment it serves
    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        info = (self.resources or {}).get("nbgrader", {})
        root = Path(km.course_root or COURSE_ROOT)
        if info.get("assignment"):
            km.assignment_dir = str(root / "assignments" / info["assignment"])
        return km

    def preprocess(self, nb, resources=None, km=None):
        self._started = monotonic()
        self._finished = []  # indices of code cells that ran without error (replayed after a restart)
        self._restarts = 0
        self._broken = None  # why later cells cannot run
        self._cell_timeout = self.timeout
        self._out_bytes = {}
        self._timeline = {"execute": time()}  # wall-clock marks, logged for `course bench --phases`
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self.timeout = self._cell_timeout
            self._timeline["executed"] = time()
            self.log.info("grading timeline: %s", " ".join(f"{k}={v:.3f}" for k, v in self._timeline.items()))

    def _remaining(self) -> float:
        return self.notebook_deadline - (monotonic() - self._started)

    def preprocess_cell(self, cell, resources, index):
        self._timeline.setdefault("kernel_ready", time())  # the first cell comes once the kernel answers
        try:
            return self._preprocess_cell(cell, resources, index)
        finally:
            self._timeline["cells_done"] = time()

    def _preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._broken:
            cell.outputs = [error_output("NotRun", self._broken)]
            return cell, resources
        remaining = self._remaining()
        if remaining < 1:
            self._broken = f"not run: the notebook's grading deadline ({self.notebook_deadline} s) had passed"
            cell.outputs = [error_output("DeadlineExceeded", self._broken)]
            return cell, resources
        self.timeout = max(1, int(min(self._cell_timeout or remaining, remaining)))
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(error_output("KernelDied", "the kernel died while running this cell "
                                             "(os._exit, a crash, a signal or memory exhaustion)"))
            self._recover(index, alive=False)
            return cell, resources
        except CellTimeoutError:
            cell.outputs.append(error_output("CellTimeoutError", f"the cell did not finish within {self.timeout} s"))
            self._recover(index, alive=True)
            return cell, resources
        if not any(o.get("output_type") == "error" for o in cell.outputs):
            self._finished.append(index)
        return cell, resources

    # -- recovery -------------------------------------------------------------------
    def _recover(self, index: int, alive: bool) -> None:
        """After a timeout (``alive``) or a dead kernel: interrupt, else restart and replay."""
        if alive and run_sync(self._async_interrupted)():
            return
        if self._restarts >= self.max_restarts:
            self._broken = f"not run: the kernel had to be restarted more than {self.max_restarts} times"
            return
        self._restarts += 1
        try:
            run_sync(self._async_restart)()
        except Exception as exc:  # the sandbox could not start again
            self._broken = f"not run: the kernel could not be restarted ({type(exc).__name__})"
            return
        self._replay()

    async def _async_interrupted(self) -> bool:
        """Interrupt the kernel; True if it then answers a request within interrupt_grace."""
        try:
            # on the client's control channel: the kernel is not the grader's child process
            self.kc.control_channel.send(self.kc.session.msg("interrupt_request", content={}))
            msg_id = self.kc.execute("pass", silent=True, store_history=False)
            until = monotonic() + self.interrupt_grace
            while monotonic() < until:
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=max(0.1, until - monotonic())))
                except Empty:
                    break
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
        except Exception:
            pass
        return False

    async def _async_restart(self) -> None:
        self.log.warning("grading kernel unresponsive or dead: restarting it")
        if self.kc is not None:
            self.kc.stop_channels()
        await ensure_async(self.km.restart_kernel(now=True))
        await self.async_start_new_kernel_client()

    def _replay(self) -> None:
        """Run the cells that had finished again, on copies (their outputs are kept as they were)."""
        done, self._finished = self._finished, []
        for index in done:
            cell = self.nb.cells[index]
            if is_test_cell(cell):
                self._finished.append(index)
                continue
            remaining = self._remaining()
            if remaining < 1:
                self._broken = f"not run: the notebook's grading deadline ({self.notebook_deadline} s) had passed"
                return
            self.timeout = max(1, int(min(self._cell_timeout or remaining, remaining)))
            shadow = copy.deepcopy(cell)
            try:
                super().preprocess_cell(shadow, self.resources, index)
            except (DeadKernelError, CellTimeoutError):
                self._broken = "not run: the kernel could not be rebuilt after a restart"
                return
            self._finished.append(index)

    # -- output cap ------------------------------------------------------------------
    # Every message that adds or replaces output counts against the cell's cap: new outputs
    # (``output``); display updates, which nbclient applies in place to every output shown
    # earlier with the same display_id, in any cell (``_update_display_id``); widget state,
    # which nbclient keeps for the notebook (``handle_comm_msg``). Probe payloads in graded
    # test cells (up to 16 per cell, 8 MiB each) are never cut, and only they.
    def _kept_payload(self, outs, content, size, cell_index) -> bool:
        data = content.get("data")
        if not (isinstance(data, dict) and MIME in data) or size > 8 * 1024 * 1024:
            return False
        cells = self.nb.cells if self.nb is not None else []
        if not (0 <= cell_index < len(cells) and is_test_cell(cells[cell_index])):
            return False
        return sum(1 for o in outs if isinstance(o.get("data"), dict) and MIME in o["data"]) < 16

    def _cut(self, outs, cell_index) -> None:
        """Mark the cell's output as cut (once, with a note); later output is dropped."""
        if self._out_bytes.get(cell_index, 0) <= self.output_cap:
            self._out_bytes[cell_index] = self.output_cap + 1
            outs.append(NotebookNode(output_type="stream", name="stdout", text=(
                f"\n[output cut: grading keeps at most {self.output_cap} bytes of output per cell]\n")))

    def output(self, outs, msg, display_id, cell_index):
        if not isinstance(display_id, str):
            display_id = None  # a forged, unhashable display_id would crash nbclient
        used = self._out_bytes.get(cell_index, 0)
        content = msg.get("content", {})
        size = _output_bytes(content)
        if self._kept_payload(outs, content, size, cell_index):
            return super().output(outs, msg, display_id, cell_index)  # probe results are never cut
        if used + size > self.output_cap:
            self._cut(outs, cell_index)
            return None
        self._out_bytes[cell_index] = used + size
        if self._joins_last_stream(outs, msg):
            outs[-1]["text"] += content["text"]
            return outs[-1]
        return super().output(outs, msg, display_id, cell_index)

    def _joins_last_stream(self, outs, msg) -> bool:
        """Whether a stream message continues the cell's last output (same stream, nothing
        in between). The kernel sends ``print``'s text in as many messages as its flushes
        happened to cut it into, which depends on the machine's load; joined, the graded
        notebook and its feedback are the same on every run (``nbclient``'s own
        ``coalesce_streams`` would also move text across the outputs between)."""
        content = msg.get("content", {})
        if msg.get("msg_type") != "stream" or not outs or self.clear_before_next_output:
            return False
        if self.output_hook_stack.get(msg.get("parent_header", {}).get("msg_id")):
            return False  # an output widget captures it
        last = outs[-1]
        return (last.get("output_type") == "stream" and last.get("name") == content.get("name")
                and isinstance(last.get("text"), str) and isinstance(content.get("text"), str))

    def _update_display_id(self, display_id, msg):
        """nbclient's display update (the data of every output shown with ``display_id`` is
        replaced), capped: in a cell whose outputs would pass the cap, or that is already cut,
        the updated outputs say they were cut instead. Probe payloads are never replaced, and
        an update never makes one."""
        places = self._display_id_map.get(display_id) if isinstance(display_id, str) else None
        if not places:
            return None
        if msg["header"]["msg_type"] == "update_display_data":
            msg["header"]["msg_type"] = "display_data"
        try:
            out = output_from_msg(msg)
        except ValueError:
            self.log.error(f"unhandled iopub msg: {msg['msg_type']}")
            return None
        new = NotebookNode(data=out["data"], metadata=out["metadata"])
        new_size = _shown_bytes(new)
        stub = NotebookNode(data={"text/plain": f"[output cut: grading keeps at most {self.output_cap} bytes "
                                                f"of output per cell]"}, metadata={})
        for cell_index, indices in places.items():
            if not 0 <= cell_index < len(self.nb.cells):
                continue
            cell = self.nb.cells[cell_index]
            outputs = cell.get("outputs", [])
            test = is_test_cell(cell)
            targets = [i for i in indices if 0 <= i < len(outputs)
                       and not (test and MIME in (outputs[i].get("data") or {}))]
            if not targets:
                continue
            used = self._out_bytes.get(cell_index, 0)
            before = sum(_shown_bytes(outputs[i]) for i in targets)
            after = used - before + len(targets) * new_size
            chosen = new
            if used > self.output_cap or after > self.output_cap or (test and MIME in new.data):
                chosen = stub
                after = used - before + len(targets) * _shown_bytes(stub)
            for i in targets:
                outputs[i]["data"] = chosen["data"]
                outputs[i]["metadata"] = chosen["metadata"]
            self._out_bytes[cell_index] = max(0, after)
            if chosen is stub:
                self._cut(outputs, cell_index)
        return None

    def handle_comm_msg(self, outs, msg, cell_index):
        """Widget state (kept by nbclient for the notebook's metadata) within one cap for the notebook."""
        content = msg.get("content", {})
        data = content.get("data")
        if self.store_widget_state and isinstance(data, dict) and "state" in data:
            comm_id = content.get("comm_id")
            if not isinstance(comm_id, str) or not isinstance(data["state"], dict):
                return None  # not widget state nbclient could keep (it would crash on it)
            kept = self._out_bytes.setdefault("widgets", {})  # comm_id -> (state bytes, buffer bytes)
            state = {**self.widget_state.get(comm_id, {}), **data["state"]}
            buffers = kept.get(comm_id, (0, 0))[1] + 2 * sum(
                len(b) for b in (msg.get("buffers") or []) if hasattr(b, "__len__"))  # base64 in the notebook
            size = (len(json.dumps(state, default=str)), buffers)
            others = sum(a + b for key, (a, b) in kept.items() if key != comm_id)
            if others + sum(size) > self.output_cap:
                self._cut(outs, cell_index)
                return None
            kept[comm_id] = size
        return super().handle_comm_msg(outs, msg, cell_index)


def _shown_bytes(out) -> int:
    """Size of what a display update replaces: an output's data and metadata."""
    return len(json.dumps({"data": out.get("data"), "metadata": out.get("metadata")}, default=str))

