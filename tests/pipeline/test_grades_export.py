"""Do the grades and the feedback reach each LMS in the form it imports?

A gradebook is filled through nbgrader's API (no grading run: these tests take seconds)
with two assignments: ``demo`` (autograded 2 + 3 points, a written question of 2 points
and its 0-point answer cell) and ``pair`` (two notebooks: 4 autograded points and a
1-point written question). Students: ``done`` (written answer graded by hand), ``waiting``
(written answer not graded yet), ``late`` (graded, with a late penalty), ``regraded``
(graded by hand, then autograded again: nbgrader asks for a review), ``ghost`` (graded but
not in the roster) and, in the roster only, ``absent`` (no submission).

The Canvas file is read the way Canvas's GradebookImporter reads it
(instructure/canvas-lms, app/models/gradebook_importer.rb), Moodle's worksheet the way
assignfeedback_offline reads it (moodle/moodle, mod/assign/feedback/offline/
importgradeslib.php), the Moodle feedback zip the way assignfeedback_file reads it
(mod/assign/feedback/file/importziplib.php): see course/lms_export.py and
course/feedback_bundle.py for those rules.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from course.feedback_bundle import bundle
from course.grades import export
from course.lms.roster import Roster, RosterError, read_roster

from .demo_course import make_demo_course

ROSTER = """id,lms_id,first_name,last_name,email,section,lms_id:pair
done,2001,Ada,Lovelace,ada@example.org,A,3001
waiting,2002,Alan,Turing,alan@example.org,A,3002
late,2003,Grace,Hopper,grace@example.org,B,3003
regraded,2004,Edsger,Dijkstra,edsger@example.org,B,3004
absent,2005,Barbara,Liskov,barbara@example.org,B,3005
"""


def make_gradebook(root: Path) -> str:
    from course.gradebook import open_gradebook

    url = f"sqlite:///{root / 'gradebook.db'}"
    with open_gradebook(url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's add_submission trips SQLAlchemy's autoflush warnings
        gb.add_assignment("demo", duedate=dt.datetime(2026, 12, 1, 0, 0))  # naive UTC, as nbgrader keeps it
        gb.add_notebook("demo", "demo")
        gb.add_grade_cell("test_softmax", "demo", "demo", max_score=2, cell_type="code")
        gb.add_grade_cell("test_dists", "demo", "demo", max_score=3, cell_type="code")
        gb.add_task_cell("q_softmax", "demo", "demo", max_score=2, cell_type="markdown")
        gb.add_grade_cell("q_softmax_answer", "demo", "demo", max_score=0, cell_type="markdown")
        gb.add_assignment("pair", duedate=dt.datetime(2026, 12, 7, 0, 0))
        gb.add_notebook("one", "pair")
        gb.add_grade_cell("test_one", "one", "pair", max_score=4, cell_type="code")
        gb.add_notebook("two", "pair")
        gb.add_task_cell("q_two", "two", "pair", max_score=1, cell_type="markdown")
        for student in ("done", "waiting", "late", "regraded", "ghost"):
            gb.add_student(student)
            for assignment in ("demo", "pair"):
                when = "2026-12-01 00:59:30 UTC" if student == "late" else "2026-11-30 23:59:30 UTC"
                sub = gb.add_submission(assignment, student, timestamp=when)
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        auto = {"test_softmax": 2, "test_dists": 1 if student == "late" else 3,
                                "test_one": 4, "q_softmax_answer": None}.get(grade.name)
                        grade.auto_score = auto
                        grade.needs_manual_grade = grade.cell.cell_type == "markdown"
                        if grade.name in ("q_softmax", "q_two") and student in ("done", "late", "regraded"):
                            grade.manual_score = 1.5 if grade.name == "q_softmax" else 1
                            grade.needs_manual_grade = student == "regraded"
                    if student == "late":  # 59.5 min late on demo (1 started hour), on time for pair
                        nb.late_submission_penalty = 0.5 if nb.name == "demo" else None
        gb.db.commit()
    return url


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_demo_course(tmp_path_factory.mktemp("lms-course"), late_penalty_per_hour=0.5)
    for assignment, names in (("demo", ["demo"]), ("pair", ["one", "two"])):
        (root / "assignments" / assignment).mkdir(parents=True)
        for name in names:
            (root / "assignments" / assignment / f"{name}.ipynb").write_text("{}")
    url = make_gradebook(root)
    (root / "roster.csv").write_text(ROSTER)
    return root, url


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def dicts(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_roster_is_checked(tmp_path):
    """Are a missing column, an empty or duplicated id and a duplicated LMS id refused (every
    faulty line named at once), and a BOM read? (course/lms/roster.py, the one roster reader;
    tests/pipeline/test_roster.py checks the rest.)"""
    path = tmp_path / "roster.csv"
    path.write_text("id,first_name,last_name,email\ns1,A,B,a@x\n")
    with pytest.raises(RosterError, match="no 'lms_id' column"):
        read_roster(path)
    path.write_text("id,lms_id,first_name,last_name,email\ns1,1,A,B,a@x\ns1,2,C,D,c@x\n,3,E,F,e@x\ns3,1,G,H,g@x\n")
    with pytest.raises(RosterError) as err:
        read_roster(path)
    assert "line 3: the id 's1' is also on line 2" in str(err.value)
    assert "line 4: no id" in str(err.value) and "line 5: the lms_id '1' is also 's1''s (line 2)" in str(err.value)
    path.write_bytes("\ufeffid,lms_id,first_name,last_name,email\r\ns1,7,Zoë,Ünal,z@x\r\n".encode())
    (person,) = read_roster(path)
    assert (person.id, person.lms_id, person.full_name, person.sortable_name) == ("s1", "7", "Zoë Ünal", "Ünal, Zoë")


def test_plain_csv_has_the_parts_of_each_grade_and_says_what_is_pending(course, tmp_path):
    """Manual scores in, late penalties out, pending answers and missing students in the notes?"""
    root, url = course
    before = hashlib.sha256((root / "gradebook.db").read_bytes()).hexdigest()
    written, report = export(root, "csv", tmp_path / "plain.csv", roster=root / "roster.csv", url=url)
    assert hashlib.sha256((root / "gradebook.db").read_bytes()).hexdigest() == before  # read only
    got = {(r["assignment"], r["student_id"]): r for r in dicts(written[0])}
    done = got["demo", "done"]
    assert (done["status"], done["autograded"], done["manual"], done["score"], done["max_score"], done["notes"]) == \
        ("graded", "5", "1.5", "6.5", "7", "")
    assert (done["lms_id"], done["first_name"], done["submitted"]) == ("2001", "Ada", "2026-11-30T23:59:30+00:00")
    waiting = got["demo", "waiting"]
    assert (waiting["status"], waiting["autograded"], waiting["score"]) == ("pending", "5", "")
    assert waiting["notes"] == "pending manual grading: q_softmax (2 points)"
    late = got["demo", "late"]
    assert (late["autograded"], late["manual"], late["late_penalty"], late["score"]) == ("3", "1.5", "0.5", "4")
    regraded = got["demo", "regraded"]
    assert regraded["status"] == "pending" and "graded before a regrade: review it" in regraded["notes"]
    assert got["pair", "waiting"]["notes"] == "pending manual grading: two/q_two (1 point)"  # two notebooks
    assert got["pair", "done"]["score"] == "5"
    assert got["demo", "absent"]["status"] == "no submission" and got["demo", "absent"]["score"] == ""
    assert got["demo", "ghost"]["notes"] == "pending manual grading: q_softmax (2 points); not in the roster"
    assert "absent (Barbara Liskov): no submission of demo" in report
    assert any(line.startswith("ghost: graded for demo but not in the roster") for line in report)
    # --pending partial: the points graded so far.
    written, _ = export(root, "csv", tmp_path / "partial.csv", roster=root / "roster.csv", url=url, pending="partial")
    assert {(r["assignment"], r["student_id"]): r["score"] for r in dicts(written[0])}["demo", "waiting"] == "5"


def canvas_read(path: Path) -> dict:
    """The Canvas file as GradebookImporter reads it: {"assignments", "points", "students": {ID: {...}}}."""
    table = rows(path)
    header = table[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1]
    assert re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3])
    custom = ["Notes"] if header[5:6] == ["Notes"] else []  # a custom column of the course (Notes)
    student_columns = 5 + len(custom)
    assert "Section" in header[student_columns - 1 - len(custom)]
    titles = header[student_columns:]
    parsed = [re.fullmatch(r"(.*?)(?: \((\d+)\))?", t).groups() for t in titles]
    points = {}
    students = {}
    for row in table[1:]:
        if "Points Possible" in (row[0] or ""):
            points = dict(zip(titles, row[student_columns:]))
            continue
        if all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", c or "", re.I) for c in row):
            continue
        students[row[1]] = {"name": row[0], "section": row[4], "notes": row[5] if custom else None,
                            **dict(zip(titles, row[student_columns:]))}
    return {"titles": titles, "parsed": parsed, "points": points, "students": students}


def test_canvas_file_is_a_gradebook_import(course, tmp_path):
    """Header, Points Possible row, ids, titles with Canvas ids, grades: what Canvas's importer reads?"""
    root, url = course
    written, report = export(root, "canvas", tmp_path / "canvas.csv", roster=root / "roster.csv", url=url,
                             titles={"demo": "Demo assignment (4242)"})
    assert written == [tmp_path / "canvas.csv"]
    assert rows(written[0])[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                                   "Demo assignment (4242)", "pair"]
    got = canvas_read(written[0])
    assert got["parsed"] == [("Demo assignment", "4242"), ("pair", None)]
    assert got["points"] == {"Demo assignment (4242)": "7", "pair": "5"}
    students = got["students"]
    # The roster (ghost is not in it) less those with nothing to import: waiting and regraded are
    # pending everywhere, absent has no submission; no row, so Canvas changes nothing for them.
    assert set(students) == {"2001", "2003"}
    assert students["2001"] == {"name": "Lovelace, Ada", "section": "A", "notes": None,
                                "Demo assignment (4242)": "6.5", "pair": "5"}
    assert students["2003"]["Demo assignment (4242)"] == "4"  # 3 + 1.5 - 0.5
    assert "demo: 3 submission(s) with written answers pending manual grading (waiting, regraded, ghost)" in report
    # With Canvas's Notes column: what is pending, right after Section.
    written, _ = export(root, "canvas", tmp_path / "notes.csv", roster=root / "roster.csv", url=url,
                        canvas_notes=True, pending="partial")
    got = canvas_read(written[0])
    assert got["students"]["2002"]["notes"] == ("demo: pending manual grading: q_softmax (2 points); "
                                                "pair: pending manual grading: two/q_two (1 point)")
    assert got["students"]["2002"]["demo"] == "5" and got["students"]["2001"]["notes"] == ""
    written, _ = export(root, "canvas", tmp_path / "blank.csv", roster=root / "roster.csv", url=url,
                        canvas_notes=True)
    got = canvas_read(written[0])["students"]
    assert set(got) == {"2001", "2002", "2003", "2004"} and got["2002"]["demo"] == got["2002"]["pair"] == ""


