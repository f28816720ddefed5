"""Manual grading as instructors do it: a score typed in the formgrader reaches the LMS grades file.

The demo course (tests/pipeline/demo_course.py: 6 autograded points and the 2-point written
question ``q_softmax``) is graded by the real stages (answers, release, samples, autograde).
Before anyone grades by hand, ``python -m course grades`` marks every submission's written
answer as pending in the plain CSV, the Canvas import file and the Moodle worksheet. Then a
Jupyter server with nbgrader's formgrader extension (the course's own nbgrader_config.py)
runs on 127.0.0.1 with a token; headless Chromium opens the formgrader page of the
``reference`` submission, types 1.5 into the manual score box of ``q_softmax`` and leaves
the box, and the formgrader saves the score through its REST API (a PUT to
/formgrader/api/grade/<id>). The grades files written afterwards hold 6 autograded points
plus the 1.5 from the grader; the other students stay pending. ``python -m course feedback
demo --lms moodle`` afterwards writes feedback showing the grader's score and puts that page
in the Moodle feedback zip.

Chromium is Debian's package (``apt-get install chromium``); on CI (``CI`` set) a missing
browser fails, elsewhere it skips.
"""
from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course.autograde import autograde

from .demo_course import sampled_demo_course
from .formgrader import formgrader_server

ROSTER = """id,lms_id,first_name,last_name,email
reference,1001,Ada,Lovelace,ada@example.org
partial,1002,Alan,Turing,alan@example.org
untouched,1003,Grace,Hopper,grace@example.org
absent,1004,Edsger,Dijkstra,edsger@example.org
"""
SCORE = "1.5"
MODELS_LOADED = ("() => document.querySelector('input#test_softmax') && "
                 "document.querySelector('input#test_softmax').placeholder === '2'")


def grades_files(root: Path, tag: str) -> dict:
    """Run ``python -m course grades`` for each LMS; return the parsed files and the report."""
    out = {}
    for lms in ("csv", "canvas", "moodle"):
        path = root / "build" / "lms" / f"{tag}-{lms}.csv"
        notes = ["--canvas-notes"] if lms == "canvas" else []  # Canvas's Notes column says what is pending
        proc = subprocess.run([sys.executable, "-m", "course", "grades", "--lms", lms, "--roster", "roster.csv",
                               "--out", str(path), *notes], cwd=root, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        with open(path, newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))
        out[lms] = table
        out[f"{lms}-report"] = proc.stdout
    plain = [dict(zip(out["csv"][0], row)) for row in out["csv"][1:]]
    out["plain"] = {r["student_id"]: r for r in plain}
    out["canvas-by-id"] = {row[1]: row for row in out["canvas"][2:]}
    out["moodle-by-id"] = {row[0]: dict(zip(out["moodle"][0], row)) for row in out["moodle"][1:]}
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory, browser_ready):
    root, _ = sampled_demo_course(tmp_path_factory.mktemp("manual-grading"), cell_timeout=8, memory_mib=1024)
    autograde(root, ["demo"])
    (root / "roster.csv").write_text(ROSTER)
    return {"root": root, "before": grades_files(root, "before")}


@pytest.fixture(scope="module")
def formgrader(course, tmp_path_factory):
    """A Jupyter server in the course folder, with the formgrader, on 127.0.0.1 with a token."""
    with formgrader_server(course["root"], tmp_path_factory.mktemp("jupyter-home")) as server:
        yield server


def _gradebook(root: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{root / 'gradebook.db'}", "dlcourse")


@pytest.fixture(scope="module")
def graded_by_hand(course, formgrader, browser_ready):
    """A grader types the score of q_softmax for `reference` in the formgrader and leaves the box."""
    from playwright.sync_api import sync_playwright

    from course.sitecheck import CHROMIUM_ARGS

    root, base = course["root"], formgrader["base"]
    with _gradebook(root) as gb:
        sid = gb.find_submission_notebook("demo", "demo", "reference").id
    url = f"{base}/formgrader/submissions/{sid}/"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_ready, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(extra_http_headers={"Authorization": f"token {formgrader['token']}"})
            page = context.new_page()
            # Loopback only: nbgrader's templates would fetch MathJax from a CDN.
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
            page.goto(url, wait_until="load")
            page.wait_for_function(MODELS_LOADED, timeout=30000)
            box = page.locator("input#q_softmax")
            shown = {"value": box.input_value(), "class": box.get_attribute("class")}
            with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url
                                      and r.request.method == "PUT", timeout=30000) as response:
                box.fill(SCORE)
                box.press("Tab")  # leaving the box fires "change": the formgrader saves the score
            saved = {"status": response.value.status, "body": response.value.json()}
            page.reload(wait_until="load")
            page.wait_for_function(MODELS_LOADED, timeout=30000)
            reloaded = page.locator("input#q_softmax").input_value()
        finally:
            browser.close()
    return {"shown": shown, "saved": saved, "reloaded": reloaded, "after": grades_files(root, "after")}


