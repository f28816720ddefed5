"""Does `collect` turn each LMS's bulk download into exactly the submitted/ tree, times and
report it should, whatever students and LMSs put in it?

Exports are generated in each LMS's layout by tests/files/lms/exports.py (its doc and
course/lms/<lms>.py say where each layout comes from): Canvas (canvas-lms
content_zipper.rb), Moodle (mod/assign downloader.php), Gradescope (Export Submissions:
submission_metadata.yml), Blackboard (nbgrader's zip_collect example names and the .txt
receipts) and a plain <id>/<file> folder. Most tests use a small course of two assignments
(demo, other) and a roster; the last one collects a Canvas export of the demo course's
sample submissions and grades it with `python -m course autograde`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from course import ROOT
from course.collect import CollectError, collect, main
from course.late import LatePenalty
from tests.files.lms import exports as ex

ROSTER = """id,lms_id,first_name,last_name,email
s1,101,Ada,Lovelace,ada@example.edu
s2,102,Alan,Turing,alan@example.edu
s3,103,Grace,Hopper,grace@example.edu
s4,104,Edsger,Dijkstra,edsger@example.edu
"""
DUE = "2026-12-01T23:59:00+00:00"


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A course with the releases of `demo` and `other`, a due date for demo and a roster."""
    monkeypatch.delenv("COURSE_GRADEBOOK_URL", raising=False)
    root = tmp_path / "course"
    for a in ("demo", "other"):
        (root / "assignments" / a).mkdir(parents=True)
        (root / "assignments" / a / f"{a}.ipynb").write_bytes(ex.nb_bytes(ex.notebook(a)))
    (root / "course.toml").write_text(f'[grading]\nlate_penalty_per_hour = 1\nlate_zero_after_hours = 0\n'
                                      f'due_dates.demo = "{DUE}"\n')
    (root / "roster.csv").write_text(ROSTER)
    return root


def run(root, export, assignment="demo", **kw):
    lines = []
    report = collect(root, assignment, export, log=lines.append, **kw)
    return report, "\n".join(lines)


def tree(root) -> dict:
    """{path under submitted/: bytes} of every file (links would show as such)."""
    sub = Path(root) / "submitted"
    out = {}
    for path in sorted(sub.rglob("*")) if sub.exists() else []:
        if path.is_symlink():
            out[path.relative_to(sub).as_posix()] = "LINK"
        elif path.is_file():
            out[path.relative_to(sub).as_posix()] = path.read_bytes()
    return out


def why(report, name) -> str:
    found = [u["why"] for u in report["unmatched"] if u["file"] == name]
    assert found, (name, [u["file"] for u in report["unmatched"]])
    return found[0]


def record(root, assignment="demo") -> dict:
    return json.loads((Path(root) / "build" / "collected" / f"{assignment}.json").read_text())


def gradebook_students(root) -> dict:
    from course.gradebook import open_gradebook

    with open_gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        return {s.id: (s.first_name, s.last_name, s.email, s.lms_user_id) for s in gb.students}


def canvas_export(root) -> Path:
    """Renamed, late, resubmitted, zipped, empty, corrupt, foreign and unknown files."""
    n = ex.canvas_name
    return ex.write_zip(root / "canvas.zip", [
        (n("Lovelace", "Ada", 101, 9001, "demo.ipynb"), ex.answered("demo")),
        # late, and resubmitted: Canvas renamed the second upload demo-1.ipynb
        (n("Turing", "Alan", 102, 9002, "demo.ipynb", late=True), ex.answered("demo", 1)),
        (n("Turing", "Alan", 102, 9010, "demo-1.ipynb", late=True), ex.stripped("demo")),
        # the student's own zip: a Colab copy and a data file (and macOS junk)
        (n("Hopper", "Grace", 103, 9003, "hw.zip"), ex.zip_bytes({
            "hw/Copy of demo.ipynb": ex.answered("demo"), "hw/data.csv": b"a,b\n1,2\n",
            "__MACOSX/hw/._Copy of demo.ipynb": b"\0\5\26\7"})),
        (n("Hopper", "Grace", 103, 9004, "empty.ipynb"), b""),
        (n("Hopper", "Grace", 103, 9005, "other.ipynb"), ex.answered("other")),
        (n("Hopper", "Grace", 103, 9006, "broken.ipynb"), b'{"cells": [ not json'),
        (n("Hopper", "Grace", 103, 9007, "report.pdf"), b"%PDF-1.4 report"),
        (n("Nobody", "Some", 999, 9008, "demo.ipynb"), ex.answered("demo")),
        ("README.txt", b"not a submission"),
    ])


