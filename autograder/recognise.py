"""Which submitted file is which notebook: recognised by content, not by name.

Students hand in what their editor produced: Colab's "Copy of captioning.ipynb", a
browser's "captioning (1).ipynb", a zip holding the notebook, sometimes another
assignment's notebook. nbgrader grades ``<notebook>.ipynb`` by name, so a correct
notebook under another name would be graded as missing. ``recognise`` looks at every
notebook of a submission (and every notebook inside a zip in it) and decides, by the
release's nbgrader grade ids and locked cell sources, which release notebook each one is:

- a notebook already under its release name is kept;
- otherwise the one candidate recognised as a release notebook takes that name, with a
  note naming the file it came from;
- two or more candidates for one notebook: the one under the release name, else the one
  most like the release, else the first by name, is graded; the note names them all and
  says how the instructor chooses another (keep only that file in the folder);
- a notebook recognised as another assignment's is not graded here, with a note saying
  where it belongs; one recognised as nothing is left out with a note.

Only bytes are read here (the submission was read by ``autograder.submission``); zips
are opened in memory with bounds on members and sizes, and nothing is extracted to disk.
"""
from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path, PurePosixPath

from autograder.repair import _norm
from autograder.submission import MAX_RAW_NOTEBOOK_BYTES, safe_text, strip_outputs

MAX_ZIP_MEMBERS = 200  # members of one zip looked at
MAX_ZIP_TOTAL = 2 * MAX_RAW_NOTEBOOK_BYTES  # uncompressed bytes read from one zip
RECOGNISED = 0.5  # share of a release notebook's grade ids and locked cells a candidate must hold


@dataclasses.dataclass(frozen=True)
class Signature:
    """What identifies a release notebook: its grade ids and its locked cells' sources."""

    assignment: str
    notebook: str  # file name, e.g. "captioning.ipynb"
    grade_ids: frozenset
    locked: frozenset

    @property
    def size(self) -> int:
        return len(self.grade_ids) + len(self.locked)


def _cells(nb) -> list:
    """The cell dicts of a notebook (nbformat 4, or the first worksheet of nbformat 3)."""
    if not isinstance(nb, dict):
        return []
    cells = nb.get("cells")
    worksheets = nb.get("worksheets")
    if not isinstance(cells, list) and isinstance(worksheets, list) and worksheets and isinstance(worksheets[0], dict):
        cells = worksheets[0].get("cells")
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def _source(cell) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _meta(cell) -> dict:
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def signature(path: Path, assignment: str) -> Signature:
    nb = json.loads(Path(path).read_text())
    gids, locked = set(), set()
    for cell in _cells(nb):
        meta = _meta(cell)
        if isinstance(meta.get("grade_id"), str):
            gids.add(meta["grade_id"])
        if meta.get("locked") and not meta.get("solution"):
            text = _norm(_source(cell))
            if text:
                locked.add(text)
    return Signature(assignment, Path(path).name, frozenset(gids), frozenset(locked))


def release_signatures(assignments_dir: Path) -> list[Signature]:
    """Signatures of every release notebook of every assignment in ``assignments_dir``."""
    out = []
    for folder in sorted(Path(assignments_dir).iterdir()) if Path(assignments_dir).is_dir() else []:
        if folder.is_dir() and not folder.is_symlink():
            for nb in sorted(folder.glob("*.ipynb")):
                out.append(signature(nb, folder.name))
    return out


def _candidate(raw: bytes):
    """(grade ids, normalised sources) of a notebook's bytes; None if it is not a notebook."""
    try:
        nb = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    cells = _cells(nb)
    if not cells:
        return None
    gids = {_meta(c).get("grade_id") for c in cells}
    gids = {g for g in gids if isinstance(g, str)}
    return gids, {_norm(_source(c)) for c in cells}


def best_match(raw: bytes, signatures: list[Signature]):
    """(score in [0, 1], the release notebook it is most like) or (0, None)."""
    found = _candidate(raw)
    if found is None:
        return 0.0, None
    gids, sources = found
    best, best_score = None, 0.0
    for sig in signatures:
        if not sig.size:
            continue
        score = (len(sig.grade_ids & gids) + len(sig.locked & sources)) / sig.size
        if score > best_score:
            best, best_score = sig, score
    return best_score, best


