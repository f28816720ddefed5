"""The book, the release and the helper package teach without answering a graded question.

Every point of a mark scheme or reference answer (source notebooks) is compared with what
students read (course/overlaps.py, ``./course.sh overlaps``): a shared run of eight words,
or a passage that holds most of a point's weighted content stems, is a finding. Findings a
reviewer judged harmless are listed, with a reason, in course/reviewed_overlaps.toml. The
planted tests show that the comparison finds verbatim copies and paraphrases, and leaves
unrelated text alone; tests/book/test_giveaways_are_found.py plants the give-aways that
review found.
"""
from __future__ import annotations

from course import ROOT
from course.overlaps import answer_overlaps, describe, graded_texts, paraphrases, question_of, reviewed_overlaps


def test_no_mark_scheme_or_reference_answer_in_the_book_or_the_release():
    new, stale = answer_overlaps(ROOT)
    assert not new, "graded text where students read it:\n" + "\n".join(describe(f) for f in new)
    assert not stale, "reviewed passages that no longer give a finding (remove them): " + "; ".join(
        f"{e['reader']} ~ {e['question']}: {snippet!r}" for e, snippet in stale)


def test_every_reviewed_overlap_names_its_passages_and_a_reason():
    questions = {question_of(where) for where, _ in graded_texts(ROOT)}
    for entry in reviewed_overlaps():
        assert set(entry) == {"reader", "question", "passages", "reason"}, entry
        assert (ROOT / entry["reader"]).exists() and entry["question"] in questions, entry
        assert entry["passages"] and all(len(p.split()) >= 3 for p in entry["passages"]), entry
        assert len(entry["reason"].split()) >= 8, entry


def test_reviewed_passages_match_whatever_the_markup():
    finding = {"reader": "book/gan.md", "question": "gan/q_loss_curves", "rule": "concept", "coverage": 0.5,
               "shared": "", "sentence": "", "passage": "### Reading the losses\nEach loss measures *one* player"}
    entry = {"reader": "book/gan.md", "question": "gan/q_loss_curves", "passages": ["reading the LOSSES: each loss"],
             "reason": "r"}
    assert answer_overlaps(ROOT, found=[finding], reviewed=[entry]) == ([], [])
    other = dict(entry, question="gan/q_final_images")
    new, stale = answer_overlaps(ROOT, found=[finding], reviewed=[other])
    assert new == [finding] and stale == [(other, "reading the LOSSES: each loss")]


def _graded(grade_id: str) -> str:
    return next(text for where, text in graded_texts(ROOT) if where.endswith(f"({grade_id})"))


def test_a_copied_sentence_is_found():
    sentence = next(s for s in _graded("q_beam_search_answer").split(".") if len(s.split()) > 10)
    found = paraphrases(ROOT, readers=[("book/planted.md", f"Some text. {sentence.strip()}. More text.")])
    assert any(f["reader"] == "book/planted.md" and f["question"] == "written_problems/q_beam_search"
               for f in found), found


def test_a_paraphrase_is_found():
    # The mark scheme of the TV question: "the squared penalty rewards blurring an edge into a
    # ramp (it prefers smooth, gradual transitions and blurs edges), while the absolute-value
    # version charges the same for a sharp and a gradual edge and mainly removes small
    # oscillations". The same claim, reworded and reordered, in the chapter and elsewhere:
    planted = ("Small oscillations are mainly what the absolute version removes, as it charges a "
               "gradual edge and a sharp one the same; squaring instead rewards blurring: smooth "
               "transitions are preferred and an edge becomes a ramp.")
    for reader in ("book/style_transfer.md", "book/planted.md"):
        found = paraphrases(ROOT, readers=[(reader, planted)])
        assert any(f["question"] == "style_transfer/tv_effect" for f in found), (reader, found)


def test_unrelated_teaching_text_is_not_a_finding():
    text = ("A convolutional layer slides a small filter over the image and computes a weighted "
            "sum at every position. Stacking such layers with pooling grows the receptive field, "
            "so deeper units respond to larger patterns.")
    assert paraphrases(ROOT, readers=[("book/planted.md", text)]) == []
