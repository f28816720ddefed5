"""One grading run at a time: a lock on the course that a dead run does not leave behind.

``autograde`` and ``collect`` (and the feedback of a class) both write the class's shared
folders (submitted/, autograded/ and their staging folders, build/grading/) and the
gradebook; two at once would race. ``course_lock(root, "autograde")`` takes an exclusive
``flock`` on ``build/grading/run.lock``; a second run finds it held and stops with
``CourseBusy``, whose message names the running command, its process, host and start
time. The kernel releases a ``flock`` when its holder exits, however it exits (SIGKILL
included), so there is nothing stale to clean up: the file's content is only the last
holder's description.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path


class CourseBusy(RuntimeError):
    """Another run holds the course's lock; the message says which."""


def lock_path(root: Path) -> Path:
    return Path(root) / "build" / "grading" / "run.lock"


@contextmanager
def course_lock(root: Path, command: str):
    """Hold the course's run lock while the block runs (``CourseBusy`` if another run holds it)."""
    path = lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CourseBusy(f"another run is grading this course: {describe_holder(fd)}; wait for it to "
                             f"finish (or stop it), then run this command again") from None
        holder = {"command": command, "pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "argv": " ".join(sys.argv)[:300]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield holder
    finally:
        os.close(fd)  # releases the flock


def describe_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "a run that has not described itself yet"
    return (f"`{holder.get('command', '?')}` (process {holder.get('pid', '?')} on {holder.get('host', '?')}, "
            f"started {holder.get('started', '?')})")
