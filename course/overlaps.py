"""Stage `overlaps`: does what students read give away a graded answer?

``python -m course overlaps`` compares every point of every mark scheme and reference
answer (source notebooks) with every passage students read: the chapters (book/*.md), the
released notebooks (markdown, the questions themselves, and the comments, docstrings and
messages of code cells) and the docstrings of the helper package (package/dlcourse). It
lists the findings no reviewer accepted and the reviewed passages that no longer give a
finding, and exits 1 if there are any. ``--all`` also lists the accepted ones.

A **point** is a sentence of a mark-scheme bullet or of a reference answer, each of its
clauses (cut at ";", ":" and before ", so", ", which", ", and", ... outside parentheses
and maths) and each of those without its asides in parentheses; sentences that only say
how to grade ("No credit for ...") are left out. A **passage** is a paragraph (a heading
goes with the paragraph after it, a display equation with its sentence), or for a long
one (a table, a list) each pair of consecutive sentences or lines.

Two rules make a finding:

- **verbatim**: SHINGLE words in a row (outside inline maths) of a point stand in a passage;
- **concept**: a passage holds most of a point's content. Words are lower-cased, stop words
  dropped (an own list: nltk's corpus needs a download), stemmed with nltk's Snowball
  stemmer and mapped through a small table of spellings, phrases and course synonyms
  ("colour"/"color", "goes down"/"falls"/"decreases", "minus infinity"/"-\\infty");
  numbers are kept ("70 %" is "0.7", "(1, -1)" is one token). A stem weighs its inverse
  document frequency over all reader passages plus 0.5, so that words every chapter uses
  ("gradient", "model", "loss") count less than specific ones ("renormalise", "majority").
  A passage of a reader *related* to the question's assignment (its release notebook, the
  chapters that link to it, the helper modules it imports: what a student answering it
  reads first) gives a point away when it shares MIN_SHARED of the point's stems and holds,
  of the point's weight, a share and an amount of one of TIERS, or a quarter of it
  including a stem that at most ANCHOR_DF passages use. Any other reader must hold
  COVERAGE_UNRELATED of it.

The thresholds were tuned on the give-aways found by review in commit 69672e0 (issue 16):
each of them is a finding (tests/book/test_giveaways_are_found.py), while unrelated
teaching text is not. Findings that only teach are listed, with the reviewer's reason,
in course/reviewed_overlaps.toml.

Time is linear in the size of the texts: passages are indexed by stem, and a point only
visits the passages that share one of its stems.
"""
from __future__ import annotations

import argparse
import ast
import io
import math
import re
import sys
import tokenize
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import nbformat

from course import ROOT
from course.check import split_regions

SHINGLE = 8  # words in a row shared verbatim
MIN_STEMS = 5  # content stems a point needs before it is compared (fewer say too little)
MIN_SHARED = 3  # stems a passage must share with a point
# A passage of a reader related to the question (its notebook, the chapters that link to it,
# the helper modules it imports) gives a point away when it holds (share of the point's
# weight, weight held) of at least one of these: most of a short point, or less of a long one.
TIERS = ((0.45, 14.0), (0.40, 20.0), (0.55, 12.0))
ANCHOR_DF = 2  # ... or when it shares a stem that at most this many passages use
COVERAGE_ANCHORED = 0.25  # ... and this share of the point's weight
COVERAGE_UNRELATED = 0.7  # any other reader: a near copy
MIN_WEIGHT_UNRELATED = 20.0
REVIEWED = Path(__file__).with_name("reviewed_overlaps.toml")

STOPWORDS = frozenset("""
a an the and or but if then else of to in on at by for with from into onto over under as is
are was were be been being it its itself this that these those there their theirs they them
themselves he him his she her hers we us our ours you your yours i me my not no nor so than
too very can cannot could would should will shall may might must do does did doing done have
has had having which who whom whose what when where why how all any each every some such
only also just more most much many few one two three per via about after before again same
another both either neither own up down out off here while because whatever whichever
between through during without within against among until upon whether once ever never
always often still even yet instead rather almost quite really thus hence therefore however
become becomes became
since though although unless where whereas let lets like e g i ie eg etc vs
point points credit full half answer answers student students mark marks accepted accept
earns earn give gives given giving say says said see seen get gets got make makes made use
uses used using need needs needed way ways thing things something anything nothing
question questions notebook chapter section figure fig eq equation below above
frac mathrm operatorname text textbf mathbf mathbb left right big bigg cdot cdots ldots dots
begin end pmatrix bmatrix cases quad qquad tfrac dfrac hat tilde bar top lvert rvert
""".split())
SPELLING = {"color": "colour", "colors": "colours", "colored": "coloured", "gray": "grey",
            "grayscale": "greyscale", "infty": "infinity", "infinite": "infinity",
            "neighbor": "neighbour", "neighbors": "neighbours", "behavior": "behaviour",
            "other": "different", "others": "different", "larger": "large"}