def test_canvas_export(course):
    """Canvas: each file to its student by user id, Canvas's -N resubmission superseding the
    first upload, a student's zip unpacked, empty/corrupt/foreign/unknown files reported,
    the roster imported, the late mark and --times kept, and the due date in the gradebook."""
    (course / "times.csv").write_text("lms_id,submitted_at\n101,2026-12-01T23:00:00+00:00\n"
                                      "102,2026-12-02T01:30:00+00:00\n")
    report, screen = run(course, canvas_export(course), roster=course / "roster.csv", times=course / "times.csv")
    assert report["lms"] == "canvas" and report["lms_detected"]
    assert tree(course) == {
        "s1/demo/demo.ipynb": ex.answered("demo"),
        "s2/demo/demo-1.ipynb": ex.stripped("demo"),
        "s3/demo/Copy of demo.ipynb": ex.answered("demo"),
        "s3/demo/data.csv": b"a,b\n1,2\n",
        "s3/demo/report.pdf": b"%PDF-1.4 report",
    }
    assert record(course) == {"s1": "2026-12-01T23:00:00+00:00", "s2": "2026-12-02T01:30:00+00:00"}
    s1, s2, s3 = (report["students"][s] for s in ("s1", "s2", "s3"))
    assert s1["late_seconds"] == 0 and s1["lms_late"] is False and s1["matched_by"] == "LMS id"
    assert s2["late_seconds"] == 5460 and s2["lms_late"] is True
    assert s2["older"][0]["file"] == "turingalan_late_102_9002_demo.ipynb"
    assert "superseded" in s2["older"][0]["why"]
    assert (course / s2["older"][0]["kept"]).read_bytes() == ex.answered("demo", 1)
    assert s3["time"] is None
    assert [f["kind"] for f in s3["files"]] == ["notebook", "other", "other"]
    assert "empty" in why(report, "hoppergrace_103_9004_empty.ipynb")
    assert "assignment other" in why(report, "hoppergrace_103_9005_other.ipynb")
    assert "not a readable notebook" in why(report, "hoppergrace_103_9006_broken.ipynb")
    assert "not on the roster (LMS id 999" in why(report, "nobodysome_999_9008_demo.ipynb")
    assert "Canvas's" in why(report, "README.txt")
    assert report["missing"] == ["s4"]
    assert report["ignored"] == 1  # __MACOSX
    assert gradebook_students(course) == {
        "s1": ("Ada", "Lovelace", "ada@example.edu", "101"), "s2": ("Alan", "Turing", "alan@example.edu", "102"),
        "s3": ("Grace", "Hopper", "grace@example.edu", "103"),
        "s4": ("Edsger", "Dijkstra", "edsger@example.edu", "104")}
    from course.gradebook import open_gradebook

    with open_gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        assert gb.find_assignment("demo").duedate == datetime(2026, 12, 1, 23, 59)
    saved = json.loads((course / "build" / "collect" / "demo.json").read_text())
    assert saved == json.loads(json.dumps(report))
    for text in ("LATE by 1.52 h", "NOT COLLECTED (s3): hoppergrace_103_9006_broken.ipynb",
                 "no submission from: s4", "kept aside: turingalan_late_102_9002_demo.ipynb"):
        assert text in screen


