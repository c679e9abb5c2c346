"""lib's source compiles without warnings (an invalid escape such as ``\\l`` in a
docstring is a DeprecationWarning now and an error in a later Python; ``\\r`` would
silently put a carriage return into the rendered formula)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib"


@pytest.mark.parametrize("path", sorted(LIB.glob("*.py")), ids=lambda p: p.name)
def test_compiles_without_warnings(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile(source, str(path), "exec")
    assert "\r" not in source