def test_before_manual_grading_the_written_answer_is_pending(course):
    """Do all three files mark the ungraded written answer as pending, with the autograded points known?"""
    before = course["before"]
    ref = before["plain"]["reference"]
    assert (ref["status"], ref["autograded"], ref["autograded_max"], ref["manual"], ref["score"]) == \
        ("pending", "6", "6", "0", "")
    assert ref["notes"] == "pending manual grading: q_softmax (2 points)"
    assert before["plain"]["absent"]["status"] == "no submission"
    assert before["canvas"][0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Notes", "demo"]
    assert before["canvas"][1] == ["Points Possible", "", "", "", "", "", "8"]
    assert before["canvas-by-id"]["1001"] == ["Lovelace, Ada", "1001", "", "", "",
                                              "demo: pending manual grading: q_softmax (2 points)", ""]
    assert "1004" not in before["canvas-by-id"]  # no submission: no row
    moodle = before["moodle-by-id"]["Participant 1001"]
    assert moodle["Grade"] == "" and moodle["Status"] == "Submitted for grading - Pending manual grading"
    assert "pending manual grading: q_softmax (2 points)" in moodle["Feedback comments"]
    assert "absent (Edsger Dijkstra): no submission of demo" in before["csv-report"]
    assert "stripped: graded for demo but not in the roster" in before["canvas-report"]


def test_a_score_typed_in_the_formgrader_is_saved(course, graded_by_hand):
    """Does the formgrader show the box as needing a grade, save the typed score and show it again?"""
    assert graded_by_hand["shown"]["value"] == "" and "needs_manual_grade" in graded_by_hand["shown"]["class"]
    saved = graded_by_hand["saved"]
    assert saved["status"] == 200, saved
    assert (saved["body"]["name"], saved["body"]["manual_score"], saved["body"]["needs_manual_grade"]) == \
        ("q_softmax", 1.5, False)
    assert graded_by_hand["reloaded"] == SCORE
    with _gradebook(course["root"]) as gb:
        grade = gb.find_grade("q_softmax", "demo", "demo", "reference")
        assert (grade.manual_score, grade.needs_manual_grade) == (1.5, False)


def test_the_manual_score_reaches_the_lms_grades_files(graded_by_hand):
    """Do the grades files now hold 6 autograded + 1.5 manual points for reference, others still pending?"""
    after = graded_by_hand["after"]
    ref = after["plain"]["reference"]
    assert (ref["status"], ref["autograded"], ref["manual"], ref["manual_max"], ref["score"], ref["max_score"],
            ref["notes"]) == ("graded", "6", "1.5", "2", "7.5", "8", "")
    assert after["plain"]["partial"]["status"] == "pending" and after["plain"]["partial"]["score"] == ""
    assert after["canvas-by-id"]["1001"][-2:] == ["", "7.5"]
    assert after["canvas-by-id"]["1002"][-2:] == ["demo: pending manual grading: q_softmax (2 points)", ""]
    moodle = after["moodle-by-id"]["Participant 1001"]
    assert (moodle["Grade"], moodle["Maximum Grade"], moodle["Status"]) == ("7.5", "8", "Submitted for grading - Graded")
    assert moodle["Feedback comments"] == "Autograded 6 / 6, written answers 1.5 / 2. Total 7.5 / 8."
    assert after["moodle-by-id"]["Participant 1002"]["Grade"] == ""


def test_feedback_with_the_manual_score_goes_in_the_moodle_zip(course, graded_by_hand):
    """Feedback written after grading shows the grader's 1.5; does the Moodle zip carry that page?"""
    root = course["root"]
    proc = subprocess.run([sys.executable, "-m", "course", "feedback", "demo", "--lms", "moodle",
                           "--roster", "roster.csv"], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "[feedback] absent (Edsger Dijkstra): no feedback for demo" in proc.stdout
    assert "[feedback] feedback/stripped/demo: not in the roster; not bundled" in proc.stdout
    with zipfile.ZipFile(root / "build" / "lms" / "moodle" / "demo-feedback.zip") as zf:
        assert sorted(zf.namelist()) == [f"{name}_{pid}_assignsubmission_file_/demo-feedback.html" for name, pid in
                                         (("Ada Lovelace", 1001), ("Alan Turing", 1002), ("Grace Hopper", 1003))]
        page = zf.read("Ada Lovelace_1001_assignsubmission_file_/demo-feedback.html").decode()
    assert page == (root / "feedback" / "reference" / "demo" / "demo.html").read_text()
    assert "Score: 7.5 / 8.0" in page and "Score: 1.5 / 2.0" in page