def test_canvas_without_times_records_no_time(course):
    """Canvas's export carries no time: nothing is recorded (no penalty) and Canvas's late
    mark is reported as needing --times; with --zip-times the entries' times are used."""
    report, screen = run(course, canvas_export(course), roster=course / "roster.csv")
    assert record(course) == {}
    assert any("gives no time" in n for n in report["students"]["s2"]["notes"])
    stamp = (2026, 12, 2, 3, 4, 6)  # zip times have 2 s steps
    export = ex.write_zip(course / "timed.zip", [(ex.canvas_name("Lovelace", "Ada", 101, 1, "demo.ipynb"),
                                                  ex.answered("demo"))],
                          times={ex.canvas_name("Lovelace", "Ada", 101, 1, "demo.ipynb"): stamp})
    report, _ = run(course, export, zip_times=True)
    assert record(course) == {}  # a zip entry's time has no zone
    assert any("--timezone" in n for n in report["students"]["s1"]["notes"])
    report, _ = run(course, export, zip_times=True, zone="Europe/Paris")
    assert record(course) == {"s1": "2026-12-02T02:04:06+00:00"}
    assert report["students"]["s1"]["time_source"] == "the export's entry times (--zip-times)"


def test_moodle_export(course):
    """Moodle: folders (3.x with the trailing _, 4.1+ without) and flat files, matched by
    participant id (the roster's lms_id, or its lms_id:<assignment> column) or by a unique
    full name (UTF-8 names without the zip's UTF-8 flag too); online text kept."""
    (course / "moodle-roster.csv").write_text(  # Moodle numbers participants per assignment: lms_id:demo
        "id,lms_id,lms_id:demo,first_name,last_name,email\ns1,9901,5501,Ada,Lovelace,\ns2,,,Alan,Turing,\n"
        "s3,5503,,Grace,Hopper,\ns4,,,Ed,Smith,\ns5,,,Ed,Smith,\ns6,,,Zoë,Noël,\n")
    n = ex.moodle_name
    export = ex.write_zip(course / "moodle.zip", [
        (n("Ada Lovelace", 5501, "demo.ipynb"), ex.answered("demo")),
        (n("Ada Lovelace", 5501, "onlinetext.html", plugin="onlinetext"), b"<p>see notebook</p>"),
        (n("Alan Turing", 5502, "Copy of demo.ipynb", since_41=True), ex.stripped("demo")),
        (n("Participant", 5503, "demo.ipynb", folders=False), ex.answered("demo", 7)),
        (n("Ed Smith", 5504, "demo.ipynb"), ex.answered("demo")),
        (n("Marie Curie", 5505, "demo.ipynb"), ex.answered("demo")),
        (n("Zoë Noël", 5506, "démo.ipynb"), ex.answered("demo", 6)),
    ])
    accented = n("Zoë Noël", 5506, "démo.ipynb")
    export.write_bytes(ex.without_utf8_flag(export.read_bytes(), accented))  # UTF-8 name, no UTF-8 flag
    with pytest.raises(CollectError, match="--roster"):
        run(course, export)
    report, _ = run(course, export, roster=course / "moodle-roster.csv")
    assert report["lms"] == "moodle"
    assert tree(course) == {
        "s1/demo/demo.ipynb": ex.answered("demo"), "s1/demo/onlinetext.html": b"<p>see notebook</p>",
        "s2/demo/Copy of demo.ipynb": ex.stripped("demo"), "s3/demo/demo.ipynb": ex.answered("demo", 7),
        "s6/demo/démo.ipynb": ex.answered("demo", 6)}
    assert report["students"]["s1"]["matched_by"] == "LMS id"
    assert report["students"]["s2"]["matched_by"] == "name"
    assert gradebook_students(course)["s1"] == ("Ada", "Lovelace", None, "9901")
    assert report["students"]["s3"]["matched_by"] == "LMS id"
    assert "fits 2 roster students" in why(report, "Ed Smith_5504_assignsubmission_file_/demo.ipynb")
    assert "not on the roster" in why(report, "Marie Curie_5505_assignsubmission_file_/demo.ipynb")
    assert report["missing"] == ["s4", "s5"]


