"""Are the scratch folders of a grading process killed outright removed later, and nothing else?

A child process makes a scratch folder as the grader does (``make_scratch``), fills it as a
kernel might (a folder it made unreadable, a link out of it) and kills itself with SIGKILL;
``sweep_scratch`` must remove that folder, without following the link, and keep the folders
of live processes, of other hosts, without an owner record, or whose record is a link.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder import scratch
from autograder.scratch import OWNER, make_scratch, orphaned, start_time, sweep_scratch

KILLED_CHILD = """
import os, signal, sys
from pathlib import Path
from autograder.scratch import make_scratch
path = make_scratch(sys.argv[1])
(path / "work" / "deep").mkdir(parents=True)
(path / "work" / "deep" / "answer.txt").write_text("42")
os.chmod(path / "work" / "deep", 0)
os.symlink(sys.argv[2], path / "work" / "outside")
print(path, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def tmp(tmp_path, monkeypatch):
    """The temporary folder of this test (the grader's /tmp), for this process and its children."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def killed_grader(tmp: Path, prefix: str, outside: Path) -> Path:
    from course import ROOT

    proc = subprocess.run([sys.executable, "-c", KILLED_CHILD, prefix, str(outside)], capture_output=True,
                          text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    path = Path(proc.stdout.strip())
    assert path.parent == tmp and path.is_dir()
    return path


def test_a_killed_graders_folders_are_removed_and_nothing_else(tmp):
    outside = tmp / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the sweep's")
    dead = [killed_grader(tmp, prefix, outside) for prefix in scratch.PREFIXES]
    live = make_scratch("dlcourse-task-")
    record = json.loads((live / OWNER).read_text())
    assert record == {"host": socket.gethostname(), "pid": os.getpid(), "start": start_time(os.getpid())}
    assert oct(live.stat().st_mode & 0o777) == "0o700"
    other_host = make_scratch("dlcourse-sandbox-")
    (other_host / OWNER).write_text(json.dumps({**record, "host": "another-container"}))
    reused = make_scratch("dlcourse-sandbox-")  # this process's id, but another process's start time
    (reused / OWNER).write_text(json.dumps({**record, "start": "1"}))
    no_record = tmp / "dlcourse-task-older"
    no_record.mkdir()
    linked_record = make_scratch("dlcourse-task-")
    (linked_record / OWNER).unlink()
    dead_record = dead[0] / OWNER
    os.symlink(dead_record, linked_record / OWNER)  # a record that is a link is not read
    not_ours = tmp / "unrelated-dir"
    not_ours.mkdir()

    assert [orphaned(str(p)) for p in (*dead, live, other_host, reused, no_record, linked_record)] == [
        True, True, True, False, False, True, False, False]
    lines = sweep_scratch(tmp)
    assert sorted(lines) == sorted(f"removed {p}, left by a grader that died" for p in (*dead, reused))
    assert not any(p.exists() for p in (*dead, reused))
    assert all(p.is_dir() for p in (live, other_host, no_record, linked_record, not_ours))
    assert (outside / "keep.txt").read_text() == "not the sweep's"  # the link was not followed
    assert sweep_scratch(tmp) == []


def test_sweep_once_sweeps_once_per_process(tmp, monkeypatch):
    outside = tmp / "o"
    outside.mkdir()
    monkeypatch.setattr(scratch, "_SWEPT", set())
    first = killed_grader(tmp, "dlcourse-task-", outside)
    lines = []
    scratch.sweep_once(lines.append)
    assert lines == [f"[scratch] removed {first}, left by a grader that died"] and not first.exists()
    second = killed_grader(tmp, "dlcourse-task-", outside)
    scratch.sweep_once(lines.append)
    assert len(lines) == 1 and second.exists()  # swept already in this process
