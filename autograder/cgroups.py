"""Per-kernel control groups: limits the Linux kernel enforces on a grading kernel's whole
process tree, whatever the student's code does.

Each grading kernel (``autograder.sandbox.SandboxKernelManager``) gets its own cgroup, made
inside the grader's own cgroup (never above it, so whatever limits the grader runs under
still hold), named ``dlcourse-kernel-<grader pid>-<random>``, with:

- a memory limit (``kernel_memory_mib``) that counts everything the kernel's processes
  use: heap, ``MAP_SHARED`` anonymous memory, tmpfs files (its ``/tmp``, working folder
  and ``/dev/shm``) and page cache; swap is not a way around it. Past it the kernel's
  out-of-memory killer ends the largest process (usually the kernel: grading restarts it);
- a process limit (``kernel_processes``: processes and threads of the whole tree);
- a CPU weight (``kernel_cpu_weight``, default 100, cgroup v2's scale; v1 ``cpu.shares``
  = weight * 1024 / 100): each kernel, however many busy processes it has, gets the same
  share of a contended CPU as every other kernel, so one submission cannot starve another
  student's cells into timeouts.

The kernel's command line starts with a tiny shim (``command_prefix``: ``/bin/sh`` writes
its own pid into each ``cgroup.procs``, then execs bubblewrap), so the process is in the
cgroup before any student code runs and every child inherits it. When the kernel is shut
down, ``KernelCgroup.remove`` kills whatever is left in the cgroup (v2 ``cgroup.kill``; v1:
freeze, SIGKILL every pid through a pidfd, thaw, until it is empty) and removes it.

Modes (``detect()``; the grading preflight, ``course/preflight.py``, reports the one in use):

- ``"cgroup v2"``: the unified hierarchy with the memory and pids controllers (cpu when
  available), as root or in a subtree delegated to the grader's user, e.g. grading started
  by ``systemd-run --user --scope -p Delegate=yes ./course.sh autograde``. If the grader's
  cgroup has processes and no controllers enabled for children (cgroup v2 forbids both),
  every process of it is moved into a leaf ``dlcourse-grader`` first (what container
  runtimes do in a delegated cgroup);
- ``"cgroup v1"``: the memory and pids hierarchies (cpu and freezer when mounted), writable
  (as root);
- ``"rlimits only"``: no writable cgroup (an ordinary user without delegation, a read-only
  ``/sys/fs/cgroup``). ``autograder.sandbox`` then adds ``RLIMIT_AS`` to the per-process
  rlimits: memory (shared memory included) is bounded per process, not per tree, processes
  per uid, and there is no CPU weight (a kernel whose busy processes each start a session
  of their own can slow other kernels' cells into their timeouts).

``$COURSE_SANDBOX_CGROUPS``: ``off`` forces "rlimits only"; ``require`` makes grading fail
(the preflight and every kernel start) instead of falling back.
"""
from __future__ import annotations

import dataclasses
import errno
import os
import secrets
import signal
import time
from pathlib import Path

V2 = "cgroup v2"
V1 = "cgroup v1"
RLIMITS = "rlimits only"
ENV = "COURSE_SANDBOX_CGROUPS"
PREFIX = "dlcourse-kernel-"
GRADER_LEAF = "dlcourse-grader"
REQUIRED = ("memory", "pids")
V1_CONTROLLERS = ("memory", "pids", "cpu", "freezer")
# The shim: write our pid into every file named before "--", then exec the rest (the pid stays).
SHIM = 'for f do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"'


class CgroupError(OSError):
    """A cgroup could not be made, configured, entered, emptied or removed."""


def setting() -> str:
    """``$COURSE_SANDBOX_CGROUPS``: "off", "require" or "auto" (the default)."""
    value = os.environ.get(ENV, "auto").strip().lower()
    if value in ("off", "0", "no", "false", "none", "rlimits"):
        return "off"
    if value in ("require", "required", "on", "1", "yes", "true"):
        return "require"
    return "auto"


