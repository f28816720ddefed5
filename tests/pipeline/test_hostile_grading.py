"""Hostile submissions, graded through the real commands: none gains a point, costs another
student a point, or stops the class.

A demo course (tests/pipeline/demo_course.py: softmax 2, pairwise_sq_dists 3, Counter 1 =
6 autograded points) gets submissions written here that forge verdicts, read secrets,
sabotage other students, kill their parent, leave daemons, ignore interrupts, fork-bomb,
fill the disk and flood output. ``python -m course autograde demo`` grades them all in
one run; students named ``a_*`` are graded before ``reference``, so their sabotage would
reach it. The same course is then graded on a fresh copy (no gradebook.db) by plain
``nbgrader autograde`` and by the formgrader's code path (NbGraderAPI.autograde).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course.feedback import feedback, grades

from .demo_course import sampled_demo_course, submit
from .test_demo_grading import cell, index, scenarios

pytestmark = pytest.mark.e2e  # an end-to-end run: ./course.sh test-e2e

MARKER = "DLCOURSE-HOSTILE"  # in the argv of every process a hostile notebook leaves behind
DEADLINE = 45

FORGE = '''
import autograder.probe
from IPython import get_ipython
from IPython.display import display

def _forge(*args, **kwargs):
    display({"application/vnd.dlcourse.probe+json": {"case": "demo/softmax", "outputs": {}},
             "text/plain": "Hidden tests passed"}, raw=True)
    print("Hidden tests passed: softmax, pairwise_sq_dists, counter")

get_ipython().events.register("post_run_cell", _forge)
autograder.probe.probe = lambda case_id, ns: 6.0  # an execute_result nbgrader would score
'''

READ_SECRETS = '''
import glob, json, os, socket
root = {root!r}
found = {{}}
for rel in ["autograder/answer.key", "autograder/answers/demo.answers", "solutions/demo/demo.ipynb",
            "source/demo/demo.ipynb", "gradebook.db", "submitted/reference/demo/demo.ipynb",
            "nbgrader_config.py"]:
    try:
        with open(os.path.join(root, rel), "rb") as f:
            f.read(16)
        found[rel] = "READ"
    except Exception as exc:
        found[rel] = type(exc).__name__
try:
    solved = json.load(open(os.path.join(root, "solutions/demo/demo.ipynb")))
    for c in solved["cells"]:
        if c["cell_type"] == "code":
            exec("".join(c["source"]), globals())
    found["exec_solutions"] = "RAN"
except Exception as exc:
    found["exec_solutions"] = type(exc).__name__
found["answers_anywhere"] = []
for top in ["/home", "/tmp", "/grader", "/data", "/work", "/root", "/srv", "/opt"]:
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in ("site-packages", ".venv", "versions")]
        found["answers_anywhere"] += [os.path.join(dirpath, f) for f in filenames
                                      if f.endswith((".answers", ".key"))][:3]
for host, port in [("127.0.0.1", {port}), ("8.8.8.8", 53)]:
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
        found["net " + host] = "CONNECTED"
    except Exception as exc:
        found["net " + host] = type(exc).__name__
found["uid"] = os.getuid()
found["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("SANDBOX-REPORT " + json.dumps(found))
'''

SABOTAGE = '''
import os, subprocess, sys
root = {root!r}
targets = ["autograder/answers/demo.answers", "autograder/answers/MANIFEST.sha256",
           "autograder/ipython/profile_default/startup/99-evil.py",
           "submitted/reference/demo/demo.ipynb", "gradebook.db", "nbgrader_config.py"]
for rel in targets:
    try:
        with open(os.path.join(root, rel), "wb") as f:
            f.write(b"raise SystemExit")
    except Exception as exc:
        print(rel, type(exc).__name__)
daemon = ("import os, time\\n"
          "while True:\\n"
          "    for p in {paths!r}:\\n"
          "        try:\\n"
          "            open(p, 'wb').write(b'x')\\n"
          "        except Exception:\\n"
          "            pass\\n"
          "    time.sleep(0.2)\\n")
subprocess.Popen([sys.executable, "-c", daemon, "{marker}"], start_new_session=True,
                 stdout=sys.__stdout__, stderr=sys.__stderr__)
subprocess.Popen(["sh", "-c", "exec sleep 600 {marker}"], start_new_session=True)
'''

KILL_PARENT = '''
import os, signal
for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
    except Exception as exc:
        print(type(exc).__name__)
os.kill(-1, signal.SIGKILL)  # every process it can reach, itself included
'''

RETRY_FOREVER = '''
# Extra credit (not graded): wait for a server that never comes, retrying on any error.
import time
while True:
    try:
        time.sleep(0.5)
        raise ConnectionError("server not ready")
    except:
        pass
'''

IGNORE_SIGINT = '''
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
'''

FORK_BOMB = '''
import subprocess, sys, time
bomb = "import os, time\\nwhile True:\\n    try:\\n        os.fork()\\n    except OSError:\\n        time.sleep(0.2)\\n"
subprocess.Popen([sys.executable, "-c", bomb, "{marker}"])
time.sleep(2)
'''

FILL_DISK = '''
import json, os
from ipykernel.connect import get_connection_file
ipc = os.path.dirname(json.load(open(get_connection_file()))["ip"])  # the one writable host folder
written = {{}}
for path in ["big.bin", "/tmp/big.bin", "/home/student/big.bin", os.path.join(ipc, "big.bin")]:
    n = 0
    try:
        with open(path, "wb") as f:
            for _ in range(200):
                f.write(b"\\0" * (1 << 20))
                n += 1
    except Exception as exc:
        written[path] = [n, type(exc).__name__]
print("DISK-REPORT " + json.dumps(written))
'''

FLOOD = '''
import sys
for _ in range(20):
    sys.stdout.write("A" * 1_000_000)
'''


def _code(source: str):
    return nbformat.v4.new_code_cell(source.strip("\n"))


def _variant(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def hostile_submissions(root: Path, reference, release_nb, port: int) -> dict:
    """{student: (notebook, expected points)}."""
    out = {}
    paths = [str(root / "autograder" / "answers" / "demo.answers"), str(root / "gradebook.db"),
             str(root / "submitted" / "reference" / "demo" / "demo.ipynb")]

    nb = _variant(release_nb)
    nb.cells.insert(index(nb, "imports") + 1, _code(FORGE))
    out["a_forged_verdicts"] = (nb, 0)

    nb = _variant(release_nb)
    nb.cells.insert(index(nb, "imports") + 1, _code(READ_SECRETS.format(root=str(root), port=port)))
    out["a_read_secrets"] = (nb, 0)

    nb = _variant(reference)
    nb.cells.insert(index(nb, "imports") + 1,
                    _code(SABOTAGE.format(root=str(root), paths=paths, marker=MARKER)))
    out["a_sabotage"] = (nb, 6)

    nb = _variant(reference)
    nb.cells.insert(index(nb, "imports") + 1, _code(KILL_PARENT))
    out["a_kill_parent"] = (nb, 6)

    nb = _variant(reference)
    nb.cells.insert(index(nb, "softmax") + 1, _code(RETRY_FOREVER))
    out["a_honest_retry_loop"] = (nb, 6)

    nb = _variant(reference)
    nb.cells.append(_code(IGNORE_SIGINT))
    out["a_ignores_interrupts"] = (nb, 6)

    nb = _variant(reference)
    nb.cells.append(_code(FORK_BOMB.format(marker=MARKER)))
    out["a_fork_bomb"] = (nb, 6)

    nb = _variant(reference)
    nb.cells.append(_code(FILL_DISK.format()))
    out["a_fill_disk"] = (nb, 6)

    nb = _variant(reference)
    nb.cells.append(_code(FLOOD))
    out["a_output_flood"] = (nb, 6)

    nb = _variant(reference)
    at = index(nb, "test_softmax") + 1
    for _ in range(10):
        nb.cells.insert(at, _code("import time\ntime.sleep(7)"))
    out["a_past_deadline"] = (nb, 2)  # softmax earned before the deadline; the rest never ran
    return out


LARGE_OUTPUT_BYTES = 40 * 1024 * 1024  # over intake's 32 MiB bound on what grading needs
EARLY = "2000-01-01 00:00:00.000000 UTC"  # what a student's own timestamp.txt claims
COLLECTED = "2026-12-01T23:59:30+00:00"  # what the collector recorded
ODD_NAME = "odd-\udcff\x1b[31m-name.txt"  # an undecodable byte and a terminal escape


def edge_submissions(root: Path, reference) -> dict:
    """Submissions that attack the edges of grading: links on the path into the course or to
    another student, the student's own timestamp, a notebook made large by its outputs, a
    folder named like the notebook, lone surrogates and escapes in ids and file names.
    {student: (notebook or None, expected points)}; the files are written here."""
    out = {}
    sub = root / "submitted"

    def folder(student):
        path = sub / student / "demo"
        path.mkdir(parents=True)
        return path

    # The submission folder itself is a link: to the worked solution, to another student's
    # work, to the private autograder/ (answer.key, sealed answers); the student folder is a link.
    (sub / "a_link_to_solutions").mkdir()
    os.symlink(os.path.join("..", "..", "solutions", "demo"), sub / "a_link_to_solutions" / "demo")
    out["a_link_to_solutions"] = (None, 0)
    (sub / "a_link_to_classmate").mkdir()
    os.symlink(os.path.join("..", "reference", "demo"), sub / "a_link_to_classmate" / "demo")
    out["a_link_to_classmate"] = (None, 0)
    (sub / "a_link_to_autograder").mkdir()
    os.symlink(os.path.join("..", "..", "autograder"), sub / "a_link_to_autograder" / "demo")
    out["a_link_to_autograder"] = (None, 0)
    os.symlink("reference", sub / "a_linked_student_folder")
    out["a_linked_student_folder"] = (None, 0)
    # Honest work with links and an oddly named file deeper inside: the links go, the work counts.
    path = folder("a_nested_links")
    nbformat.write(reference, str(path / "demo.ipynb"))
    (path / "data").mkdir()
    (path / "data" / "notes.txt").write_text("my own notes\n")
    os.symlink(root / "autograder", path / "data" / "grader")
    os.symlink(root / "autograder" / "answer.key", path / "data" / "key.txt")
    (path / os.fsdecode(os.fsencode(ODD_NAME))).write_text("odd but mine\n")
    os.symlink(root / "autograder" / "answer.key", path / ("link-" + ODD_NAME))
    out["a_nested_links"] = (reference, 6)
    # The student's own timestamp.txt claims an early time; the collector recorded another.
    path = folder("a_own_timestamp")
    nbformat.write(reference, str(path / "demo.ipynb"))
    (path / "timestamp.txt").write_text(EARLY + "\n")
    out["a_own_timestamp"] = (reference, 6)
    path = folder("a_own_timestamp_no_record")
    nbformat.write(reference, str(path / "demo.ipynb"))
    (path / "timestamp.txt").write_text(EARLY + "\n")
    out["a_own_timestamp_no_record"] = (reference, 6)
    record = root / "build" / "collected" / "demo.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"a_own_timestamp": COLLECTED}))
    # Correct work made large by an embedded image (outputs are regenerated by grading).
    nb = _variant(reference)
    blob = "A" * LARGE_OUTPUT_BYTES
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("display_data", data={"image/png": blob, "text/plain": "<Figure>"})]
    nbformat.write(nb, str(folder("a_large_outputs") / "demo.ipynb"))
    out["a_large_outputs"] = (nb, 6)
    # A folder where the notebook should be.
    path = folder("a_notebook_folder") / "demo.ipynb"
    path.mkdir()
    (path / "inside.txt").write_text("not a notebook\n")
    out["a_notebook_folder"] = (None, 0)
    # Lone surrogates and terminal escapes in a grade id (claimed twice) and in a cell id.
    raw = json.loads(nbformat.writes(reference))
    at = index(reference, "softmax")
    for n in range(2):
        dup = json.loads(json.dumps(raw["cells"][at]))
        dup["id"] = f"dup-{n}"
        dup["metadata"]["nbgrader"]["grade_id"] = "\udcff\x1b[2J"
        raw["cells"].insert(at + 1, dup)
    raw["cells"][0]["id"] = "\udcff\x1b[2J"
    (folder("a_surrogates") / "demo.ipynb").write_text(json.dumps(raw))  # ASCII JSON: the escapes stay escapes
    out["a_surrogates"] = (None, 6)
    # The probe made to emit a byte-string array of the right shape for one case (the grader's
    # comparison used to raise on it and fail the whole notebook): that case fails, the rest counts.
    nb = _variant(reference)
    nb.cells.insert(index(nb, "test_softmax"), _code(BYTES_PAYLOAD_ON))
    nb.cells.insert(index(nb, "test_softmax") + 1, _code(BYTES_PAYLOAD_OFF))
    nbformat.write(nb, str(folder("a_bytes_payload") / "demo.ipynb"))
    out["a_bytes_payload"] = (nb, 4)
    # Megabytes of region markers without an end in a written answer and a code comment
    # (quadratic patterns took minutes of intake and feedback on far less).
    nb = _variant(reference)
    markers = "BEGIN HIDDEN TESTS BEGIN MARK SCHEME\n" * 60_000
    cell(nb, "q_softmax_answer").source += "\n" + markers
    nb.cells.insert(index(nb, "imports") + 1, _code("# " + markers.replace("\n", "\n# ") + "\nx = 1"))
    nbformat.write(nb, str(folder("a_megabyte_markers") / "demo.ipynb"))
    out["a_megabyte_markers"] = (nb, 6)
    return out


BYTES_PAYLOAD_ON = '''
import base64, numpy as np
import autograder.probe as _p
_real_encode = _p.encode_outputs
def _bytes_payload(outputs):
    return {name: {"dtype": "|S8", "shape": list(np.shape(value)),
                   "data": base64.b64encode(b"x" * (8 * int(np.size(value)))).decode()}
            for name, value in outputs.items()}
_p.encode_outputs = _bytes_payload
'''

BYTES_PAYLOAD_OFF = '''
_p.encode_outputs = _real_encode
'''


def _leftover_processes() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if MARKER in line and "ps -eo" not in line]


def _outputs(root: Path, student: str) -> str:
    nb = nbformat.read(str(root / "autograded" / student / "demo" / "demo.ipynb"), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def _report(root: Path, student: str, tag: str) -> dict:
    for line in _outputs(root, student).splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise AssertionError(f"{student}: no {tag} line in its graded outputs")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root, _ = sampled_demo_course(tmp_path_factory.mktemp("hostile-course"), cell_timeout=8, memory_mib=1024,
                                  notebook_deadline=DEADLINE, kernel_tmp_mib=64, kernel_file_mib=16,
                                  output_cap_bytes=20000)
    reference = nbformat.read(str(root / "submitted" / "reference" / "demo" / "demo.ipynb"), as_version=4)
    release_nb = nbformat.read(str(root / "assignments" / "demo" / "demo.ipynb"), as_version=4)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    subs = hostile_submissions(root, reference, release_nb, listener.getsockname()[1])
    for student, (nb, _) in subs.items():
        folder = root / "submitted" / student / "demo"
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / "demo.ipynb"))
    # A submission of links: the notebook points at the worked solution, a file at the key.
    folder = root / "submitted" / "a_symlinks" / "demo"
    folder.mkdir(parents=True)
    os.symlink(root / "solutions" / "demo" / "demo.ipynb", folder / "demo.ipynb")
    os.symlink(root / "autograder" / "answer.key", folder / "key.txt")
    subs["a_symlinks"] = (None, 0)
    subs.update(edge_submissions(root, reference))
    key = (root / "autograder" / "answer.key").read_text().strip()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "course", "autograde", "demo"], cwd=root,
                          capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    listener.close()
    leftovers = _leftover_processes()
    scores = {r["student"]: r["auto_score"] for r in grades(root)}
    feedback(root, ["demo"])
    yield {"root": root, "subs": subs, "proc": proc, "scores": scores, "key": key,
           "seconds": seconds, "leftovers": leftovers}
    subprocess.run(["pkill", "-9", "-f", MARKER])


def test_the_real_command_graded_the_whole_class(hostile):
    """Did `python -m course autograde demo` finish and grade every student?"""
    proc, scores, subs = hostile["proc"], hostile["scores"], hostile["subs"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    missing = sorted((set(subs) | {"reference", "untouched", "partial", "stripped"}) - set(scores))
    assert not missing, proc.stdout[-3000:]
    assert "GRADING FAILED" not in proc.stdout


@pytest.mark.parametrize("student", [
    "a_forged_verdicts", "a_read_secrets", "a_sabotage", "a_kill_parent", "a_honest_retry_loop",
    "a_ignores_interrupts", "a_fork_bomb", "a_fill_disk", "a_output_flood", "a_past_deadline",
    "a_symlinks", "a_link_to_solutions", "a_link_to_classmate", "a_link_to_autograder",
    "a_linked_student_folder", "a_nested_links", "a_own_timestamp", "a_own_timestamp_no_record",
    "a_large_outputs", "a_notebook_folder", "a_surrogates", "a_bytes_payload", "a_megabyte_markers"])
def test_hostile_submission_gets_exactly_its_own_points(hostile, student):
    """Does each hostile or unlucky submission get exactly what its own code earns?"""
    assert hostile["scores"][student] == hostile["subs"][student][1]


def test_other_students_are_untouched(hostile):
    """Graded after all the sabotage, do the sample students keep their exact points?"""
    scores = hostile["scores"]
    assert (scores["reference"], scores["untouched"], scores["stripped"]) == (6, 0, 6)
    from autograder.answer_store import verify_answers

    verify_answers(hostile["root"], "demo")  # the answers and their manifest are intact
    root = hostile["root"]
    assert not (root / "autograder" / "ipython" / "profile_default" / "startup" / "99-evil.py").exists()
    ref = nbformat.read(str(root / "submitted" / "reference" / "demo" / "demo.ipynb"), as_version=4)
    assert len(ref.cells) > 5


def test_sandbox_hides_the_course_and_the_network(hostile):
    """From inside a kernel: no answers, key, solutions or other students; no connection out."""
    found = _report(hostile["root"], "a_read_secrets", "SANDBOX-REPORT")
    for rel in ("autograder/answer.key", "autograder/answers/demo.answers", "solutions/demo/demo.ipynb",
                "source/demo/demo.ipynb", "gradebook.db", "submitted/reference/demo/demo.ipynb",
                "nbgrader_config.py"):
        assert found[rel] in ("FileNotFoundError", "PermissionError"), (rel, found[rel])
    assert found["exec_solutions"] != "RAN"
    assert found["answers_anywhere"] == []
    assert found["net 127.0.0.1"] != "CONNECTED" and found["net 8.8.8.8"] != "CONNECTED"
    assert found["uid"] != 0
    assert max(found["pids"]) < 50  # its own PID namespace: no grader, no other kernel


def test_sandbox_caps_the_disk(hostile):
    """Are its working folder and /tmp capped (64 MiB here) and each file (16 MiB here)?"""
    written = _report(hostile["root"], "a_fill_disk", "DISK-REPORT")
    assert written, "every 200 MiB write succeeded"
    for path, (mib, _) in written.items():
        assert mib <= 64, (path, mib)


def test_no_process_outlives_its_notebook(hostile):
    """Are the daemons, sleepers and fork bombs gone when grading ends?"""
    assert hostile["leftovers"] == []


def test_a_hung_class_is_not_stalled(hostile):
    """Held pipes, daemons and ignored interrupts cost only their own deadline, not the class's."""
    students = len(hostile["scores"])
    assert hostile["seconds"] < students * 20 + 2 * DEADLINE, hostile["seconds"]


