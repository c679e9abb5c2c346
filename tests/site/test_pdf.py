"""The book as a PDF (scripts/build-pdf, _ext/book_pdf.py).

The PDF is built where XeLaTeX is installed (scripts/build-book builds it then). Without
it these tests are skipped, unless REQUIRE_PDF=1 (set by .ci/run), which makes a missing
PDF a failure.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, IndirectObject, NameObject
from sitepages import CHAPTERS, PAGES, ROOT, SITE
from test_static import soup

sys.path.insert(0, str(ROOT / "scripts"))
import split_pdf

PDF_DIR = SITE / "_downloads" / "pdf"
BOOK = PDF_DIR / "executable-derivations.pdf"
LATEX_LOG = ROOT / "_build" / "latex" / "executable-derivations.log"


@pytest.fixture(scope="module")
def book() -> PdfReader:
    if not BOOK.is_file():
        message = f"no PDF of the book ({BOOK}): XeLaTeX is not installed (scripts/build-pdf)"
        if os.environ.get("REQUIRE_PDF") == "1":
            pytest.fail(message + "; REQUIRE_PDF=1 makes this a failure")
        pytest.skip(message)
    return PdfReader(BOOK)


@pytest.fixture(scope="module")
def latex_log(book: PdfReader) -> str:
    return LATEX_LOG.read_text(encoding="utf-8", errors="replace")


def _text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def test_every_chapter_is_in_the_book_and_has_its_own_pdf(book: PdfReader) -> None:
    titles = split_pdf.chapter_titles()
    assert len(titles) == len(CHAPTERS)
    ranges = split_pdf.chapter_ranges(book, titles)
    starts = [ranges[page.docname.split("/")[-1]].start for page in CHAPTERS]
    assert starts == sorted(starts), "the chapters are not in the book's order"
    for page in CHAPTERS:
        stem = page.docname.split("/")[-1]
        chapter = PdfReader(PDF_DIR / f"{stem}.pdf")
        assert len(chapter.pages) == len(ranges[stem]), stem
        # (text extraction spaces glyphs its own way: compare without spaces)
        first = split_pdf.normalise(chapter.pages[0].extract_text()).replace(" ", "")
        title = split_pdf.normalise(titles[stem]).replace(" ", "")
        assert title in first, f"{stem}: title not on its first page"


def test_back_matter_is_in_the_book_unnumbered_as_on_the_site(book: PdfReader) -> None:
    starts = {split_pdf.normalise(t): page for _, t, page in split_pdf.outline_starts(book)}
    first_chapter = starts[split_pdf.normalise(split_pdf.chapter_titles()["01-random-angles"])]
    # a numbered chapter's first page opens with "CHAPTER ONE" (fncychap)
    numbered = re.compile(r"\s*chapter\s+[a-z]+\b", re.IGNORECASE)
    assert numbered.match(book.pages[first_chapter].extract_text())
    for title in ("Verification", "Changes and errata", "How to cite", "References"):
        page = starts.get(split_pdf.normalise(title))
        assert page is not None, f"{title}: not in the book's outline"
        assert not numbered.match(book.pages[page].extract_text()), \
            f"{title}: numbered as a chapter (the site does not number the back matter)"


def _fonts(resources: object, seen: set[int]) -> list[object]:
    """Every font dictionary reachable from a page's resources (forms included)."""
    found: list[object] = []
    if isinstance(resources, IndirectObject):
        if resources.idnum in seen:
            return found
        seen.add(resources.idnum)
    resources = resources.get_object() if resources is not None else None
    if not resources:
        return found
    for font in (resources.get("/Font") or {}).values():
        found.append(font.get_object())
    for xobject in (resources.get("/XObject") or {}).values():
        form = xobject.get_object()
        if form.get("/Subtype") == "/Form" and "/Resources" in form:
            found += _fonts(form.raw_get("/Resources"), seen)
    return found


