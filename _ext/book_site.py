"""Local Sphinx extension: the site is self-contained and its chapters downloadable.

1. Downloads. sphinx-book-theme shows a ".ipynb" entry in a page's download menu when
the page context has ``ipynb_source``, but only sets that when a launch service
(Binder, Colab...) is configured, which this offline book does not use. This extension
does the same without one: for every page MyST-NB executed, it writes the executed
notebook (with its outputs) next to the page's Markdown source in
``_build/html/_sources/`` and sets ``ipynb_source``, so the download menu offers both
the ``.md`` source and the executed ``.ipynb``. That notebook is rewritten to read in
plain Jupyter (_ext/plain_notebook.py: glued values, numbers, citations and macros
written in, from what the build resolved).

2. No Thebe. Jupyter Book always loads sphinx-thebe, whose only use is to run cells on
a remote Binder: it writes ``const THEBE_JS_URL = "https://unpkg.com/..."`` into every
page (twice with these pinned versions, a JavaScript error: "Identifier 'THEBE_JS_URL'
has already been declared") and loads ``sphinx-thebe.js``. This offline book launches
no remote kernels, so both scripts and the Thebe stylesheet are left out of the pages.

3. Alt text. A figure made by a code cell is an image with no alt text, which the HTML
writer replaces by the image's file path: a screen reader announced every figure as
"../_images/274c97c6....png". Every image in a captioned figure without its own alt
text takes the caption's text (its math as TeX source) instead.

4. Table headers. pandas writes an empty ``<th></th>`` at the corner of every table
(and under the column names when the index has a name); screen readers announce it as
a header with no name (axe: empty-table-header). In the site those cells become
ordinary empty cells, ``<td></td>``; the notebooks keep pandas' markup.

5. Folded code. MyST-NB labels the "Show code cell source" toggle of a folded cell
"Toggle hidden content" (aria-label), so a speech-input user who says what they see
cannot name it (axe: label-content-name-mismatch). The label is dropped: the toggle's
name is then its visible text.

6. Chinese. The article titles and a few quoted terms are in Chinese. Every run of
Chinese characters in the text becomes ``<span lang="zh" class="zh">``, so that screen
readers switch language and the stylesheet can give it the site's own CJK font
(_assets/fonts/, a subset of Noto Sans SC made by scripts/subset-cjk-font): a reader
without a CJK system font saw empty boxes.

The search index also finds Chinese words (SearchEnglishAndChinese).

7. A way back to the source. `repository.url` in _config.yml (empty by default: the
book does not know where a copy is published) turns on the theme's repository and
issue buttons, and every chapter ends with a line saying how to report an error: with
a repository, a link to its issues and to the chapter's source; without one, where the
chapter's source is in the site itself and what a report should quote.

8. Totals. The verification page's tables list one row per chapter; each gains an "All
chapters" row with the sum of every column whose cells are all whole numbers (the
claims verified, the kinds of evidence, the steps checked, the planted bugs).

9. Weight. The site used to copy the whole MathJax package (24 MB of node_modules/) and
every page loaded MathJax, with or without math. Only the parts of MathJax that the
pages' one script (the combined tex-mml-chtml component) can load are copied now
(MATHJAX_PARTS), and a page with no math loads no MathJax. (The theme's 1.5 MB Font
Awesome script is left out by _templates/static/webpack-macros.html.)

10. Figures on a phone. The chapters draw their figures as SVG with text of 10 pt or
more. A figure wider than the column shrinks with it, and on a 390 px phone a
two-panel figure would shrink its labels to 5 px. Each SVG figure gets a minimum width
(``min-width``, from its own width and its smallest text, read from the SVG) at which
that text is still MIN_FIGURE_TEXT_PX pixels high; a figure that needs more room than
the column scrolls sideways in it, with the scroll shadow of _assets/book.css.

11. lib for readers. A downloaded chapter needs the book's ``lib`` package. The build
makes lib's wheel (pyproject.toml: the pinned numerical stack as its dependencies, and
a ``chapters`` extra with what the chapters import besides lib) into
``_downloads/lib/``; the download menu of every page offers it beside the notebook, each
chapter ends with the command that installs it, and every downloaded notebook opens
with that command.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.search.en import SearchEnglish
from sphinx.util import logging

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plain_notebook  # noqa: E402 (this folder's module)

LOGGER = logging.getLogger(__name__)


def _executed_notebook(app: Sphinx, path: Path) -> bytes:
    """The executed notebook MyST-NB wrote, with outputs from the execution cache.

    On a cache hit MyST-NB (1.4) writes the notebook *without* outputs to
    jupyter_execute/, so the outputs are merged back from the cache it used.
    """
    import nbformat
    from jupyter_cache import get_cache

    notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    config = getattr(app.env, "mystnb_config", None)
    if config is not None and config.execution_mode == "cache":
        cache = get_cache(config.execution_cache_path or ".jupyter_cache")
        try:
            _, notebook = cache.merge_match_into_notebook(notebook)
        except KeyError:  # not in the cache: keep what MyST-NB wrote
            pass
    _make_plain(app, notebook, path)
    preamble = nbformat.v4.new_markdown_cell(notebook_preamble(wheel_name()))
    preamble.id = "run-this-notebook"  # fixed: the same notebook on every build
    notebook.cells.insert(0, preamble)
    return nbformat.writes(notebook).encode("utf-8")


def _references(app: Sphinx) -> plain_notebook.References:
    """Numbers, titles and citations as the build resolved them (for plain notebooks)."""
    env = app.env
    refs = plain_notebook.References(macros=dict(
        app.config.mathjax3_config.get("tex", {}).get("macros", {})))
    for numbers_by_kind in env.toc_fignumbers.values():
        for kind, numbers in numbers_by_kind.items():
            for node_id, number in numbers.items():
                text = ".".join(map(str, number))
                if kind == "displaymath":
                    refs.equations[node_id.removeprefix("equation-")] = f"({text})"
                elif kind == "figure":
                    refs.numbered[node_id] = f"Fig. {text}"
                elif kind == "table":
                    refs.numbered[node_id] = f"Table {text}"
                elif kind == "exercise":
                    refs.numbered[node_id] = f"Exercise {text}"
                elif kind in plain_notebook.PROOF_KINDS:
                    refs.numbered[node_id] = f"{plain_notebook.PROOF_KINDS[kind]} {text}"
    for label, (_doc, _id, title) in env.domaindata["std"]["labels"].items():
        if title:
            refs.titles[label] = title
    for doc in env.found_docs:
        title = env.titles[doc].astext()
        number = env.toc_secnumbers.get(doc, {}).get("")
        refs.documents[doc.rsplit("/", 1)[-1]] = (
            f"chapter {number[0]}, *{title}*" if number else f"*{title}*")
    _add_bibliography(app, refs)
    return refs


def _add_bibliography(app: Sphinx, refs: plain_notebook.References) -> None:
    from pybtex.backends.plaintext import Backend
    from pybtex.database import parse_file
    from pybtex.style.formatting.plain import Style

    for bibfile in app.config.bibtex_bibfiles:
        data = parse_file(str(Path(app.srcdir, bibfile)))
        for entry in Style().format_entries(data.entries.values()):
            refs.entries[entry.key] = entry.text.render(Backend())
        for key, entry in data.entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [" ".join(p.last_names) for p in people] or [key]
            who = (names[0] if len(names) == 1 else f"{names[0]} and {names[1]}"
                   if len(names) == 2 else f"{names[0]} et al.")
            refs.citations[key] = f"{who}, {entry.fields.get('year', 'n.d.')}"


def _make_plain(app: Sphinx, notebook: Any, path: Path) -> None:
    """Rewrite the notebook's Markdown for plain Jupyter (_ext/plain_notebook.py); a
    reference it cannot resolve is a build warning (an error in the strict build)."""
    import nbformat

    refs = _references(app)
    glue = plain_notebook.glue_values(notebook)
    cited: list[str] = []
    try:
        folded = plain_notebook.solution_cells([cell.source for cell in notebook.cells])
    except ValueError as problem:
        LOGGER.warning("%s: cannot fold the solutions: %s", path.name, problem)
        folded = [False] * len(notebook.cells)
    for cell, fold in zip(notebook.cells, folded):
        if fold:  # a solution's body: folded in JupyterLab and Notebook 7, as on the page
            cell.metadata.setdefault("jupyter", {}).update(
                source_hidden=True, outputs_hidden=True)
        if cell.cell_type != "markdown":
            continue
        try:
            cell.source = plain_notebook.plain_markdown(cell.source, glue, refs, cited)
        except plain_notebook.UnresolvedReference as problem:
            # A one-chapter build (scripts/build-chapter) lacks the other pages.
            report = LOGGER.info if app.config.book_partial_build else LOGGER.warning
            report("%s: cannot write the plain notebook: %s", path.name, problem)
    macros = nbformat.v4.new_markdown_cell(plain_notebook.macro_cell(refs.macros))
    macros.id = "tex-macros"
    notebook.cells.insert(0, macros)
    if cited:
        listing = "\n".join(f"- **{refs.citations[k]}.** {refs.entries.get(k, k)}"
                             for k in cited)
        bibliography = nbformat.v4.new_markdown_cell(f"## References\n\n{listing}")
        bibliography.id = "references"
        notebook.cells.append(bibliography)


def _add_ipynb_download(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if doctree is None or app.builder.format != "html":
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    content = _executed_notebook(app, executed)
    if not target.is_file() or target.read_bytes() != content:
        target.write_bytes(content)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _is_thebe(asset: Any) -> bool:
    filename = str(getattr(asset, "filename", "") or "")
    body = str(getattr(asset, "attributes", {}).get("body", "") or "")
    return "sphinx-thebe" in filename or "THEBE_JS_URL" in body or "thebe@" in filename


def _drop_thebe(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            # In place: Sphinx resets these lists from its originals for every page.
            context[key][:] = [asset for asset in context[key] if not _is_thebe(asset)]


def _alt_text_from_captions(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for figure in doctree.findall(nodes.figure):
        caption = next(iter(figure.findall(nodes.caption)), None)
        if caption is None:
            continue
        text = " ".join(caption.astext().split())
        for image in figure.findall(nodes.image):
            if not image.get("alt") or image["alt"] == image.get("uri"):
                image["alt"] = text


#: Chinese characters and the CJK punctuation the book quotes with them
CJK_RUN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+")
_NOT_PROSE = (nodes.literal, nodes.literal_block, nodes.raw, nodes.math, nodes.math_block,
              nodes.comment)


def _mark_chinese(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for text in list(doctree.findall(nodes.Text)):
        parent = text.parent
        if parent is None or not CJK_RUN.search(text.astext()):
            continue
        if any(isinstance(a, _NOT_PROSE) for a in _ancestors(parent)):
            continue
        pieces: list[nodes.Node] = []
        value, last = text.astext(), 0
        for match in CJK_RUN.finditer(value):
            if match.start() > last:
                pieces.append(nodes.Text(value[last:match.start()]))
            pieces.append(nodes.inline(match.group(), match.group(), classes=["zh"]))
            last = match.end()
        if last < len(value):
            pieces.append(nodes.Text(value[last:]))
        index = parent.index(text)
        parent.remove(text)
        for offset, piece in enumerate(pieces):
            parent.insert(index + offset, piece)


class SearchEnglishAndChinese(SearchEnglish):
    """Sphinx's English search, which also finds Chinese. Chinese has no spaces between
    words, so a run such as the title n维空间下两个随机向量的夹角分布 was indexed as one
    word and a search for 夹角 found nothing. Each run is also indexed under every
    substring of two or more characters (a few hundred terms for the whole book)."""

    def split(self, input: str) -> list[str]:  # noqa: A002 (Sphinx's name)
        words = super().split(input)
        for run in CJK_RUN.findall(input):
            words += [run[i:j] for i in range(len(run)) for j in range(i + 2, len(run) + 1)]
        return words


def _ancestors(node: nodes.Node) -> list[nodes.Node]:
    found = []
    while node is not None:
        found.append(node)
        node = node.parent
    return found


def _add_totals(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if docname != "book/verification":
        return
    for table in doctree.findall(nodes.table):
        head, body = table.next_node(nodes.thead), table.next_node(nodes.tbody)
        if head is None or body is None or head.astext().split()[:1] != ["Chapter"]:
            continue
        rows = [row for row in body.children if isinstance(row, nodes.row)]
        columns = len(rows[0].children)
        sums: list[str] = []
        for column in range(1, columns):
            cells = [row.children[column].astext().strip() for row in rows]
            sums.append(str(sum(int(c) for c in cells))
                        if all(c.isdigit() for c in cells) else "")
        if not any(sums):
            continue
        total = nodes.row()
        total += nodes.entry("", nodes.paragraph("", "", nodes.strong(text="All chapters")))
        for value in sums:
            cell = nodes.paragraph("", "", nodes.strong(text=value)) if value else nodes.paragraph()
            total += nodes.entry("", cell)
        body += total


def feedback_line(repository_url: str, branch: str, source: str) -> str:
    """The closing line of a chapter page: how to report an error in it (HTML).

    ``source`` is the chapter's path in the repository (book/NN-name.md).
    """
    ask = ("Found an error, or a claim that should fail and does not? Please report it, "
           "quoting the claim's ID from the ledger above (such as 8512-x14)")
    url = repository_url.strip().rstrip("/")
    if url:
        issues, page = f"{url}/issues", f"{url}/blob/{branch or 'main'}/{source}"
        return (f'<p class="book-feedback">{ask}, at <a href="{issues}">{issues}</a>. '
                f'This chapter\'s source: <a href="{page}">{source}</a>.</p>')
    return (f'<p class="book-feedback">{ask}, to whoever published this copy of the '
            "book. This chapter's source is in the download menu at the top of the "
            "page (.md), with the executed notebook (.ipynb).</p>")


def _add_feedback_line(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if doctree is None or "body" not in context or not _is_chapter(doctree):
        return
    options = app.config.html_theme_options
    context["body"] += feedback_line(str(options.get("repository_url", "") or ""),
                                     str(options.get("repository_branch", "") or ""),
                                     f"{pagename}.md")


def _is_chapter(doctree: Any) -> bool:
    """A chapter is a page with a claims ledger."""
    return any('class="ledger"' in raw.astext() for raw in doctree.findall(nodes.raw))


def _repository_buttons(app: Sphinx, config: Any) -> None:
    options = config.html_theme_options
    if str(options.get("repository_url", "") or "").strip():
        options["use_repository_button"] = True
        options["use_issues_button"] = True


#: Fixed rewrites of a page's HTML body: (what is written, what it becomes, why)
BODY_REWRITES = (
    ('<span class="zh">', '<span lang="zh" class="zh">', "6: Chinese is marked lang=zh"),
    ('<summary aria-label="Toggle hidden content">', "<summary>",
     "5: a folded cell's toggle is named by its visible text"),
)


def _rewrite_body(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if "body" in context:
        for written, wanted, _why in BODY_REWRITES:
            context["body"] = context["body"].replace(written, wanted)


def _no_empty_table_headers(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for raw in list(doctree.findall(nodes.raw)):
        text = raw.astext()
        if raw.get("format") == "html" and 'class="dataframe"' in text and "<th></th>" in text:
            raw.replace_self(nodes.raw(text.replace("<th></th>", "<td></td>"),
                                       text.replace("<th></th>", "<td></td>"),
                                       format="html", classes=raw.get("classes", [])))


#: The parts of node_modules/mathjax the site serves, and why each is needed
MATHJAX_PARTS = {
    "LICENSE": "the licence travels with the code",
    "es5/tex-mml-chtml.js": "the one script the pages load (TeX in, HTML-CSS out, menu)",
    "es5/input/tex/extensions": "TeX packages it loads on first use (\\boldsymbol, ...)",
    "es5/input/mml/extensions": "MathML extensions its menu can switch on",
    "es5/output/chtml/fonts/woff-v2": "the math fonts",
    "es5/ui": "the parts of its right-click menu loaded on demand",
    "es5/a11y": "the accessibility explorer its menu can switch on",
    "es5/sre": "the speech rule engine behind the explorer's spoken math",
}


def _serve_mathjax(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    package = Path(app.confdir) / "node_modules" / "mathjax"
    staged = Path(app.outdir).parent / "mathjax-static"
    target = staged / "mathjax"
    for part in MATHJAX_PARTS:
        source = package / part
        if not source.exists():
            raise FileNotFoundError(
                f"{source} is missing: run scripts/setup-env (npm ci installs MathJax)")
        if source.is_dir():
            shutil.copytree(source, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / part)
    app.config.html_static_path.append(str(staged))


def _has_math(doctree: Any, context: dict[str, Any]) -> bool:
    if doctree is not None and any(
        True for _ in doctree.findall(lambda n: isinstance(n, (nodes.math, nodes.math_block)))
    ):
        return True
    body = str(context.get("body", ""))
    return any(marker in body for marker in ('class="math', "\\(", "\\["))


def _mathjax_only_with_math(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if _has_math(doctree, context) or "script_files" not in context:
        return
    mathjax = str(app.config.mathjax_path)
    context["script_files"][:] = [
        asset for asset in context["script_files"]
        if mathjax not in str(getattr(asset, "filename", "") or "")
        and "MathJax" not in str(getattr(asset, "attributes", {}).get("body", "") or "")
    ]


#: The smallest figure text a reader is shown, in CSS pixels (a 10 pt label on a phone).
MIN_FIGURE_TEXT_PX = 9
#: The theme pads a figure in dark mode (0.5rem each side): room kept for it.
FIGURE_PADDING_PX = 16
_SVG_WIDTH_PT = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)pt"')
# Matplotlib draws each text as glyph paths, in a group scaled by its size in pt / 100.
_SVG_TEXT_SCALE = re.compile(
    r'<g id="text_\d+">\s*<!--.*?-->\s*<g transform="[^"]*?scale\(([\d.]+) -', re.DOTALL)
_IMG_SVG = re.compile(r'<img ([^>]*?)src="([^"]*?_images/([^"/]+\.svg))"')


def figure_min_width_px(svg: str) -> int | None:
    """The width at which an SVG figure's smallest text is MIN_FIGURE_TEXT_PX high.

    None for an SVG that is not a Matplotlib figure with text. Never more than the
    figure's natural width (1 pt = 4/3 px) plus the dark theme's padding.
    """
    width = _SVG_WIDTH_PT.search(svg)
    sizes = [100 * float(scale) for scale in _SVG_TEXT_SCALE.findall(svg)]
    if width is None or not sizes:
        return None
    width_pt = float(width.group(1))
    needed = MIN_FIGURE_TEXT_PX * width_pt / min(sizes)  # text px = pt * shown px / width pt
    return math.ceil(min(needed, 4 * width_pt / 3)) + FIGURE_PADDING_PX


def _legible_figures(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    body = context.get("body")
    if not body or ".svg" not in body:
        return
    sources = {unique: Path(app.srcdir, source)
               for source, (_docs, unique) in app.env.images.items()}

    def min_width(match: re.Match[str]) -> str:
        source = sources.get(match.group(3))
        if source is None or not source.is_file():
            return match.group(0)
        width = figure_min_width_px(source.read_text(encoding="utf-8"))
        if width is None:
            return match.group(0)
        return f'<img {match.group(1)}style="min-width: {width}px" src="{match.group(2)}"'

    context["body"] = _IMG_SVG.sub(min_width, body)


ROOT = Path(__file__).resolve().parents[1]
#: Where the site offers lib's wheel (relative to the site's root).
WHEEL_DIR = "_downloads/lib"


def wheel_name(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The file name of lib's wheel, from pyproject.toml (a pure-Python wheel)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return f"{project['name'].replace('-', '_')}-{project['version']}-py3-none-any.whl"


def install_command(wheel: str) -> str:
    """What a reader runs, in the folder where the wheel was saved."""
    return f'pip install "./{wheel}[chapters]"'


def _build_wheel(app: Sphinx, exception: Exception | None) -> None:
    """Build lib's wheel into the site, from a copy (no build/ left in the repository)."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / WHEEL_DIR
    shutil.rmtree(target, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "lib", Path(tmp) / "lib",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(ROOT / "pyproject.toml", tmp)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-build-isolation", "--disable-pip-version-check",
                        "-w", str(target), tmp], check=True)
    if not (target / wheel_name()).is_file():
        raise FileNotFoundError(f"the wheel build did not make {target / wheel_name()}")


