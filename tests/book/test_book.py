"""The course website: does it build strictly and offline, and does it show only public material?

The checks of the built site share one build (conftest.py: figures + sphinx, about 20 s
on an idle 2-core machine, into a temporary copy of the repository with canaries planted
in the instructor-only folders); only the check that needs a second, failing build is
marked slow. test_site_in_browser.py opens the same build in headless Chromium.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import html as html_lib
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from course import ROOT
from course.book import BookBuildError, run_sphinx
from tests.conftest import INSTRUCTOR_ONLY

FIGURES = ROOT / "book" / "figures"
FORBIDDEN = ["BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "MARK SCHEME"]


def load_figure_module(name: str):
    spec = importlib.util.spec_from_file_location(f"test_figures_{name}", FIGURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def public_location() -> tuple[str, str]:
    with open(ROOT / "course.toml", "rb") as f:
        public = tomllib.load(f)["public"]
    return public["repository"].rstrip("/"), public["branch"]


def text_of(page: Path) -> str:
    """The visible text of an html page (tags dropped, entities decoded)."""
    return html_lib.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def toc_files(node) -> list[str]:
    """Every ``file`` (and the root) named in a parsed _toc.yml, in order."""
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(node[key])
        for value in node.values():
            found += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += toc_files(item)
    return found


# --------------------------------------------------------------------------- fast checks
def test_config_points_at_the_public_repository():
    """Do _config.yml's repository and launch buttons match [public] in course.toml?"""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo, branch = public_location()
    assert config["repository"]["url"].rstrip("/") == repo
    assert config["repository"]["branch"] == branch
    assert config["launch_buttons"]["colab_url"].rstrip("/") == "https://colab.research.google.com"
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True
    for pattern in INSTRUCTOR_ONLY + [".venv", "_build", "tests", "package"]:
        assert pattern in config["exclude_patterns"]


def test_every_figure_script_has_a_make_function():
    """Does make_all find every book/figures/<topic>.py, and does each define make(outdir)?"""
    make_all = load_figure_module("make_all")
    names = [p.stem for p in make_all.figure_modules()]
    assert "captioning" in names and "make_all" not in names and "__init__" not in names
    for path in make_all.figure_modules():  # read, not imported: scripts may be heavy
        tree = ast.parse(path.read_text())
        assert any(isinstance(node, ast.FunctionDef) and node.name == "make" for node in tree.body), path


def test_gradient_norm_figure_follows_the_spectral_radius():
    """In a linear RNN, does the gradient shrink or grow by about the spectral radius per step?

    Gelfand's formula (||W^k u||^(1/k) -> rho) is the independent reference: far from the
    last step the per-step factor of the autograd gradients must approach rho.
    """
    captioning = load_figure_module("captioning")
    rhos = [0.7, 1.0, 1.3]
    curves = captioning.gradient_norm_curves(rhos, "linear", H=32, T=60)
    assert curves.shape == (3, 61)
    assert curves[:, 0] == pytest.approx(1.0)  # dL/dh_T = u, a unit vector
    per_step = (curves[:, 60] / curves[:, 30]) ** (1 / 30)
    assert per_step == pytest.approx(rhos, rel=0.05)
    tanh = captioning.gradient_norm_curves([0.9, 3.0], "tanh", H=32, T=40)
    assert tanh[0, -1] < 1e-1 < 1e1 < tanh[1, -1]  # vanishes below, explodes well above 1


# --------------------------------------------------------------------------- the built site
# The `site` fixture (one build per test session, shared with the browser test) is in conftest.py.


def test_build_is_strict_fast_and_complete(site):
    """Does the build succeed with warnings as errors, without executing notebooks, quickly?"""
    root, html, seconds = site
    assert html == root / "_build" / "html"
    assert (html / "index.html").is_file()
    log = (root / "_build" / "book.log").read_text()
    assert "build succeeded" in log
    assert "WARNING" not in log
    assert "execution_mode='off'" in log  # notebooks are rendered, never executed
    # About 20 s on an idle 2-core machine; the bound only catches pathologies (e.g. a
    # notebook being executed, a network timeout), since other jobs may share the CPU.
    assert seconds < 300, f"book build took {seconds:.0f} s"


def test_every_toc_page_has_an_html_page(site):
    """Is every page of _toc.yml rendered, including the released captioning notebook?"""
    root, html, _ = site
    files = toc_files(yaml.safe_load((root / "_toc.yml").read_text()))
    assert "book/intro" in files and "assignments/captioning/captioning" in files
    missing = [f for f in files if not (html / f"{f}.html").is_file()]
    assert not missing, f"toc pages without html: {missing}"


def test_pages_outside_the_toc_are_not_built(site):
    """Are markdown files outside the toc (and in hidden folders) left out of the site?"""
    _, html, _ = site
    assert not (html / "book" / "draft_not_in_toc.html").exists()
    assert not (html / ".hidden_canary").exists()


def test_notebook_page_has_open_in_colab_button(site):
    """Does the notebook page launch the released notebook of the public repository in Colab?"""
    _, html, _ = site
    repo, branch = public_location()
    owner_name = repo.removeprefix("https://github.com/")
    url = (f"https://colab.research.google.com/github/{owner_name}/blob/{branch}/"
           "assignments/captioning/captioning.ipynb")
    page = (html / "assignments" / "captioning" / "captioning.html").read_text()
    buttons = re.findall(r'<a href="([^"]+)"[^>]*title="Launch on Colab"', page)
    assert buttons == [url]


