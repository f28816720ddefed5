"""A submission's scripts never run where a person looks at it: feedback pages and the formgrader.

The demo course (tests/pipeline/demo_course.py) gets two extra submissions. ``a_scripts`` is
the reference solution (6 points) plus script payloads: in markdown (its written answer and
an added cell: raw ``<script>``, ``<img onerror>``, ``<svg onload>``, ``javascript:`` links,
``<iframe srcdoc>``, an alt text that breaks out of its attribute, a meta refresh, an
``@import``, an ``<object>``, a ``<noscript>`` parser trick), in outputs its code makes when
graded (``text/html``, ``image/svg+xml`` with a script, ``text/markdown`` with HTML,
``application/javascript``, an isolated ``text/html``, a PNG whose width metadata is an
``onload`` attribute, an error message and a printout of HTML), a crafted cell id, cell tags,
nbgrader metadata and attachments. The second student's id (its folder name) is itself an
HTML payload. Each payload, if it ran, would append to ``window.__pwned``, change
``document.title`` or fetch a URL of a loopback server the test watches.

They are graded by ``python -m course autograde demo`` and get feedback by
``course.feedback.feedback``. Then headless Chromium opens every feedback page (as a file,
as students do, and once more without its Content-Security-Policy, so the sanitiser alone is
tested) and the formgrader's page of each submission, served by a Jupyter server with the
nbgrader formgrader extension on 127.0.0.1. No payload may run, and the honest parts (the
student's text, the verdicts, the formgrader's own scores) must be there. A control renders
the same graded notebook with plain nbconvert and shows that the payloads do run there, so
the watch would see them.

Chromium is Debian's package; on CI (``CI`` set) a missing browser fails, elsewhere it skips.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest

from autograder.sanitize import CSP, page_problems
from course.feedback import feedback, grades

from .demo_course import sampled_demo_course
from .formgrader import formgrader_server
from .test_demo_grading import index

pytestmark = pytest.mark.e2e  # an end-to-end run: ./course.sh test-e2e

STUDENT = "a_scripts"
# A folder name that is HTML: no "/" (not allowed in a name) and no glob characters.
EVIL_STUDENT = "a_name\"><img src=x onerror=window.__pwned_student_id=1>"
PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
HONEST_ANSWER = "Subtracting the maximum keeps exp from overflowing"
HONEST_MARKDOWN = "Legitimate words of the student"


class Watch:
    """A loopback HTTP server that records every path requested from it."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def js(tag: str, port: int, win: str = "window") -> str:
    """What a payload does if it runs in ``win`` (no quotes but ' and no spaces: it goes into attributes)."""
    return (f"{win}.__pwned=({win}.__pwned||[]).concat(['{tag}']);{win}.document.title='PWNED-{tag}';"
            f"fetch('http://127.0.0.1:{port}/{tag}')")  # no comma: cell tags may not have one


def markdown_payloads(port: int) -> str:
    return f"""**{HONEST_MARKDOWN}**, with math $x^2 < y$ and a table:

| a | b |
| - | - |
| 1 | 2 |

<script>{js('md_script', port)}</script>

<img src=x onerror="{js('md_img', port)}"> <img src=y onerror="alert('md_alert')">

<svg onload="{js('md_svg', port)}"><circle r="3"/></svg>

<a href="javascript:{js('md_jslink', port)}">jslink-html</a> and [jslink-markdown](javascript:{js('md_mdlink', port)})

<iframe srcdoc="<script>{js('md_iframe', port, 'parent')}</script>"></iframe>

![x" onerror="{js('md_attr', port)}](missing.png)

<noscript><p title="</noscript><img src=x onerror={js('md_noscript', port)}>"></p></noscript>

<meta http-equiv="refresh" content="1;url=http://127.0.0.1:{port}/md_refresh">

<style>@import url(http://127.0.0.1:{port}/md_css);</style>

<object data="http://127.0.0.1:{port}/md_object"></object>

<img src="http://127.0.0.1:{port}/md_pixel">

![diagram](attachment:diagram.png)

Formulas that carry markup: $\\text{{<img src=x onerror={js('md_math_text', port)}>}}$ and
$\\href{{javascript:{js('md_math_href', port)}}}{{jslink-math}}$ and $\\style{{background:url(http://127.0.0.1:{port}/md_math_css)}}{{x}}$

Formulas that would paint over the page: $\\smash{{\\mathrlap{{\\raise{{150em}}{{\\rule{{400em}}{{300em}}}}}}}}$ and
$a\\!b\\quad c \\Bigg( x \\Bigg) \\hspace{{-50em}} y \\Huge z$
"""


