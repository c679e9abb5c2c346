"""Each golden notebook must be the executed form of its chapter's current source.

nbval compares a fresh run with the golden's stored outputs, which only means
something if the golden was generated from the chapter as it is now.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(
    p for p in (ROOT / "book").glob("*.md") if "\nkernelspec:" in p.read_text(encoding="utf-8")
)
REFRESH = "scripts/refresh-goldens {name}   (or: make goldens CHAPTER={name})"


def _cells(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_every_chapter_is_found() -> None:
    assert CHAPTERS, "no chapter notebooks (book/*.md with a kernelspec) found"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_golden_matches_source(chapter: Path) -> None:
    golden = ROOT / "tests" / "notebooks" / f"{chapter.stem}.ipynb"
    refresh = REFRESH.format(name=chapter.stem)
    assert golden.exists(), f"no golden for {chapter.name}; create it with: {refresh}"
    source = jupytext.read(chapter)
    stored = nbformat.read(golden, as_version=4)
    assert _cells(stored) == _cells(source), (
        f"{golden.relative_to(ROOT)} is stale: its cells differ from {chapter.name}. "
        f"Refresh it with: {refresh}, then review the diff."
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_golden_is_executed(chapter: Path) -> None:
    golden = ROOT / "tests" / "notebooks" / f"{chapter.stem}.ipynb"
    if not golden.exists():
        pytest.skip("reported by test_golden_matches_source")
    stored = nbformat.read(golden, as_version=4)
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), (
        f"{golden.name} has unexecuted cells; refresh it with: "
        + REFRESH.format(name=chapter.stem)
    )
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{golden.name} stores an error output"
