"""autograder.rmtree.remove_tree: any depth, links never followed, unreadable folders removed."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from autograder.rmtree import remove_tree


def _chain(top, depth: int, every: int = 0, link_to=None) -> None:
    """A chain of ``depth`` nested folders named "d" under ``top`` (built through descriptors)."""
    fd = os.open(top, os.O_RDONLY)
    for i in range(1, depth + 1):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
        if every and i % every == 0:
            os.close(os.open("file", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
            if link_to:
                os.symlink(str(link_to), "link", dir_fd=fd)
    os.chmod(f"/proc/self/fd/{fd}", 0)
    os.close(fd)


def test_a_100000_deep_chain(tmp_path):
    """shutil.rmtree gives up near 1,000 levels (RecursionError); remove_tree has no limit."""
    top = tmp_path / "scratch"
    top.mkdir()
    _chain(top, 100_000, every=10_000)
    with pytest.raises(RecursionError):
        shutil.rmtree(top)  # what the sandbox used before
    assert remove_tree(top) == []
    assert not os.path.lexists(top)


def test_links_are_removed_never_followed(tmp_path):
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep").write_text("x")
    top = tmp_path / "scratch"
    top.mkdir()
    os.symlink(canary, top / "to_dir")
    os.symlink(canary / "keep", top / "to_file")
    os.symlink("/", top / "to_root")
    _chain(top, 50, every=10, link_to=canary)
    assert remove_tree(top) == []
    assert not os.path.lexists(top)
    assert (canary / "keep").read_text() == "x"


def test_unreadable_folders_sockets_and_fifos(tmp_path):
    top = tmp_path / "scratch"
    (top / "locked" / "inner").mkdir(parents=True)
    (top / "locked" / "inner" / "f").write_text("x")
    os.chmod(top / "locked" / "inner", 0)
    os.chmod(top / "locked", 0)
    os.mkfifo(top / "fifo")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(top / "sock"))
    s.close()
    os.chmod(top, 0)
    assert remove_tree(top) == []
    assert not os.path.lexists(top)


def test_a_link_or_a_missing_path():
    assert remove_tree("/nonexistent/dlcourse-nothing") == []


def test_link_as_the_top(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("x")
    os.symlink(target, tmp_path / "top")
    assert remove_tree(tmp_path / "top") == []
    assert (target / "keep").exists() and not os.path.lexists(tmp_path / "top")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_an_ordinary_user_removes_what_its_kernel_made():
    """Grading as an ordinary user, the kernel's files are that user's: mode 000 folders too."""
    import tempfile
    from pathlib import Path

    home = Path(tempfile.mkdtemp(prefix="dlcourse-rmtree-test-", dir="/tmp"))
    os.chmod(home, 0o777)
    try:
        _as_nobody(home / "scratch")
    finally:
        remove_tree(home)


def _as_nobody(top):
    code = (f"import sys, os; sys.path.insert(0, {os.getcwd()!r}); from autograder.rmtree import remove_tree\n"
            f"os.mkdir({str(top)!r}); os.makedirs({str(top / 'a' / 'b')!r})\n"
            f"open({str(top / 'a' / 'b' / 'f')!r}, 'w').write('x')\n"
            f"os.chmod({str(top / 'a' / 'b')!r}, 0); os.chmod({str(top / 'a')!r}, 0)\n"
            f"print(remove_tree({str(top)!r}))\n")
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60)
    if "Permission denied" in proc.stderr and "python" in proc.stderr.lower():
        pytest.skip("this Python cannot run as uid 65534 here")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert not os.path.lexists(top)
