"""Feedback back to the LMS: each student's feedback pages, laid out the way the LMS takes them.

``python -m course.feedback_bundle --lms moodle|canvas [--roster roster.csv] [assignment ...]
[--out build/lms]`` bundles what ``./course.sh feedback`` wrote (feedback/<student>/<assignment>/
<notebook>.html, one page per notebook of the release) for the students of the roster
(course/lms/roster.py reads it: ``lms_id`` is the Moodle participant number, or its
``lms_id:<assignment>`` column, or the Canvas user id; without ``--roster``, the
gradebook's students and their ``lms_user_id``). Only regular files are taken, never
links, and only pages that carry the feedback
Content-Security-Policy and no script (autograder/sanitize.py; ``./course.sh feedback``
locks every page down). Roster students without feedback, feedback folders of students who
are not in the roster, and other files (a student's own HTML handed in beside the notebook)
are reported, not bundled.

Moodle, build/lms/moodle/<assignment>-feedback.zip: one folder per participant,
``<Full name>_<participant number>_assignsubmission_file_/<notebook>-feedback.html``, the
layout of Moodle's own "Download all submissions" zip. Upload it in the assignment's
View all submissions > Grading action > "Upload multiple feedback files in a zip" ("Feedback
files" must be on among the feedback types). Moodle's importer
(moodle/moodle, mod/assign/feedback/file/importziplib.php) splits each folder name at "_":
the second part must be the participant number of a participant of that assignment, the
third and fourth name a plugin of the assignment (assignsubmission_file: file submissions
on), and the rest of the path is the feedback file's name. So a full name must not contain
"_" (it is replaced by a space here); files whose names start with "." or "~" are ignored.

Canvas cannot take feedback files in bulk. Its only zip upload for an assignment,
"Re-upload submissions", takes back the zip of "Download submissions": it splits each
file name at "_", takes the first two all-digit parts as the Canvas user id and the id of a
file that student submitted, ignores any file without both, and attaches each file to a
new comment ("See attached file") under the name of the student's submitted file
(instructure/canvas-lms, app/models/assignment.rb, ``infer_comment_context_from_filename``),
so a feedback page would reach the student named like their notebook (demo.ipynb). Instead,
build/lms/canvas/<assignment>/ has one folder per student, ``<lastfirst>_<Canvas user id>``
(how Canvas names a student's files in its download), holding
``<notebook>-feedback.html``, the name the student sees on the comment's attachment, and an
index.csv (Student, ID, files) to attach them in SpeedGrader's comment box.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import stat
import sys
import zipfile
from pathlib import Path

from course import ROOT
from course.lms.roster import Roster, RosterError, Student, gradebook_roster, read_roster

LMS_BUNDLES = ("moodle", "canvas")
MOODLE_PLUGIN = "assignsubmission_file"


def _folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def notebook_names(root: Path, assignment: str) -> list[str]:
    """Names (without .ipynb) of the release's notebooks: each has one feedback page."""
    return sorted(p.stem for p in (Path(root) / "assignments" / assignment).glob("*.ipynb"))


def _read(path: Path) -> bytes | None:
    """The bytes of the regular file ``path``, opened without following a link (None otherwise)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def feedback_pages(root: Path, student: str, assignment: str, problems: list) -> list[tuple[Path, bytes]]:
    """The feedback pages (path, bytes) of one student's assignment that may go to the LMS."""
    from autograder.sanitize import page_problems
    from autograder.submission import safe_text

    root = Path(root)
    student_dir = root / "feedback" / student
    folder = student_dir / assignment
    if student_dir.is_symlink() or folder.is_symlink():
        problems.append(f"feedback/{safe_text(student)}/{assignment}: a link; not bundled")
        return []
    if not _folder(student_dir) or not _folder(folder):
        return []
    expected = {f"{name}.html" for name in notebook_names(root, assignment)}
    pages = []
    for entry in sorted(os.listdir(folder)):
        path = folder / entry
        if entry not in expected:
            if entry.lower().endswith((".html", ".htm")):
                problems.append(f"feedback/{safe_text(student)}/{assignment}/{safe_text(entry)}: not a feedback page "
                                "of the assignment's notebooks; not bundled")
            continue
        data = _read(path)
        if data is None:
            problems.append(f"feedback/{safe_text(student)}/{assignment}/{entry}: not a regular file; not bundled")
            continue
        found = page_problems(data.decode("utf-8", errors="replace"))
        if found:
            problems.append(f"feedback/{safe_text(student)}/{assignment}/{entry}: {'; '.join(found)}; not bundled "
                            "(run ./course.sh feedback, which locks pages down)")
            continue
        pages.append((path, data))
    return pages


def moodle_folder(person: Student, participant: str) -> str:
    """``<Full name>_<participant number>_assignsubmission_file_``, as Moodle names a participant's folder."""
    name = re.sub(r"[\s_/\\:*?\"<>|\x00-\x1f\x7f]+", " ", person.full_name).strip(" .~") or "Participant"
    return f"{name}_{participant}_{MOODLE_PLUGIN}_"


