"""Every line of code in the chapters fits the page: at most 88 characters.

Longer lines are cut off in the site's code blocks (at 1280 px, and more on a
phone). ``make format`` formats the code cells with ruff (line length in
``pyproject.toml``); this test catches what a formatter cannot fix (long strings).
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_WIDTH = 88
CHAPTERS = sorted(
    p for p in (ROOT / "book").glob("*.md") if "\nkernelspec:" in p.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(chapter: Path) -> None:
    notebook = jupytext.read(chapter)
    long_lines = [
        f"cell {index}: {len(line)} chars: {line.strip()[:60]}"
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line) > MAX_WIDTH
    ]
    assert not long_lines, (
        f"{chapter.name}: {len(long_lines)} code lines longer than {MAX_WIDTH} "
        "characters (run `make format`, then shorten strings and comments):\n"
        + "\n".join(long_lines)
    )
