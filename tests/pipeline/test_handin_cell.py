"""The "check and hand in" cell that ends every release, run as a student's kernel runs it.

Colab is simulated as in test_colab_setup.py: a stand-in ``google.colab`` package imported
before the cell runs, whose ``_message.blocking_request("get_ipynb")`` returns the notebook
the test chose (the live notebook) and whose ``files.download`` records the path it was
given. Elsewhere the cell reads the saved file. Each run is the released cell's source in a
fresh Python process, for every release notebook:

- the release as handed out: every function listed as still raising NotImplementedError,
  every visible check as never run, every written answer as empty; the hand-in file is
  the notebook unchanged, under the release's name, and is downloaded;
- a filled-in copy (the release answered from the worked solutions, checks run): nothing
  listed, and nbgrader's intake reads the hand-in file against the release without a
  single repair; half of it filled in: exactly the other half listed;
- another assignment's notebook: a clear message, nothing written;
- deleted graded cells: listed; dropped metadata: the cells are recognised by their text;
- huge outputs: cut to the grading cap in the hand-in file, every source byte-identical;
- outside Colab: the saved file (the Jupyter session's, else the release's name in the
  working folder), or a message when there is none;
- under NBGRADER_EXECUTION: one line on stdout, nothing on stderr, nothing written.

Two runs go further: a filled-in notebook executed by a real kernel in grading mode (the
cell prints its one line there), then checked; and the hand-in file of the demo course's
reference, graded by the real autograde stage with full marks.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.intake import read_submission
from course import ROOT
from course.config import settings
from course.samples import filled_notebook, half, solution_cells, strip_metadata
from dlcourse.handin import cut_note, output_bytes

RELEASES = sorted((ROOT / "assignments").glob("*/*.ipynb"))
IDS = [p.parent.name for p in RELEASES]
LIMITS = settings(ROOT)["grading"]
CAP = LIMITS["output_cap_bytes"]
FAKE_COLAB = {
    "google/__init__.py": "",
    "google/colab/__init__.py": '"""Stand-in for Colab\'s google.colab (tests only)."""\n',
    # The frontend's answer: the notebook in the file FAKE_COLAB_IPYNB names (none: no answer).
    "google/colab/_message.py": (
        "import json, os\n\n"
        "def blocking_request(request_type, request='', timeout_sec=5, parent=None):\n"
        "    assert request_type == 'get_ipynb', request_type\n"
        "    path = os.environ.get('FAKE_COLAB_IPYNB')\n"
        "    if not path:\n"
        "        return None\n"
        "    with open(path, encoding='utf-8') as f:\n"
        "        return {'ipynb': json.load(f)}\n"),
    # Records what it was given, one JSON line per call, in FAKE_COLAB_DOWNLOADS.
    "google/colab/files.py": (
        "import json, os\n\n"
        "def download(filename):\n"
        "    if not os.path.isfile(filename):\n"
        "        raise FileNotFoundError(filename)\n"
        "    with open(os.environ['FAKE_COLAB_DOWNLOADS'], 'a') as f:\n"
        "        f.write(json.dumps(os.path.abspath(filename)) + '\\n')\n"),
}
# Runs the cell in argv[1] as a kernel would: in a __main__ namespace (plus FAKE_NAMESPACE),
# after importing google.colab when FAKE_COLAB is set, as Colab does before any cell.
RUNNER = """
import json, os, sys
if os.environ.get("FAKE_COLAB"):
    import google.colab
ns = {"__name__": "__main__", **json.loads(os.environ.get("FAKE_NAMESPACE", "{}"))}
exec(compile(open(sys.argv[1]).read(), "<check and hand in>", "exec"), ns)
"""


