"""Check a notebook before it is handed in, and write the file to hand in.

The last cell of every released notebook ("Check and hand in") calls ``check_and_hand_in``
with what the release wrote into it: the assignment, the notebook's file name, the graded
cells of the release (by kind, each with a fingerprint of its released text), the extra
credit, and the grading limits. The cell

1. reads the notebook: on Colab the live notebook, from Colab's frontend (unsaved edits
   and outputs included); elsewhere the saved file: the one VS Code or this Jupyter
   session has open, else ``<notebook>`` in the working folder (it says which);
2. checks that it is this assignment's notebook and that every graded cell is in it,
   and lists what is left to do: functions that still raise the release's stub
   ``NotImplementedError()``, written answers still empty, visible checks that failed or
   never ran. Cells whose course metadata an editor dropped are recognised by their text
   (locked cells by all of it, functions by their ``def``/``class`` line);
3. writes ``handin/<notebook>``, under the release's file name whatever the copy is
   called: the notebook as read, with the outputs of a cell that pass the grader's output
   cap cut (nothing else changes); on Colab it downloads it.

Nothing is enforced: problems are listed and the file is written all the same. The one
exception is another assignment's notebook, which is not written under this name.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

CODE_STUB = "raise NotImplementedError()"  # what the release leaves in a function to write
TEXT_STUB = "YOUR ANSWER HERE"  # what the release leaves in a written answer
FOLDER = "handin"  # where the file to hand in is written, in the working folder
COLAB_TIMEOUT = 60  # seconds Colab's frontend gets to send the notebook
WIDTH = 92


def wrap(text: str, **kw) -> str:
    """``text`` on lines of at most WIDTH characters; a word (a path, a name) is never split."""
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False, **kw)


# -- fingerprints (the release computes them with the same functions) -----------------------

def norm(source) -> str:
    """A cell's text without blank lines, trailing spaces or line-ending differences."""
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    if not isinstance(source, str):
        return ""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines if line.strip())


def fingerprint(text) -> str:
    """A short hash of ``norm(text)``."""
    return hashlib.sha256(norm(text).encode("utf-8", "surrogatepass")).hexdigest()[:8]


def head_line(source) -> str:
    """The line a function cell is known by: its first ``def``/``class`` line, else its first line."""
    lines = norm(source).split("\n")
    return next((line for line in lines if line.startswith(("def ", "class "))), lines[0])


# -- reading the notebook --------------------------------------------------------------------

def on_colab() -> bool:
    return "google.colab" in sys.modules


def live_notebook(timeout: float = COLAB_TIMEOUT) -> dict:
    """The notebook open in Colab, as Colab's frontend has it now."""
    from google.colab import _message

    reply = _message.blocking_request("get_ipynb", timeout_sec=timeout)
    nb = reply.get("ipynb") if isinstance(reply, dict) else None
    if isinstance(nb, str):
        nb = json.loads(nb)
    if not (isinstance(nb, dict) and isinstance(nb.get("cells"), list)):
        raise ValueError("Colab did not send the notebook")
    return nb


def saved_candidates(notebook: str, namespace: dict | None = None) -> list[tuple[Path, str]]:
    """(path, how it was found) of the saved notebook, most specific first."""
    ns = namespace or {}
    out = []
    vscode = ns.get("__vsc_ipynb_file__")
    if isinstance(vscode, str) and vscode:
        out.append((Path(vscode), "the file VS Code has open"))
    session = ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if isinstance(session, str) and session.endswith(".ipynb"):
        out.append((Path(session), "the file of this Jupyter session"))
        if not Path(session).is_absolute():  # relative to the server's root: try the working folder
            out.append((Path.cwd() / Path(session).name, "the file of this Jupyter session"))
    out.append((Path.cwd() / notebook, f"{notebook} in the working folder"))
    return out


def saved_notebook(notebook: str, namespace: dict | None = None):
    """(notebook, path, how it was found), or (None, None, why not)."""
    for path, how in saved_candidates(notebook, namespace):
        if path.suffix == ".ipynb" and path.is_file():
            try:
                nb = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError) as exc:
                return None, path, f"{path} is not a readable notebook ({type(exc).__name__})"
            if not (isinstance(nb, dict) and isinstance(nb.get("cells"), list)):
                return None, path, f"{path} is not a notebook"
            return nb, path, how
    others = sorted(p.name for p in Path.cwd().glob("*.ipynb"))[:3]
    why = f"found no saved notebook (none open in this Jupyter session or VS Code, no {notebook} in {Path.cwd()})"
    if others:
        why += f"; this folder has {', '.join(others)}"
    return None, None, why


