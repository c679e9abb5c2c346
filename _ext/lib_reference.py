"""Local Sphinx extension: the lib reference and the chapters point at each other.

1. From the reference to the chapters. Every ``lib`` docstring says where its result is
derived: ``Derived in chapter 1, section "Beta laws"``. In the reference
(book/reference/, Sphinx autodoc with napoleon), each such phrase becomes a link to that
section. The sections' labels come from ``sphinx.ext.autosectionlabel``
(``book/01-random-angles:Beta laws``), so a section named wrongly, or renamed in the
chapter, is an undefined label: a warning, which fails the strict build.

2. From the chapters to the reference. A chapter calls ``lib`` in its code cells
(``angles.angle_pdf(...)``), which cannot hold links. Each chapter ends with a paragraph
"The lib functions this chapter calls" listing every public ``lib`` name its code uses,
in order of first use, each linked to its reference entry (found in the code, so the
list cannot go stale); prose that names a ``lib`` function links it with ``{py:func}``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent

# "chapter 4, section "Biased and unbiased estimators"" (possibly across lines)
SECTION_MENTION = re.compile(r'\b([Cc]hapter) (\d+),\s+section\s+"([^"]+)"')


def chapter_docnames(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """The docnames of the numbered chapters of _toc.yml, in order (chapter 1 first)."""
    parts = yaml.safe_load(toc.read_text(encoding="utf-8")).get("parts", [])
    return [chapter["file"].removesuffix(".md")
            for part in parts if part.get("numbered", False)
            for chapter in part.get("chapters", [])]


def link_sections(text: str, chapters: list[str]) -> str:
    """Each 'chapter N, section "Title"' in ``text`` as a reST reference to it."""

    def link(match: re.Match[str]) -> str:
        word, number, title = match.group(1), int(match.group(2)), " ".join(match.group(3).split())
        if not 1 <= number <= len(chapters):
            raise ValueError(f"a docstring names chapter {number}; the book has "
                             f"{len(chapters)} chapters")
        # A title with math is named as written in the chapter ("$k$"), shown without $.
        shown = title.replace("$", "")
        return f':ref:`{word} {number}, section "{shown}" <{chapters[number - 1]}:{title}>`'

    return SECTION_MENTION.sub(link, text)


def _link_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                    lines: list[str]) -> None:
    if not name.startswith("lib"):
        return
    lines[:] = link_sections("\n".join(lines), chapter_docnames()).split("\n")


def public_names() -> dict[str, str]:
    """``module.name`` -> its reference role (``func``, ``class`` or ``data``), for every
    name in the ``__all__`` of every module in ``lib.__all__``."""
    import importlib
    import inspect

    import lib

    names = {}
    for module_name in lib.__all__:
        module = importlib.import_module(f"lib.{module_name}")
        for name in module.__all__:
            obj = getattr(module, name)
            role = "class" if inspect.isclass(obj) else "func" if callable(obj) else "data"
            names[f"{module_name}.{name}"] = role
    return names


def names_used(code: str, names: dict[str, str]) -> list[str]:
    """The public ``lib`` names ``code`` uses (as ``module.name``), in order of first use."""
    used: list[str] = []
    for match in re.finditer(r"(?<![\w.])(?:lib\.)?([a-z_]+\.[A-Za-z_]\w*)", code):
        name = match.group(1)
        if name in names and name not in used:
            used.append(name)
    return used


def _list_lib_calls(app: Sphinx, doctree: nodes.document) -> None:
    """End each chapter with links to the reference entries of the lib names it calls."""
    if app.env.docname not in chapter_docnames():
        return
    names = public_names()
    code = "\n".join(block.astext() for block in doctree.findall(nodes.literal_block)
                     if "cell_input" in getattr(block.parent, "get", lambda *_: [])("classes", []))
    used = names_used(code, names)
    if not used:
        return
    paragraph = nodes.paragraph(classes=["book-lib-calls"])
    paragraph += nodes.strong(text="The lib functions this chapter calls: ")
    for i, name in enumerate(used):
        if i:
            paragraph += nodes.Text(", ")
        xref = addnodes.pending_xref("", refdomain="py", reftype=names[name],
                                     reftarget=f"lib.{name}", refexplicit=True,
                                     refwarn=True)
        xref += nodes.literal(text=name, classes=["xref", "py"])
        paragraph += xref
    paragraph += nodes.Text(" (in the lib reference).")
    # At the end of the chapter's last section (a paragraph may not follow subsections).
    target: nodes.Element = doctree
    while True:
        sections = [s for s in target.children if isinstance(s, nodes.section)]
        if not sections:
            break
        target = sections[-1]
    target.append(paragraph)


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autosectionlabel")
    app.connect("autodoc-process-docstring", _link_docstring)
    app.connect("doctree-read", _list_lib_calls)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
