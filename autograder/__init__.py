"""Grading code and stored answers. Never released to students.

Pieces, in the order a grade is made:

- ``autograder.cases.<assignment>``: hidden inputs. Each case builds unseen inputs from a
  fixed seed, calls the student's objects and returns named outputs.
- ``autograder.probe``: runs inside the student's kernel. ``probe(case_id, globals())``
  calls a case and emits its outputs as a display message; it never sees an answer.
- ``autograder.answers``: the stored answers (encrypted at rest) and how they were made.
- ``autograder.submission``: reads a submission folder without following any link and
  takes submission times from the collector's record; ``autograder.intake`` puts it
  into nbgrader (the exporter and the pre-convert hook).
- ``autograder.untrusted``: turns what a kernel emitted into arrays, by an allow-list.
- ``autograder.compare``: outside the kernel, compares emitted outputs with the answers.
- ``autograder.nbgrader_plugins``: nbgrader preprocessors that put ``compare`` into
  ``nbgrader autograde`` and keep hidden tests and mark schemes out of feedback.
- ``autograder.repair``: restores nbgrader metadata that editors dropped from submissions.
- ``autograder.regions``: hidden-test and mark-scheme regions, stripped in linear time.
"""
