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