def test_gradescope_export(course):
    """Gradescope: the yml (Ruby tags and all) gives submitters and times with offsets; a
    group submission goes to each member; a student in two submissions gets the later one
    and the other is kept aside; a folder without metadata is reported."""
    subs = {
        "submission_1": {"submitters": [("Ada Lovelace", "101", "ada@example.edu")],
                         "created_at": "2026-12-01 15:58:30.000000000 -08:00",
                         "history": ["2026-11-30 10:00:00.000000000 -08:00"],
                         "files": {"demo.ipynb": ex.answered("demo")}},
        "submission_2": {"submitters": [("Alan Turing", "102", "alan@example.edu"),
                                        ("Grace Hopper", "", "GRACE@example.edu")],
                         "created_at": "2026-12-02 10:30:00.000000000 +09:00",  # 01:30 UTC: late
                         "files": {"Copy of demo.ipynb": ex.stripped("demo"), "notes/readme.md": b"# notes"}},
        "submission_3": {"submitters": [("Grace Hopper", "103", "grace@example.edu")],
                         "created_at": "2026-11-30 12:00:00.000000000 +00:00",
                         "files": {"demo.ipynb": ex.answered("demo", 3)}},
    }
    export = ex.gradescope_export(course / "gradescope.zip", subs)
    with zipfile.ZipFile(export, "a") as z:  # a folder the yml does not know
        z.writestr("assignment_777_export/submission_9/demo.ipynb", ex.answered("demo"))
    report, _ = run(course, export, roster=course / "roster.csv")
    assert report["lms"] == "gradescope"
    group = {"demo/Copy of demo.ipynb": ex.stripped("demo"), "demo/readme.md": b"# notes"}
    assert tree(course) == {"s1/demo/demo.ipynb": ex.answered("demo"),
                            **{f"s2/{k}": v for k, v in group.items()}, **{f"s3/{k}": v for k, v in group.items()}}
    assert record(course) == {"s1": "2026-12-01T23:58:30+00:00", "s2": "2026-12-02T01:30:00+00:00",
                              "s3": "2026-12-02T01:30:00+00:00"}
    s3 = report["students"]["s3"]
    assert s3["matched_by"] == "email, LMS id" and s3["late_seconds"] == 5460
    assert [o["file"] for o in s3["older"]] == ["assignment_777_export/submission_3/demo.ipynb"]
    assert "metadata" in why(report, "assignment_777_export/submission_9/demo.ipynb")
    assert report["missing"] == ["s4"]


def test_blackboard_export(course):
    """Blackboard: the latest attempt of each student (earlier ones kept aside), the original
    file names and the submission time (with its zone) from the receipts; without a
    receipt, the attempt time needs --timezone."""
    (course / "bb-roster.csv").write_text("id,lms_id,first_name,last_name,email\n"
                                          "s1,alovelace,Ada,Lovelace,\ns2,j_doe,Jo,Doe,\ns3,aturing,Alan,Turing,\n")
    a = ex.blackboard_attempt
    export = ex.write_zip(course / "bb.zip", [
        *a("Demo", "Ada Lovelace", "alovelace", "2026-11-30-09-00-00", "Monday, November 30, 2026 4:00:00 AM EST",
           {"demo.ipynb": ex.answered("demo", 1)}),
        *a("Demo", "Ada Lovelace", "alovelace", "2026-12-01-18-58-30", "Tuesday, December 1, 2026 6:58:30 PM EST",
           {"demo.ipynb": ex.answered("demo"), "notes.txt": b"my notes"}),
        *a("Demo", "Jo Doe", "j_doe", "2026-12-02-01-30-00",
           "Wednesday, 2 December 2026 01:30:00 o'clock GMT", {"Copy of demo.ipynb": ex.stripped("demo")}),
        *a("Demo", "Alan Turing", "aturing", "2026-12-01-10-00-00", "", {"demo.ipynb": ex.answered("demo")},
           receipt=False),
    ])
    report, _ = run(course, export, roster=course / "bb-roster.csv")
    assert report["lms"] == "blackboard"
    assert tree(course) == {"s1/demo/demo.ipynb": ex.answered("demo"), "s1/demo/notes.txt": b"my notes",
                            "s2/demo/Copy of demo.ipynb": ex.stripped("demo"),
                            "s3/demo/demo.ipynb": ex.answered("demo")}
    assert record(course) == {"s1": "2026-12-01T23:58:30+00:00", "s2": "2026-12-02T01:30:00+00:00"}
    s1 = report["students"]["s1"]
    assert [o["file"] for o in s1["older"]] == ["Demo_alovelace_attempt_2026-11-30-09-00-00_demo.ipynb"]
    assert s1["time_source"] == "Blackboard receipt (Date Submitted)"
    assert report["students"]["s2"]["late_seconds"] == 5460
    assert report["students"]["s3"]["time"] is None
    report, _ = run(course, export, roster=course / "bb-roster.csv", zone="America/New_York")
    assert record(course)["s3"] == "2026-12-01T15:00:00+00:00"