# -- what is in the notebook -----------------------------------------------------------------

def _source(cell) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _grade_id(cell):
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def _cells(nb) -> list[dict]:
    cells = nb.get("cells") if isinstance(nb, dict) else None
    return [c if isinstance(c, dict) else {} for c in cells] if isinstance(cells, list) else []


def locate(cells: list[dict], released: dict) -> tuple[dict, set]:
    """({grade id: cell index} of the released cells found, the grade ids found by their text).

    A cell is found by its grade id; failing that (an editor dropped the metadata), a
    locked cell by its whole text, a function by its def/class line, a written answer
    as the markdown cell right after its question.
    """
    kind_of = {gid: kind for kind, ids in released.items() for gid in ids}
    found, used = {}, set()
    for i, cell in enumerate(cells):
        gid = _grade_id(cell)
        if gid in kind_of and gid not in found:
            found[gid] = i
            used.add(i)
    by_id = set(found)
    prints = {}
    for i, cell in enumerate(cells):
        if i not in used:
            prints.setdefault((cell.get("cell_type"), fingerprint(_source(cell))), []).append(i)
    for kind, cell_type in (("check", "code"), ("test", "code"), ("task", "markdown")):
        for gid, mark in released.get(kind, {}).items():
            if gid not in found:
                i = next((i for i in prints.get((cell_type, mark), []) if i not in used), None)
                if i is not None:
                    found[gid] = i
                    used.add(i)
    lines = {}
    for gid, mark in released.get("function", {}).items():
        if gid in found:
            continue
        for i, cell in enumerate(cells):
            if i in used or cell.get("cell_type") != "code":
                continue
            if i not in lines:
                lines[i] = {fingerprint(line) for line in norm(_source(cell)).split("\n")}
            if mark in lines[i]:
                found[gid] = i
                used.add(i)
                break
    for gid, task in released.get("answer", {}).items():
        i = found.get(task, -2) + 1
        if gid not in found and 0 <= i < len(cells) and i not in used and cells[i].get("cell_type") == "markdown":
            found[gid] = i
            used.add(i)
    return found, set(found) - by_id


def python_source(source: str) -> str:
    """A cell's code as Python (IPython's magics and shell escapes translated, when IPython is here)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _is_stub(node) -> bool:
    """Is ``node`` the release's stub, ``raise NotImplementedError()``?"""
    exc = node.exc if isinstance(node, ast.Raise) else None
    return (isinstance(exc, ast.Call) and isinstance(exc.func, ast.Name) and exc.func.id == "NotImplementedError"
            and not exc.args and not exc.keywords)


def stubs(source: str, name: str) -> tuple[list[str], str | None]:
    """(functions of ``source`` that still raise the release's stub, its syntax error or None).

    A function is named as it is defined (``Class.method`` for a method); a stub outside any
    function is named ``name``.
    """
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError as exc:
        return ([name] if CODE_STUB in source else []), f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return ([name] if CODE_STUB in source else []), type(exc).__name__
    out = []

    def visit(node, scope):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, scope + [child.name])
            else:
                if _is_stub(child):
                    label = ".".join(scope) or name
                    if label not in out:
                        out.append(label)
                visit(child, scope)

    try:
        visit(tree, [])
    except RecursionError:
        return ([name] if CODE_STUB in source else []), None
    return out, None


@dataclass
class Report:
    assignment: str
    notebook: str
    foreign: str | None = None  # why this is not the assignment's notebook
    present: int = 0  # graded cells found
    graded: int = 0  # graded cells of the release
    missing: list = field(default_factory=list)
    by_text: int = 0  # cells recognised by their text: their metadata is gone
    functions: list = field(default_factory=list)  # still raising the stub
    syntax: list = field(default_factory=list)  # solution cells that do not parse
    answers: list = field(default_factory=list)  # questions whose written answer is still empty
    failed: list = field(default_factory=list)  # visible checks with an error
    not_run: list = field(default_factory=list)  # visible checks without output
    optional: list = field(default_factory=list)  # extra credit not done

    def to_do(self) -> bool:
        return bool(self.missing or self.functions or self.syntax or self.answers or self.failed or self.not_run)


