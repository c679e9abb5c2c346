"""The planted-bug catalogue (tests/sabotage/*.toml) is well formed and plantable.

Fast and kernel-free: it resolves every target and checks that every ``replace``
text occurs where the entry says. Running the bugs is ``make sabotage``; the smoke
bugs also run in ``make test`` (scripts/test).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SABOTAGE = Path(__file__).resolve().parent / "sabotage"
sys.path.insert(0, str(SABOTAGE))
import harness  # noqa: E402

BUGS = harness.load_catalogue()


def test_every_catalogue_has_exactly_one_smoke_bug() -> None:
    chapters = sorted({bug.chapter for bug in BUGS})
    assert chapters, "no planted bugs found in tests/sabotage/*.toml"
    for chapter in chapters:
        smoke = [bug.id for bug in BUGS if bug.chapter == chapter and bug.smoke]
        assert len(smoke) == 1, f"{chapter}: smoke bugs {smoke}, want exactly one"


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.key)
def test_bug_can_be_planted(bug: harness.Bug) -> None:
    assert bug.why, f"{bug.key}: say which slip the bug models (why = ...)"
    harness.check_entry(bug.spec)
