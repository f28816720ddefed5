"""Mutation-tested grading: correct variants and plausible mistakes for every graded name.

One module per assignment, ``tests/mutation/<assignment>.py``, holds two dicts keyed by
the graded names of that assignment (the functions and classes the students write, as
COURSE.md names them)::

    CORRECT = {"sim": {"explicit norms, float32": '''
    def sim(z_i, z_j):
        ...
    '''}}
    WRONG = {"sim": {"dot product, not cosine": '''...'''}}

Each value is notebook code a student could write in the solution cell that defines the
name: it is run after the reference solutions, so it may use anything the notebook
defines (a class variant may subclass the reference: ``class X(X): ...``). Every name
keeps at least two correct variants written differently from the reference (other
structure, loops or vectorised, the dtypes the docstring promises, device idioms) and at
least three wrong ones that a student could plausibly write (off by one, wrong constant
or probability, missing term, wrong axis, what breaks training).

``tests/mutation/harness.py`` grades them: through the hidden cases and the comparison
with the sealed answers in one process (``test_variants.py``, default suite), and a
sample of them through ``python -m course autograde`` (``test_variants_autograde.py``,
slow suite). ``python -m tests.mutation`` prints how many of each run per assignment.
"""
