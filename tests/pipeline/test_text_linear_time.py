"""Does student text take linear time everywhere the grader reads it, and keep its meaning?

Megabytes of adversarial text (BEGIN markers without END, nested markers, one line of
millions of characters, pathological whitespace, "<" without ">", "$" without a closing
one) go through intake (``read_submission``, which repairs metadata with
``autograder.repair``), feedback (``HideHiddenTests``) and the leak check's scanning
functions (``text_lines``, ``scan``, ``split_regions``, the paraphrase checker's
``_words``/``_sentences``/``paraphrases``). Each must finish within BOUND seconds of CPU
time (of this process, so that other jobs on shared cores do not count); the quadratic
regular expressions they replace took minutes on a fraction of this.

The region scanner (``autograder.regions``) keeps nbgrader's semantics and, on every cell
of the course's notebooks, gives exactly what the regular expressions gave.
"""
from __future__ import annotations

import glob
import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.intake import read_submission
from autograder.preprocessors import HideHiddenTests
from autograder.regions import HIDDEN_TESTS, MARK_SCHEME, SOLUTION, strip_regions
from autograder.repair import _norm, repair
from course import ROOT
from course.check import scan, split_regions, strip_tags, text_lines
from course.overlaps import _sentences, _words, paraphrases

BOUND = 5.0  # CPU seconds for each operation below (measured: at most 2 s; most under 0.5 s)
MB = 1_000_000
RELEASE = ROOT / "assignments" / "captioning" / "captioning.ipynb"
OLD_HIDDEN = re.compile(r"^[^\n]*BEGIN HIDDEN TESTS.*?END HIDDEN TESTS[^\n]*$\n?", re.S | re.M)
OLD_MARK_SCHEME = re.compile(r"^[^\n]*BEGIN MARK SCHEME.*?END MARK SCHEME[^\n]*$\n?", re.S | re.M)


