"""dlcourse: helper code for the course assignments (no graded solutions live here)."""

__version__ = "0.1.0"
