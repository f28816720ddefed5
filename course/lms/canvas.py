"""Canvas: "Download Submissions" of an assignment (one zip, files side by side).

Layout (canvas-lms, ``app/models/content_zipper.rb``: ``get_filename`` and
``add_upload_submission``): each uploaded file of a student's current submission is

    <lastfirst>[_late]_<user id>_<attachment id>_<file name as uploaded>

where ``lastfirst`` is the sortable name ("Lovelace, Ada") with everything but letters,
digits and ``_`` removed, lower-cased ("lovelaceada"); ``late`` is there when Canvas marked
the submission late; it is missing (the name starts at ``late_`` or the user id) under
anonymous grading. A text entry is ``<...>_<user id>_text.html``, a URL ``..._link.html``.
When a student uploads a file whose name is already in their submissions folder (a
resubmission), Canvas stores it as ``name-1.ext``, ``name-2.ext``...: of two such versions
in one export, the higher number (then the newer attachment id) is the one collected and
the other is kept aside.

Submission times: the export has none. The zip entries carry the time Canvas wrote the zip
(rubyzip's ``get_output_stream`` without a time), not the submission time, so they are not
used unless ``--zip-times`` says so; give the times with ``--times`` (Canvas's
``submitted_at``, e.g. from its submissions API) for late penalties. Canvas's own late
mark is reported beside the time.
"""
from __future__ import annotations

import re

from course.lms.base import Identity, LMSCollector, Parsed, parts_of

FILE = re.compile(r"^(?:(?P<name>.+?)_)?(?:(?P<late>late)_)?(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>.+)$")
TEXT = re.compile(r"^(?:(?P<name>.+?)_)?(?:(?P<late>late)_)?(?P<user>\d+)_(?P<file>text\.html|link\.html)$")
VERSION = re.compile(r"^(?P<base>.+)-(?P<n>\d+)(?P<ext>\.[^.]*)?$")


def split_version(name: str) -> tuple[str, int]:
    """("demo.ipynb", 2) for Canvas's resubmitted "demo-2.ipynb"; (name, 0) otherwise."""
    m = VERSION.match(name)
    if not m:
        return name, 0
    return m.group("base") + (m.group("ext") or ""), int(m.group("n"))


def match_name(part: str):
    m = FILE.match(part) or TEXT.match(part)
    if not m:
        return None
    d = m.groupdict()
    if d.get("name") == "late" and not d.get("late"):  # anonymous grading: "late_<user>_..."
        d["name"], d["late"] = "", "late"
    return d


class CanvasCollector(LMSCollector):
    lms = "canvas"
    layout = "Canvas's <lastfirst>[_late]_<user id>_<attachment id>_<file name>"
    source = "canvas-lms app/models/content_zipper.rb (get_filename, add_upload_submission)"
    time_note = ("Canvas exports carry no submission time (their zip entries hold the time the zip was made); "
                 "give times with --times (or --zip-times to use the entries anyway)")
    ways = ("lms_id", "email", "name")

    def parse(self, rel: str) -> Parsed | None:
        parts = parts_of(rel)
        for i, part in enumerate(parts):
            d = match_name(part)
            if d is None:
                continue
            name = d["file"] if i == len(parts) - 1 else parts[-1]
            base, n = split_version(d["file"])
            attachment = int(d.get("attachment") or 0)
            who = Identity(lms_id=d["user"], sortable=d.get("name") or "")
            return Parsed([who], name, lms_late=bool(d.get("late")),
                          slot=base if i == len(parts) - 1 else "/".join(parts[i:]),
                          version=(n, attachment) if i == len(parts) - 1 else (0, attachment))
        return None
