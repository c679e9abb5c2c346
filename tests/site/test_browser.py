"""The built site in a real browser: headless Chromium driven by Playwright.

A local HTTP server serves _build/html on 127.0.0.1; every request to any other host
is blocked and reported, so a page that needs the network fails. For each page of
_toc.yml (the introduction, every chapter, the back matter) the test waits for
MathJax to finish, then checks that every equation became a rendered MathJax element
with no TeX error and no raw TeX left in the text, that every image loaded, that the
console shows no error, and saves a full-page screenshot to _build/screenshots/.
It then follows the previous/next links through the whole book and searches
search.html for words that occur in the chapters.

The browser is Debian's `chromium` (or $CHROMIUM); Playwright never downloads one.
Without a browser the test is skipped, unless REQUIRE_BROWSER=1 (set by .ci/run),
which makes a missing browser a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from sitepages import CHAPTERS, PAGES, ROOT, SCREENSHOTS, SITE, Page

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Words the search page must find, and the chapter each must lead to; a chapter's
# word is checked only when that chapter is in _toc.yml.
SEARCHES = {
    "hyperspherical": "book/01-random-angles",
    "trigamma": "book/01-random-angles",
    "Bhattacharyya": "book/03-gaussian-distances",
    "夹角": "book/01-random-angles",  # a word inside the Chinese title of article 7076
}
TIMEOUT_MS = 60_000  # generous: the machine may be heavily loaded


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    executable = _chromium()
    if executable is None:
        message = "no Chromium found (apt-get install -y chromium, or set CHROMIUM)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        # A fresh profile (--user-data-dir) per run: nothing cached between runs.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            service_workers="block",
        )
        try:
            yield context
        finally:
            context.close()


class Watched:
    """A browser page that records console errors, page errors and bad requests."""

    def __init__(self, context, origin: str, mathjax: bool = True) -> None:
        self.origin = origin
        self.mathjax = mathjax
        self.problems: list[str] = []
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"JavaScript error: {exc}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _route(self, route) -> None:
        url = route.request.url
        if not self.mathjax and url.startswith(self.origin + "/_static/mathjax/"):
            # Tests of navigation and search need no typesetting: skip its cost.
            route.fulfill(status=200, content_type="text/javascript", body="")
        elif url.startswith(self.origin + "/") or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            self.problems.append(f"request to the network blocked: {url}")
            route.abort("blockedbyclient")

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def _failed(self, request) -> None:
        if not request.url.startswith(self.origin + "/"):
            return  # already reported as blocked
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def goto(self, path: str, wait_until: str = "load") -> None:
        self.page.goto(self.origin + path, wait_until=wait_until)

    def path(self) -> str:
        """The current page's path on the server, without query or fragment."""
        return "/" + self.page.url.split("/", 3)[3].split("#")[0].split("?")[0]

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def watched(browser, server) -> Iterator[Watched]:
    page = Watched(browser, server)
    yield page
    page.close()


@pytest.fixture
def watched_no_math(browser, server) -> Iterator[Watched]:
    page = Watched(browser, server, mathjax=False)
    yield page
    page.close()


