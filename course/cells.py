"""Cell factories for writing nbgrader source notebooks from Python.

Instructors may edit the notebooks in Jupyter (they are the source of truth); these
helpers make the nbgrader metadata right when a notebook is written or extended by a
script. Every factory returns an ``nbformat`` cell.

Cell kinds (see docs/AUTHORING.md):

- ``md``/``code``: ordinary cells, editable by students.
- ``readonly``: locked provided code (setup, provided helpers, visible sanity checks).
- ``solution``: a graded TODO, code with ``### BEGIN SOLUTION``/``### END SOLUTION``.
- ``hidden_test``: a locked cell with points that runs hidden cases through the probe.
- ``task`` + ``answer``: a written question with its mark scheme, and the student's answer.
"""
from __future__ import annotations

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _meta(grade_id, *, grade=False, solution=False, locked=False, task=False, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": task,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(src: str):
    return new_code_cell(src.strip("\n"))


def readonly(grade_id: str, src: str, markdown: bool = False):
    make = new_markdown_cell if markdown else new_code_cell
    return make(src.strip("\n"), metadata=_meta(grade_id, locked=True))


def solution(grade_id: str, src: str):
    if "### BEGIN SOLUTION" not in src:
        raise ValueError(f"solution cell {grade_id} has no ### BEGIN SOLUTION region")
    return new_code_cell(src.strip("\n"), metadata=_meta(grade_id, solution=True))


def hidden_test(grade_id: str, points: float, case_ids: list[str], what: str):
    lines = [
        f"# Graded: {what} ({points:g} point{'' if points == 1 else 's'}).",
        "# Hidden tests run on unseen inputs when your notebook is graded.",
        "### BEGIN HIDDEN TESTS",
        "from autograder.probe import probe",
    ]
    lines += [f'probe("{cid}", globals())' for cid in case_ids]
    lines.append("### END HIDDEN TESTS")
    return new_code_cell("\n".join(lines), metadata=_meta(grade_id, grade=True, locked=True, points=points))


def task(grade_id: str, points: float, question: str, mark_scheme: str):
    text = (
        question.strip("\n")
        + "\n\n=== BEGIN MARK SCHEME ===\n\n"
        + mark_scheme.strip("\n")
        + "\n\n=== END MARK SCHEME ==="
    )
    return new_markdown_cell(text, metadata=_meta(grade_id, task=True, locked=True, points=points))


def answer(grade_id: str, reference_answer: str):
    """The student's answer cell; the source holds the reference answer (solutions only).

    nbgrader requires a markdown solution cell to be a grade cell; it carries 0 points
    because the points of the question sit on its task cell, next to the mark scheme.
    """
    meta = _meta(grade_id, grade=True, solution=True, points=0)
    return new_markdown_cell(reference_answer.strip("\n"), metadata=meta)


def points(nb) -> tuple[float, float]:
    """(autograded, written) points of a notebook, from its nbgrader metadata.

    Autograded: the points of graded code cells (hidden tests); written: the points of
    task cells (questions with a mark scheme).
    """
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    auto = sum(m.get("points", 0) for c, m in zip(nb.cells, meta) if c.cell_type == "code" and m.get("grade"))
    written = sum(m.get("points", 0) for m in meta if m.get("task"))
    return auto, written


def title(nb) -> str | None:
    """The notebook's title: the first '# ' heading of its first cell, or None."""
    import re

    match = re.search(r"^# (.+)$", nb.cells[0].source, flags=re.M) if nb.cells else None
    return match.group(1).strip() if match else None


def notebook(cells: list):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write(nb, path) -> None:
    nbformat.validate(nb)
    nbformat.write(nb, str(path))


SETUP_TEMPLATE = '''\
# Setup: run this cell first. Running it again, or after a runtime restart, is safe.
# On Colab it installs the course helper package and fetches the data below; on your own
# machine it uses what is installed (pip install -e package). To keep the data (and the
# files the notebook writes) across Colab runtimes, mount Google Drive first (Files pane,
# Drive button), then run this cell. Your notebook itself: File > Save a copy in Drive.
import importlib
import importlib.util
import os
import subprocess
import sys

COURSE_REPO = "https://github.com/dl-course/dl-course-public"  # written by the release step (course.toml)
COURSE_BRANCH = "main"  # written by the release step (course.toml)
COURSE_WHEEL = ""  # the helper package as a wheel on the course site; written by the release step
DATASETS = {datasets!r}  # fetched on Colab; offline, the loaders fall back to bundled data
DRIVE = "/content/drive/MyDrive"  # where Colab mounts Google Drive


def pip_install(source):
    # pip-install source; return None, or pip's most telling line about why it failed.
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--retries", "1",
                          "--timeout", "20", source], capture_output=True, text=True)
    if pip.returncode == 0:
        importlib.invalidate_caches()
        return None
    lines = [line.strip(" ×│╰─>") for line in (pip.stderr + pip.stdout).splitlines() if line.strip()]
    for mark in ("fatal:", "Failed", "ERROR:"):
        for line in lines:
            if line.startswith(mark):
                return line
    return lines[-1] if lines else f"pip exited with code {{pip.returncode}}"


if "google.colab" in sys.modules:
    if os.path.isdir(DRIVE):  # Drive is mounted: keep the data and the working folder there
        os.environ["DLCOURSE_DATA"] = os.path.join(DRIVE, "dlcourse", "data")
        os.makedirs(os.path.join(DRIVE, "dlcourse", "work"), exist_ok=True)
        os.chdir(os.path.join(DRIVE, "dlcourse", "work"))
        print(f"Google Drive is mounted: data in {{os.environ['DLCOURSE_DATA']}}, files written to {{os.getcwd()}}.")
    else:  # not mounted (or no longer): leave nothing pointing into Drive from an earlier run
        if os.environ.get("DLCOURSE_DATA", "").startswith(DRIVE):
            del os.environ["DLCOURSE_DATA"]
        try:
            cwd = os.getcwd()
        except FileNotFoundError:  # the working folder was in Drive, which is gone
            cwd = DRIVE
        if cwd.startswith(DRIVE):
            os.chdir(os.path.dirname(os.path.dirname(DRIVE)))  # Colab's starting folder, /content
        if DATASETS:
            print("The data are kept in this runtime only; to keep them, mount Google Drive and run this cell again.")
    if importlib.util.find_spec("dlcourse") is None:  # not installed yet in this runtime
        sources = {{"the course repository": f"dlcourse @ git+{{COURSE_REPO}}@{{COURSE_BRANCH}}#subdirectory=package",
                   "the course site": COURSE_WHEEL}}
        failures = []
        for where, source in sources.items():
            why = pip_install(source) if source else "no address configured"
            if why is None:
                print(f"Installed the course helper package from {{where}}.")
                break
            failures.append(f"{{where}}: {{why}}")
        else:
            print("Could not install the course helper package (is this runtime online?)\\n  "
                  + "\\n  ".join(failures))
    if importlib.util.find_spec("dlcourse") is not None:
        for name in DATASETS:  # a failed download is not fatal: the loaders fall back to offline data
            if subprocess.call([sys.executable, "-m", "dlcourse.download", name]) != 0:
                print(f"Could not download {{name}}; the notebook will use the offline stand-in.")

try:
    import dlcourse
except ModuleNotFoundError as exc:
    if exc.name != "dlcourse":
        raise  # dlcourse is there but something it needs is not: that error says what
    raise ImportError("The course helper package is missing: run `pip install -e package` in the "
                      "course repository, or run this cell again on Colab once the runtime is online.") from None

# While nbgrader grades a notebook it sets NBGRADER_EXECUTION: heavy cells then run a
# shortened version, because grades come from the hidden tests, not from long training.
FAST = bool(os.environ.get("NBGRADER_EXECUTION"))
print(f"dlcourse {{dlcourse.__version__}}; fast grading mode: {{FAST}}")'''


def setup_cell(datasets: list[str]):
    """The locked first code cell of every notebook (grade_id ``setup``)."""
    return readonly("setup", SETUP_TEMPLATE.format(datasets=list(datasets)))


def refresh_setup_cell(nb) -> bool:
    """Rewrite the setup cell of ``nb`` from SETUP_TEMPLATE, keeping its DATASETS list."""
    import ast
    import re

    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "setup":
            match = re.search(r"^DATASETS = (\[.*?\])", cell.source, flags=re.M)
            datasets = ast.literal_eval(match.group(1)) if match else []
            new = SETUP_TEMPLATE.format(datasets=list(datasets))
            changed = new != cell.source
            cell.source = new
            return changed
    raise ValueError("notebook has no setup cell")


# The last two cells of every released notebook: a heading and the "check and hand in" cell.
# The release adds them (course/release.py) to assignments/ only, after nbgrader has made
# the release, and writes into the cell what it checks against: the release's graded cells,
# the extra credit and the grading limits of course.toml. The cell is not an nbgrader cell
# (nothing grades it, nbgrader's gradebook does not know it), and while nbgrader grades a
# notebook (NBGRADER_EXECUTION) it only prints one line. Its logic is dlcourse.handin.
HANDIN_HEADING = """\
## Check and hand in

Run the next cell when you are ready to hand in, and as often as you like before. It lists
what is still to do and writes the file to hand in, `handin/{notebook}`; on Colab it also
downloads it. Hand in that file. It never changes your notebook."""

HANDIN_TEMPLATE = '''\
# Check and hand in: run this cell last. It reads your notebook (on Colab the open notebook,
# elsewhere the saved file: save it first), lists what is left to do and writes the file to
# hand in, under this name whatever your copy is called:
#     handin/{notebook}
# What it finds never stops you from handing in, and it changes nothing in your notebook.
import os

ASSIGNMENT = {assignment}  # written by the release step
NOTEBOOK = {notebook_literal}  # the name of the file to hand in; written by the release step
# Grading limits (course.toml): seconds per cell and per notebook, memory, output per cell.
LIMITS = {limits}  # written by the release step
# The graded cells as handed out, by kind: grade id -> fingerprint of the released text (for a
# function, of its def/class line; for a written answer, its question). Written by the release step.
RELEASED = {released}
OPTIONAL = {optional}  # extra credit; written by the release step

if os.environ.get("NBGRADER_EXECUTION"):
    print("Check and hand in: skipped while the notebook is graded.")
else:
    try:
        from dlcourse.handin import check_and_hand_in
    except ImportError:
        print("This check needs the course helper package: run the setup cell, then this cell again. "
              f"To hand in without it, download the notebook (File > Download) and name it {{NOTEBOOK}}.")
    else:
        check_and_hand_in(ASSIGNMENT, NOTEBOOK, RELEASED, LIMITS, OPTIONAL, namespace=globals())'''

HANDIN_LIMITS = ("cell_timeout", "notebook_deadline", "kernel_memory_mib", "output_cap_bytes")
HANDIN_IDS = ("handin-heading", "handin")  # cell ids of the two cells, fixed for the drift check


def released_cells(nb) -> tuple[dict, list[str]]:
    """({kind: {grade id: fingerprint}}, optional grade ids) of a release notebook.

    Kinds: ``function`` (code solution cells; fingerprint of the def/class line), ``answer``
    (written answers; the grade id of their question), ``test`` (graded test cells),
    ``task`` (questions) and ``check`` (visible checks: locked code cells named
    ``check_*``); the others by the fingerprint of their text. Optional: functions under
    a heading that says "extra credit" or "optional", questions worth no points and their
    answers.
    """
    from dlcourse.handin import fingerprint, head_line

    kinds = {k: {} for k in ("function", "answer", "test", "task", "check")}
    optional, heading, task = [], "", None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.cell_type == "markdown":
            headings = [line for line in cell.source.splitlines() if line.startswith("#")]
            heading = headings[-1].lower() if headings else heading
        if not gid:
            continue
        if meta.get("solution") and cell.cell_type == "code":
            kinds["function"][gid] = fingerprint(head_line(cell.source))
            if "extra credit" in heading or "optional" in heading:
                optional.append(gid)
        elif meta.get("solution"):
            kinds["answer"][gid] = task or ""
            if task in optional:
                optional.append(gid)
        elif meta.get("task"):
            kinds["task"][gid] = fingerprint(cell.source)
            task = gid
            if not meta.get("points"):
                optional.append(gid)
        elif meta.get("grade"):
            kinds["test"][gid] = fingerprint(cell.source)
        elif cell.cell_type == "code" and gid.startswith("check_"):
            kinds["check"][gid] = fingerprint(cell.source)
    return kinds, optional


def _wrapped(items: list[str], indent: int, width: int = 96) -> str:
    """``items`` joined by ", ", wrapped at ``width`` with continuation lines at ``indent``."""
    lines, line = [], ""
    for item in items:
        if line and len(line) + 2 + len(item) > width - indent:
            lines.append(line + ",")
            line = item
        else:
            line = f"{line}, {item}" if line else item
    lines.append(line)
    return ("\n" + " " * indent).join(lines)


def handin_cells(nb, assignment: str, notebook: str, limits: dict) -> list:
    """The heading and the "check and hand in" cell for the release notebook ``nb``."""
    kinds, optional = released_cells(nb)
    q = json.dumps
    body = []
    for kind, marks in kinds.items():
        entries = [f"{q(gid)}: {q(mark)}" for gid, mark in marks.items()]
        prefix = f"    {q(kind)}: {{"
        body.append(prefix + _wrapped(entries, len(prefix)) + "},")
    released = "{\n" + "\n".join(body) + "\n}"
    code = HANDIN_TEMPLATE.format(
        assignment=q(assignment), notebook=notebook, notebook_literal=q(notebook),
        limits="{" + _wrapped([f"{q(k)}: {int(limits[k])}" for k in HANDIN_LIMITS], len("LIMITS = {")) + "}",
        released=released, optional="[" + ", ".join(q(g) for g in optional) + "]")
    heading = new_markdown_cell(HANDIN_HEADING.format(notebook=notebook))
    cell = new_code_cell(code, metadata={"deletable": False, "editable": False})
    heading["id"], cell["id"] = HANDIN_IDS
    return [heading, cell]
