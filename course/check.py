"""Stage `check`: the leak check and the drift check.

Leak check (``python -m course check --leaks [DIR ...]``): nothing instructor-only may
appear where students or readers look (the release, the helper package, the built book,
the public tree; and feedback, where a student's own code may of course equal the
solution but nothing else may leak). What counts as instructor-only:

- every line inside a solution region, a hidden-test region or a mark scheme of a
  source notebook, and every reference answer of a written question;
- every line of the hidden-test cases (autograder/cases/), which build the hidden inputs;
- the answer files and the course key, by name and by content;
- the nbgrader region markers themselves.

Lines that also stand in the public part of a source notebook (stubs, signatures,
provided code) are public by construction and are not searched for; short lines (under
20 characters once spaces are folded) are too common to mean anything.

Drift check (``--drift``): release, solutions and answers are regenerated in a scratch
copy of the repository and compared with the committed ones.
"""
from __future__ import annotations

import argparse
import html
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

from course import ROOT
from course.config import assignments, log

MIN_LEN = 20
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME", "autograder.probe", "DLCOURSE-SEALED")
TEXT_SUFFIXES = {".ipynb", ".html", ".htm", ".py", ".md", ".txt", ".json", ".js", ".css", ".toml",
                 ".yml", ".yaml", ".cfg", ".csv", ".tex", ".xml", ".rst", ""}
REGIONS = [("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"),
           ("BEGIN MARK SCHEME", "END MARK SCHEME")]


def norm(line: str) -> str:
    return " ".join(line.split())


def split_regions(source: str, solutions: bool = True) -> tuple[list[str], list[str]]:
    """(public lines, secret lines) of one cell source (solution regions count as
    secret unless ``solutions`` is False, when they are neither)."""
    public, secret, inside = [], [], None
    regions = REGIONS if solutions else REGIONS[1:]
    solution_lines = _solution_lines(source) if not solutions else set()
    for line in source.splitlines():
        if inside is None:
            if not solutions and ("BEGIN SOLUTION" in line or "END SOLUTION" in line):
                continue
            for begin, end in regions:
                if begin in line:
                    inside = end
                    break
            else:
                public.append(line)
        elif inside in line:
            inside = None
        else:
            secret.append(line)
    if not solutions:  # lines of solution regions are neither public nor secret
        public = [x for x in public if x not in solution_lines]
    return public, secret


def _solution_lines(source: str) -> set[str]:
    lines, inside = set(), False
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line:
            inside = True
        elif "END SOLUTION" in line:
            inside = False
        elif inside:
            lines.add(line)
    return lines


def secrets(root: Path = ROOT, solutions: bool = True) -> dict[str, str]:
    """{normalised secret line: where it comes from}.

    ``solutions=False`` leaves out solution regions and reference answers: feedback shows
    students their own code, which for a correct submission is the solution.
    """
    root = Path(root)
    public, found, solution_lines = set(), {}, set()
    for nb_path in sorted((root / "source").glob("*/*.ipynb")):
        nb = nbformat.read(str(nb_path), as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            solution_lines.update(norm(x) for x in _solution_lines(cell.source))
            pub, sec = split_regions(cell.source, solutions)
            if cell.cell_type == "markdown" and meta.get("solution"):
                sec, pub = (cell.source.splitlines() if solutions else []), []  # the whole reference answer
            public.update(norm(x) for x in pub)
            for line in sec:
                found.setdefault(norm(line), f"{nb_path.relative_to(root)} ({meta.get('grade_id', '?')})")
    for case_file in sorted((root / "autograder" / "cases").glob("*.py")):
        if case_file.name == "__init__.py":
            continue
        for line in case_file.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("#", "import ", "from ", '"""', "@case")) or not stripped:
                continue
            found.setdefault(norm(line), f"{case_file.relative_to(root)}")
    if not solutions:  # a student's own code may match any solution line, in any notebook
        public |= solution_lines
    return {line: where for line, where in found.items() if len(line) >= MIN_LEN and line not in public}