def canvas_folder(person: Student) -> str:
    """``<lastfirst>_<user id>``, as Canvas's "Download submissions" names a student's files."""
    lastfirst = "".join(ch for ch in f"{person.last_name}{person.first_name}".lower() if ch.isalnum())
    ident = "".join(ch for ch in person.lms_id if ch.isalnum()) or person.id
    return f"{lastfirst or 'student'}_{ident}"


def feedback_name(page: Path) -> str:
    return f"{page.stem}-feedback.html"


def bundle(root: Path, lms: str, roster: Roster, which: list[str] | None = None,
           out: Path | None = None) -> dict:
    """Bundle the feedback of ``which`` (default: every assignment of source/) for ``lms``.

    Returns {"written": [paths], "problems": [lines], "students": {assignment: [student ids]}}.
    """
    from autograder.submission import safe_text
    from course.config import assignments

    root = Path(root)
    out = Path(out or root / "build" / "lms") / lms
    out.mkdir(parents=True, exist_ok=True)
    written, problems, bundled = [], [], {}
    by_id = roster.by_id
    for assignment in which or assignments(root):
        present = sorted(s for s in (os.listdir(root / "feedback") if _folder(root / "feedback") else [])
                         if _folder(root / "feedback" / s / assignment) and _folder(root / "feedback" / s))
        for student in present:
            if student not in by_id:
                problems.append(f"feedback/{safe_text(student)}/{assignment}: not in the roster; not bundled")
        entries = []  # (person, folder name, [(page, name)])
        for person in roster:
            pages = feedback_pages(root, person.id, assignment, problems)
            if not pages:
                problems.append(f"{person.id} ({person.full_name}): no feedback for {assignment}")
                continue
            if lms == "moodle":
                participant = person.lms_id_for(assignment)
                if not participant.isdigit():
                    problems.append(f"{person.id} ({person.full_name}): not in the Moodle zip of {assignment}: "
                                    f"its participant number (lms_id) is {participant!r}, not a number")
                    continue
                folder = moodle_folder(person, participant)
            else:
                if not person.lms_id:
                    problems.append(f"{person.id} ({person.full_name}): no lms_id (Canvas user id) in the roster")
                folder = canvas_folder(person)
            entries.append((person, folder, [(data, feedback_name(page)) for page, data in pages]))
        bundled[assignment] = [person.id for person, _, _ in entries]
        if lms == "moodle":
            target = out / f"{assignment}-feedback.zip"
            tmp = target.with_suffix(".zip.part")
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                for _, folder, files in entries:
                    for data, name in files:
                        zf.writestr(f"{folder}/{name}", data)
            os.replace(tmp, target)
            written.append(target)
        else:
            target = out / assignment
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            index = [["Student", "ID", "files"]]
            for person, folder, files in entries:
                (target / folder).mkdir()
                for data, name in files:
                    (target / folder / name).write_bytes(data)
                index.append([person.sortable_name, person.lms_id, " ".join(f"{folder}/{n}" for _, n in files)])
            with open(target / "index.csv", "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(index)
            written.append(target)
    return {"written": written, "problems": problems, "students": bundled}


def roster_or_gradebook(root: Path, roster_path: Path | None) -> Roster:
    """The roster file's students, or the gradebook's (what ``collect --roster`` imported)."""
    if roster_path:
        return read_roster(roster_path)
    from course.gradebook import db_url

    url = db_url(root)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise RosterError(f"there is no gradebook at {url} to take the students from: give --roster")
    roster = gradebook_roster(url)
    if roster is None or not any(s.lms_id for s in roster):
        raise RosterError("no student in the gradebook has an LMS id: give the roster (--roster roster.csv)")
    return roster


def run(root: Path, lms: str, roster_path: Path | None = None, which: list[str] | None = None,
        out: Path | None = None) -> dict:
    """Bundle and print what was written and what was left out."""
    result = bundle(root, lms, roster_or_gradebook(root, roster_path), which, out)
    for line in result["problems"]:
        print(f"[feedback] {line}", flush=True)
    for path in result["written"]:
        print(f"[feedback] {lms} bundle: {path}", flush=True)
    if lms == "canvas":
        print("[feedback] Canvas takes no feedback files in bulk: attach each student's page to a comment in "
              "SpeedGrader (index.csv lists them)", flush=True)
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.feedback_bundle",
                                     description="Bundle feedback/ for an LMS's bulk feedback upload.")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--lms", choices=LMS_BUNDLES, required=True)
    parser.add_argument("--roster", type=Path,
                        help="CSV with id,lms_id,first_name,last_name,email (default: the gradebook's "
                             "students, as `collect --roster` imported them)")
    parser.add_argument("--out", type=Path, help="folder for the bundles (default: build/lms)")
    args = parser.parse_args(argv)
    try:
        run(ROOT, args.lms, args.roster, args.assignment or None, args.out)
    except RosterError as exc:
        print(f"[feedback] {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
