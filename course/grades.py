"""Stage `grades`: the gradebook -> the grades file an LMS imports (Canvas, Moodle, plain CSV).

``python -m course grades --lms canvas|moodle|csv --roster roster.csv [--out FILE]
[--assignment A ...] [--title A=TITLE ...] [--pending blank|partial] [--canvas-notes]``

The roster is the class roster of ``./course.sh collect``, read by its one reader
(course/lms/roster.py, which says what it refuses): a CSV file with the columns
``id,lms_id,first_name,last_name,email``. ``id`` is nbgrader's student id (the folder
name under submitted/), ``lms_id`` the student's id in the LMS (Canvas: the user id, the
"ID" column of a Canvas gradebook export; Moodle: the number of the assignment's
"Participant <number>" identifier, which Moodle numbers per assignment: a column
``lms_id:<assignment>`` overrides ``lms_id`` for one assignment). Optional columns for
Canvas: ``sis_user_id``, ``sis_login_id``, ``section``. Without ``--roster``, the
gradebook's students are the roster (``collect --roster`` imports one there: names,
email and ``lms_user_id``).

Each student's grade is what the gradebook holds: the autograded points, plus the
points a grader gave in the formgrader, minus the late penalty, which is first settled
against the score as graded now (course/late.py: nbgrader sets it at autograde time,
before any written answer is scored). A submission whose
written answers are not all graded yet is *pending*: its grade is left empty in the file
(``--pending partial`` puts the points graded so far instead) and the file says so where
the LMS has room for it (Moodle: the "Feedback comments" column; Canvas: its "Notes"
column, with ``--canvas-notes``; plain CSV: ``status`` and ``notes``). A student with
nothing to import gets no row in the Canvas and Moodle files, so the LMS keeps what it has
for them. Students in the gradebook but not in the roster, roster students without a
submission or without an LMS id, and the pending submissions are reported (printed, and
logged by ``nbgrader export``).

The writers are nbgrader export plugins (course/lms_export.py), so the same files come
from plain nbgrader in the course folder::

    python -m nbgrader export --exporter=course.lms_export.CanvasExport --to canvas.csv \\
        --LmsExport.roster=roster.csv

This module only reads the gradebook, but for the late penalties it settles.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from autograder.durations import in_words
from course import ROOT

from course.lms.roster import Roster, RosterError, Student  # RosterError: also caught here by course/feedback.py

LMS_CHOICES = ("canvas", "moodle", "csv")
PENDING_NOTE = "pending manual grading"


@dataclass
class Result:
    """One student's grade for one assignment, as the gradebook holds it."""

    assignment: str
    student: str
    person: Student | None
    max_score: float
    submitted: bool = False
    timestamp: object = None
    autograded: float = 0.0
    autograded_max: float = 0.0
    manual: float = 0.0  # points a grader gave to the graded written answers
    manual_max: float = 0.0
    penalty: float = 0.0
    late: object = None  # a timedelta after the due date (with the student's extension), when late
    extension: object = None  # the student's extension (a timedelta), if any
    pending: list = field(default_factory=list)  # "q_softmax (2 points)", ...

    @property
    def status(self) -> str:
        if not self.submitted:
            return "no submission"
        return "pending" if self.pending else "graded"

    @property
    def points(self) -> float:
        """Points graded so far, after the late penalty (the final grade when nothing is pending)."""
        return max(0.0, self.autograded + self.manual - self.penalty)

    def score(self, pending: str = "blank") -> float | None:
        """The grade to put in the LMS file: None (an empty cell) when there is none yet."""
        if not self.submitted or (self.pending and pending != "partial"):
            return None
        return self.points

    def note(self) -> str:
        """What the file says about this grade, in words (empty when it is final)."""
        if not self.submitted:
            return "no submission"
        if not self.pending:
            return ""
        return f"{PENDING_NOTE}: {', '.join(self.pending)}"

    def summary(self) -> str:
        """A line for students and graders: how the grade is made up."""
        if not self.submitted:
            return "No submission."
        parts = [f"Autograded {num(self.autograded)} / {num(self.autograded_max)}"]
        if self.manual_max:
            parts.append(f"written answers {num(self.manual)} / {num(self.manual_max)}"
                         + (" so far" if self.pending else ""))
        if self.penalty:
            why = [f"handed in {in_words(self.late)} late"] if self.late else []
            why += [f"after an extension of {in_words(self.extension)}"] if self.extension else []
            parts.append(f"late penalty -{num(self.penalty)}" + (f" ({', '.join(why)})" if why else ""))
        text = ", ".join(parts)
        if self.pending:
            return f"{text}. Written answers {PENDING_NOTE}: {', '.join(self.pending)}."
        return f"{text}. Total {num(self.points)} / {num(self.max_score)}."