def test_folder_export(course):
    """A folder of <id>/<file>: archived as a tar (by content), links inside it not followed,
    stray files reported."""
    export = course / "handins"
    (export / "s1" / "sub").mkdir(parents=True)
    (export / "s1" / "Copy of demo.ipynb").write_bytes(ex.answered("demo"))
    (export / "s1" / "sub" / "helper.py").write_text("x = 1\n")
    (export / "s2").mkdir()
    (export / "s2" / "demo.ipynb").write_bytes(ex.answered("demo", 2))
    (export / "s2" / "key.ipynb").symlink_to(course / "assignments" / "demo" / "demo.ipynb")
    (export / "stray.ipynb").write_bytes(ex.answered("demo"))
    report, _ = run(course, export, roster=course / "roster.csv")
    assert report["lms"] == "folder" and report["export"]["kind"] == "folder"
    assert tree(course) == {"s1/demo/Copy of demo.ipynb": ex.answered("demo"), "s1/demo/helper.py": b"x = 1\n",
                            "s2/demo/demo.ipynb": ex.answered("demo", 2)}
    assert "symbolic link" in why(report, "s2/key.ipynb")
    assert "outside any student folder" in why(report, "stray.ipynb")
    archive = course / report["export"]["archive"]
    assert archive.name == hashlib.sha256(archive.read_bytes()).hexdigest() + ".tar"
    again, _ = run(course, export, roster=course / "roster.csv")
    assert again["export"]["sha256"] == report["export"]["sha256"]


def test_hostile_export_writes_nothing_outside(course, tmp_path):
    """Traversal, absolute and drive names, links, FIFOs, control characters, duplicates,
    encrypted entries and a zip bomb, in the export and in a student's own zip: refused and
    reported, never written; the good entries are still collected."""
    name = ex.canvas_name("Lovelace", "Ada", 101, 1, "demo.ipynb")
    inner = ex.zip_bytes([("../../../../escape2.ipynb", b"{}"), ("ok/demo.ipynb", ex.answered("demo", 5))])
    many = ex.zip_bytes([(f"part{i}.txt", b"\0" * 65536) for i in range(600)])  # 37 MiB from ~150 KiB
    bomb_name = ex.canvas_name("Hopper", "Grace", 103, 3, "bomb.zip")
    export = ex.hostile_zip(course / "hostile.zip", [(name, ex.answered("demo")),
                                                     (ex.canvas_name("Turing", "Alan", 102, 2, "hw.zip"), inner),
                                                     (bomb_name, many)])
    report, _ = run(course, export, roster=course / "roster.csv")
    assert tree(course) == {"s1/demo/demo.ipynb": ex.answered("demo"), "s2/demo/demo.ipynb": ex.answered("demo", 5)}
    reasons = {u["file"]: u["why"] for u in report["unmatched"]}
    assert "climbs out" in reasons["../escape.ipynb"] and "climbs out" in reasons["a/../../climb.txt"]
    assert "absolute" in reasons["/etc/absolute.ipynb"] and "absolute" in reasons["C:\\windows\\drive.ipynb"]
    assert "symbolic link" in reasons["link_to_key.ipynb"] and "special file" in reasons["fifo"]
    assert "zip bomb" in reasons["bomb.txt"] and "control characters" in reasons["ctrl\\x1b[31mred.txt"]
    assert "same name" in reasons[name] and "encrypted" in reasons["secret.ipynb"]
    assert "climbs out" in reasons[ex.canvas_name("Turing", "Alan", 102, 2, "hw.zip") + "/../../../../escape2.ipynb"]
    assert "zip bomb" in reasons[bomb_name]
    written = {p.name for p in tmp_path.rglob("*")}
    assert not {"escape.ipynb", "escape2.ipynb", "climb.txt", "absolute.ipynb", "link_to_key.ipynb"} & written


