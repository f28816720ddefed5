"""Verb `sitecheck`: open every page of the built site in headless Chromium, as a reader would.

    python -m course sitecheck [--site _build/html] [--screenshots build/screenshots]

The site is served on 127.0.0.1 by a local web server; every request that leaves it is
blocked and counted (the site must work offline). For each html page the check:

- waits for MathJax to finish, then fails on formulas left as raw TeX (``\\(``, ``\\[`` or
  ``$$`` in the visible text outside code), on MathJax error nodes, and on fewer typeset
  formulas than the page has math elements;
- fails on console errors, uncaught exceptions, failed or non-local requests and local
  responses >= 400;
- fails on display equations wider than their column at 1280 px (cut off or scrolled
  sideways: split them over lines);
- fails on links to local files that do not exist, and on ``#anchors`` missing from the page
  they point into;
- fails on images that do not decode;
- checks that the Colab buttons open a released notebook of the public repository of
  course.toml, on its branch, and that links to GitHub point into that repository; on a
  notebook's page, that its Colab button opens that notebook and its download button
  gives the released notebook, byte for byte;
- saves a screenshot of the page's first screen to ``<screenshots>/<page path>.png``.

Chromium is Debian's ``chromium`` (``/usr/bin/chromium``, installed by .ci/run) or the
one in ``$CHROMIUM``; Playwright (PyPI) drives it. Nothing is downloaded.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import shutil
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from course import ROOT
from course.config import log, settings

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's own sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these, Chromium calls Google's services at start-up; offline they fail noisily.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
PAGE_TIMEOUT_MS = 30_000

# In the page: wait for MathJax (if the page loads it), then report what a reader sees.
INSPECT_JS = """
async (timeoutMs) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    const late = new Promise((_, reject) => setTimeout(() => reject(new Error("MathJax did not finish")), timeoutMs));
    await Promise.race([MathJax.startup.promise, late]);
  }
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  const text = body.innerText || body.textContent;
  const images = [];
  for (const img of document.images) {
    img.loading = 'eager';
    let ok = true;
    try { await img.decode(); } catch (e) { ok = false; }
    images.push({src: img.currentSrc || img.src, ok: ok && img.naturalWidth > 0});
  }
  // Display equations wider than the column they sit in: cut off or scrolled sideways.
  const wide = [];
  for (const eq of document.querySelectorAll('mjx-container[display="true"]')) {
    const math = eq.querySelector('mjx-math');
    const column = eq.closest('article, main, .bd-article, .bd-content') || eq.parentElement;
    const width = math ? math.getBoundingClientRect().width : 0;
    const room = Math.min(eq.clientWidth || column.clientWidth, column.clientWidth);
    if (math && width > room + 1) {
      const label = eq.closest('.math') ? (eq.closest('.math').id || '') : '';
      wide.push({width: Math.round(width), room: Math.round(room),
                 tex: (eq.getAttribute('aria-label') || eq.textContent || '').slice(0, 60), id: label});
    }
  }
  return {
    wideEquations: wide,
    text: text,
    mathElements: document.querySelectorAll('.math').length,
    typeset: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    hasMathJax: !!(window.MathJax && MathJax.startup),  // set by the script, not by the page's config
    links: Array.from(document.querySelectorAll('a[href]')).map(a => ({href: a.href,
        raw: a.getAttribute('href'), title: a.getAttribute('title') || a.textContent.trim()})),
    images: images,
  };
}
"""
REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="\d+; url=([^"]+)"', re.I)
RAW_TEX = ["\\(", "\\)", "\\[", "\\]", "$$"]


@dataclass
class PageReport:
    """What the browser found on one page (path relative to the site root)."""

    path: str
    problems: list[str] = field(default_factory=list)
    formulas: int = 0
    images: int = 0
    links: int = 0
    seconds: float = 0.0


@dataclass
class SiteReport:
    pages: list[PageReport]
    blocked: list[str]  # requests that tried to leave the local server

    @property
    def problems(self) -> list[str]:
        found = [f"{p.path}: {problem}" for p in self.pages for problem in p.problems]
        return found + [f"request to the network (the site must work offline): {u}" for u in self.blocked]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass


@contextlib.contextmanager
def serve(site: Path):
    """Serve ``site`` on 127.0.0.1 (a free port) for the duration; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium_path() -> str:
    """Debian's Chromium (or $CHROMIUM); a RuntimeError names the package when it is missing."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("Chromium is not installed: `apt-get install chromium` (Debian), "
                           "or set CHROMIUM to a Chromium or Chrome executable")
    return found


def colab_prefix(repo: str, branch: str) -> str:
    slug = repo.removeprefix("https://github.com/").rstrip("/")
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/"


def _local_target(site: Path, base: str, url: str) -> tuple[Path, str] | None:
    """(file in the site, fragment) of a link to the local server, or None for other links."""
    if not url.startswith(base):
        return None
    parsed = urllib.parse.urlsplit(url)
    rel = urllib.parse.unquote(parsed.path).lstrip("/")
    path = site / rel
    if rel == "" or rel.endswith("/"):
        path = path / "index.html"
    return path, parsed.fragment


def _check_notebook_buttons(report: PageReport, site: Path, base: str, links: list[dict], colab: str,
                            root: Path) -> None:
    """A released notebook's page opens that notebook in Colab and downloads the release itself."""
    notebook = report.path.removesuffix(".html") + ".ipynb"
    if not (root / notebook).is_file():
        return  # not a notebook page
    hrefs = [link["href"] for link in links]
    if colab + notebook not in hrefs:
        report.problems.append(f"no Colab button opening {colab + notebook}")
    downloads = [href for href in hrefs if href.startswith(base) and href.endswith(".ipynb")]
    if not downloads:
        report.problems.append("no download button for the notebook")
    for href in downloads:
        path, _ = _local_target(site, base, href)
        if path.is_file() and path.read_bytes() != (root / notebook).read_bytes():
            report.problems.append(f"the download {href.removeprefix(base)} is not the released {notebook}")


