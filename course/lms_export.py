"""nbgrader export plugins that write the grades file each LMS imports.

    python -m nbgrader export --exporter=course.lms_export.CanvasExport --to canvas.csv --LmsExport.roster=roster.csv
    python -m nbgrader export --exporter=course.lms_export.MoodleExport --to moodle.csv --LmsExport.roster=roster.csv
    python -m nbgrader export --exporter=course.lms_export.PlainCsvExport --to grades-lms.csv [--LmsExport.roster=...]

(``./course.sh grades --lms canvas|moodle|csv`` runs the same plugins; course/grades.py
says how a grade and a pending written answer are read, course/lms/roster.py the roster.) Options:
``--LmsExport.pending=partial`` puts the points graded so far where a written answer
still waits for a grader (default: an empty grade); ``--LmsExport.titles=demo="Demo (1234)"``
names the Canvas column of an assignment; ``--CanvasExport.notes=True`` adds Canvas's
Notes column. nbgrader's ``--assignment`` and ``--student`` filters apply.

The formats, and where they come from:

Canvas: the gradebook import CSV (Grades > Import). Read by Canvas's GradebookImporter
(instructure/canvas-lms, app/models/gradebook_importer.rb): the header must start with a
column containing "Student" and one containing "ID", then "SIS User ID" and "SIS Login ID",
then any custom gradebook columns of the course (such as "Notes"), and the last student
column must contain "Section"; every later column is an assignment, "<title> (<Canvas
assignment id>)" or a title alone (matched by title, else created as a new assignment). A
row whose first cell contains "Points Possible" is not a student: it gives the points of
each assignment column (what a new assignment gets). Students are matched by the "ID"
column (Canvas's user id), then SIS User ID, SIS Login ID, then name; students who are not
in the file are not changed. An empty grade sets no grade, and clears one that Canvas
holds: a student with nothing to import (no submission, or only pending answers) gets no
row. A "Notes" header is a custom column only when the course shows Canvas's Notes column;
otherwise Canvas would make it an assignment, so it is only written on request.

Moodle: the assignment's offline grading worksheet (Assignment > View all submissions >
Grading action > Upload grading worksheet; "Offline grading worksheet" must be on among
the feedback types). Read by assignfeedback_offline (moodle/moodle,
mod/assign/feedback/offline/importgradeslib.php and locallib.php): columns are found by
their English header names, "Identifier" is "Participant <number>" (Moodle's participant
number for that assignment), "Grade" is read as a number, "Last modified (grade)" as a date
(Moodle skips a row when its own grade changed more than a minute after that date, unless
"Allow updating records that have been modified more recently in Moodle than in the
spreadsheet" is ticked), an empty grade is skipped, a grade above the assignment's maximum
grade is skipped, and the "Feedback comments" column replaces the student's feedback
comment when the Feedback comments plugin is on (here: how the grade is made up, and what
is pending). One file per assignment, the columns of Moodle's own worksheet; students
without a submission get no row, so Moodle keeps what it has for them.

Plain CSV: one row per student and assignment, with the parts of the grade, its status
and notes; students who are not in the roster are listed too.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from nbgrader.plugins import ExportPlugin
from traitlets import Bool, Dict, Enum, List, Unicode

from course.grades import Collected, Result, collect, num
from course.lms.roster import Roster, gradebook_roster, read_roster

CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_ROW = "Points Possible"
MOODLE_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                  "Feedback comments"]
MOODLE_PARTICIPANT = "Participant "  # Moodle's string 'hiddenuser' (mod_assign), followed by the number
PLAIN_COLUMNS = ["student_id", "lms_id", "first_name", "last_name", "email", "assignment", "status",
                 "autograded", "autograded_max", "manual", "manual_max", "late_penalty", "score", "max_score",
                 "submitted", "notes"]


class LmsExport(ExportPlugin):
    """Base of the LMS exports: reads the roster, gathers the grades, reports what does not match."""

    roster = Unicode("", help="CSV file with the columns id,lms_id,first_name,last_name,email").tag(config=True)
    pending = Enum(["blank", "partial"], "blank",
                   help="grade written for a submission whose written answers are not all graded: "
                        "blank (an empty grade) or partial (the points graded so far)").tag(config=True)
    titles = Dict(key_trait=Unicode(), value_trait=Unicode(),
                  help="LMS title of an assignment, by nbgrader assignment id (Canvas: its column)").tag(config=True)
    course_root = Unicode("", help="the course folder whose nbgrader_config.py configures the late "
                                   "penalty (default: this export's own configuration)").tag(config=True)
    roster_required = True
    default_to = "lms-grades.csv"
    written = List()
    report = List()

    def export(self, gradebook) -> None:
        settled = self._settle(gradebook)
        if self.roster:
            roster = read_roster(Path(self.roster))
        else:
            roster = gradebook_roster(gradebook) or Roster([], "the gradebook")
            if self.roster_required and not any(s.lms_id for s in roster):
                raise ValueError(f"{type(self).__name__}: no student in the gradebook has an LMS id: give the "
                                 "roster (--roster roster.csv; nbgrader: --LmsExport.roster=roster.csv)")
        collected = collect(gradebook, roster, assignments=[str(a) for a in self.assignment] or None,
                            students=[str(s) for s in self.student] or None)
        dest = Path(self.to or self.default_to)
        dest.parent.mkdir(parents=True, exist_ok=True)
        report = settled + list(collected.problems)
        self.written = self.write(collected, dest, report)
        self.report = report
        for line in report:
            self.log.warning(line)
        for path in self.written:
            self.log.info("Grades written to %s", path)

    def _settle(self, gradebook) -> list[str]:
        """Late penalties settled against the scores as graded now (course/late.py), with the
        course's plugin: ``course_root``'s, else the one this export's configuration names
        (under ``nbgrader export``, nbgrader_config.py's); never with an unconfigured one."""
        from nbgrader.preprocessors import AssignLatePenalties

        from course.late import course_plugin, settle_gradebook

        if self.course_root:
            plugin = course_plugin(Path(self.course_root))
        elif "AssignLatePenalties" in self.config:
            assign = AssignLatePenalties(parent=self)
            assign.init_plugin()
            plugin = assign.plugin_inst
        else:
            return ["late penalties as autograded (no course configuration to settle them with)"]
        return settle_gradebook(gradebook, plugin, [str(a) for a in self.assignment] or None,
                                [str(s) for s in self.student] or None)

    def write(self, collected: Collected, dest: Path, report: list) -> list[Path]:
        raise NotImplementedError

    def grade(self, result: Result) -> str:
        return num(result.score(self.pending))


def _csv(path: Path, rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


class CanvasExport(LmsExport):
    """Canvas's gradebook import CSV: one row per roster student, one column per assignment."""

    notes = Bool(False, help="add Canvas's Notes column (the course must show it in the gradebook), "
                             "saying which written answers are pending").tag(config=True)
    default_to = "canvas-grades.csv"

    def write(self, collected, dest, report):
        names = [name for name, _ in collected.assignments]
        header = list(CANVAS_STUDENT_COLUMNS) + ["Notes"] * self.notes + [self.titles.get(n, n) for n in names]
        points = [CANVAS_POINTS_ROW, "", "", "", ""] + [""] * self.notes + [num(m) for _, m in collected.assignments]
        rows = [header, points]
        by_person = {}
        for r in collected.results:
            if r.person is not None:
                by_person.setdefault(r.person.id, (r.person, {}))[1][r.assignment] = r
        for person, results in by_person.values():
            if not (person.lms_id or person.sis_user_id or person.sis_login_id):
                report.append(f"{person.id} ({person.full_name}): left out of the Canvas file: no lms_id "
                              "(Canvas user id) or SIS id in the roster")
                continue
            notes = ["; ".join(f"{n}: {results[n].note()}" for n in names if n in results and results[n].pending)]
            cells = [self.grade(results[n]) if n in results else "" for n in names]
            if not any(cells) and not (self.notes and notes[0]):
                continue  # nothing to say: no row, so Canvas changes nothing for this student
            rows.append([person.sortable_name, person.lms_id, person.sis_user_id, person.sis_login_id,
                         person.section] + notes * self.notes + cells)
        _csv(dest, rows)
        return [dest]


class MoodleExport(LmsExport):
    """Moodle's offline grading worksheet, one file per assignment."""

    default_to = "moodle-grades.csv"

    def write(self, collected, dest, report):
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        written = []
        several = len(collected.assignments) > 1
        for name, max_score in collected.assignments:
            path = dest.with_name(f"{dest.stem}-{name}{dest.suffix}") if several else dest
            rows = [list(MOODLE_COLUMNS)]
            for r in collected.results:
                if r.assignment != name or r.person is None or not r.submitted:
                    continue  # no row, no change in Moodle (an empty comment would erase one there)
                participant = r.person.lms_id_for(name)
                if not participant.isdigit():
                    report.append(f"{r.person.id} ({r.person.full_name}): left out of the Moodle worksheet of "
                                  f"{name}: its participant number (lms_id) is {participant!r}, not a number")
                    continue
                status = "Submitted for grading - " + ("Pending manual grading" if r.pending else "Graded")
                rows.append([MOODLE_PARTICIPANT + participant, r.person.full_name, r.person.email, status,
                             self.grade(r), num(max_score), "Yes", _when(r.timestamp), now, r.summary()])
            _csv(path, rows)
            written.append(path)
        return written


class PlainCsvExport(LmsExport):
    """A plain CSV: one row per student and assignment, with the parts of the grade and notes."""

    roster_required = False
    default_to = "grades-lms.csv"

    def write(self, collected, dest, report):
        rows = [list(PLAIN_COLUMNS)]
        for r in sorted(collected.results, key=lambda r: (r.assignment, r.person is None, r.student)):
            p = r.person
            notes = [r.note()] if r.note() else []
            if p is None:
                notes.append("not in the roster")
            rows.append([_text(r.student), p.lms_id if p else "", _text(p.first_name) if p else "",
                         _text(p.last_name) if p else "", _text(p.email) if p else "", r.assignment, r.status,
                         num(r.autograded) if r.submitted else "", num(r.autograded_max) if r.submitted else "",
                         num(r.manual) if r.submitted else "", num(r.manual_max) if r.submitted else "",
                         num(r.penalty) if r.submitted else "", self.grade(r), num(r.max_score),
                         _when(r.timestamp, blank="") if r.submitted else "", _text("; ".join(notes))])
        _csv(dest, rows)
        return [dest]


def _when(timestamp, blank: str = "-") -> str:
    """nbgrader's submission time (naive UTC) as ISO 8601 with its offset, or ``blank`` (Moodle's: "-")."""
    if not timestamp:
        return blank
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=dt.timezone.utc)
        return timestamp.replace(microsecond=0).isoformat()
    return str(timestamp)


def _text(value: str) -> str:
    """A text cell of the plain CSV that a spreadsheet will not run as a formula."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


EXPORTS = {"canvas": CanvasExport, "moodle": MoodleExport, "csv": PlainCsvExport}
