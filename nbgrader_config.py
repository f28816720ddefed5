"""nbgrader configuration of the course (the course root is this folder).

Step folders follow nbgrader's step names, renamed where the repository says more:
source/ -> assignments/ (release) and solutions/ -> submitted/ -> autograded/ -> feedback/.
The instructor commands (`python -m course ...`) set PYTHONPATH to this folder so that
grading kernels can import `autograder.probe`.
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

from autograder.nbgrader_plugins import CompareWithAnswers, HideHiddenTests, ResilientExecute  # noqa: E402

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
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
# Only notebooks are assignment files; data are fetched by the helper package.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Release: stubs raise NotImplementedError (nbgrader's default code stub for Python).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Worked solutions are not executed here (nbgrader's default runs every notebook in full,
# training included: minutes per assignment, and outputs that differ run to run would
# break the drift check). `python -m course execute <assignment>` makes executed copies.
c.GenerateSolution.preprocessors = [IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme]

# Autograde: execute, then compare hidden-test outputs with the stored answers outside
# the kernel (CompareWithAnswers must come after Execute and before SaveAutoGrades,
# which reads the verdicts it leaves in the outputs).
# ResilientExecute is nbgrader's Execute that survives a kernel killed by the submission.
c.Execute.timeout = int(_COURSE["grading"]["cell_timeout"])
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
c.Autograde.autograde_preprocessors = [
    ResilientExecute,
    CompareWithAnswers,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Feedback: students see which tests passed and their points, never hidden test code,
# hidden inputs or mark schemes (HideHiddenTests must come before the HTML export).
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
