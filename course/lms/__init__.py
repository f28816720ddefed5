"""LMS bulk-download layouts: one module per LMS, each an nbgrader ``FileNameCollectorPlugin``.

| ``--lms`` | module | layout |
| --- | --- | --- |
| ``canvas`` | ``canvas.py`` | ``<lastfirst>[_late]_<user id>_<attachment id>_<file>`` |
| ``moodle`` | ``moodle.py`` | ``<Full Name>_<participant id>_assignsubmission_file_[/]<file>`` |
| ``gradescope`` | ``gradescope.py`` | ``submission_metadata.yml`` + ``submission_<id>/`` |
| ``blackboard`` | ``blackboard.py`` | ``<Assignment>_<user>_attempt_<time>_<file>`` + ``.txt`` receipts |
| ``folder`` | ``folder.py`` | ``<id>/<file>`` |

``base.py``: the safe extractor and the collector base; ``roster.py``: the class roster.
``course/collect.py`` (``./course.sh collect``) drives them.
"""
from __future__ import annotations

import re

from course.lms.blackboard import BlackboardCollector
from course.lms.canvas import CanvasCollector, match_name
from course.lms.folder import FolderCollector
from course.lms.gradescope import METADATA, GradescopeCollector
from course.lms.moodle import FLAT, FOLDER, MoodleCollector

LAYOUTS = {c.lms: c for c in (CanvasCollector, MoodleCollector, GradescopeCollector, BlackboardCollector,
                              FolderCollector)}


def detect(paths: list[str]) -> tuple[str, str]:
    """(the layout ``paths`` (relative, posix) are in, why) by their names alone."""
    names = [p.rsplit("/", 1)[-1] for p in paths]
    parts = [part for p in paths for part in p.split("/")]
    if METADATA in names:
        return "gradescope", f"it holds {METADATA}"
    if any(re.search(r"_attempt_\d{4}(-\d{2}){5}", n) for n in names):
        return "blackboard", "its names hold _attempt_<date>"
    if any(FOLDER.match(p) or FLAT.match(p) for p in parts):
        return "moodle", "its names hold _assignsubmission_"
    top = [p.split("/", 1)[0] for p in paths]
    canvas = [t for t in top if match_name(t)]
    if canvas and len(canvas) * 2 >= len(top):
        return "canvas", "its names are <name>_<user id>_<attachment id>_<file>"
    return "folder", "no LMS naming found: one folder per student"
