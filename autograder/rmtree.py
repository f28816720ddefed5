"""Remove a folder tree that a sandboxed kernel could write, whatever it holds.

``remove_tree(path)`` is iterative and works on file descriptors, never on path strings
below ``path``: no recursion limit (a chain of 100,000 nested folders is fine: ``shutil.rmtree``
raises RecursionError at about 1,000), no PATH_MAX limit, and a bounded number of open
descriptors (two), so depth costs nothing but time. Links are never followed (a link
to ``/`` is removed as a link), nothing on another file system (a mount point) is entered,
and folders the sandbox made unreadable (mode 000) are made readable first, so a grader
that is the owner (an ordinary user) or root can always remove what its kernel left.

How: each folder is opened with ``O_NOFOLLOW`` relative to its parent's descriptor; its
files are unlinked and its subfolders are renamed up into the top folder, then it is
removed. The tree gets flatter instead of deeper, so only the top folder's descriptor
and one other are ever open.

It returns what could not be removed (empty when ``path`` is gone); the caller logs it.
"""
from __future__ import annotations

import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _chmod_dir(name: str, dir_fd: int) -> None:
    """Give the owner rwx on folder ``name`` in ``dir_fd`` (never on what a link points to)."""
    pfd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.chmod(f"/proc/self/fd/{pfd}", 0o700)  # the folder itself: O_NOFOLLOW made sure
    finally:
        os.close(pfd)


def _open_dir(name: str, dir_fd: int) -> int:
    """Open folder ``name`` in ``dir_fd`` without following a link; chmod it when unreadable."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        _chmod_dir(name, dir_fd)
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _make_writable(fd: int) -> None:
    mode = os.fstat(fd).st_mode
    if mode & 0o700 != 0o700:
        try:
            os.fchmod(fd, stat.S_IMODE(mode) | 0o700)
        except OSError:
            pass


def remove_tree(path, max_passes: int = 3) -> list[str]:
    """Remove ``path`` and everything below it (see module doc); returns the problems met."""
    path = os.path.abspath(os.fspath(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return []
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return []
    parent, base = os.path.split(path)
    problems: list[str] = []
    pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        top = _open_dir(base, pfd)
        try:
            _empty_top(top, problems, max_passes)
        finally:
            os.close(top)
        try:
            os.rmdir(base, dir_fd=pfd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
    finally:
        os.close(pfd)
    if os.path.lexists(path) and not problems:
        problems.append(f"{path} still exists")
    return problems


def _empty_top(top: int, problems: list[str], max_passes: int) -> None:
    _make_writable(top)
    device = os.fstat(top).st_dev
    counter = 0
    retries: dict[str, int] = {}

    def hoist_name() -> str:
        nonlocal counter
        while True:
            counter += 1
            name = f".dlcourse-rm-{counter}"
            try:
                os.stat(name, dir_fd=top, follow_symlinks=False)
            except FileNotFoundError:
                return name

    queue: list[str | None] = [None]  # None: the top folder itself; names: folders in it
    while queue:
        name = queue.pop()
        try:
            fd = top if name is None else _open_dir(name, top)
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{name}: cannot open ({exc.strerror})")
            continue
        try:
            if os.fstat(fd).st_dev != device:
                problems.append(f"{name}: on another file system; not entered")
                continue
            _make_writable(fd)
            with os.scandir(fd) as it:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
            for entry, is_dir in entries:
                if not is_dir:
                    try:
                        os.unlink(entry, dir_fd=fd)
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        problems.append(f"{entry}: cannot unlink ({exc.strerror})")
                    continue
                if os.stat(entry, dir_fd=fd, follow_symlinks=False).st_dev != device:
                    problems.append(f"{entry}: a mount point; not entered")
                    continue
                if name is None:
                    queue.append(entry)  # already in the top folder
                    continue
                new = hoist_name()
                try:
                    try:
                        os.rename(entry, new, src_dir_fd=fd, dst_dir_fd=top)
                    except PermissionError:  # moving a folder rewrites its "..": it must be writable
                        _chmod_dir(entry, fd)
                        os.rename(entry, new, src_dir_fd=fd, dst_dir_fd=top)
                except OSError as exc:
                    problems.append(f"{entry}: cannot move ({exc.strerror})")
                    continue
                queue.append(new)
        finally:
            if fd != top:
                os.close(fd)
        if name is not None:
            try:
                os.rmdir(name, dir_fd=top)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and retries.get(name, 0) < max_passes:
                    retries[name] = retries.get(name, 0) + 1
                    queue.append(name)  # something appeared meanwhile: empty it again
                else:
                    problems.append(f"{name}: cannot remove ({exc.strerror})")
