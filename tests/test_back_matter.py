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