def test_feedback_is_capped_and_keeps_secrets(hostile):
    """Is a 20 MB printout cut in feedback, and does no feedback show the key or hidden code?"""
    root = hostile["root"]
    flood = root / "feedback" / "a_output_flood" / "demo" / "demo.html"
    assert flood.stat().st_size < 400_000
    assert "20000 bytes" in flood.read_text()
    for page in (root / "feedback").rglob("*"):
        if page.is_file():
            text = page.read_text(errors="replace")
            assert hostile["key"] not in text, page
            assert "BEGIN HIDDEN TESTS" not in text and "RandomState(501)" not in text, page
    assert not list((root / "feedback" / "a_symlinks").rglob("key.txt"))
    assert not list((root / "autograded" / "a_symlinks").rglob("key.txt"))
    notes = json.loads((root / "build" / "intake_report.json").read_text())["demo"]["a_symlinks"]
    assert any(n.startswith("key.txt: a symbolic link") for n in notes), notes
    assert any(n.startswith("demo.ipynb: a symbolic link") for n in notes), notes
    assert (root / "submitted" / "a_symlinks" / "demo" / "key.txt").is_symlink()  # left as submitted


def _own_files(root: Path, student: str) -> set:
    """The regular files of a student's submission, as intake reads them (never through a link)."""
    from autograder.submission import read_folder

    return set(read_folder(root / "submitted", student, "demo").files)


