"""Blackboard Learn: "Download Assignment" (Grade Centre, all attempts).

Layout (the names nbgrader's own ``zip_collect`` documentation uses as its example,
``ps1_bitdiddle_attempt_2016-01-30-15-00-00_problem1.ipynb``; the receipt's lines as
third-party gradebook organisers parse them, not Blackboard's own documentation, which
was not at hand): every file of an attempt is

    <Assignment Name>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file name>

and each attempt has a receipt ``<Assignment Name>_<username>_attempt_<...>.txt``::

    Name: Ada Lovelace (alovelace)
    Assignment: Demo
    Date Submitted: Tuesday, 1 December 2026 23:58:30 o'clock GMT
    Current Grade: Needs Grading

    Submission Field:
    There is no student submission text data for this assignment.

    Comments:
    There are no student comments for this assignment.

    Files:
    	Original filename: demo.ipynb
    	Filename: Demo_alovelace_attempt_2026-12-01-23-58-30_demo.ipynb

The username is matched with the roster's lms_id (or id); the original file name comes from
the receipt. Submission time: the receipt's "Date Submitted" with its time zone (common
abbreviations, or ``--timezone``); without a receipt, the attempt time of the file name in
``--timezone`` (it has no zone). A student's latest attempt is collected, earlier ones kept
aside.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from course.lms.base import Identity, LMSCollector, Parsed, parts_of, usable_name

STAMP = r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}"
FILE = re.compile(rf"^(?P<prefix>(?P<assignment>.+)_(?P<user>[^_]+)_attempt_(?P<stamp>{STAMP}))(?:_(?P<file>.+))?$")
RECEIPT = re.compile(rf"^(?P<prefix>.+_attempt_(?P<stamp>{STAMP}))\.txt$")
MAX_RECEIPT_BYTES = 1024 * 1024

# Offsets of the zone abbreviations Blackboard prints (US zones for CST/EST...; --timezone
# for anything else, or to override these).
ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "BST": 1, "IST": 1, "WEST": 1, "CET": 1, "CEST": 2, "EET": 2,
         "EEST": 3, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
         "AKST": -9, "AKDT": -8, "HST": -10, "AEST": 10, "AEDT": 11, "ACST": 9.5, "ACDT": 10.5, "AWST": 8,
         "NZST": 12, "NZDT": 13, "SGT": 8, "HKT": 8, "JST": 9, "KST": 9}


def parse_date(text: str, zone=None) -> datetime | None:
    """The receipt's "Date Submitted" as an aware time; ``zone`` overrides its abbreviation."""
    from dateutil import parser

    text = re.sub(r"\bo'clock\b", "", text).strip()
    words = text.split()
    abbr = words[-1] if words and re.fullmatch(r"[A-Z]{1,5}", words[-1]) else ""
    if abbr:
        text = " ".join(words[:-1])
    try:
        stamp = parser.parse(text, fuzzy=True)
    except (ValueError, OverflowError):
        return None
    if stamp.tzinfo is not None:
        return stamp
    if zone is not None:
        return stamp.replace(tzinfo=zone)
    if abbr in ZONES:
        return stamp.replace(tzinfo=timezone(timedelta(hours=ZONES[abbr])))
    return None


def read_receipt(path: Path, zone=None) -> dict:
    text = Path(path).read_bytes()[:MAX_RECEIPT_BYTES].decode("utf-8", errors="replace")
    out = {"name": "", "user": "", "time": None, "date_text": "", "files": {}}
    original = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Name:"):
            m = re.match(r"Name:\s*(?P<name>.*?)\s*\((?P<user>[^()]*)\)\s*$", line)
            if m:
                out["name"], out["user"] = m.group("name"), m.group("user").strip()
        elif line.startswith("Date Submitted:"):
            out["date_text"] = line.split(":", 1)[1].strip()
            out["time"] = parse_date(out["date_text"], zone)
        elif line.startswith("Original filename:"):
            original = line.split(":", 1)[1].strip()
        elif line.startswith("Filename:") and original is not None:
            out["files"][line.split(":", 1)[1].strip()] = original
            original = None
    return out


class BlackboardCollector(LMSCollector):
    lms = "blackboard"
    layout = "Blackboard's <Assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file name> and .txt receipts"
    source = ("Blackboard Learn 'Download Assignment' (nbgrader's zip_collect docs; receipts with Name, "
              "Date Submitted, Files)")
    time_note = "Blackboard's receipt (Date Submitted), else the attempt time of the file name in --timezone"
    ways = ("lms_id", "id", "name")

    def __init__(self, zone=None, **kwargs):
        super().__init__(zone=zone, **kwargs)
        self.receipts: dict[str, dict] = {}  # "<folder>/<prefix>" -> receipt

    def prepare(self, root: Path) -> None:
        super().prepare(root)
        for path in sorted(Path(root).rglob("*_attempt_*.txt")):
            m = RECEIPT.match(path.name)
            if not m or path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            key = rel[: -len(".txt")]
            try:
                self.receipts[key] = read_receipt(path, self.zone)
            except OSError as exc:
                self.problems.append((rel, f"receipt cannot be read ({exc.strerror})"))

    def is_metadata(self, rel: str) -> bool:
        return rel[: -len(".txt")] in self.receipts if rel.endswith(".txt") else False

    def parse(self, rel: str) -> Parsed | None:
        parts = parts_of(rel)
        m = FILE.match(parts[-1])
        if m is None:
            return None
        folder = "/".join(parts[:-1])
        receipt = self.receipts.get(f"{folder}/{m.group('prefix')}" if folder else m.group("prefix"))
        name = m.group("file") or parts[-1]
        user = m.group("user")
        person = ""
        time, source = None, ""
        if receipt is not None:
            original = receipt["files"].get(parts[-1])
            if original and usable_name(original):
                name = original
            user = receipt["user"] or user
            person = receipt["name"]
            time = receipt["time"]
            source = "Blackboard receipt (Date Submitted)" if time else ""
        if time is None and self.zone is not None:
            time = datetime.strptime(m.group("stamp"), "%Y-%m-%d-%H-%M-%S").replace(tzinfo=self.zone)
            source = "Blackboard file name (attempt time, in --timezone)"
        return Parsed([Identity(lms_id=user, name=person)], name, attempt=(m.group("stamp"),),
                      attempt_label=f"attempt {m.group('stamp')}", time=time, time_source=source, slot=name)

    def why_not(self, rel: str) -> str:
        if PurePosixPath(rel).suffix == ".txt" and RECEIPT.match(PurePosixPath(rel).name):
            return "a receipt"
        return f"not named as {self.layout}"
