"""Stage `execute`: run a notebook top to bottom in a fresh kernel and time it.

``python -m course execute <assignment> [--fast] [--step source|solutions]`` writes the
executed copy to build/executed/<step>/<assignment>/ and prints the wall time; without
--fast the heavy cells run in full (training included), as a student would run them.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course import ROOT
from course.config import kernel_env, log, notebooks


@contextlib.contextmanager
def environment(env: dict):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute_notebook(path: Path, root: Path = ROOT, fast: bool = True, timeout: int = 1800,
                     allow_errors: bool = False, sandbox: bool = False):
    """Execute ``path`` with cwd = its folder; returns (executed notebook, seconds).

    ``sandbox``: in the grading sandbox (autograder/sandbox.py), as autograding runs it.
    """
    nb = nbformat.read(str(path), as_version=4)
    env = kernel_env(root, grading=False)
    env.pop("NBGRADER_EXECUTION", None)
    if fast:  # exactly the environment of a grading kernel
        env = kernel_env(root, grading=True)
    extra = {}
    if sandbox:
        from autograder.sandbox import SandboxKernelManager

        extra["kernel_manager_class"] = SandboxKernelManager
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(Path(path).parent)}}, **extra)
    start = time.perf_counter()
    with environment(env):
        client.execute()
    return nb, time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course execute")
    parser.add_argument("assignment")
    parser.add_argument("--fast", action="store_true", help="set NBGRADER_EXECUTION (shortened run)")
    parser.add_argument("--step", default="solutions", choices=["source", "solutions", "assignments"])
    args = parser.parse_args(argv)
    out_dir = ROOT / "build" / "executed" / args.step / args.assignment
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in notebooks(ROOT, args.step, args.assignment):
        try:
            nb, seconds = execute_notebook(path, fast=args.fast)
        except CellExecutionError as exc:
            log("execute", f"{path.relative_to(ROOT)} failed: {str(exc)[:2000]}")
            return 1
        nbformat.write(nb, str(out_dir / path.name))
        log("execute", f"{path.relative_to(ROOT)}: {seconds:.1f} s ({'fast' if args.fast else 'full'}) -> {out_dir / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
