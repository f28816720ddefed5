"""Stage `book`: book/ + assignments/ -> _build/html (the course website).

1. figures: runs every book/figures/<topic>.py (``make(outdir)``) into
   book/figures/generated/, with matplotlib's Agg backend (a script whose source is
   unchanged since its last run is skipped and logged as cached; --force-figures redraws);
2. sphinx: ``jupyter-book build <root> --all --warningiserror --keep-going`` with the
   jupyter-book of this environment; notebooks are rendered as released, never executed
   (``execute_notebooks: "off"`` in _config.yml), and nothing is fetched from the network;
3. wheel: the helper package as a wheel in <site>/downloads/ (course/wheel.py), which
   the setup cells install when the public repository cannot be reached;
4. returns the folder of the site, <root>/_build/html.

A warning fails the build (after Sphinx has reported all of them); the log is kept in
<root>/_build/book.log and its tail is part of the error.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from course import ROOT
from course import wheel as helper_wheel
from course.config import log, tool_env


class BookBuildError(RuntimeError):
    """The book did not build cleanly; the message ends with the tail of the log."""


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _env() -> dict:
    env = tool_env()  # the jupyter-book found is this environment's
    env["MPLBACKEND"] = "Agg"  # figure scripts never need a display
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def jupyter_book_command() -> list[str]:
    """The jupyter-book executable of the running Python environment."""
    exe = Path(sys.executable).parent / "jupyter-book"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    raise BookBuildError("jupyter-book is not installed in this environment (see requirements.txt)")


def make_figures(root: Path, force: bool = False) -> float:
    """Run book/figures/make_all.py of ``root``; return its wall time in seconds.

    Scripts whose source is unchanged since they last drew their files are not rerun
    (make_all logs them as cached) unless ``force``.
    """
    start = time.perf_counter()
    script = Path(root) / "book" / "figures" / "make_all.py"
    cmd = [sys.executable, str(script)] + (["--force"] if force else [])
    proc = subprocess.run(cmd, cwd=root, env=_env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BookBuildError(f"figure scripts failed (exit {proc.returncode}):\n"
                             + _tail(proc.stdout + proc.stderr))
    for line in proc.stdout.splitlines():
        log("book", line)
    return time.perf_counter() - start


def run_sphinx(root: Path) -> tuple[Path, float]:
    """Build the html site of ``root`` with warnings as errors; return (html dir, seconds)."""
    root = Path(root)
    build = root / "_build"
    build.mkdir(exist_ok=True)
    cmd = jupyter_book_command() + ["build", str(root), "--builder", "html", "--all",
                                    "--warningiserror", "--keep-going"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    logfile = build / "book.log"
    logfile.write_text(output)
    html = build / "html"
    if proc.returncode != 0 or not (html / "index.html").is_file():
        raise BookBuildError(f"jupyter-book build failed (exit {proc.returncode}); "
                             f"full log in {logfile}:\n{_tail(output)}")
    return html, seconds


def build(root: Path = ROOT, force_figures: bool = False) -> Path:
    """Draw the figures and build the site of ``root``; return <root>/_build/html."""
    root = Path(root).resolve()
    start = time.perf_counter()
    log("book", "figures: book/figures/*.py -> book/figures/generated/")
    fig_s = make_figures(root, force=force_figures)
    log("book", f"figures done in {fig_s:.1f} s")
    log("book", "sphinx: jupyter-book build (warnings are errors, notebooks not executed)")
    html, sphinx_s = run_sphinx(root)
    log("book", f"sphinx done in {sphinx_s:.1f} s")
    try:
        wheel = helper_wheel.build(root, html)
    except RuntimeError as exc:
        raise BookBuildError(str(exc)) from exc
    log("book", f"helper package: {wheel.relative_to(html)}")
    log("book", f"site: {html} (built in {time.perf_counter() - start:.1f} s)")
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course book", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="course repository (default: this one)")
    parser.add_argument("--force-figures", action="store_true",
                        help="redraw every figure, even those whose script is unchanged")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        build(args.root, force_figures=args.force_figures)
    except BookBuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
