"""``SubmissionSummary``: the feedback page says when the notebook was handed in, when it
was due (with the student's extension) and what lateness cost, so a student can check
their own late penalty.

It runs in ``nbgrader generate_feedback`` after ``GetGrades`` (nbgrader_config.py) and puts
one markdown cell first, made only of what the gradebook holds: the submission time (the
collector's record; none means no penalty), the assignment's due date, the extension
(course/extensions.py) and the notebook's penalty, already settled against its score
(course/late.py). Nothing the student wrote goes into it. Without a due date it adds
nothing.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell
from traitlets import Bool

from autograder.durations import in_words


def _when(stamp: datetime) -> str:
    """nbgrader's naive UTC time, as students read it."""
    return stamp.replace(tzinfo=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _points(x: float) -> str:
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return f"{text} point{'s' * (text != '1')}"


def summary(timestamp: datetime | None, due: datetime | None, extension: timedelta | None,
            penalty: float | None) -> str | None:
    """The summary's markdown (None: nothing to say, no due date). Times are nbgrader's naive UTC."""
    if due is None:
        return None
    extension = extension or timedelta(0)
    lines = [f"**Submission.** Due {_when(due)}"
             + (f", extended for you by {in_words(extension)} to {_when(due + extension)}" if extension else "") + "."]
    if timestamp is None:
        lines.append("No submission time was recorded when it was collected, so no late penalty applies.")
    elif timestamp <= due + extension:
        lines.append(f"Handed in {_when(timestamp)}: on time.")
    else:
        late = f"Handed in {_when(timestamp)}, {in_words(timestamp - due - extension)} late"
        lines.append(f"{late}: late penalty on this notebook {_points(penalty)}." if penalty
                     else f"{late}; no late penalty on this notebook.")
    return " ".join(lines)


class SubmissionSummary(Preprocessor):
    """Feedback step: a first cell with the submission's time, due date and late penalty."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry

        info = resources.get("nbgrader", {})
        try:
            with Gradebook(info["db_url"]) as gb:
                sub = gb.find_submission(info["assignment"], info["student"])
                notebook = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
                text = summary(sub.timestamp, sub.assignment.duedate, sub.extension,
                               notebook.late_submission_penalty)
        except (KeyError, MissingEntry):
            return nb, resources
        if text is not None:
            nb.cells.insert(0, new_markdown_cell(text))
        return nb, resources