@dataclasses.dataclass(frozen=True)
class Support:
    """What this machine offers: a mode, where kernel cgroups go, and why."""

    mode: str
    detail: str
    v1: tuple = ()  # ((controller, parent folder), ...) for cgroup v1
    v2: Path | None = None  # parent folder of kernel cgroups for cgroup v2
    controllers: frozenset = frozenset()  # v2: controllers enabled for children of ``v2``

    def describe(self) -> str:
        return f"{self.mode} ({self.detail})"

    @property
    def usable(self) -> bool:
        return self.mode in (V1, V2)


# -- reading /proc ------------------------------------------------------------------

def _unescape(field: str) -> str:
    """Mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1:i + 4]) == 3 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[dict]:
    """The cgroup and cgroup2 mounts of /proc/self/mountinfo text: root, mountpoint, type, options."""
    mounts = []
    for line in text.splitlines():
        if " - " not in line:
            continue
        left, right = line.split(" - ", 1)
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append({"root": _unescape(fields[3]), "mountpoint": _unescape(fields[4]), "fstype": tail[0],
                       "options": set(tail[2].split(",")), "readonly": "ro" in fields[5].split(",")})
    return mounts


def parse_proc_cgroup(text: str) -> list[tuple[str, list[str], str]]:
    """/proc/self/cgroup text: (hierarchy id, controllers, path) per line."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            out.append((parts[0], [c for c in parts[1].split(",") if c], parts[2]))
    return out


