"""The recipes of docs/GRADING_AT_SCALE.md, run as written.

- The instructor code is installable (pyproject.toml), offline, with the documented options
  (``pip install --no-deps --no-build-isolation``), from a copy of the repository's
  packaging files and code: editable (``-e``, the documented way: a finder in the
  environment maps ``course`` and ``autograder`` to the checkout, no code is copied) and as
  a copy (``--target``, a folder of its own, so the shared .venv is not changed). The copy,
  put on the ``PYTHONPATH`` of a scheduler and two ``dask worker`` processes started in a
  folder outside every course (their ``sys.path`` holds no checkout), is what they import
  to grade the demo class. Before the package existed, such workers failed every task with
  "No module named 'course'" (and the scheduler could not unpickle the tasks).
- The SSH recipe: the guide's two blocks (start, stop), extracted from the guide and run
  with the test's own settings, against a real OpenSSH server started here on 127.0.0.1
  (two host aliases, one worker each).
- The SLURM settings: the guide's ``worker_extra_args`` accepted by the installed ``dask
  worker``, and what ``--lifetime`` does to a task in flight (handed on, no failure
  counted) against what a kill does (one failure counted).

Every cluster here speaks TLS with certificates made for the module (the guide's recipe).
"""
from __future__ import annotations

import ast
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from course import ROOT
from tests.net import free_port

from .demo_course import sampled_demo_course
from .test_engine_security import _make_certificates, _stop

pytestmark = pytest.mark.e2e  # an end-to-end run: ./course.sh test-e2e

GUIDE = ROOT / "docs" / "GRADING_AT_SCALE.md"
BIN = Path(sys.executable).parent
EXPECTED = {"reference": 6, "untouched": 0, "partial": 5, "stripped": 6}


def recipe(name: str) -> str:
    """The fenced block that follows ``<!-- recipe: name ...-->`` in the guide."""
    found = re.search(rf"<!-- recipe: {re.escape(name)}\b[^>]*-->\s*```\w*\n(.*?)```", GUIDE.read_text(), re.S)
    assert found, f"docs/GRADING_AT_SCALE.md has no block marked <!-- recipe: {name} -->"
    return found.group(1)


def with_settings(block: str, **values: str) -> str:
    """``block`` with each ``NAME=...`` settings line replaced by ``NAME=value`` (each must be there)."""
    for name, value in values.items():
        block, n = re.subn(rf"^{name}=.*$", f"{name}={value}", block, flags=re.M)
        assert n == 1, f"the recipe has no settings line {name}=..."
    return block


def clean_env(**extra: str) -> dict:
    """This environment without Dask settings or a PYTHONPATH, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_") and k not in ("PYTHONPATH", "COURSE_ROOT")}
    return dict(env, **extra)


def grades(root: Path) -> dict:
    """Every grade and comment of the demo assignment in the course's gradebook."""
    from course.gradebook import db_url, open_gradebook

    out = {}
    with open_gradebook(db_url(root)) as gb:
        for sub in gb.assignment_submissions("demo"):
            for nb in sub.notebooks:
                for grade in nb.grades:
                    out[(sub.student.id, nb.name, grade.name)] = grade.auto_score
                for comment in nb.comments:
                    out[(sub.student.id, nb.name, "comment", comment.name)] = comment.auto_comment
    return out


def points(root: Path) -> dict:
    from course.feedback import grades as table

    return {r["student"]: r["auto_score"] for r in table(root)}


def client_for(address: str, tls: Path):
    from distributed import Client, Security

    security = Security(require_encryption=True, tls_ca_file=str(tls / "ca.pem"),
                        tls_client_cert=str(tls / "client.pem"), tls_client_key=str(tls / "client-key.pem"))
    return Client(address, security=security, timeout=10)


