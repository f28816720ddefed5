"""The overlap check finds the give-aways that review found, and leaves teaching text alone.

Issue 16 lists passages of commit 69672e0 that answered graded questions: the transformer
chapter's "Masks and causality" (sentence classification Q2(b)), the question itself, cells
26-27 and the cola.py docstring (Q1(a)), cifar.py's docstring and the SimCLR notebook's
cell 3 (SimCLR Q1(b)), the SimCLR chapter's "Matching views alone is not enough" (Q1(a)),
the written-problems chapter's norm statement (Q4) and "x1 and not x2" weights (Q1), the
captioning chapter's gate sentence, its gradient paragraph and the Fig. 4 caption (inline
question 2), the GAN chapter's "the usual intuition does not hold" (Q3) and the transformer
chapter's "Why divide by sqrt d" (inline question, part 2).

giveaways_69672e0.json holds those passages and the mark schemes and reference answers of
that commit, as ``git show 69672e0:<path>`` gives them (regenerate with
``python -m tests.book.test_giveaways_are_found``). Each passage is planted as a reader text
of its own file and must be found against its question, whatever the current book says;
the stem weights come from the current book.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import ROOT
from course.overlaps import (code_paragraphs, docstring_paragraphs, markdown_paragraphs, paraphrases,
                             question_of, related_readers)

FIXTURE = Path(__file__).with_name("giveaways_69672e0.json")
COMMIT = "69672e0"
SC = "assignments/sentence_classification/sentence_classification.ipynb"
# (name, reader file, how to take the passage from it at COMMIT, question)
CASES = [
    ("transformer: Masks and causality", "book/transformer.md", ["A mask says which"],
     "sentence_classification/q_padding"),
    ("the CoLA question itself", SC, [29], "sentence_classification/q_majority"),
    ("CoLA notebook cells 26-27", SC, [26, 27], "sentence_classification/q_majority"),
    ("cola.py docstring", "package/dlcourse/data/cola.py", ["about 70 % are acceptable", "beat the majority class"],
     "sentence_classification/q_majority"),
    ("cifar.py docstring", "package/dlcourse/data/cifar.py", ["colours are nuisance"], "simclr/q_views"),
    ("SimCLR notebook cell 3", "assignments/simclr/simclr.ipynb", [3], "simclr/q_views"),
    ("simclr: Matching views alone is not enough", "book/simclr.md", ["Matching views alone"], "simclr/q_views"),
    ("written problems: norm and spectral radius", "book/written_problems.md", ["for any matrix norm"],
     "written_problems/q_gradient_norms"),
    ("written problems: x1 and not x2", "book/written_problems.md", ["and not $x_2$"], "written_problems/q_rnn_parity"),
    ("captioning: gates between 0 and 1", "book/captioning.md", ["vectors between 0 and 1"],
     "captioning/inline_question_2"),
    ("captioning: Fig. 4 caption", "book/captioning.md", ["compare their ranges"], "captioning/inline_question_2"),
    ("captioning: Why the LSTM helps gradients", "book/captioning.md", ["Why the LSTM helps gradients"],
     "captioning/inline_question_2"),
    ("gan: the usual intuition does not hold", "book/gan.md", ["the usual intuition"], "gan/q_loss_curves"),
    ("transformer: Why divide by sqrt d", "book/transformer.md", ["Why divide by", "Measured on random unit-variance"],
     "transformer_captioning/inline_question"),
]
UNRELATED = ("A convolutional layer slides a small filter over the image and computes a weighted sum at every "
             "position. Stacking such layers with pooling grows the receptive field, so deeper units respond to "
             "larger patterns.")
# The whole current book, release and helper package: at most this many findings (passage,
# question), in at most this many (reader file, question) pairs, so that a reviewer can
# read them all. Measured with `./course.sh overlaps`: 112 findings in 41 pairs at 69672e0,
# which still held the give-aways.
MAX_FINDINGS = 130
MAX_PAIRS = 45


def _fixture() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_each_listed_giveaway_is_found_against_its_question(case):
    fixture = _fixture()
    planted = fixture["cases"][case]
    graded = [tuple(g) for g in fixture["graded"]]
    found = paraphrases(ROOT, readers=[(planted["reader"], planted["paragraphs"])], graded=graded)
    questions = {f["question"] for f in found}
    assert planted["question"] in questions, (case, questions)


def test_the_fixture_is_what_the_commit_says():
    fixture = _fixture()
    assert fixture["commit"] == COMMIT and sorted(fixture["cases"]) == sorted(c[0] for c in CASES)
    assert {question_of(w) for w, _ in fixture["graded"]} >= {c[3] for c in CASES}


@pytest.mark.parametrize("reader", ["book/planted.md", "book/transformer.md", "book/captioning.md",
                                    "assignments/network_visualization/network_visualization.ipynb"])
def test_unrelated_teaching_text_is_not_found(reader):
    assert paraphrases(ROOT, readers=[(reader, UNRELATED)]) == []


TOPICS = [  # what a chapter may say about the topic of a question without answering it
    ("book/captioning.md", "An LSTM keeps a cell state next to its hidden state. Gates computed from the input "
     "and the previous hidden state decide what is written to the cell, what is kept and what is shown."),
    ("book/gan.md", "The discriminator is trained to tell real images from generated ones, and the generator "
     "is trained to fool it. Both are updated in turn, one minibatch at a time."),
    ("book/simclr.md", "SimCLR trains an encoder without labels: two augmented views of each image are encoded, "
     "projected, and a contrastive loss pulls the views of one image together."),
    ("book/written_problems.md", "The spectral radius of a matrix is the largest modulus of its eigenvalues. For "
     "a diagonal matrix it is the largest absolute diagonal entry."),
]


@pytest.mark.parametrize("reader,text", TOPICS)
def test_teaching_the_topic_of_a_question_is_not_a_finding(reader, text):
    assert paraphrases(ROOT, readers=[(reader, text)]) == []


def test_the_whole_book_gives_a_reviewable_number_of_findings():
    found = paraphrases(ROOT)
    pairs = {(f["reader"], f["question"]) for f in found}
    assert len(found) <= MAX_FINDINGS and len(pairs) <= MAX_PAIRS, (len(found), len(pairs))


def test_related_readers_follow_links_and_imports():
    related = related_readers(ROOT)
    assert "book/transformer.md" in related["sentence_classification"]
    assert "package/dlcourse/data/cifar.py" in related["simclr"]
    assert "book/gan.md" not in related["simclr"]


# ------------------------------------------------------------------------------------
# Regenerating the fixture from the commit
# ------------------------------------------------------------------------------------

def _show(path: str) -> str:
    return subprocess.run(["git", "show", f"{COMMIT}:{path}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def _paragraphs(reader: str, selectors: list) -> list[str]:
    text = _show(reader)
    if reader.endswith(".ipynb"):
        cells = nbformat.reads(text, as_version=4).cells
        out = []
        for k in selectors:
            cell = cells[k]
            out += code_paragraphs(cell.source) if cell.cell_type == "code" else markdown_paragraphs(cell.source)
        return out
    paragraphs = docstring_paragraphs(text) if reader.endswith(".py") else markdown_paragraphs(text)
    out = []
    for snippet in selectors:
        hits = [p for p in paragraphs if snippet in p]
        assert len(hits) == 1, (reader, snippet, len(hits))
        out += hits
    return out


def _graded() -> list[tuple[str, str]]:
    from course.check import split_regions

    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", COMMIT, "source"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    out = []
    for path in sorted(n for n in names if n.endswith(".ipynb") and n.count("/") == 2):
        nb = nbformat.reads(_show(path), as_version=4)
        free = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells  # extra credit, no points
                if c.metadata.get("nbgrader", {}).get("task") and not c.metadata["nbgrader"].get("points")}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id", "?")
            if gid in free or gid.removesuffix("_answer") in free:
                continue
            if cell.cell_type == "markdown" and meta.get("solution"):
                out.append((f"{path} ({gid})", cell.source))
            elif meta.get("task"):
                out.append((f"{path} ({gid})", "\n".join(split_regions(cell.source)[1])))
    return out


def regenerate() -> None:
    cases = {name: {"reader": reader, "question": question, "selectors": selectors,
                    "paragraphs": _paragraphs(reader, selectors)}
             for name, reader, selectors, question in CASES}
    FIXTURE.write_text(json.dumps({"commit": COMMIT, "cases": cases, "graded": _graded()}, indent=1) + "\n")


if __name__ == "__main__":
    regenerate()
    sys.exit(0)
