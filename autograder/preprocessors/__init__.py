"""The course's nbgrader preprocessors, one per module (as in ``nbgrader.preprocessors``);
nbgrader_config.py puts them into nbgrader's steps:

- ``SandboxedExecute`` (autograde, instead of nbgrader's ``Execute``): the notebook runs in a
  sandboxed kernel under a per-cell timeout and a deadline for the whole notebook; hung or
  dead kernels are restarted and grading goes on; output is capped per cell.
- ``CompareWithAnswers`` (autograde, right after it): each graded test cell's outputs become
  the grader's verdict on the probe's outputs against the sealed answers, and nothing else.
- ``HideHiddenTests`` (feedback): hidden tests, mark schemes and tracebacks are removed from
  what students get back.
- ``SubmissionSummary`` (feedback): a first cell says when the notebook was handed in, when
  it was due (with the student's extension) and its late penalty.

What a graded test cell is, and which cases it probes, is ``autograder.graded_cells``.
"""
from autograder.preprocessors.compare_with_answers import CompareWithAnswers
from autograder.preprocessors.hide_hidden_tests import HideHiddenTests
from autograder.preprocessors.sandboxed_execute import SandboxedExecute
from autograder.preprocessors.submission_summary import SubmissionSummary

__all__ = ["CompareWithAnswers", "HideHiddenTests", "SandboxedExecute", "SubmissionSummary"]