def wait_for_workers(address: str, tls: Path, count: int, logs: list[Path], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with client_for(address, tls) as client:
                if len(client.scheduler_info(n_workers=-1)["workers"]) >= count:
                    return
        except (OSError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{count} worker(s) did not join {address}:\n"
                        + "\n".join(f"--- {p}\n{p.read_text()[-2500:]}" for p in logs if p.exists()))
        time.sleep(0.5)


def imported_from(client) -> dict:
    """{process: the file of its ``course`` module, and whether its sys.path holds a course checkout}."""

    def probe():
        import os as os_
        import sys as sys_

        module = sys_.modules.get("course")
        checkouts = [p for p in sys_.path if p and os_.path.isfile(os_.path.join(p, "nbgrader_config.py"))]
        return {"course": getattr(module, "__file__", None), "checkouts": checkouts}

    out = {f"worker {w}": found for w, found in client.run(probe).items()}
    out["scheduler"] = client.run_on_scheduler(probe)
    return out


def pip_install(*args: str) -> None:
    """``pip install --no-deps --no-build-isolation`` (the documented options), offline."""
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", *args], capture_output=True, text=True, timeout=300, env=clean_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the repository's packaging files and code (so building writes nothing into the checkout)."""
    src = tmp_path_factory.mktemp("instructor-src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("course", "autograder"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    return src


@pytest.fixture(scope="module")
def installed(source, tmp_path_factory) -> Path:
    """The instructor package installed as a copy (``pip install .``), into a folder of its own."""
    site = tmp_path_factory.mktemp("instructor-site")
    pip_install("--target", str(site), str(source))
    return site


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo course with its four sample submissions, graded once locally (the reference)."""
    from course.autograde import autograde

    root, _ = sampled_demo_course(tmp_path_factory.mktemp("recipes-course"), cell_timeout=30)
    autograde(root, ["demo"], workers=1, engine="local")
    assert points(root) == EXPECTED, points(root)
    return root, grades(root)


@pytest.fixture(scope="module")
def tls() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="dlcourse-recipe-tls-"))  # 0700
    _make_certificates(folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def tls_args(tls: Path, role: str) -> list[str]:
    return ["--tls-ca-file", str(tls / "ca.pem"), "--tls-cert", str(tls / f"{role}.pem"),
            "--tls-key", str(tls / f"{role}-key.pem")]


# --- the package -----------------------------------------------------------------------------------


def test_package_holds_the_code_and_none_of_the_course(installed):
    """Does the installed package hold `course` and `autograder` (and the console script), and
    none of the course's own files: the answers, their key, the hidden-test cases?"""
    assert (installed / "course" / "task.py").is_file() and (installed / "course" / "lms" / "canvas.py").is_file()
    assert not (installed / "course" / "reviewed_overlaps.toml").exists()  # reviewers' notes on answers
    assert (installed / "autograder" / "preprocessors" / "sandboxed_execute.py").is_file()
    assert (installed / "bin" / "dlcourse-instructor").is_file()
    names = {p.relative_to(installed).as_posix() for p in installed.rglob("*")}
    assert not [n for n in names if n.startswith(("autograder/answers/", "autograder/cases"))
                or n.endswith("answer.key")], sorted(names)
    assert not [n for n in names if n.split("/")[0] in ("tests", "package", "source", "assignments", "book")]


def test_editable_install_maps_the_packages_to_the_checkout(source, tmp_path):
    """The documented install (``-e``): does it leave in the environment no copy of the code,
    only a finder, and does a process started elsewhere import `course` and `autograder` from
    the checkout's folders without the checkout on its sys.path?"""
    prefix = tmp_path / "prefix"
    pip_install("--prefix", str(prefix), "-e", str(source))
    site = next(prefix.glob("lib/python3*/site-packages"))
    assert not [p for p in site.rglob("*.py") if not p.name.startswith("__editable__")], sorted(site.rglob("*"))
    assert not (site / "course").exists() and not (site / "autograder").exists()
    probe = ("import site, sys; site.addsitedir(sys.argv[1]); import course, autograder.recognise, course.task; "
             "print(course.__file__); print(autograder.recognise.__file__); "
             "print([p for p in sys.path if p.startswith(sys.argv[2])])")
    out = subprocess.run([sys.executable, "-c", probe, str(site), str(source)], cwd=tmp_path, env=clean_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[:3] == [str(source / "course" / "__init__.py"),
                                          str(source / "autograder" / "recognise.py"), "[]"], out.stdout


def test_installed_copy_finds_its_course_and_never_site_packages(installed, demo, tmp_path):
    """Outside a course, is the installed copy's ROOT None (not its own folder) and does the
    console script stop with a message; inside the demo course (or with COURSE_ROOT), does it
    run that course's own `python -m course`?"""
    root, _ = demo
    env = clean_env(PYTHONPATH=str(installed))
    probe = "import course; print(course.ROOT); print(course.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stdout.split("\n")[:2] == ["None", str(installed / "course" / "__init__.py")], out
    inside = subprocess.run([sys.executable, "-c", probe], cwd=root / "source", env=env, capture_output=True,
                            text=True)
    assert inside.stdout.split("\n")[0] == str(root), inside

    script = [str(installed / "bin" / "dlcourse-instructor")]
    outside = subprocess.run(script + ["autograde", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert outside.returncode == 2 and "is not inside a course checkout" in outside.stderr, outside
    wrong = subprocess.run(script + ["autograde"], cwd=tmp_path, env=dict(env, COURSE_ROOT=str(tmp_path)),
                           capture_output=True, text=True)
    assert wrong.returncode == 2 and f"COURSE_ROOT={tmp_path} is not a course checkout" in wrong.stderr, wrong
    # The course's own code runs, not the installed copy: a line added to the demo course's __main__.py.
    main = root / "course" / "__main__.py"
    saved = main.read_text()
    try:
        main.write_text(saved + "\nprint('the demo course code ran', __file__)\n")
        for cwd, extra in ((root, {}), (tmp_path, {"COURSE_ROOT": str(root)})):
            ran = subprocess.run(script + ["--help"], cwd=cwd, env=dict(env, **extra), capture_output=True,
                                 text=True, timeout=120)
            assert ran.returncode == 0 and "usage: python -m course" in ran.stdout, ran
            assert f"the demo course code ran {main}" in ran.stdout, ran.stdout
    finally:
        main.write_text(saved)


# --- the failure of the issue, gone: workers import the installed package ---------------------------


def test_workers_import_the_installed_package_and_grade(installed, demo, tls, tmp_path):
    """A scheduler and two `dask worker` processes started outside any course with only the
    installed package on their path (the guide's command lines): does `dlcourse-instructor
    autograde --scheduler` grade the demo class through them, with the grades of a local run,
    and did the scheduler and both workers import the installed `course`, none of the checkout?"""
    root, reference = demo
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    env = clean_env(PYTHONPATH=str(installed))
    logs = [tmp_path / "scheduler.log", tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    procs = []
    try:
        procs.append(subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", str(port),
             "--dashboard-address", "127.0.0.1:0", *tls_args(tls, "scheduler")],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=open(logs[0], "w"), start_new_session=True))
        for log in logs[1:]:
            procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                 "--no-dashboard", "--local-directory", str(tmp_path / "scratch"), *tls_args(tls, "worker")],
                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"), start_new_session=True))
        wait_for_workers(address, tls, 2, logs)

        proc = subprocess.run([str(installed / "bin" / "dlcourse-instructor"), "autograde", "demo", "--force",
                               "--scheduler", address, *tls_args(tls, "client")],
                              cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert f"Dask at {address}" in proc.stdout and "demo: 4 graded, 0 failed" in proc.stdout, proc.stdout[-4000:]
        assert grades(root) == reference
        with client_for(address, tls) as client:
            found = imported_from(client)
        assert len(found) == 3
        for process, seen in found.items():
            assert seen["course"] == str(installed / "course" / "__init__.py"), (process, seen)
            assert seen["checkouts"] == [], (process, seen)
        text = "".join(p.read_text() for p in logs)
        assert "No module named" not in text, text[-3000:]
    finally:
        for p in reversed(procs):
            _stop(p)


# --- SSH: the guide's blocks against a real sshd ----------------------------------------------------


class SSH:
    def __init__(self, base: Path, home: Path, bin_dir: Path):
        self.base, self.home, self.bin = base, home, bin_dir


def _sshd_path() -> str | None:
    found = shutil.which("sshd")
    if found:
        return found
    return "/usr/sbin/sshd" if os.access("/usr/sbin/sshd", os.X_OK) else None


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/run installs Debian's openssh-server")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def sshd(installed):
    """A real OpenSSH server on a free port of 127.0.0.1, for this user only, with a host key and
    a client key made here; ``ssh`` on ``SSH.bin`` reaches it as the hosts worker1, worker2 and
    127.0.0.1. The remote account's HOME is ``SSH.home`` and its PYTHONPATH the installed package
    (sshd's SetEnv): what a worker host with the package installed in its .venv provides."""
    daemon = _sshd_path()
    if not daemon or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        _unavailable("OpenSSH's sshd, ssh or ssh-keygen is not installed (apt-get install openssh-server)")
    base = Path(tempfile.mkdtemp(prefix="dlcourse-ssh-"))  # 0700
    home, bin_dir = base / "home", base / "bin"
    home.mkdir()
    bin_dir.mkdir()
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"dlcourse-test-{name}",
                        "-f", str(base / name)], check=True, capture_output=True)
    (base / "authorized_keys").write_text((base / "client.pub").read_text())
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    user = pwd.getpwuid(os.geteuid()).pw_name
    port = free_port()
    (base / "sshd_config").write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {base / 'host'}
PidFile {base / 'sshd.pid'}
AuthorizedKeysFile {base / 'authorized_keys'}
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
SetEnv HOME={home} PYTHONPATH={installed}
""")
    log = base / "sshd.log"
    proc = subprocess.Popen([daemon, "-D", "-e", "-f", str(base / "sshd_config")], stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"), start_new_session=True)
    (base / "known_hosts").write_text(f"[127.0.0.1]:{port} " + " ".join(
        (base / "host.pub").read_text().split()[:2]) + "\n")
    (base / "ssh_config").write_text(f"""\
Host worker1 worker2 127.0.0.1
    HostName 127.0.0.1
    HostKeyAlias [127.0.0.1]:{port}
    Port {port}
    User {user}
    IdentityFile {base / 'client'}
    IdentitiesOnly yes
    UserKnownHostsFile {base / 'known_hosts'}
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 10
""")
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f"#!/bin/sh\nexec {shutil.which('ssh')} -F {base / 'ssh_config'} \"$@\"\n")
    wrapper.chmod(0o755)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                _unavailable(f"sshd did not start here: {log.read_text()[-1000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        check = subprocess.run([str(wrapper), "worker1", "echo $HOME $PYTHONPATH"], capture_output=True, text=True,
                               timeout=60)
        if check.returncode != 0:
            _unavailable(f"ssh to the test sshd failed: {check.stderr[-1000:]} {log.read_text()[-1000:]}")
        assert check.stdout.split() == [str(home), str(installed)], check.stdout
        yield SSH(base, home, bin_dir)
    finally:
        _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


def _pids(folder: Path) -> list[int]:
    out = []
    for path in folder.glob("dask-*.pid"):
        try:
            out.append(int(path.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not reaped by its parent yet) has stopped
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_ssh_recipe_grades_through_two_remote_workers(installed, demo, tls, sshd, tmp_path):
    """The guide's SSH blocks, run as written with the test's settings: do they start a scheduler
    and a worker on each of two hosts over ssh, does `python -m course autograde --scheduler`
    grade the demo class through them with the grades of a local run, did the scheduler and
    both workers import the installed `course`, and does the stop block end them all?"""
    root, reference = demo
    (sshd.home / "dask-tls").mkdir(mode=0o700)
    for name in ("ca", "scheduler", "worker"):
        shutil.copy2(tls / f"{name}.pem", sshd.home / "dask-tls" / f"{name}.pem")
        if name != "ca":
            shutil.copy2(tls / f"{name}-key.pem", sshd.home / "dask-tls" / f"{name}-key.pem")
    link = root / ".venv"
    if not link.exists():
        link.symlink_to(BIN.parent)  # the checkout's environment at the course's path
    port = free_port()
    settings = dict(COURSE=str(root), SCHEDULER_HOST="127.0.0.1", PORT=str(port), PER_HOST="1")
    start = with_settings(recipe("ssh-start"), **settings)
    # the stop block runs in the shell that ran the start block: its settings are set
    stop = "".join(f"{k}={v}\n" for k, v in settings.items()) + recipe("ssh-stop")
    (tmp_path / "hosts.txt").write_text("worker1\nworker2\n")
    env = clean_env(PATH=f"{sshd.bin}{os.pathsep}{os.environ['PATH']}")
    address = f"tls://127.0.0.1:{port}"
    logs = [sshd.home / "dask-scheduler.log", sshd.home / "dask-worker-worker1.log",
            sshd.home / "dask-worker-worker2.log"]
    started = []
    try:
        ran = subprocess.run(["bash", "-euo", "pipefail", "-c", start], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=120)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        wait_for_workers(address, tls, 2, logs)
        started = _pids(sshd.home)
        assert len(started) == 3, sorted(p.name for p in sshd.home.iterdir())

        proc = subprocess.run([sys.executable, "-m", "course", "autograde", "demo", "--force", "--scheduler", address,
                               *tls_args(tls, "client")],
                              cwd=root, env=clean_env(), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "demo: 4 graded, 0 failed" in proc.stdout, proc.stdout[-4000:]
        assert grades(root) == reference
        with client_for(address, tls) as client:
            found = imported_from(client)
            hosts = {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}
        assert len(found) == 3 and len(hosts) == 2, (found, hosts)
        for process, seen in found.items():
            assert seen["course"] == str(installed / "course" / "__init__.py"), (process, seen)
            assert seen["checkouts"] == [], (process, seen)

        stopped = subprocess.run(["bash", "-euo", "pipefail", "-c", stop], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [pid for pid in started if _alive(pid)], "the stop block left processes running"
    finally:
        for pid in set(started) | set(_pids(sshd.home)):  # what this test started through ssh, by pid file
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# --- SLURM: lifetime settings with the installed distributed ----------------------------------------


def _documented_worker_args() -> list[str]:
    """``worker_extra_args`` of the guide's dask-jobqueue block (which must be valid Python)."""
    text = GUIDE.read_text()
    block = re.search(r"### SLURM.*?```python\n(.*?)```", text, re.S)
    assert block, "the guide has no SLURM Python block"
    tree = ast.parse(block.group(1))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "worker_extra_args":
            return ast.literal_eval(node.value)
    pytest.fail("the guide's SLURM block passes no worker_extra_args")


def _worker(address: str, tls: Path, folder: Path, name: str, extra: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
         "--no-dashboard", "--name", name, "--local-directory", str(folder / "scratch"), *extra,
         *tls_args(tls, "worker")],
        cwd=folder, env=clean_env(), stdout=subprocess.DEVNULL, stderr=open(folder / f"{name}.log", "w"),
        start_new_session=True)


def test_slurm_lifetime_hands_tasks_on_without_counting_a_failure(tls, tmp_path):
    """With the installed distributed: does a worker started with the guide's worker_extra_args
    get a lifetime between 105 and 115 minutes; does a worker with a short --lifetime leave by
    itself in the middle of a task (exit status 0) and the task finish on the worker that
    replaces it with no failure counted; and does a worker killed mid-task count one?"""
    documented = _documented_worker_args()
    assert documented[:1] == ["--lifetime"] and "--lifetime-restart" not in documented
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    scheduler = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", "127.0.0.1:0", *tls_args(tls, "scheduler")],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL, stderr=open(tmp_path / "scheduler.log", "w"),
        start_new_session=True)
    workers = []
    logs = lambda: [tmp_path / "scheduler.log", *tmp_path.glob("w*.log")]  # noqa: E731
    try:
        workers.append(_worker(address, tls, tmp_path, "w0-documented", documented))
        wait_for_workers(address, tls, 1, logs())
        with client_for(address, tls) as client:
            lifetimes = list(client.run(lambda dask_worker: dask_worker.lifetime).values())
        assert len(lifetimes) == 1 and 105 * 60 <= lifetimes[0] <= 115 * 60, lifetimes
        _stop(workers.pop())

        record = tmp_path / "attempts"

        def slow(seconds, later=1):  # records which worker ran each attempt; a retry takes ``later`` s
            import time as time_

            from distributed import get_worker

            with open(record, "a") as f:
                f.write(get_worker().name + "\n")
            time_.sleep(seconds if len(record.read_text().split()) == 1 else later)
            return "done"

        with client_for(address, tls) as client:
            first = _worker(address, tls, tmp_path, "w1-lifetime", ["--lifetime", "6s", "--lifetime-stagger", "1s"])
            workers.append(first)
            wait_for_workers(address, tls, 1, logs())
            future = client.submit(slow, 12, pure=False, retries=2)
            first.wait(timeout=60)  # leaves by itself, mid-task
            assert first.returncode == 0, (tmp_path / "w1-lifetime.log").read_text()[-3000:]
            assert record.read_text().split() == ["w1-lifetime"]
            workers.append(_worker(address, tls, tmp_path, "w2-next", []))
            assert future.result(timeout=120) == "done"
            assert record.read_text().split() == ["w1-lifetime", "w2-next"]
            counted = client.run_on_scheduler(lambda dask_scheduler, key=future.key:
                                              dask_scheduler.tasks[key].suspicious)
            assert counted == 0

            # The control: a worker killed under the task (the walltime without --lifetime) counts one.
            record.unlink()
            future = client.submit(slow, 6, pure=False, retries=2)  # killed within its first second
            deadline = time.monotonic() + 60
            while not (record.exists() and record.read_text().split() == ["w2-next"]):
                assert time.monotonic() < deadline, "the task did not start"
                time.sleep(0.2)
            killed = workers.pop()
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait(timeout=30)
            workers.append(_worker(address, tls, tmp_path, "w3-after-kill", []))
            assert future.result(timeout=120) == "done"
            counted = client.run_on_scheduler(lambda dask_scheduler, key=future.key:
                                              dask_scheduler.tasks[key].suspicious)
            assert counted == 1
    finally:
        for p in reversed(workers):
            _stop(p)
        _stop(scheduler)
