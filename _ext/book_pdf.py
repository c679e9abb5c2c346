"""Local Sphinx extension: the book as a PDF, through LaTeX (scripts/build-pdf).

1. Figures. The chapters draw their figures as SVG. MyST-NB's LaTeX output takes SVG
(``nb_mime_priority_overrides`` in _config.yml) and ``SvgToPdf`` converts each to PDF
with ``rsvg-convert`` (Debian's librsvg2-bin), so the figures stay vector graphics.

2. Macros. The book's TeX macros (``\\E``, ``\\Var``, ``\\R``) are defined once, for
MathJax, in _config.yml (``mathjax3_config``); the LaTeX preamble gets the same
definitions from there.

3. Fonts. XeLaTeX sets the text in DejaVu Serif and DejaVu Sans, which have the Greek
letters and mathematical signs the prose and the outputs use (Latin Modern has none),
code in DejaVu Sans Mono, Chinese in Noto Sans CJK SC (Debian's fonts-noto-cjk) and
mathematics in Latin Modern Math. sphinx-jupyterbook-latex's own LaTeX class needs
packages Debian has only in its 1.4 GB texlive-fonts-extra; Sphinx's is used instead.

4. Nothing runs into the margin. Code and outputs wrap, long words included
(``verbatimforcewraps``); a displayed formula wider than the line (a long SymPy result,
which scrolls on the site) is scaled to fit (``_latex_math_block``, ``\\bookfit``);
tables get columns sized to their text (``column_widths``), in which it wraps.

5. Numbered as on the site. Equations, figures and theorems carry the site's numbers
(equation (3.2), Fig. 3.1, Theorem 3.1: ``_number_as_on_the_site``).

6. A link on every page. The theme's ".pdf" entry in the download menu opened the
browser's print dialog, which cut every long code line. When the build makes the PDF
(``BOOK_PDF=1``, set by scripts/build-book when XeLaTeX is installed), the menu offers
the whole book's PDF instead, and on a chapter page also that chapter's PDF: its pages
of the book's PDF (scripts/split_pdf.py), so the numbers are the same in both.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms.images import ImageConverter
from sphinx.util.math import wrap_displaymath
from sphinx.writers.latex import LaTeXTranslator

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_site  # noqa: E402 (this folder's module: the download menus)

ROOT = Path(__file__).resolve().parent.parent
PDF_DIR = "_downloads/pdf"
BOOK_PDF = "executable-derivations.pdf"


def chapter_pdf(docname: str) -> str:
    """The file name of a chapter's PDF: ``book/03-gaussian-distances`` -> its stem."""
    return f"{docname.rsplit('/', 1)[-1]}.pdf"


def is_chapter_docname(docname: str) -> bool:
    """Chapters are the numbered pages ``book/NN-name``."""
    return re.fullmatch(r"book/\d\d-[a-z0-9-]+", docname) is not None


class SvgToPdf(ImageConverter):
    """SVG figures become PDF figures for LaTeX (vector, unlike Sphinx's imgconverter)."""

    conversion_rules: ClassVar[list[tuple[str, str]]] = [("image/svg+xml", "application/pdf")]

    def is_available(self) -> bool:
        return shutil.which("rsvg-convert") is not None

    def convert(self, _from: str, _to: str) -> bool:
        subprocess.run(["rsvg-convert", "--format=pdf", f"--output={_to}", _from],
                       check=True)
        return True


def latex_macros(mathjax3_config: dict[str, Any] | None) -> str:
    """LaTeX definitions of the MathJax macros (name -> expansion, no arguments)."""
    macros = ((mathjax3_config or {}).get("tex") or {}).get("macros") or {}
    lines = []
    for name, body in sorted(macros.items()):
        if not isinstance(body, str):
            raise TypeError(f"mathjax3_config macro {name!r}: only argument-free macros "
                            "(a string) are supported for the PDF")
        lines.append(f"\\providecommand{{\\{name}}}{{}}\\renewcommand{{\\{name}}}{{{body}}}")
    return "\n".join(lines)


