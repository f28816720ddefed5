"""The built site as a reader sees it: every page opened in headless Chromium, offline.

`course.sitecheck` serves the site on 127.0.0.1, blocks every request that would leave
it, and checks each page: math typeset by the MathJax the site carries (no raw TeX, no
MathJax errors), no console errors or failed requests, local links and anchors that
resolve, images that decode, Colab and GitHub links into the public repository of
course.toml. Screenshots go to build/screenshots/ for reviewers.

Chromium is Debian's package, installed by .ci/run; on CI a missing browser fails the
test, elsewhere it is skipped with the install command.
"""
from __future__ import annotations

import shutil

from course import ROOT
from course.sitecheck import check_site

SCREENSHOTS = ROOT / "build" / "screenshots"


def test_every_page_renders_offline_with_typeset_math_and_working_links(site, browser_ready):
    """Does every page of the site render offline, with all math typeset and nothing broken?"""
    root, html, _ = site
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # only this run's screenshots count
    report = check_site(html, root, screenshots=SCREENSHOTS)
    assert not report.problems, "\n".join(report.problems)
    pages = {p.path: p for p in report.pages}
    expected = {str(p.relative_to(html)) for p in html.rglob("*.html") if not str(p.relative_to(html)).startswith("_")}
    assert set(pages) == expected and len(pages) > 15
    # The chapters with the most math really are typeset by the local MathJax.
    assert pages["book/transformer.html"].formulas > 20
    assert pages["assignments/captioning/captioning.html"].formulas > 20
    assert sum(p.formulas for p in report.pages) > 400
    assert pages["book/captioning.html"].images >= 4
    for rel in expected - {"index.html"}:  # index.html only redirects to the first chapter
        shot = SCREENSHOTS / rel.replace(".html", ".png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot


def test_the_mathjax_of_the_site_is_local(site):
    """Do the pages load MathJax from the site itself, with its fonts and licence beside it?"""
    _, html, _ = site
    page = (html / "book" / "transformer.html").read_text()
    assert 'src="../_static/mathjax/tex-chtml-full.js"' in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    mathjax = html / "_static" / "mathjax"
    assert (mathjax / "LICENSE").is_file()
    assert len(list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) > 10


def test_the_browser_check_reports_what_breaks_a_page(site, browser_ready, tmp_path):
    """Does the check fail on raw TeX, missing MathJax, console errors, broken links and images,
    foreign Colab/GitHub links, requests to the network and a download that is not the release?"""
    root, html, _ = site
    broken = tmp_path / "html"
    shutil.copytree(html, broken)
    (broken / "_static" / "mathjax" / "tex-chtml-full.js").unlink()  # a site without its MathJax
    # A notebook page whose download button would hand out the worked solution.
    shutil.copy(root / "solutions" / "gan" / "generative_adversarial_networks.ipynb",
                broken / "_sources" / "assignments" / "gan" / "generative_adversarial_networks.ipynb")
    (broken / "planted.html").write_text("""<!DOCTYPE html><html><head><title>planted</title>
<script src="https://cdn.example.org/lib.js"></script></head><body>
<p>Why divide by \\(\\sqrt{d}\\)?</p>
<img src="_images/no_such_figure.png" alt="gone">
<a href="book/no_such_chapter.html">chapter</a>
<a href="book/transformer.html#no-such-section">section</a>
<a href="https://colab.research.google.com/github/someone/else/blob/main/a.ipynb">colab</a>
<a href="https://github.com/someone/else">repository</a>
<script>console.error("planted failure");</script>
</body></html>""")
    report = check_site(broken, root)
    problems = "\n".join(report.problems)
    planted = [p for p in report.problems if p.startswith("planted.html: ")]
    for needle in ["raw TeX", "image does not load", "broken link 'book/no_such_chapter.html'",
                   "missing anchor #no-such-section", "Colab link https://colab.research.google.com/github/someone",
                   "GitHub link https://github.com/someone/else", "console error: planted failure"]:
        assert any(needle in p for p in planted), (needle, problems)
    assert "request to the network (the site must work offline): https://cdn.example.org/lib.js" in report.problems
    assert any(p.startswith("assignments/gan/generative_adversarial_networks.html: the download ")
               and "is not the released" in p for p in report.problems), problems
    # Without its MathJax, a chapter's formulas stay raw TeX.
    assert any(p.startswith("book/transformer.html: ") and "MathJax did not load" in p for p in report.problems)
    assert any(p.startswith("book/transformer.html: ") and "raw TeX" in p for p in report.problems)


def test_a_display_equation_wider_than_its_column_fails_the_check(site, browser_ready, tmp_path):
    """Is an equation that would be cut off (or scroll sideways) at 1280 px reported?"""
    root, html, _ = site
    wide = tmp_path / "html"
    shutil.copytree(html, wide)
    page = wide / "book" / "glossary.html"
    terms = " + ".join(f"W_{{{k}}} x_{{{k}}}" for k in range(40))
    text = page.read_text()
    at = text.index("</article>")
    page.write_text(text[:at] + f'<div class="math notranslate nohighlight">\\[ y = {terms} \\]</div>' + text[at:])
    report = check_site(wide, root, only=["book/glossary.html", "book/setup.html"])
    assert [p.path for p in report.pages] == ["book/glossary.html", "book/setup.html"]
    assert any(p.startswith("book/glossary.html: display equation") and "px column at 1280 px" in p
               for p in report.problems), report.problems
    assert not any(p.startswith("book/setup.html") for p in report.problems), report.problems