# Runs in the page once MathJax (if any) has finished: what did it render?
INSPECT_PAGE = """
async () => {
  const result = {mathjax: null, display: 0, displayUnrendered: [], inline: 0,
                  inlineUnrendered: [], errors: [], rawTex: [], images: [], brokenImages: []};
  if (window.MathJax && window.MathJax.startup) {  // else only the config: no MathJax
    await window.MathJax.startup.promise;
    result.mathjax = window.MathJax.version;
  }
  const snippet = el => el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 80);
  for (const el of document.querySelectorAll('div.math')) {
    result.display += 1;
    if (!el.querySelector('mjx-container[display="true"]')) result.displayUnrendered.push(snippet(el));
  }
  for (const el of document.querySelectorAll('span.math')) {
    result.inline += 1;
    if (!el.querySelector('mjx-container')) result.inlineUnrendered.push(snippet(el));
  }
  for (const el of document.querySelectorAll('mjx-merror, [data-mjx-error]')) {
    result.errors.push(el.getAttribute('data-mjx-error') || snippet(el));
  }
  // Raw TeX left in the reading text (code, listings and rendered math excluded).
  const main = document.querySelector('main') || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, {
    acceptNode: node => node.parentElement.closest(
      'pre, code, script, style, textarea, mjx-container, .highlight, .cell_input, .mjx-copytext')
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const raw = /\\$\\$|\\\\begin\\{|\\\\end\\{|\\\\\\[|\\\\\\]|\\\\\\(|\\\\frac|\\\\mathbb/;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (raw.test(node.textContent)) result.rawTex.push(node.textContent.trim().slice(0, 80));
  }
  // Images: wait for those still loading, then require pixels.
  const images = Array.from(document.images);
  await Promise.all(images.filter(img => !img.complete).map(img => new Promise(resolve => {
    img.addEventListener('load', resolve); img.addEventListener('error', resolve);
  })));
  result.noAlt = [];
  for (const img of images) {
    const name = img.getAttribute('src') || '';
    result.images.push(name);
    if (!(img.complete && img.naturalWidth > 0)) result.brokenImages.push(name);
    // alt text that describes the image: not missing, not a file name
    const alt = (img.getAttribute('alt') || '').trim();
    if (!alt || /\\.(png|svg|jpe?g|gif)$/i.test(alt) || alt === name) result.noAlt.push(name);
  }
  return result;
}
"""


def _screenshot(page, name: str, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name.replace('/', '__')}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def _screenshots(page, name: str) -> list[Path]:
    """The top of the page, and the first display equation and figure in view.

    (A full-page shot of a long chapter is over 20,000 px tall and takes seconds on a
    loaded machine; SITE_FULL_SCREENSHOTS=1 adds one per page.)
    """
    shots = [_screenshot(page, name)]
    for suffix, selector in (("equation", "div.math"), ("figure", "main img")):
        element = page.locator(selector).first
        if element.count():
            element.evaluate("el => el.scrollIntoView({block: 'center'})")
            shots.append(_screenshot(page, f"{name}--{suffix}"))
    if os.environ.get("SITE_FULL_SCREENSHOTS") == "1":
        shots.append(_screenshot(page, f"{name}--full", full_page=True))
    return shots


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.docname)
def test_page_renders(watched: Watched, page: Page) -> None:
    """At 1280 px, light: math, images, alt text, console; and (one visit for all of it)
    the page's weight and its wide content (test_wide_content_scrolls_visibly)."""
    started = time.monotonic()
    sizes: dict[str, int] = {}

    def record(response) -> None:
        try:
            sizes[response.url.split("?")[0]] = len(response.body())
        except Exception:  # a redirect or an aborted request has no body
            pass

    watched.page.on("response", record)
    watched.goto(page.url_path)
    result = watched.page.evaluate(INSPECT_PAGE)
    watched.page.wait_for_load_state("networkidle")
    weight_problems = _weight_problems(page, sizes, bool(result["mathjax"]))
    overflow_problems = _overflow_problems(watched, page, "desktop")
    shots = _screenshots(watched.page, page.docname)
    assert all(shot.stat().st_size > 0 for shot in shots)
    problems = list(watched.problems)
    if result["display"] or result["inline"]:
        if not (result["mathjax"] or "").startswith("3."):
            problems.append(f"math on the page but MathJax 3 did not run (version {result['mathjax']})")
    problems += [f"display equation not rendered: {t}" for t in result["displayUnrendered"]]
    problems += [f"inline math not rendered: {t}" for t in result["inlineUnrendered"]]
    problems += [f"MathJax error: {t}" for t in result["errors"]]
    problems += [f"raw TeX in the text: {t}" for t in result["rawTex"]]
    problems += [f"image did not load: {t}" for t in result["brokenImages"]]
    problems += [f"image without alt text: {t}" for t in result["noAlt"]]
    problems += weight_problems + overflow_problems
    if page.is_chapter:
        if not result["display"]:
            problems.append("a chapter with no display equation: is the math markup lost?")
    print(f"{page.docname}: {result['display']} display and {result['inline']} inline equations, "
          f"{len(result['images'])} images, {time.monotonic() - started:.1f} s -> {len(shots)} screenshots")
    assert not problems, f"{page.docname}:\n" + "\n".join(problems)