GRADED = ("function", "test", "task", "answer")  # kinds grading needs in the notebook


def _stamp(nb) -> tuple[str, str] | None:
    """(assignment, notebook) the release stamped in the notebook's metadata, if it is still there."""
    meta = nb.get("metadata") if isinstance(nb, dict) else None
    meta = meta.get("dlcourse") if isinstance(meta, dict) else None
    text = meta.get("generated") if isinstance(meta, dict) else None
    match = re.search(r"source/([^/\s]+)/([^/;]+?\.ipynb)", text) if isinstance(text, str) else None
    return (match.group(1), match.group(2)) if match else None


def check(nb: dict, assignment: str, notebook: str, released: dict, optional=()) -> Report:
    """What is left to do in ``nb``, against the release's graded cells ``released``."""
    report = Report(assignment, notebook)
    cells = _cells(nb)
    found, by_text = locate(cells, released)
    graded = [gid for kind in GRADED for gid in released.get(kind, {})]
    report.by_text = len(by_text.intersection(graded))
    report.graded = len(graded)
    report.present = sum(gid in found for gid in graded)
    stamp = _stamp(nb)
    if stamp and stamp != (assignment, notebook):
        report.foreign = f"it is {stamp[1]}, of the assignment {stamp[0]}"
        return report
    if graded and not report.present:
        report.foreign = f"none of the graded cells of {notebook} is in it"
        return report
    order = sorted((i, gid) for gid, i in found.items())
    report.missing = [gid for kind in GRADED for gid in released.get(kind, {}) if gid not in found]
    for i, gid in order:
        cell, kind = cells[i], next(k for k, ids in released.items() if gid in ids)
        if kind == "function":
            names, error = stubs(_source(cell), gid)
            (report.optional if gid in optional else report.functions).extend(names)
            if error:
                report.syntax.append(f"{gid} ({error})")
        elif kind == "answer" and norm(_source(cell)) in ("", TEXT_STUB):
            question = released["answer"][gid] or gid  # named by its question
            (report.optional if gid in optional else report.answers).append(question)
        elif kind == "check":
            outputs = [o for o in cell.get("outputs") or [] if isinstance(o, dict)]
            errors = [o for o in outputs if o.get("output_type") == "error"]
            if errors:
                report.failed.append(f"{gid} ({errors[0].get('ename') or 'error'})")
            elif not outputs:
                report.not_run.append(gid)
    return report


# -- the file to hand in ---------------------------------------------------------------------

def output_bytes(output) -> int:
    """An output's size as the grader counts it against the output cap."""
    return len(json.dumps(output, default=str))


def cut_note(cap: int) -> dict:
    return {"name": "stdout", "output_type": "stream",
            "text": f"\n[output cut for the hand-in: at most {cap} bytes of output are kept per cell]\n"}


def trim_outputs(nb: dict, cap: int) -> list[int]:
    """Cut, in place, the outputs of every code cell beyond ``cap`` bytes; return their indices.

    Outputs are kept in order while they fit; a text stream that passes the cap keeps its
    beginning; a note says where the cut is. Nothing else is changed.
    """
    cut = []
    for index, cell in enumerate(_cells(nb)):
        outputs = cell.get("outputs")
        if not isinstance(outputs, list) or sum(output_bytes(o) for o in outputs) <= cap:
            continue
        kept, used = [], 0
        for out in outputs:
            size = output_bytes(out)
            if used + size <= cap:
                kept.append(out)
                used += size
                continue
            if isinstance(out, dict) and out.get("output_type") == "stream":
                part = dict(out, text="")
                room = cap - used - output_bytes(part)
                text = out.get("text", "")
                text = "".join(t for t in text if isinstance(t, str)) if isinstance(text, list) else str(text)
                text = text[:max(room, 0)]
                while text and output_bytes(dict(part, text=text)) > cap - used:
                    text = text[:len(text) - max(1, output_bytes(dict(part, text=text)) - (cap - used))]
                if text:
                    kept.append(dict(part, text=text))
            break
        kept.append(cut_note(cap))
        cell["outputs"] = kept
        cut.append(index)
    return cut