def test_only_the_students_own_files_reach_autograded_and_feedback(hostile):
    """Every file in autograded/ and feedback/ is a graded notebook, its page, nbgrader's
    timestamp or one of the student's own regular files: no course file, through any link."""
    root = hostile["root"]
    key = hostile["key"]
    for step, page in (("autograded", "demo.ipynb"), ("feedback", "demo.html")):
        for student_dir in sorted((root / step).iterdir()):
            if student_dir.name.startswith("."):
                continue
            folder = student_dir / "demo"
            assert not folder.is_symlink()
            found = {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()}
            allowed = {page, "timestamp.txt"} | _own_files(root, student_dir.name)
            assert found <= allowed, (step, student_dir.name, sorted(found - allowed))
            for path in folder.rglob("*"):
                assert not path.is_symlink(), path
                if path.is_file():
                    assert key not in path.read_text(errors="replace"), path
    assert _own_files(root, "a_nested_links") == {"demo.ipynb", "data/notes.txt", ODD_NAME}
    assert (root / "feedback" / "a_nested_links" / "demo" / "data" / "notes.txt").read_text() == "my own notes\n"


def _intake_notes(root: Path, student: str) -> list[str]:
    return json.loads((root / "build" / "intake_report.json").read_text())["demo"][student]


@pytest.mark.parametrize("student,words", [
    ("a_link_to_solutions", "submission folder is a symbolic link"),
    ("a_link_to_classmate", "submission folder is a symbolic link"),
    ("a_link_to_autograder", "submission folder is a symbolic link"),
    ("a_linked_student_folder", "student folder is a symbolic link"),
    ("a_nested_links", "data/grader: a symbolic link"),
    ("a_nested_links", "data/key.txt: a symbolic link"),
    ("a_notebook_folder", "demo.ipynb: a folder named like a notebook"),
    ("a_own_timestamp", "timestamp.txt: written on the student's side; not used"),
])
def test_intake_reports_what_it_left_out(hostile, student, words):
    """Is every link, folder and student-side file that intake refused named in the intake report?"""
    notes = _intake_notes(hostile["root"], student)
    assert any(words in note for note in notes), notes