def text_lines(path: Path, raw: str | None = None) -> list[str]:
    """The lines a reader of ``path`` sees (notebook sources and outputs, HTML text).

    ``raw``: the file's text when it does not come from disk (a member of an archive).
    """
    raw = path.read_text(errors="replace") if raw is None else raw
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            return raw.splitlines()
        if not isinstance(nb, dict) or not isinstance(nb.get("cells", []), list):
            return raw.splitlines()  # JSON, but not a notebook: searched as text
        chunks = []
        for cell in nb.get("cells", []):
            if not isinstance(cell, dict):
                chunks.append(_text(cell))
                continue
            chunks.append(_text(cell.get("source", "")))
            outputs = cell.get("outputs", [])
            for out in outputs if isinstance(outputs, list) else [outputs]:
                if not isinstance(out, dict):
                    chunks.append(_text(out))
                    continue
                chunks.append(_text(out.get("text", "")))
                data = out.get("data", {})
                for value in data.values() if isinstance(data, dict) else [data]:
                    chunks.append(_text(value) if isinstance(value, list) else _json(value))
                traceback = out.get("traceback", [])
                chunks.extend(_text(x) for x in (traceback if isinstance(traceback, list) else [traceback]))
        raw = "\n".join(chunks)
    elif path.suffix in (".html", ".htm"):
        raw = html.unescape(strip_tags(raw))
    return raw.splitlines()


def _text(value) -> str:
    """A notebook field as text: strings as they are, lists of strings joined, else JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return "".join(value)
    return _json(value)


def _json(value) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return str(value)


def strip_tags(raw: str) -> str:
    """``re.sub(r"<[^>]+>", "", raw)``, in linear time.

    That regular expression is quadratic on text with many ``<`` and no ``>`` after them
    (each ``<`` scans to the end). Same result: a ``<`` starts a tag that ends at the next
    ``>``, unless that ``>`` follows it at once; when no ``>`` follows, nothing more is a tag.
    """
    out, pos = [], 0
    while True:
        start = raw.find("<", pos)
        if start == -1:
            break
        end = raw.find(">", start + 1)
        if end == -1:
            break
        if end == start + 1:  # "<>": not a tag; the search goes on after the "<"
            out.append(raw[pos:start + 1])
            pos = start + 1
            continue
        out.append(raw[pos:start])
        pos = end + 1
    out.append(raw[pos:])
    return "".join(out)


ARCHIVES = {".whl", ".zip"}  # read member by member (the site serves the helper package as a wheel)


def _is_answer_file(path: Path) -> bool:
    return path.suffix == ".answers" or path.name == "answer.key"


def _documents(path: Path):
    """(name, lines a reader sees) for ``path``, or for each text member of an archive;
    lines is None for an answer file or the key. Binary and very large files are skipped."""
    if _is_answer_file(path):
        yield path, None
    elif path.suffix in ARCHIVES:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                inner = Path(member.filename)
                if _is_answer_file(inner):
                    yield Path(f"{path}!{member.filename}"), None
                elif inner.suffix in TEXT_SUFFIXES and member.file_size <= 20_000_000:
                    raw = archive.read(member).decode("utf-8", errors="replace")
                    yield Path(f"{path}!{member.filename}"), text_lines(inner, raw)
    elif path.suffix in TEXT_SUFFIXES and path.stat().st_size <= 20_000_000:
        yield path, text_lines(path)


def scan(paths: list[Path], root: Path = ROOT, feedback: bool = False) -> list[str]:
    """Leaks found under ``paths`` (files or folders), as readable lines.

    ``feedback=True`` is for students' own graded notebooks: their code may equal the
    solution, but hidden tests, hidden inputs, mark schemes and answers must not appear.
    """
    root = Path(root)
    secret = secrets(root, solutions=not feedback)
    markers = [m for m in MARKERS if not (feedback and "SOLUTION" in m)]
    key = (root / "autograder" / "answer.key").read_text().strip()
    problems = []
    for base in paths:
        base = Path(base)
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path, lines in (doc for f in files for doc in _documents(f)):
            if lines is None:
                problems.append(f"{path}: answer file or key")
                continue
            joined = "\n".join(lines)
            if key in joined:
                problems.append(f"{path}: contains the course answer key")
            for marker in markers:
                if marker in joined:
                    problems.append(f"{path}: contains the marker '{marker}'")
            for line in lines:
                n = norm(line)
                if n in secret:
                    problems.append(f"{path}: line from {secret[n]}: {n[:80]!r}")
    return problems


def leak_check(paths: list[Path], root: Path = ROOT, feedback: list[Path] = ()) -> list[str]:
    """Strict check over ``paths``; the feedback check (see ``scan``) over ``feedback``."""
    problems = scan(paths, root) + (scan(list(feedback), root, feedback=True) if feedback else [])
    paths = list(paths) + list(feedback)
    for p in problems:
        log("check", f"LEAK {p}")
    log("check", f"leak check over {', '.join(str(p) for p in paths)}: {len(problems)} problem(s)")
    return problems


def scratch_copy(root: Path, dest: Path) -> Path:
    """Copy the files git knows of (tracked and untracked, not ignored) to ``dest``."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = Path(root) / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def compare_answers(a_root: Path, b_root: Path, assignment: str, rtol: float = 1e-9) -> list[str]:
    from autograder.answer_store import load_answers
    from autograder.compare import rel_error

    a, b = load_answers(a_root, assignment), load_answers(b_root, assignment)
    problems = []
    if sorted(a) != sorted(b):
        problems.append(f"{assignment}: the answer files hold different cases")
    for cid in sorted(set(a) & set(b)):
        for name in a[cid]:
            x, y = a[cid][name], b[cid].get(name)
            if y is None or x.shape != y.shape or rel_error(x, y) > rtol:
                problems.append(f"{assignment}: answers of {cid}:{name} drifted")
    return problems


