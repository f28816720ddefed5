"""Scratch folders that a grader killed outright does not leave behind for ever.

Grading makes folders in the system's temporary folder: a task's course view
(``dlcourse-task-``, course/task.py), a kernel's sandbox (``dlcourse-sandbox-``,
autograder/sandbox.py) and the local Dask cluster's space (``dlcourse-dask-``,
course/engine.py). Each maker removes its folder when it is done, but a maker killed with
SIGKILL (a lost Dask worker, the OOM killer, a machine's shutdown) cannot, and a grading
server then fills its disk with submissions over a term.

``make_scratch`` writes the folder's owner into it (``.owner``: host name, process id and
the process's start time from ``/proc``), and ``sweep_scratch``, run by the grading
preflight and once in each process that grades tasks, removes the folders of this host
whose owner is gone: no such process, or a process that only reuses its id (another start
time). A folder without an owner record, or another user's, or another host's (a /tmp
shared between containers) is left alone. Removal is ``autograder.rmtree.remove_tree``
(no link followed, unreadable folders a kernel left are opened first).
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path

from autograder.rmtree import remove_tree

PREFIXES = ("dlcourse-task-", "dlcourse-sandbox-", "dlcourse-dask-")
OWNER = ".owner"


def start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks after boot, /proc/<pid>/stat field 22),
    None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # the fields after the command's name start at field 3


def make_scratch(prefix: str) -> Path:
    """A new private (0700) folder ``<tmp>/<prefix>XXXXXXXX`` that names its owner (this process)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "start": start_time(os.getpid())}
    (path / OWNER).write_text(json.dumps(owner) + "\n")
    return path


def _owner(folder: str) -> dict | None:
    try:
        fd = os.open(os.path.join(folder, OWNER), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        owner = json.loads(os.read(fd, 4096).decode())
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return owner if isinstance(owner, dict) else None


def orphaned(folder: str) -> bool:
    """Is ``folder`` a scratch folder of this user and host whose owner process is gone?"""
    try:
        if os.lstat(folder).st_uid != os.geteuid():
            return False
    except OSError:
        return False
    owner = _owner(folder)
    if owner is None or owner.get("host") != socket.gethostname() or type(owner.get("pid")) is not int:
        return False
    alive = start_time(owner["pid"])
    return alive is None or alive != owner.get("start")


def sweep_scratch(base: str | os.PathLike | None = None) -> list[str]:
    """Remove the orphaned scratch folders in ``base`` (default: the temporary folder); return
    one line per folder removed, or left with the reason."""
    base = os.fspath(base or tempfile.gettempdir())
    lines = []
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith(PREFIXES) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return lines
    for entry in entries:
        if not orphaned(entry.path):
            continue
        try:
            problems = remove_tree(entry.path)
        except OSError as exc:
            problems = [exc.strerror or str(exc)]
        lines.append(f"removed {entry.path}, left by a grader that died" if not problems else
                     f"could not remove {entry.path}: {'; '.join(problems[:3])}")
    return lines


_SWEPT: set = set()  # the processes (ids) that have swept


def sweep_once(log=None) -> None:
    """``sweep_scratch`` the first time this process calls it (a fork sweeps again: its id differs)."""
    if os.getpid() in _SWEPT:
        return
    _SWEPT.add(os.getpid())
    for line in sweep_scratch():
        if log is not None:
            log(f"[scratch] {line}")