def test_previous_next_navigation(watched_no_math: Watched) -> None:
    """Clicking "next" walks the book in _toc.yml order; "previous" links walk it back."""
    watched = watched_no_math
    order = [p.url_path for p in PAGES]
    problems = []

    def link(selector: str) -> str | None:
        href = watched.page.eval_on_selector_all(selector, "els => els.length ? els[0].href : null")
        return None if href is None else "/" + href.split("/", 3)[3].split("#")[0]

    watched.goto(order[0], wait_until="domcontentloaded")
    for i, expected in enumerate(order):
        if watched.path() != expected:
            problems.append(f"step {i}: at {watched.path()}, expected {expected}")
            break
        previous = link("a.left-prev")
        if i > 0 and previous != order[i - 1]:
            problems.append(f"{expected}: previous is {previous}, expected {order[i - 1]}")
        if i + 1 < len(order):
            with watched.page.expect_navigation(wait_until="domcontentloaded"):
                watched.page.click("a.right-next")
    else:
        if link("a.right-next") is not None:
            problems.append(f"the last page {order[-1]} has a next link")
        if len(order) > 1:  # and one click back
            with watched.page.expect_navigation(wait_until="domcontentloaded"):
                watched.page.click("a.left-prev")
            if watched.path() != order[-2]:
                problems.append(f"previous from {order[-1]} went to {watched.path()}")
    assert not problems + watched.problems, "\n".join(problems + watched.problems)


@pytest.mark.parametrize(
    "word", [w for w, doc in SEARCHES.items() if any(p.docname == doc for p in PAGES)]
)
def test_search_finds_chapter_word(watched_no_math: Watched, word: str) -> None:
    watched = watched_no_math
    expected = SEARCHES[word]
    watched.goto(f"/search.html?q={word}")
    watched.page.wait_for_function(
        "() => /Search finished|found|did not match/i.test("
        "(document.querySelector('#search-results') || {}).innerText || '')"
    )
    hits = watched.page.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(a => a.getAttribute('href'))"
    )
    assert any(expected in (href or "") for href in hits), f"search for {word!r} found {hits}"
    _screenshot(watched.page, f"search-{word}")
    assert not watched.problems, "\n".join(watched.problems)
    # The result leads to the chapter.
    with watched.page.expect_navigation(wait_until="domcontentloaded"):
        watched.page.click(f"#search-results ul.search li a[href*='{expected}']")
    assert watched.path() == f"/{expected}.html"


# -- every reader, every screen (issue 24) -------------------------------------------
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
WIDE = 992  # the themes' breakpoint: below it both sidebars are dialogs behind a button


def _dialog_open(page, selector: str) -> bool:
    return page.evaluate(f"() => !!(document.querySelector('{selector}') || {{}}).open")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_sidebar_toggles_open_and_close(watched_no_math: Watched, viewport: str) -> None:
    """The ☰ button opens and closes the chapter list, and on a phone the "on this page"
    button opens the page's contents. (Both were dead at every width: the themes bound
    their handlers to hidden duplicates, see _templates/sections/header.html.)"""
    watched = watched_no_math
    page = watched.page
    page.set_viewport_size(VIEWPORTS[viewport])
    target = CHAPTERS[0] if CHAPTERS else PAGES[0]
    watched.goto(target.url_path)
    primary = page.locator(".primary-toggle:visible")
    assert primary.count() == 1, "one visible ☰ button"
    chapter_links = page.locator("nav.bd-docs-nav a.reference.internal:visible")
    if VIEWPORTS[viewport]["width"] < WIDE:
        assert chapter_links.count() == 0, "on a phone the chapter list starts hidden"
        primary.click()
        page.wait_for_function("() => document.querySelector('#pst-primary-sidebar-modal').open")
        assert chapter_links.count() >= len(CHAPTERS), "the dialog lists every chapter"
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.querySelector('#pst-primary-sidebar-modal').open")
        secondary = page.locator(".secondary-toggle:visible")
        assert secondary.count() == 1, "one visible 'on this page' button"
        secondary.click()
        page.wait_for_function(
            "() => document.querySelector('#pst-secondary-sidebar-modal').open")
        sections = page.locator("#pst-secondary-sidebar-modal .toc-entry a:visible")
        assert sections.count() >= 2, "the dialog lists the page's sections"
        page.keyboard.press("Escape")
        page.wait_for_function(
            "() => !document.querySelector('#pst-secondary-sidebar-modal').open")
    else:
        sidebar = page.locator("#pst-primary-sidebar")
        assert sidebar.is_visible() and chapter_links.count() >= len(CHAPTERS)
        primary.click()
        sidebar.wait_for(state="hidden")
        assert not _dialog_open(page, "#pst-primary-sidebar-modal")
        primary.click()
        sidebar.wait_for(state="visible")
        # the page's contents need no button here: they are in the right-hand column
        assert page.locator("#pst-secondary-sidebar .toc-entry a:visible").count() >= 2
    assert not watched.problems, "\n".join(watched.problems)


