"""The fork server grading runs start from (course/forkserver.py).

A forked run must be what ``python -m <module>`` started in its folder would be: a process
of its own leading its own session, with exactly the environment, folder and arguments
asked for, its output captured, its exit handlers run; nothing one run changes reaches
the next; a killed run ends with everything it started; an edited module gets a new
server; and a task graded through it gives the same grades, notes and files as one graded
by a plain ``python -m nbgrader`` process.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from course import forkserver

RUN = textwrap.dedent("""
    import atexit, json, os, sys
    env = dict(os.environ)
    import course.preflight as gb
    marker = os.environ.get("MARK_FILE")
    if marker:
        atexit.register(lambda: open(marker, "w").write("exit handler ran"))
    seen = getattr(gb, "_forkserver_test_state", None)
    gb._forkserver_test_state = "set by an earlier run"
    os.environ["LEFT_BY_RUN"] = "1"
    print(json.dumps({"pid": os.getpid(), "sid": os.getsid(0), "pgid": os.getpgid(0), "ppid": os.getppid(),
                      "cwd": os.getcwd(), "argv": sys.argv[1:], "env": env, "seen": seen,
                      "stdin": sys.stdin.read()}), flush=True)
    print("to stderr", file=sys.stderr)
    if "--nap" in sys.argv:
        import time
        time.sleep(4)
        print("napped", flush=True)
    if "--sleep" in sys.argv:
        import subprocess, time
        subprocess.Popen(["sleep", "600"])
        time.sleep(600)
    sys.exit(int(os.environ.get("EXIT_CODE", "0")))