def hostile_texts(size: int) -> dict[str, str]:
    """Adversarial texts of about ``size`` characters each."""
    return {
        "hidden BEGIN without END": "# BEGIN HIDDEN TESTS\n" * (size // 21),
        "mark scheme BEGIN without END": "BEGIN MARK SCHEME " * (size // 18),
        "nested markers": "BEGIN HIDDEN TESTS BEGIN MARK SCHEME\nx END HIDDEN TESTS\n" * (size // 56),
        "one character": "a" * size,
        "newlines": "\n" * size,
        "whitespace": " \t\r\x0b\x0c\u2028\n" * (size // 7),
        "angle brackets": "<" * size,
        "dollars": "$a" * (size // 2),
        "one long line with markers": "x" * (size // 2) + "BEGIN HIDDEN TESTS" + "y" * (size // 2),
        "sentence breaks": ". - (1) ; " * (size // 10),
    }


def write(nb, path: Path) -> Path:
    """Write ``nb`` with every source as one JSON string (nbformat.write would store a list
    of lines: 10 MB of newlines would take 60 MB, beyond what intake reads)."""
    path.write_text(json.dumps(nb))
    return path


def timed(fn, *args, **kwargs):
    """(result, CPU seconds of this process): other jobs on shared cores do not count."""
    started = time.process_time()
    result = fn(*args, **kwargs)
    return result, time.process_time() - started


# -- semantics ----------------------------------------------------------------------------

def test_regions_follow_nbgrader():
    r = (HIDDEN_TESTS,)
    assert strip_regions("a\n### BEGIN HIDDEN TESTS\nsecret\n### END HIDDEN TESTS\nb", r) == "a\nb"
    assert strip_regions("a\nBEGIN HIDDEN TESTS\nsecret\nmore", r) == "a\n"  # unterminated: to the end
    assert strip_regions("a\nEND HIDDEN TESTS\nb", r) == "a\nb"  # a stray END line goes, as in nbgrader
    assert strip_regions("BEGIN HIDDEN TESTS x END HIDDEN TESTS\nsecret\nEND HIDDEN TESTS\nb", r) == "b"
    assert strip_regions("BEGIN HIDDEN TESTS\nBEGIN HIDDEN TESTS\ns\nEND HIDDEN TESTS\nb", r) == "b"  # nested
    assert strip_regions("a\nb\n", r) == "a\nb\n"
    both = "q\nBEGIN MARK SCHEME\nm\nEND MARK SCHEME\nBEGIN HIDDEN TESTS\nh\nEND HIDDEN TESTS\nz"
    assert strip_regions(both, (HIDDEN_TESTS, MARK_SCHEME), {HIDDEN_TESTS: "# note"}) == "q\n# note\nz"
    assert strip_regions("a\nBEGIN SOLUTION\ns\nEND SOLUTION\nb", (SOLUTION,)) == "a\nb"


def test_regions_give_what_the_regular_expressions_gave_on_every_course_cell():
    cells = 0
    for path in sorted(glob.glob(str(ROOT / "source" / "*" / "*.ipynb"))) + \
            sorted(glob.glob(str(ROOT / "assignments" / "*" / "*.ipynb"))):
        for cell in nbformat.read(path, as_version=4).cells:
            s = cell.source
            old = OLD_HIDDEN.sub("# (hidden tests ran here)\n", s).rstrip("\n")
            new = strip_regions(s, (HIDDEN_TESTS,), {HIDDEN_TESTS: "# (hidden tests ran here)"}).rstrip("\n")
            assert new == old, path
            assert strip_regions(s, (MARK_SCHEME,)) == OLD_MARK_SCHEME.sub("", s), path
            cells += 1
    assert cells > 500


def feedback_notebook(task: str, test: str, student: str, markdown: str):
    nb = nbformat.v4.new_notebook()
    meta = {"grade": False, "solution": False, "locked": True, "task": True, "grade_id": "q", "points": 2}
    nb.cells.append(nbformat.v4.new_markdown_cell(task, metadata={"nbgrader": meta}))
    test_meta = {"grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1}
    nb.cells.append(nbformat.v4.new_code_cell(test, metadata={"nbgrader": test_meta}))
    nb.cells.append(nbformat.v4.new_code_cell(student))
    nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    return nb


def test_feedback_hides_mark_schemes_hidden_tests_and_pasted_markers():
    nb = feedback_notebook(
        "Question?\n=== BEGIN MARK SCHEME ===\nfull marks if\n=== END MARK SCHEME ===\nThanks",
        "# Graded\n### BEGIN HIDDEN TESTS\nprobe('x/y', globals())\n### END HIDDEN TESTS",
        "x = 1\n# BEGIN MARK SCHEME pasted\nleft\n# BEGIN HIDDEN TESTS\n",
        "my answer\nEND HIDDEN TESTS\nBEGIN HIDDEN TESTS and no end\nrest")
    HideHiddenTests().preprocess(nb, {})
    sources = [c.source for c in nb.cells[1:]]
    assert sources[0] == "Question?\nThanks"
    assert sources[1] == "# Graded\n# (hidden tests ran here)"
    assert sources[2] == "x = 1\n"
    assert sources[3] == "my answer\n"
    assert not any(m in s for s in sources for m in ("BEGIN", "END", "probe(", "full marks"))


# -- time ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(hostile_texts(10)))
def test_feedback_is_linear_in_hostile_text(name):
    text = hostile_texts(4 * MB)[name]
    nb = feedback_notebook(text, "# Graded\n" + text, text, text)
    _, seconds = timed(HideHiddenTests().preprocess, nb, {})
    print(f"HideHiddenTests, 4 cells of {len(text) / MB:.1f} M chars ({name}): {seconds:.2f} s")
    assert seconds < BOUND


def hostile_submission(text: str, *, anchors: bool):
    """The release without nbgrader metadata (so repair runs), ``text`` in several cells;
    without anchors every locked cell is edited, so every cell is a candidate for every answer."""
    nb = nbformat.read(str(RELEASE), as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
        if not anchors:
            cell.source += "\n# edited"
    stubs = [_norm(c.source) for c in nbformat.read(str(RELEASE), as_version=4).cells
             if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    heads = "\n".join(s.splitlines()[0] for s in stubs)
    nb.cells.insert(10, nbformat.v4.new_code_cell(heads + "\n" + text))
    nb.cells.insert(20, nbformat.v4.new_markdown_cell(text))
    return nb


def difflib_bomb_cells(nb, total: int):
    """Cells on which difflib takes seconds each: every head line, then a stub with a
    character between any two of its characters (only matches of length 1)."""
    stubs = sorted((_norm(c.source) for c in nbformat.read(str(RELEASE), as_version=4).cells
                    if c.metadata.get("nbgrader", {}).get("solution")), key=len)
    heads = "\n".join(s.splitlines()[0] for s in stubs if s)
    cell = heads + "\n" + "\x00".join(stubs[-1])
    for k in range(total // len(cell)):
        nb.cells.insert(5 + k % 30, nbformat.v4.new_code_cell(cell))
    return nb


@pytest.mark.parametrize("anchors", [True, False], ids=["anchored", "no-anchors"])
@pytest.mark.parametrize("name", list(hostile_texts(10)))
def test_intake_is_linear_in_hostile_text(name, anchors, tmp_path):
    text = hostile_texts(3 * MB)[name]
    path = write(hostile_submission(text, anchors=anchors), tmp_path / "captioning.ipynb")
    (nb, notes), seconds = timed(read_submission, path, RELEASE)
    print(f"read_submission, {path.stat().st_size / MB:.1f} MB ({name}, {'anchored' if anchors else 'no anchors'}): "
          f"{seconds:.2f} s")
    assert seconds < BOUND
    assert any("restored metadata" in n for n in notes), notes  # it was read and repaired, not refused


def test_intake_bounds_difflib(tmp_path):
    """Cells built so that one difflib comparison takes seconds (5 s for 11 kB): the
    comparisons share a budget, so intake stays bounded and still repairs the notebook."""
    nb = difflib_bomb_cells(hostile_submission("x", anchors=False), 8 * MB)
    path = write(nb, tmp_path / "captioning.ipynb")
    (nb, notes), seconds = timed(read_submission, path, RELEASE)
    print(f"read_submission, {path.stat().st_size / MB:.1f} MB of difflib-hard cells: {seconds:.2f} s")
    assert seconds < BOUND
    assert any("restored metadata" in n for n in notes), notes


def test_intake_with_many_cells(tmp_path):
    """40,000 cells, none of them anchored: pass 2 looks at each cell once per answer."""
    nb = hostile_submission("x", anchors=False)
    nb.cells += [nbformat.v4.new_code_cell(f"def rnn_step_forward(x):\n    return {k}") for k in range(20_000)]
    nb.cells += [nbformat.v4.new_markdown_cell("YOUR ANSWER HERE") for _ in range(20_000)]
    release = nbformat.read(str(RELEASE), as_version=4)
    notes, seconds = timed(repair, nb, release)
    print(f"repair, 40,000 cells, no anchors: {seconds:.2f} s")
    assert seconds < BOUND
    assert any("restored metadata" in n for n in notes), notes


@pytest.mark.parametrize("name", list(hostile_texts(10)))
def test_leak_check_scanning_is_linear_in_hostile_text(name, tmp_path):
    text = hostile_texts(4 * MB)[name]
    (tmp_path / "page.html").write_text(text)
    (tmp_path / "notes.md").write_text(text)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(text), nbformat.v4.new_markdown_cell(text)]
    write(nb, tmp_path / "feedback.ipynb")
    timings = {}
    for suffix in ("page.html", "feedback.ipynb"):
        _, timings[f"text_lines {suffix}"] = timed(text_lines, tmp_path / suffix)
    _, timings["split_regions"] = timed(split_regions, text, False)
    _, timings["_words"] = timed(_words, text)
    _, timings["_sentences"] = timed(_sentences, text)
    for what, seconds in timings.items():
        print(f"{what}, {len(text) / MB:.1f} M chars ({name}): {seconds:.2f} s")
        assert seconds < BOUND, what
    _, seconds = timed(scan, [tmp_path], ROOT)  # includes reading the secrets of the course (~1 s)
    print(f"scan of 3 files of {len(text) / MB:.1f} M chars ({name}): {seconds:.2f} s")
    assert seconds < 2 * BOUND


def test_paraphrase_checker_is_linear_in_hostile_reader_text():
    texts = hostile_texts(MB)
    readers = [(f"book/{name}.md", text) for name, text in texts.items()]
    _, seconds = timed(paraphrases, ROOT, readers)
    print(f"paraphrases over {len(readers)} hostile readers of 1 M chars: {seconds:.2f} s")
    assert seconds < 4 * BOUND


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet="<>a\n", max_size=40))
def test_strip_tags_is_the_regular_expression(raw):
    assert strip_tags(raw) == re.sub(r"<[^>]+>", "", raw)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(["BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "x", "", " ", "\n"]), max_size=12))
def test_regions_match_the_old_expression_where_it_was_defined(parts):
    """Where every BEGIN has its END later, on its own line, and no END stands alone, the
    scanner and the old expression agree; elsewhere the scanner hides at least as much."""
    text = "".join(parts)
    new = strip_regions(text, (HIDDEN_TESTS,))
    old = OLD_HIDDEN.sub("", text)
    lines = text.split("\n")
    depth, well_formed = 0, True
    for line in lines:
        b, e = "BEGIN HIDDEN TESTS" in line, "END HIDDEN TESTS" in line
        if (b and e) or (b and depth) or (e and not depth):
            well_formed = False
        depth = 1 if b else 0 if e else depth
    if well_formed and not depth:
        assert new == old
    assert "BEGIN HIDDEN TESTS" not in new and "END HIDDEN TESTS" not in new
    assert len(new) <= len(old)



def nbgrader_loop(text: str, regions, replacements) -> str:
    """nbgrader's own loop (ClearHiddenTests), for each kind at once, without its errors."""
    inside = {r: False for r in regions}
    kept = []
    lines = text.split("\n")
    for k, line in enumerate(lines):
        ending = "\n" if k < len(lines) - 1 else ""
        marker = False
        was_outside = not any(inside.values())
        for r in regions:
            if r.begin in line:
                if not inside[r] and r in replacements:
                    kept.append(replacements[r] + "\n")
                inside[r], marker = True, True
            elif r.end in line:
                inside[r], marker = False, True
        if not marker and was_outside:
            kept.append(line + ending)
    return "".join(kept)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(["BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME", "END MARK SCHEME",
                                 "x", "\n", "\r\n", " ", "BEGIN", "END HIDDEN"]), max_size=16),
       st.booleans())
def test_the_scanner_is_nbgraders_loop(parts, replace):
    text = "".join(parts)
    regions = (HIDDEN_TESTS, MARK_SCHEME)
    replacements = {HIDDEN_TESTS: "# note"} if replace else {}
    assert strip_regions(text, regions, replacements) == nbgrader_loop(text, regions, replacements)
