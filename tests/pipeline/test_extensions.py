"""Does a student's extension (course.toml ``[grading] extensions.<assignment>.<student>``)
spare exactly that student's extra time, on every road a grade takes?

- ``configured_extensions`` reads hours or the student's own due date and refuses what
  cannot be one (with the line to fix);
- ``sync_extension`` writes it into the gradebook's submission, where nbgrader measures
  lateness, and clears one course.toml no longer gives;
- ``course autograde`` (each task's own gradebook, then the merge) and plain
  ``nbgrader autograde`` (the grading hook) grade the demo course's late student with it:
  1 h 31 min late with 1 point per started hour loses 2 points, 0 with 2 h more, 1 with a due
  date of its own 30 min before the submission; changing or removing it regrades that
  student, and only that student;
- ``collect`` measures lateness from the student's own due date in its report and names
  extensions given to ids it has never seen (a typo would silently give nobody the time).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from course.extensions import configured_extensions, gradebook_extension, sync_extension
from course.gradebook import DueDateError

DUE = "2026-12-01T23:59:00+00:00"
DUE_AT = datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc)


def write_grading(root, *lines: str) -> None:
    """course.toml's [grading] table with ``lines`` added after its header (earlier additions gone)."""
    toml = re.sub(r"# test lines\n.*# end of test lines\n", "", (root / "course.toml").read_text(), flags=re.S)
    if lines:
        block = "# test lines\n" + "".join(f"{line}\n" for line in lines) + "# end of test lines\n"
        toml = toml.replace("[grading]\n", "[grading]\n" + block, 1)
    (root / "course.toml").write_text(toml)


@pytest.fixture
def small(tmp_path, monkeypatch):
    from course.gradebook import open_gradebook

    monkeypatch.delenv("COURSE_GRADEBOOK_URL", raising=False)
    (tmp_path / "course.toml").write_text(f'[grading]\nlate_penalty_per_hour = 1\ndue_dates.demo = "{DUE}"\n')
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with open_gradebook(url) as gb:
        gb.update_or_create_assignment("demo", duedate=DUE_AT)
    return tmp_path, url


def test_hours_and_own_due_dates_are_read(small):
    root, _ = small
    write_grading(root, "extensions.demo.s1 = 48", "extensions.demo.s2 = 2.5",
                  'extensions.demo."ada@uni.edu" = "2026-12-03T18:59:00-05:00"',
                  "extensions.demo.s4 = 2026-12-02T23:59:00Z", "extensions.other.s1 = 1",
                  "extensions.demo.s5 = 0", f'extensions.demo.s6 = "{DUE}"')  # none, written two ways
    assert configured_extensions(root, "demo", DUE_AT) == {
        "s1": timedelta(hours=48), "s2": timedelta(hours=2.5), "ada@uni.edu": timedelta(hours=48),
        "s4": timedelta(hours=24)}
    assert configured_extensions(root, "nothing", None) == {}
    write_grading(root)
    assert configured_extensions(root, "demo", DUE_AT) == {}


@pytest.mark.parametrize("line, message", [
    ("extensions.demo.s1 = -1", "hours between 0 and"),
    ("extensions.demo.s1 = inf", "hours between 0 and"),
    ("extensions.demo.s1 = nan", "hours between 0 and"),
    ("extensions.demo.s1 = 100000", "hours between 0 and"),
    ("extensions.demo.s1 = true", "give hours"),
    ("extensions.demo.s1 = [1, 2]", "give hours"),
    ('extensions.demo.s1 = "friday"', "is not an ISO 8601 time"),
    ('extensions.demo.s1 = "2026-12-03 23:59"', "has no UTC offset"),
    ('extensions.demo.s1 = "2026-11-30T23:59:00+00:00"', "not within a year after"),
    ("extensions.demo = 48", "one line per student"),
    ("extensions = 48", "one line per student"),
])
def test_what_cannot_be_an_extension_is_refused_with_its_line(small, line, message):
    root, _ = small
    write_grading(root, line)
    with pytest.raises(DueDateError, match=message) as info:
        configured_extensions(root, "demo", DUE_AT)
    assert "course.toml [grading] extensions.demo" in str(info.value)