# Runs in the page once MathJax has finished: what is wider than its column, and can
# the reader see that it is?
INSPECT_OVERFLOW = """
async () => {
  if (window.MathJax && window.MathJax.startup) await window.MathJax.startup.promise;
  const result = {checked: 0, overflowing: 0, hidden: [], pageScroll: 0};
  const boxes = document.querySelectorAll(
    'main pre, main div.math mjx-container[display="true"], ' +
    'main .pst-scrollable-table-container, main .output.text_html, ' +
    'main div.cell_output figure');
  for (const el of boxes) {
    result.checked += 1;
    if (el.scrollWidth <= el.clientWidth + 1) continue;
    result.overflowing += 1;
    const style = getComputedStyle(el);
    // it scrolls, and a scroll shadow (a background that scrolls with the content)
    // marks the hidden side: overlay scrollbars (phones, macOS) show nothing at rest
    const scrolls = ['auto', 'scroll'].includes(style.overflowX);
    const shadow = style.backgroundAttachment.includes('local')
      && style.backgroundImage.includes('gradient');
    if (!(scrolls && shadow)) {
      result.hidden.push(`${el.tagName.toLowerCase()}.${el.className}: ` +
        `${el.scrollWidth} px in ${el.clientWidth} px (overflow-x ${style.overflowX}, ` +
        `scroll shadow ${shadow}): ` + el.textContent.trim().slice(0, 60));
    }
  }
  // nothing widens the page itself (a sideways-scrolling page hides its right side)
  result.pageScroll = document.scrollingElement.scrollWidth - window.innerWidth;
  return result;
}
"""


def _overflow_problems(watched: Watched, page: Page, viewport: str) -> list[str]:
    result = watched.page.evaluate(INSPECT_OVERFLOW)
    problems = [f"cut off without a visible scroll: {text}" for text in result["hidden"]]
    if result["pageScroll"] > 1:
        problems.append(f"the page is {result['pageScroll']} px wider than the screen")
    print(f"{page.docname} at {viewport}: {result['overflowing']} of {result['checked']} "
          "code, equation, table and figure boxes scroll sideways")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.docname)
def test_wide_content_scrolls_visibly(watched: Watched, page: Page) -> None:
    """On a phone (and, in test_page_renders, on a desktop), code, display equations,
    tables and figures wider than the column scroll inside it with a visible cue; the
    page itself never scrolls sideways."""
    watched.page.set_viewport_size(VIEWPORTS["phone"])
    watched.goto(page.url_path)
    problems = _overflow_problems(watched, page, "phone")
    assert not problems + watched.problems, "\n".join(problems + watched.problems)


