"""Formulas in feedback and formgrader pages, drawn as MathML without a script (autograder/mathml.py).

What the course's own notebooks write must be drawn; what a student writes must never
become markup other than presentation MathML (an allow-list, checked on every output here,
including a few hundred generated formulas); markdown without formulas renders exactly as
nbconvert renders it. tests/pipeline/test_rendered_submissions.py shows the formulas drawn
in Chromium under the feedback page's Content-Security-Policy, and markup-bearing formulas
running nothing there.
"""
from __future__ import annotations

import json
import re

import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.mathml import (ALL_ATTRIBUTES, BUDGET, LENGTHS, LONGEST, TAGS, MathMLRenderer, _length_ok,
                              tex_to_mathml)
from autograder.sanitize import SafeMarkdown, clean_html
from course import ROOT


def render(markdown: str) -> str:
    return SafeMarkdown()({}, markdown)


def math_elements_are_allowed(page: str) -> None:
    """Every element inside a <math> is presentation MathML with allowed attributes."""
    soup = BeautifulSoup(page, features="html.parser")
    for math in soup.find_all("math"):
        for el in [math, *math.find_all(True)]:
            assert el.name in TAGS, (el.name, page)
            assert set(el.attrs) <= ALL_ATTRIBUTES, (el.attrs, page)
            for key in set(el.attrs) & set(LENGTHS):  # spaces and sizes stay small: nothing paints outside
                assert _length_ok(key, el[key], el.name), (key, el[key], page)


def test_inline_display_and_environments_are_drawn():
    page = render("Inline $\\frac{a}{b}$, display\n\n$$\\begin{aligned} x &= 1 \\\\ y &= 2 \\end{aligned}$$\n\n"
                  "\\begin{align} z &= 3 \\end{align}\n")
    soup = BeautifulSoup(page, features="html.parser")
    assert [m["display"] for m in soup.find_all("math")] == ["inline", "block", "block"]
    assert "$" not in soup.get_text() and "\\begin" not in soup.get_text()
    assert len(soup.find_all("mtable")) == 2 and "&" not in soup.get_text()  # aligned drawn as a table
    math_elements_are_allowed(page)


@pytest.mark.parametrize("tex, shown", [
    ("\\text{<script>alert(1)</script>}", "$\\text{<script>alert(1)</script>}$"),  # markup: the TeX, as text
    ("\\text{<img src=x onerror=alert(1)>}", "$\\text{<img src=x onerror=alert(1)>}$"),
    ("\\unknowncommand{x}", "$\\unknowncommand{x}$"),  # drawn it would lose the command
    ("\\frac{" * 3, None),
])
def test_formulas_that_cannot_be_drawn_safely_show_their_tex(tex, shown):
    page = render(f"before ${tex}$ after")
    soup = BeautifulSoup(page, features="html.parser")
    assert soup.find("script") is None and soup.find("img") is None
    if shown is not None:
        assert soup.find("math") is None and shown in soup.get_text()
    math_elements_are_allowed(page)


@pytest.mark.parametrize("tex", ["\\href{javascript:alert(1)}{x}", "\\style{background:url(http://x.example/)}{x}",
                                 "\\class{navbar-fixed-top}{x}", "\\color{red}{x}"])
def test_attributes_off_the_list_are_dropped(tex):
    page = render(f"${tex}$")
    assert BeautifulSoup(page, features="html.parser").find("math") is not None
    assert "javascript" not in page and "url(" not in page and "navbar" not in page and "style=" not in page
    math_elements_are_allowed(page)


def laughs(levels: int, fan: int = 10) -> str:
    """TeX whose macros expand to fan**levels x's (braces reset latex2mathml's depth limit)."""
    names = ["\\z" + chr(ord("a") + i) for i in range(levels + 1)]
    tex = "\\def%s{x}" % names[0]
    for prev, cur in zip(names, names[1:]):
        tex += "\\def%s{%s}" % (cur, ("{" + prev + "}") * fan)
    return tex + names[-1]


@pytest.mark.parametrize("define", ["\\def\\a{x}\\a", "\\newcommand{\\a}{x}\\a", "\\let\\a=x\\a",
                                    "\\renewcommand\\a{x}", "\\DeclareMathOperator{\\tr}{tr}"])
def test_formulas_that_define_macros_stay_tex_at_once(define):
    """latex2mathml expands definitions: nested ones grow exponentially (minutes from 400 characters)."""
    import time

    started = time.perf_counter()
    assert tex_to_mathml(define, False) is None and tex_to_mathml(laughs(6), True) is None
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("tex", [
    "\\smash{\\mathrlap{\\raise{150em}{\\rule{400em}{300em}}}}",  # a black box over the whole page
    "\\raise{20em}{\\text{Hidden tests passed: softmax}}", "\\lower{5em}{x}", "\\mathrlap{x}",
    "\\cancel{x}", "\\boxed{x}", "\\colorbox{white}{x}",
])
def test_formulas_that_would_paint_outside_their_box_stay_tex(tex):
    assert tex_to_mathml(tex, False) is None


@pytest.mark.parametrize("tex, gone", [
    ("\\hspace{-50em}x", "width"), ("\\hspace{100em}x", "width"), ("\\color{white}{x}", "mathcolor"),
    ("\\Huge x", "mathsize"), ("\\rule{1em}{9em}", "height"), ("\\mathop{x}\\limits", "lspace"),
])
def test_positioning_and_colour_attributes_are_dropped(tex, gone):
    out = tex_to_mathml(tex, False)
    assert out is None or f"{gone}=" not in out, out


def test_the_course_spaces_and_delimiters_are_kept():
    out = tex_to_mathml("a\\!b\\,c\\;d\\quad e\\qquad f \\Bigg( x \\Bigg)", False)
    for kept in ('width="negativethinmathspace"', 'width="0.167em"', 'width="2em"', 'maxsize="2.470em"'):
        assert kept in out, out