def test_an_own_due_date_needs_the_assignments(small):
    root, _ = small
    write_grading(root, 'extensions.demo.s1 = "2026-12-03T23:59:00+00:00"')
    with pytest.raises(DueDateError, match="has none to extend"):
        configured_extensions(root, "demo", None)


def test_sync_writes_changes_and_clears_the_submissions_extension(small):
    from course.gradebook import open_gradebook

    root, url = small
    assert sync_extension(root, "demo", "s1") is None
    with open_gradebook(url) as gb:
        assert [s.id for s in gb.students] == []  # nothing to write: nothing created
    write_grading(root, "extensions.demo.s1 = 3")
    assert sync_extension(root, "demo", "s1") == timedelta(hours=3)
    assert gradebook_extension(url, "demo", "s1") == timedelta(hours=3)
    with open_gradebook(url) as gb:
        sub = gb.find_submission("demo", "s1")
        sub.timestamp = datetime(2026, 12, 2, 2, 0)  # as nbgrader records it, naive UTC
        gb.db.commit()
        assert (sub.duedate, sub.total_seconds_late) == (datetime(2026, 12, 2, 2, 59), 0)
    # Its own due date, kept when the class's moves (the extension is recomputed from it).
    write_grading(root, 'extensions.demo.s1 = "2026-12-02T03:59:00+00:00"')
    assert sync_extension(root, "demo", "s1") == timedelta(hours=4)
    (root / "course.toml").write_text((root / "course.toml").read_text().replace(DUE, "2026-12-02T00:59:00+00:00"))
    assert sync_extension(root, "demo", "s1") == timedelta(hours=3)
    write_grading(root)
    assert sync_extension(root, "demo", "s1") is None and gradebook_extension(url, "demo", "s1") is None
    with open_gradebook(url) as gb:
        assert gb.find_submission("demo", "s1").timestamp == datetime(2026, 12, 2, 2, 0)  # the rest is kept


# -- grading the demo course -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo course with answers, release and samples; `partial` handed in 1 h 31 min late."""
    from .demo_course import late_demo_course

    saved = os.environ.pop("COURSE_GRADEBOOK_URL", None)
    root, expected = late_demo_course(tmp_path_factory.mktemp("ext"), DUE, {
        "reference": "2026-12-01T20:00:00+00:00", "partial": "2026-12-02T01:30:00+00:00"},
        cell_timeout=8, memory_mib=1024, late_penalty_per_hour=1)
    yield root, expected
    if saved is not None:
        os.environ["COURSE_GRADEBOOK_URL"] = saved


def graded(root, student: str) -> tuple:
    """(score, late penalty, extension) of ``student`` in the class's gradebook."""
    from course.gradebook import open_gradebook

    with open_gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        sub = gb.find_submission("demo", student)
        return sub.score, sub.late_submission_penalty, sub.extension


def test_course_autograde_grades_with_the_extension_and_regrades_when_it_changes(demo, monkeypatch):
    from course.autograde import autograde
    from course.engine import state_file

    root, expected = demo
    monkeypatch.delenv("COURSE_GRADEBOOK_URL", raising=False)
    late = expected["demo"]
    write_grading(root, "extensions.demo.partial = 2")
    autograde(root, ["demo"], ["reference", "partial"])
    assert graded(root, "partial") == (late, 0, timedelta(hours=2))
    assert graded(root, "reference") == (6, 0, None)
    untouched = state_file(root, "demo", "reference").stat().st_mtime_ns
    write_grading(root, 'extensions.demo.partial = "2026-12-02T01:00:00+00:00"',  # 30 min before it came
                  "extensions.demo.someone_else = 5", "# a comment")
    autograde(root, ["demo"], ["reference", "partial"])  # no --force: the extension is part of the task's key
    assert graded(root, "partial") == (late, 1, timedelta(minutes=61))
    assert state_file(root, "demo", "reference").stat().st_mtime_ns == untouched  # others are not regraded
    write_grading(root)
    autograde(root, ["demo"], ["partial"])
    assert graded(root, "partial") == (late, 2, None)