def test_rerun_is_idempotent_and_later_submissions_win(course):
    """The same export twice: the same archive, submitted/ tree (files untouched), record
    and older/ copies. A newer export replaces a student's folder (the old one kept); an
    older one does not."""
    (course / "times.csv").write_text("lms_id,submitted_at\n101,2026-12-01T20:00:00+00:00\n")
    export = canvas_export(course)
    first, _ = run(course, export, roster=course / "roster.csv", times=course / "times.csv")

    def state():
        files = {}
        for base in ("submitted", "build/collected", "build/collect/demo/older", "build/collect/archive"):
            for p in sorted((course / base).rglob("*")):
                if p.is_file():
                    files[p.relative_to(course).as_posix()] = (p.read_bytes(), p.stat().st_mtime_ns)
        return files

    before = state()
    again, _ = run(course, export, roster=course / "roster.csv", times=course / "times.csv")
    assert state() == before
    assert {s: r["status"] for s, r in again["students"].items()} == {"s1": "unchanged", "s2": "unchanged",
                                                                      "s3": "unchanged"}
    for s in again["students"]:
        again["students"][s]["status"] = first["students"][s]["status"]
    assert again == first
    # Ada resubmits after the first download: a newer export replaces her folder
    newer = ex.write_zip(course / "newer.zip", [(ex.canvas_name("Lovelace", "Ada", 101, 9100, "demo-1.ipynb"),
                                                 ex.answered("demo", 9))])
    (course / "times2.csv").write_text("lms_id,submitted_at\n101,2026-12-01T22:00:00+00:00\n")
    report, _ = run(course, newer, roster=course / "roster.csv", times=course / "times2.csv")
    assert tree(course)["s1/demo/demo-1.ipynb"] == ex.answered("demo", 9)
    assert "s1/demo/demo.ipynb" not in tree(course)
    kept = [p for p in (course / "build/collect/demo/older/s1").glob("replaced-*/demo.ipynb")]
    assert len(kept) == 1 and kept[0].read_bytes() == ex.answered("demo")
    assert record(course)["s1"] == "2026-12-01T22:00:00+00:00"
    # collecting the first download again does not bring back the older submission
    report, _ = run(course, export, roster=course / "roster.csv", times=course / "times.csv")
    assert report["students"]["s1"]["status"] == "kept earlier collection"
    assert tree(course)["s1/demo/demo-1.ipynb"] == ex.answered("demo", 9)
    assert record(course)["s1"] == "2026-12-01T22:00:00+00:00"
    assert len(list((course / "build/collect/archive").iterdir())) == 2