def output_payloads(port: int) -> str:
    """A code cell whose outputs, made when graded, carry payloads."""
    return f'''
from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML("<b>html-output-ok</b><script>{js('out_html_script', port)}</script>"
             "<img src=x onerror=\\"{js('out_html_img', port)}\\">"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" '
            'onload="{js('out_svg_onload', port).replace("'", "&apos;")}">'
            '<script>{js('out_svg_script', port).replace("'", "&apos;")}</script>'
            '<foreignObject width="20" height="20"><body xmlns="http://www.w3.org/1999/xhtml">'
            '<img src="x" onerror="{js('out_svg_foreign', port).replace("'", "&apos;")}"/></body></foreignObject>'
            '<circle cx="10" cy="10" r="8" fill="teal"/></svg>'))
display(Markdown("**markdown-output-ok** <img src=x onerror=\\"{js('out_md_img', port)}\\">"))
display(Javascript("{js('out_js', port)}"))
display({{"text/html": "<p>isolated</p><script>{js('out_isolated', port)}</script>"}}, raw=True,
        metadata={{"text/html": {{"isolated": True}}}})
display({{"image/png": "{PNG_1PX}", "text/plain": "a pixel"}}, raw=True,
        metadata={{"image/png": {{"width": "8 onload={js('out_png_width', port)}"}}}})
print("<script>{js('out_stdout', port)}</script>")
'''


ERROR_CELL = "raise ValueError(\"<img src=x onerror=document.title='PWNED-error'>\")"


def hostile_notebook(reference, port: int) -> dict:
    """The reference solution plus every payload, as a JSON dict (a crafted id would not validate)."""
    nb = nbformat.from_dict(json.loads(json.dumps(reference)))
    answer = nb.cells[index(nb, "q_softmax_answer")]
    answer.source = HONEST_ANSWER + " and leaves the result unchanged.\n\n" + markdown_payloads(port)
    answer.attachments = {"diagram.png": {"image/png": PNG_1PX}}
    extra = nbformat.v4.new_markdown_cell("An added cell.\n\n" + markdown_payloads(port))
    extra.attachments = {"diagram.png": {"image/png": PNG_1PX},
                         f"x\" onerror=\"{js('att_name', port)}.png": {
                             "text/html": f"<script>{js('att', port)}</script>"}}
    extra.metadata["tags"] = [f"\"><img src=x onerror=\"{js('md_tag', port)}\">"]
    extra.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False, "schema_version": 3,
                                  "grade_id": f"x\"><img src=x onerror=\"{js('md_gradeid', port)}\">"}
    nb.cells.insert(index(nb, "imports") + 1, extra)
    code = nbformat.v4.new_code_cell(output_payloads(port).strip())
    nb.cells.insert(index(nb, "imports") + 2, code)
    nb.cells.append(nbformat.v4.new_code_cell(ERROR_CELL))
    data = json.loads(json.dumps(nb))
    data["cells"][index(nb, "imports") + 1]["id"] = f"x\"><img src=x onerror=\"{js('md_cellid', port)}\">"
    return data


