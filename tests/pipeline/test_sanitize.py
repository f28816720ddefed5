"""The sanitiser of what students wrote (autograder/sanitize.py), piece by piece, without a browser.

tests/pipeline/test_rendered_submissions.py shows in Chromium that nothing runs in the real
feedback pages and formgrader; these say what each piece keeps and removes, and that the
course's config wires them into the exporters nbgrader's feedback and formgrader build.
"""
from __future__ import annotations

import base64
import io
import re
import sys

import nbformat
import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder.sanitize import (CSP, FeedbackExporter, SafeMarkdown, SanitizeSubmission, clean_html,
                                 clean_svg, lock_down, page_problems)
from course import ROOT

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def _exporter(**extra):
    from nbconvert import HTMLExporter

    config = Config()
    config.HTMLExporter.template_name = "classic"
    config.HTMLExporter.preprocessors = [SanitizeSubmission]
    config.HTMLExporter.filters = {"markdown2html": SafeMarkdown}
    config.HTMLExporter.optimistic_validation = True
    for key, value in extra.items():
        setattr(config.HTMLExporter, key, value)
    return HTMLExporter(config=config)


def _body(page: str) -> str:
    return page[page.index("<body"):]


@pytest.mark.parametrize("payload", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=3 /></svg>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<object data='data:text/html,<script>alert(1)</script>'></object>",
    "<embed src='javascript:alert(1)'>",
    "<a href='javascript:alert(1)'>x</a>",
    "<a href='JaVaScRiPt:alert(1)'>x</a>",
    "<a href='&#106;avascript:alert(1)'>x</a>",
    "<a href='java\tscript:alert(1)'>x</a>",
    "<a href='data:text/html,<script>alert(1)</script>'>x</a>",
    "<form action='javascript:alert(1)'><button>x</button></form>",
    "<meta http-equiv='refresh' content='0;url=javascript:alert(1)'>",
    "<style>@import 'http://evil.example/x.css';</style>",
    "<div style='background:url(javascript:alert(1))'>x</div>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></p></noscript>",
    "<base href='javascript:alert(1)//'>",
    "<details open ontoggle=alert(1)>x</details>",
])
def test_clean_html_leaves_nothing_that_runs(payload):
    """Does every classic script vector come out without a script, handler or active URL?"""
    out = clean_html(payload).lower()
    for bad in ("<script", "onerror", "onload", "ontoggle", "javascript", "<iframe", "<object", "<embed",
                "<form", "<meta", "<style", "<svg", "<math", "<base", "style=", "data:text"):
        assert bad not in out, (payload, out)


def test_markdown_keeps_what_students_legitimately_write():
    """Headings, emphasis, lists, tables, code, math (as MathML), links and embedded images survive."""
    md = ("# Results\n\nSome **bold**, *italic* and `code`; math $a<b$ and $$\\sum_i x_i$$.\n\n"
          "| a | b |\n|---|---|\n| 1 | 2 |\n\n- [paper](https://arxiv.org/abs/1706.03762)\n"
          "- [section](#Results)\n- mail <mailto:ta@example.org>\n\n```python\ndef f(x):\n    return x\n```\n\n"
          f"![plot](data:image/png;base64,{PNG}) ![local](figure.png) ![att](attachment:fig.png)\n")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_markdown_cell(md)
    cell.attachments = {"fig.png": {"image/png": PNG}}
    nb.cells.append(cell)
    body = _body(_exporter().from_notebook_node(nb)[0])
    for kept in ('<h1 id="user-content-Results">', "<strong>bold</strong>", "<em>italic</em>", "<code>code</code>",
                 '<math display="inline"><mrow><mi>a</mi><mo>&lt;</mo><mi>b</mi></mrow></math>',
                 '<math display="block"><mrow><munder><mo>∑</mo><mi>i</mi></munder><msub><mi>x</mi><mi>i</mi></msub>',
                 "<table>", "<th>a</th>", "<td>2</td>",
                 'href="https://arxiv.org/abs/1706.03762"', 'href="#user-content-Results"',
                 'href="mailto:ta@example.org"', '<span class="k">def</span>',
                 f'src="data:image/png;base64,{PNG}"', 'src="figure.png"'):
        assert kept in body, kept
    assert body.count(f"data:image/png;base64,{PNG}") == 2  # the attachment too


def test_links_that_would_open_a_file_of_the_submission_are_disabled():
    """In the formgrader a relative link opens a file the student handed in, on the server's origin."""
    out = clean_html('<a href="evil.html">a</a><a href="/api/kernels">b</a><a href="../x">c</a>'
                     '<img src="http://tracker.example/p.png"><img src="../../secret.png"><img src="/files/x.png">')
    assert "href" not in out and "src" not in out, out