_BRITISH = re.compile(r"^(\w{2,}(?:al|iz|im|gn|en|or|ar|om|er))is(e|ed|es|ing|ation|ations)$")
# Course synonyms: stems that name the same idea. Kept small and symmetric: each group maps
# to its first stem.
SYNONYM_GROUPS = [
    ("decreas", "fall", "fell", "shrink", "shrank", "drop", "declin", "diminish", "lower", "reduc"),
    ("increas", "grow", "grew", "growth", "rise", "rose", "amplifi", "enlarg"),
    ("infin", "inf"),
    ("renormal", "normalis", "normal"),  # after _BRITISH: normalise -> normalize -> normal
    ("invari", "ignor"),
    ("progress", "improv", "closer"),
]
SYNONYMS = {stem: group[0] for group in SYNONYM_GROUPS for stem in group}


@lru_cache(maxsize=None)
def _stem(word: str) -> str:
    """The course stem of a lower-case word: spelling variants unified, nltk's Snowball
    stemmer, then the synonym table."""
    word = SPELLING.get(word, word)
    word = _BRITISH.sub(lambda m: m.group(1) + "iz" + m.group(2), word)
    stem = _stemmer().stem(word)
    return SYNONYMS.get(stem, stem)


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import SnowballStemmer  # needs no downloaded data

    return SnowballStemmer("english")


_TUPLE = re.compile(r"\(\s*-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?)+\s*\)")
_NUMBER = re.compile(r"(?<![\w.])(-?)(\d+(?:\.\d+)?)\s*(%?)")
_TOKEN = re.compile(r"-?\d+(?:\.\d+)?|[a-z]+\d[a-z\d]*|[a-z]+")


def _number(match: re.Match) -> str:
    value = float(match.group(2)) / (100 if match.group(3) else 1)
    return f" {match.group(1)}{value:g} "


def _tuple(match: re.Match) -> str:
    """A vector of numbers, "(1, -1)", is one token: "vec1cm1"."""
    values = [f"{float(v):g}" for v in re.findall(r"-?\d+(?:\.\d+)?", match.group(0))]
    return " vec" + "c".join(v.replace("-", "m").replace(".", "p") for v in values) + " "


# Phrases that say one word's idea in several ("goes down" is "decreases").
PHRASES = [(re.compile(p), w) for p, w in [
    (r"\b(?:go|goes|going|went|gone)\s+down\b", " decreases "),
    (r"\b(?:go|goes|going|went|gone)\s+up\b", " increases "),
    (r"\bminus\s+infinity\b|-\s*\\infty\b", " infinity "),
    (r"\b(?:getting|get|gets)\s+closer\b", " progress "),
    (r"\bthe\s+same\s+(?:vector|point|output|image)\b", " collapse "),
    (r"\bat\s+(?:least|most)\b", " "),
]]


def _words(text: str) -> list[str]:
    """Lower-case words and numbers of ``text``, in order (percentages as fractions:
    "70 %" and "0.70" are both "0.7"; "\\sqrt" is "sqrt"; a vector of numbers is one
    token; PHRASES as their word)."""
    text = text.lower()
    for pattern, word in PHRASES:
        text = pattern.sub(word, text)
    text = _TUPLE.sub(_tuple, text.replace("\\", " "))
    text = _NUMBER.sub(_number, text)
    return _TOKEN.findall(text)


def _plain_words(text: str) -> list[str]:
    """The words of ``text`` outside inline maths, for the verbatim rule (a formula that two
    texts share is notation, not wording)."""
    return re.findall(r"[a-z]+", re.sub(r"\$[^$]*\$", " ", text.lower()))


def _content(words: list[str]) -> set[str]:
    """The content stems of a list of words: no stop words, no one- or two-letter words,
    no small integers (indices and counts every text has)."""
    out = set()
    for w in words:
        if w[0].isdigit() or w[0] == "-":
            if len(w) > 1:
                out.add(w)
        elif w.startswith("vec") and any(ch.isdigit() for ch in w):
            out.add(w)
        elif len(w) > 2 and w not in STOPWORDS:
            out.add(_stem(w))
    return out


