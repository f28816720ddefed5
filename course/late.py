"""Late penalties: how many points a late notebook loses, always against its final score.

``LatePenalty`` is nbgrader's late-submission plugin for this course (nbgrader_config.py
configures it from course.toml ``[grading]``): ``late_penalty_per_hour`` points per
started hour late, per notebook, all its points after ``late_zero_after_hours`` (0:
never), never more than it scored. Lateness is nbgrader's: the submission's time (the
collector's record) after the assignment's due date plus the student's extension
(course/extensions.py).

nbgrader computes a notebook's penalty once, when it autogrades it, from the score the
notebook has at that moment. Written answers a grader scores later are not in it: "zero
after N hours" left their points standing, and "never more than it scored" capped the
penalty at the autograded points alone. ``settle_penalties`` computes the penalty again
from the notebook's current score (autograded and manual points, extra credit) and writes
it where it differs. It runs wherever grades leave the gradebook or enter it: the merge of
every ``course autograde`` task (course/merge.py, in the same transaction), ``./course.sh
feedback`` and ``./course.sh grades`` before they read, and nbgrader's own
``generate_feedback`` (the formgrader's button) through ``settle_hook``.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class LatePenalty(LateSubmissionPlugin):
    """Points off each notebook of a late submission, from course.toml's [grading].

    ``per_hour`` points per started hour late (``late_penalty_per_hour``) and the whole
    score after ``zero_after_hours`` (``late_zero_after_hours``; 0: never). nbgrader's
    ``AssignLatePenalties`` calls it per notebook with the notebook's score and caps the
    penalty at that score. With both at 0, nbgrader's own ``penalty_method`` applies
    (``none`` by default, or ``zero``).
    """

    per_hour = Float(0.0, help="Points off per started hour late, per notebook.").tag(config=True)
    zero_after_hours = Float(0.0, help="Hours late after which a notebook scores zero (0: never).").tag(config=True)

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        if self.per_hour <= 0 and self.zero_after_hours <= 0:
            return super().late_submission_penalty(student_id, score, total_seconds_late)
        if total_seconds_late <= 0:
            return None
        if self.zero_after_hours > 0 and total_seconds_late > self.zero_after_hours * 3600:
            return score
        return min(score, self.per_hour * math.ceil(total_seconds_late / 3600))


def penalty_words(grading: dict) -> str:
    """course.toml's penalty, in words (for reports)."""
    per_hour = float(grading.get("late_penalty_per_hour", 0) or 0)
    zero = float(grading.get("late_zero_after_hours", 0) or 0)
    if per_hour <= 0 and zero <= 0:
        return "no late penalty (course.toml [grading] late_penalty_per_hour = 0)"
    words = []
    if per_hour > 0:
        words.append(f"{per_hour:g} point(s) per started hour late, per notebook")
    if zero > 0:
        words.append(f"zero after {zero:g} hour(s)")
    return ", ".join(words) + " (never more than the notebook scored)"


def course_plugin(root: Path) -> LateSubmissionPlugin:
    """The plugin nbgrader uses in this course, configured as nbgrader_config.py configures it
    (read again when it or course.toml changes: the formgrader's server lives for a term)."""
    root = Path(root)
    stamps = tuple((root / name).stat().st_mtime_ns if (root / name).exists() else None
                   for name in ("nbgrader_config.py", "course.toml"))
    return _plugin(str(root), stamps)


@functools.lru_cache(maxsize=8)
def _plugin(root: str, stamps: tuple) -> LateSubmissionPlugin:
    from nbgrader.preprocessors import AssignLatePenalties
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    assign = AssignLatePenalties(config=config)
    assign.init_plugin()
    return assign.plugin_inst


def notebook_points(nb) -> float:
    """A submitted notebook's score as nbgrader counts it, from its grades as they are in
    this session (nbgrader's ``score`` column is read from the database, so it misses what
    the session has not written yet)."""
    total = 0.0
    for grade in nb.grades:
        base = grade.manual_score if grade.manual_score is not None else grade.auto_score
        if base is not None:
            total += base + (grade.extra_credit or 0.0)
    return total


def settle_submission(sub, plugin: LateSubmissionPlugin) -> list[str]:
    """Set each notebook's penalty of ``sub`` (nbgrader's SubmittedAssignment) from its
    current score, capped as nbgrader caps it (0 to the score); return what changed."""
    late = sub.total_seconds_late
    changed = []
    for nb in sub.notebooks:
        score = notebook_points(nb)
        want = plugin.late_submission_penalty(sub.student.id, score, late) if late > 0 else None
        want = None if want is None else min(max(float(want), 0.0), score)
        have = nb.late_submission_penalty
        if (have or 0.0) != (want or 0.0) or (have is None) != (want is None):
            nb.late_submission_penalty = want
            changed.append(f"{sub.assignment.name}/{sub.student.id}/{nb.name}: late penalty "
                           f"{have or 0:g} -> {want or 0:g} (score {score:g}, {late / 3600:.2f} h late)")
    return changed


def settle_gradebook(gb, plugin: LateSubmissionPlugin, assignments: list[str] | None = None,
                     students: list[str] | None = None) -> list[str]:
    """``settle_submission`` for every submission (of ``assignments``, of ``students``) in the
    open nbgrader ``Gradebook`` ``gb``, committed once; return what changed."""
    changed = []
    known = [a.name for a in gb.assignments]
    for assignment in [a for a in assignments if a in known] if assignments else known:
        for sub in gb.assignment_submissions(assignment):
            if students is None or sub.student.id in students:
                changed += settle_submission(sub, plugin)
    if changed:
        gb.db.commit()
    return changed


def settle_penalties(root: Path, url: str | None = None, assignments: list[str] | None = None,
                     students: list[str] | None = None) -> list[str]:
    """``settle_gradebook`` on the course's gradebook (or the one at ``url``) with the
    course's plugin; return what changed."""
    from course.gradebook import db_url, open_gradebook

    with open_gradebook(url or db_url(root)) as gb:
        return settle_gradebook(gb, course_plugin(root), assignments, students)


SETTLED = "COURSE_PENALTIES_SETTLED"  # set by ./course.sh feedback, which settles once for its batches


def settle_hook(root: Path, then=None):
    """An nbgrader ``pre_convert_hook`` for ``generate_feedback``: the penalties of the
    submission about to be rendered settled first (autograded/<student>/<assignment>/),
    unless the environment says ``SETTLED`` (the course's feedback stage did it for all)."""
    import os

    def hook(assignment=None, student=None, notebooks=None, **kwargs):
        if notebooks and not os.environ.get(SETTLED):
            folder = Path(os.path.abspath(notebooks[0])).parent
            settle_penalties(root, assignments=[folder.name], students=[folder.parent.name])
        if then is not None:
            return then(assignment=assignment, student=student, notebooks=notebooks, **kwargs)

    return hook
