"""The sandbox's edges hold: per-kernel limits enforced by the Linux kernel, a private and
capped /dev/shm, output caps on display updates, cleanup of any tree a kernel leaves,
and a kernel that cannot read its own hidden tests or mark schemes.

A demo course (tests/pipeline/demo_course.py, small limits) gets hostile variants of the
reference submission, and ``python -m course autograde demo --workers 2`` grades them all
in one run, as a subprocess, with its own temporary folder (``$TMPDIR``) so that what it
leaves there is what grading left. Every hostile student also solves the assignment: it
must keep its 6 points, however its extra cell ends.

Students named ``a0_*`` sort first, so they are the first two tasks handed to the two
workers and are graded at the same time: ``a0_cpu_hog`` keeps 48 processes busy (about
20 s, until its last cell), each in its own session (the scheduler's autogroups alone
share the CPU out by session), while ``a0_cpu_timed``'s solution cell needs one CPU-second
within the 10 s cell timeout. Both record wall-clock times, so the test checks that they
really overlapped. Without per-kernel CPU weights (``COURSE_SANDBOX_CGROUPS=off``, or the
code before them) that cell times out and the student loses softmax's 2 points.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import cgroups
from course.feedback import grades

from .demo_course import sampled_demo_course
from .test_demo_grading import cell, index

pytestmark = pytest.mark.e2e  # an end-to-end run: ./course.sh test-e2e

MEMORY_MIB = 512
TMP_MIB = 48
CELL_TIMEOUT = 10
OUTPUT_CAP = 20000
HOG_PROCESSES = 48
HOG_SECONDS = 25
TIMED_CPU_SECONDS = 1.0
DEEP = 3000
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

SHARED_MMAP = f'''
import mmap
size = {4 * MEMORY_MIB} * 1024 * 1024  # four times kernel_memory_mib, shared: RLIMIT_DATA misses it
m = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
for i in range(0, size, 4096):
    m[i] = 1
print("MMAP-SURVIVED", size)
'''

DEV_SHM = f'''
import json, os
report = {{"listing": sorted(os.listdir("/dev/shm"))}}
st = os.statvfs("/dev/shm")
report["size_mib"] = st.f_blocks * st.f_frsize / 2**20
report["mount"] = [line.split(" - ")[1].strip() for line in open("/proc/self/mountinfo")
                   if line.split()[4] == "/dev/shm"]
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(create=True, size=1 << 20)  # what torch and multiprocessing need
shm.buf[:3] = b"abc"
report["shared_memory"] = bytes(shm.buf[:3]).decode()
shm.close()
shm.unlink()
written = 0
try:
    for i in range({4 * MEMORY_MIB // 8}):  # files of 8 MiB (the file-size limit is 16 MiB)
        with open(f"/dev/shm/DLCOURSE-SHM-{{i}}", "wb") as f:
            for _ in range(8):
                f.write(b"\\1" * (1 << 20))
                written += 1
except OSError as exc:
    report["stopped_by"] = type(exc).__name__ + " " + str(exc.errno)
report["written_mib"] = written
for path in ["/DLCOURSE-ROOT", "/dev/DLCOURSE-DEV", "/etc/DLCOURSE-ETC", "/home/DLCOURSE-HOME"]:
    try:
        open(path, "wb").write(b"x" * (1 << 20))
        report[path] = "WRITTEN"
    except OSError as exc:
        report[path] = type(exc).__name__
print("SHM-REPORT " + json.dumps(report))
'''

DISPLAY_SMALL = '''
from IPython.display import display
for _ in range(10):
    display({"text/plain": "small"}, raw=True, display_id="flood")
'''

DISPLAY_UPDATE = '''
from IPython.display import display, update_display
big = "A" * 3_000_000
for _ in range(3):
    update_display({"text/plain": big}, raw=True, display_id="flood")
display({"text/plain": big}, raw=True, display_id="flood")  # a new display updates all the others too
'''

DEEP_FOLDERS = '''
import json, os
from ipykernel.connect import get_connection_file
ipc = os.path.dirname(json.load(open(get_connection_file()))["ip"])  # the one writable host folder
fd = os.open(ipc, os.O_RDONLY)
for depth in range(1, {depth} + 1):
    os.mkdir("d", dir_fd=fd)
    inner = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = inner
    if depth % 1000 == 0:
        os.symlink({canary!r}, "escape", dir_fd=fd)  # removal must never follow it
        os.close(os.open("file", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
os.chmod(f"/proc/self/fd/{{fd}}", 0)  # the deepest folder unreadable
os.close(fd)
os.symlink({canary!r}, os.path.join(ipc, "escape"))
os.mkdir(os.path.join(ipc, "locked"))
open(os.path.join(ipc, "locked", "file"), "w").write("x")
os.chmod(os.path.join(ipc, "locked"), 0)
print("DEEP-REPORT " + json.dumps({{"depth": depth, "ipc": ipc}}))
'''

OWN_NOTEBOOK = '''
import glob, json
found = {}
for path in glob.glob("*.ipynb"):
    raw = open(path).read()
    cells = json.loads(raw)["cells"]
    text = raw + "\\n".join("".join(c["source"]) for c in cells)
    found[path] = {key: key in text for key in (
        "BEGIN HIDDEN TESTS", "BEGIN MARK SCHEME", "END MARK SCHEME", 'probe("demo/',
        "overflow of exp is avoided", "e = np.exp(shifted)", "keeps exp from overflowing",
        "STUDENT-OWN-CELL")}
print("OWN-REPORT " + json.dumps(found))
'''


HOG = f'''
import json, os, time
start = time.time()
children = []
for _ in range({HOG_PROCESSES}):
    pid = os.fork()
    if pid == 0:  # busy until start + {HOG_SECONDS} s, each in a session of its own: the
        os.setsid()  # scheduler's autogroups would otherwise share out the CPU by session
        while time.time() < start + {HOG_SECONDS}:
            pass
        os._exit(0)
    children.append(pid)
print("HOG-REPORT " + json.dumps({{"start": start, "n": len(children)}}))
'''

HOG_END = '''
import json, os, time
alive = sum(1 for pid in children if os.waitpid(pid, os.WNOHANG) == (0, 0))
print("HOG-END " + json.dumps({"at": time.time(), "alive": alive}))
'''


TIMED = f'''
import json, time
time.sleep(3)  # the other student's busy processes are running by now
t0, c0 = time.time(), time.process_time()
while time.process_time() - c0 < {TIMED_CPU_SECONDS}:
    pass
print("TIMED-REPORT " + json.dumps({{"start": t0, "end": time.time(), "cpu": time.process_time() - c0}}))
'''


def _code(source: str):
    return nbformat.v4.new_code_cell(source.strip("\n"))


def _variant(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def hostile_submissions(reference, canary: Path) -> dict:
    """{student: notebook}; each one solves the assignment (6 points) and does one hostile thing."""
    out = {}
    nb = _variant(reference)
    nb.cells.insert(index(nb, "imports") + 1, _code(HOG))
    nb.cells += [_code("import time\ntime.sleep(8)"), _code("time.sleep(8)"), _code(HOG_END)]  # keep them busy
    out["a0_cpu_hog"] = nb

    nb = _variant(reference)
    solution = cell(nb, "softmax")
    solution.source = TIMED.strip("\n") + "\n\n" + solution.source  # softmax exists only if this finishes
    out["a0_cpu_timed"] = nb

    nb = _variant(reference)
    nb.cells.insert(index(nb, "softmax"), _code(SHARED_MMAP))  # before the graded work: recovery must hold
    out["a_shared_mmap"] = nb

    nb = _variant(reference)
    nb.cells.append(_code(DEV_SHM))
    out["a_dev_shm"] = nb

    nb = _variant(reference)
    at = index(nb, "imports") + 1
    for _ in range(4):
        nb.cells.insert(at, _code(DISPLAY_SMALL))
    nb.cells.append(_code(DISPLAY_UPDATE))
    out["a_display_flood"] = nb

    nb = _variant(reference)
    nb.cells.append(_code(DEEP_FOLDERS.format(depth=DEEP, canary=str(canary))))
    out["a_deep_folders"] = nb

    nb = _variant(reference)
    nb.cells.append(_code("# STUDENT-OWN-CELL\n" + OWN_NOTEBOOK))
    out["a_reads_own_notebook"] = nb
    return out


def _kernel_cgroups() -> set[Path]:
    support = cgroups.detect()
    parents = [support.v2] if support.mode == cgroups.V2 else [p for _, p in support.v1]
    return {c for p in parents if p for c in Path(p).glob(cgroups.PREFIX + "*")}


def _creator_alive(group: Path) -> bool:
    try:
        os.kill(int(group.name[len(cgroups.PREFIX):].split("-", 1)[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root, _ = sampled_demo_course(tmp_path_factory.mktemp("limits-course"), cell_timeout=CELL_TIMEOUT,
                                  memory_mib=MEMORY_MIB, notebook_deadline=90, kernel_tmp_mib=TMP_MIB,
                                  kernel_file_mib=16, output_cap_bytes=OUTPUT_CAP)
    canary = tmp_path_factory.mktemp("canary")
    (canary / "keep.txt").write_text("must survive grading")
    host_tmp = tmp_path_factory.mktemp("tmp")  # the grader's $TMPDIR: scratch folders go here
    reference = nbformat.read(str(root / "submitted" / "reference" / "demo" / "demo.ipynb"), as_version=4)
    subs = hostile_submissions(reference, canary)
    for student, nb in subs.items():
        folder = root / "submitted" / student / "demo"
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / "demo.ipynb"))
    shm_before = set(os.listdir("/dev/shm"))
    groups_before = _kernel_cgroups()
    env = dict(os.environ, TMPDIR=str(host_tmp))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "course", "autograde", "demo", "--workers", "2"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    return {"root": root, "subs": subs, "proc": proc, "seconds": seconds, "canary": canary,
            "host_tmp": host_tmp, "shm_before": shm_before, "groups_before": groups_before,
            "scores": {r["student"]: r["auto_score"] for r in grades(root)}}


def _graded_nb(graded, student):
    return nbformat.read(str(graded["root"] / "autograded" / student / "demo" / "demo.ipynb"), as_version=4)


def _report(graded, student: str, tag: str) -> dict:
    nb = _graded_nb(graded, student)
    for c in nb.cells:
        for out in c.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith(tag + " "):
                    return json.loads(line[len(tag) + 1:])
    raise AssertionError(f"{student}: no {tag} line in its graded outputs")


def _mode(graded) -> str:
    for line in graded["proc"].stdout.splitlines():
        if "sandbox limits:" in line:
            return line.split("sandbox limits:", 1)[1].strip()
    raise AssertionError("the preflight did not report the sandbox limits mode:\n" + graded["proc"].stdout[-2000:])


def test_every_student_keeps_their_points(graded):
    """Graded in one run, does every hostile student keep exactly the 6 points its code earns?"""
    proc, scores = graded["proc"], graded["scores"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "GRADING FAILED" not in proc.stdout, proc.stdout[-3000:]
    assert (scores["reference"], scores["untouched"], scores["stripped"]) == (6, 0, 6)
    for student in graded["subs"]:
        assert scores.get(student) == 6, (student, scores.get(student))


def test_preflight_reports_the_limits_mode(graded):
    """Does the preflight say how limits are enforced here (and, in CI as root, with cgroups)?"""
    mode = _mode(graded)
    assert mode.split(" (")[0] in (cgroups.V2, cgroups.V1, cgroups.RLIMITS), mode
    if IN_CI and os.geteuid() == 0:
        assert not mode.startswith(cgroups.RLIMITS), mode


def test_shared_memory_beyond_the_limit_is_stopped(graded):
    """A MAP_SHARED anonymous mmap of 4x kernel_memory_mib, touched page by page, is stopped
    (the cell fails or the kernel dies), and the student's points still count."""
    nb = _graded_nb(graded, "a_shared_mmap")
    the_cell = nb.cells[index(nb, "softmax") - 1]
    assert "MMAP-SURVIVED" in the_cell.source
    text = json.dumps(the_cell.outputs)
    assert "MMAP-SURVIVED" not in text, text[:2000]
    names = [o.get("ename") for o in the_cell.outputs if o.get("output_type") == "error"]
    assert names and names[0] in ("KernelDied", "MemoryError", "OSError"), the_cell.outputs
    assert graded["scores"]["a_shared_mmap"] == 6