def test_classes_and_ids_cannot_restyle_or_clobber_the_page():
    """Bootstrap layout classes go; ids get a prefix (no DOM clobbering of the page's globals)."""
    out = clean_html('<div class="navbar-fixed-top modal highlight" id="base_url">x</div>'
                     '<h2 id="MathJax">t</h2><span class="k nf">def</span>')
    assert 'class="highlight"' in out and "navbar" not in out and "modal" not in out
    assert 'id="base_url"' not in out and 'id="user-content-MathJax"' in out
    assert '<span class="k nf">' in out


def test_a_missing_attachment_shows_the_text_instead_of_failing_the_page():
    """nbconvert raises on a missing attachment; the page must still render, as text."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("see ![x](attachment:gone.png) <script>alert(1)</script>"))
    body = _body(_exporter().from_notebook_node(nb)[0])
    assert "attachment:gone.png" in body and "&lt;script&gt;" in body and "<script>alert" not in body


def _matplotlib_svg() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [1, 0, 1], label="loss")
    ax.set_title("training")
    ax.legend()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()


def test_svg_keeps_the_drawing_and_loses_scripts():
    """A matplotlib SVG keeps its paths, text and clip paths; scripts, handlers and links go."""
    svg = _matplotlib_svg()
    hostile = svg.replace("</svg>", '<script>alert(1)</script><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">'
                          '<img src="x" onerror="alert(1)"/></div></foreignObject>'
                          '<a href="javascript:alert(1)"><text>t</text></a>'
                          '<set attributeName="href" to="javascript:alert(1)"/><animate onbegin="alert(1)"/>'
                          '<image href="http://evil.example/x.png"/><use href="http://evil.example/s.svg#a"/></svg>')
    hostile = hostile.replace("<svg ", '<svg onload="alert(1)" ', 1)
    out = clean_svg(hostile)
    assert out is not None
    for bad in ("<script", "foreignObject", "onload", "onerror", "onbegin", "javascript", "evil.example", "<set",
                "<animate"):
        assert bad not in out, bad
    assert out.count("<path") == svg.count("<path") > 3
    assert "clip-path" in out and 'xlink:href="#' in out  # clipping and glyphs (matplotlib draws text as paths)
    assert clean_svg('<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>') is None
    assert clean_svg("<html><script>alert(1)</script></html>") is None
    assert clean_svg("not xml <") is None


def _nb_with_outputs():
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    cell = nbformat.v4.new_code_cell("x")
    cell.execution_count = "<img src=x onerror=alert(1)>"
    cell.metadata["tags"] = ["ok"]
    cell.metadata["nbgrader"] = {"grade_id": 'q1"><b>', "points": 2, "grade": True, "solution": False}
    cell.metadata["extra"] = {"anything": "<script>"}
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<b>ok</b><script>alert(1)</script>",
                                                     "application/javascript": "alert(1)"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)", "text/plain": "<JS>"}),
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                                                     "text/vnd.mermaid": "graph TD; A-->B", "application/pdf": "x"}),
        nbformat.v4.new_output("display_data", data={"image/png": PNG},
                               metadata={"image/png": {"width": "8 onload=alert(1)", "height": 20, "alt": '"x'},
                                         "filenames": {"image/png": "http://evil.example/x.png"}}),
        nbformat.v4.new_output("display_data", data={"image/png": 'AAAA" onload="alert(1)'}),
        nbformat.v4.new_output("display_data", data={"text/html": "<p>isolated</p>"},
                               metadata={"text/html": {"isolated": True}}),
        nbformat.from_dict({"output_type": "execute_result", "data": {"text/plain": "1"}, "metadata": {},
                            "execution_count": "<b>"}),  # not valid: a kernel that lies
        nbformat.v4.new_output("stream", name="stdout", text="<script>alert(1)</script>"),
        nbformat.v4.new_output("error", ename="E", evalue="<img src=x onerror=alert(1)>", traceback=["tb"]),
    ]
    nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_raw_cell("<script>alert(1)</script><b>raw</b>"))
    return nb


def test_outputs_and_metadata_are_reduced_to_what_cannot_run():
    """Only safe output types stay; sizes are numbers, counts integers, metadata a short list."""
    nb = _nb_with_outputs()
    resources = {"student": 'a"><img src=x onerror=alert(1)>', "notebook_id": "demo", "first_name": "<b>"}
    nb, resources = SanitizeSubmission().preprocess(nb, resources)
    cell = nb.cells[0]
    outs = cell.outputs
    assert cell.execution_count is None and outs[6].execution_count is None
    assert set(cell.metadata) == {"tags", "nbgrader"} and cell.metadata.nbgrader.grade_id == "q1&quot;&gt;&lt;b&gt;"
    assert set(nb.metadata) == set()
    assert outs[0].data == {"text/html": "<b>ok</b>"}
    assert "application/javascript" not in outs[1].data and "removed" in outs[1].data["text/plain"]
    assert set(outs[2].data) == {"text/plain"} and "removed" in outs[2].data["text/plain"]
    assert outs[3].metadata == {"image/png": {"height": 20, "alt": '"x'}}
    assert "image/png" not in outs[4].data
    assert outs[5].metadata == {}
    assert outs[7].text == "<script>alert(1)</script>"  # nbconvert escapes streams
    assert nb.cells[1].source == "<b>raw</b>"
    assert resources["student"] == "a&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert resources["notebook_id"] == "demo" and resources["first_name"] == "&lt;b&gt;"
    again, _ = SanitizeSubmission().preprocess(nbformat.from_dict(nb), {})
    assert again == nb  # running twice changes nothing more


def test_the_rendered_outputs_carry_no_script():
    """Rendered with the course's exporter settings, is there any script, handler or active URL?"""
    body = _body(_exporter().from_notebook_node(_nb_with_outputs())[0])
    assert "<script" not in body.replace('<script type="application/vnd.jupyter.widget', "")
    assert "onerror" not in body.replace("onerror=alert(1)&gt;", "") and "onload" not in body
    assert "<iframe" not in body and "evil.example" not in body