def read(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def handin_source(nb: dict) -> str:
    cell = nb["cells"][-1]
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def gid(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def kind_ids(nb: dict) -> dict:
    """{kind: [grade ids]} of a release, from its nbgrader metadata (independent of the cell)."""
    out = {"function": [], "answer": [], "check": [], "graded": []}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta:
            continue
        if meta.get("solution"):
            out["function" if cell["cell_type"] == "code" else "answer"].append(meta["grade_id"])
        elif cell["cell_type"] == "code" and meta["grade_id"].startswith("check_") and not meta.get("grade"):
            out["check"].append(meta["grade_id"])
        if meta.get("solution") or meta.get("grade") or meta.get("task"):
            out["graded"].append(meta["grade_id"])
    return out


def defined_name(source) -> str:
    source = "".join(source) if isinstance(source, list) else source
    return re.search(r"^(?:def|class) (\w+)", source, flags=re.M).group(1)


def filled(release_path: Path, code_cells: int | None = None, ran_checks: bool = True) -> dict:
    """The release answered from the worked solutions (all of it, or the first code cells), as
    JSON; with ``ran_checks`` every visible check has run (an output line, no error)."""
    release_nb = nbformat.read(str(release_path), as_version=4)
    solution_nb = nbformat.read(str(ROOT / "solutions" / release_path.parent.name / release_path.name),
                                as_version=4)
    nb = json.loads(nbformat.writes(filled_notebook(release_nb, solution_nb, code_cells)))
    for cell in nb["cells"]:
        if ran_checks and (gid(cell) or "").startswith("check_") and cell["cell_type"] == "code":
            cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": "relative error: 1e-10\n"}]
            cell["execution_count"] = 1
    return nb


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    base = tmp_path_factory.mktemp("handin")
    for rel, text in FAKE_COLAB.items():
        (base / "fake" / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / "fake" / rel).write_text(text)
    (base / "runner.py").write_text(RUNNER)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DLCOURSE_", "NBGRADER_", "JPY_", "FAKE_"))}
    env.update({"PYTHONPATH": str(base / "fake"), "HOME": str(base / "home"), "MPLBACKEND": "Agg"})
    return base, env


class Run:
    """One run of the cell: what it printed, what it wrote and what it downloaded."""

    def __init__(self, proc, cwd: Path, downloads: Path, name: str):
        self.proc, self.out, self.err = proc, proc.stdout, proc.stderr
        self.handin = cwd / "handin" / name
        self.downloads = [json.loads(x) for x in downloads.read_text().splitlines()] if downloads.exists() else []

    def listed(self, label: str) -> list[str]:
        """The items the cell printed after ``  - <label>:`` (wrapped lines joined)."""
        match = re.search(rf"^  - {re.escape(label)}: (.*?)\.$(?=\n(?!    ))", self.out, flags=re.M | re.S)
        return [x.strip() for x in " ".join(match.group(1).split()).split(",")] if match else []

    def optional(self) -> list[str]:
        match = re.search(r"^Optional, not done: (.*?)\.$", self.out, flags=re.M | re.S)
        return [x.strip() for x in " ".join(match.group(1).split()).split(",")] if match else []


def run_cell(colab, source: str, nb: dict | None, cwd: Path, name: str, *, on_colab: bool = True,
             extra_env: dict | None = None, namespace: dict | None = None) -> Run:
    """Run the hand-in cell ``source`` with ``nb`` as Colab's live notebook (``on_colab``)."""
    base, env = colab
    cwd.mkdir(parents=True, exist_ok=True)
    env = dict(env, **(extra_env or {}))
    downloads = cwd / "downloads.jsonl"
    env["FAKE_COLAB_DOWNLOADS"] = str(downloads)
    env["FAKE_NAMESPACE"] = json.dumps(namespace or {})
    if on_colab:
        env["FAKE_COLAB"] = "1"
        if nb is not None:
            live = cwd / "live.json"
            live.write_text(json.dumps(nb))
            env["FAKE_COLAB_IPYNB"] = str(live)
    spec = cwd / "cell.py"
    spec.write_text(source)
    proc = subprocess.run([sys.executable, str(base / "runner.py"), str(spec)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == "", proc.stderr
    return Run(proc, cwd, downloads, name)


# -- the release -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_the_release_ends_with_the_cell_which_nothing_grades(path):
    """Is the last cell of every release the hand-in cell (after its heading), without nbgrader
    metadata, holding exactly the release's graded cells and course.toml's limits? Do the
    source notebooks and the worked solutions go without it?"""
    nb = read(path)
    heading, cell = nb["cells"][-2:]
    assert heading["cell_type"] == "markdown" and heading["source"].startswith("## Check and hand in")
    assert cell["cell_type"] == "code" and "nbgrader" not in cell["metadata"]
    assert (heading["id"], cell["id"]) == ("handin-heading", "handin")
    ns = {}
    exec(handin_source(nb).split("\nif os.environ", 1)[0], ns)  # the constants the release wrote
    assert ns["ASSIGNMENT"] == path.parent.name and ns["NOTEBOOK"] == path.name
    assert ns["LIMITS"] == {k: LIMITS[k] for k in ns["LIMITS"]}
    assert set(ns["LIMITS"]) == {"cell_timeout", "notebook_deadline", "kernel_memory_mib", "output_cap_bytes"}
    ids = kind_ids(nb)
    released = ns["RELEASED"]
    assert sorted(g for k in ("function", "answer", "test", "task") for g in released[k]) == sorted(ids["graded"])
    assert list(released["check"]) == ids["check"]
    for other in (ROOT / "source" / path.parent.name / path.name,
                  ROOT / "solutions" / path.parent.name / path.name):
        assert not any(c.get("id") == "handin" for c in read(other)["cells"]), other


# -- on Colab ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_release_as_handed_out(path, colab, tmp_path):
    """The untouched release: is every function listed as unimplemented, every visible check as
    never run, every answer as empty; is the hand-in file the notebook itself, downloaded?"""
    nb = read(path)
    run = run_cell(colab, handin_source(nb), nb, tmp_path, path.name)
    ids = kind_ids(nb)
    assert "Read the notebook open in Colab" in run.out
    assert f"All {len(ids['graded'])} graded cells are here." in run.out
    listed = run.listed("functions that still raise NotImplementedError")
    listed += [x for x in run.optional() if x not in ids["graded"]]  # extra credit: functions, not questions
    for cell in nb["cells"]:
        if gid(cell) in ids["function"]:
            name = defined_name(cell["source"])
            assert any(x == name or x.startswith(name + ".") for x in listed), (name, run.out)
    assert {x.split(".")[0] for x in listed} <= {defined_name(c["source"]) for c in nb["cells"]
                                                 if gid(c) in ids["function"]} | set(ids["function"])
    assert run.listed("visible checks that never ran (no output)") == ids["check"]
    questions = {a.removesuffix("_answer") for a in ids["answer"]}
    assert set(run.listed("questions whose answer is still empty") + run.optional()) >= questions
    limits = " ".join(run.out.split())
    for key in ("cell_timeout", "notebook_deadline", "kernel_memory_mib", "output_cap_bytes"):
        assert str(LIMITS[key]) in limits
    assert "no GPU" in limits and "without network" in limits
    assert run.handin.is_file() and run.downloads == [str(run.handin)]
    assert read(run.handin) == nb  # nothing to cut: the notebook unchanged


@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_filled_in_copy_lists_nothing_and_grades_without_repair(path, colab, tmp_path):
    """Answered from the worked solutions with its checks run: is nothing listed, and does
    nbgrader's intake read the hand-in file against the release with no repair, every grade id
    and cell id in place?"""
    nb = filled(path)
    run = run_cell(colab, handin_source(nb), nb, tmp_path, path.name)
    assert "Nothing left that this check can see" in run.out and "Still to do" not in run.out, run.out
    assert read(run.handin) == nb
    graded, notes = read_submission(run.handin, path)
    assert notes == []
    release_nb = nbformat.read(str(path), as_version=4)
    assert [(c.get("id"), gid(c)) for c in graded.cells] == [(c.get("id"), gid(c)) for c in release_nb.cells]


@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_half_done_lists_the_other_half(path, colab, tmp_path):
    """With the first half of the functions written (checks not run yet): are exactly the other
    half listed, under the names they are defined with?"""
    release_nb = nbformat.read(str(path), as_version=4)
    done = half(release_nb)
    nb = filled(path, code_cells=done, ran_checks=False)
    run = run_cell(colab, handin_source(nb), nb, tmp_path, path.name)
    todo = {defined_name(release_nb.cells[i].source) for i in solution_cells(release_nb)[done:]}
    graded = kind_ids(nb)["graded"]
    listed = run.listed("functions that still raise NotImplementedError")
    listed += [x for x in run.optional() if x not in graded]  # extra credit: functions, not questions
    assert {x.split(".")[0] for x in listed} == todo, run.out


@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_another_assignments_notebook_is_not_written(path, colab, tmp_path):
    """The cell run on another assignment's notebook, stamped or with its metadata dropped: is
    there a clear message, and no file written or downloaded?"""
    other = RELEASES[(RELEASES.index(path) + 1) % len(RELEASES)]
    source = handin_source(read(path))
    for variant, nb in (("stamped", read(other)), ("stripped", json.loads(nbformat.writes(
            strip_metadata(nbformat.read(str(other), as_version=4)))))):
        run = run_cell(colab, source, nb, tmp_path / variant, path.name)
        assert f"This is not the {path.parent.name} notebook" in run.out, run.out
        assert (other.name in run.out) == (variant == "stamped")
        assert "Nothing was written" in run.out
        assert not run.handin.exists() and run.downloads == []


@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_deleted_graded_cells_are_listed(path, colab, tmp_path):
    """With a test cell, a function and a written question (with its answer) deleted: are they
    listed as missing, and is the file written all the same?"""
    nb = filled(path)
    ids = kind_ids(nb)
    test = next(gid(c) for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")
                and c["cell_type"] == "code")
    gone = {test, ids["function"][-1], ids["answer"][0], ids["answer"][0].removesuffix("_answer")}
    nb["cells"] = [c for c in nb["cells"] if gid(c) not in gone]
    run = run_cell(colab, handin_source(nb), nb, tmp_path, path.name)
    missing = re.search(r"Missing \(deleted\?\):\n(.*?)\.\n", run.out, flags=re.S).group(1)
    assert {x.strip() for x in missing.split(",")} == gone, run.out
    assert f"{len(ids['graded']) - len(gone)} of the {len(ids['graded'])} graded cells are here" in run.out
    assert read(run.handin) == nb and run.downloads == [str(run.handin)]


@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_cells_without_metadata_are_recognised_by_their_text(path, colab, tmp_path):
    """A filled-in copy after an editor dropped every cell's metadata and renumbered the cells:
    is every graded cell found all the same, with a word that the metadata is gone?"""
    nb = filled(path)
    stripped = json.loads(nbformat.writes(strip_metadata(nbformat.from_dict(nb))))
    run = run_cell(colab, handin_source(nb), stripped, tmp_path, path.name)
    graded = len(kind_ids(nb)["graded"])
    assert f"All {graded} graded cells are here." in run.out, run.out
    assert f"{graded} of them lost their course metadata" in run.out
    assert "Nothing left that this check can see" in run.out, run.out


@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_huge_outputs_are_cut_in_the_handin_file_only(path, colab, tmp_path):
    """With a 1 MB print and a 300 kB image in two cells: are their outputs cut to the grading
    cap (with a note) in the hand-in file, every source byte-identical and every other cell,
    and the notebook's metadata, unchanged?"""
    nb = filled(path)
    code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and i > 0]
    a, b = code[1], code[-2]
    nb["cells"][a]["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["step ok\n"] * 131072}]
    nb["cells"][b]["outputs"] = [
        {"name": "stdout", "output_type": "stream", "text": "a figure:\n"},
        {"data": {"image/png": "iVBORw0KGgo" * 30000, "text/plain": "<Figure>"}, "metadata": {},
         "output_type": "display_data"}]
    run = run_cell(colab, handin_source(nb), nb, tmp_path, path.name)
    out = read(run.handin)
    assert out["metadata"] == nb["metadata"] and len(out["cells"]) == len(nb["cells"])
    for i, (mine, theirs) in enumerate(zip(out["cells"], nb["cells"])):
        assert json.dumps(mine["source"]) == json.dumps(theirs["source"])
        if i not in (a, b):
            assert mine == theirs
            continue
        assert {k: v for k, v in mine.items() if k != "outputs"} == {k: v for k, v in theirs.items() if k != "outputs"}
        assert mine["outputs"][-1] == cut_note(CAP)
        assert sum(output_bytes(o) for o in mine["outputs"][:-1]) <= CAP
    assert out["cells"][a]["outputs"][0]["text"].startswith("step ok\nstep ok\n")
    assert out["cells"][b]["outputs"][0] == nb["cells"][b]["outputs"][0]  # the print before the image fits
    nbformat.validate(nbformat.from_dict(out))
    assert "the outputs of 2 cell(s) were cut" in " ".join(run.out.split())


# -- elsewhere, and while grading ------------------------------------------------------------

@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_outside_colab_the_saved_file_is_read(path, colab, tmp_path):
    """Off Colab: is the Jupyter session's file read (here "Copy of ..." in another folder),
    else the release's name in the working folder; with neither, is there a message and no
    file? Nothing is downloaded."""
    nb = filled(path, code_cells=1)
    source = handin_source(nb)
    elsewhere = tmp_path / "elsewhere" / f"Copy of {path.name}"
    elsewhere.parent.mkdir()
    elsewhere.write_text(json.dumps(nb))
    run = run_cell(colab, source, None, tmp_path / "session", path.name, on_colab=False,
                   namespace={"__session__": str(elsewhere)})
    assert "the file of this Jupyter session" in run.out and str(elsewhere) in " ".join(run.out.split())
    assert read(run.handin) == nb and run.downloads == []
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / path.name).write_text(json.dumps(nb))
    run = run_cell(colab, source, None, tmp_path / "folder", path.name, on_colab=False)
    assert f"{path.name} in the working folder" in " ".join(run.out.split())
    assert "save your notebook first" in run.out
    assert read(run.handin) == nb and run.downloads == []
    assert run.listed("functions that still raise NotImplementedError")
    run = run_cell(colab, source, None, tmp_path / "nothing", path.name, on_colab=False)
    assert "found no saved notebook" in " ".join(run.out.split()) and "File > Download" in run.out
    assert not run.handin.exists()


def test_colab_not_answering_is_said_and_writes_nothing(colab, tmp_path):
    """When Colab's frontend sends no notebook: a message saying how to hand in by hand, no file."""
    path = RELEASES[0]
    run = run_cell(colab, handin_source(read(path)), None, tmp_path, path.name)
    assert "Could not read the notebook from Colab" in run.out and "File > Download" in run.out
    assert not run.handin.exists() and run.downloads == []


@pytest.mark.parametrize("path", RELEASES, ids=IDS)
def test_while_grading_it_prints_one_line_and_does_nothing(path, colab, tmp_path):
    """With NBGRADER_EXECUTION set (on Colab, with a notebook to read): one line on stdout,
    nothing on stderr, nothing written or downloaded."""
    nb = filled(path)
    run = run_cell(colab, handin_source(nb), nb, tmp_path, path.name,
                   extra_env={"NBGRADER_EXECUTION": "autograde"})
    assert run.out == "Check and hand in: skipped while the notebook is graded.\n"
    assert not (tmp_path / "handin").exists() and run.downloads == []


def test_executed_in_grading_mode_then_checked(colab, tmp_path):
    """A filled-in notebook executed by a real kernel with NBGRADER_EXECUTION set: does the cell
    print its one line there (no stderr output), and then, run on the executed notebook (real
    outputs of every visible check), list nothing?"""
    from course.execute import execute_notebook

    path = ROOT / "assignments" / "written_problems" / "written_problems.ipynb"
    work = tmp_path / "run" / path.name
    work.parent.mkdir()
    work.write_text(json.dumps(filled(path, ran_checks=False)))
    executed, _ = execute_notebook(work, ROOT, fast=True, timeout=300)
    assert executed.cells[-1].outputs == [nbformat.from_dict(
        {"name": "stdout", "output_type": "stream", "text": "Check and hand in: skipped while the notebook is graded.\n"})]
    assert not (work.parent / "handin").exists()
    nb = json.loads(nbformat.writes(executed))
    run = run_cell(colab, handin_source(nb), nb, tmp_path / "check", path.name)
    assert "Nothing left that this check can see" in run.out, run.out
    assert read(run.handin) == nb


def test_the_handin_file_gets_full_marks_from_the_autograder(colab, tmp_path):
    """The demo course's reference submission passed through the cell on Colab and handed in:
    does the real autograde stage (sandboxed) read it without repair and give it every point,
    the cell printing its one line while graded?"""
    from course.autograde import autograde
    from course.gradebook import db_url, open_gradebook

    from .demo_course import sampled_demo_course

    (tmp_path / "course").mkdir()
    root, _ = sampled_demo_course(tmp_path / "course", cell_timeout=8, memory_mib=1024)
    reference = read(root / "submitted" / "reference" / "demo" / "demo.ipynb")
    run = run_cell(colab, handin_source(reference), reference, tmp_path / "colab", "demo.ipynb")
    assert run.downloads == [str(run.handin)]
    folder = root / "submitted" / "handed_in" / "demo"
    folder.mkdir(parents=True)
    (folder / "demo.ipynb").write_bytes(run.handin.read_bytes())
    report = autograde(root, only=["handed_in"])
    assert report["demo"]["handed_in"] == [], report  # intake repaired nothing
    with open_gradebook(db_url(root)) as gb:
        assert gb.find_submission("demo", "handed_in").code_score == 6
    graded = nbformat.read(str(root / "autograded" / "handed_in" / "demo" / "demo.ipynb"), as_version=4)
    assert graded.cells[-1].outputs == [nbformat.from_dict(
        {"name": "stdout", "output_type": "stream", "text": "Check and hand in: skipped while the notebook is graded.\n"})]