def _check_links(report: PageReport, site: Path, base: str, links: list[dict], ids_of, root: Path) -> None:
    """Local links resolve (file and anchor); Colab and GitHub links go to the public repository."""
    public = settings(root)["public"]
    repo = public["repository"].rstrip("/")
    colab = colab_prefix(repo, public["branch"])
    report.links = len(links)
    _check_notebook_buttons(report, site, base, links, colab, root)
    for link in links:
        href = link["href"]
        if href.startswith(("mailto:", "javascript:")):
            continue
        local = _local_target(site, base, href)
        if local is not None:
            path, fragment = local
            if not path.is_file():
                report.problems.append(f"broken link {link['raw']!r} ({link['title'][:40]!r}): "
                                       f"{path.relative_to(site)} does not exist")
            elif fragment and path.suffix == ".html" and fragment not in ids_of(path):
                report.problems.append(f"link {link['raw']!r} points to a missing anchor #{fragment}")
            continue
        if href.startswith("https://colab.research.google.com/"):
            if not href.startswith(colab):
                report.problems.append(f"Colab link {href} does not open the public repository ({colab})")
            else:
                target = href.removeprefix(colab)
                if not target.startswith("assignments/") or not (root / target).is_file():
                    report.problems.append(f"Colab link {href} does not open a released notebook")
        elif href.startswith("https://github.com/") and not (href == repo or href.startswith(repo + "/")
                                                             or href.startswith(repo + "?")):
            report.problems.append(f"GitHub link {href} is not the public repository {repo}")