@dataclass
class Collected:
    assignments: list  # [(name, max score)] in gradebook order
    results: list  # [Result]: every roster student for every assignment, then students not in the roster
    problems: list  # report lines


def num(x: float | None) -> str:
    """A score as the LMSes read it: plain decimal, at most 2 places, no exponent."""
    if x is None:
        return ""
    text = f"{float(x):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _result(assignment: str, max_score: float, sub, person: Student | None) -> Result:
    seconds = sub.total_seconds_late
    result = Result(assignment, sub.student_id, person, max_score, submitted=True, timestamp=sub.timestamp,
                    penalty=float(sub.late_submission_penalty or 0.0),
                    late=timedelta(seconds=seconds) if seconds > 0 else None, extension=sub.extension or None)
    several = len(sub.notebooks) > 1
    for nb in sorted(sub.notebooks, key=lambda n: n.name):
        for grade in sorted(nb.grades, key=lambda g: g.name):
            label = f"{nb.name}/{grade.name}" if several else grade.name
            max_pts = float(grade.max_score or 0.0)
            by_hand = grade.cell.cell_type == "markdown" or grade.auto_score is None
            waiting = bool(grade.needs_manual_grade) and max_pts > 0
            if waiting:
                again = ", graded before a regrade: review it" if grade.manual_score is not None else ""
                result.pending.append(f"{label} ({num(max_pts)} point{'s' * (max_pts != 1)}{again})")
            if by_hand:
                result.manual_max += max_pts
                if not waiting:
                    result.manual += float(grade.score or 0.0)
            else:
                result.autograded_max += max_pts
                result.autograded += float(grade.score or 0.0)
    return result


def collect(gb, roster: Roster, assignments: list[str] | None = None,
            students: list[str] | None = None) -> Collected:
    """Every roster student's grade for each assignment of the gradebook (or those named), then
    the graded students who are not in the roster (``students``: only these). Reads only."""
    known = {a.name: a for a in gb.assignments}
    problems = []
    if assignments:
        unknown = [name for name in assignments if name not in known]
        if unknown:
            raise ValueError(f"not in the gradebook: {', '.join(map(repr, unknown))} "
                             f"(it has: {', '.join(sorted(known)) or 'no assignment'})")
        names = [n for n in known if n in assignments]
    else:
        names = list(known)
    by_id = roster.by_id
    wanted = set(students or [])
    results, outside = [], []
    for name in names:
        max_score = float(known[name].max_score or 0.0)
        subs = {s.student_id: s for s in gb.assignment_submissions(name)}
        for person in roster.students:
            if wanted and person.id not in wanted:
                continue
            sub = subs.get(person.id)
            if sub is None:
                results.append(Result(name, person.id, person, max_score))
                problems.append(f"{person.id} ({person.full_name}): no submission of {name}")
            else:
                results.append(_result(name, max_score, sub, person))
        for sid in sorted(subs):
            if sid in by_id or (wanted and sid not in wanted):
                continue
            outside.append(_result(name, max_score, subs[sid], None))
            problems.append(f"{_safe(sid)}: graded for {name} but not in the roster "
                            "(left out of the LMS file; add them to the roster)")
    for name in names:
        waiting = [r.student for r in results + outside if r.assignment == name and r.pending]
        if waiting:
            shown = ", ".join(_safe(s) for s in waiting[:10]) + (", ..." if len(waiting) > 10 else "")
            problems.append(f"{name}: {len(waiting)} submission(s) with written answers {PENDING_NOTE} ({shown})")
    return Collected([(n, float(known[n].max_score or 0.0)) for n in names], results + outside, problems)


