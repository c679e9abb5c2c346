"""Split the book's PDF into one PDF per chapter (scripts/build-pdf).

A chapter's PDF is its pages of the book's PDF, so its numbering is the book's (and the
site's): equation (3.2) is (3.2) everywhere. Its pages are found from the book's outline
(bookmarks): a chapter runs from its bookmark's page to the page before the next
bookmark at its level or above.

    python scripts/split_pdf.py BOOK.pdf OUTDIR
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pypdf import PdfReader, PdfWriter

ROOT = Path(__file__).resolve().parent.parent


def chapter_titles(book: Path = ROOT / "book") -> dict[str, str]:
    """Chapter file stem -> its title (the first level-1 heading of book/NN-*.md)."""
    titles = {}
    for path in sorted(book.glob("[0-9][0-9]-*.md")):
        match = re.search(r"^# (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
        if match is None:
            raise ValueError(f"{path}: no level-1 heading")
        titles[path.stem] = match.group(1).strip()
    return titles


def normalise(title: str) -> str:
    """A title as comparable text: no TeX/Markdown markup, spacing or case."""
    title = re.sub(r"[`*_$\\{}]", "", title)
    return re.sub(r"\s+", " ", title).strip().casefold()


def outline_starts(reader: PdfReader) -> list[tuple[int, str, int]]:
    """(depth, title, first page index) of every bookmark, in reading order."""
    found: list[tuple[int, str, int]] = []

    def walk(items: list, depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                found.append((depth, str(item.title), reader.get_destination_page_number(item)))

    walk(reader.outline, 0)
    return found


def chapter_ranges(reader: PdfReader, titles: dict[str, str]) -> dict[str, range]:
    """Chapter stem -> its page indices in the book's PDF."""
    starts = outline_starts(reader)
    ranges = {}
    for stem, title in titles.items():
        want = normalise(title)
        hits = [i for i, (_, text, _) in enumerate(starts)
                if normalise(re.sub(r"^\d+(\.\d+)*\s+", "", text)) == want]
        if len(hits) != 1:
            raise ValueError(f"chapter {stem!r} ({title!r}): {len(hits)} bookmarks match "
                             f"in the book's outline, expected 1")
        depth, _, first = starts[hits[0]]
        later = [page for d, _, page in starts[hits[0] + 1:] if d <= depth]
        last = (later[0] - 1) if later else len(reader.pages) - 1
        if last < first:
            raise ValueError(f"chapter {stem!r}: empty page range {first}..{last}")
        ranges[stem] = range(first, last + 1)
    return ranges


def split(book_pdf: Path, outdir: Path) -> dict[str, Path]:
    reader = PdfReader(book_pdf)
    outdir.mkdir(parents=True, exist_ok=True)
    written = {}
    for stem, pages in chapter_ranges(reader, chapter_titles()).items():
        writer = PdfWriter()
        for index in pages:
            writer.add_page(reader.pages[index])
        writer.add_metadata({"/Title": f"{chapter_titles()[stem]} (Executable Derivations)"})
        target = outdir / f"{stem}.pdf"
        with target.open("wb") as handle:
            writer.write(handle)
        written[stem] = target
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    for stem, path in split(Path(argv[1]), Path(argv[2])).items():
        print(f"split_pdf: {stem} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