def drift_check(root: Path = ROOT, which: list[str] | None = None) -> list[str]:
    """Regenerate release, solutions and answers in a scratch copy; compare with ``root``."""
    from course.answers import make_answers
    from course.release import release

    root = Path(root)
    problems = []
    with tempfile.TemporaryDirectory(prefix="course-drift-") as tmp:
        copy = scratch_copy(root, Path(tmp))
        todo = which or assignments(root)
        release(copy, todo)
        for step in ("assignments", "solutions"):
            for path in sorted((copy / step).rglob("*")):
                if path.is_file() and (path.suffix == ".ipynb" or path.name == "README.md"):
                    rel = path.relative_to(copy)
                    mine = root / rel
                    if not mine.exists():
                        problems.append(f"{rel}: generated but not committed")
                    elif mine.read_bytes() != path.read_bytes():
                        problems.append(f"{rel}: committed copy differs from the regenerated one")
            for path in sorted((root / step).rglob("*.ipynb")):
                if not (copy / path.relative_to(root)).exists():
                    problems.append(f"{path.relative_to(root)}: committed but no longer generated")
        for assignment in todo:
            make_answers(copy, assignment)
            problems += compare_answers(root, copy, assignment)
    for p in problems:
        log("check", f"DRIFT {p}")
    log("check", f"drift check: {len(problems)} problem(s)")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course check")
    parser.add_argument("--leaks", nargs="*", metavar="DIR", help="leak check over DIRs (default: public/, feedback/, assignments/, package/, _build/html)")
    parser.add_argument("--drift", action="store_true", help="regenerate release, solutions and answers and compare")
    args = parser.parse_args(argv)
    failed = False
    if args.leaks is not None or not args.drift:
        dirs = [Path(d) for d in args.leaks] if args.leaks else [
            ROOT / d for d in ("public", "assignments", "package", "_build/html") if (ROOT / d).exists()]
        fb = [ROOT / "feedback"] if not args.leaks and (ROOT / "feedback").exists() else []
        failed |= bool(leak_check(dirs, ROOT, feedback=fb))
    if args.drift:
        failed |= bool(drift_check(ROOT))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
