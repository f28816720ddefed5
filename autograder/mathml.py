"""Formulas as MathML, which browsers draw without any script.

Feedback pages forbid scripts (their Content-Security-Policy, autograder/sanitize.py), so
MathJax cannot typeset them, and the formgrader loads its MathJax from a CDN that an
offline grading machine cannot reach: without this module both show formulas as TeX.
``tex_to_mathml`` converts TeX with latex2mathml, then keeps the result only when it is
well-formed XML made of presentation-MathML elements from an allow-list; it is rebuilt
element by element and serialised again, so every text is escaped, and attributes off
the allow-list (``href``, ``style``, ``class``, ``id``, event handlers: latex2mathml
copies ``\\href``, ``\\style`` and ``\\class`` into attributes) are dropped. latex2mathml
puts ``\\text{<script>...}`` into its output as markup: such a formula contains an element
off the list and is refused, and the caller shows its TeX as text, as before.

Two more kinds of formula stay TeX, found by attacking this module: one that defines macros
(latex2mathml expands nested ``\\def`` chains exponentially, so a few hundred characters
could cost minutes), and one that would paint outside its own box (``\\smash``,
``\\raise``, ``\\rule``, ``\\colorbox``: drawn over the verdicts, the scores or a grader's
buttons). Offsets, heights, depths, colours and sizes are dropped, and spaces and delimiter
sizes are kept only within a few em.

``MathMLRenderer`` is nbconvert's markdown renderer with each formula replaced by a
placeholder carrying a per-rendering random nonce (a student cannot write one that
matches); ``place_formulas`` puts the MathML in once the HTML around it is cleaned, within
a budget of TeX per notebook (``BUDGET``; a formula longer than ``LONGEST`` is never drawn).
"""
from __future__ import annotations

import html
import re
import secrets
import xml.etree.ElementTree as ET

from defusedxml import ElementTree as SafeET
from nbconvert.filters.markdown_mistune import IPythonRenderer

MATHML_NS = "http://www.w3.org/1998/Math/MathML"
# Elements that draw where they stand. Not here: mpadded (\smash, \mathrlap: content that
# takes no room, so it can paint over the page), menclose (\cancel, \boxed: Chromium draws
# only the content, so a struck-out term looks present), and everything else.
TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac",
    "msqrt", "mroot", "mstyle", "mphantom", "mover", "munder", "munderover",
    "mtable", "mtr", "mtd", "mmultiscripts", "mprescripts", "none",
}
# Attributes kept as they are (words and small numbers). Not here, because a formula could
# paint outside its own box, over the verdicts and scores or a grader's buttons, or hide
# text: voffset, height, depth, lspace, rspace, mathsize, mathcolor, mathbackground,
# linethickness (\raise, \lower, \rule, \colorbox, \color, \Huge...).
ATTRIBUTES = {
    "display", "stretchy", "fence", "form", "displaystyle", "linebreak", "mathvariant", "columnalign",
    "rowalign", "accent", "accentunder", "separator", "movablelimits", "largeop", "symmetric",
    "columnlines", "rowlines", "frame", "columnspan", "rowspan",
}
VALUE = re.compile(r"[A-Za-z0-9#.,%+\- ]{0,64}")  # words and numbers: no url(), no quotes
LENGTH = re.compile(r"(-?[0-9]*\.?[0-9]+)(em|ex|pt|px)")
EM = {"em": 1.0, "ex": 0.5, "pt": 0.1, "px": 1 / 16}  # about, at a 10 pt font
NAMED_SPACE = re.compile(r"(negative)?(veryvery|very)?(thin|medium|thick)mathspace")
# Attributes kept only with lengths in a small range (in em): spaces, delimiter sizes, table spacing.
LENGTHS = {"width": (-1.0, 3.0), "minsize": (0.0, 3.0), "maxsize": (0.0, 3.0),
           "columnspacing": (0.0, 4.0), "rowspacing": (0.0, 4.0)}
# latex2mathml expands macro definitions; nested ones grow exponentially (a few hundred
# characters can take minutes and gigabytes). A formula that defines anything stays TeX.
DEFINES = re.compile(r"\\(?:[gex]?def|let|futurelet|(?:re)?newcommand|providecommand|(?:re)?newenvironment|"
                     r"DeclareMathOperator|newif|csname|expandafter)(?![A-Za-z])")
BARE_AMPERSAND = re.compile(r"&(?!#x[0-9A-Fa-f]+;|#[0-9]+;|[A-Za-z]+;)")  # latex2mathml leaves some raw
# TeX environments latex2mathml draws badly, and ones it draws well in their place.
ENVIRONMENTS = {"aligned": "align*", "gathered": "gather*"}
LONGEST = 2_000  # characters of TeX in one formula (the course's are under a fifth of it)
# Per notebook, what may be spent drawing formulas; the rest stays TeX. The course's own
# notebooks spend under a tenth of each (tests/pipeline/test_mathml.py checks both bounds).
BUDGET = {"tex": 50_000, "mathml": 1_000_000}
BUDGET_KEY = "mathml_budget"  # where a rendering's resources keep what is left of it


ALL_ATTRIBUTES = ATTRIBUTES | set(LENGTHS) | {"scriptlevel"}  # every attribute a drawn formula can hold


def _length_ok(name: str, value: str, tag: str) -> bool:
    """Is every length in ``value`` within the range ``LENGTHS`` allows ``name``?"""
    if name == "width" and tag != "mspace":
        return False
    low, high = LENGTHS[name]
    for token in value.split():
        if name == "width" and NAMED_SPACE.fullmatch(token):
            continue
        m = LENGTH.fullmatch(token)
        if m is None or not low <= float(m.group(1)) * EM[m.group(2)] <= high:
            return False
    return bool(value.split())