@pytest.fixture(scope="module")
def graded(tmp_path_factory, browser_ready):
    root, _ = sampled_demo_course(tmp_path_factory.mktemp("rendered-course"), cell_timeout=8, memory_mib=1024)
    watch = Watch()
    reference = nbformat.read(str(root / "submitted" / "reference" / "demo" / "demo.ipynb"), as_version=4)
    for student in (STUDENT, EVIL_STUDENT):
        folder = root / "submitted" / student / "demo"
        folder.mkdir(parents=True)
        (folder / "demo.ipynb").write_text(json.dumps(hostile_notebook(reference, watch.port)))
    # Files handed in beside the notebook, which the formgrader serves from its own origin.
    folder = root / "submitted" / STUDENT / "demo"
    (folder / "evil.html").write_text(f"<p>evil-file-html</p><script>{js('file_html', watch.port)}</script>")
    (folder / "evil.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><text y="20">evil-file-svg</text>'
                                     f'<script>{js("file_svg", watch.port)}</script></svg>')
    proc = subprocess.run([sys.executable, "-m", "course", "autograde", "demo", "--student", STUDENT,
                           "--student", EVIL_STUDENT, "--student", "reference"],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The course's command grades only plain student ids; plain nbgrader grades any folder name,
    # so the HTML id reaches the formgrader that way.
    assert "not a usable student id" in proc.stdout, proc.stdout[-2000:]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    plain = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "demo", f"--student={EVIL_STUDENT}"],
                           cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr[-3000:]
    scores = {r["student"]: r["auto_score"] for r in grades(root)}
    feedback(root, ["demo"])
    yield {"root": root, "watch": watch, "scores": scores, "proc": proc}
    watch.close()


@pytest.fixture(scope="module")
def formgrader(graded, tmp_path_factory):
    """A Jupyter server in the course folder, with the formgrader, on 127.0.0.1 with a token."""
    with formgrader_server(graded["root"], tmp_path_factory.mktemp("jupyter-home")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(browser_ready):
    from playwright.sync_api import sync_playwright

    from course.sitecheck import CHROMIUM_ARGS

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=browser_ready, args=CHROMIUM_ARGS)
        yield b
        b.close()


PROBE_JS = """() => ({pwned: window.__pwned || [], title: document.title,
                   flags: Object.keys(window).filter(k => k.startsWith('__pwned'))})"""


def _route(r):
    host = r.request.url.split("/")[2] if "://" in r.request.url else ""
    if r.request.url.startswith(("file:", "data:", "about:")) or host.startswith("127.0.0.1"):
        r.continue_()
    else:
        r.abort()  # loopback only: the CDN MathJax of nbgrader's templates is not fetched


def visit_all(browser, watch: Watch, targets: list[dict], headers: dict | None = None) -> list[dict]:
    """Open pages ({"url"} or {"html"}, optional "extra" step), each in its own browser context,
    click their payload links, and say what ran in each (requests to the watch: the batch's)."""
    opened = []
    before = len(watch.hits)
    for target in targets:
        context = browser.new_context(extra_http_headers=headers or {})
        page = context.new_page()
        found = {"dialogs": [], "errors": []}
        page.on("dialog", lambda d, found=found: (found["dialogs"].append(d.message), d.dismiss()))
        page.on("pageerror", lambda e, found=found: found["errors"].append(str(e)))
        page.route("**/*", _route)
        if target.get("url"):
            page.goto(target["url"], wait_until="load")
        else:
            page.set_content(target["html"], wait_until="load")
        if target.get("extra"):
            target["extra"](page)
        found["start_url"] = page.url
        for link in page.get_by_text(re.compile(r"^jslink-")).all():
            try:
                link.click(timeout=2000, no_wait_after=True)
            except Exception:
                pass
        opened.append((context, page, found))
    opened[-1][1].wait_for_timeout(300)  # late onload handlers
    for _, page, found in opened:
        found.update(page.evaluate(PROBE_JS))
        found["text"] = page.evaluate("() => document.body ? document.body.innerText : "
                                      "document.documentElement.textContent")
    opened[-1][1].wait_for_timeout(1200)  # a meta refresh (1 s) would have left by now
    results = []
    for context, page, found in opened:
        found.update(hits=watch.hits[before:], url=page.url)
        context.close()
        results.append(found)
    return results


def visit(browser, watch: Watch, url: str | None = None, html: str | None = None, extra=None,
          headers: dict | None = None) -> dict:
    """One page: see visit_all."""
    return visit_all(browser, watch, [{"url": url, "html": html, "extra": extra}], headers)[0]


def _ran(found: dict) -> list:
    return (list(found["pwned"]) + [f"title: {found['title']}"] * ("PWNED" in found["title"]) + found["flags"]
            + [f"dialog: {d}" for d in found["dialogs"]] + [f"request: {h}" for h in found["hits"]])