def test_a_forged_placeholder_stays_text_and_headings_keep_their_tex_in_anchors():
    renderer = MathMLRenderer(escape=False)
    guess = renderer.placeholder().pattern.replace("([0-9]+)", "0")
    page = render(f"# Loss $L$\n\nformula0123456789abcdef0n0e and {guess} and $x$")
    soup = BeautifulSoup(page, features="html.parser")
    assert soup.h1["id"] == "user-content-Loss-$L$" and soup.h1.find("math") is not None
    assert "formula0123456789abcdef0n0e" in soup.get_text() and guess in soup.get_text()
    assert len(soup.find_all("math")) == 2


@pytest.mark.parametrize("markdown", [
    "# Title\n\nText with *emphasis*, `code $x$`, a [link](https://example.org) and a price of \\$5.\n",
    "```python\nprint('$a$')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "<b>bold</b> <script>x</script> <img src=x onerror=y>\n\n- one\n- two\n",
])
def test_markdown_without_formulas_renders_as_nbconvert_renders_it(markdown):
    from nbconvert.exporters import HTMLExporter

    assert render(markdown) == clean_html(HTMLExporter().markdown2html({}, markdown))


def _course_formulas() -> dict[str, list[tuple[str, bool]]]:
    """{source notebook: its markdown formulas, (TeX as written, display?)}."""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    out = {}
    for path in sorted((ROOT / "source").glob("*/*.ipynb")):
        renderer = MathMLRenderer(escape=False)
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                MarkdownWithMath(renderer=renderer).render("".join(cell["source"]))
        out[path.name] = renderer.formulas
    return out


def test_every_formula_of_the_course_notebooks_is_drawn_well_within_the_budget():
    """The instructors' formulas (questions, explanations) appear in every feedback page, and
    each notebook's spend a tenth of the budget at most (autograder.mathml.BUDGET, LONGEST),
    leaving the rest to what students write."""
    formulas = _course_formulas()
    assert sum(len(f) for f in formulas.values()) > 300
    failed, spent = [], {}
    for name, found in formulas.items():
        tex_chars = mathml_chars = 0
        for tex, display in found:
            body = tex[2:-2] if tex.startswith("$$") else tex[1:-1] if tex.startswith("$") else tex
            mathml = tex_to_mathml(body, display)
            if mathml is None:
                failed.append(tex)
            assert len(tex) <= LONGEST / 5, tex
            tex_chars, mathml_chars = tex_chars + len(tex), mathml_chars + len(mathml or "")
        spent[name] = (tex_chars, mathml_chars)
    assert failed == []
    assert all(t <= BUDGET["tex"] / 10 and m <= BUDGET["mathml"] / 10 for t, m in spent.values()), spent


TOKENS = [*"ab1+-=^_{}()[]<>&\"'/ \\$", "\\frac", "\\text", "\\href", "\\style", "\\mathrm", "<script>",
          "\\raise{3em}", "\\hspace{-9em}", "\\smash", "\\rule{9em}{9em}", "\\Huge", "\\color{red}", "\\Bigg(",
          "\\def\\a{x}", "\\quad", "\\!",
          "<img src=x onerror=alert(1)>", "\\begin{matrix}", "\\end{matrix}", "&#x3C;", "\\\\", "javascript:",
          "</math>", "<mtext>", "<annotation-xml encoding='text/html'>"]
TEXISH = st.lists(st.sampled_from(TOKENS), max_size=24).map("".join)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(TEXISH)
def test_any_formula_yields_only_allowed_mathml_or_nothing(tex):
    for display in (False, True):
        out = tex_to_mathml(tex, display)
        if out is not None:
            assert out.startswith("<math ") and out.endswith("</math>")
            math_elements_are_allowed(out)
            assert not re.search(r"<(?!/?(?:" + "|".join(TAGS) + r")[ >/])", out), out
    page = render(f"${tex}$ and $${tex}$$")
    math_elements_are_allowed(page)
    soup = BeautifulSoup(page, features="html.parser")
    assert soup.find(["script", "iframe", "style", "svg", "object", "embed", "annotation-xml"]) is None, page
    for el in soup.find_all(True):
        assert not any(k.lower().startswith("on") or "javascript:" in str(v).lower() for k, v in el.attrs.items()), page


def test_a_notebook_of_huge_formulas_costs_a_bounded_time_and_page():
    """Past the notebook's budget of TeX (autograder.mathml.BUDGET), formulas stay TeX: a
    submission of megabytes of formulas cannot make the feedback stage or the formgrader
    spend minutes, or write pages ten times its size."""
    import time

    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    formula = "x+" * ((LONGEST - 10) // 2)  # just under the longest formula that is drawn
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"cell {i}: ${formula}$") for i in range(80)]
    config = Config()
    config.HTMLExporter.filters = {"markdown2html": SafeMarkdown}
    started = time.perf_counter()
    page, resources = HTMLExporter(config=config).from_notebook_node(nb)
    elapsed = time.perf_counter() - started
    drawn = page.count("<math ")
    one = len(tex_to_mathml(formula, False))  # about 10 characters of MathML for each of TeX
    assert drawn == min(BUDGET["tex"] // (len(formula) + 2), BUDGET["mathml"] // one)  # TeX spent with its $
    assert 0 < drawn < 80 and page.count(f"${formula}$") == 80 - drawn
    assert elapsed < 20, elapsed
    assert len(page) < BUDGET["mathml"] * 1.2 + 80 * len(formula) + 1_000_000
    again, _ = HTMLExporter(config=config).from_notebook_node(nb)  # a new rendering, a new budget
    assert again.count("<math ") == drawn
