"""Does a late notebook's penalty follow its final score, written answers included (course/late.py)?

nbgrader sets the penalty once, at autograde time, from the autograded points alone, and
caps it there. The demo course's `partial` student hands in 1 h 31 min late (2 started
hours) at 3 points per started hour: autograded, it scores 5, so nbgrader charges 5 (the
cap), not 6. When a grader then gives the written question its 2 points, the notebook
scores 7 and the penalty must become 6, on every road the grade takes: the LMS grades file
(`course.grades.export`), the course's feedback stage, plain `nbgrader generate_feedback`
(the formgrader's button) and a regrade by `course autograde`, whose merge must not put
back the autograde-time penalty.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from course.late import LatePenalty, notebook_points, settle_submission

DUE = "2026-12-01T23:59:00+00:00"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from course.autograde import autograde

    from .demo_course import late_demo_course

    saved = os.environ.pop("COURSE_GRADEBOOK_URL", None)
    root, _ = late_demo_course(tmp_path_factory.mktemp("late"), DUE, {"partial": "2026-12-02T01:30:00+00:00"},
                               cell_timeout=8, memory_mib=1024, late_penalty_per_hour=3)
    autograde(root, ["demo"], ["partial"])
    yield root
    if saved is not None:
        os.environ["COURSE_GRADEBOOK_URL"] = saved


def gradebook(root):
    from course.gradebook import open_gradebook

    return open_gradebook(f"sqlite:///{root}/gradebook.db")


def mark_written(root, points: float | None) -> None:
    """A grader's score for the written question (None: not graded yet)."""
    with gradebook(root) as gb:
        grade = gb.find_grade("q_softmax", "demo", "demo", "partial")
        grade.manual_score = points
        grade.needs_manual_grade = points is None
        gb.db.commit()


def penalty_and_score(root) -> tuple:
    with gradebook(root) as gb:
        nb = gb.find_submission_notebook("demo", "demo", "partial")
        return nb.late_submission_penalty, nb.score


def test_settle_follows_the_score_within_the_cap_and_the_cut_off(demo):
    with gradebook(demo) as gb:
        sub = gb.find_submission("demo", "partial")
        nb = sub.notebooks[0]
        assert (nb.late_submission_penalty, notebook_points(nb), sub.total_seconds_late) == (5, 5, 5460)
        assert settle_submission(sub, LatePenalty(per_hour=3)) == []  # nothing new: 5 is right for 5 points
        nb.grades[[g.name for g in nb.grades].index("q_softmax")].manual_score = 2.0
        assert notebook_points(nb) == 7  # read from the session, before any commit
        changed = settle_submission(sub, LatePenalty(per_hour=3))
        assert nb.late_submission_penalty == 6 and changed == [
            "demo/partial/demo: late penalty 5 -> 6 (score 7, 1.52 h late)"]
        settle_submission(sub, LatePenalty(per_hour=3, zero_after_hours=1))
        assert nb.late_submission_penalty == 7  # zero after 1 h: the written points too
        settle_submission(sub, LatePenalty())  # no penalty configured (nbgrader's method: none)
        assert nb.late_submission_penalty is None
        gb.db.rollback()


def test_the_lms_file_charges_the_penalty_on_the_final_score(demo, tmp_path):
    from course.grades import export

    mark_written(demo, 2)
    assert penalty_and_score(demo) == (5, 7)  # nbgrader's, from autograde time
    written, report = export(demo, "csv", tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(written[0]))}
    assert (rows["partial"]["late_penalty"], rows["partial"]["score"]) == ("6", "1")
    assert "demo/partial/demo: late penalty 5 -> 6 (score 7, 1.52 h late)" in report
    assert penalty_and_score(demo) == (6, 7)  # the formgrader shows the same now
    with pytest.raises(ValueError, match="not in the gradebook: 'nope'"):  # settling skips it; the export says so
        export(demo, "csv", tmp_path / "none.csv", assignments=["nope"])


