"""Draw every figure of the book: run ``make(outdir)`` of each module in book/figures/.

Usage: ``python book/figures/make_all.py [--force] [OUTDIR]`` (default OUTDIR:
book/figures/generated). Each module ``book/figures/<topic>.py`` defines
``make(outdir: Path) -> list[Path]``. The output folder is generated (not committed);
chapters refer to its PNG files as ``figures/generated/<file>.png``.

A script whose source is unchanged since it last drew its files into OUTDIR, and whose
files are all still there, is not run again (the log says "cached"); ``--force`` redraws
everything. A fresh checkout (CI) always draws every figure.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTDIR = HERE / "generated"
SKIP = {"__init__", "make_all"}


def figure_modules(folder: Path = HERE) -> list[Path]:
    """The figure scripts of the book, sorted by name."""
    return sorted(p for p in folder.glob("*.py") if p.stem not in SKIP)


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"book_figures_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stamp(outdir: Path, script: Path) -> Path:
    return outdir / ".stamps" / f"{script.stem}.json"


def _cached(outdir: Path, script: Path, digest: str) -> list[Path] | None:
    """The files a script drew earlier, if its source is unchanged and they all exist."""
    try:
        stamp = json.loads(_stamp(outdir, script).read_text())
    except (OSError, ValueError):
        return None
    files = [outdir / name for name in stamp.get("files", [])]
    if stamp.get("sha256") != digest or not files or not all(f.is_file() for f in files):
        return None
    return files


def make_all(outdir: Path = OUTDIR, force: bool = False, log=print) -> list[Path]:
    """Run every figure script; return all written files. Fails if a script writes nothing."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # no display needed, ever
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for path in figure_modules():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files = None if force else _cached(outdir, path, digest)
        if files is not None:
            log(f"figures: {path.name} -> {len(files)} PNG cached (script unchanged)")
            written += files
            continue
        start = time.perf_counter()
        files = [Path(f).resolve() for f in _load(path).make(outdir)]
        missing = [f for f in files if not f.is_file()]
        outside = [f for f in files if f.parent != outdir]
        if not files or missing or outside:
            raise RuntimeError(f"{path.name}: make() wrote no file, or lost or misplaced some: "
                               f"{missing + outside}")
        _stamp(outdir, path).parent.mkdir(exist_ok=True)
        _stamp(outdir, path).write_text(json.dumps({"sha256": digest, "files": [f.name for f in files]}))
        log(f"figures: {path.name} -> {len(files)} PNG in {time.perf_counter() - start:.1f} s")
        written += files
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    force = "--force" in argv
    rest = [a for a in argv if a != "--force"]
    outdir = Path(rest[0]) if rest else OUTDIR
    files = make_all(outdir, force=force)
    print(f"figures: {len(files)} files in {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