# The WCAG contrast of every text in the claims ledger against what is behind it.
INSPECT_LEDGER_CONTRAST = """
() => {
  const rgba = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const lin = c => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.querySelectorAll('table.ledger caption, table.ledger th, '
                                             + 'table.ledger td')) {
    const fg = luminance(rgba(getComputedStyle(el).color));
    const bg = luminance(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    worst.push([Math.round(ratio * 100) / 100, el.tagName.toLowerCase(),
                el.textContent.trim().slice(0, 40)]);
  }
  worst.sort((a, b) => a[0] - b[0]);
  return worst;
}
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.docname)
def test_ledger_is_legible(watched_no_math: Watched, page: Page, scheme: str) -> None:
    """The claims ledger follows the colour scheme: every cell and its caption at WCAG
    AA contrast (4.5:1); in dark mode it was a light-grey slab with a 1.7:1 caption."""
    watched = watched_no_math
    watched.page.emulate_media(color_scheme=scheme)
    watched.goto(page.url_path)
    assert watched.page.evaluate("() => document.documentElement.dataset.theme") == scheme
    cells = watched.page.evaluate(INSPECT_LEDGER_CONTRAST)
    assert cells, f"{page.docname} has no claims ledger"
    low = [cell for cell in cells if cell[0] < 4.5]
    assert not low, f"{page.docname} ({scheme}): text below 4.5:1 contrast: {low[:5]}"
    table = watched.page.locator("table.ledger").first
    table.scroll_into_view_if_needed()
    _screenshot(watched.page, f"{page.docname}--{scheme}-ledger")


# What a first visit downloads, besides the page's own HTML and figures: shared assets.
# With math: MathJax's script (1.2 MB) and fonts, the theme's stylesheets (0.5 MB), the
# search index, the theme's scripts. Without math, 1.21 MB at the last count, of which
# the search index (0.28 MB with the exercises and the lib reference) grows with the
# book's text. The budgets leave some room, but not the 1.5 MB of the Font Awesome
# script the theme used to load on every page, nor MathJax on a page without math.
SHARED_BUDGET = {True: 2_600_000, False: 1_300_000}


def _weight_problems(page: Page, sizes: dict[str, int], has_math: bool) -> list[str]:
    """What the first visit downloaded, printed; the shared assets held to the budget."""
    own = {url: n for url, n in sizes.items()
           if url.endswith(page.url_path) or "/_images/" in url}
    shared = sum(sizes.values()) - sum(own.values())
    heaviest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
    print(f"{page.docname}: {sum(sizes.values()) / 1e6:.2f} MB in {len(sizes)} requests "
          f"(page and figures {sum(own.values()) / 1e6:.2f} MB, shared {shared / 1e6:.2f} MB"
          f"{', with MathJax' if has_math else ''}); heaviest "
          + ", ".join(f"{url.rsplit('/', 1)[-1]} {n / 1e6:.2f} MB" for url, n in heaviest))
    problems = []
    if any("fontawesome.js" in url for url in sizes):
        problems.append("the Font Awesome script is back")
    if shared > SHARED_BUDGET[has_math]:
        problems.append(f"{shared / 1e6:.2f} MB of shared assets, over the budget of "
                        f"{SHARED_BUDGET[has_math] / 1e6:.1f} MB")
    return problems


# -- accessibility: axe-core, run in the page ---------------------------------------
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Violations caused by the themes or extensions, not by the book's markup: rule -> (a
# fragment every offending element's selector contains, the upstream reason). Any other
# violation fails the test.
UPSTREAM_VIOLATIONS = {
    "label-content-name-mismatch": (
        "search-button",
        "pydata-sphinx-theme 0.17.1: the search buttons show 'Search Ctrl+K' but are "
        "labelled 'Search' (components/search-button-field.html)"),
    "region": (
        "sidebar-primary-item",
        "pydata-sphinx-theme 0.17.1: the primary sidebar's first items sit outside any "
        "landmark element"),
    "aria-allowed-role": (
        "#id",
        "sphinxcontrib-bibtex 2.7 / docutils: each reference is a <div "
        "role=\"doc-biblioentry\">, a role axe allows only on list items"),
    "aria-deprecated-role": (
        "#id", "the same elements: ARIA 1.3 deprecates doc-biblioentry"),
    "aria-required-children": (
        ".citation-list",
        "docutils: the citation list (role=\"doc-bibliography\") holds links beside its "
        "entries"),
}


# A phone and a desktop, each in light and dark mode: about 2 s per page each.
AXE_SETTINGS = [("phone", "light"), ("phone", "dark"), ("desktop", "light"), ("desktop", "dark")]


@pytest.mark.parametrize(("viewport", "scheme"), AXE_SETTINGS, ids="-".join)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.docname)
def test_accessibility(watched_no_math: Watched, page: Page, viewport: str,
                       scheme: str) -> None:
    """axe-core finds no violation in the book's own markup (contrast, names, tables,
    landmarks...); those of the themes are listed above with their upstream cause.
    MathJax's output is left out (it is MathJax's markup, with its own assistive
    MathML), so the page is checked without typesetting, which saves seconds a page."""
    watched = watched_no_math
    if not AXE.is_file():
        pytest.fail(f"{AXE} missing: run scripts/setup-env (npm ci installs axe-core)")
    watched.page.set_viewport_size(VIEWPORTS[viewport])
    watched.page.emulate_media(color_scheme=scheme)
    watched.goto(page.url_path)
    watched.page.add_script_tag(path=str(AXE))
    violations = watched.page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, targets: v.nodes.map(n => n.target.join(' ')),"
        " summary: v.nodes[0].failureSummary}))")
    ours, upstream = [], []
    for v in violations:
        fragment, _ = UPSTREAM_VIOLATIONS.get(v["id"], (None, None))
        mine = [t for t in v["targets"] if fragment is None or fragment not in t]
        upstream += [v["id"]] * (len(v["targets"]) - len(mine))
        if mine:
            ours.append(f"{v['id']} ({v['impact']}) on {mine[:3]}: {v['summary'][:200]}")
    counts = {rule: upstream.count(rule) for rule in sorted(set(upstream))}
    print(f"{page.docname} {viewport} {scheme}: {len(ours)} of the book's own, "
          f"upstream {counts}")
    assert not ours, f"{page.docname} ({viewport}, {scheme}):\n" + "\n".join(ours)



@pytest.mark.parametrize("page", [p for p in PAGES if p.docname in
                                  ("book/01-random-angles", "book/references")],
                         ids=lambda p: p.docname)
def test_chinese_is_drawn_with_a_real_font(watched_no_math: Watched, page: Page) -> None:
    """Every Chinese character is marked lang="zh" and drawn with the site's own font
    subset (_assets/fonts/), not a system font a reader may lack: Chromium reports, per
    text node, which fonts drew how many glyphs (CDP CSS.getPlatformFontsForNode)."""
    watched = watched_no_math
    watched.goto(page.url_path)
    watched.page.evaluate("async () => { await document.fonts.ready; }")
    unmarked = watched.page.evaluate(
        """() => { const out = []; const w = document.createTreeWalker(
             document.querySelector('main'), NodeFilter.SHOW_TEXT);
           for (let n = w.nextNode(); n; n = w.nextNode()) {
             if (/[\u3400-\u9fff]/.test(n.textContent) && !n.parentElement.closest(
                 '[lang="zh"], pre, code, script, style')) out.push(n.textContent.trim());
           } return out; }""")
    assert not unmarked, f"Chinese text not marked lang=\"zh\": {unmarked[:3]}"
    cdp = watched.page.context.new_cdp_session(watched.page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    spans = cdp.send("DOM.querySelectorAll", {"nodeId": root,
                                              "selector": "main span[lang='zh']"})["nodeIds"]
    assert spans, f"{page.docname}: no Chinese text found"
    problems = []
    for node in spans:
        text = cdp.send("DOM.getOuterHTML", {"nodeId": node})["outerHTML"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        system = [f"{f['familyName']} ({f['glyphCount']} glyphs)" for f in fonts
                  if not f.get("isCustomFont")]
        if system or not fonts:
            problems.append(f"{text[:80]}: drawn with {system or 'nothing'}")
    assert not problems, "\n".join(problems[:5])
    assert not watched.problems, "\n".join(watched.problems)


# -- figures: vector, legible on a phone, legible in dark mode ------------------------
#: The smallest figure text a reader may be shown, in CSS pixels. The figures' labels
#: were 5-8 px on a phone (100-dpi PNGs shrunk to 0.42-0.60 of their size).
MIN_FIGURE_TEXT_PX = 9

# For every figure: its source, its width and smallest text in the SVG (Matplotlib
# draws a text as glyph paths in a group scaled by its size in pt / 100), and the width
# it is shown at. Independent of _ext/book_site.py, which sets the figures' min-width.
INSPECT_FIGURES = """
async () => {
  const out = [];
  for (const img of document.querySelectorAll('main img')) {
    const src = img.getAttribute('src');
    const item = {src, svg: /\\.svg$/.test(src), widthPt: null, minTextPt: null};
    if (item.svg) {
      const text = await (await fetch(img.src)).text();
      const width = text.match(/<svg\\b[^>]*?\\bwidth="([\\d.]+)pt"/);
      item.widthPt = width ? Number(width[1]) : null;
      const sizes = [...text.matchAll(
        /<g id="text_\\d+">\\s*<!--[\\s\\S]*?-->\\s*<g transform="[^"]*?scale\\(([\\d.]+) -/g)]
        .map(m => 100 * Number(m[1]));
      item.minTextPt = sizes.length ? Math.min(...sizes) : null;
    }
    const style = getComputedStyle(img);
    item.shownPx = img.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    out.push(item);
  }
  return out;
}
"""

# The part of an element the reader sees: its box cut by every scrolling ancestor and
# by the window, in the window's coordinates.
VISIBLE_PART = """
el => {
  let {left, top, right, bottom} = el.getBoundingClientRect();
  for (let box = el.parentElement; box; box = box.parentElement) {
    if (getComputedStyle(box).overflowX === 'visible') continue;
    const r = box.getBoundingClientRect();
    left = Math.max(left, r.left); right = Math.min(right, r.right);
    top = Math.max(top, r.top); bottom = Math.min(bottom, r.bottom);
  }
  left = Math.max(left, 0); top = Math.max(top, 0);
  right = Math.min(right, window.innerWidth); bottom = Math.min(bottom, window.innerHeight);
  return {x: left, y: top, width: right - left, height: bottom - top};
}
"""

FIGURE_SETTINGS = [("phone", "light"), ("phone", "dark"), ("desktop", "light"),
                   ("desktop", "dark")]


def _contrast_of_figure(png: bytes) -> float:
    """WCAG contrast between a figure's background (its commonest colour) and its
    darkest ink (the 0.2 % darkest pixels): the labels against the paper."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float) / 255
    linear = np.where(pixels <= 0.03928, pixels / 12.92, ((pixels + 0.055) / 1.055) ** 2.4)
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722])
    values, counts = np.unique(np.round(luminance, 3), return_counts=True)
    paper = values[np.argmax(counts)]
    ink = np.quantile(luminance, 0.002)
    return (max(paper, ink) + 0.05) / (min(paper, ink) + 0.05)


