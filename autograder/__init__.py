"""Grading code and stored answers. Never released to students.

Pieces, in the order a grade is made:

- ``autograder.cases.<assignment>``: hidden inputs. Each case builds unseen inputs from a
  fixed seed, calls the student's objects and returns named outputs.
- ``autograder.probe``: runs inside the student's kernel. ``probe(case_id, globals())``
  calls a case and emits its outputs as a display message; it never sees an answer.
- ``autograder.answer_store``: the stored answers (sealed, in ``autograder/answers/``): where
  they are, how they were made, written, verified and read.
- ``autograder.submission``: reads a submission folder without following any link and
  takes submission times from the collector's record; ``autograder.intake`` puts it
  into nbgrader (the exporter and the pre-convert hook).
- ``autograder.untrusted``: turns what a kernel emitted into arrays, by an allow-list.
- ``autograder.compare``: outside the kernel, compares emitted outputs with the answers.
- ``autograder.preprocessors``: nbgrader preprocessors, one per module, that run the
  notebook in the sandbox (``sandboxed_execute``), put ``compare`` into ``nbgrader
  autograde`` (``compare_with_answers``) and keep hidden tests and mark schemes out of
  feedback (``hide_hidden_tests``); ``autograder.graded_cells`` says which cells are
  graded tests and which cases they probe.
- ``autograder.repair``: restores nbgrader metadata that editors dropped from submissions.
- ``autograder.regions``: hidden-test and mark-scheme regions, stripped in linear time.
"""
