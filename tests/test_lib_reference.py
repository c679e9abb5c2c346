"""The lib reference's links from docstrings to chapter sections (_ext/lib_reference.py).

That every public name has an entry in the built reference is tested after the build,
in tests/site/test_static.py.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

import lib  # noqa: E402
import lib_reference  # noqa: E402

CHAPTERS = ["book/01-a", "book/02-b"]


def test_a_section_mention_becomes_a_reference() -> None:
    text = 'Derived in chapter 2, section "The rules as\n    consequences", eq. (3).'
    assert lib_reference.link_sections(text, CHAPTERS) == (
        'Derived in :ref:`chapter 2, section "The rules as consequences" '
        '<book/02-b:The rules as consequences>`, eq. (3).')


def test_capitals_and_math_in_the_title_are_kept_for_the_label() -> None:
    linked = lib_reference.link_sections('Chapter 1, section "One of $k$"', CHAPTERS)
    assert linked == ':ref:`Chapter 1, section "One of k" <book/01-a:One of $k$>`'


def test_text_without_a_section_mention_is_unchanged() -> None:
    text = "Used in chapter 2 (the whole of it), and in section 3."
    assert lib_reference.link_sections(text, CHAPTERS) == text


def test_a_chapter_the_book_does_not_have_is_an_error() -> None:
    with pytest.raises(ValueError, match="chapter 3"):
        lib_reference.link_sections('chapter 3, section "X"', CHAPTERS)


def test_chapters_are_the_numbered_parts_of_the_toc_in_order() -> None:
    chapters = lib_reference.chapter_docnames()
    assert len(chapters) == 8
    assert chapters[0] == "book/01-random-angles" and chapters[-1] == "book/08-taylor-softmax"


def test_every_module_has_a_reference_page() -> None:
    pages = {p.stem for p in (ROOT / "book" / "reference").glob("*.md")} - {"index"}
    assert pages == set(lib.__all__)
    for name in lib.__all__:
        importlib.import_module(f"lib.{name}")
        text = (ROOT / "book" / "reference" / f"{name}.md").read_text(encoding="utf-8")
        assert f".. automodule:: lib.{name}\n   :members:" in text, name