@pytest.mark.parametrize(("viewport", "scheme"), FIGURE_SETTINGS, ids="-".join)
@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.docname)
def test_figures_are_legible(watched_no_math: Watched, page: Page, viewport: str,
                             scheme: str) -> None:
    """Every figure is an SVG whose smallest text is shown at MIN_FIGURE_TEXT_PX or more
    (a wide figure scrolls rather than shrinks: test_wide_content_scrolls_visibly checks
    the scroll is visible), and in dark mode its labels stand out from its background
    at 4.5:1 or more."""
    watched = watched_no_math
    watched.page.set_viewport_size(VIEWPORTS[viewport])
    watched.page.emulate_media(color_scheme=scheme)
    watched.goto(page.url_path)
    figures = watched.page.evaluate(INSPECT_FIGURES)
    problems = []
    smallest = []
    for i, figure in enumerate(figures):
        name = figure["src"].rsplit("/", 1)[-1][:12]
        if not figure["svg"]:
            problems.append(f"figure {i + 1} ({name}) is not vector (SVG)")
            continue
        if figure["widthPt"] is None or figure["minTextPt"] is None:
            problems.append(f"figure {i + 1} ({name}): no Matplotlib text found in the SVG")
            continue
        text_px = figure["minTextPt"] * figure["shownPx"] / figure["widthPt"]
        smallest.append(round(text_px, 1))
        if text_px < MIN_FIGURE_TEXT_PX:
            problems.append(f"figure {i + 1} ({name}): smallest text {text_px:.1f} px "
                            f"({figure['minTextPt']:.1f} pt in {figure['widthPt']:.0f} pt "
                            f"shown at {figure['shownPx']:.0f} px)")
        if scheme == "dark":
            image = watched.page.locator("main img").nth(i)
            image.scroll_into_view_if_needed()
            # only the part in view: a wide figure is clipped by its scrolling box
            visible = image.evaluate(VISIBLE_PART)
            contrast = _contrast_of_figure(watched.page.screenshot(clip=visible))
            if contrast < 4.5:
                problems.append(f"figure {i + 1} ({name}) in dark mode: labels at "
                                f"{contrast:.1f}:1 against the figure's background")
    print(f"{page.docname} {viewport} {scheme}: {len(figures)} figures, smallest text "
          f"per figure {smallest} px")
    assert figures, f"{page.docname} has no figure"
    assert not problems + watched.problems, "\n".join(problems + watched.problems)


