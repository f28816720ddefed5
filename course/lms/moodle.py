"""Moodle: "Download all submissions" of an assignment (mod_assign).

Layout (Moodle ``mod/assign/classes/downloader.php``, ``get_student_prefix`` and
``load_submissionplugin_filelist``; ``locallib.php`` before 4.1): the prefix of a student is
``<Full Name>_<participant id>`` (underscores in the name become spaces; "Participant" under
blind marking), and each submission plugin's files are either in a folder

    <Full Name>_<participant id>_assignsubmission_file_/<file name>    (3.1 to 4.0)
    <Full Name>_<participant id>_assignsubmission_file/<file name>     (4.1 and later)

("Download submissions in folders", the default since 3.1), or side by side as

    <Full Name>_<participant id>_assignsubmission_file_<file name>

Online text is ``..._assignsubmission_onlinetext_/onlinetext.html``. The participant id is
Moodle's per-assignment id (``get_uniqueid_for_user``), not the user id: students are
matched by it when the roster's lms_id holds it, else by their full name (which must be
unique on the roster), so Moodle needs a roster.

Submission times: the export has none (its entries carry the time the zip was streamed:
``add_file_from_stored_file`` without a time option); give them with ``--times`` (the
grading worksheet's "Last modified (submission)").
"""
from __future__ import annotations

import re

from course.lms.base import Identity, LMSCollector, Parsed, parts_of

FOLDER = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[A-Za-z0-9]+)_?$")
FLAT = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[A-Za-z0-9]+)_(?P<file>.+)$")


class MoodleCollector(LMSCollector):
    lms = "moodle"
    layout = "Moodle's <Full Name>_<participant id>_assignsubmission_file_[/]<file name>"
    source = "Moodle mod/assign/classes/downloader.php (get_student_prefix, load_submissionplugin_filelist)"
    time_note = "Moodle exports carry no submission time; give times with --times"
    needs_roster = True
    ways = ("lms_id", "name")

    def parse(self, rel: str) -> Parsed | None:
        parts = parts_of(rel)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            m = (FLAT.match(part) if last else FOLDER.match(part))
            if m is None:
                continue
            name = m.group("file") if last else parts[-1]
            who = Identity(lms_id=m.group("pid"), name="" if m.group("name") == "Participant" else m.group("name"))
            return Parsed([who], name, slot="/".join(parts[i + 1:]) or name)
        return None
