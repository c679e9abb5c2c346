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


def _stored(chapter: Path) -> nbformat.NotebookNode:
    """The chapter's golden notebook; skips when it is missing (another test says so)."""
    golden = ROOT / "tests" / "notebooks" / f"{chapter.stem}.ipynb"
    if not golden.exists():
        pytest.skip("reported by test_golden_matches_source")
    return nbformat.read(golden, as_version=4)


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
    stored = _stored(chapter)
    golden = ROOT / "tests" / "notebooks" / f"{chapter.stem}.ipynb"
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
        stored = _stored(chapter)
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


#: A float printed with more significant digits than this shows rounding noise that
#: differs between CPUs and BLAS builds; round it, or tag the cell EXACT_DIGITS_TAG
#: and say in a comment why its digits are exact.
MAX_SIGNIFICANT_DIGITS = 8
EXACT_DIGITS_TAG = "exact-digits"
_FLOAT = re.compile(r"(?<![\w.])-?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|(?<![\w.])-?\d+[eE][-+]?\d+")
_BARE = re.compile(r"^(?:0|True|False|None|Matrix\(\[[\[\]0,\s]*\]\))$")


def _significant_digits(token: str) -> int:
    mantissa = re.split(r"[eE]", token)[0].lstrip("-").replace(".", "")
    return len(mantissa.lstrip("0")) or 1


def _text_outputs(cell: nbformat.NotebookNode) -> list[tuple[str, str]]:
    shown = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            shown.append((output.output_type, output.text))
        elif output.output_type in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "text/plain" in data:  # glue records store theirs under another key
                shown.append((output.output_type, data["text/plain"]))
    return shown


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_outputs_show_only_stable_digits_and_no_bare_values(chapter: Path) -> None:
    golden = ROOT / "tests" / "notebooks" / f"{chapter.stem}.ipynb"
    stored = _stored(chapter)
    problems = []
    for index, cell in enumerate(stored.cells):
        if cell.cell_type != "code":
            continue
        exact = EXACT_DIGITS_TAG in cell.get("metadata", {}).get("tags", [])
        for kind, text in _text_outputs(cell):
            if kind == "execute_result" and _BARE.match(text.strip()):
                problems.append(f"cell {index} shows a bare return value {text.strip()[:40]!r}")
            noisy = [t for t in _FLOAT.findall(text) if _significant_digits(t) > MAX_SIGNIFICANT_DIGITS]
            if noisy and not exact:
                problems.append(f"cell {index} prints {noisy[0]} ({len(noisy)} such floats)")
    assert not problems, f"{golden.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_golden_is_reproducible(chapter: Path) -> None:
    """The golden holds only what the chapter determines (scripts/tidy_golden.py): cell
    ids from the sources, no execution timings, no figures. So `make goldens` on an
    unchanged chapter leaves git status clean."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from tidy_golden import stable_cell_ids

    stored = _stored(chapter)
    refresh = REFRESH.format(name=chapter.stem)
    ids = [cell.id for cell in stored.cells]
    assert ids == stable_cell_ids([c.source for c in stored.cells]), (
        f"{chapter.stem}: cell ids not derived from the sources; refresh with: {refresh}")
    timed = [i for i, c in enumerate(stored.cells) if "execution" in c.metadata]
    assert not timed, f"{chapter.stem}: cells {timed[:5]} carry execution timings"
    figures = [i for i, c in enumerate(stored.cells) for o in c.get("outputs", [])
               if any(m.startswith("image/") for m in o.get("data", {}))]
    assert not figures, f"{chapter.stem}: cells {figures[:5]} store figures"
