"""The back-matter pages that describe the chapters stay in step with them: how to cite
(book/citing.md) has a BibTeX entry for every chapter and its article, and the
changelog (book/changelog.md) says, for every chapter, what was found in its article."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pybtex.database import parse_string

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(
    p for p in (ROOT / "book").glob("*.md") if "\nkernelspec:" in p.read_text(encoding="utf-8")
)


def _entries():
    text = (ROOT / "book" / "citing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bibtex\n(.*?)```", text, re.DOTALL)
    assert blocks, "book/citing.md has no ```bibtex block"
    return parse_string("\n".join(blocks), "bibtex").entries


def _flat(value: str) -> str:
    return " ".join(value.replace("{", "").replace("}", "").split())


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_and_its_article_can_be_cited(chapter: Path) -> None:
    text = chapter.read_text(encoding="utf-8")
    title = re.search(r"^# (.+)$", text, re.MULTILINE).group(1).strip()
    number = re.search(r"kexue\.fm/archives/(\d+)", text).group(1)
    chinese = re.search(r"《(.+?)》", text).group(1)
    entries = _entries()
    book_entry = entries.get(f"executable-derivations-{number}")
    assert book_entry is not None, f"no entry executable-derivations-{number}"
    assert _flat(book_entry.fields["title"]) == title
    assert int(book_entry.fields["chapter"]) == CHAPTERS.index(chapter) + 1
    article = [e for e in entries.values()
               if e.fields.get("url") == f"https://kexue.fm/archives/{number}"]
    assert len(article) == 1, f"one entry for article {number}, found {len(article)}"
    assert _flat(article[0].fields["title"]) == chinese


def test_changelog_covers_every_chapter() -> None:
    text = (ROOT / "book" / "changelog.md").read_text(encoding="utf-8")
    missing = [c.stem for c in CHAPTERS if f"{{doc}}`{c.stem}`" not in text]
    assert not missing, f"book/changelog.md says nothing about {missing}"


def _glossary_rows() -> list[tuple[int, str, list[str], str]]:
    """(chapter, the book's term, the article's terms, link target) per glossary row."""
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            target = re.fullmatch(r"\{ref\}`[^<`]+<([^>`]+)>`", cells[3])
            assert target, f"glossary: not a section link: {cells[3]}"
            terms = [t.strip().replace("\\_", "_") for t in cells[2].split(",")]
            rows.append((int(cells[0]), cells[1], terms, target.group(1)))
    return rows


def test_the_glossary_covers_every_chapter_and_links_into_it() -> None:
    rows = _glossary_rows()
    for number, chapter in enumerate(CHAPTERS, start=1):
        mine = [row for row in rows if row[0] == number]
        assert len(mine) >= 5, f"glossary: {len(mine)} terms for chapter {number}"
        for _, term, _, target in mine:
            # the link goes into the chapter itself (the strict build checks the section)
            assert target.startswith(f"book/{chapter.stem}:"), (term, target)


ARTICLES = ROOT.parent / "shared" / "articles"


@pytest.mark.skipif(not ARTICLES.is_dir(), reason="the articles are not in the repository")
def test_the_glossarys_chinese_terms_occur_in_their_articles() -> None:
    missing = []
    for number, term, article_terms, _ in _glossary_rows():
        chapter = CHAPTERS[number - 1].read_text(encoding="utf-8")
        article = re.search(r"kexue\.fm/archives/(\d+)", chapter).group(1)
        source = (ARTICLES / f"{article}.md").read_text(encoding="utf-8")
        missing += [f"{term}: {t} (article {article})" for t in article_terms if t not in source]
    assert not missing, "\n".join(missing)