def fonts_not_embedded(reader: PdfReader) -> tuple[set[str], int]:
    """The names of the fonts a PDF uses but does not embed, and how many it uses."""
    not_embedded = set()
    seen: set[int] = set()
    checked = 0
    for page in reader.pages:
        for font in _fonts(page.raw_get("/Resources") if "/Resources" in page else None, seen):
            if font.get("/Subtype") == "/Type3":  # glyphs drawn in the file itself
                continue
            described = font
            if font.get("/Subtype") == "/Type0":
                described = font["/DescendantFonts"][0].get_object()
            descriptor = described.get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor is not None else {}
            checked += 1
            if not any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
                not_embedded.add(str(font.get("/BaseFont")))
    return not_embedded, checked


def test_the_font_check_sees_a_font_that_is_not_embedded(tmp_path: Path) -> None:
    writer = PdfWriter()
    page = writer.add_blank_page(100, 100)
    helvetica = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    }))
    page[NameObject("/Resources")] = DictionaryObject({
        NameObject("/Font"): DictionaryObject({NameObject("/F1"): helvetica})})
    writer.write(tmp_path / "helvetica.pdf")
    assert fonts_not_embedded(PdfReader(tmp_path / "helvetica.pdf")) == ({"/Helvetica"}, 1)


def test_every_font_is_embedded(book: PdfReader) -> None:
    not_embedded, checked = fonts_not_embedded(book)
    assert checked > 0
    assert not not_embedded, f"fonts not embedded: {sorted(not_embedded)}"


def test_no_missing_glyphs(latex_log: str) -> None:
    missing = sorted(set(re.findall(r"Missing character: There is no .*", latex_log)))
    assert not missing, "\n".join(missing)


def test_no_line_runs_into_the_margin(latex_log: str) -> None:
    """Code and outputs wrap (verbatimforcewraps); nothing, code or text, is cut."""
    overfull = re.findall(r"Overfull \\hbox \((\d+\.\d+)pt too wide\)[^\n]*\n([^\n]*)", latex_log)
    wide = [f"{pt}pt: {line}" for pt, line in overfull if float(pt) > 1.0]
    assert not wide, f"{len(wide)} overfull lines:\n" + "\n".join(wide[:20])


def test_numbered_as_on_the_site(book: PdfReader) -> None:
    """Every equation number and every numbered caption a chapter page shows
    ("(3.2)", "Fig. 3.1", "Theorem 3.1") appears in the chapter's PDF."""
    for page in CHAPTERS:
        stem = page.docname.split("/")[-1]
        doc = soup(page.html)
        labels = {span.get_text(strip=True) for span in doc.select("span.eqno")}
        labels |= {span.get_text(strip=True) for span in doc.select("span.caption-number")}
        labels = {re.sub(r"\s+|#$", "", label) for label in labels}  # "#": the anchor link
        assert any(label.startswith("(") for label in labels), f"{stem}: no equation number"
        # text extraction spaces glyphs its own way: compare without whitespace
        pdf_text = re.sub(r"\s+", "", _text(PdfReader(PDF_DIR / f"{stem}.pdf")))
        missing = sorted(label for label in labels if label not in pdf_text)
        assert not missing, f"{stem}: numbered on the site but not so in its PDF: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.docname)
def test_every_page_links_the_pdf(book: PdfReader, page) -> None:
    doc = soup(page.html)
    links = {a.get("aria-label") or a.get_text(strip=True):
             (page.html.parent / unquote(urlsplit(a["href"]).path)).resolve()
             for a in doc.select(".dropdown-download-buttons a[href]")}
    targets = {path.name for path in links.values()}
    assert BOOK.name in targets, f"{page.docname}: no link to the book's PDF"
    if page.is_chapter:
        assert f"{page.docname.split('/')[-1]}.pdf" in targets, page.docname
    assert not doc.select('[onclick*="window.print"]'), f"{page.docname}: print-to-PDF button"