def _sentences(text: str) -> list[str]:
    """Sentences and clauses: split after . ! ? ; : and at list markers (a linear-time
    splitter for any text; :func:`points` splits graded text more finely)."""
    text = re.sub(r"\s+", " ", text)
    return [s.strip() for s in re.split(r"(?<=[.!?;:])\s+|\s+-\s+|\s\(\d\)\s", text) if s.strip()]


# ------------------------------------------------------------------------------------
# What is graded, split into points
# ------------------------------------------------------------------------------------

def graded_texts(root: Path = ROOT) -> list[tuple[str, str]]:
    """(where, text) of every mark scheme and reference answer in the source notebooks.

    Questions worth no points (extra credit, entered by hand from the student's own run)
    are left out: their reference answer describes the provided reference run.
    """
    out = []
    for nb_path in sorted((Path(root) / "source").glob("*/*.ipynb")):
        nb = nbformat.read(str(nb_path), as_version=4)
        free = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("task") and not c.metadata["nbgrader"].get("points")}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id", "?")
            if gid in free or gid.removesuffix("_answer") in free:
                continue
            where = f"{nb_path.relative_to(root)} ({gid})"
            if cell.cell_type == "markdown" and meta.get("solution"):
                out.append((where, cell.source))
            elif meta.get("task"):
                out.append((where, "\n".join(split_regions(cell.source)[1])))
    return out


def question_of(graded: str) -> str:
    """The question a graded text belongs to: "source/a/a.ipynb (q_x_answer)" -> "a/q_x"."""
    m = re.match(r"source/([^/]+)/[^ ]+ \((.+)\)$", graded)
    return f"{m.group(1)}/{m.group(2).removesuffix('_answer')}" if m else graded


GRADING = re.compile(r"^\W*(?:\([a-z]\)\s*)?(?:\(?\d+ points?\)?\s*[:.]?\s*)?(?:no credit|credit|full credit|"
                     r"half credit|also accept|accept|any (?:other )?correct|deduct|answers must|vague|$)", re.I)
_PARENS = re.compile(r"\((?=[^()]*[A-Za-z]{3})[^()]*\)")  # an aside in words, not a vector
_CONNECTIVE = re.compile(r",\s+(?=(?:so|while|which|hence|because|whereas|since|but|and)\s)")


def _clauses(sentence: str) -> list[str]:
    """A sentence cut at ";" and ":" and before ", so", ", which", ", and", ... where they
    stand outside parentheses and maths."""
    out, start, depth, maths = [], 0, 0, False
    k = 0
    while k < len(sentence):
        ch = sentence[k]
        if ch == "$":
            maths = not maths
        elif not maths and ch in "([":
            depth += 1
        elif not maths and ch in ")]":
            depth = max(0, depth - 1)
        elif not maths and depth == 0:
            cut = None
            if ch in ";:" and sentence[k + 1:k + 2] in (" ", ""):
                cut = k + 1
            elif ch == ",":
                m = _CONNECTIVE.match(sentence, k)
                cut = k if m else None
            if cut is not None:
                out.append(sentence[start:cut].strip(" ,"))
                start = cut + (1 if ch == "," else 0)
        k += 1
    out.append(sentence[start:].strip(" ,"))
    return [c for c in out if c]


def points(text: str) -> list[tuple[str, str]]:
    """The points of a mark scheme or reference answer, as (sentence, variant) pairs.

    Each bullet, numbered item or paragraph is split into sentences; a sentence is compared
    as a whole, clause by clause (see :func:`_clauses`), and each of those without what it
    says in parentheses, so that a paragraph that gives away one clause of a long sentence
    is found. Sentences that only say how to grade ("No credit for ...", "Also accepted:")
    are left out."""
    items, current = [], []
    for line in text.splitlines():
        if re.match(r"\s*(?:[-*]|\d+\.|\([a-z]\))\s", line) or not line.strip():
            if current:
                items.append(" ".join(current))
            current = [] if not line.strip() else [line]
        else:
            current.append(line)
    if current:
        items.append(" ".join(current))
    out = []
    for item in items:
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z(*$])", re.sub(r"\s+", " ", item).strip()):
            if GRADING.match(sentence.lstrip("-* ")):
                continue
            variants = [sentence]
            clauses = _clauses(sentence)
            if len(clauses) > 1:
                variants += clauses
            variants += [_PARENS.sub(" ", v) for v in variants if _PARENS.search(v)]
            out.extend((sentence, v) for v in dict.fromkeys(variants))
    return out