def test_feedback_pages_are_locked_down():
    """lock_down: no script elements, the CSP right after the charset; page_problems sees both."""
    page = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title>'
            '<script src="https://cdn.example/mathjax.js"></script><meta http-equiv="refresh" content="0;url=x">'
            '</head><body><p>ok</p><script>alert(1)</script></body></html>')
    assert set(page_problems(page)) == {"no Content-Security-Policy meta first in <head>", "a <script> element"}
    locked = lock_down(page)
    assert page_problems(locked) == [] and "<script" not in locked and "refresh" not in locked
    assert re.search(r'<head><meta charset="utf-8"/><meta content="[^"]+" http-equiv="Content-Security-Policy"/>',
                     locked)
    assert CSP in locked and "<p>ok</p>" in locked
    twice = lock_down(locked)
    assert page_problems(twice) == [] and twice.count("Content-Security-Policy") == 1


def test_the_course_config_wires_the_sanitiser_into_both_renderings():
    """nbgrader_config.py: the HTMLExporter (formgrader and feedback) and the feedback exporter."""
    from nbconvert import HTMLExporter

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert cfg.GenerateFeedback.exporter_class is FeedbackExporter
    assert cfg.HTMLExporter.sanitize_html is not True  # see nbgrader_config.py: it would mangle markdown
    assert cfg.HTMLExporter.optimistic_validation is True  # invalid types reach the sanitiser, which repairs them
    for exporter in (HTMLExporter(config=cfg), FeedbackExporter(config=cfg)):  # as the formgrader / feedback make them
        assert any(isinstance(p, SanitizeSubmission) for p in exporter._preprocessors)
        assert isinstance(exporter.environment.filters["markdown2html"], SafeMarkdown)


def test_the_formgrader_guard_escapes_nbgraders_pages_and_sandboxes_submission_files():
    """harden(): nbgrader's Jinja environment autoescapes; submission files get a sandbox CSP."""
    import nbgrader.server_extensions.formgrader.formgrader as fg
    from nbgrader.server_extensions.formgrader import handlers

    from autograder.formgrader_guard import harden

    original_env = fg.Environment
    original_csp = handlers.SubmissionFilesHandler.__dict__.get("content_security_policy")
    try:
        assert harden()
        env = fg.Environment(loader=None)
        assert env.from_string("{{ x }}").render(x="<img src=x onerror=alert(1)>") == \
            "&lt;img src=x onerror=alert(1)&gt;"
        handler = handlers.SubmissionFilesHandler.__new__(handlers.SubmissionFilesHandler)
        handler.application = type("App", (), {"settings": {"base_url": "/"}})()
        assert handlers.SubmissionFilesHandler.content_security_policy.fget(handler).endswith("; sandbox")
        assert harden()  # twice: still one "; sandbox"
        assert handlers.SubmissionFilesHandler.content_security_policy.fget(handler).count("sandbox") == 1
    finally:
        fg.Environment = original_env
        if original_csp is None:
            del handlers.SubmissionFilesHandler.content_security_policy
        else:
            handlers.SubmissionFilesHandler.content_security_policy = original_csp
        handlers.SubmissionFilesHandler._course_sandboxed = False


def test_the_guard_does_nothing_where_the_formgrader_is_not_loaded(monkeypatch):
    """In nbgrader's command-line apps the formgrader is not imported, and harden() leaves it so."""
    from autograder.formgrader_guard import FORMGRADER, harden

    monkeypatch.delitem(sys.modules, FORMGRADER, raising=False)
    assert harden() is False
    assert FORMGRADER not in sys.modules


def test_png_base64_survives_as_is():
    """A real PNG output is kept byte for byte."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "fig"})]
    nb.cells.append(cell)
    nb, _ = SanitizeSubmission().preprocess(nb, {})
    assert base64.b64decode(nb.cells[0].outputs[0].data["image/png"]) == base64.b64decode(PNG)