def _safe(text: str) -> str:
    from autograder.submission import safe_text

    return safe_text(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course grades",
                                     description="Write the grades file an LMS imports, from the gradebook.")
    parser.add_argument("--lms", choices=LMS_CHOICES, required=True,
                        help="canvas: a Canvas gradebook import CSV; moodle: Moodle's offline grading "
                             "worksheet (one file per assignment); csv: a plain CSV with notes")
    parser.add_argument("--roster", type=Path, help="CSV with id,lms_id,first_name,last_name,email (default: "
                                                    "the gradebook's students, as `collect --roster` imported them)")
    parser.add_argument("--out", type=Path, help="the file to write (default: build/lms/<lms>-grades.csv; "
                                                 "moodle with several assignments: one file each, "
                                                 "named <out>-<assignment>.csv)")
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    parser.add_argument("--student", action="append", help="only this student (repeatable)")
    parser.add_argument("--title", action="append", default=[], metavar="ASSIGNMENT=TITLE",
                        help="the assignment's column in the Canvas file, e.g. 'demo=Demo (1234)' with "
                             "Canvas's assignment id (default: the assignment id, matched by title)")
    parser.add_argument("--pending", choices=("blank", "partial"), default="blank",
                        help="grade of a submission with written answers not graded yet: blank (default) "
                             "or partial (the points graded so far)")
    parser.add_argument("--canvas-notes", action="store_true",
                        help="add Canvas's Notes column saying what is pending (turn on Notes in the "
                             "Canvas gradebook first, or Canvas creates an assignment called Notes)")
    args = parser.parse_args(argv)
    titles = {}
    for item in args.title:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            parser.error(f"--title {item!r}: expected ASSIGNMENT=TITLE")
        titles[key.strip()] = value.strip()
    out = args.out or ROOT / "build" / "lms" / f"{args.lms}-grades.csv"
    try:
        written, problems = export(ROOT, args.lms, out, roster=args.roster, assignments=args.assignment,
                                   students=args.student, pending=args.pending, titles=titles,
                                   canvas_notes=args.canvas_notes)
    except (RosterError, ValueError) as exc:
        print(f"[grades] {exc}", file=sys.stderr)
        return 2
    for line in problems:
        print(f"[grades] {line}")
    for path in written:
        print(f"[grades] written: {path}")
    return 0


def export(root: Path, lms: str, out: Path, roster: Path | None = None, assignments: list[str] | None = None,
           students: list[str] | None = None, pending: str = "blank", titles: dict | None = None,
           canvas_notes: bool = False, url: str | None = None) -> tuple[list[Path], list[str]]:
    """Write the ``lms`` grades file(s) for the gradebook of ``root``; return (files written, report)."""
    import logging

    from course.gradebook import db_url, open_gradebook
    from course.lms_export import EXPORTS

    quiet = logging.getLogger("course.grades.plugin")
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    quiet.propagate = False  # the caller prints the report
    options = dict(to=str(out), roster=str(roster or ""), pending=pending, titles=titles or {},
                   assignment=list(assignments or []), student=list(students or []), log=quiet,
                   course_root=str(root))
    if lms == "canvas":
        options["notes"] = canvas_notes
    plugin = EXPORTS[lms](**options)
    url = url or db_url(root)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise ValueError(f"there is no gradebook at {url}: grade first (./course.sh autograde)")
    with open_gradebook(url) as gb:
        plugin.export(gb)
    return plugin.written, plugin.report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
