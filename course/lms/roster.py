"""The class roster: who the students are, under the course's ids and the LMS's.

The one reader of the roster file, for ``./course.sh collect`` (course/collect.py),
``./course.sh grades`` (course/grades.py, course/lms_export.py) and the LMS feedback
bundles (course/feedback_bundle.py).

A roster is a CSV file with the columns ``id,lms_id,first_name,last_name,email``: nbgrader's
student import columns (``nbgrader db student import``) plus the student's id in the LMS
(Canvas user id, Gradescope SID, Blackboard username, Moodle participant number, or empty).
``id`` is the course's student id: the folder name under ``submitted/`` and the gradebook's
student id (letters, digits and ``._@+-``, as ``course autograde`` grades them). The ``id``
and ``lms_id`` columns are required (a value of ``lms_id`` may be empty). A column
``lms_id:<assignment>`` overrides ``lms_id`` for one assignment (Moodle numbers its
participants per assignment). Optional columns, for Canvas's import file: ``sis_user_id``,
``sis_login_id``, ``section``. Other columns are ignored; the file is UTF-8 (a BOM is fine).

``read_roster`` refuses a roster it cannot use, naming every line at fault and what to do:
a missing ``id`` or ``lms_id`` column, a column named twice, an empty, duplicated or
unusable id, an LMS id given to two students (for any assignment, ``lms_id:<assignment>``
included), control characters (or bidirectional overrides) in a name, email or id, or a value
over 128 characters (nbgrader's gradebook columns). ``import_roster`` puts it in the gradebook
(``Gradebook.update_or_create_student`` with the names, email and ``lms_user_id``), and
``gradebook_roster`` reads it back, so a later ``collect``, ``grades`` or ``feedback --lms``
needs no ``--roster``.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import re
import unicodedata
from pathlib import Path

from course.lms.base import Identity, safe_text, usable_name

COLUMNS = ("id", "lms_id", "first_name", "last_name", "email")
REQUIRED = ("id", "lms_id")
OPTIONAL = ("sis_user_id", "sis_login_id", "section")
PER_ASSIGNMENT = "lms_id:"  # lms_id:<assignment>
MAX_ROSTER_BYTES = 16 * 1024 * 1024
MAX_VALUE = 128  # nbgrader's Student columns (first_name, last_name, email, lms_user_id) are String(128)
MAX_SHOWN_ERRORS = 20
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")  # the same as course/autograde.py's
# Embeddings, overrides and isolates reorder what is shown around them; the marks (LRM, RLM)
# and joiners (ZWNJ in Persian names, ZWJ) that real names carry are fine.
BIDI_CONTROLS = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file, the lines and the fix."""


@dataclasses.dataclass(frozen=True)
class Student:
    """One student of the roster (or of the gradebook, see ``gradebook_roster``)."""

    id: str
    lms_id: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    sis_user_id: str = ""  # Canvas's "SIS User ID"
    sis_login_id: str = ""  # Canvas's "SIS Login ID"
    section: str = ""  # Canvas's "Section"
    lms_ids: tuple = ()  # ((assignment, lms id), ...): the lms_id:<assignment> columns that are filled

    @property
    def name(self) -> str:
        """"First Last", or "" without names."""
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def full_name(self) -> str:
        """"First Last", or the id without names."""
        return self.name or self.id

    @property
    def sortable_name(self) -> str:
        """"Last, First", as Canvas lists students (the id without names)."""
        if self.last_name and self.first_name:
            return f"{self.last_name}, {self.first_name}"
        return self.last_name or self.first_name or self.id

    def lms_id_for(self, assignment: str) -> str:
        """The student's LMS id for ``assignment``: its ``lms_id:<assignment>``, else ``lms_id``."""
        return (dict(self.lms_ids).get(assignment, "") if assignment else "") or self.lms_id


def usable_id(student_id: str) -> bool:
    """Can ``student_id`` be a folder under submitted/ and a gradebook id that autograde grades?"""
    return isinstance(student_id, str) and bool(STUDENT_ID.fullmatch(student_id)) and usable_name(student_id)


def usable_text(value: str) -> bool:
    """Can ``value`` be a name, email or id of the roster (one line, shown as it is)?"""
    return len(value) <= MAX_VALUE and not any(
        unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ord(ch) in BIDI_CONTROLS for ch in value)


def _key(text: str) -> str:
    """A name as LMSs flatten it: letters and digits only, case folded ("O'Brien, Pat" -> "obrienpat")."""
    return re.sub(r"[\W_]+", "", text.casefold())