""")


def _demo_root(tmp_path):
    from .demo_course import make_demo_course

    root = tmp_path / "course"
    root.mkdir()
    return make_demo_course(root)


def _report(out: str) -> dict:
    return json.loads(next(line for line in out.splitlines() if line.startswith("{")))


def _session(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _run(root, folder, env, *args, warm=()):
    run = forkserver.spawn(["fs_probe_run", *args], str(folder), env, str(root), warm=list(warm))
    assert run is not None, forkserver.refused()
    return run


@pytest.fixture
def course(tmp_path):
    root = _demo_root(tmp_path)
    folder = tmp_path / "view"
    folder.mkdir()
    (folder / "fs_probe_run.py").write_text(RUN)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "SOME_SETTING": "a"}
    yield root, folder, env
    forkserver.shutdown()


def test_a_run_is_a_fresh_process_with_what_it_was_given(course, tmp_path):
    root, folder, env = course
    marker = tmp_path / "exit-handler"
    first = _run(root, folder, {**env, "MARK_FILE": str(marker), "COURSE_GRADEBOOK_URL": "sqlite:///x.db"},
                 "--flag", "value")
    out, _ = first.communicate(timeout=120)
    report = _report(out)
    assert "to stderr" in out  # standard error is captured with standard output
    assert report["pid"] == first.pid == report["sid"] == report["pgid"]  # its own session and group
    assert report["cwd"] == str(folder) and report["argv"] == ["--flag", "value"]
    assert report["env"] == {**env, "MARK_FILE": str(marker), "COURSE_GRADEBOOK_URL": "sqlite:///x.db"}
    assert report["stdin"] == "" and report["seen"] is None
    assert marker.read_text() == "exit handler ran"
    marker.unlink()
    second = _run(root, folder, {**env, "MARK_FILE": str(marker), "COURSE_GRADEBOOK_URL": "sqlite:///y.db"})
    report2 = _report(second.communicate(timeout=120)[0])
    assert report2["ppid"] == report["ppid"]  # forked by the same server ...
    assert report2["pid"] != report["pid"]
    assert report2["seen"] is None  # ... but nothing the first run changed is there
    assert "LEFT_BY_RUN" not in report2["env"] and report2["env"]["COURSE_GRADEBOOK_URL"] == "sqlite:///y.db"
    assert marker.read_text() == "exit handler ran"


def test_another_environment_gets_another_server(course):
    root, folder, env = course
    a = _report(_run(root, folder, env).communicate(timeout=120)[0])
    b = _report(_run(root, folder, {**env, "SOME_SETTING": "b"}).communicate(timeout=120)[0])
    assert a["ppid"] != b["ppid"] and b["env"]["SOME_SETTING"] == "b"
    # a PATH that repeats a folder finds the same programs: the same server, the PATH as given
    first = env["PATH"].split(os.pathsep)[0]
    doubled = {**env, "PATH": os.pathsep.join([first, env["PATH"]])}
    c = _report(_run(root, folder, doubled).communicate(timeout=120)[0])
    assert c["ppid"] == a["ppid"] and c["env"]["PATH"] == doubled["PATH"]


def test_an_edited_module_gets_a_new_server(course):
    root, folder, env = course
    first = _report(_run(root, folder, env).communicate(timeout=120)[0])
    plugins = root / "autograder" / "compare.py"  # imported by the server before any run
    plugins.write_text(plugins.read_text() + "\nEDITED = True\n")
    os.utime(plugins, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = _report(_run(root, folder, env).communicate(timeout=120)[0])
    assert second["ppid"] != first["ppid"]
    probe = folder / "fs_edit_probe.py"
    probe.write_text("import autograder.compare as c; print(getattr(c, 'EDITED', False))")
    run = forkserver.spawn(["fs_edit_probe"], str(folder), env, str(root))
    assert run.communicate(timeout=120)[0].strip() == "True"  # the run sees the new code


def test_warm_modules_are_imported_once_by_the_server(course):
    root, folder, env = course
    probe = folder / "fs_warm_probe.py"
    probe.write_text("import sys; print('autograder.cases.demo' in sys.modules)")
    assert forkserver.spawn(["fs_warm_probe"], str(folder), env, str(root)).communicate(timeout=120)[0].strip() \
        == "False"
    run = forkserver.spawn(["fs_warm_probe"], str(folder), env, str(root), warm=["autograder.cases.demo"])
    assert run.communicate(timeout=120)[0].strip() == "True"


def test_a_killed_run_ends_with_what_it_started_and_a_timeout_is_reported(course):
    root, folder, env = course
    run = _run(root, folder, env, "--sleep")
    with pytest.raises(subprocess.TimeoutExpired):
        run.communicate(timeout=3)
    assert len(_session(run.pid)) == 2  # the run and its `sleep 600`, both in the run's session
    os.killpg(run.pid, signal.SIGKILL)
    out, _ = run.communicate(timeout=30)
    assert _report(out)["pid"] == run.pid
    for _ in range(50):
        if not _session(run.pid):
            break
        time.sleep(0.1)
    assert _session(run.pid) == []


def test_the_server_goes_when_its_client_does(course):
    root, folder, env = course
    script = textwrap.dedent("""
        import sys, json
        root, folder, env = json.loads(sys.argv[1])
        sys.path.insert(0, root)
        from course import forkserver
        run = forkserver.spawn(["fs_probe_run"], folder, env, root)
        out = run.communicate(timeout=120)[0]
        print(json.loads(next(l for l in out.splitlines() if l.startswith("{")))["ppid"], flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", script, json.dumps([str(root), str(folder), env])],
                         capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    server = int(out.stdout.strip().splitlines()[-1])
    for _ in range(100):
        if not os.path.exists(f"/proc/{server}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{server}")


def test_runs_in_flight_die_with_their_client(course):
    """A client (a Dask worker) killed while its run grades: the server goes, and the run and
    what it started with it, rather than grading on for no one."""
    root, folder, env = course
    script = textwrap.dedent("""
        import sys, json, time
        root, folder, env = json.loads(sys.argv[1])
        sys.path.insert(0, root)
        from course import forkserver
        run = forkserver.spawn(["fs_probe_run", "--sleep"], folder, env, root)
        print(run.pid, flush=True)
        time.sleep(600)
    """)
    client = subprocess.Popen([sys.executable, "-c", script, json.dumps([str(root), str(folder), env])],
                              stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        run = int(client.stdout.readline())
        for _ in range(100):
            if len(_session(run)) == 2:  # the run and its `sleep 600`
                break
            time.sleep(0.1)
        assert len(_session(run)) == 2
        client.kill()
        client.wait(timeout=30)
        for _ in range(100):
            if not _session(run):
                break
            time.sleep(0.1)
        assert _session(run) == []
    finally:
        client.kill()


def test_a_killed_server_takes_its_run_with_it(course):
    """The server itself killed outright (SIGKILL: nothing of it runs): its run gets SIGKILL from
    the kernel (the parent-death signal), and the watchdog's group kill still reaches the rest."""
    root, folder, env = course
    run = _run(root, folder, env, "--sleep")
    with pytest.raises(subprocess.TimeoutExpired):
        run.communicate(timeout=3)
    server = int(open(f"/proc/{run.pid}/stat").read().rsplit(")", 1)[1].split()[1])
    os.kill(server, signal.SIGKILL)
    try:
        for _ in range(100):
            if run.pid not in _session(run.pid):
                break
            time.sleep(0.1)
        assert run.pid not in _session(run.pid)
    finally:
        if _session(run.pid):  # its `sleep 600`, which the parent-death signal does not reach
            os.killpg(run.pid, signal.SIGKILL)


def test_a_replaced_server_lets_its_runs_finish(course):
    """An edited module makes the server stale; the run it had started still finishes."""
    root, folder, env = course
    first = _run(root, folder, env, "--nap")
    time.sleep(1)  # the run has started
    plugins = root / "autograder" / "compare.py"
    plugins.write_text(plugins.read_text() + "\nEDITED = True\n")
    os.utime(plugins, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = _report(_run(root, folder, env).communicate(timeout=120)[0])
    out = first.communicate(timeout=120)[0]
    assert "napped" in out and second["ppid"] != _report(out)["ppid"]


def test_switched_off(course):
    root, folder, env = course
    assert forkserver.spawn(["fs_probe_run"], str(folder), {**env, "COURSE_FORKSERVER": "0"}, str(root)) is None


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from .demo_course import sampled_demo_course

    root, _ = sampled_demo_course(tmp_path_factory.mktemp("forkserver-demo"))
    yield root
    forkserver.shutdown()


def _graded(root, student, monkeypatch, switch):
    from course.engine import template_gradebook
    from course.gradebook import db_url
    from course.preflight import prepare
    from course.task import grade_task, make_task

    monkeypatch.setenv("COURSE_FORKSERVER", switch)
    prepare(root, ["demo"], log=lambda message: None)
    task = make_task(root, "demo", student, template_gradebook(root, "demo", db_url(root)))
    return grade_task(task, timeout=600)


@pytest.mark.parametrize("student", ["reference", "untouched", "partial", "stripped"])
def test_a_forked_grading_gives_what_a_plain_process_gives(demo, student, monkeypatch):
    forked = _graded(demo, student, monkeypatch, "1")
    plain = _graded(demo, student, monkeypatch, "0")
    assert forked["phases"]["forked"] and not plain["phases"]["forked"]
    assert forked["phases"]["cells"] > 0 and plain["phases"]["cells"] > 0  # the timeline was logged and read
    assert forked["ok"] and plain["ok"], (forked["log"][-2000:], plain["log"][-2000:])
    assert forked["gradebook"]["notebooks"] == plain["gradebook"]["notebooks"]
    assert forked["notes"] == plain["notes"]
    assert sorted(forked["autograded"]) == sorted(plain["autograded"])
    for name in forked["autograded"]:
        if name.endswith(".ipynb"):
            import base64

            a, b = (json.loads(base64.b64decode(r["autograded"][name])) for r in (forked, plain))
            assert [c.get("outputs") for c in a["cells"]] == [c.get("outputs") for c in b["cells"]]