def test_dev_shm_is_private_and_capped(graded):
    """/dev/shm: a private tmpfs capped at kernel_tmp_mib, usable for shared memory; the root,
    /dev and /etc are read-only; nothing reaches the host's /dev/shm."""
    report = _report(graded, "a_dev_shm", "SHM-REPORT")
    assert report["listing"] == [], report
    assert report["mount"] and report["mount"][0].startswith("tmpfs"), report
    assert report["size_mib"] <= TMP_MIB, report
    assert report["shared_memory"] == "abc", report
    assert report["written_mib"] <= TMP_MIB and "stopped_by" in report, report
    for path in ["/DLCOURSE-ROOT", "/dev/DLCOURSE-DEV", "/etc/DLCOURSE-ETC", "/home/DLCOURSE-HOME"]:
        assert report[path] != "WRITTEN", (path, report)
    leaked = {n for n in set(os.listdir("/dev/shm")) - graded["shm_before"] if n.startswith("DLCOURSE")}
    assert not leaked


def test_display_updates_are_capped(graded):
    """40 small displays sharing a display_id, updated with 3 MB each, stay under the cap:
    the graded notebook is kilobytes, not the 120 MB uncapped updates would make."""
    path = graded["root"] / "autograded" / "a_display_flood" / "demo" / "demo.ipynb"
    size = path.stat().st_size
    cells = len(_graded_nb(graded, "a_display_flood").cells)
    assert size < cells * OUTPUT_CAP + 200_000, size
    assert size < 1_000_000, size
    nb = _graded_nb(graded, "a_display_flood")
    assert "output cut" in json.dumps(nb.cells[index(nb, "imports") + 1].outputs)