# ------------------------------------------------------------------------------------
# What students read, split into paragraphs
# ------------------------------------------------------------------------------------

def markdown_paragraphs(text: str) -> list[str]:
    """Paragraphs of MyST markdown: blocks between blank lines; a heading goes with the block
    after it, a display equation with the blocks around it; directive options other than
    :alt: and code-fence lines are dropped."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```") or re.match(r":(?!alt:)[a-z-]+:", stripped) or re.match(r"\(.+\)=$", stripped):
            lines.append("")
            continue
        lines.append(line)
    blocks, current = [], []
    for line in lines + [""]:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    out: list[str] = []
    glue_next = False
    for block in blocks:
        first = block.lstrip()
        is_math = first.startswith("$$")
        if out and (glue_next or is_math):
            out[-1] += "\n" + block
        else:
            out.append(block)
        glue_next = first.startswith("#") or is_math
    return out


def code_paragraphs(source: str) -> list[str]:
    """What a reader of code reads: each run of comment lines, each docstring or string
    literal (split into paragraphs), in order. Code that does not tokenize (magics)
    gives its comment lines."""
    out, comments = [], []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return ["\n".join(m.group(1) for m in re.finditer(r"#(.*)", source))]
    strings = []
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            comments.append(tok.string.lstrip("#"))
            continue
        if tok.type not in (tokenize.NL, tokenize.NEWLINE) and comments:
            out.append(" ".join(comments))
            comments = []
        if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            strings.append(re.sub(r"^[a-zA-Z]*(\"\"\"|'''|\"|')|(\"\"\"|'''|\"|')$", "", tok.string))
    if comments:
        out.append(" ".join(comments))
    short = []  # the messages a cell prints, as one paragraph; docstrings by paragraph
    for s in strings:
        if "\n\n" in s:
            out.extend(markdown_paragraphs(s))
        elif " " in s.strip():  # a message, not a key or a file name
            short.append(s)
    out.append(" ".join(short))
    return [p for p in out if p.strip()]


def docstring_paragraphs(source: str) -> list[str]:
    """Paragraphs of the module, class and function docstrings of a Python file."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                out.extend(markdown_paragraphs(doc))
    return out


def reader_texts(root: Path = ROOT) -> list[tuple[str, list[str]]]:
    """(where, paragraphs) of what students read: the chapters, the released notebooks
    (every cell, the questions included) and the helper package's docstrings."""
    root = Path(root)
    out = [(str(p.relative_to(root)), markdown_paragraphs(p.read_text()))
           for p in sorted((root / "book").glob("*.md"))]
    for nb_path in sorted((root / "assignments").glob("*/*.ipynb")):
        nb = nbformat.read(str(nb_path), as_version=4)
        paragraphs = []
        for cell in nb.cells:
            if cell.cell_type == "code":
                paragraphs += code_paragraphs(cell.source)
            else:
                paragraphs += markdown_paragraphs(cell.source)
        out.append((str(nb_path.relative_to(root)), paragraphs))
    for py in sorted((root / "package" / "dlcourse").rglob("*.py")):
        out.append((str(py.relative_to(root)), docstring_paragraphs(py.read_text())))
    return out


# ------------------------------------------------------------------------------------
# The comparison
# ------------------------------------------------------------------------------------

LONG = 60  # words: a longer paragraph is compared as windows of two sentences


def units(paragraphs: list[str]) -> list[tuple[str, str]]:
    """The passages a point is compared with, as (paragraph, passage): each paragraph, or
    for a long one (a table, a list, a docstring's parameter list) each pair of consecutive
    sentences or lines."""
    out = []
    for text in paragraphs:
        if len(text.split()) <= LONG:
            out.append((text, text))
            continue
        pieces = [p for p in re.split(r"(?<=[.!?;])\s+|\n(?=\s*(?:[-*|]|\d+\.)\s)", text) if p.strip()]
        out.extend((text, " ".join(pieces[k:k + 2])) for k in range(max(1, len(pieces) - 1)))
    return out