def _attributes(tag: str, attrib: dict) -> dict:
    out = {}
    for key, value in attrib.items():
        if not VALUE.fullmatch(value):
            continue
        if key in ATTRIBUTES or key in LENGTHS and _length_ok(key, value, tag):
            out[key] = value
        elif key == "scriptlevel" and value.lstrip("+") in ("-1", "0", "1", "2"):  # no giant or tiny type
            out[key] = value
    return out


def _rebuild(el: ET.Element) -> ET.Element | None:
    """A copy of ``el`` with only allowed elements and attributes (None if any element is not)."""
    name = el.tag.split("}", 1)[1] if el.tag.startswith("{") else el.tag
    if el.tag.startswith("{") and not el.tag.startswith("{" + MATHML_NS + "}") or name not in TAGS:
        return None
    out = ET.Element(name, _attributes(name, el.attrib))
    out.text = el.text
    for child in el:
        copy = _rebuild(child)
        if copy is None:
            return None
        copy.tail = child.tail
        out.append(copy)
    return out


def tex_to_mathml(tex: str, display: bool) -> str | None:
    """The MathML of ``tex`` (``display``: a block formula), or None when it cannot be drawn
    faithfully and safely (too long, not converted, or made of something off the allow-list)."""
    from latex2mathml.converter import convert

    if len(tex) > LONGEST or DEFINES.search(tex):
        return None
    for old, new in ENVIRONMENTS.items():
        tex = tex.replace(f"\\begin{{{old}}}", f"\\begin{{{new}}}").replace(f"\\end{{{old}}}", f"\\end{{{new}}}")
    try:
        # defusedxml: no DTD, no entity of its own (\text{} carries the student's characters through)
        root = SafeET.fromstring(BARE_AMPERSAND.sub("&amp;", convert(tex, display="block" if display else "inline")))
    except Exception:  # noqa: BLE001 -- latex2mathml raises many kinds on TeX it does not know
        return None
    clean = _rebuild(root)
    if clean is None or clean.tag != "math":
        return None
    if any(el.tag == "mi" and (el.text or "").startswith(("&", "\\")) for el in clean.iter()):
        return None  # an unknown command or a stray column separator: the TeX says more
    clean.set("display", "block" if display else "inline")
    return ET.tostring(clean, encoding="unicode", method="xml", short_empty_elements=False)


class MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, each formula replaced by a placeholder (see module doc)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.nonce = secrets.token_hex(8)
        self.formulas: list[tuple[str, bool]] = []  # (TeX as written, display?)

    def _hold(self, tex: str, display: bool) -> str:
        self.formulas.append((tex, display))
        return f"formula{self.nonce}n{len(self.formulas) - 1}e"

    def block_math(self, body: str) -> str:
        return self._hold(f"$${body}$$", True)

    def inline_math(self, body: str) -> str:
        return self._hold(f"${body}$", False)

    def latex_environment(self, name: str, body: str) -> str:
        return self._hold(f"\\begin{{{name}}}{body}\\end{{{name}}}", True)

    def placeholder(self) -> re.Pattern:
        return re.compile(f"formula{self.nonce}n([0-9]+)e")


def _strip_delimiters(tex: str) -> str:
    if tex.startswith("$$") and tex.endswith("$$") and len(tex) >= 4:
        return tex[2:-2]
    if tex.startswith("$") and tex.endswith("$") and len(tex) >= 2:
        return tex[1:-1]
    return tex


def place_formulas(cleaned: str, renderer: MathMLRenderer, budget: dict | None = None) -> str:
    """``cleaned`` (HTML without the formulas) with each placeholder in text replaced by its
    MathML, or by its TeX as text when it has none; in an attribute (a heading's anchor),
    by its TeX. ``budget``: what is left of ``BUDGET`` (characters of TeX converted, of
    MathML written), shared by the cells of one notebook and spent here: a notebook of
    megabytes of formulas would otherwise cost minutes of CPU and a page many times its size
    (latex2mathml writes about 10 characters of MathML for each character of "x+x+..."). Over
    it, formulas stay TeX."""
    if not renderer.formulas:
        return cleaned
    from bs4 import BeautifulSoup

    pattern = renderer.placeholder()
    tex = [t for t, _ in renderer.formulas]
    if re.search(f'="[^"]*{pattern.pattern}', cleaned):  # one in an attribute (nh3 quotes every value with ")
        soup = BeautifulSoup(cleaned, features="html.parser")  # parsed only then: a cell may be megabytes
        for tag in soup.find_all(True):
            for key, value in list(tag.attrs.items()):
                if isinstance(value, str) and pattern.search(value):
                    tag[key] = pattern.sub(lambda m: tex[int(m.group(1))], value)
        cleaned = str(soup)

    def formula(m: re.Match) -> str:
        text, display = renderer.formulas[int(m.group(1))]
        mathml = None
        if budget is None or budget["tex"] >= len(text):
            mathml = tex_to_mathml(_strip_delimiters(text) if text.startswith("$") else text, display)
            if budget is not None:
                budget["tex"] -= len(text)
                if mathml is not None and len(mathml) > budget["mathml"]:
                    mathml = None
                budget["mathml"] -= len(mathml or "")
        return mathml if mathml is not None else html.escape(text)

    # Every placeholder left is in text (those in attributes are TeX now), where markup may go.
    return pattern.sub(formula, cleaned)