def classify(raw: bytes, signatures: list[Signature], assignment: str) -> tuple[str, str]:
    """("ours" | "foreign" | "unrecognised" | "corrupt", detail) for a notebook's bytes.

    "foreign": at least RECOGNISED like another assignment's release notebook, and more
    like it than like any of ``assignment``'s; "ours": anything of ``assignment``'s in it.
    """
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "corrupt", "not UTF-8 text"
    except (ValueError, RecursionError) as exc:
        return "corrupt", f"not JSON ({type(exc).__name__})"
    if not isinstance(nb, dict) or not (isinstance(nb.get("cells"), list) or isinstance(nb.get("worksheets"), list)):
        return "corrupt", "JSON but not a notebook (no cells)"
    cells = _cells(nb)
    gids = {g for g in (_meta(c).get("grade_id") for c in cells) if isinstance(g, str)}
    sources = {_norm(_source(c)) for c in cells}
    ours, other, other_name = 0.0, 0.0, ""
    for sig in signatures:
        if not sig.size:
            continue
        score = (len(sig.grade_ids & gids) + len(sig.locked & sources)) / sig.size
        if sig.assignment == assignment:
            ours = max(ours, score)
        elif score > other:
            other, other_name = score, f"{sig.assignment} ({sig.notebook})"
    if other >= RECOGNISED and other > ours:
        return "foreign", other_name
    if ours > 0:
        return "ours", ""
    return "unrecognised", ""


def _zip_notebooks(name: str, data: bytes, notes: list) -> dict:
    """{"<zip>/<member>": bytes} of the notebooks in a zip, read in memory within bounds."""
    out = {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError):
        notes.append(f"{safe_text(name)}: not a readable zip; not graded")
        return out
    total = 0
    for info in members[:MAX_ZIP_MEMBERS]:
        member = PurePosixPath(info.filename)
        if info.is_dir() or member.suffix != ".ipynb" or "__MACOSX" in member.parts:
            continue
        if info.file_size > MAX_RAW_NOTEBOOK_BYTES or total + info.file_size > MAX_ZIP_TOTAL:
            notes.append(f"{safe_text(name)}/{safe_text(info.filename)}: too large; not read")
            continue
        try:
            with archive.open(info) as f:
                raw = f.read(MAX_RAW_NOTEBOOK_BYTES + 1)
        except Exception:  # encrypted, corrupt, unsupported compression
            notes.append(f"{safe_text(name)}/{safe_text(info.filename)}: could not be read from the zip")
            continue
        if len(raw) > MAX_RAW_NOTEBOOK_BYTES:
            continue
        total += len(raw)
        out[f"{name}/{info.filename}"] = strip_outputs(raw)
    if len(members) > MAX_ZIP_MEMBERS:
        notes.append(f"{safe_text(name)}: more than {MAX_ZIP_MEMBERS} members; the rest was not read")
    return out


def recognise(files: dict, assignment: str, signatures: list[Signature]) -> tuple[dict, list[str]]:
    """``files`` ({relative path: bytes}) with each recognised notebook under its release name.

    Returns the new mapping (other files unchanged; a notebook that was renamed, or that is
    another assignment's, is not kept under its old name) and the notes.
    """
    ours = [s for s in signatures if s.assignment == assignment]
    names = {s.notebook for s in ours}
    notes: list[str] = []
    candidates = {}
    for rel, data in files.items():
        if rel.endswith(".ipynb"):
            candidates[rel] = data
        elif rel.lower().endswith(".zip"):
            candidates.update(_zip_notebooks(rel, data, notes))
    wanted: dict[str, list] = {name: [] for name in names}
    out = {rel: data for rel, data in files.items() if not rel.endswith(".ipynb")}
    for rel, data in candidates.items():
        score, sig = best_match(data, signatures)
        shown = safe_text(rel)
        if sig is not None and sig.assignment == assignment and score >= RECOGNISED / 2:
            wanted[sig.notebook].append((rel == sig.notebook, score, rel, data))
        elif sig is not None and score >= RECOGNISED:
            notes.append(f"{shown}: a notebook of assignment '{sig.assignment}' ({sig.notebook}), not of "
                         f"'{assignment}'; not graded here (collect it into that assignment's folder)")
        elif rel in names:  # under a release name but unlike it: intake grades it as it is
            wanted[rel].append((True, score, rel, data))
        else:
            if "/" not in rel or not rel.split("/", 1)[0].lower().endswith(".zip"):
                out[rel] = data  # an extra notebook of the student's own: kept, not graded
            notes.append(f"{shown}: not recognised as a notebook of this assignment; not graded")
    for name in sorted(wanted):
        found = sorted(wanted[name], key=lambda c: (not c[0], -c[1], c[2]))
        if not found:
            continue
        exact, _, rel, data = found[0]
        out[name] = data
        if len(found) > 1:
            others = ", ".join(safe_text(c[2]) for c in found[1:])
            notes.append(f"{len(found)} candidates for {name}: graded '{safe_text(rel)}', not {others} "
                         f"(to grade another, keep only it in the submission folder)")
        elif not exact:
            notes.append(f"{safe_text(rel)}: recognised by its content as {name}; graded as {name}")
    return out, notes
