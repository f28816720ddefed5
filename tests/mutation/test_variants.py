"""Every correct variant gets full points and every wrong one loses points (default suite).

Graded in one process through the hidden cases and the sealed answers
(tests/mutation/harness.py); see tests/mutation/__init__.py for the variant tables.
"""
from __future__ import annotations

import pytest

from course.config import assignments

from tests.mutation.harness import (MIN_CORRECT, MIN_WRONG, all_variants, defined_names, grade_namespace,
                                    grade_variant, namespace, variants)

VARIANTS = all_variants()


def _id(item) -> str:
    assignment, name, kind, label, _ = item
    return f"{assignment}:{name}:{kind}:{label}"


@pytest.mark.parametrize("assignment", assignments())
def test_reference_gets_full_points(assignment):
    verdicts = grade_namespace(assignment, namespace(assignment))
    assert [v.message() for v in verdicts.values() if not v.passed] == []


@pytest.mark.parametrize("assignment", assignments())
def test_every_graded_name_has_variants_and_mutants(assignment):
    correct, wrong = variants(assignment)
    names = set(defined_names(assignment))
    assert set(correct) == names, f"correct variants missing for {sorted(names - set(correct))}"
    assert set(wrong) == names, f"wrong variants missing for {sorted(names - set(wrong))}"
    few = {n: (len(correct[n]), len(wrong[n])) for n in names
           if len(correct[n]) < MIN_CORRECT or len(wrong[n]) < MIN_WRONG}
    assert few == {}, f"(correct, wrong) below ({MIN_CORRECT}, {MIN_WRONG})"


@pytest.mark.parametrize("item", VARIANTS, ids=[_id(v) for v in VARIANTS])
def test_variant_is_graded_as_it_should(item):
    assignment, name, kind, label, code = item
    if kind == "correct":
        verdicts = grade_variant(assignment, code)
        failed = [v.message() for v in verdicts.values() if not v.passed]
        assert failed == [], f"a correct {name} ({label}) loses points"
    else:
        verdicts = grade_variant(assignment, code, stop_at_first_failure=True)
        assert not all(v.passed for v in verdicts.values()), f"a wrong {name} ({label}) gets full points"