PREAMBLE = r"""
\usepackage[strict]{changepage}
% sphinx-jupyterbook-latex wraps code cells in these (its own class defines them; that
% class needs packages Debian ships only in texlive-fonts-extra, so it is not used).
\newenvironment{sphinxVerbatimInput}{}{}
\newenvironment{sphinxVerbatimOutput}{\begin{adjustwidth}{1.5em}{}}{\end{adjustwidth}}
% Page numbers above 99 in the table of contents need more than LaTeX's 1.55em.
\makeatletter\renewcommand{\@pnumwidth}{2.2em}\makeatother
\usepackage{xeCJK}
\setCJKmainfont{Noto Sans CJK SC}[AutoFakeSlant=0.2]
\setCJKsansfont{Noto Sans CJK SC}[AutoFakeSlant=0.2]
\setCJKmonofont{Noto Sans Mono CJK SC}
% Curly quotes and apostrophes are Western punctuation here, not full-width CJK.
\xeCJKDeclareCharClass{Default}{"2018, "2019, "201C, "201D}
% The parts' titles carry their own numerals ("I. Geometry of high dimensions").
\renewcommand{\partname}{}
\renewcommand{\thepart}{}
% Equations, figures and tables are numbered within chapters, as on the site
% (_number_as_on_the_site); after sphinx.sty's own set-up, also at the document's start.
\AtBeginDocument{%
  \numberwithin{equation}{chapter}%
  \numberwithin{figure}{chapter}%
  \numberwithin{table}{chapter}}
% Web addresses break anywhere rather than run into the margin.
\usepackage{xurl}
% Tables in a smaller size: the verification tables have up to eight columns.
\usepackage{etoolbox}
\AtBeginEnvironment{tabular}{\footnotesize}
\AtBeginEnvironment{tabulary}{\footnotesize}
\AtBeginEnvironment{longtable}{\footnotesize}
% A displayed formula wider than the line (a long SymPy result; on the site it
% scrolls) is scaled down to the line's width instead of running into the margin
% (_latex_math_block puts every displayed formula in \bookfit).
\newcommand{\bookfit}[1]{%
  \setbox0=\hbox{$\displaystyle #1$}%
  \ifdim\wd0>\dimexpr\linewidth-4em\relax
    \resizebox{\dimexpr\linewidth-4em\relax}{!}{\box0}%
  \else
    \box0
  \fi}
"""

FONTS = r"""
\setmainfont{DejaVu Serif}[Scale=0.92]
\setsansfont{DejaVu Sans}[Scale=0.92]
\setmonofont{DejaVu Sans Mono}[Scale=0.8]
"""


def _book_pdf_from_environment(app: Sphinx, config: Any) -> None:
    # A config value (not a bare environment variable), so that Sphinx rewrites every
    # page when it changes.
    config.book_pdf = os.environ.get("BOOK_PDF") == "1"


def _latex_settings(app: Sphinx, config: Any) -> None:
    # After sphinx-jupyterbook-latex (priority 500), which sets its own LaTeX class
    # (it needs bbm.sty, from Debian's 1.4 GB texlive-fonts-extra) and, for Greek
    # text, ucharclasses (not in Debian's TeX Live): Sphinx's own class instead, and
    # the Greek letters come from the fonts below.
    config.latex_theme = "manual"
    elements = dict(config.latex_elements or {})
    elements["preamble"] = "\n".join(
        line for line in elements.get("preamble", "").splitlines()
        if "ucharclasses" not in line)
    elements["fontpkg"] = FONTS
    elements["preamble"] = (elements.get("preamble", "") + PREAMBLE
                            + unnumbered_parts_tex(unnumbered_parts(ROOT / "_toc.yml"))
                            + latex_macros(config.mathjax3_config) + "\n")
    # The introduction's list of every page repeated the table of contents.
    config.jblatex_show_tocs = False
    # Wrap code and outputs at the margin, breaking a long word where it must.
    # Read on a screen: chapters start on the next page, no blank pages before them.
    elements["extraclassoptions"] = "openany,oneside"
    # No index: the book has no index entries, and sphinx-proof's index of theorem
    # labels (thm-hsic-nonneg...) means nothing to a reader of the PDF.
    elements["printindex"] = ""
    elements["makeindex"] = ""  # no .idx file, so no xindy (not in Debian's TeX Live parts)
    config.latex_use_xindy = False
    config.latex_domain_indices = False
    elements["sphinxsetup"] = "verbatimwrapslines=true, verbatimforcewraps=true"
    config.latex_elements = elements


