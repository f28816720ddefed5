"""Gradescope: "Export Submissions" of an assignment.

Layout (Gradescope's export; the same file its autograder sees as
``submission_metadata.yml``, see gradescope/autograder_samples ``advanced.md``): a zip
holding ``assignment_<id>_export/``, in it ``submission_metadata.yml`` and one folder
``submission_<id>/`` per (active) submission with the files as uploaded (``submission_<id>.pdf``
for PDF assignments). The yml is written by Ruby: keys are symbols (``:submitters:``,
``:created_at:``) and some values carry Ruby tags (``!ruby/hash:...``), which are read as
plain data here::

    submission_123:
      :submitters:
      - :name: Ada Lovelace
        :sid: '101'
        :email: ada@example.edu
      :created_at: 2026-12-01 23:58:30.000000000 -08:00
      :score: ...
      :history: [...]   # earlier submissions (their files are not in the export)

Students are matched by SID (the roster's lms_id or id), then email, then name; every
submitter of a group submission gets its files. Submission time: ``:created_at:``, with its
offset. A student in two submissions (alone and in a group) gets the later one.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import yaml

from course.lms.base import Identity, LMSCollector, Parsed, parts_of, safe_text

METADATA = "submission_metadata.yml"
SUBMISSION = re.compile(r"^(?P<key>submission_\d+)(?:\.[^/]+)?$")
MAX_METADATA_BYTES = 64 * 1024 * 1024


class _Loader(yaml.SafeLoader):
    """YAML's safe loader that reads Ruby's tagged values as plain mappings, lists and strings."""


def _untagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_Loader.add_multi_constructor("!", _untagged)
_Loader.add_multi_constructor("tag:yaml.org,2002:ruby", _untagged)


def _time(value, zone) -> datetime | None:
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str):
        try:
            from dateutil import parser

            stamp = parser.parse(value)
        except (ValueError, OverflowError):
            return None
    else:
        return None
    if stamp.tzinfo is None:
        if zone is None:
            return None
        stamp = stamp.replace(tzinfo=zone)
    return stamp


def load_metadata(path: Path) -> dict:
    """The yml at ``path`` as {"submission_<id>": {...}}; ValueError if unusable."""
    raw = Path(path).read_bytes()
    if len(raw) > MAX_METADATA_BYTES:
        raise ValueError(f"larger than {MAX_METADATA_BYTES // (1024 * 1024)} MiB")
    try:
        data = yaml.load(raw.decode("utf-8", errors="replace"), Loader=_Loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise ValueError(f"not readable YAML ({safe_text(str(exc).splitlines()[0] if str(exc) else exc, 150)})")
    if not isinstance(data, dict):
        raise ValueError("not a mapping of submissions")
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


class GradescopeCollector(LMSCollector):
    lms = "gradescope"
    layout = "Gradescope's submission_metadata.yml and submission_<id>/ folders"
    source = "Gradescope 'Export Submissions' (submission_metadata.yml; gradescope/autograder_samples advanced.md)"
    time_note = "Gradescope's :created_at: in submission_metadata.yml"
    ways = ("lms_id", "id", "email", "name")

    def __init__(self, zone=None, **kwargs):
        super().__init__(zone=zone, **kwargs)
        self.metadata: dict[str, dict] = {}  # folder of a yml ("" at the top) -> its submissions

    def prepare(self, root: Path) -> None:
        super().prepare(root)
        for path in sorted(Path(root).rglob(METADATA)):
            if path.is_symlink() or not path.is_file():
                continue
            folder = path.parent.relative_to(root).as_posix()
            folder = "" if folder == "." else folder
            try:
                self.metadata[folder] = load_metadata(path)
            except (OSError, ValueError) as exc:
                self.problems.append((path.relative_to(root).as_posix(),
                                      f"Gradescope's metadata cannot be read ({exc}); "
                                      "its submissions cannot be matched: export again"))

    def is_metadata(self, rel: str) -> bool:
        return PurePosixPath(rel).name == METADATA

    def parse(self, rel: str) -> Parsed | None:
        parts = parts_of(rel)
        for i, part in enumerate(parts):
            m = SUBMISSION.match(part)
            folder = "/".join(parts[:i])
            if m is None or folder not in self.metadata:
                continue
            record = self.metadata[folder].get(m.group("key"))
            if record is None:
                return Parsed([], parts[-1])
            owners = []
            for who in record.get(":submitters") or []:
                if isinstance(who, dict):
                    owners.append(Identity(lms_id=str(who.get(":sid") or "").strip(),
                                           name=str(who.get(":name") or "").strip(),
                                           email=str(who.get(":email") or "").strip()))
            stamp = _time(record.get(":created_at"), self.zone)
            return Parsed(owners, parts[-1],
                          attempt=(stamp.astimezone(timezone.utc).isoformat() if stamp else "", m.group("key")),
                          attempt_label=m.group("key"), time=stamp,
                          time_source="Gradescope submission_metadata.yml :created_at" if stamp else "",
                          slot="/".join(parts[i + 1:]) or parts[-1])
        return None

    def why_not(self, rel: str) -> str:
        parts = parts_of(rel)
        if any(SUBMISSION.match(p) for p in parts):
            return "a submission folder without an entry in submission_metadata.yml"
        return "not in a submission_<id> folder beside submission_metadata.yml"