def related_readers(root: Path = ROOT) -> dict[str, set[str]]:
    """For each assignment, what a student answering its questions reads first: its release
    notebook, the chapters that link to it, and the helper modules the notebook imports."""
    root = Path(root)
    chapters = {p: p.read_text() for p in sorted((root / "book").glob("*.md"))}
    out: dict[str, set[str]] = {}
    for nb_path in sorted((root / "assignments").glob("*/*.ipynb")):
        name = nb_path.parent.name
        mine = out.setdefault(name, set())
        mine.add(str(nb_path.relative_to(root)))
        mine.update(str(p.relative_to(root)) for p, text in chapters.items() if f"assignments/{name}/" in text)
        for module in set(re.findall(r"\bdlcourse(?:\.\w+)+", nb_path.read_text())):
            parts = module.split(".")
            for k in range(2, len(parts) + 1):
                py = root / "package" / Path(*parts[:k]).with_suffix(".py")
                if py.exists():
                    mine.add(str(py.relative_to(root)))
    return out


class Index:
    """Reader passages indexed by content stem, with each stem's weight: its inverse
    document frequency over the course's reader passages (plus any planted ones)."""

    def __init__(self, readers: list[tuple[str, list[str]]], corpus: list[tuple[str, list[str]]] = ()):
        self.passages: list[tuple[str, str, str, set[str]]] = []  # (reader, paragraph, passage, stems)
        self.postings: dict[str, list[int]] = defaultdict(list)
        for where, paragraphs in readers:
            for paragraph, text in units(paragraphs):
                content = _content(_words(text))
                if content:
                    for stem in content:
                        self.postings[stem].append(len(self.passages))
                    self.passages.append((where, paragraph, text, content))
        self.df: dict[str, int] = defaultdict(int)
        self.n = 0
        contents = [_content(_words(t)) for _, ps in corpus for _, t in units(ps)] + [p[3] for p in self.passages]
        for content in contents:
            if content:
                self.n += 1
                for stem in content:
                    self.df[stem] += 1
        self.shingles: dict[tuple, tuple[str, str]] = {}
        for where, paragraphs in readers:
            for paragraph in paragraphs:
                words = _plain_words(paragraph)
                for k in range(len(words) - SHINGLE + 1):
                    self.shingles.setdefault(tuple(words[k:k + SHINGLE]), (where, paragraph))

    def weight(self, stem: str) -> float:
        return math.log((self.n + 1) / (self.df.get(stem, 0) + 1)) + 0.5

    def held(self, content: set[str]) -> dict[int, tuple[float, int]]:
        """For each passage sharing a stem with ``content``: (weight held, stems held)."""
        held: dict[int, list] = defaultdict(lambda: [0.0, 0])
        for stem in content:
            w = self.weight(stem)
            for k in self.postings.get(stem, ()):
                held[k][0] += w
                held[k][1] += 1
        return {k: (h, n) for k, (h, n) in held.items()}


_CORPUS: dict[str, list] = {}


def _corpus(root: Path) -> list[tuple[str, list[str]]]:
    key = str(Path(root).resolve())
    if key not in _CORPUS:
        _CORPUS[key] = reader_texts(root)
    return _CORPUS[key]