def _latex_proofs(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """A proof is printed as text beginning "Proof.", as in any mathematics book.

    sphinx-proof makes it an admonition without a title; Sphinx's LaTeX then took the
    proof's first paragraph mark as the box's title and drew an empty title bar.
    """
    if app.builder.format != "latex":
        return
    for box in list(doctree.findall(nodes.admonition)):
        if "proof" in box["classes"] and not isinstance(box.next_node(), nodes.title):
            box.replace_self(box.children)


def unnumbered_parts(toc: Path) -> list[str]:
    """The captions of the parts of _toc.yml that are not numbered (the back matter)."""
    import yaml

    parts = yaml.safe_load(toc.read_text(encoding="utf-8")).get("parts", [])
    return [part["caption"] for part in parts if not part.get("numbered", False)]


def unnumbered_parts_tex(captions: list[str]) -> str:
    """LaTeX that stops numbering chapters and sections after any of these parts.

    Sphinx writes each part as ``\\part{Caption}``; after an unnumbered one the
    chapters are listed in the contents without numbers, as on the site.
    """
    if not captions:
        return ""
    tests = "".join(f"\\def\\bookCaption{{{c}}}\\ifx\\bookThisPart\\bookCaption"
                    "\\setcounter{secnumdepth}{-1}\\fi" for c in captions)
    return ("\\let\\bookOrigPart\\part\n"
            "\\renewcommand{\\part}[1]{\\bookOrigPart{#1}"
            f"\\def\\bookThisPart{{#1}}{tests}}}\n")


def _number_as_on_the_site(app: Sphinx) -> None:
    """Theorems and figures numbered as on the site: 1.1, not 1.3.1.

    sphinx-jupyterbook-latex sets ``numfig_secnum_depth`` to 2 when the book has parts,
    so that Sphinx's LaTeX restarts equation numbers at each chapter; but Sphinx also
    numbers figures and sphinx-proof its theorems from that setting, which made them
    section-numbered (Theorem 1.3.1 for the site's Theorem 1.1). Back to the site's
    1; the chapter-wise LaTeX counters come from ``\\numberwithin`` (PREAMBLE).
    """
    if app.builder.format == "latex":
        app.config.numfig_secnum_depth = 1


def _latex_math_block(self: Any, node: nodes.Element) -> None:
    """Sphinx's LaTeX for a displayed formula, its body in ``\\bookfit`` (PREAMBLE)."""
    if node.get("nowrap"):
        return LaTeXTranslator.visit_math_block(self, node)
    label = f"equation:{node['docname']}:{node['label']}" if node.get("label") else None
    tex = wrap_displaymath(node.astext(), label, self.config.math_number_all)
    begin, end = "\\begin{split}", "\\end{split}"
    if begin in tex:  # one formula (several become Sphinx's align of aligned)
        head, _, rest = tex.partition(begin)
        body, _, tail = rest.rpartition(end)
        tex = f"{head}\\bookfit{{\\begin{{aligned}}{body}\\end{{aligned}}}}{tail}"
    self.body.append(tex)
    raise nodes.SkipNode


def column_widths(head: list[list[str]], body: list[list[str]], cap: int = 24) -> list[int]:
    """Relative widths of a table's columns for LaTeX, from its cells' text.

    A column gets the length of its longest cell (capped: long text wraps), but never
    less than its longest word, so that no word runs out of its column. Words are
    measured generously: header words (bold sans serif) at 2.4 times their length, others at 1.3
    times (a dotted name in code is one word: it does not break). Each cell has padding.
    """
    columns = max(len(row) for row in head + body)

    def longest_word(cell: str) -> int:
        return max((len(w) for w in cell.split()), default=1)

    widths = []
    for j in range(columns):
        word = max([2.4 * longest_word(row[j]) for row in head if j < len(row)]
                   + [1.3 * longest_word(row[j]) for row in body if j < len(row)], default=1)
        cell = max((len(row[j]) for row in head + body if j < len(row)), default=1)
        widths.append(max(math.ceil(word), min(cell, cap)) + 3)
    return widths


def _rows(tgroup: nodes.Element, part: type[nodes.Element]) -> list[list[str]]:
    """The text of each cell of a table's head or body, row by row."""
    return [[entry.astext() for entry in row.findall(nodes.entry)]
            for section in tgroup.findall(part) for row in section.findall(nodes.row)]


def _latex_table_widths(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Tables in the PDF wrap their text in columns sized to it (Sphinx's default for a
    long table is columns as wide as their longest line, which ran off the page)."""
    if app.builder.format != "latex":
        return
    for table in doctree.findall(nodes.table):
        for tgroup in table.findall(nodes.tgroup):
            head, body = (_rows(tgroup, nodes.thead), _rows(tgroup, nodes.tbody))
            colspecs = list(tgroup.findall(nodes.colspec))
            if not head + body or not colspecs:
                continue
            widths = column_widths(head, body)
            if len(widths) != len(colspecs):
                continue
            for colspec, width in zip(colspecs, widths):
                colspec["colwidth"] = width
            table["classes"] = [c for c in table["classes"] if c != "colwidths-auto"]
            table["classes"].append("colwidths-given")


def _offer_pdf_download(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Replace the theme's print-to-PDF entry by the book's (and the chapter's) PDF."""
    pathto = context.get("pathto")
    for button in book_site.download_menus(context):
        entries = [b for b in button["buttons"] if b.get("label") != "download-pdf-button"]
        if app.config.book_pdf:
            if is_chapter_docname(pagename):
                entries.append({
                    "type": "link",
                    "url": pathto(f"{PDF_DIR}/{chapter_pdf(pagename)}", 1),
                    "text": "chapter (.pdf)",
                    "tooltip": "Download this chapter as a PDF",
                    "icon": "fas fa-file-pdf",
                    "label": "download-chapter-pdf-button",
                })
            entries.append({
                "type": "link",
                "url": pathto(f"{PDF_DIR}/{BOOK_PDF}", 1),
                "text": "book (.pdf)",
                "tooltip": "Download the whole book as a PDF",
                "icon": "fas fa-book",
                "label": "download-book-pdf-button",
            })
        button["buttons"] = entries


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("book_pdf", False, "html", types=[bool])
    app.connect("config-inited", _book_pdf_from_environment)
    app.add_post_transform(SvgToPdf)
    app.add_node(nodes.math_block, override=True, latex=(_latex_math_block, None))
    app.connect("config-inited", _latex_settings, priority=900)
    app.connect("doctree-resolved", _latex_table_widths)
    app.connect("doctree-resolved", _latex_proofs)
    # After sphinx-jupyterbook-latex's builder-inited handler (priority 500).
    app.connect("builder-inited", _number_as_on_the_site, priority=900)
    # After sphinx-book-theme builds the header buttons (501).
    app.connect("html-page-context", _offer_pdf_download, priority=503)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
