"""Sphinx extension: the course site works offline.

MathJax. Without this extension Sphinx points every page at MathJax on a CDN, and a reader behind a firewall
(or any offline copy of the site) sees raw TeX such as ``\\(\\sqrt{d}\\)``. This extension

1. sets ``mathjax_path`` to ``mathjax/tex-chtml-full.js`` (relative to ``_static/``), unless
   the configuration names another script on purpose;
2. after the html build, copies that script and the files it loads at run time (the CHTML
   web fonts, the menu, the accessibility components and the speech rule engine they use)
   from the pinned PyPI package ``django-static-mathjax`` (MathJax 3.2.2, Apache 2.0,
   requirements.txt) into ``_static/mathjax/``, with MathJax's licence.

The "full" TeX bundle contains every TeX extension, so nothing is autoloaded from a
network location.

Thebe. jupyter-book always loads sphinx-thebe, whose page scripts point at a CDN
(unpkg.com) and are added twice per page in this jupyter-book version (an uncaught
"THEBE_JS_URL has already been declared" on every page). The course launches notebooks in
Colab only (``launch_buttons.thebe: false``), so 3. drops thebe's scripts and style sheet
from every page.

Enabled in _config.yml (``sphinx: local_extensions``); ``python -m course sitecheck``
checks the result in a browser.
"""
from __future__ import annotations

import shutil
from pathlib import Path

SCRIPT = "tex-chtml-full.js"
# Relative to MathJax's es5/ folder: what SCRIPT loads lazily (fonts always; the rest
# when a reader opens the math menu or turns on an accessibility option).
RUNTIME = ["output/chtml/fonts/woff-v2", "ui", "a11y", "sre", "input/tex/extensions"]
TARGET = "mathjax"  # under _static/
CDN_PREFIX = "https://"


def mathjax_source() -> Path:
    """The es5/ folder of the installed MathJax distribution."""
    try:
        import mathjax  # the django-static-mathjax package; its module is data only
    except ImportError as exc:
        raise RuntimeError("MathJax is not installed: `pip install django-static-mathjax` "
                           "(pinned in requirements.txt)") from exc
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / SCRIPT).is_file():
        raise RuntimeError(f"{es5 / SCRIPT} is missing: reinstall django-static-mathjax")
    return es5


def copy_mathjax(static: Path) -> Path:
    """Copy SCRIPT, its run-time files and the licence into ``static``/mathjax; return it."""
    es5 = mathjax_source()
    out = Path(static) / TARGET
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(es5 / SCRIPT, out / SCRIPT)
    for rel in RUNTIME:
        if (es5 / rel).exists():
            shutil.copytree(es5 / rel, out / rel)
    shutil.copy2(es5.parent / "LICENSE", out / "LICENSE")
    return out


def _use_local_script(app, config) -> None:
    if str(config.mathjax_path).startswith(CDN_PREFIX):
        config.mathjax_path = f"{TARGET}/{SCRIPT}"


def _copy_after_build(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        copy_mathjax(Path(app.outdir) / "_static")


def _is_thebe(asset) -> bool:
    name = getattr(asset, "filename", asset) or ""
    body = (getattr(asset, "attributes", None) or {}).get("body", "")
    return "thebe" in str(name) or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]


def setup(app):
    mathjax_source()  # fail the build early, with the install command, if it is missing
    app.connect("config-inited", _use_local_script)
    app.connect("html-page-context", _drop_thebe, priority=900)  # after every other extension
    app.connect("build-finished", _copy_after_build)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