def moodle_read(path: Path, participants: dict, maximum: float) -> dict:
    """Moodle's importer: columns by header name, "Participant <n>", grades it would set (skipping
    empty, negative and out-of-range grades), comments it would set."""
    table = rows(path)
    columns = table[0]
    index = {name: columns.index(name) for name in ("Identifier", "Grade", "Last modified (grade)")}
    comments = columns.index("Feedback comments")
    grades, notes = {}, {}
    for record in table[1:]:
        ident = record[index["Identifier"]]
        assert ident.startswith("Participant ")
        user = participants[int(ident[len("Participant "):])]
        dt.datetime.fromisoformat(record[index["Last modified (grade)"]])  # a date strtotime reads
        grade = record[index["Grade"]]
        if grade != "" and 0 <= float(grade) <= maximum:
            grades[user] = float(grade)
        notes[user] = record[comments]
    return {"grades": grades, "notes": notes, "columns": columns}


def test_moodle_worksheet_per_assignment(course, tmp_path):
    """Moodle's worksheet columns, one file per assignment with its participant numbers, pending in comments?"""
    root, url = course
    (tmp_path / "roster.csv").write_text(ROSTER.replace("regraded,2004", "regraded,x2004"))
    written, report = export(root, "moodle", tmp_path / "moodle.csv", roster=tmp_path / "roster.csv", url=url)
    assert written == [tmp_path / "moodle-demo.csv", tmp_path / "moodle-pair.csv"]
    demo = moodle_read(written[0], {2001: "done", 2002: "waiting", 2003: "late"}, 7)
    assert demo["columns"] == ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                               "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                               "Feedback comments"]
    assert demo["grades"] == {"done": 6.5, "late": 4.0}  # waiting: empty grade, skipped by Moodle
    assert demo["notes"]["waiting"] == ("Autograded 5 / 5, written answers 0 / 2 so far. "
                                        "Written answers pending manual grading: q_softmax (2 points).")
    assert demo["notes"]["late"] == ("Autograded 3 / 5, written answers 1.5 / 2, late penalty -0.5 (handed in "
                                     "59 min 30 s late). Total 4 / 7.")
    pair = moodle_read(written[1], {3001: "done", 3002: "waiting", 3003: "late", 3004: "regraded"}, 5)
    assert pair["grades"] == {"done": 5.0, "late": 5.0}  # lms_id:pair numbers
    assert ("regraded (Edsger Dijkstra): left out of the Moodle worksheet of demo: its participant number "
            "(lms_id) is 'x2004', not a number") in report
    assert all(r[0] != "Participant 2005" for r in rows(written[0]))  # no submission, no row