def test_deep_folder_chain_leaves_nothing_on_the_host(graded):
    """A 3,000-deep folder chain (with links out and unreadable folders) in the IPC folder:
    after grading no dlcourse-sandbox-* folder is left in the grader's temporary folder,
    and nothing a link pointed at was touched."""
    report = _report(graded, "a_deep_folders", "DEEP-REPORT")
    assert report["depth"] == DEEP
    assert report["ipc"].startswith(str(graded["host_tmp"]))  # the chain was made where we look
    left = sorted(p.name for p in graded["host_tmp"].iterdir() if p.name.startswith("dlcourse-sandbox-"))
    assert left == [], left
    assert (graded["canary"] / "keep.txt").read_text() == "must survive grading"
    assert "LEFT ON DISK" not in graded["proc"].stdout + graded["proc"].stderr


def test_no_kernel_cgroup_is_left(graded):
    """Every kernel cgroup this run made was killed and removed."""
    new = {g for g in _kernel_cgroups() - graded["groups_before"] if not _creator_alive(g)}
    assert not new, sorted(map(str, new))


def test_own_notebook_has_no_hidden_tests_or_mark_schemes(graded):
    """A cell that opens its notebook file finds the student's own text, and no hidden test or mark scheme."""
    report = _report(graded, "a_reads_own_notebook", "OWN-REPORT")
    assert list(report) == ["demo.ipynb"], report
    found = report["demo.ipynb"]
    for secret in ("BEGIN HIDDEN TESTS", "BEGIN MARK SCHEME", "END MARK SCHEME", 'probe("demo/',
                   "overflow of exp is avoided"):
        assert not found[secret], (secret, found)
    for own in ("e = np.exp(shifted)", "keeps exp from overflowing", "STUDENT-OWN-CELL"):
        assert found[own], (own, found)