def test_plain_nbgrader_autograde_grades_with_the_extension(demo, monkeypatch):
    root, expected = demo
    monkeypatch.delenv("COURSE_GRADEBOOK_URL", raising=False)
    write_grading(root, "extensions.demo.partial = 1.75")  # 1 h 31 min late
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.pop("COURSE_GRADEBOOK_URL", None)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "demo", "--student=partial", "--force"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "partial: an extension of 1.75 h on demo" in proc.stderr
    assert graded(root, "partial") == (expected["demo"], 0, timedelta(hours=1.75))
    write_grading(root)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "demo", "--student=partial", "--force"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert graded(root, "partial") == (expected["demo"], 2, None)
    write_grading(root, "extensions.demo.partial = -3")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "demo", "--student=partial", "--force"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert "grading cannot start" in proc.stderr and "extensions.demo" in proc.stderr
    assert graded(root, "partial") == (expected["demo"], 2, None)  # nothing graded with a broken line
    write_grading(root)


def test_a_hostile_student_folder_is_made_safe_before_its_extension_is_looked_up(demo, monkeypatch):
    """Plain nbgrader, a student folder whose name is undecodable bytes (no query can carry it)
    and whose notebook links to the worked solution: the extension step (after the intake's
    hook) neither fails nor skips the intake, so the link is quarantined, not graded."""
    root, _ = demo
    monkeypatch.delenv("COURSE_GRADEBOOK_URL", raising=False)
    write_grading(root, "extensions.demo.partial = 2")
    name = os.fsdecode(b"s\xff<script>")
    folder = root / "submitted" / name / "demo"
    folder.mkdir(parents=True)
    os.symlink(root / "solutions" / "demo" / "demo.ipynb", folder / "demo.ipynb")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.pop("COURSE_GRADEBOOK_URL", None)
    try:
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "demo", f"--student={name}", "--force"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=600, errors="replace")
        assert not (folder / "demo.ipynb").is_symlink(), proc.stderr[-3000:]
        assert (root / "build" / "quarantine" / name / "demo").is_dir(), proc.stderr[-3000:]
        assert "Pre-convert hook failed" not in proc.stderr, proc.stderr[-3000:]
        graded = root / "autograded" / name / "demo" / "demo.ipynb"
        assert not graded.exists() or "BEGIN SOLUTION" not in graded.read_text(errors="replace")
    finally:
        write_grading(root)


def test_collect_measures_lateness_from_the_students_own_due_date(tmp_path, monkeypatch):
    from course.collect import collect
    from tests.files.lms import exports as ex

    monkeypatch.delenv("COURSE_GRADEBOOK_URL", raising=False)
    root = tmp_path / "course"
    (root / "assignments" / "demo").mkdir(parents=True)
    (root / "assignments" / "demo" / "demo.ipynb").write_bytes(ex.nb_bytes(ex.notebook("demo")))
    (root / "course.toml").write_text(f'[grading]\nlate_penalty_per_hour = 1\ndue_dates.demo = "{DUE}"\n'
                                      'extensions.demo.s1 = 24\nextensions.demo.s9 = 24\n')
    (root / "roster.csv").write_text("id,lms_id,first_name,last_name,email\ns1,101,Ada,Lovelace,a@x.edu\n"
                                     "s2,102,Alan,Turing,b@x.edu\n")
    export = ex.write_zip(root / "canvas.zip", [
        (ex.canvas_name("Lovelace", "Ada", 101, 9001, "demo.ipynb", late=True), ex.answered("demo")),
        (ex.canvas_name("Turing", "Alan", 102, 9002, "demo.ipynb", late=True), ex.answered("demo"))])
    (root / "times.csv").write_text("lms_id,submitted_at\n101,2026-12-02T05:59:00+00:00\n"
                                    "102,2026-12-02T05:59:00+00:00\n")
    lines = []
    report = collect(root, "demo", export, roster=root / "roster.csv", times=root / "times.csv", log=lines.append)
    s1, s2 = report["students"]["s1"], report["students"]["s2"]
    assert (s1["late_seconds"], s2["late_seconds"]) == (0, 6 * 3600)
    assert s1["extension"] == "24 h (until 2026-12-02T23:59:00+00:00)" and "extension" not in s2
    # Canvas marked both late; for s1 the note says why it differs (an extension, as course.toml says).
    assert any("say otherwise" in note for note in s1["notes"])
    assert report["extensions_unknown"] == ["s9"]
    text = "\n".join(lines)
    assert "on time (extension 24 h" in text and "(a typo?): s9" in text