def write_handin(nb: dict, notebook: str, folder: str | Path = FOLDER) -> Path:
    """Write ``nb`` to ``folder/notebook`` (replacing an earlier hand-in file) and return the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / notebook
    try:
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it as an escape
        data = (json.dumps(nb, indent=1) + "\n").encode("ascii")
    tmp = folder / f".{notebook}.partial"
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


# -- what the cell prints --------------------------------------------------------------------

def _items(label: str, items: list) -> str:
    return wrap(f"{label}: {', '.join(items)}.", initial_indent="  - ", subsequent_indent="    ")


def report_lines(report: Report) -> list[str]:
    if report.foreign:
        return [f"This is not the {report.assignment} notebook: {report.foreign}.",
                f"Nothing was written. Open {report.notebook} and run its last cell."]
    lines = []
    if report.missing:
        lines.append(f"{report.present} of the {report.graded} graded cells are here. Missing (deleted?):")
        lines.append(wrap(", ".join(report.missing) + ".", initial_indent="    ", subsequent_indent="    "))
        lines.append("  Grading puts each one back as it was handed out: a function put back is a stub.")
    else:
        lines.append(f"All {report.graded} graded cells are here.")
    if report.by_text:
        lines.append(f"{report.by_text} of them lost their course metadata (some editors drop it) and were "
                     "recognised by their text; grading puts the metadata back.")
    todo = [(report.functions, "functions that still raise NotImplementedError"),
            (report.syntax, "cells with a syntax error"),
            (report.answers, "questions whose answer is still empty"),
            (report.failed, "visible checks that failed"),
            (report.not_run, "visible checks that never ran (no output)")]
    if report.to_do():
        lines.append("Still to do:")
        lines += [_items(label, items) for items, label in todo if items]
    else:
        lines.append("Nothing left that this check can see (the hidden tests decide the points).")
    if report.optional:
        lines.append(wrap(f"Optional, not done: {', '.join(report.optional)}."))
    return lines


def limits_line(limits: dict) -> str:
    return wrap(
        "When it is graded, your notebook runs again from the top with FAST set, on a CPU (no GPU) "
        f"and without network: at most {limits['cell_timeout']} s per cell and "
        f"{limits['notebook_deadline']} s for the whole notebook, {limits['kernel_memory_mib']} MiB of "
        f"memory, and {limits['output_cap_bytes']} bytes of output kept per cell.")


def _manual(notebook: str) -> str:
    return (f"To hand in without this cell: download the notebook (File > Download > Download .ipynb) "
            f"and name the file {notebook}.")


def check_and_hand_in(assignment: str, notebook: str, released: dict, limits: dict, optional=(),
                      namespace: dict | None = None, folder: str | Path = FOLDER) -> Path | None:
    """Read this notebook, print what is left to do, write the file to hand in; its path or None."""
    print(f"Check and hand in: {notebook} ({assignment})")
    colab = on_colab()
    if colab:
        try:
            nb = live_notebook()
        except Exception as exc:  # the frontend did not answer: nothing to check, nothing written
            print(f"Could not read the notebook from Colab ({type(exc).__name__}: {exc}).")
            print(wrap(_manual(notebook)))
            return None
        print("Read the notebook open in Colab, as it is now.")
    else:
        nb, path, how = saved_notebook(notebook, namespace)
        if nb is None:
            print(wrap(f"Could not check or write the hand-in file: {how}. Save your notebook "
                       f"as {notebook} in the working folder and run this cell again."))
            print(wrap(_manual(notebook)))
            return None
        print(wrap(f"Read the saved file {path} ({how}): save your notebook first, unsaved "
                   "changes are not in it."))
    report = check(nb, assignment, notebook, released, optional)
    for line in report_lines(report):
        print(line)
    if report.foreign:
        return None
    print(limits_line(limits))
    cut = trim_outputs(nb, int(limits["output_cap_bytes"]))
    try:
        path = write_handin(nb, notebook, folder)
    except OSError as exc:
        print(f"Could not write the hand-in file ({exc}).")
        print(wrap(_manual(notebook)))
        return None
    size = path.stat().st_size
    cut_text = f"; the outputs of {len(cut)} cell(s) were cut to {limits['output_cap_bytes']} bytes" if cut else ""
    print(wrap(f"Wrote {path.resolve()} ({size / 1024:.0f} KiB{cut_text}). Hand in this file, "
               f"named {notebook} whatever your copy is called."))
    if colab:
        try:
            from google.colab import files

            files.download(str(path))
            print("Your browser downloads it now (allow the download if it asks).")
        except Exception as exc:
            print(f"The download did not start ({type(exc).__name__}); the file is in the Files pane: "
                  "right-click it, then Download.")
    return path