def test_busy_processes_do_not_starve_another_student(graded):
    """48 busy processes in one kernel while another student's solution cell needs one
    CPU-second (cell timeout 10 s): graded concurrently, that cell finishes, with a CPU share
    that only per-kernel CPU weights give (without them it would get about 2/49 of 2 cores)."""
    mode = _mode(graded)
    if mode.startswith(cgroups.RLIMITS):
        if IN_CI:
            pytest.fail(f"CI must grade with cgroups: {mode}")
        pytest.skip(f"no cgroups on this machine: {mode}")
    hog = _report(graded, "a0_cpu_hog", "HOG-REPORT")
    hog_end = _report(graded, "a0_cpu_hog", "HOG-END")
    timed = _report(graded, "a0_cpu_timed", "TIMED-REPORT")
    assert hog["n"] == HOG_PROCESSES and hog_end["alive"] == HOG_PROCESSES, (hog, hog_end)
    assert hog["start"] <= timed["start"] and timed["end"] <= hog_end["at"], (
        "the two students were not graded at the same time", hog, hog_end, timed)
    share = timed["cpu"] / (timed["end"] - timed["start"])
    assert share > 0.15, (share, timed)
    nb = _graded_nb(graded, "a0_cpu_timed")
    assert not [o for o in cell(nb, "softmax").outputs if o.get("output_type") == "error"]
    assert graded["scores"]["a0_cpu_timed"] == 6