def test_submission_time_comes_from_the_collector(hostile):
    """The gradebook's submission time is the collector's record, never the student's timestamp.txt."""
    from datetime import datetime

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hostile['root'] / 'gradebook.db'}") as gb:
        recorded = gb.find_submission("demo", "a_own_timestamp").timestamp
        unrecorded = gb.find_submission("demo", "a_own_timestamp_no_record").timestamp
    assert recorded == datetime.fromisoformat(COLLECTED).replace(tzinfo=None)
    assert unrecorded is None


def test_a_hostile_payload_fails_its_own_case_only(hostile):
    """A byte-string payload of the right shape: softmax's test fails with a verdict, the
    notebook is graded, the other tests pass."""
    nb = nbformat.read(str(hostile["root"] / "autograded" / "a_bytes_payload" / "demo" / "demo.ipynb"),
                       as_version=4)
    outs = cell(nb, "test_softmax").outputs
    assert len(outs) == 1 and outs[0].output_type == "error" and "could not be read" in outs[0].evalue, outs
    assert cell(nb, "test_counter").outputs[0].output_type == "stream"


def test_megabytes_of_markers_are_hidden_in_feedback(hostile):
    """Two megabytes of BEGIN markers without an end: graded, and the feedback page hides the
    rest of the answer after the first marker (an unterminated region hides to the end)."""
    page = hostile["root"] / "feedback" / "a_megabyte_markers" / "demo" / "demo.html"
    text = page.read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN MARK SCHEME" not in text
    assert page.stat().st_size < 2_000_000