def test_plain_generate_feedback_settles_first(demo):
    mark_written(demo, 0)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.pop("COURSE_GRADEBOOK_URL", None)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", "demo", "--student=partial",
                           "--force"], cwd=demo, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert penalty_and_score(demo) == (5, 5)
    page = (demo / "feedback" / "partial" / "demo" / "demo.html").read_text()
    assert "Late submission penalty (Score: -5.0)" in page and "<h4>demo (Score: 0.0 / 8.0)</h4>" in page
    assert ("<strong>Submission.</strong> Due 2026-12-01 23:59 UTC. Handed in 2026-12-02 01:30 UTC, "
            "1 h 31 min late: late penalty on this notebook 5 points.") in page  # the first cell


def test_a_regrade_keeps_the_graders_points_in_the_penalty(demo):
    from course.autograde import autograde

    mark_written(demo, 2)
    autograde(demo, ["demo"], ["partial"], force=True)
    with gradebook(demo) as gb:
        assert gb.find_grade("q_softmax", "demo", "demo", "partial").manual_score == 2  # kept by the merge
    assert penalty_and_score(demo) == (6, 7)


def test_the_feedback_stage_settles_before_it_renders(demo):
    from course.feedback import feedback

    mark_written(demo, 1)
    assert penalty_and_score(demo) == (6, 6)  # 6 still right for 6 points; now a cut-off moves it
    mark_written(demo, None)
    rows = feedback(demo, ["demo"], workers=1, engine="local")  # its batches do not settle again
    assert penalty_and_score(demo) == (5, 5)
    page = (demo / "feedback" / "partial" / "demo" / "demo.html").read_text()
    assert "1 h 31 min late: late penalty on this notebook 5 points." in page
    assert any(r["student"] == "partial" for r in rows)


def test_the_plugin_follows_course_toml_while_a_process_lives(tmp_path):
    """The formgrader's server lives for a term: a penalty changed in course.toml is the one settled."""
    from course.late import course_plugin

    from .demo_course import make_demo_course

    root = make_demo_course(tmp_path, late_penalty_per_hour=3)
    assert course_plugin(root).per_hour == 3 and course_plugin(root) is course_plugin(root)
    toml = (root / "course.toml").read_text().replace("late_penalty_per_hour = 3", "late_penalty_per_hour = 1")
    (root / "course.toml").write_text(toml)
    os.utime(root / "course.toml", ns=(1, 2))  # a new time, whatever the clock's resolution
    assert course_plugin(root).per_hour == 1


@pytest.mark.parametrize("timestamp, extension, penalty, text", [
    (None, None, None, "Due 2026-12-01 23:59 UTC. No submission time was recorded when it was collected, "
                       "so no late penalty applies."),
    ("2026-12-01 23:59", None, None, "Due 2026-12-01 23:59 UTC. Handed in 2026-12-01 23:59 UTC: on time."),
    ("2026-12-03 02:00", None, 6.0, "Due 2026-12-01 23:59 UTC. Handed in 2026-12-03 02:00 UTC, 1 day 2 h late: "
                                    "late penalty on this notebook 6 points."),
    ("2026-12-02 00:00", None, 0.5, "Handed in 2026-12-02 00:00 UTC, 1 min late: late penalty on this notebook "
                                    "0.5 points."),
    ("2026-12-02 00:00:30", None, 1.0, "30 s late: late penalty on this notebook 1 point."),
    ("2026-12-02 01:30", 2.0, None, "Due 2026-12-01 23:59 UTC, extended for you by 2 h to 2026-12-02 01:59 UTC. "
                                    "Handed in 2026-12-02 01:30 UTC: on time."),
    ("2026-12-02 03:00", 2.0, None, "extended for you by 2 h to 2026-12-02 01:59 UTC. Handed in 2026-12-02 "
                                    "03:00 UTC, 1 h 1 min late; no late penalty on this notebook."),
])
def test_the_feedback_summary_says_when_and_what_lateness_cost(timestamp, extension, penalty, text):
    from datetime import datetime, timedelta

    from autograder.preprocessors.submission_summary import summary

    stamp = datetime.fromisoformat(timestamp) if timestamp else None
    got = summary(stamp, datetime(2026, 12, 1, 23, 59), timedelta(hours=extension) if extension else None, penalty)
    assert got.startswith("**Submission.** Due 2026-12-01 23:59 UTC") and text in got, got
    assert summary(stamp, None, None, penalty) is None  # no due date, nothing to say
