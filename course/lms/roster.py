"""The class roster: who the students are, under the course's ids and the LMS's.

A roster is a CSV file with the columns ``id,lms_id,first_name,last_name,email``: nbgrader's
student import columns (``nbgrader db student import``) plus the student's id in the LMS
(Canvas user id, Gradescope SID, Blackboard username, Moodle participant id or nothing).
``id`` is the course's student id: the folder name under ``submitted/`` and the gradebook's
student id (letters, digits and ``._@+-``, as ``course autograde`` grades them). A column
``lms_id:<assignment>`` overrides ``lms_id`` for one assignment (Moodle numbers its
participants per assignment), as in ``./course.sh grades``. Other columns are ignored; the
file is UTF-8 (a BOM is fine).

``read_roster`` refuses a roster it cannot use (a missing ``id`` column, an empty,
duplicated or unusable id, an LMS id given to two students) with the line and what to do;
``import_roster`` puts it in the gradebook (``Gradebook.update_or_create_student`` with the
names, email and ``lms_user_id``), and ``gradebook_roster`` reads it back, so a later
``collect`` needs no ``--roster``.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path

from course.lms.base import Identity, safe_text, usable_name

COLUMNS = ("id", "lms_id", "first_name", "last_name", "email")
MAX_ROSTER_BYTES = 16 * 1024 * 1024
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")  # the same as course/autograde.py's


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file, the line and the fix."""


@dataclasses.dataclass(frozen=True)
class Student:
    id: str
    lms_id: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    here_id: str = ""  # the lms_id:<assignment> override for the assignment collected

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


def usable_id(student_id: str) -> bool:
    """Can ``student_id`` be a folder under submitted/ and a gradebook id that autograde grades?"""
    return isinstance(student_id, str) and bool(STUDENT_ID.fullmatch(student_id)) and usable_name(student_id)


def _key(text: str) -> str:
    """A name as LMSs flatten it: letters and digits only, case folded ("O'Brien, Pat" -> "obrienpat")."""
    return re.sub(r"[\W_]+", "", text.casefold())


class Roster:
    def __init__(self, students: list[Student], source: str):
        self.students = sorted(students, key=lambda s: s.id)
        self.source = source
        self.by_id = {s.id: s for s in self.students}
        self.by_lms = {s.here_id or s.lms_id: s for s in self.students if s.here_id or s.lms_id}
        self._by_email: dict[str, list] = {}
        self._by_name: dict[str, list] = {}
        for s in self.students:
            if s.email:
                self._by_email.setdefault(s.email.casefold(), []).append(s)
            for key in {_key(s.first_name + s.last_name), _key(s.last_name + s.first_name)}:
                if key:
                    self._by_name.setdefault(key, []).append(s)

    def match(self, who: Identity, ways: tuple = ("lms_id", "id", "email", "name")) -> tuple[Student | None, str]:
        """(the roster's student, how they were matched) or (None, why not) for ``who``.

        ``ways`` are tried in order: the roster's ``lms_id``, its ``id``, the email, the
        name (letters only, either order; Canvas's "lastfirst" too). An email or name that
        fits two roster students matches nobody.
        """
        for way in ways:
            if way == "lms_id" and who.lms_id and who.lms_id in self.by_lms:
                return self.by_lms[who.lms_id], "LMS id"
            if way == "id" and who.lms_id and who.lms_id in self.by_id:
                return self.by_id[who.lms_id], "student id"
            if way == "email" and who.email:
                found = self._by_email.get(who.email.casefold(), [])
                if len(found) == 1:
                    return found[0], "email"
                if len(found) > 1:
                    return None, f"the email {safe_text(who.email)} belongs to {len(found)} roster students"
            if way == "name":
                for text in (who.sortable, who.name):
                    found = self._by_name.get(_key(text), []) if _key(text) else []
                    if len(found) == 1:
                        return found[0], "name"
                    if len(found) > 1:
                        return None, (f"the name {safe_text(text)} fits {len(found)} roster students "
                                      "(give them their lms_id in the roster)")
        said = ", ".join(f"{what} {safe_text(value)}" for what, value in
                         (("LMS id", who.lms_id), ("name", who.name or who.sortable), ("email", who.email)) if value)
        return None, f"not on the roster ({said or 'no id in the export'})"


def read_roster(path: Path, assignment: str = "") -> Roster:
    """The roster in the CSV file ``path`` (see the module doc) for ``assignment``; RosterError if unusable."""
    path = Path(path)
    shown = safe_text(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{shown}: cannot be read ({exc.strerror}); give the path of the roster CSV") from None
    if len(raw) > MAX_ROSTER_BYTES:
        raise RosterError(f"{shown}: larger than {MAX_ROSTER_BYTES // (1024 * 1024)} MiB; is it the roster?")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError(f"{shown}: not UTF-8 (byte {exc.start}); save it as 'CSV UTF-8' and run again") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "id" not in header:
        raise RosterError(f"{shown}: no 'id' column; the first line must name the columns "
                          f"{','.join(COLUMNS)} (found: {safe_text(','.join(header)) or 'nothing'})")
    reader.fieldnames = header
    students, lms_owner = [], {}
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        values = {k: (row.get(k) or "").strip() for k in COLUMNS}
        if not any(values.values()):
            continue
        sid = values["id"]
        if not usable_id(sid):
            raise RosterError(f"{shown}, line {line}: the id {safe_text(sid)!r} cannot be a student id "
                              "(letters, digits and ._@+- only, starting with a letter or digit, at most 100); "
                              "fix that line")
        if sid in seen:
            raise RosterError(f"{shown}, line {line}: the id {sid!r} is also on line {seen[sid]}; "
                              "each student once")
        seen[sid] = line
        here = (row.get(f"lms_id:{assignment}") or "").strip() if assignment else ""
        lms = here or values["lms_id"]
        if lms and lms in lms_owner:
            raise RosterError(f"{shown}, line {line}: the lms_id {safe_text(lms)!r} is also {lms_owner[lms]!r}'s; "
                              "one LMS account per student")
        if lms:
            lms_owner[lms] = sid
        for column in ("first_name", "last_name", "email"):
            if safe_text(values[column], limit=1000) != values[column] or len(values[column]) > 128:
                raise RosterError(f"{shown}, line {line}: {column} has control characters or is over 128 "
                                  "characters; fix that line")
        students.append(Student(sid, values["lms_id"], values["first_name"], values["last_name"], values["email"],
                                here))
    if not students:
        raise RosterError(f"{shown}: no students (only a header?)")
    return Roster(students, shown)


def import_roster(roster: Roster, url: str) -> None:
    """Create or update every roster student in the gradebook at ``url``."""
    from course.gradebook import open_gradebook

    with open_gradebook(url) as gb:
        for s in roster.students:
            gb.update_or_create_student(s.id, first_name=s.first_name or None, last_name=s.last_name or None,
                                        email=s.email or None, lms_user_id=s.lms_id or None)


def gradebook_roster(url: str) -> Roster | None:
    """The gradebook's students as a roster (None when it has none or does not exist)."""
    from course.gradebook import open_gradebook

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None
    with open_gradebook(url) as gb:
        students = [Student(s.id, s.lms_user_id or "", s.first_name or "", s.last_name or "", s.email or "")
                    for s in gb.students]
    return Roster(students, "the gradebook") if students else None
