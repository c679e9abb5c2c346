"""The built site and its pages, as the site tests see them.

The pages under test come from _toc.yml, never from a hard-coded list, so chapters
added there are tested automatically. SITE_DIR overrides the site (_build/html),
SITE_SCREENSHOTS where the browser test saves its screenshots (_build/screenshots).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SITE = Path(os.environ.get("SITE_DIR", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = Path(os.environ.get("SITE_SCREENSHOTS", ROOT / "_build" / "screenshots"))


@dataclass(frozen=True)
class Page:
    """A page of the table of contents: its docname (book/01-random-angles)."""

    docname: str
    is_chapter: bool  # in a numbered part of _toc.yml

    @property
    def html(self) -> Path:
        return SITE / f"{self.docname}.html"

    @property
    def url_path(self) -> str:
        return f"/{self.docname}.html"


def _toc_pages() -> list[Page]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [Page(_docname(toc["root"]), is_chapter=False)]

    def walk(entries: list[dict], numbered: bool) -> None:
        for entry in entries or []:
            if "file" in entry:
                pages.append(Page(_docname(entry["file"]), is_chapter=numbered))
            walk(entry.get("sections", []), numbered)

    for part in toc.get("parts", []):
        walk(part.get("chapters", []), bool(part.get("numbered", False)))
    walk(toc.get("chapters", []), False)
    return pages


def _docname(file: str) -> str:
    for suffix in (".md", ".ipynb", ".rst"):
        if file.endswith(suffix):
            return file[: -len(suffix)]
    return file


PAGES = _toc_pages()
CHAPTERS = [p for p in PAGES if p.is_chapter]


# -- Chinese: the characters the book uses, and the font subset that must cover them --
CJK_FONT = ROOT / "_assets" / "fonts" / "noto-sans-sc-subset.woff"
#: Chinese characters and CJK punctuation (the same ranges as _ext/book_site.py)
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def cjk_sources() -> list[Path]:
    book = ROOT / "book"
    return sorted([*book.glob("*.md"), *book.glob("*.bib"), ROOT / "_toc.yml",
                   ROOT / "_config.yml"])


def cjk_characters() -> set[str]:
    """Every Chinese character or CJK punctuation mark in the book's sources."""
    return {c for path in cjk_sources() for c in CJK.findall(path.read_text(encoding="utf-8"))}