class Roster:
    """The students (in the roster file's order), looked up by id and by LMS id for ``assignment``;
    iterable."""

    def __init__(self, students: list[Student], source: str, assignment: str = ""):
        self.students = list(students)
        self.source = source
        self.assignment = assignment
        self.by_id = {s.id: s for s in self.students}
        self.by_lms = {s.lms_id_for(assignment): s for s in self.students if s.lms_id_for(assignment)}
        self._by_email: dict[str, list] = {}
        self._by_name: dict[str, list] = {}
        for s in self.students:
            if s.email:
                self._by_email.setdefault(s.email.casefold(), []).append(s)
            for key in {_key(s.first_name + s.last_name), _key(s.last_name + s.first_name)}:
                if key:
                    self._by_name.setdefault(key, []).append(s)

    def __iter__(self):
        return iter(self.students)

    def __len__(self) -> int:
        return len(self.students)

    def match(self, who: Identity, ways: tuple = ("lms_id", "id", "email", "name")) -> tuple[Student | None, str]:
        """(the roster's student, how they were matched) or (None, why not) for ``who``.

        ``ways`` are tried in order: the roster's ``lms_id`` (for the roster's assignment), its
        ``id``, the email, the name (letters only, either order; Canvas's "lastfirst" too). An
        email or name that fits two roster students matches nobody.
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


def _column(name: str) -> str:
    """A header cell as a column name: stripped, ``lms_id: A`` as ``lms_id:A``."""
    name = (name or "").strip()
    if name.startswith(PER_ASSIGNMENT):
        return PER_ASSIGNMENT + name[len(PER_ASSIGNMENT):].strip()
    return name


def read_roster(path: Path, assignment: str = "") -> Roster:
    """The roster in the CSV file ``path`` (see the module doc), its LMS ids those of
    ``assignment`` (default: the ``lms_id`` column); RosterError if unusable."""
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
    try:
        header = [_column(h) for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise RosterError(f"{shown}, line 1: not CSV ({exc})") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RosterError(f"{shown}: no {' or '.join(repr(c) for c in missing)} column; the first line must name "
                          f"the columns {','.join(COLUMNS)} (found: {safe_text(','.join(header)) or 'nothing'})")
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        raise RosterError(f"{shown}, line 1: the column(s) {', '.join(repr(safe_text(h)) for h in twice)} "
                          "named twice; keep one")
    reader.fieldnames = header
    per_assignment = {h: h[len(PER_ASSIGNMENT):] for h in header  # column -> assignment
                      if h.startswith(PER_ASSIGNMENT) and h != PER_ASSIGNMENT}
    texts = COLUMNS[1:] + OPTIONAL + tuple(per_assignment)
    students, errors = [], []
    seen: dict[str, int] = {}
    owners: dict[str, dict[str, tuple[str, int]]] = {}  # view ("" or an assignment) -> lms id -> (id, line)
    try:
        for row in reader:
            line = reader.line_num
            values = {k: (row.get(k) or "").strip() for k in COLUMNS + OPTIONAL + tuple(per_assignment)}
            if not any(values.values()):
                continue
            sid = values["id"]
            if not sid:
                errors.append(f"line {line}: no id (every student needs the course's id)")
                continue
            if not usable_id(sid):
                errors.append(f"line {line}: the id {safe_text(sid)!r} cannot be a student id (letters, digits and "
                              "._@+- only, starting with a letter or digit, at most 100)")
                continue
            if sid in seen:
                errors.append(f"line {line}: the id {sid!r} is also on line {seen[sid]}; each student once")
                continue
            seen[sid] = line
            bad = [c for c in texts if not usable_text(values[c])]
            if bad:
                errors.append(f"line {line}: {', '.join(safe_text(c) for c in bad)}: control characters or over "
                              f"{MAX_VALUE} characters")
                continue
            student = Student(sid, values["lms_id"], values["first_name"], values["last_name"], values["email"],
                              values["sis_user_id"], values["sis_login_id"], values["section"],
                              tuple(sorted((a, values[h]) for h, a in per_assignment.items() if values[h])))
            # One LMS account per student: in the lms_id column, and for each assignment with its own ids.
            for view in ("", *per_assignment.values()):
                lms = student.lms_id_for(view)
                owner = owners.setdefault(view, {}).get(lms) if lms else None
                if owner:
                    column = f"{PER_ASSIGNMENT}{view}" if view and lms != student.lms_id else "lms_id"
                    where = f" (the LMS id for {view})" if view else ""
                    errors.append(f"line {line}: the {column} {safe_text(lms)!r} is also {owner[0]!r}'s (line "
                                  f"{owner[1]}){where}; one LMS account per student")
                    break
            else:
                for view in ("", *per_assignment.values()):
                    if student.lms_id_for(view):
                        owners.setdefault(view, {})[student.lms_id_for(view)] = (sid, line)
                students.append(student)
    except csv.Error as exc:
        errors.append(f"line {reader.reader.line_num}: not CSV ({exc})")
    if errors:
        more = len(errors) - MAX_SHOWN_ERRORS
        raise RosterError(f"{shown}: " + "; ".join(errors[:MAX_SHOWN_ERRORS])
                          + (f"; and {more} more" if more > 0 else "") + "; fix the roster and run again")
    if not students:
        raise RosterError(f"{shown}: no students (only a header?)")
    return Roster(students, shown, assignment)


def import_roster(roster: Roster, url: str) -> None:
    """Create or update every roster student in the gradebook at ``url``."""
    from course.gradebook import open_gradebook

    with open_gradebook(url) as gb:
        for s in roster.students:
            gb.update_or_create_student(s.id, first_name=s.first_name or None, last_name=s.last_name or None,
                                        email=s.email or None, lms_user_id=s.lms_id or None)


def gradebook_roster(gradebook) -> Roster | None:
    """The gradebook's students as a roster: what ``import_roster`` put there (names, email and
    ``lms_user_id``), and every student nbgrader added when grading. ``gradebook`` is the
    gradebook's URL or an open nbgrader ``Gradebook``. None when it has no students, or (a
    URL) does not exist."""
    if not isinstance(gradebook, str):
        students = [Student(s.id, s.lms_user_id or "", s.first_name or "", s.last_name or "", s.email or "")
                    for s in sorted(gradebook.students, key=lambda s: s.id)]
        return Roster(students, "the gradebook") if students else None
    from course.gradebook import open_gradebook

    if gradebook.startswith("sqlite:///") and not Path(gradebook[len("sqlite:///"):]).exists():
        return None
    with open_gradebook(gradebook) as gb:
        return gradebook_roster(gb)