# -- the chapters in JupyterLab (issue 25) -------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[str]:
    """JupyterLab from .venv (with the repository's settings, scripts/setup-env) serving
    a copy of chapter 1: running it must not touch book/."""
    import subprocess
    import urllib.request

    lab = ROOT / ".venv" / "bin" / "jupyter-lab"
    if not lab.is_file():
        pytest.skip("JupyterLab not installed in .venv")
    shutil.copy2(ROOT / "book" / "01-random-angles.md", tmp_path)
    # Every cell in the page (JupyterLab 4 renders only those in view by default), so
    # the test can see every prompt and output.
    tracker = tmp_path / ".lab-user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port, token = _free_port(), "book-test"
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONPATH")}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / ".jupyter-config"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / ".lab-user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / ".lab-workspaces"))
    server = subprocess.Popen(
        [str(lab), "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    origin = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{origin}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield f"{origin}/lab/tree/01-random-angles.md?token={token}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_chapter_opens_as_a_notebook_in_jupyterlab_and_runs(browser, jupyterlab: str) -> None:
    """A chapter's .md opens as a notebook (jupytext's viewer is the default for
    Markdown, scripts/jupyterlab-overrides.json), its MyST renders (jupyterlab-myst),
    and Run All Cells runs it to the end with no error."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(jupyterlab)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT_MS)
        assert not page.locator(".jp-FileEditor:visible").count(), "opened as a text file"
        # jupyterlab-myst renders the Markdown cells (in a "myst" widget): the MyST
        # directives show as what they mean (an admonition), not as their source
        page.wait_for_function("() => document.querySelectorAll("
                               "'.jp-Notebook .jp-MarkdownCell .myst').length > 10")
        page.wait_for_selector(".jp-Notebook .jp-MarkdownCell aside.myst-admonition",
                               state="attached", timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => document.querySelector('.jp-Notebook-ExecutionIndicator')"
            "?.getAttribute('data-status') === 'idle'", timeout=TIMEOUT_MS)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        code_cells = page.locator(".jp-Notebook .jp-CodeCell").count()
        page.wait_for_function(
            """n => { const prompts = [...document.querySelectorAll(
                   '.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
                 return prompts.length === n && prompts.every(t => /\\[\\d+\\]/.test(t)); }""",
            arg=code_cells, timeout=300_000)
        errors = page.eval_on_selector_all(
            ".jp-Notebook .jp-OutputArea-output[data-mime-type="
            "'application/vnd.jupyter.stderr']",
            "els => els.map(e => e.textContent).filter(t => /Traceback|Error/.test(t))")
        assert not errors, f"errors while running the chapter: {errors[0][:1000]}"
        _screenshot(page, "jupyterlab-01-random-angles")
    finally:
        page.close()