def test_the_submission_is_graded_on_its_code(graded):
    """Do the payload submissions get exactly the reference's 6 points through the real command?"""
    scores = graded["scores"]
    assert scores[STUDENT] == 6, graded["proc"].stdout[-2000:]
    assert scores[EVIL_STUDENT] == 6, graded["proc"].stdout[-2000:]
    assert scores["reference"] == 6


def test_the_control_shows_the_payloads_would_run(graded, browser):
    """Rendered by plain nbconvert (no course config), do the payloads run and get seen?"""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb = nbformat.read(str(graded["root"] / "autograded" / STUDENT / "demo" / "demo.ipynb"), as_version=4)
    config = Config()
    config.HTMLExporter.template_name = "classic"
    page, _ = HTMLExporter(config=config).from_notebook_node(nb)
    found = visit(browser, graded["watch"], html=page)
    ran, hits = set(found["pwned"]), {h.lstrip("/") for h in found["hits"]}
    # Not here: an alt text's quote (mistune escapes it), the <noscript> trick (aimed at
    # sanitisers), JavaScript outputs (nbconvert's wrapper needs jQuery, which the formgrader
    # page has), SVG outputs (nbconvert shows them as <img>), and what the intake repairs.
    for tag in ("md_script", "md_img", "md_svg", "md_iframe", "md_jslink", "md_mdlink",
                "out_html_script", "out_html_img", "out_md_img", "out_png_width"):
        assert tag in ran, (tag, " ".join(sorted(ran)))
    for tag in ("md_css", "md_object", "md_pixel", "md_refresh", "out_isolated"):
        assert tag in hits, (tag, " ".join(sorted(hits)))
    assert "md_alert" in found["dialogs"]


def _feedback_pages(root: Path) -> list[Path]:
    pages = sorted((root / "feedback").rglob("*.html"))
    assert {p.parent.parent.name for p in pages} >= {STUDENT, EVIL_STUDENT, "reference"}
    return pages


def test_feedback_pages_run_nothing(graded, browser):
    """Opened as files, and again without their CSP, does any feedback page run a payload?"""
    root, watch = graded["root"], graded["watch"]
    pages = _feedback_pages(root)
    targets = [{"url": page.as_uri()} for page in pages]
    for page in pages:
        bare, n = re.subn(r'<meta[^>]*http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text())
        assert n == 1, page
        targets.append({"html": bare})
    for target, found in zip(targets, visit_all(browser, watch, targets)):
        where = target.get("url") or "the same page without its CSP"
        assert _ran(found) == [], (where, _ran(found))
        assert found["url"] == found["start_url"], where
    # The student's own HTML file, which nbgrader copies back into feedback/, was locked down too.
    handed_in = root / "feedback" / STUDENT / "demo" / "evil.html"
    assert page_problems(handed_in.read_text()) == [] and "evil-file-html" in handed_in.read_text()


def test_feedback_shows_the_honest_parts_and_carries_the_csp(graded, browser):
    """Does the student's feedback still show their text, their formulas drawn as MathML
    (no script needed, so the CSP stays), tables and the verdicts?"""
    root = graded["root"]
    page = root / "feedback" / STUDENT / "demo" / "demo.html"
    text = page.read_text()
    assert page_problems(text) == [], text[:600]
    assert f'content="{CSP}"'.replace("'", "&#x27;") in text or f'content="{CSP}"' in text
    drawn = []

    def formulas(page):
        drawn.extend(page.evaluate("""() => [...document.querySelectorAll('math')].map(m => {
            const r = m.getBoundingClientRect();
            const out = [...m.querySelectorAll('*')].filter(d => { const q = d.getBoundingClientRect();
                return q.width > 0 && (q.left < r.left - 1 || q.right > r.right + 1 || q.top < r.top - 1
                                       || q.bottom > r.bottom + 1); });
            return {ns: m.namespaceURI, text: m.textContent, width: r.width, height: r.height, outside: out.length};
        })"""))

    found = visit(browser, graded["watch"], url=page.as_uri(), extra=formulas)
    body = found["text"]
    for honest in (HONEST_ANSWER, HONEST_MARKDOWN, "Hidden tests passed: softmax", "html-output-ok",
                   "markdown-output-ok", "jslink-html", "a\tb\n1\t2"):
        assert honest in body, honest
    mathml = "http://www.w3.org/1998/Math/MathML"
    assert {"ns": mathml, "text": "x2<y"} in [{k: d[k] for k in ("ns", "text")} for d in drawn], drawn
    assert all(d["width"] > 0 for d in drawn) and "$x^2 < y$" not in body  # drawn, not TeX
    assert [d for d in drawn if d["outside"] or d["height"] > 200] == []  # nothing paints outside its formula
    assert "\\rule{400em}{300em}" in body  # the painting formula is shown as its TeX
    assert "\\text{<img src=x onerror=" in body  # a formula with markup is shown as its TeX
    assert "Score: 6" in body or re.search(r"Score:\s*6(\.0)?\s*/\s*6", body), body[:500]


def _submission_id(root: Path, student: str) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "dlcourse") as gb:
        return gb.find_submission_notebook("demo", "demo", student).id


