"""The answer store: the sealed answer files, where they are, how they are written,
verified and read: ``autograder/answers/<assignment>.answers`` (sealed) and ``.json``
(how made).

The answers are the reference solution's outputs on every hidden case. They are written
only by ``python -m course answers`` (course/answers.py), which runs the source notebooks.
The ``.json`` file beside each answer file records how it was made: the command, the
hashes of the source notebooks, of the case module and of the probe, the library
versions, and the hash of the answers themselves. ``stale_reasons`` compares those
hashes with the current tree.

``autograder/answers/MANIFEST.sha256`` (``sha256sum`` format) lists the SHA-256 of every
answer and record file. ``verify_answers`` checks an assignment's files against it and
against the tree before any comparison: altered, missing or stale answers raise
``AnswersInvalid`` with the command that fixes them, so grading stops instead of giving a
class wrong grades.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from autograder.payload import decode_outputs
from autograder.sealed import seal, unseal

AUTOGRADER = Path(__file__).resolve().parent


def answers_dir(root: Path) -> Path:
    return Path(root) / "autograder" / "answers"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def input_hashes(root: Path, assignment: str) -> dict:
    """Hashes of everything the answers of ``assignment`` are made from."""
    root = Path(root)
    notebooks = sorted((root / "source" / assignment).glob("*.ipynb"))
    return {
        "source_notebooks": {nb.name: sha256_file(nb) for nb in notebooks},
        "cases": sha256_file(root / "autograder" / "cases" / f"{assignment}.py"),
        "probe": sha256_file(root / "autograder" / "probe.py"),
        "payload": sha256_file(root / "autograder" / "payload.py"),
        "package": _tree_hash(root / "package" / "dlcourse"),
    }


def _tree_hash(folder: Path) -> str:
    """One hash over the Python files of ``folder`` (the provided code cases may use)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*.py")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def write_answers(root: Path, assignment: str, encoded: dict, meta: dict) -> Path:
    """Seal ``encoded`` ({case_id: encoded outputs}) and write it with its metadata."""
    plaintext = json.dumps(encoded, sort_keys=True, separators=(",", ":")).encode()
    folder = answers_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.answers"
    path.write_bytes(seal(plaintext))
    meta = dict(meta)
    meta["answers_sha256"] = hashlib.sha256(plaintext).hexdigest()
    meta["inputs"] = input_hashes(root, assignment)
    (folder / f"{assignment}.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_manifest(root)
    return path


MANIFEST = "MANIFEST.sha256"


class AnswersInvalid(RuntimeError):
    """The stored answers of an assignment cannot be trusted; grading must not go on."""


def write_manifest(root: Path) -> Path:
    """Record the SHA-256 of every answer and record file (written by ``course answers``)."""
    folder = answers_dir(root)
    lines = [f"{sha256_file(p)}  {p.name}" for p in sorted(folder.glob("*.answers")) + sorted(folder.glob("*.json"))]
    path = folder / MANIFEST
    path.write_text("\n".join(sorted(lines, key=lambda line: line.split("  ", 1)[1])) + "\n")
    return path


def read_manifest(root: Path) -> dict:
    path = answers_dir(root) / MANIFEST
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name:
            out[name] = digest
    return out


def verify_answers(root: Path, assignment: str) -> None:
    """Raise AnswersInvalid unless the answers of ``assignment`` match the manifest and tree."""
    root = Path(root)
    manifest = read_manifest(root)
    fix = f"run `./course.sh answers {assignment}`"
    for name in (f"{assignment}.answers", f"{assignment}.json"):
        path = answers_dir(root) / name
        if not path.is_file() or path.is_symlink():
            raise AnswersInvalid(f"autograder/answers/{name} is missing: {fix}")
        if name not in manifest:
            raise AnswersInvalid(f"autograder/answers/{name} is not in {MANIFEST}: {fix}")
        if sha256_file(path) != manifest[name]:
            raise AnswersInvalid(
                f"autograder/answers/{name} does not match {MANIFEST} (altered since `course answers` "
                f"wrote it): restore it with `git checkout autograder/answers` or {fix}")
    reasons = stale_reasons(root, assignment)
    if reasons:
        raise AnswersInvalid(f"the answers of {assignment} are stale ({'; '.join(reasons)}): {fix}")


def read_encoded(root: Path, assignment: str) -> dict:
    blob = (answers_dir(root) / f"{assignment}.answers").read_bytes()
    return json.loads(unseal(blob))


def load_answers(root: Path, assignment: str) -> dict:
    """{case_id: {output_name: numpy array}} of the stored reference answers."""
    return {cid: decode_outputs(out) for cid, out in read_encoded(root, assignment).items()}


def read_meta(root: Path, assignment: str) -> dict | None:
    path = answers_dir(root) / f"{assignment}.json"
    return json.loads(path.read_text()) if path.exists() else None


def stale_reasons(root: Path, assignment: str) -> list[str]:
    """Why the stored answers of ``assignment`` no longer match the tree ([] = fresh)."""
    meta = read_meta(root, assignment)
    if meta is None or not (answers_dir(root) / f"{assignment}.answers").exists():
        return ["no stored answers"]
    now = input_hashes(root, assignment)
    reasons = []
    old = meta.get("inputs", {})
    if old.get("source_notebooks") != now["source_notebooks"]:
        reasons.append("a source notebook changed")
    for key in ("cases", "probe", "payload", "package"):
        if old.get(key) != now[key]:
            reasons.append(f"{key} code changed")
    return reasons