def test_nbgrader_export_and_the_course_command_write_the_same_files(course, tmp_path):
    """Is the Canvas file of plain `nbgrader export --exporter=...` the one of `course grades`?"""
    root, url = course
    env = dict(os.environ, PYTHONPATH=str(root))
    run = dict(cwd=root, capture_output=True, text=True, env=env, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--exporter=course.lms_export.CanvasExport",
                           f"--to={tmp_path / 'nbgrader.csv'}", "--LmsExport.roster=roster.csv",
                           "--LmsExport.titles", "demo=Demo assignment (4242)"], **run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ghost: graded for demo but not in the roster" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "course", "grades", "--lms", "canvas", "--roster", "roster.csv",
                           "--title", "demo=Demo assignment (4242)", "--out", str(tmp_path / "course.csv")], **run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[grades] absent (Barbara Liskov): no submission of demo" in proc.stdout
    assert (tmp_path / "nbgrader.csv").read_bytes() == (tmp_path / "course.csv").read_bytes()
    for argv, message in ((["--lms", "moodle"], "no student in the gradebook has an LMS id"),
                          (["--lms", "csv", "--assignment", "nope"], "not in the gradebook: 'nope'")):
        proc = subprocess.run([sys.executable, "-m", "course", "grades", *argv], **run)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def feedback_page(text: str) -> str:
    from autograder.sanitize import lock_down

    return lock_down(f"<!DOCTYPE html><html><head><title>f</title></head><body><p>{text}</p></body></html>")