def download_menus(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The theme's download menus in a page's context (its header button groups
    labelled "download-buttons"), for the extensions that add entries to them."""
    if context.get("pathto") is None:
        return []
    return [button for button in context.get("header_buttons", [])
            if button.get("label") == "download-buttons"]


def _offer_wheel_download(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Add lib's wheel to the theme's download menu, after the notebook."""
    pathto = context.get("pathto")
    for button in download_menus(context):
        button["buttons"].insert(1, {
            "type": "link",
            "url": pathto(f"{WHEEL_DIR}/{wheel_name()}", 1),
            "text": "lib (.whl)",
            "tooltip": "Download the book's lib package, to run the notebook",
            "icon": "fas fa-cube",
            "label": "download-lib-button",
        })


def run_it_yourself(wheel_url: str, wheel: str) -> str:
    """The line on a chapter page that says how to run its notebook (HTML)."""
    return ('<p class="book-run-it">To run this chapter yourself, download its notebook '
            f'(.ipynb) and <a href="{wheel_url}">{wheel}</a> from the download menu at the '
            f"top of the page into one folder, and there run <code>{install_command(wheel)}"
            "</code>; then open the notebook in Jupyter.</p>")


def _add_run_it_yourself(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if doctree is None or "body" not in context or not _is_chapter(doctree):
        return
    wheel = wheel_name()
    url = context["pathto"](f"{WHEEL_DIR}/{wheel}", 1)
    context["body"] += run_it_yourself(url, wheel)


def notebook_preamble(wheel: str) -> str:
    """The first cell of every downloaded notebook (Markdown)."""
    return ("**To run this notebook** you need the book's `lib` package and the libraries "
            f"the chapter uses. Download `{wheel}` from the book's site (the download menu "
            "of any chapter) into the folder of this notebook, and there run\n\n"
            f"```\n{install_command(wheel)}\n```")


def glued_from_other_pages(docnames: set[str], found: set[str]) -> list[str]:
    """Pages that glue values out of other pages' notebooks ({glue:text}`page.md::name`)
    and so must be read again when any page is: Sphinx does not track that dependency, so
    an incremental build kept the verification page's counts from the previous run."""
    return ["book/verification"] if docnames and "book/verification" in found else []


def _reread_gluing_pages(app: Sphinx, env: Any, added: set[str], changed: set[str],
                         removed: set[str]) -> list[str]:
    return glued_from_other_pages((added | changed) - {"book/verification"}, env.found_docs)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("env-get-outdated", _reread_gluing_pages)
    # True in scripts/build-chapter's one-chapter build, where links to other pages
    # cannot resolve: the plain notebook then reports them without failing the build.
    app.add_config_value("book_partial_build", False, "env", types=[bool])
    # Both run before sphinx-book-theme builds the header buttons (priority 501).
    app.connect("html-page-context", _add_ipynb_download, priority=400)
    app.connect("html-page-context", _drop_thebe, priority=400)
    app.connect("doctree-resolved", _alt_text_from_captions)
    app.connect("doctree-resolved", _no_empty_table_headers)
    app.connect("builder-inited", _serve_mathjax)
    app.connect("html-page-context", _mathjax_only_with_math, priority=900)
    app.connect("html-page-context", _rewrite_body, priority=400)
    app.connect("html-page-context", _legible_figures, priority=400)
    app.connect("doctree-resolved", _mark_chinese)
    app.connect("doctree-resolved", _add_totals)
    app.add_search_language(SearchEnglishAndChinese)
    app.connect("html-page-context", _add_feedback_line, priority=400)
    app.connect("config-inited", _repository_buttons)
    app.connect("build-finished", _build_wheel)
    app.connect("html-page-context", _offer_wheel_download, priority=502)
    app.connect("html-page-context", _add_run_it_yourself, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