@pytest.mark.parametrize("student", [STUDENT, EVIL_STUDENT])
def test_the_formgrader_page_runs_nothing_and_still_grades(graded, formgrader, browser, student):
    """The formgrader's page of the submission: no payload runs; its own scripts and the text work."""
    sid = _submission_id(graded["root"], student)
    url = f"{formgrader['base']}/formgrader/submissions/{sid}/"

    def scores_loaded(page):
        page.wait_for_function("() => document.querySelector('input#test_softmax') && "
                               "document.querySelector('input#test_softmax').placeholder === '2'", timeout=20000)

    found = visit(browser, graded["watch"], url=url, extra=scores_loaded,
                  headers={"Authorization": f"token {formgrader['token']}"})
    assert _ran(found) == [], _ran(found)
    assert found["url"] == found["start_url"] == url
    body = found["text"]
    for honest in (HONEST_ANSWER, HONEST_MARKDOWN, "Hidden tests passed: softmax", "html-output-ok",
                   "markdown-output-ok", "jslink-html"):
        assert honest in body, honest


def test_the_formgraders_other_pages_escape_names_and_serve_files_inert(graded, formgrader, browser):
    """Student lists and pages, a crafted URL, and files handed in: does anything run?"""
    base, auth = formgrader["base"], {"Authorization": f"token {formgrader['token']}"}
    sid = _submission_id(graded["root"], STUDENT)
    evil = urllib.parse.quote(EVIL_STUDENT, safe="")
    crafted = urllib.parse.quote(f"<img src=x onerror={js('reflected', graded['watch'].port)}>", safe="")

    def listed(text):  # pages whose tables nbgrader's scripts fill from its API
        return lambda page: page.wait_for_function(f"() => document.body.innerText.includes({json.dumps(text)})",
                                                   timeout=20000)

    pages = {  # url: (text the page must show, step before looking)
        f"{base}/formgrader/manage_assignments": ("demo", listed("demo")),
        f"{base}/formgrader/manage_students": (EVIL_STUDENT, listed(EVIL_STUDENT)),
        f"{base}/formgrader/manage_students/{evil}": (EVIL_STUDENT, None),
        f"{base}/formgrader/manage_students/{evil}/demo": (EVIL_STUDENT, None),
        f"{base}/formgrader/gradebook/demo/demo": ("Submission #", listed("Submission #")),
        f"{base}/formgrader/manage_submissions/{crafted}": ("onerror=", None),
        f"{base}/formgrader/gradebook/{crafted}/demo": ("onerror=", None),
        f"{base}/formgrader/submissions/{sid}/evil.html": ("evil-file-html", None),
        f"{base}/formgrader/submissions/{sid}/evil.svg": ("evil-file-svg", None),
    }
    results = visit_all(browser, graded["watch"], [{"url": url, "extra": extra} for url, (_, extra) in pages.items()],
                        headers=auth)
    for (url, (shown, _)), found in zip(pages.items(), results):
        assert _ran(found) == [], (url, _ran(found))
        assert shown in found["text"], (url, found["text"][:500])