def paraphrases(root: Path = ROOT, readers: list[tuple[str, list[str] | str]] | None = None,
                graded: list[tuple[str, str]] | None = None) -> list[dict]:
    """Passages students read that give away a point of a mark scheme or reference answer.

    ``readers`` (default: :func:`reader_texts`) are (where, paragraphs) or (where, markdown
    text); ``graded`` (default: :func:`graded_texts`) are (where, text). Stem weights come
    from the course's own reader passages plus ``readers``, so that a planted text is weighed
    as it would be in the book. A passage shares SHINGLE plain words in a row with a point
    (any reader), or MIN_SHARED of its stems and, for a reader related to the question's
    assignment (:func:`related_readers`), a (share, weight) of the point's weight of one of
    TIERS or COVERAGE_ANCHORED of it with a stem at most ANCHOR_DF passages use; for any
    other reader COVERAGE_UNRELATED and MIN_WEIGHT_UNRELATED. Points with fewer than
    MIN_STEMS content stems are not compared.
    Returns one {"reader", "graded", "question", "sentence", "passage", "shared", "rule",
    "coverage"} per (reader paragraph, question): the point it holds best.
    """
    corpus = _corpus(root)
    if readers is None:
        readers, extra = corpus, []
    else:
        readers = [(w, markdown_paragraphs(t) if isinstance(t, str) else list(t)) for w, t in readers]
        extra = corpus
    index = Index(readers, corpus=extra)
    related = related_readers(root)
    graded = graded_texts(root) if graded is None else graded
    best: dict[tuple, dict] = {}

    def keep(key, finding):
        if key not in best or finding["coverage"] > best[key]["coverage"]:
            best[key] = finding

    for where_graded, text in graded:
        question = question_of(where_graded)
        near = related.get(question.split("/")[0], set())
        for sentence, variant in points(text):
            plain = _plain_words(variant)
            for k in range(len(plain) - SHINGLE + 1):
                hit = index.shingles.get(tuple(plain[k:k + SHINGLE]))
                if hit is not None:
                    keep((hit[0], question, hit[1]),
                         {"reader": hit[0], "graded": where_graded, "question": question, "sentence": sentence,
                          "passage": hit[1], "shared": " ".join(plain[k:k + SHINGLE]), "rule": "verbatim",
                          "coverage": 1.0})
                    break
            content = _content(_words(variant))
            if len(content) < MIN_STEMS:
                continue
            total = sum(index.weight(s) for s in content)
            for k, (held, n) in index.held(content).items():
                reader, paragraph, passage, stems = index.passages[k]
                cov = held / total
                if n < MIN_SHARED:
                    continue
                if reader in near:
                    found = any(cov >= c and held >= w for c, w in TIERS) or (
                        cov >= COVERAGE_ANCHORED and min(index.df.get(s, 0) for s in content & stems) <= ANCHOR_DF)
                else:
                    found = cov >= COVERAGE_UNRELATED and held >= MIN_WEIGHT_UNRELATED
                if found:
                    keep((reader, question, paragraph),
                         {"reader": reader, "graded": where_graded, "question": question, "sentence": sentence,
                          "passage": paragraph, "shared": " ".join(sorted(content & stems)), "rule": "concept",
                          "coverage": round(cov, 2)})
    return list(best.values())


# ------------------------------------------------------------------------------------
# Reviewed exceptions
# ------------------------------------------------------------------------------------

def reviewed_overlaps(path: Path | None = None) -> list[dict]:
    """Overlaps a reviewer judged to teach without answering (course/reviewed_overlaps.toml).

    Each entry names a ``reader`` (a file), a ``question`` ("assignment/grade_id"), the
    ``passages`` it covers (snippets: a finding's passage must contain one, compared without
    case, punctuation or markup) and a ``reason``."""
    import tomllib

    with open(path or REVIEWED, "rb") as f:
        return tomllib.load(f).get("overlap", [])


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _covers(entry: dict, snippet: str, finding: dict) -> bool:
    return (finding["reader"] == entry["reader"] and finding["question"] == entry["question"]
            and _key(snippet) in _key(finding["passage"]))


def answer_overlaps(root: Path = ROOT, found: list[dict] | None = None,
                    reviewed: list[dict] | None = None) -> tuple[list[dict], list[tuple[dict, str]]]:
    """(findings nobody reviewed, (entry, passage snippet) of reviewed passages that no
    longer give a finding)."""
    found = paraphrases(root) if found is None else found
    reviewed = reviewed_overlaps() if reviewed is None else reviewed
    pairs = [(e, snippet) for e in reviewed for snippet in e.get("passages", [])]
    new = [f for f in found if not any(_covers(e, snippet, f) for e, snippet in pairs)]
    stale = [(e, snippet) for e, snippet in pairs if not any(_covers(e, snippet, f) for f in found)]
    return new, stale


def describe(finding: dict) -> str:
    return (f"{finding['reader']} ~ {finding['question']} [{finding['rule']} {finding['coverage']:.2f}: "
            f"{finding['shared']}]\n    point:   {finding['sentence'][:200]!r}\n"
            f"    passage: {' '.join(finding['passage'].split())[:200]!r}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course overlaps",
                                     description="graded answers (mark schemes, reference answers) in what students read")
    parser.add_argument("--all", action="store_true", help="also list the reviewed findings")
    args = parser.parse_args(argv)
    found = paraphrases(ROOT)
    new, stale = answer_overlaps(ROOT, found)
    if args.all:
        for f in found:
            if f not in new:
                print("reviewed: " + describe(f))
    for f in new:
        print("NOT REVIEWED: " + describe(f))
    for e, snippet in stale:
        print(f"STALE (remove from {REVIEWED.name}): {e['reader']} ~ {e['question']}: {snippet!r}")
    print(f"[overlaps] {len(found)} finding(s) in {len({(f['reader'], f['question']) for f in found})} "
          f"(reader, question) pairs; {len(new)} not reviewed, {len(stale)} stale reviewed passage(s)")
    return 1 if new or stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
