"""What a student wrote, made inert wherever a person views it (formgrader and feedback).

nbgrader renders autograded notebooks to HTML twice: the formgrader's submission page
(``HTMLExporter`` with nbgrader's ``formgrade`` template, served on the Jupyter server's
origin, where a script could call the server's API as the instructor) and the feedback
pages (``nbgrader generate_feedback``: the ``feedback`` template). nbconvert's own
``HTMLExporter.sanitize_html`` does not help there: nbgrader's two templates render
markdown cells without it, and where it applies (outputs) it escapes ``<p>``, headings,
images and table sections into visible text. So the course sanitises itself, with nh3
(ammonia, an allow-list HTML sanitiser), in three places, all wired in nbgrader_config.py
through ``HTMLExporter`` configuration, which both renderings read:

- ``SafeMarkdown`` (the ``markdown2html`` filter): markdown cells, ``text/markdown``
  outputs and grader comments are rendered by nbconvert as before, then the HTML is
  cleaned. Kept: formatting, headings, lists, tables, code blocks, links to http(s),
  mailto and ``#anchors``, images (``data:image/...`` and files of the submission; not
  http(s), which would tell the student who looked and when), formulas as MathML
  (``autograder.mathml``: an allow-list of presentation elements, put in after the
  cleaning; a formula it cannot draw safely stays ``$...$`` text).
  Dropped: scripts, styles, event-handler and style attributes, ``javascript:``/``data:``
  links, links to relative paths (in the formgrader they would open a file the student
  submitted, on the server's origin), iframes, objects, forms, meta, inline SVG and
  MathML the student wrote as HTML; ids are prefixed (``user-content-``), so no DOM clobbering.
- ``SanitizeSubmission`` (an ``HTMLExporter`` preprocessor): outputs are reduced to
  plain text, PNG/JPEG, LaTeX, cleaned ``text/html``, ``text/markdown`` (cleaned by the
  filter) and SVG with only drawing elements (scripts, ``foreignObject``, links,
  animation and event handlers removed; nbconvert shows it as an ``<img>``). JavaScript,
  widgets, Mermaid and every other type are dropped; image sizes must be numbers;
  execution counts integers; cell metadata keeps ``nbgrader`` (grade ids escaped) and
  ``tags``; notebook metadata keeps the kernel and language names; raw cells are cleaned;
  the student's name and ids in the formgrader's page resources are escaped.
- ``FeedbackExporter`` (``GenerateFeedback.exporter_class``): feedback HTML carries a
  Content-Security-Policy that forbids scripts, frames, forms and any request but
  ``data:`` images, and no ``<script>`` element at all (MathJax included: formulas are
  MathML, which needs none). ``course.feedback`` then gives the same to any HTML file
  under feedback/ that lacks it (a student's own ``.html``, which nbgrader copies back with
  the feedback).

``autograder.formgrader_guard`` covers the formgrader's other pages and the files it serves.
"""
from __future__ import annotations

import base64
import binascii
import html
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import nh3
from bs4 import BeautifulSoup
from defusedxml import ElementTree as SafeET
from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Unicode
from traitlets.config import LoggingConfigurable

from autograder.mathml import BUDGET, BUDGET_KEY, MathMLRenderer, place_formulas

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'; "
       "object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'")
ID_PREFIX = "user-content-"

