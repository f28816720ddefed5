"""The book and the release teach without answering a graded question.

Every sentence of a mark scheme or reference answer (source notebooks) is compared with
what students read: the chapters (book/*.md) and the released notebooks. A shared run of
eight words, or a passage that holds most of a sentence's content words, is a finding;
findings a reviewer judged harmless are listed, with a reason, in
course/reviewed_overlaps.toml. The planted tests show that the comparison finds verbatim
copies and paraphrases, and leaves unrelated text alone.
"""
from __future__ import annotations

from course import ROOT
from course.check import answer_overlaps, describe, graded_texts, paraphrases, reviewed_overlaps


def test_no_mark_scheme_or_reference_answer_in_the_book_or_the_release():
    new, stale = answer_overlaps(ROOT)
    assert not new, "graded text where students read it:\n" + "\n".join(describe(f) for f in new)
    assert not stale, f"reviewed overlaps that no longer occur (remove them): {stale}"


def test_every_reviewed_overlap_has_a_reason():
    for entry in reviewed_overlaps():
        assert len(entry.get("reason", "").split()) >= 8, entry


def _graded(grade_id: str) -> str:
    return next(text for where, text in graded_texts(ROOT) if where.endswith(f"({grade_id})"))


def test_a_copied_sentence_is_found():
    sentence = next(s for s in _graded("q_beam_search_answer").split(".") if len(s.split()) > 10)
    found = paraphrases(ROOT, readers=[("book/planted.md", f"Some text. {sentence.strip()}. More text.")])
    assert any(f["reader"] == "book/planted.md" and "q_beam_search_answer" in f["graded"] for f in found)


def test_a_paraphrase_is_found():
    # The mark scheme of the TV question: "the squared penalty rewards blurring an edge into a
    # ramp (it prefers smooth, gradual transitions and blurs edges), while the absolute-value
    # version charges the same for a sharp and a gradual edge and mainly removes small
    # oscillations". The same claim, reworded and reordered:
    planted = ("Small oscillations are mainly what the absolute version removes, as it charges a "
               "gradual edge and a sharp one the same; squaring instead rewards blurring: smooth "
               "transitions are preferred and an edge becomes a ramp.")
    found = paraphrases(ROOT, readers=[("book/planted.md", planted)])
    assert any("tv_effect" in f["graded"] for f in found), found


def test_unrelated_teaching_text_is_not_a_finding():
    text = ("A convolutional layer slides a small filter over the image and computes a weighted "
            "sum at every position. Stacking such layers with pooling grows the receptive field, "
            "so deeper units respond to larger patterns.")
    assert paraphrases(ROOT, readers=[("book/planted.md", text)]) == []