@pytest.mark.parametrize("case, message", [
    ("no_export", "no such file or folder"),
    ("not_zip", "not a zip file or a folder"),
    ("no_assignment", "assignments/nope has no release notebooks"),
    ("roster_no_id", "no 'id' column"),
    ("roster_dup", "line 3: the id 's1' is also on line 2"),
    ("roster_bad_id", "line 2: the id '../s1' cannot be a student id"),
    ("roster_dup_lms", "the lms_id '101' is also 's1'"),
    ("times_no_zone", "has no UTC offset"),
    ("bad_zone", "not a time zone name"),
])
def test_bad_input_is_refused_before_anything_is_written(course, case, message):
    """Each unusable input stops with a message naming the file and what to do, and leaves
    no submitted/, record or archive behind."""
    export = canvas_export(course)
    kw = {"roster": course / "roster.csv"}
    assignment = "demo"
    if case == "no_export":
        export = course / "missing.zip"
    elif case == "not_zip":
        export = course / "truncated.zip"
        export.write_bytes(canvas_export(course).read_bytes()[:100])
    elif case == "no_assignment":
        assignment = "nope"
    elif case.startswith("roster"):
        text = {"roster_no_id": "student,lms_id\ns1,101\n",
                "roster_dup": "id,lms_id\ns1,101\ns1,102\n",
                "roster_bad_id": "id,lms_id\n../s1,101\n",
                "roster_dup_lms": "id,lms_id\ns1,101\ns2,101\n"}[case]
        (course / "bad.csv").write_text(text)
        kw["roster"] = course / "bad.csv"
    elif case == "times_no_zone":
        (course / "times.csv").write_text("id,submitted_at\ns1,2026-12-01 23:00\n")
        kw["times"] = course / "times.csv"
    elif case == "bad_zone":
        kw["zone"] = "Mars/Olympus"
    with pytest.raises(CollectError) as err:
        run(course, export, assignment, **kw)
    assert message in str(err.value)
    assert not (course / "submitted").exists()
    written = {str(p.relative_to(course)) for p in (course / "build").rglob("*") if p.is_file()} \
        if (course / "build").exists() else set()
    assert written <= {"build/grading/run.lock"}, written  # the run lock (course/lock.py) only


def test_command_line_reports_bad_input(capsys):
    """`python -m course collect` exits 2 with the message (and writes nothing)."""
    assert main(["captioning", "/nonexistent/export.zip"]) == 2
    assert "/nonexistent/export.zip: no such file or folder" in capsys.readouterr().err


def test_late_penalty_plugin():
    """LatePenalty: points per started hour, zero after the cut-off, nbgrader's method when off."""
    plugin = LatePenalty(per_hour=1.0)
    assert plugin.late_submission_penalty("s", 6.0, 1) == 1
    assert plugin.late_submission_penalty("s", 6.0, 5460) == 2
    assert plugin.late_submission_penalty("s", 1.0, 5460) == 1
    assert LatePenalty(per_hour=1.0, zero_after_hours=24).late_submission_penalty("s", 6.0, 25 * 3600) == 6.0
    assert LatePenalty().late_submission_penalty("s", 6.0, 5460) is None
    assert LatePenalty(penalty_method="zero").late_submission_penalty("s", 6.0, 5460) == 6.0


def test_plugins_run_in_nbgrader_zip_collect(course):
    """The extractor and a collector are nbgrader zip_collect plug points: its own command
    runs them (with its own semantics: LMS ids as students, no roster)."""
    work = course / "zc"
    (work / "downloaded" / "demo" / "archive").mkdir(parents=True)
    shutil.copy2(canvas_export(course), work / "downloaded" / "demo" / "archive" / "canvas.zip")
    shutil.copytree(course / "assignments", work / "release")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", "demo",
                           "--ZipCollectApp.extractor_plugin=course.lms.base.SafeExtractor",
                           "--ZipCollectApp.collector_plugin=course.lms.canvas.CanvasCollector",
                           "--CourseDirectory.release_directory=release"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = {p.relative_to(work / "submitted").as_posix() for p in (work / "submitted").rglob("*.ipynb")}
    assert {"101/demo/demo.ipynb", "102/demo/demo-1.ipynb", "999/demo/demo.ipynb"} <= got