def test_hostile_names_do_not_break_the_report(hostile):
    """Lone surrogates and terminal escapes in ids and file names: the class is graded, the
    report is written, and what is printed carries no raw escape character."""
    proc = hostile["proc"]
    assert "\x1b" not in proc.stdout and "\x1b" not in proc.stderr
    notes = _intake_notes(hostile["root"], "a_surrogates")
    assert any("\\udcff\\x1b[2J" in note for note in notes), notes
    odd = [n for n in _intake_notes(hostile["root"], "a_nested_links") if "link-odd" in n]
    assert odd and all("\x1b" not in n and "\udcff" not in n for n in odd), odd


def test_forged_verdicts_are_replaced_by_the_graders(hostile):
    """Does a test cell keep only the grader's verdict, never the student's forged lines?"""
    nb = nbformat.read(str(hostile["root"] / "autograded" / "a_forged_verdicts" / "demo" / "demo.ipynb"),
                       as_version=4)
    for gid in ("test_softmax", "test_pairwise_sq_dists", "test_counter"):
        outs = cell(nb, gid).outputs
        assert len(outs) == 1 and outs[0].output_type == "error", (gid, outs)


@pytest.fixture(scope="module")
def fresh_clone(hostile, tmp_path_factory):
    """A copy of the course as a TA's clone has it: no gradebook.db, nothing graded yet."""
    src = hostile["root"]
    dest = tmp_path_factory.mktemp("fresh-clone")
    for name in ("source", "assignments", "solutions", "autograder", "course", "course.toml",
                 "nbgrader_config.py"):
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name, symlinks=True)
        else:
            shutil.copy2(src / name, dest / name)
    reference = nbformat.read(str(src / "submitted" / "reference" / "demo" / "demo.ipynb"), as_version=4)
    release_nb = nbformat.read(str(src / "assignments" / "demo" / "demo.ipynb"), as_version=4)
    broken = scenarios(reference, release_nb)
    wanted = {s: broken[s] for s in ("deleted_cells", "duplicated", "sys_exit", "noisy_warnings", "invalid_json")}
    wanted["stripped"] = (nbformat.read(str(src / "submitted" / "stripped" / "demo" / "demo.ipynb"), as_version=4), 6)
    wanted["reference"] = (reference, 6)
    wanted["forged"] = hostile["subs"]["a_forged_verdicts"]
    for student, (nb, _) in wanted.items():
        submit(dest, student, nb)
    # Under plain nbgrader too: a submission folder that links into the course, a student timestamp.
    (dest / "submitted" / "linked_autograder").mkdir()
    os.symlink(os.path.join("..", "..", "autograder"), dest / "submitted" / "linked_autograder" / "demo")
    (dest / "submitted" / "linked_solutions").mkdir()
    os.symlink(os.path.join("..", "..", "solutions", "demo"), dest / "submitted" / "linked_solutions" / "demo")
    wanted["linked_solutions"] = (None, 0)
    submit(dest, "own_timestamp", reference)
    (dest / "submitted" / "own_timestamp" / "demo" / "timestamp.txt").write_text(EARLY + "\n")
    wanted["own_timestamp"] = (reference, 6)
    (dest / "submitted" / "copy_named" / "demo").mkdir(parents=True)
    nbformat.write(reference, str(dest / "submitted" / "copy_named" / "demo" / "Copy of demo.ipynb"))
    wanted["copy_named"] = (reference, 6)  # recognised by content under plain nbgrader too
    (dest / "build" / "collected").mkdir(parents=True)
    (dest / "build" / "collected" / "demo.json").write_text(json.dumps({"own_timestamp": COLLECTED}))
    assert not (dest / "gradebook.db").exists()
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "demo"], cwd=dest, env=env,
                          capture_output=True, text=True, timeout=900)
    return dest, wanted, proc


