"""A plain folder (or zip) of ``<id>/<anything>``: one folder per student.

``<id>`` is the course's student id (or the roster's lms_id); every file below it is that
student's (folders inside are flattened: files are written under their own names). Files
outside any student folder are reported. There is no submission time: give times with
``--times`` (or ``--zip-times`` for a zip whose entries hold them).
"""
from __future__ import annotations

from course.lms.base import Identity, LMSCollector, Parsed, parts_of


class FolderCollector(LMSCollector):
    lms = "folder"
    layout = "<id>/<file name>"
    source = "this course (docs/INSTRUCTORS.md, step 6)"
    time_note = "a folder carries no submission time; give times with --times"
    ways = ("id", "lms_id")

    def parse(self, rel: str) -> Parsed | None:
        parts = parts_of(rel)
        if len(parts) < 2:
            return None
        return Parsed([Identity(lms_id=parts[0])], parts[-1], slot="/".join(parts[1:]))

    def why_not(self, rel: str) -> str:
        return "a file outside any student folder (the layout is <id>/<file>)"