# -- end to end: a Canvas export of the demo course's samples, collected and graded ----------------------
def test_canvas_export_collected_and_graded_with_late_penalty(tmp_path, monkeypatch):
    """The demo course's sample submissions, downloaded from Canvas (one renamed by Colab and
    resubmitted, one late), collected with a roster and Canvas's submission times, then
    graded by `python -m course autograde`: every student gets exactly the points of
    test_demo_grading, and the late one loses 1 point per started hour (1.5 h late: 2)."""
    from course.answers import make_answers
    from course.autograde import autograde
    from course.gradebook import open_gradebook
    from course.release import release
    from course.samples import STUDENTS, make_samples

    from .demo_course import make_demo_course

    monkeypatch.delenv("COURSE_GRADEBOOK_URL", raising=False)
    root = make_demo_course(tmp_path, cell_timeout=8, memory_mib=1024, late_penalty_per_hour=1)
    toml = (root / "course.toml").read_text()
    (root / "course.toml").write_text(toml.replace("[grading]\n", f'[grading]\ndue_dates.demo = "{DUE}"\n', 1))
    make_answers(root, "demo")
    release(root)
    expected = make_samples(root, ["demo"])
    sample = {s: (root / "submitted" / s / "demo" / "demo.ipynb").read_bytes() for s in STUDENTS}
    shutil.rmtree(root / "submitted")
    people = {"reference": ("Lovelace", "Ada", 101), "untouched": ("Turing", "Alan", 102),
              "partial": ("Hopper", "Grace", 103), "stripped": ("Dijkstra", "Edsger", 104),
              "absent": ("Noether", "Emmy", 105)}
    (root / "roster.csv").write_text("id,lms_id,first_name,last_name,email\n" + "".join(
        f"{sid},{uid},{first},{last},{first.lower()}@example.edu\n" for sid, (last, first, uid) in people.items()))
    n = ex.canvas_name
    export = ex.write_zip(tmp_path / "canvas.zip", [
        (n("Lovelace", "Ada", 101, 5001, "demo.ipynb"), sample["reference"]),
        (n("Turing", "Alan", 102, 5002, "demo.ipynb"), sample["untouched"]),
        (n("Hopper", "Grace", 103, 5003, "demo.ipynb", late=True), sample["partial"]),
        (n("Dijkstra", "Edsger", 104, 5004, "Copy of demo.ipynb"), sample["untouched"]),
        (n("Dijkstra", "Edsger", 104, 5014, "Copy of demo-1.ipynb"), sample["stripped"]),
    ])
    (root / "times.csv").write_text("lms_id,submitted_at\n101,2026-12-01T20:00:00+00:00\n"
                                    "102,2026-12-01T23:59:00+00:00\n103,2026-12-02T01:30:00+00:00\n"
                                    "104,2026-12-01T18:00:00-05:00\n")
    report = collect(root, "demo", export, roster=root / "roster.csv", times=root / "times.csv", log=print)
    assert report["missing"] == ["absent"]
    assert sorted(p.relative_to(root / "submitted").as_posix() for p in (root / "submitted").rglob("*.ipynb")) == [
        "partial/demo/demo.ipynb", "reference/demo/demo.ipynb", "stripped/demo/Copy of demo-1.ipynb",
        "untouched/demo/demo.ipynb"]
    autograde(root, ["demo"])
    want = {"reference": 6, "untouched": 0, "partial": expected["demo"], "stripped": 6}
    assert want["partial"] == 5
    with open_gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        subs = {s.student_id: s for s in gb.assignment_submissions("demo")}
        assert set(subs) == set(want)
        got = {sid: (sub.score, sub.late_submission_penalty, sub.timestamp) for sid, sub in subs.items()}
        names = {s.id: (s.first_name, s.last_name, s.lms_user_id) for s in gb.students}
    assert got["reference"] == (6, 0, datetime(2026, 12, 1, 20, 0))
    assert got["untouched"] == (0, 0, datetime(2026, 12, 1, 23, 59))
    assert got["partial"] == (5, 2, datetime(2026, 12, 2, 1, 30))  # 1.5 h late: 2 started hours
    assert got["stripped"] == (6, 0, datetime(2026, 12, 1, 23, 0))  # 18:00 -05:00: on time
    assert names["absent"] == ("Emmy", "Noether", "105")