def check_page(page, site: Path, base: str, rel: str, ids_of, root: Path, screenshots: Path | None) -> PageReport:
    """Open ``rel`` in ``page`` (a Playwright page) and return what is wrong with it."""
    report = PageReport(rel)
    start = time.perf_counter()
    redirect = REDIRECT.search((site / rel).read_text(errors="replace"))
    if redirect:  # a stub page that sends the reader on (index.html): its target must exist
        target = (site / rel).parent / redirect.group(1)
        if not target.is_file():
            report.problems.append(f"redirects to {redirect.group(1)}, which does not exist")
        return report
    console: list[str] = []
    failed: list[str] = []
    handlers = {
        "console": lambda msg: console.append(msg.text) if msg.type == "error" else None,
        "pageerror": lambda exc: console.append(f"uncaught: {exc}"),
        # Requests that leave the local server are blocked and reported once, by check_site.
        "requestfailed": lambda req: failed.append(f"{req.url} ({req.failure})") if req.url.startswith(base) else None,
        "response": lambda resp: failed.append(f"{resp.url} (HTTP {resp.status})") if resp.status >= 400 else None,
    }
    for event, handler in handlers.items():
        page.on(event, handler)
    try:
        page.goto(base + urllib.parse.quote(rel), wait_until="load", timeout=PAGE_TIMEOUT_MS)
        seen = page.evaluate(INSPECT_JS, PAGE_TIMEOUT_MS)
        page.wait_for_timeout(100)  # let late console messages arrive
        if screenshots is not None:
            shot = screenshots / (rel.removesuffix(".html") + ".png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot))
    except PlaywrightError as exc:  # a page that does not load or whose check throws: report it, go on
        report.problems.append(f"the page could not be checked: {str(exc).splitlines()[0]}")
        return report
    finally:
        for event, handler in handlers.items():
            page.remove_listener(event, handler)
    report.problems += [f"console error: {text}" for text in console]
    report.problems += [f"request failed: {what}" for what in failed]
    raw = [token for token in RAW_TEX if token in seen["text"]]
    if raw:
        at = min(seen["text"].find(t) for t in raw)
        report.problems.append(f"raw TeX {raw} left in the text: ...{seen['text'][max(0, at - 40):at + 40]!r}...")
    if seen["mathElements"] and not seen["hasMathJax"]:
        report.problems.append("the page has math but MathJax did not load")
    if seen["typeset"] < seen["mathElements"]:
        report.problems.append(f"only {seen['typeset']} of {seen['mathElements']} formulas were typeset")
    for eq in seen["wideEquations"]:
        report.problems.append(f"display equation {eq['id'] or eq['tex']!r} is {eq['width']} px wide in a "
                               f"{eq['room']} px column at {VIEWPORT['width']} px (split it over lines)")
    if seen["mathErrors"]:
        report.problems.append(f"{seen['mathErrors']} formulas failed to typeset (MathJax errors)")
    report.formulas = seen["typeset"]
    report.images = len(seen["images"])
    report.problems += [f"image does not load: {img['src']}" for img in seen["images"] if not img["ok"]]
    _check_links(report, site, base, seen["links"], ids_of, root)
    report.seconds = time.perf_counter() - start
    return report


def check_site(site: Path, root: Path = ROOT, screenshots: Path | None = None,
               only: list[str] | None = None) -> SiteReport:
    """Open every html page of ``site`` (or those of ``only``) in headless Chromium; return the reports."""
    site = Path(site).resolve()
    pages = sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                   if not str(p.relative_to(site)).startswith("_"))  # _static/: theme templates, not pages
    if only is not None:
        pages = [p for p in pages if p in only]
    blocked: list[str] = []
    id_cache: dict[Path, set] = {}

    with serve(site) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)

        def route(route):
            if route.request.url.startswith(base):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", route)
        page = context.new_page()

        def ids_of(path: Path) -> set:
            if path not in id_cache:
                id_cache[path] = set(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))
            return id_cache[path]

        reports = [check_page(page, site, base, rel, ids_of, root, screenshots) for rel in pages]
        browser.close()
    return SiteReport(reports, sorted(set(blocked)))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course sitecheck", description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html", help="built site (default: _build/html)")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "build" / "screenshots",
                        help="folder for one screenshot per page (default: build/screenshots)")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"no site in {args.site}: run `./course.sh book` first", file=sys.stderr)
        return 2
    start = time.perf_counter()
    report = check_site(args.site, ROOT, args.screenshots)
    for page in report.pages:
        state = "ok" if not page.problems else f"{len(page.problems)} problem(s)"
        log("sitecheck", f"{page.path}: {page.formulas} formulas, {page.images} images, "
                         f"{page.links} links, {page.seconds:.1f} s: {state}")
    for problem in report.problems:
        log("sitecheck", f"PROBLEM {problem}")
    log("sitecheck", f"{len(report.pages)} pages in {time.perf_counter() - start:.1f} s; "
                     f"screenshots in {args.screenshots}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