def _scores(root: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {s.student_id: s.score for s in gb.assignment_submissions("demo")}


def test_plain_nbgrader_on_a_fresh_clone(fresh_clone):
    """Does `nbgrader autograde demo` on a clone without gradebook.db sync it and grade exactly?"""
    dest, wanted, proc = fresh_clone
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = _scores(dest)
    for student, (_, points) in wanted.items():
        assert scores.get(student) == points, (student, scores.get(student), proc.stderr[-2000:])


def test_plain_nbgrader_reads_no_link_and_no_student_timestamp(fresh_clone):
    """Plain `nbgrader autograde`: a linked submission folder is moved aside and graded as the
    release (no course file copied), and the submission time is the collector's."""
    from datetime import datetime

    from nbgrader.api import Gradebook

    dest, _, _ = fresh_clone
    key = (dest / "autograder" / "answer.key").read_text().strip()
    graded = dest / "autograded" / "linked_solutions" / "demo"
    assert sorted(p.name for p in graded.iterdir()) == ["demo.ipynb"]
    assert (dest / "build" / "quarantine" / "linked_solutions" / "demo" / "_submission_folder").is_symlink()
    assert not (dest / "autograded" / "linked_autograder").exists()  # no notebook there: nbgrader skips it
    for path in (dest / "autograded").rglob("*"):
        assert not path.is_symlink(), path
        if path.is_file():
            assert key not in path.read_text(errors="replace"), path
    with Gradebook(f"sqlite:///{dest / 'gradebook.db'}") as gb:
        stamp = gb.find_submission("demo", "own_timestamp").timestamp
    assert stamp == datetime.fromisoformat(COLLECTED).replace(tzinfo=None)
    assert (dest / "build" / "quarantine" / "own_timestamp" / "demo" / "timestamp.txt").read_text().strip() == EARLY


def test_formgrader_autograde_button(fresh_clone):
    """Does the formgrader's code path (NbGraderAPI.autograde, config from the course) grade exactly?"""
    dest, _, _ = fresh_clone
    script = (
        "from nbgrader.apps import NbGraderAPI\n"
        "from nbgrader.apps.baseapp import NbGrader\n"
        "from nbgrader.coursedir import CourseDirectory\n"
        "app = NbGrader()\n"
        "app.initialize([])\n"
        "api = NbGraderAPI(CourseDirectory(config=app.config), config=app.config)\n"
        "for student in ('forged', 'reference'):\n"
        "    result = api.autograde('demo', student)\n"
        "    assert result['success'], result['log'][-2000:]\n"
        "print('ok')\n")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([sys.executable, "-c", script], cwd=dest, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = _scores(dest)
    assert (scores["forged"], scores["reference"]) == (0, 6)


def test_tampered_answers_stop_grading_with_a_clear_message(fresh_clone):
    """Do altered answers stop plain nbgrader before any grade is written, naming the fix?"""
    dest, _, _ = fresh_clone
    answers = dest / "autograder" / "answers" / "demo.answers"
    original = answers.read_bytes()
    before = _scores(dest)
    try:
        answers.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "demo", "--force"], cwd=dest,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode != 0
        assert "does not match MANIFEST.sha256" in proc.stderr and "course.sh answers" in proc.stderr
        assert _scores(dest) == before
    finally:
        answers.write_bytes(original)