# -- HTML ---------------------------------------------------------------------------------
TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del",
    "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span",
    "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "tt", "u", "ul", "var", "wbr",
}
# Removed with everything inside them (other unknown tags lose the tag, keep the text).
DROP_WITH_CONTENT = {
    "script", "style", "template", "noscript", "iframe", "frame", "frameset", "noframes", "object",
    "embed", "applet", "svg", "math", "textarea", "select", "title", "xmp", "noembed", "head",
}
_HEADING_ATTRS = {"id", "class"}
ATTRIBUTES = {
    "*": {"class", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
    **{f"h{n}": _HEADING_ATTRS for n in range(1, 7)},
}
# Classes kept: nbconvert's anchor links and code highlighting (pygments' short token
# names), pandas' table class. Page layout classes (bootstrap's) would let a student's
# answer cover the grading form.
CLASS_WORDS = {"anchor-link", "highlight", "hll", "dataframe"}
PYGMENTS_CLASS = re.compile(r"^[a-z]{1,3}[0-9]?$")
IMAGE_DATA = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*$", re.I)
LOCAL_FILE = re.compile(r"^(?![./])[\w.\-]+(/[\w.\-]+)*$")
NUMBER = re.compile(r"^\d{1,5}%?$")


def _attribute_filter(tag: str, attr: str, value: str):
    if attr == "class":
        kept = [w for w in value.split() if w in CLASS_WORDS or PYGMENTS_CLASS.match(w)]
        return " ".join(kept) or None
    if attr in ("width", "height"):
        return value if NUMBER.match(value.strip()) else None
    if attr == "href":
        value = value.strip()
        if value.startswith("#"):
            rest = value[1:]
            return "#" + (rest if rest.startswith(ID_PREFIX) else ID_PREFIX + rest)
        return value if urlsplit(value).scheme.lower() in ("http", "https", "mailto") else None
    if attr == "src":
        value = value.strip()
        scheme = urlsplit(value).scheme.lower()
        if IMAGE_DATA.match(value):
            return value  # no http(s) images: a page that fetches tells the student who looked, and when
        if not scheme and LOCAL_FILE.match(value) and ".." not in value.split("/"):
            return value  # a file the student submitted beside the notebook; an image cannot run
        return None
    return value


_CLEANER = nh3.Cleaner(
    tags=TAGS,
    clean_content_tags=DROP_WITH_CONTENT,
    attributes=ATTRIBUTES,
    attribute_filter=_attribute_filter,
    url_schemes={"http", "https", "mailto", "data"},
    link_rel="noopener noreferrer nofollow",
    id_prefix=ID_PREFIX,
    strip_comments=True,
)


def clean_html(fragment) -> str:
    """``fragment`` with only the allowed tags, attributes and URLs (see module doc)."""
    if isinstance(fragment, bytes):
        fragment = fragment.decode("utf-8", "replace")
    if isinstance(fragment, list):  # nbformat multiline strings
        fragment = "".join(str(x) for x in fragment)
    return _CLEANER.clean(str(fragment))


class SafeMarkdown(LoggingConfigurable):
    """The ``markdown2html`` filter: nbconvert's rendering, then ``clean_html``.

    Registered through ``HTMLExporter.filters``; nbconvert makes it with the exporter as
    its parent, whose own ``markdown2html`` (attachments, anchor links) does the rendering.
    """

    def __call__(self, context, source):
        exporter = self.parent if isinstance(self.parent, HTMLExporter) else HTMLExporter()
        source = _text(source)
        try:
            renderer = MathMLRenderer(  # what HTMLExporter.markdown2html makes, formulas held apart
                escape=False, attachments=context.get("cell", {}).get("attachments", {}),
                embed_images=exporter.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=exporter.anchor_link_text, exclude_anchor_links=exporter.exclude_anchor_links,
                **exporter.lexer_options)
            rendered = MarkdownWithMath(renderer=renderer).render(source)
        except Exception as exc:  # e.g. a missing attachment: show the text, not a broken page
            self.log.warning("markdown shown as text: %s: %s", type(exc).__name__, exc)
            return f"<pre>{html.escape(source)}</pre>"
        resources = context.get("resources")
        budget = resources.setdefault(BUDGET_KEY, dict(BUDGET)) if isinstance(resources, dict) else dict(BUDGET)
        return place_formulas(clean_html(rendered), renderer, budget)


SafeMarkdown.jinja_pass_arg = pass_context(lambda: None).jinja_pass_arg  # jinja passes the context


# -- SVG ------------------------------------------------------------------------------------
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
SVG_TAGS = {
    "svg", "g", "defs", "title", "desc", "metadata", "path", "rect", "circle", "ellipse", "line",
    "polyline", "polygon", "text", "tspan", "textPath", "use", "symbol", "clipPath", "mask", "marker",
    "pattern", "linearGradient", "radialGradient", "stop", "image", "style", "filter",
    "feGaussianBlur", "feOffset", "feBlend", "feFlood", "feComposite", "feMerge", "feMergeNode",
    "feColorMatrix",
}
SVG_ATTRS = {
    "id", "class", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "d", "points", "width",
    "height", "viewBox", "preserveAspectRatio", "transform", "fill", "fill-opacity", "fill-rule",
    "stroke", "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin",
    "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit", "opacity", "clip-path", "clip-rule",
    "mask", "marker-start", "marker-mid", "marker-end", "font-family", "font-size", "font-weight",
    "font-style", "text-anchor", "dominant-baseline", "alignment-baseline", "dx", "dy", "rotate",
    "offset", "stop-color", "stop-opacity", "gradientUnits", "gradientTransform", "patternUnits",
    "patternTransform", "markerWidth", "markerHeight", "refX", "refY", "orient", "markerUnits",
    "clipPathUnits", "maskUnits", "version", "style", "color", "visibility", "display", "stdDeviation",
    "in", "in2", "result", "mode", "operator", "values", "type", "filterUnits", "space", "lang",
    "textLength", "lengthAdjust", "startOffset", "href",
}
CSS_URL = re.compile(r"url\(\s*['\"]?\s*(?!#)", re.I)
CSS_BAD = re.compile(r"@import|expression\s*\(|javascript:|behavio(u)?r\s*:|-moz-binding", re.I)


def _local(name: str) -> tuple[str, str]:
    if name.startswith("{"):
        ns, _, local = name[1:].partition("}")
        return ns, local
    return "", name


def _safe_css(text: str) -> bool:
    return not CSS_URL.search(text) and not CSS_BAD.search(text)


def clean_svg(svg) -> str | None:
    """An SVG document with only drawing elements and attributes; None if it cannot be read."""
    if isinstance(svg, list):
        svg = "".join(svg)
    text = str(svg)
    if "<!ENTITY" in text.upper():
        return None
    try:
        root = SafeET.fromstring(text.encode("utf-8"), forbid_dtd=False, forbid_entities=True,
                                 forbid_external=True)
    except Exception:
        return None
    ns, local = _local(root.tag)
    if local != "svg" or ns not in ("", SVG_NS):
        return None

    def walk(el) -> None:
        for child in list(el):
            cns, clocal = _local(child.tag) if isinstance(child.tag, str) else ("", "")
            if cns not in ("", SVG_NS) or clocal not in SVG_TAGS:
                el.remove(child)  # script, foreignObject, a, animate, set, iframe, unknown
                continue
            if clocal == "style" and not _safe_css(child.text or ""):
                el.remove(child)
                continue
            walk(child)
        for name in list(el.attrib):
            ans, alocal = _local(name)
            value = el.attrib[name]
            keep = ans in ("", XLINK_NS) and alocal in SVG_ATTRS and (ans == "" or alocal == "href")
            if keep and alocal == "href":
                keep = value.strip().startswith("#") or (_local(el.tag)[1] == "image"
                                                         and bool(IMAGE_DATA.match(value.strip())))
            if keep and alocal == "style":
                keep = _safe_css(value)
            if keep and CSS_URL.search(value) and alocal != "style":
                keep = False  # url(...) pointing anywhere but inside the document
            if not keep:
                del el.attrib[name]

    walk(root)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    return ET.tostring(root, encoding="unicode")


# -- notebook ---------------------------------------------------------------------------------
KEEP_OUTPUT = {"text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg",
               "image/svg+xml"}
IMAGE_META = {"width", "height", "unconfined", "alt"}
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
NBGRADER_TEXT = {"grade_id", "cell_type", "checksum", "comment"}
RESOURCE_TEXT = ("student", "first_name", "last_name", "notebook_id", "assignment_id", "submission_id",
                 "notebook_path")


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else str(value)


def _escape(value: str) -> str:
    """HTML-escaped, once however often it is applied (nbgrader's templates print these raw)."""
    return value if SAFE_ID.match(value) else html.escape(html.unescape(value), quote=True)


def _int_or_none(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dimension(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and NUMBER.match(value.strip()):
        return value.strip()
    return None


class SanitizeSubmission(Preprocessor):
    """Make a notebook safe to render (see module doc); meant for autograded submissions."""

    enabled = Bool(True)
    dropped_note = Unicode("[{kinds} output removed: not shown in grading views]",
                           help="text left where an output had nothing safe to show").tag(config=True)

    def preprocess(self, nb, resources):
        meta = nb.get("metadata", {})
        kept = NotebookNode()
        for key in ("kernelspec", "language_info"):
            if isinstance(meta.get(key), dict):
                kept[key] = NotebookNode({k: v for k, v in meta[key].items()
                                          if k in ("name", "display_name", "language", "version",
                                                   "pygments_lexer", "file_extension", "mimetype")
                                          and isinstance(v, str)})
        nb.metadata = kept
        self._escape_resources(resources)
        return super().preprocess(nb, resources)

    @staticmethod
    def _escape_resources(resources) -> None:
        """The formgrader puts the student's id and name, and ids, into its page unescaped."""
        if not resources:
            return
        for key in RESOURCE_TEXT:
            value = resources.get(key)
            if isinstance(value, str):
                resources[key] = _escape(value)

    def preprocess_cell(self, cell, resources, index):
        cell.metadata = self._cell_metadata(cell.get("metadata", {}))
        if "attachments" in cell:
            cell.attachments = self._attachments(cell.attachments)
        cell.source = _text(cell.get("source", ""))
        if cell.cell_type == "raw":
            cell.source = clean_html(cell.source)
        if cell.cell_type == "code":
            cell.execution_count = _int_or_none(cell.get("execution_count"))
            cell.outputs = [o for o in (self._output(o) for o in cell.get("outputs", [])) if o is not None]
        return cell, resources

    @staticmethod
    def _cell_metadata(meta) -> NotebookNode:
        kept = NotebookNode()
        if isinstance(meta.get("tags"), list):
            kept.tags = [str(t) for t in meta["tags"]]
        grading = meta.get("nbgrader")
        if isinstance(grading, dict):
            safe = NotebookNode()
            for key, value in grading.items():
                if key in NBGRADER_TEXT:
                    value = _text(value)
                    if key == "grade_id":
                        value = _escape(value)
                elif isinstance(value, (bool, int, float)) or value is None:
                    pass
                else:
                    continue
                safe[key] = value
            kept.nbgrader = safe
        return kept

    @staticmethod
    def _attachments(attachments) -> NotebookNode:
        kept = NotebookNode()
        if not isinstance(attachments, dict):
            return kept
        for name, bundle in attachments.items():
            if not isinstance(bundle, dict):
                continue
            images = NotebookNode()
            for mime in ("image/png", "image/jpeg", "image/gif"):
                data = bundle.get(mime)
                if isinstance(data, str) and BASE64.match(data):
                    images[mime] = data
            svg = bundle.get("image/svg+xml")
            if isinstance(svg, str):  # attachments are base64, SVG included
                try:
                    svg = clean_svg(base64.b64decode(svg, validate=False).decode("utf-8"))
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    svg = None
                if svg:
                    images["image/svg+xml"] = base64.b64encode(svg.encode()).decode()
            if images:
                kept[str(name)] = images
        return kept

    def _output(self, out):
        kind = out.get("output_type")
        if kind == "stream":
            return NotebookNode(output_type="stream", name="stderr" if out.get("name") == "stderr" else "stdout",
                                text=_text(out.get("text", "")))
        if kind == "error":
            tb = out.get("traceback", [])
            return NotebookNode(output_type="error", ename=_text(out.get("ename", "")),
                                evalue=_text(out.get("evalue", "")),
                                traceback=[_text(t) for t in tb] if isinstance(tb, list) else [_text(tb)])
        if kind not in ("display_data", "execute_result"):
            return None
        data = out.get("data", {}) if isinstance(out.get("data"), dict) else {}
        safe = NotebookNode()
        for mime, value in data.items():
            if mime not in KEEP_OUTPUT:
                continue
            if mime in ("image/png", "image/jpeg"):
                value = _text(value)
                if not BASE64.match(value):
                    continue
            elif mime == "image/svg+xml":
                value = clean_svg(value)
                if value is None:
                    continue
            elif mime == "text/html":
                value = clean_html(value)
            else:  # text/plain, text/latex (escaped by nbconvert), text/markdown (cleaned by SafeMarkdown)
                value = _text(value)
            safe[mime] = value
        dropped = sorted(set(data) - set(safe))
        if dropped and not (set(safe) - {"text/plain"}):
            # nothing richer left: say what was removed (the text/plain repr may be the payload's)
            note = self.dropped_note.format(kinds=", ".join(dropped))
            safe["text/plain"] = (safe.get("text/plain", "") + "\n" if safe.get("text/plain") else "") + note
        new = NotebookNode(output_type=kind, data=safe, metadata=self._output_metadata(out.get("metadata", {})))
        if kind == "execute_result":
            new.execution_count = _int_or_none(out.get("execution_count"))
        return new

    @staticmethod
    def _output_metadata(meta) -> NotebookNode:
        kept = NotebookNode()
        if not isinstance(meta, dict):
            return kept
        for mime in ("image/png", "image/jpeg", "image/svg+xml"):
            sub = meta.get(mime)
            if not isinstance(sub, dict):
                continue
            node = NotebookNode()
            for key in IMAGE_META & set(sub):
                value = sub[key]
                if key in ("width", "height"):
                    value = _dimension(value)
                elif key == "unconfined":
                    value = bool(value)
                else:
                    value = _text(value)
                if value is not None:
                    node[key] = value
            kept[mime] = node
        return kept


# -- feedback pages ------------------------------------------------------------------------------
class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback rendering, then: no ``<script>`` left, a CSP that forbids scripts.

    Set as ``GenerateFeedback.exporter_class``; everything configured for ``HTMLExporter``
    (nbgrader's feedback template, the sanitising preprocessor and filter) applies to it.
    """

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        return lock_down(output), resources


def lock_down(page: str) -> str:
    """``page`` without script elements, with the feedback CSP right after its charset."""
    soup = BeautifulSoup(page, features="html.parser")
    for el in soup.find_all(["script", "base", "iframe", "object", "embed"]):
        el.decompose()
    for el in soup.find_all("meta", attrs={"http-equiv": True}):
        el.decompose()
    if soup.head is None:
        (soup.html or soup).insert(0, soup.new_tag("head"))
    charset = soup.head.find("meta", attrs={"charset": True}, recursive=False)
    if charset is not None:
        charset.extract()
    else:
        charset = soup.new_tag("meta", attrs={"charset": "utf-8"})
    policy = soup.new_tag("meta", attrs={"http-equiv": "Content-Security-Policy", "content": CSP})
    referrer = soup.new_tag("meta", attrs={"name": "referrer", "content": "no-referrer"})
    for el in reversed((charset, policy, referrer)):
        soup.head.insert(0, el)
    return str(soup)


def page_problems(page: str) -> list[str]:
    """Why a feedback page is not locked down (empty: it is)."""
    problems = []
    soup = BeautifulSoup(page, features="html.parser")
    first = [el for el in (soup.head.find_all(recursive=False) if soup.head else [])
             if not (el.name == "meta" and el.has_attr("charset"))][:1]
    if not first or first[0].name != "meta" or first[0].get("http-equiv", "").lower() != \
            "content-security-policy" or first[0].get("content") != CSP:
        problems.append("no Content-Security-Policy meta first in <head>")
    if soup.find("script") is not None or re.search(r"<script\b", page, re.I):
        problems.append("a <script> element")
    return problems