def _folder(mount: dict, path: str) -> Path:
    """The folder of cgroup ``path`` under ``mount`` (whose own root may not be "/")."""
    root = mount["root"].rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    return Path(mount["mountpoint"]) / path.lstrip("/")


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def _write(path: Path, value: str) -> None:
    """One write() of ``value`` (cgroup files take one value per write)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _pids(folder: Path) -> set[int]:
    try:
        return {int(p) for p in _read(folder / "cgroup.procs").split()}
    except FileNotFoundError:
        return set()


# -- detection -------------------------------------------------------------------

def _trial(parent: Path) -> None:
    """Make and remove a child cgroup of ``parent`` (raises OSError when that is not allowed)."""
    child = parent / f"dlcourse-probe-{os.getpid()}-{secrets.token_hex(3)}"
    child.mkdir()
    try:
        os.rmdir(child)
    except OSError:
        time.sleep(0.05)
        os.rmdir(child)


def _enable_v2(current: Path, wanted: list[str]) -> None:
    """Enable ``wanted`` controllers for children of ``current``; a cgroup with processes
    cannot have that (cgroup v2's no-internal-processes rule), so they move to a leaf first."""

    def enable() -> None:
        for controller in wanted:
            try:
                _write(current / "cgroup.subtree_control", f"+{controller}")
            except OSError:
                if controller in REQUIRED:
                    raise

    try:
        enable()
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
    leaf = current / GRADER_LEAF
    leaf.mkdir(exist_ok=True)
    for _ in range(20):
        pids = _pids(current)
        if not pids:
            break
        for pid in pids:
            try:
                _write(leaf / "cgroup.procs", str(pid))
            except OSError as exc:
                if exc.errno != errno.ESRCH:
                    raise
    enable()


def _detect_v2(mounts: list[dict], entries: list, reasons: list[str]) -> Support | None:
    mount = next((m for m in mounts if m["fstype"] == "cgroup2"), None)
    entry = next((e for e in entries if e[0] == "0" and not e[1]), None)
    if mount is None or entry is None:
        reasons.append("no cgroup v2 hierarchy")
        return None
    current = _folder(mount, entry[2])
    if current.name == GRADER_LEAF and current != Path(mount["mountpoint"]):
        current = current.parent  # our own leaf (see _enable_v2): kernels go beside it
    try:
        available = set(_read(current / "cgroup.controllers").split())
    except OSError as exc:
        reasons.append(f"cgroup v2 at {current}: {exc.strerror}")
        return None
    missing = [c for c in REQUIRED if c not in available]
    if missing:
        reasons.append(f"cgroup v2 at {current} lacks the {' and '.join(missing)} controller"
                       f"{'s' if len(missing) > 1 else ''}")
        return None
    if mount["readonly"]:
        reasons.append(f"cgroup v2 at {current}: mounted read-only")
        return None
    wanted = [c for c in ("memory", "pids", "cpu") if c in available]
    try:
        enabled = set(_read(current / "cgroup.subtree_control").split())
        if not set(REQUIRED) <= enabled or ("cpu" in wanted and "cpu" not in enabled):
            _enable_v2(current, [c for c in wanted if c not in enabled])
            enabled = set(_read(current / "cgroup.subtree_control").split())
        if not set(REQUIRED) <= enabled:
            raise PermissionError(errno.EPERM, "controllers not enabled for children")
        _trial(current)
    except OSError as exc:
        reasons.append(f"cgroup v2 at {current} is not writable by this user ({exc.strerror or exc}): "
                       f"grade as root or in a delegated cgroup (systemd-run --user --scope -p Delegate=yes)")
        return None
    controllers = frozenset(c for c in wanted if c in enabled)
    who = "root" if os.geteuid() == 0 else "delegated"
    return Support(V2, f"{', '.join(sorted(controllers))} under {current}, {who}", v2=current,
                   controllers=controllers)


def _detect_v1(mounts: list[dict], entries: list, reasons: list[str]) -> Support | None:
    folders = {}
    for controller in V1_CONTROLLERS:
        mount = next((m for m in mounts if m["fstype"] == "cgroup" and controller in m["options"]
                      and not m["readonly"]), None)
        entry = next((e for e in entries if controller in e[1]), None)
        if mount is not None and entry is not None:
            folders[controller] = _folder(mount, entry[2])
    missing = [c for c in REQUIRED if c not in folders]
    if missing:
        reasons.append(f"no writable cgroup v1 {' or '.join(missing)} hierarchy")
        return None
    usable = []
    for controller, folder in folders.items():
        try:
            _trial(folder)
        except OSError as exc:
            if controller in REQUIRED:
                reasons.append(f"cgroup v1 {controller} at {folder} is not writable ({exc.strerror})")
                return None
            continue
        usable.append((controller, folder))
    where = ", ".join(f"{c} at {f}" for c, f in usable)
    return Support(V1, f"{where}; as {'root' if os.geteuid() == 0 else 'this user'}", v1=tuple(usable))


_cached: Support | None = None


def detect(refresh: bool = False, *, mountinfo: str | None = None, proc_cgroup: str | None = None) -> Support:
    """The mode this machine gives grading kernels (cached; see the module doc)."""
    global _cached
    if setting() == "off":
        return Support(RLIMITS, f"${ENV}=off")
    custom = mountinfo is not None or proc_cgroup is not None
    if _cached is not None and not refresh and not custom:
        return _cached
    reasons: list[str] = []
    try:
        mounts = parse_mountinfo(mountinfo if mountinfo is not None else _read(Path("/proc/self/mountinfo")))
        entries = parse_proc_cgroup(proc_cgroup if proc_cgroup is not None else _read(Path("/proc/self/cgroup")))
    except OSError as exc:
        mounts, entries = [], []
        reasons.append(f"cannot read /proc ({exc.strerror})")
    found = (_detect_v2(mounts, entries, reasons) or _detect_v1(mounts, entries, reasons)
             or Support(RLIMITS, "; ".join(reasons) or "no cgroups"))
    if not custom:
        _cached = found
    return found


# -- one kernel's cgroup -------------------------------------------------------------

class KernelCgroup:
    """The cgroup (one folder per hierarchy) of one grading kernel."""

    def __init__(self, support: Support, folders: dict[str, Path]):
        self.support = support
        self.folders = folders  # controller (v1) or "unified" (v2) -> folder

    @classmethod
    def create(cls, support: Support, *, memory_bytes: int, pids: int, cpu_weight: int = 100,
               name: str | None = None) -> "KernelCgroup":
        """Make the cgroup and set its limits; raises CgroupError (nothing is left behind)."""
        if not support.usable:
            raise CgroupError(errno.ENOTSUP, f"no cgroups here: {support.detail}")
        name = name or f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        if support.mode == V2:
            parents = {"unified": support.v2}
        else:
            parents = dict(support.v1)
        folders: dict[str, Path] = {}
        group = cls(support, folders)
        try:
            for key, parent in parents.items():
                folder = Path(parent) / name
                if folder in folders.values():
                    continue  # co-mounted v1 controllers share one folder
                folder.mkdir()
                folders[key] = folder
            group._limit(memory_bytes, pids, cpu_weight)
        except OSError as exc:
            group.remove()
            raise CgroupError(exc.errno, f"cannot set up the kernel's cgroup {name}: {exc.strerror or exc}") from exc
        return group

    def _limit(self, memory_bytes: int, pids: int, cpu_weight: int) -> None:
        weight = max(1, min(10000, int(cpu_weight)))
        if self.support.mode == V2:
            folder = self.folders["unified"]
            _write(folder / "memory.max", str(memory_bytes))
            if (folder / "memory.swap.max").exists():
                _write(folder / "memory.swap.max", "0")  # swap would be memory beyond the limit
            _write(folder / "pids.max", str(pids))
            if "cpu" in self.support.controllers:
                _write(folder / "cpu.weight", str(weight))
            return
        memory = self.folders["memory"]
        _write(memory / "memory.limit_in_bytes", str(memory_bytes))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # memory + swap: no escape to swap
            _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
        _write(self.folders["pids"] / "pids.max", str(pids))
        if "cpu" in self.folders:
            _write(self.folders["cpu"] / "cpu.shares", str(max(2, weight * 1024 // 100)))

    @property
    def name(self) -> str:
        return next(iter(self.folders.values())).name if self.folders else ""

    def procs_files(self) -> list[Path]:
        return [folder / "cgroup.procs" for folder in dict.fromkeys(self.folders.values())]

    def command_prefix(self) -> list[str]:
        """Prefix of a command line that puts the command's process into this cgroup first."""
        return ["/bin/sh", "-c", SHIM, "dlcourse-cgroup-enter", *map(str, self.procs_files()), "--"]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in dict.fromkeys(self.folders.values()):
            found |= _pids(folder)
        return found

    def memory_peak(self) -> int | None:
        """Peak memory use in bytes, when the kernel reports it."""
        for key, name in (("unified", "memory.peak"), ("memory", "memory.max_usage_in_bytes")):
            if key in self.folders:
                try:
                    return int(_read(self.folders[key] / name).split()[0])
                except (OSError, ValueError, IndexError):
                    return None
        return None

    def oom_kills(self) -> int:
        """How many processes the out-of-memory killer ended in this cgroup."""
        for key, name in (("unified", "memory.events"), ("memory", "memory.oom_control")):
            if key in self.folders:
                try:
                    for line in _read(self.folders[key] / name).splitlines():
                        parts = line.split()
                        if len(parts) == 2 and parts[0] == "oom_kill":
                            return int(parts[1])
                except (OSError, ValueError):
                    pass
        return 0

    # -- ending it ----------------------------------------------------------------
    def _signal_all(self) -> None:
        """SIGKILL every process listed now, through pidfds (a recycled pid is never hit)."""
        first = self.pids()
        if not first:
            return
        fds = {}
        for pid in first:
            try:
                fds[pid] = os.pidfd_open(pid)
            except (OSError, AttributeError):
                pass
        try:
            still = self.pids()  # listed after the pidfd was taken: the pidfd is this process
            for pid in first & still:
                try:
                    if pid in fds:
                        signal.pidfd_send_signal(fds[pid], signal.SIGKILL)
                    else:
                        os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                except OSError:
                    pass
        finally:
            for fd in fds.values():
                os.close(fd)

    def _freeze(self, frozen: bool) -> bool:
        """Freeze (or thaw) the cgroup when the machine can; True if it is frozen."""
        if self.support.mode == V2:
            path = self.folders["unified"] / "cgroup.freeze"
            value = "1" if frozen else "0"
        elif "freezer" in self.folders:
            path = self.folders["freezer"] / "freezer.state"
            value = "FROZEN" if frozen else "THAWED"
        else:
            return False
        try:
            _write(path, value)
        except OSError:
            return False
        if not frozen:
            return False
        until = time.monotonic() + 2
        while time.monotonic() < until:
            try:
                if self.support.mode == V2:
                    state = _read(path.parent / "cgroup.events")
                    if "frozen 1" in state:
                        return True
                elif _read(path).strip() == "FROZEN":
                    return True
            except OSError:
                return False
            time.sleep(0.01)
        return False

    def kill(self, timeout: float = 10.0) -> bool:
        """Kill every process in the cgroup and wait until it is empty; True if it is."""
        if not self.folders:
            return True
        until = time.monotonic() + timeout
        killed = False
        if self.support.mode == V2:
            try:
                _write(self.folders["unified"] / "cgroup.kill", "1")
                killed = True
            except OSError:
                pass
        while True:
            if not self.pids():
                self._freeze(False)
                return True
            if time.monotonic() > until:
                self._freeze(False)
                return False
            if not killed:
                frozen = self._freeze(True)  # nothing forks while frozen: one pass gets them all
                self._signal_all()
                if frozen:
                    self._freeze(False)  # SIGKILLed tasks die once thawed (cgroup v1)
            time.sleep(0.01)

    def remove(self, timeout: float = 10.0) -> list[str]:
        """Kill what is left, then remove the cgroup; returns what could not be removed."""
        problems = []
        if not self.kill(timeout):
            problems.append(f"processes still in cgroup {self.name}: {sorted(self.pids())[:20]}")
        for key, folder in list(self.folders.items()):
            for attempt in range(50):
                try:
                    os.rmdir(folder)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if attempt == 49:
                        problems.append(f"cannot remove {folder}: {exc.strerror}")
                    else:
                        time.sleep(0.02)
            if not folder.exists():
                del self.folders[key]
        return problems


def sweep_stale(support: Support | None = None) -> list[Path]:
    """Remove empty kernel cgroups left by graders that died (SIGKILL); return them."""
    support = support or detect()
    parents = [support.v2] if support.mode == V2 else [p for _, p in support.v1]
    removed = []
    for parent in parents:
        try:
            children = [c for c in Path(parent).iterdir() if c.name.startswith(PREFIX)]
        except OSError:
            continue
        for child in children:
            try:
                owner = int(child.name[len(PREFIX):].split("-", 1)[0])
            except ValueError:
                continue
            try:
                os.kill(owner, 0)
                continue  # its grader is alive: its own business
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            try:
                os.rmdir(child)  # fails while processes are in it
                removed.append(child)
            except OSError:
                pass
    return removed


def self_test(support: Support | None = None) -> Support:
    """Run ``true`` through the shim in a fresh kernel cgroup, check the cgroup saw it, remove
    the cgroup. Returns ``support``; raises CgroupError when the cgroups do not work."""
    import subprocess

    support = support or detect()
    group = KernelCgroup.create(support, memory_bytes=256 * 1024 * 1024, pids=16)
    try:
        proc = subprocess.run([*group.command_prefix(), "/bin/sh", "-c", "cat /proc/self/cgroup"],
                              capture_output=True, text=True, timeout=30)
        if proc.returncode != 0 or group.name not in proc.stdout:
            raise CgroupError(errno.EPERM, f"a process could not enter cgroup {group.name} "
                                           f"(exit {proc.returncode}: {proc.stderr.strip()[:200]})")
    finally:
        problems = group.remove()
    if problems:
        raise CgroupError(errno.EBUSY, "; ".join(problems))
    return support
