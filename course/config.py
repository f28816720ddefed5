"""Course settings (course.toml), the list of assignments, and how to run nbgrader."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from course import ROOT


def settings(root: Path = ROOT) -> dict:
    with open(Path(root) / "course.toml", "rb") as f:
        return tomllib.load(f)


def assignments(root: Path = ROOT) -> list[str]:
    """Assignment ids: folders of source/ holding at least one notebook, sorted."""
    src = Path(root) / "source"
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def notebooks(root: Path, step: str, assignment: str) -> list[Path]:
    return sorted((Path(root) / step / assignment).glob("*.ipynb"))


def tool_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's environment) with this Python environment's bin
    folder first on PATH, for every tool the course starts by name (nbgrader, which itself
    runs ``alembic`` by name, jupyter-book). The one place PATH is set; nothing edits
    this process's own environment (``course.gradebook.open_gradebook`` lends it to
    nbgrader for the moment it creates a gradebook)."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def kernel_env(root: Path = ROOT, grading: bool = False) -> dict:
    """Environment for nbgrader and for the unsandboxed kernels of trusted notebooks.

    PYTHONPATH puts ``autograder`` within reach of the hidden-test cells of the source
    notebooks (``course answers``, ``course execute``); IPYTHONDIR loads their memory cap;
    MPLBACKEND keeps plots off screen. Grading kernels get none of this: they run in the
    sandbox with an environment of their own (autograder/sandbox.py).
    """
    env = tool_env()
    root = Path(root)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    env["MPLBACKEND"] = "Agg"
    env["IPYTHONDIR"] = str(root / "autograder" / "ipython")
    env.setdefault("PYTHONHASHSEED", "0")
    if grading:
        env["NBGRADER_EXECUTION"] = "autograde"
        env["DLCOURSE_OFFLINE"] = "1"  # grading never downloads: skip the network probes
        # One BLAS/OpenMP thread per kernel: multi-threaded OpenBLAS is 10-100x slower when
        # the CPU is oversubscribed (several graders), and one thread loses little alone.
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["OMP_NUM_THREADS"] = "1"
        env["COURSE_KERNEL_MEMORY_MIB"] = str(settings(root)["grading"]["kernel_memory_mib"])
    return env


def log(stage: str, message: str) -> None:
    print(f"[{stage}] {message}", flush=True)


def run_nbgrader(root: Path, args: list[str], logfile: Path | None = None, check: bool = True,
                 timeout: float | None = None, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in the course root; its log goes to ``logfile``.

    With ``timeout``, nbgrader's whole process group is killed when it runs longer
    (subprocess.TimeoutExpired is raised after the log is written).
    """
    root = Path(root)
    cmd = [sys.executable, "-m", "nbgrader", *args]
    env = kernel_env(root, grading=args[0] == "autograde")
    env.update(extra_env or {})
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        _write_log(logfile, args, out, err + f"\n[killed after {timeout} s]\n")
        raise
    proc = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    _write_log(logfile, args, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def _write_log(logfile: Path | None, args: list[str], out: str, err: str) -> None:
    if logfile is not None:
        logfile.parent.mkdir(parents=True, exist_ok=True)
        with open(logfile, "a") as f:
            f.write(f"$ nbgrader {' '.join(args)}\n{out}{err}\n")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def prepare_offline_data() -> None:
    """Make the generated offline data before any kernel needs it.

    The first notebook that loads the captioning data (or the acceptability corpus, or the
    CIFAR-10 stand-in) would otherwise generate it inside a cell, which can take longer than
    a grading cell's timeout on a busy machine, and grading kernels see the data read-only.
    """
    from dlcourse.data.cola import ensure_offline_cola
    from dlcourse.data.offline_coco import ensure_offline_coco
    from dlcourse.data.paths import data_root

    ensure_offline_coco()
    ensure_offline_cola()
    # dlcourse.data.cifar imports torchvision: 1 to 2 s in the preflight of every grading run,
    # before any task starts. It is imported only when the stand-in's completion marker (what
    # ensure_offline_cifar10 checks; tests/pipeline/test_bench_tools.py holds the names to it)
    # is missing.
    if not (data_root() / "cifar10_offline" / "cifar-10-batches-py" / "OFFLINE_STAND_IN.txt").exists():
        from dlcourse.data.cifar import ensure_offline_cifar10

        ensure_offline_cifar10()
