"""Each golden notebook must be the executed form of its chapter's current source.

nbval compares a fresh run with the golden's stored outputs, which only means
something if the golden was generated from the chapter as it is now.
"""

from __future__ import annotations

import re
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


def test_random_comparisons_stay_within_the_false_alarm_budget() -> None:
    """The book's random comparisons (Monte Carlo, KS) may not exceed RANDOM_CLAIMS_CAP.

    Each chapter's last cell shows its ledger table, whose closing line counts them;
    the default band and level in ``lib.checks`` assume at most the cap in all.
    """
    from lib.checks import RANDOM_CLAIMS_CAP

    counts = {}
    for chapter in CHAPTERS:
        golden = ROOT / "tests" / "notebooks" / f"{chapter.stem}.ipynb"
        if not golden.exists():
            pytest.skip("reported by test_golden_matches_source")
        stored = nbformat.read(golden, as_version=4)
        last = [c for c in stored.cells if c.cell_type == "code"][-1]
        text = "".join(o.get("data", {}).get("text/plain", "") for o in last.outputs)
        found = re.search(r"(\d+) claims verified; (\d+) random comparisons", text)
        assert found, f"{golden.name}: the last cell does not show the ledger table"
        counts[chapter.stem] = int(found.group(2))
    total = sum(counts.values())
    assert total <= RANDOM_CLAIMS_CAP, (
        f"the book makes {total} random comparisons {counts}, more than the "
        f"RANDOM_CLAIMS_CAP = {RANDOM_CLAIMS_CAP} its false-alarm budget is shared over"
    )
