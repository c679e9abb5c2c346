"""The pure parts of the site's Sphinx extension (_ext/book_site.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_ext"))

import book_site  # noqa: E402


def test_feedback_line_with_a_repository_links_issues_and_source() -> None:
    line = book_site.feedback_line("https://example.org/owner/book/", "trunk",
                                   "book/03-gaussian-distances.md")
    assert 'href="https://example.org/owner/book/issues"' in line
    source = "https://example.org/owner/book/blob/trunk/book/03-gaussian-distances.md"
    assert f'href="{source}"' in line and "claim's ID" in line
    default_branch = book_site.feedback_line("https://example.org/b", "", "x.md")
    assert default_branch.count("/blob/main/x.md") == 1


def test_feedback_line_without_a_repository_says_where_the_source_is() -> None:
    line = book_site.feedback_line("  ", "main", "book/01-random-angles.md")
    assert "href" not in line and "download menu" in line and "claim's ID" in line


def test_chinese_search_terms_include_every_inner_word() -> None:
    search = book_site.SearchEnglishAndChinese.__new__(book_site.SearchEnglishAndChinese)
    words = search.split("the n维空间下两个随机向量的夹角分布 article")
    assert {"夹角", "随机向量", "维空间下两个随机向量的夹角分布", "article"} <= set(words)
    assert "夹" not in words  # single characters would match nearly everything


def _svg_figure(width_in: float, label_pt: float) -> str:
    import io

    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width_in, 3))
    ax.plot([0, 1], [0, 1], label="line")
    ax.tick_params(labelsize=12)
    ax.legend(fontsize=label_pt)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    return buffer.getvalue()


def test_figure_min_width_keeps_the_smallest_text_legible() -> None:
    # 6.4 in = 460.8 pt wide, smallest text the 8 pt legend: shown 518.4 px wide it is
    # 9 px high; plus 16 px for the dark theme's padding.
    assert book_site.figure_min_width_px(_svg_figure(6.4, 8)) == 535
    # 12 pt text in a 3 in (216 pt) figure is legible at 162 px: 178 with the padding.
    assert book_site.figure_min_width_px(_svg_figure(3, 12)) == 178
    # 5 pt text would need 1.8x the figure's own width: capped at its natural 614.4 px.
    assert book_site.figure_min_width_px(_svg_figure(6.4, 5)) == 615 + 16
    assert book_site.figure_min_width_px('<svg width="10pt"><path d="M 0 0"/></svg>') is None


# -- plain notebooks (_ext/plain_notebook.py) ---------------------------------------
import plain_notebook  # noqa: E402

REFS = plain_notebook.References(
    equations={"eq-a": "(1.3)"}, numbered={"fig-a": "Fig. 1.2", "thm-a": "Theorem 1.1"},
    titles={"sec-a": "Hyperspherical coordinates"},
    documents={"02-initialization-geometry": "chapter 2, *Initialization*"},
    citations={"ball1997": "Ball, 1997", "x2020": "X and Y, 2020"},
    entries={"ball1997": "Keith Ball. An introduction. 1997."},
    macros={"R": "\\mathbb{R}", "norm": ["\\lVert #1 \\rVert", 1]})
GLUE = {"v": {"text/plain": "0.123456"}, "s": {"text/plain": "'seven'"},
        "f": {"text/latex": "$\\displaystyle x^{2}$", "text/plain": "x**2"}}


def test_plain_markdown_writes_in_values_numbers_and_titles() -> None:
    cited: list[str] = []
    text = plain_notebook.plain_markdown(
        "(sec-a)=\nSo {glue:text}`v:.3f` and {glue:text}`s:s`, by {eq}`eq-a`, "
        "{numref}`fig-a`, {numref}`Figure %s <fig-a>`, {prf:ref}`thm-a`, {ref}`sec-a`, "
        "{ref}`here <sec-a>`, {doc}`02-initialization-geometry`, {glue}`f` "
        "{cite}`ball1997,x2020` and {cite:t}`ball1997`.", GLUE, REFS, cited)
    assert text == ("So 0.123 and seven, by (1.3), Fig. 1.2, Figure 1.2, Theorem 1.1, "
                    "Hyperspherical coordinates, here, chapter 2, *Initialization*, $x^{2}$ "
                    "(Ball, 1997; X and Y, 2020) and Ball, 1997.")
    assert cited == ["ball1997", "x2020"]
    assert plain_notebook.unresolved_markup(text) == []


def test_plain_markdown_turns_directives_into_markdown() -> None:
    source = ("```{glue:math} f\n:label: eq-a\n```\n\n```{math}\ny = 1\n```\n\n"
              "````{prf:theorem} Beta laws\n:label: thm-a\n\nIt holds, {eq}`eq-a`.\n"
              "````\n```{prf:proof}\nClear.\n```\n```{note}\nLine one\nline two\n```")
    text = plain_notebook.plain_markdown(source, GLUE, REFS)
    assert "$$\nx^{2} \\tag{1.3}\n$$" in text and "$$\ny = 1\n$$" in text
    assert "**Theorem 1.1 (Beta laws).** It holds, (1.3)." in text
    assert "*Proof.* Clear. $\\blacksquare$" in text
    assert "> **Note.** Line one\n> line two" in text
    assert plain_notebook.unresolved_markup(text) == []
    dollars = plain_notebook.plain_markdown("$$\nz = 2\n$$ (eq-a)\n", GLUE, REFS)
    assert dollars == "$$\nz = 2\n\\tag{1.3}\n$$\n"


def test_plain_markdown_refuses_what_it_cannot_resolve() -> None:
    import pytest

    for source in ("{eq}`eq-missing`", "{glue:text}`nope`", "```{unknown}\nx\n```",
                   "```{math}\n:label: eq-b\nx\n```", "{glue:text}`f:.2f`"):
        with pytest.raises(plain_notebook.UnresolvedReference):
            plain_notebook.plain_markdown(source, GLUE, REFS)
    left = plain_notebook.unresolved_markup("(x)=\n{eq}`a`\n```{note}\nb\n```")
    assert left == ["{eq}`a`", "(x)=", "```{note}"]


def test_macro_cell_defines_every_macro() -> None:
    cell = plain_notebook.macro_cell(REFS.macros)
    assert cell == "$\\newcommand{\\R}{\\mathbb{R}} \\newcommand{\\norm}[1]{\\lVert #1 \\rVert}$"


def test_a_heading_never_swallows_the_first_item_of_a_list() -> None:
    text = plain_notebook.plain_markdown("```{admonition} On the article\n- one\n- two\n```",
                                         GLUE, REFS)
    assert text == "> **On the article.**\n>\n> - one\n> - two"


def test_exercises_and_solutions_become_headed_paragraphs() -> None:
    refs = plain_notebook.References(numbered={"ex-a": "Exercise 1.2"})
    exercise = plain_notebook.plain_markdown(
        "```{exercise} Two more terms\n:label: ex-a\n\nExtend it.\n```", GLUE, refs)
    assert exercise == "**Exercise 1.2 (Two more terms).** Extend it."
    opening = plain_notebook.plain_markdown(
        "```{solution-start} ex-a\n:class: dropdown\n```", GLUE, refs)
    assert opening.startswith("**Solution to Exercise 1.2.** Its cells below are folded")
    assert plain_notebook.plain_markdown("Done.\n\n```{solution-end}\n```", GLUE, refs) \
        == "Done.\n\n"
    whole = plain_notebook.plain_markdown("```{solution} ex-a\nBy symmetry.\n```", GLUE, refs)
    assert whole == "> **Solution to Exercise 1.2.** By symmetry."
    import pytest

    with pytest.raises(plain_notebook.UnresolvedReference):
        plain_notebook.plain_markdown("```{solution-start} ex-missing\n```", GLUE, refs)


def test_a_gated_solutions_body_is_folded_and_nothing_else() -> None:
    import pytest

    start = "Exercise.\n\n```{solution-start} ex-a\n:class: dropdown\n```\n"
    end = "More.\n\n```{solution-end}\n```"
    sources = ["Before.", start, "Text.", "x = 1", end, "After.", start, end, "Last."]
    assert plain_notebook.solution_cells(sources) == [
        False, False, True, True, True, False, False, True, False]
    for broken in ([start + "\nText on."], [start, end + "\n\nNext exercise."],
                   [start + "\n" + end], [end], [start, "Text."], [start, start]):
        with pytest.raises(ValueError):
            plain_notebook.solution_cells(broken)


def test_the_verification_page_is_read_again_whenever_a_chapter_is() -> None:
    found = {"book/verification", "book/01-random-angles"}
    assert book_site.glued_from_other_pages({"book/01-random-angles"}, found) == [
        "book/verification"]
    assert book_site.glued_from_other_pages(set(), found) == []
    assert book_site.glued_from_other_pages({"book/01-random-angles"}, {"x"}) == []