def test_feedback_bundles_for_moodle_and_canvas(course, tmp_path):
    """Moodle's zip layout, Canvas's per-student files; links, unlocked pages and stray files left out?"""
    root, _ = course
    for student, assignment, name in (("done", "demo", "demo"), ("waiting", "demo", "demo"), ("ghost", "demo", "demo"),
                                      ("done", "pair", "one"), ("done", "pair", "two")):
        folder = root / "feedback" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.html").write_text(feedback_page(f"{student} {name}"))
    (root / "feedback" / "done" / "demo" / "handed_in.html").write_text(feedback_page("own file"))
    (root / "feedback" / "late" / "demo").mkdir(parents=True)
    (root / "feedback" / "late" / "demo" / "demo.html").write_text("<html><script>alert(1)</script></html>")
    (root / "feedback" / "regraded").mkdir()
    os.symlink(root / "feedback" / "done" / "demo", root / "feedback" / "regraded" / "demo")
    roster = read_roster(root / "roster.csv")
    roster = Roster([dataclasses.replace(s, first_name="Ada_Augusta") if s.id == "done" else s for s in roster],
                    roster.source)  # "_" would break Moodle's folder name
    result = bundle(root, "moodle", roster, ["demo", "pair"], out=tmp_path / "lms")
    assert result["students"] == {"demo": ["done", "waiting"], "pair": ["done"]}
    with zipfile.ZipFile(tmp_path / "lms" / "moodle" / "demo-feedback.zip") as zf:
        names = sorted(zf.namelist())
        assert names == ["Ada Augusta Lovelace_2001_assignsubmission_file_/demo-feedback.html",
                         "Alan Turing_2002_assignsubmission_file_/demo-feedback.html"]
        # Moodle's importer: "_"-split folder name -> participant number and plugin; the rest is the file name.
        for name in names:
            folder, filename = name.split("/")
            info = folder.split("_", 4)
            assert info[1].isdigit() and (info[2], info[3]) == ("assignsubmission", "file") and filename[0] not in ".~"
        assert "done demo" in zf.read(names[0]).decode()
    with zipfile.ZipFile(tmp_path / "lms" / "moodle" / "pair-feedback.zip") as zf:
        assert sorted(zf.namelist()) == ["Ada Augusta Lovelace_3001_assignsubmission_file_/one-feedback.html",
                                         "Ada Augusta Lovelace_3001_assignsubmission_file_/two-feedback.html"]
    problems = "\n".join(result["problems"])
    for needle in ("feedback/ghost/demo: not in the roster", "feedback/done/demo/handed_in.html: not a feedback page",
                   "feedback/late/demo/demo.html: no Content-Security-Policy", "a <script> element; not bundled",
                   "feedback/regraded/demo: a link; not bundled", "regraded (Edsger Dijkstra): no feedback for demo",
                   "absent (Barbara Liskov): no feedback for demo"):
        assert needle in problems, problems
    result = bundle(root, "canvas", read_roster(root / "roster.csv"), ["demo"], out=tmp_path / "lms")
    target = tmp_path / "lms" / "canvas" / "demo"
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "index.csv", "lovelaceada_2001/demo-feedback.html", "turingalan_2002/demo-feedback.html"]
    assert rows(target / "index.csv")[1] == ["Lovelace, Ada", "2001", "lovelaceada_2001/demo-feedback.html"]


def test_without_a_roster_the_gradebook_students_are_the_roster(course, tmp_path):
    """After `collect --roster` put names and LMS ids in the gradebook, does `grades` need no roster?"""
    import shutil

    from nbgrader.api import Gradebook

    root, _ = course
    shutil.copy(root / "gradebook.db", tmp_path / "gradebook.db")
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url, course_id="dlcourse") as gb:  # what course/lms/roster.py import_roster does
        for person in read_roster(root / "roster.csv"):
            gb.update_or_create_student(person.id, first_name=person.first_name, last_name=person.last_name,
                                        email=person.email, lms_user_id=person.lms_id)
    written, report = export(root, "canvas", tmp_path / "canvas.csv", url=url)
    students = canvas_read(written[0])["students"]
    assert students["2001"]["name"] == "Lovelace, Ada" and students["2001"]["demo"] == "6.5"
    assert "" not in students  # ghost was graded, but collect never saw them: no LMS id, no row
    assert "ghost (ghost): left out of the Canvas file: no lms_id (Canvas user id) or SIS id in the roster" in report
