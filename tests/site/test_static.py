"""Static checks of the built site (_build/html), no browser needed.

* Self-contained: no page loads a script, stylesheet, font, image or frame from
  http(s)://, no stylesheet imports one, and MathJax is the copy served by the site.
* Link check: every internal link (href/src) points at a file that exists, and every
  #anchor at an id that exists in its target page. External links are not fetched.
* Take-away: every chapter page offers its .md source and its executed .ipynb.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup

from sitepages import CHAPTERS, CJK_FONT, PAGES, ROOT, SITE, cjk_characters

MATHJAX_SCRIPT = "_static/mathjax/es5/tex-mml-chtml.js"
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
# url(http...) or @import "http..." in CSS: a resource the browser would fetch.
CSS_EXTERNAL = re.compile(
    r"""(url\(\s*['"]?\s*(https?:)?//|@import\s+['"]\s*(https?:)?//)""", re.IGNORECASE
)
# Elements and attributes whose URL the browser fetches as part of the page.
FETCHED = {
    "script": ["src"],
    "link": ["href"],
    "img": ["src", "srcset"],
    "source": ["src", "srcset"],
    "iframe": ["src"],
    "embed": ["src"],
    "object": ["data"],
    "video": ["src", "poster"],
    "audio": ["src"],
    "track": ["src"],
    "input": ["src"],
}
# <link rel=...> values that are only metadata, never fetched.
LINK_NOT_FETCHED = {"canonical", "alternate", "author", "license", "help", "search",
                    "next", "prev", "index", "top", "up", "first", "last", "bookmark"}


def html_files() -> list[Path]:
    """Every page of the site (not the theme's Jinja macro files under _static/)."""
    return sorted(p for p in SITE.rglob("*.html") if rel(p).split("/")[0] not in ("_static", "_sources"))


@lru_cache(maxsize=None)
def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@lru_cache(maxsize=None)
def ids(path: Path) -> frozenset[str]:
    doc = soup(path)
    return frozenset(
        [t["id"] for t in doc.find_all(id=True)] + [t["name"] for t in doc.find_all("a", attrs={"name": True})]
    )


def rel(path: Path) -> str:
    return path.relative_to(SITE).as_posix()


# ---------------------------------------------------------------- self-contained


def test_site_is_built(site: Path) -> None:
    missing = [p.docname for p in PAGES if not p.html.is_file()]
    assert not missing, f"pages in _toc.yml with no built HTML: {missing}"
    assert (SITE / "search.html").is_file()


def test_no_external_assets_in_html(site: Path) -> None:
    """No page fetches anything from the network; plain hyperlinks (<a>) are fine."""
    offences = []
    for path in html_files():
        for tag in soup(path).find_all(list(FETCHED)):
            if tag.name == "link":
                rels = {r.lower() for r in tag.get("rel", [])}
                if rels and rels <= LINK_NOT_FETCHED:
                    continue
            for attr in FETCHED[tag.name]:
                value = tag.get(attr)
                if not value:
                    continue
                urls = [u.strip().split()[0] for u in value.split(",")] if attr == "srcset" else [value]
                offences += [f"{rel(path)}: <{tag.name} {attr}={u}>" for u in urls if EXTERNAL.match(u)]
        for style in soup(path).find_all("style"):
            if CSS_EXTERNAL.search(style.get_text()):
                offences.append(f"{rel(path)}: <style> fetches from the network")
        for tag in soup(path).find_all(style=True):
            if CSS_EXTERNAL.search(tag["style"]):
                offences.append(f"{rel(path)}: style attribute fetches from the network")
    assert not offences, "external assets:\n" + "\n".join(offences)


def test_no_external_assets_in_css(site: Path) -> None:
    """Stylesheets (theme, fonts) import nothing from the network."""
    offences = []
    for path in sorted(SITE.rglob("*.css")):
        text = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8", errors="replace"), flags=re.S)
        for match in CSS_EXTERNAL.finditer(text):
            offences.append(f"{rel(path)}: ...{text[max(0, match.start() - 40):match.end() + 40]}...")
    assert not offences, "stylesheets fetching from the network:\n" + "\n".join(offences)


def test_only_the_mathjax_the_pages_use_is_served(site: Path) -> None:
    """The site copies the parts of MathJax its one script can load, not the package
    (24 MB, mostly other builds of the same thing): see MATHJAX_PARTS in _ext."""
    es5 = SITE / MATHJAX_SCRIPT.rsplit("/", 1)[0]
    served = sorted(p.name for p in es5.glob("*.js"))
    assert served == ["tex-mml-chtml.js"], f"other MathJax builds served too: {served}"
    total = sum(p.stat().st_size for p in es5.rglob("*") if p.is_file())
    assert total < 8_000_000, f"MathJax takes {total / 1e6:.1f} MB of the site"


def test_mathjax_is_served_locally(site: Path) -> None:
    """Every page with math loads the site's own MathJax 3, with the book's macros."""
    script = SITE / MATHJAX_SCRIPT
    assert script.is_file(), f"{MATHJAX_SCRIPT} missing: is node_modules/ installed (scripts/setup-env)?"
    assert (script.parent / "output" / "chtml" / "fonts" / "woff-v2").is_dir(), "MathJax fonts missing"
    with_math = 0
    for path in html_files():
        doc = soup(path)
        sources = [s["src"] for s in doc.find_all("script", src=True) if "mathjax" in s["src"].lower()]
        has_math = bool(doc.select(".math, span.math, div.math"))
        if not sources:
            assert not has_math, f"{rel(path)} has math but loads no MathJax"
            continue
        assert has_math, f"{rel(path)} loads MathJax (1.2 MB) but has no math"
        with_math += 1
        for src in sources:
            target = (path.parent / unquote(urlsplit(src).path)).resolve()
            assert target == script.resolve(), f"{rel(path)} loads MathJax from {src}"
        config = "".join(s.get_text() for s in doc.find_all("script", src=False))
        assert "window.MathJax" in config and '"macros"' in config, f"{rel(path)}: no mathjax3_config"
    chapter_html = {p.html.resolve() for p in CHAPTERS}
    assert with_math >= min(1, len(chapter_html)), "no page loads MathJax at all"


# ---------------------------------------------------------------- link check


def _internal_targets(path: Path):
    doc = soup(path)
    for tag, attr in (("a", "href"), ("link", "href"), ("img", "src"), ("script", "src"),
                      ("iframe", "src"), ("source", "src")):
        for element in doc.find_all(tag, attrs={attr: True}):
            url = element[attr].strip()
            if not url or EXTERNAL.match(url):
                continue
            scheme = urlsplit(url).scheme
            if scheme and scheme not in ("file",):  # mailto:, data:, javascript:
                continue
            yield tag, url


def test_no_broken_internal_links(site: Path) -> None:
    broken = []
    checked = 0
    for path in html_files():
        for tag, url in _internal_targets(path):
            parts = urlsplit(url)
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.is_file() or SITE.resolve() not in target.resolve().parents:
                broken.append(f"{rel(path)}: <{tag}> {url} -> missing file")
                continue
            fragment = unquote(parts.fragment)
            if fragment and tag == "a" and target.suffix == ".html" and fragment not in ids(target):
                broken.append(f"{rel(path)}: {url} -> no id {fragment!r} in {rel(target)}")
    assert checked > 0
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken)


# ---------------------------------------------------------------- take-away


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.docname)
def test_chapter_offers_md_and_executed_ipynb(site: Path, page) -> None:
    doc = soup(page.html)
    downloads = {}
    for a in doc.select(".dropdown-download-buttons a[href]"):
        href = a["href"]
        target = (page.html.parent / unquote(urlsplit(href).path)).resolve()
        downloads[target.suffix] = target
    assert ".md" in downloads, f"{page.docname}: no .md in the download menu"
    assert ".ipynb" in downloads, f"{page.docname}: no .ipynb in the download menu"
    md, ipynb = downloads[".md"], downloads[".ipynb"]
    assert md.is_file(), f"{page.docname}: {md} missing"
    assert "kernelspec:" in md.read_text(encoding="utf-8"), f"{page.docname}: the .md is not the MyST notebook"
    assert ipynb.is_file(), f"{page.docname}: {ipynb} missing"
    nb = json.loads(ipynb.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{page.docname}: the .ipynb has no code cells"
    assert all(c.get("execution_count") for c in code), f"{page.docname}: the .ipynb is not executed"
    assert any(c.get("outputs") for c in code), f"{page.docname}: the .ipynb has no outputs"
    wheel = downloads.get(".whl")
    assert wheel is not None and wheel.is_file(), f"{page.docname}: no lib wheel to download"
    # the notebook opens with the command that installs that wheel, as does the page's end
    first = "".join(nb["cells"][0]["source"])
    command = f'pip install "./{wheel.name}[chapters]"'
    assert nb["cells"][0]["cell_type"] == "markdown" and command in first, first[:200]
    assert command in doc.select_one("p.book-run-it").get_text(), f"{page.docname}: no command"


def test_lib_wheel_holds_lib_and_its_pinned_dependencies(site: Path) -> None:
    """The wheel the site offers: every module of lib/, and as dependencies exactly
    pyproject.toml's pinned numerical stack (tests/test_packaging.py checks those)."""
    import tomllib
    import zipfile

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wheels = list((site / "_downloads" / "lib").glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in _downloads/lib/, found {wheels}"
    with zipfile.ZipFile(wheels[0]) as archive:
        names = set(archive.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [line.split(":", 1)[1].strip()
                    for line in archive.read(metadata).decode().splitlines()
                    if line.startswith("Requires-Dist:")]
    modules = {f"lib/{p.name}" for p in (ROOT / "lib").glob("*.py")}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    assert sorted(r for r in requires if "extra ==" not in r) == sorted(project["dependencies"])


def test_lib_wheel_installs_and_runs_alone(site: Path, tmp_path: Path) -> None:
    """The wheel installs into a fresh environment with only its dependencies (from the
    installer's cache: no network at test time) and lib works there, imported from
    outside the repository."""
    import os
    import shutil
    import subprocess
    import sys

    uv = ROOT / ".venv" / "bin" / "uv"
    if not uv.is_file():
        pytest.skip("uv not installed in .venv (scripts/setup-env installs it)")
    wheel = next((site / "_downloads" / "lib").glob("*.whl"))
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    subprocess.run([str(uv), "pip", "install", "--quiet", "--offline", "--python",
                    str(python), str(wheel)], check=True, timeout=300)
    probe = ("import lib, lib.angles, lib.checks, lib.gaussian, lib.hsic, numpy as np\n"
             "print(lib.__file__)\n"
             "print(lib.angles.angle_moments(3)[1])")
    run = subprocess.run([str(python), "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, env={k: v for k, v in os.environ.items()
                                         if k != "PYTHONPATH"}, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    where, variance = run.stdout.split()
    assert Path(where).is_relative_to(env), f"lib came from {where}, not the new environment"
    # Var(theta) = pi^2/4 - 2 for n = 3 (chapter 1)
    assert abs(float(variance) - (3.141592653589793 ** 2 / 4 - 2)) < 1e-12
    shutil.rmtree(env)



def test_cjk_font_covers_the_books_chinese() -> None:
    """The site's Chinese font is a subset: it must hold every character the sources
    use (scripts/subset-cjk-font remakes it), and stay small."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(CJK_FONT))
    covered = font.getBestCmap()
    missing = sorted(c for c in cjk_characters() if ord(c) not in covered)
    assert not missing, (f"{CJK_FONT.name} lacks {''.join(missing)}: run "
                         "scripts/subset-cjk-font")
    assert CJK_FONT.stat().st_size < 100_000
    assert (CJK_FONT.parent / "OFL.txt").is_file(), "the font's licence travels with it"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.docname)
def test_chapters_say_how_to_report_an_error(site: Path, page) -> None:
    """Every chapter ends with how to report an error (_ext/book_site.py: a link to the
    repository's issues when _config.yml names one); other pages do not."""
    lines = soup(page.html).select("p.book-feedback")
    if not page.is_chapter:
        assert not lines
        return
    assert len(lines) == 1, f"{page.docname}: {len(lines)} feedback lines"
    text = " ".join(lines[0].get_text().split())
    assert "claim's ID" in text and ("download menu" in text or lines[0].find("a"))


def test_verification_page_totals_match_the_chapters_ledgers(site: Path) -> None:
    """The verification page's "All chapters" row (added by _ext/book_site.py) equals
    the number of rows in the chapters' own ledger tables, counted here from the pages."""
    page = soup(SITE / "book" / "verification.html")
    table = next(t for t in page.select("table")
                 if "Claims verified" in t.select_one("thead").get_text())
    last = table.select("tbody tr")[-1].select("td")
    assert last[0].get_text(strip=True) == "All chapters"
    counted = sum(len(soup(p.html).select("table.ledger tbody tr")) for p in CHAPTERS)
    assert int(last[-1].get_text(strip=True)) == counted, "total claims"


# What plain Jupyter would show raw: MyST roles, directive fences, label lines and
# labelled $$ displays (independent of _ext/plain_notebook.py, which removes them).
MYST_MARKUP = re.compile(r"\{[a-z][a-z:-]*\}`|^(?:`{3,}|:{3,})\{[a-z]|^\([A-Za-z0-9_.:-]+\)=\s*$"
                         r"|^\$\$[ \t]*\(", re.MULTILINE)


def _downloaded_notebook(page) -> dict:
    return json.loads((SITE / "_sources" / f"{page.docname}.ipynb").read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.docname)
def test_downloaded_notebook_reads_in_plain_jupyter(site: Path, page) -> None:
    """The .ipynb a reader downloads has no MyST markup left: glued values written in,
    references numbered, every labelled equation tagged with its number, citations
    with a bibliography, and the book's TeX macros defined."""
    nb = _downloaded_notebook(page)
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    raw = [m.group(0) for text in markdown for m in MYST_MARKUP.finditer(text)]
    assert not raw, f"{page.docname}: MyST markup left in the notebook: {raw[:5]}"
    source = (ROOT / f"{page.docname}.md").read_text(encoding="utf-8")
    labelled = len(re.findall(r"^`{3,}\{(?:glue:)?math\}[^\n]*\n:label: |^\$\$[ \t]*\(",
                              source, re.MULTILINE))
    tags = sum(text.count("\\tag{") for text in markdown)
    assert tags == labelled, f"{page.docname}: {tags} equation numbers for {labelled} labels"
    assert "\\newcommand{\\R}" in markdown[1], "the TeX macros are not defined up front"
    if "{cite}`" in source:
        assert markdown[-1].startswith("## References"), "no bibliography at the end"


def test_downloaded_notebook_runs_in_a_fresh_environment(site: Path, tmp_path: Path) -> None:
    """Chapter 1's downloaded notebook runs to the end, from a folder outside the
    repository, in a new environment holding only the site's wheel with its
    `chapters` extra (installed from the installer's cache: no network at test time)."""
    import os
    import subprocess
    import sys

    uv = ROOT / ".venv" / "bin" / "uv"
    if not uv.is_file():
        pytest.skip("uv not installed in .venv (scripts/setup-env installs it)")
    page = next(p for p in CHAPTERS if p.docname == "book/01-random-angles")
    wheel = next((site / "_downloads" / "lib").glob("*.whl"))
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    subprocess.run([str(uv), "pip", "install", "--quiet", "--offline", "--python",
                    str(python), f"{wheel}[chapters]"], check=True, timeout=600)
    # a kernel of this environment by name: a user-wide "python3" may be another Python
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(env),
                    "--name", "fresh-env"], check=True, capture_output=True, timeout=120)
    notebook = tmp_path / "01-random-angles.ipynb"
    notebook.write_text(json.dumps(_downloaded_notebook(page)), encoding="utf-8")
    run = ("import nbclient, nbformat\n"
           "nb = nbformat.read('01-random-angles.ipynb', as_version=4)\n"
           "nbclient.NotebookClient(nb, timeout=600, kernel_name='fresh-env').execute()\n"
           "print('ran', sum(c.cell_type == 'code' for c in nb.cells), 'cells')")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "MPLBACKEND", "VIRTUAL_ENV", "JUPYTER_PATH")}
    clean["PATH"] = f"{env / 'bin'}:{clean.get('PATH', '')}"
    result = subprocess.run([str(python), "-c", run], cwd=tmp_path, capture_output=True,
                            text=True, env=clean, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert result.stdout.startswith("ran ")


# ---------------------------------------------------------------- the lib reference


def test_the_reference_documents_every_public_name(site: Path) -> None:
    """Every name in a module's ``__all__`` has an entry (an element with its full
    name as id) on that module's reference page, with a link to its source."""
    import importlib

    import lib

    missing = []
    for module_name in lib.__all__:
        module = importlib.import_module(f"lib.{module_name}")
        page = SITE / "book" / "reference" / f"{module_name}.html"
        assert page.is_file(), f"no reference page for lib.{module_name}"
        doc = soup(page)
        for name in module.__all__:
            entry = doc.find(id=f"lib.{module_name}.{name}")
            if entry is None:
                missing.append(f"lib.{module_name}.{name}")
            elif callable(getattr(module, name)) and not entry.select("a .viewcode-link"):
                missing.append(f"lib.{module_name}.{name} (no [source] link)")
    assert not missing, "not in the reference: " + ", ".join(missing)


def test_docstrings_link_to_the_sections_they_name(site: Path) -> None:
    """Every 'chapter 1, section "Beta laws"' of a docstring is a link to that section
    (an unlinked one means _ext/lib_reference.py missed it)."""
    links = 0
    for page in sorted((SITE / "book" / "reference").glob("*.html")):
        doc = soup(page)
        main = doc.select_one("main") or doc
        for a in main.select("a.reference"):
            if re.match(r"[Cc]hapter \d+, section", a.get_text(" ", strip=True)):
                href = a["href"]
                assert re.match(r"\.\./\d\d-[a-z0-9-]+\.html#[a-z0-9-]+$", href), (page.name, href)
                links += 1
                a.decompose()
        left = re.findall(r'[Cc]hapter \d+,\s+section\s+"[^"]*"', main.get_text(" "))
        assert not left, f"{page.name}: not linked: {left}"
    assert links > 0


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.docname)
def test_solutions_are_folded_on_the_page_and_in_the_notebook(site: Path, page) -> None:
    """Every solution on the page is a dropdown (sphinx-togglebutton folds it) holding
    its computation; in the downloaded notebook the solution's cells are folded
    (JupyterLab's source_hidden and outputs_hidden), the exercises' are not."""
    html = soup(page.html)
    solutions = html.select("div.solution")
    if not solutions:
        pytest.skip(f"{page.docname} has no exercises yet (tests/test_exercises.py)")
    assert all("dropdown" in s["class"] for s in solutions), "a solution is not folded"
    assert any(s.select("div.cell") for s in solutions), "no solution holds its code"
    cells = _downloaded_notebook(page)["cells"]
    solution_code = [c for c in cells if c["cell_type"] == "code"
                     and re.search(r'"\d+-ex[\d{]', "".join(c["source"]))]
    assert solution_code, "the notebook has no solution code"
    for cell in solution_code:
        folded = cell["metadata"].get("jupyter", {})
        assert folded.get("source_hidden") and folded.get("outputs_hidden"), \
            "".join(cell["source"])[:60]
    statements = [c for c in cells if c["cell_type"] == "markdown"
                  and "**Solution to Exercise" in "".join(c["source"])]
    assert statements and not any(c["metadata"].get("jupyter") for c in statements), \
        "an exercise's statement is folded with its solution"
