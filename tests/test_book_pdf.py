"""The pure parts of the PDF build: _ext/book_pdf.py and scripts/split_pdf.py.

The PDF itself is tested after the build, in tests/site/test_pdf.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
sys.path.insert(0, str(ROOT / "scripts"))

import book_pdf
import split_pdf


def test_chapter_pdf_names_and_chapters() -> None:
    assert book_pdf.chapter_pdf("book/03-gaussian-distances") == "03-gaussian-distances.pdf"
    assert book_pdf.is_chapter_docname("book/08-taylor-softmax")
    for other in ("book/intro", "book/verification", "book/08-taylor-softmax/x", "08-a"):
        assert not book_pdf.is_chapter_docname(other), other


def test_latex_macros_come_from_the_mathjax_macros() -> None:
    tex = book_pdf.latex_macros({"tex": {"macros": {"R": "\\mathbb{R}", "E": "\\mathbb{E}"}}})
    assert tex.splitlines() == [
        "\\providecommand{\\E}{}\\renewcommand{\\E}{\\mathbb{E}}",
        "\\providecommand{\\R}{}\\renewcommand{\\R}{\\mathbb{R}}",
    ]
    assert book_pdf.latex_macros(None) == ""
    with pytest.raises(TypeError, match="'f'"):
        book_pdf.latex_macros({"tex": {"macros": {"f": ["{#1}^2", 1]}}})


def test_the_books_own_macros_reach_the_preamble() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    mathjax = config["sphinx"]["config"]["mathjax3_config"]
    tex = book_pdf.latex_macros(mathjax)
    for name in mathjax["tex"]["macros"]:
        assert f"\\renewcommand{{\\{name}}}" in tex


def test_column_widths_follow_the_text() -> None:
    head = [["Chapter", "Bug"]]
    body = [["01", "a long description of the planted bug that has to wrap somewhere"],
            ["02", "short"]]
    chapter, bug = book_pdf.column_widths(head, body)
    # the header word "Chapter" (7 letters, bold) sets the first column's floor
    assert chapter == round(2.4 * 7 + 0.5) + 3
    # long text is capped (it wraps), so the columns stay in proportion
    assert bug == 24 + 3
    # a word longer than the cap is never narrower than itself
    (only,) = book_pdf.column_widths([], [["lib.regularization.train_random_feature"]])
    assert only >= len("lib.regularization.train_random_feature")


def test_normalise_ignores_markup_space_and_case() -> None:
    assert split_pdf.normalise("HSIC, the  *Hilbert*–Schmidt `criterion`") == \
        split_pdf.normalise("hsic, the hilbert–schmidt criterion")


def test_chapter_titles_are_the_chapters_headings() -> None:
    titles = split_pdf.chapter_titles()
    assert list(titles) == sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]-*.md"))
    assert titles["01-random-angles"] == "The angle between two random vectors"


def _book_with_outline(tmp_path: Path, entries: list[tuple[str, int, str | None]]) -> PdfReader:
    """A blank PDF of 10 pages with bookmarks (title, page, parent title)."""
    writer = PdfWriter()
    for _ in range(10):
        writer.add_blank_page(100, 100)
    made = {}
    for title, page, parent in entries:
        made[title] = writer.add_outline_item(title, page, parent=made.get(parent))
    writer.write(tmp_path / "book.pdf")
    return PdfReader(tmp_path / "book.pdf")


def test_chapter_ranges_run_to_the_next_bookmark_at_the_same_level(tmp_path: Path) -> None:
    reader = _book_with_outline(tmp_path, [
        ("Part one", 0, None),
        ("1 Alpha", 1, "Part one"),
        ("1.1 A section", 2, "1 Alpha"),
        ("2 Beta", 4, "Part one"),
        ("Part two", 6, None),
        ("3 Gamma", 7, "Part two"),
    ])
    ranges = split_pdf.chapter_ranges(reader, {"01-a": "Alpha", "02-b": "Beta", "03-c": "Gamma"})
    assert ranges == {"01-a": range(1, 4), "02-b": range(4, 6), "03-c": range(7, 10)}


def test_chapter_ranges_refuse_a_missing_or_ambiguous_chapter(tmp_path: Path) -> None:
    reader = _book_with_outline(tmp_path, [("1 Alpha", 0, None), ("2 Alpha", 3, None)])
    with pytest.raises(ValueError, match="2 bookmarks match"):
        split_pdf.chapter_ranges(reader, {"01-a": "Alpha"})
    with pytest.raises(ValueError, match="0 bookmarks match"):
        split_pdf.chapter_ranges(reader, {"02-b": "Beta"})


def test_the_back_matter_is_the_unnumbered_part() -> None:
    assert book_pdf.unnumbered_parts(ROOT / "_toc.yml") == ["The lib reference", "Back matter"]
    tex = book_pdf.unnumbered_parts_tex(["Back matter", "Appendices"])
    assert tex.count("\\setcounter{secnumdepth}{-1}") == 2
    assert "\\def\\bookCaption{Appendices}" in tex
    assert book_pdf.unnumbered_parts_tex([]) == ""
