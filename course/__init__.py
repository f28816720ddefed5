"""Instructor commands. ``python -m course <verb>``; each verb is one module and one stage.

source/ -> (release) assignments/, solutions/ -> (answers) autograder/answers/
submitted/ -> (autograde) autograded/ -> (feedback) feedback/ -> (export) grades.csv
book/ + assignments/ -> (book) _build/html -> (publish) public/
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