def test_chapter_links_to_its_notebook(site):
    """Does the captioning chapter link to the notebook page and to Colab, and show its figures?"""
    _, html, _ = site
    page = (html / "book" / "captioning.html").read_text()
    assert 'href="../assignments/captioning/captioning.html"' in page
    assert "colab.research.google.com/github/" in page
    for name in ["rnn_unrolled", "lstm_cell", "gradient_norms", "captioning_teacher_forcing"]:
        assert f'src="../_images/{name}.png"' in page


def test_every_colab_link_and_setup_command_uses_the_public_repository(site):
    """Are the Colab links of all pages and the setup instructions those of course.toml?"""
    _, html, _ = site
    repo, branch = public_location()
    owner_name = repo.removeprefix("https://github.com/")
    links = set()
    for page in html.rglob("*.html"):
        links |= set(re.findall(r'https://colab\.research\.google\.com/github/[^"\s<)]+', page.read_text()))
    assert links
    assert all(link.startswith(f"https://colab.research.google.com/github/{owner_name}/blob/{branch}/")
               for link in links), links
    setup = text_of(html / "book" / "setup.html")
    assert f"git clone {repo}" in setup
    assert f"git+{repo}@{branch}#subdirectory=package" in setup


def test_figures_are_generated_and_published(site):
    """Does every figure a chapter of the toc uses come from a script and reach the site?"""
    root, html, _ = site
    generated = root / "book" / "figures" / "generated"
    pages = toc_files(yaml.safe_load((root / "_toc.yml").read_text()))
    chapters = [root / f"{page}.md" for page in pages if (root / f"{page}.md").is_file()]
    used = set()
    for chapter in chapters:
        used |= set(re.findall(r"figures/generated/([\w.-]+\.png)", chapter.read_text()))
    assert used
    for name in sorted(used):
        assert (generated / name).is_file(), f"{name} is used but no script made it"
        assert (html / "_images" / name).is_file(), f"{name} is not in the site"
        assert (generated / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_instructor_only_file_is_copied_into_the_site(site):
    """Is no file of source/, solutions/ or autograder/ (canaries included) in _build/html?"""
    root, html, _ = site
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    private = {}
    for folder in INSTRUCTOR_ONLY:
        for path in (root / folder).rglob("*"):
            if path.is_file() and path.stat().st_size > 64:  # tiny files (empty __init__) are not evidence
                private[digest(path)] = path
    assert any(p.name == "canary.md" for p in private.values())
    copied = [(p, private[digest(p)]) for p in html.rglob("*") if p.is_file() and digest(p) in private]
    assert not copied, copied
    for folder in INSTRUCTOR_ONLY:
        assert not (html / folder).exists() and not (html / "_sources" / folder).exists()


def test_no_solution_hidden_test_or_mark_scheme_text_in_the_site(site):
    """Do no page, notebook, source copy or search index of the site contain instructor-only markers?"""
    _, html, _ = site
    suffixes = {".html", ".ipynb", ".md", ".txt", ".js", ".json", ".py"}
    checked = 0
    for path in html.rglob("*"):
        if path.is_file() and path.suffix in suffixes:
            text = path.read_text(errors="replace")
            found = [marker for marker in FORBIDDEN if marker in text]
            assert not found, f"{path.relative_to(html)} contains {found}"
            checked += 1
    assert checked > 10
    assert "secret_source" not in (html / "searchindex.js").read_text()


@pytest.mark.slow  # a second sphinx build (~6-10 s on top of the shared one)
def test_a_warning_fails_the_build(site, tmp_path):
    """Does a broken cross-reference fail the build (warnings are errors), with the log?"""
    built_root, _, _ = site
    root = tmp_path / "repo"
    shutil.copytree(built_root, root, ignore=shutil.ignore_patterns("_build"))
    setup = root / "book" / "setup.md"
    setup.write_text(setup.read_text() + "\nSee {doc}`a_chapter_that_does_not_exist`.\n")
    with pytest.raises(BookBuildError, match="a_chapter_that_does_not_exist"):
        run_sphinx(root)


def test_sidebar_tells_chapters_and_assignments_apart(site):
    """Is every assignment's sidebar entry marked as one, and no two entries alike?"""
    import re

    _, html, _ = site
    page = (html / "book" / "setup.html").read_text()
    nav = page[page.index('bd-docs-nav'):]
    nav = nav[:nav.index("</nav>")]
    links = re.findall(r'href="([^"#]+)\.html">([^<]+)</a>', nav)  # the page itself is not a link
    entries = {(path[3:] if path.startswith("../") else f"book/{path}"): title for path, title in links}
    assignments = {path: title for path, title in entries.items() if path.startswith("assignments/")}
    assert len(assignments) == 8 and len(entries) >= 16, entries
    assert all(title.startswith("Assignment: ") for title in assignments.values()), assignments
    chapters = [title for path, title in entries.items() if path.startswith("book/")]
    assert not any(title.startswith("Assignment") for title in chapters)
    firsts = [" ".join(t.lower().replace(":", "").split()[:2]) for t in entries.values()]
    assert len(set(firsts)) == len(firsts), sorted(firsts)
