"""nbgrader configuration of the course (the course root is this folder).

Step folders follow nbgrader's step names, renamed where the repository says more:
source/ -> assignments/ (release) and solutions/ -> submitted/ -> autograded/ -> feedback/.
Every protection of grading lives here, so it holds however grading is started
(`./course.sh autograde`, plain `nbgrader autograde <assignment>` in this folder, or the
formgrader's autograde button):
- intake: `IntakeExporter` reads submissions (unreadable ones graded as the release,
  dropped metadata repaired) and `quarantine_hook` moves links and special files away;
- sandbox: `SandboxedExecute` runs each notebook in its own bubblewrap sandbox
  (autograder/sandbox.py) with a per-cell timeout and a notebook deadline;
- verdicts: `CompareWithAnswers` checks the answer files against their manifest and
  leaves each graded test cell only the grader's verdict;
- preflight: before the first submission of an assignment, `course.preflight.preflight_hook`
  runs `prepare`, which checks the release, the answers and the sandbox and syncs a
  missing gradebook (fresh clone).
This file only configures: loading it runs nothing (every nbgrader app loads it).
"""
import os
import sys
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    ClearMarkScheme,
    ClearOutput,
    IncludeHeaderFooter,
    LockCells,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from autograder.intake import IntakeExporter, quarantine_hook  # noqa: E402
from autograder.preprocessors import (CompareWithAnswers, HideHiddenTests, SandboxedExecute,  # noqa: E402
                                     SubmissionSummary)
from autograder.formgrader_guard import harden as harden_formgrader  # noqa: E402
from autograder.sanitize import FeedbackExporter, SafeMarkdown, SanitizeSubmission  # noqa: E402
from course.late import settle_hook  # noqa: E402
from course.preflight import preflight_hook  # noqa: E402

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "course.toml"), "rb") as f:
    _COURSE = tomllib.load(f)

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.solution_directory = "solutions"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# The gradebook: $COURSE_GRADEBOOK_URL, else course.toml's [grading] gradebook_url, else
# SQLite in gradebook.db (PostgreSQL: postgresql://user@host/dbname).
c.CourseDirectory.course_id = "dlcourse"  # a named course: PostgreSQL enforces the course foreign key
c.CourseDirectory.db_url = (os.environ.get("COURSE_GRADEBOOK_URL") or _COURSE["grading"].get("gradebook_url")
                            or "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db"))
# Only notebooks are assignment files; data are fetched by the helper package.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Release: stubs raise NotImplementedError (nbgrader's default code stub for Python).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Worked solutions are not executed here (nbgrader's default runs every notebook in full,
# training included: minutes per assignment, and outputs that differ run to run would
# break the drift check). `python -m course execute <assignment>` makes executed copies.
c.GenerateSolution.preprocessors = [IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme]

# Autograde: intake, then execute in a sandbox, then compare hidden-test outputs with the
# stored answers outside the kernel (CompareWithAnswers must come after the executor and
# before SaveAutoGrades, which scores the verdicts it leaves).
_GRADING = _COURSE["grading"]
c.Autograde.exporter_class = IntakeExporter
# Before each submission: the preflight of its assignment (once per process; release,
# answers and sandbox checked, a missing gradebook synced; `course autograde` runs it itself
# and sets COURSE_SKIP_PREFLIGHT), then intake's quarantine of links and special files.
c.Autograde.pre_convert_hook = preflight_hook(c.CourseDirectory.root, quarantine_hook)
c.SandboxedExecute.timeout = int(_GRADING["cell_timeout"])
c.SandboxedExecute.notebook_deadline = int(_GRADING["notebook_deadline"])
c.SandboxedExecute.output_cap = int(_GRADING["output_cap_bytes"])
c.SandboxedExecute.startup_timeout = 120
c.SandboxedExecute.shutdown_kernel = "immediate"  # the sandbox goes with its kernel; no grace wait
c.SandboxKernelManager.course_root = c.CourseDirectory.root
c.Autograde.autograde_preprocessors = [
    SandboxedExecute,
    CompareWithAnswers,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Feedback: students see which tests passed and their points, never hidden test code,
# hidden inputs or mark schemes (HideHiddenTests must come before the HTML export), and
# first, when they handed in, when it was due and what lateness cost (SubmissionSummary).
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, SubmissionSummary, CSSHTMLHeaderPreprocessor]
c.HideHiddenTests.output_cap = int(_GRADING["output_cap_bytes"])

# Rendering what students wrote (autograder/sanitize.py): the formgrader's submission page
# and the feedback pages both render with HTMLExporter and read these settings (the
# formgrader reads this file from the course folder, in the Jupyter server's process).
# Markdown (cells, text/markdown outputs, comments) is cleaned after rendering by the
# markdown2html filter; outputs, metadata and the page's names by SanitizeSubmission, the
# first preprocessor of every HTML export (before GetGrades in feedback). nbconvert's own
# sanitize_html stays off: nbgrader's templates ignore it for markdown cells, and where it
# applies it escapes paragraphs, headings and images into visible text. SVG outputs are
# only ever shown as <img src="data:...">, where they cannot run anything.
c.HTMLExporter.preprocessors = [SanitizeSubmission]
c.HTMLExporter.filters = {"markdown2html": SafeMarkdown}
c.HTMLExporter.skip_svg_encoding = False
c.HTMLExporter.optimistic_validation = True  # validate once, after the sanitiser has repaired types
# Feedback pages: no <script> element, and a Content-Security-Policy that forbids scripts
# and every request but data: images (formulas show as TeX: MathJax cannot load).
c.GenerateFeedback.exporter_class = FeedbackExporter
# The formgrader's own pages (in the Jupyter server only): nbgrader's Jinja templates
# escape what they show (student ids, names from the URL), and the files of a submission
# it serves run no script (autograder/formgrader_guard.py).
harden_formgrader()


# Late submissions (`./course.sh collect`, course/collect.py): a submission's time is the
# collector's record (build/collected/<assignment>.json, written into timestamp.txt by
# intake) and its due date the gradebook assignment's (the preflight and collect write
# course.toml's [grading] due_dates.<assignment> there; without one, a date set with
# `nbgrader db assignment add A --duedate=...` stays).
# nbgrader's AssignLatePenalties asks LatePenalty (course/late.py) for each notebook of a
# late submission: late_penalty_per_hour points per started hour late, the whole score
# after late_zero_after_hours (0: never), never more than the notebook scored; both 0: none.
# nbgrader asks once, at autograde time; written answers graded later change the score, so
# generate_feedback (the formgrader's button too) first settles the penalty against the
# notebook's score as it is then (course.late.settle_hook).
c.AssignLatePenalties.plugin_class = "course.late.LatePenalty"
c.LatePenalty.per_hour = float(_GRADING.get("late_penalty_per_hour", 0))
c.LatePenalty.zero_after_hours = float(_GRADING.get("late_zero_after_hours", 0))
c.GenerateFeedback.pre_convert_hook = settle_hook(c.CourseDirectory.root)
