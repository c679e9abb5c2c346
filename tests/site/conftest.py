"""Fixtures for the tests of the built site (_build/html).

These tests need a built site, so they run only when tests/site is named on the
command line (scripts/test does so after the build:  pytest tests/site); a plain
`pytest tests` skips them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitepages import CHAPTERS, HERE, PAGES, SCREENSHOTS, SITE, Page


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    named = any(
        HERE == Path(arg.split("::")[0]).resolve()
        or HERE in Path(arg.split("::")[0]).resolve().parents
        for arg in config.args
    )
    if named:
        return
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.skip(
                reason="site tests run only when tests/site is named (scripts/test does, after the build)"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Screenshots of pages no longer in the book do not linger. Done once, by the
    controlling process: under pytest-xdist a worker must not delete what another
    worker has just saved."""
    if hasattr(session.config, "workerinput"):
        return
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no built site at {SITE}: run `make book` (scripts/build-book) first")
    return SITE


@pytest.fixture(scope="session")
def pages() -> list[Page]:
    return PAGES


@pytest.fixture(scope="session")
def chapters() -> list[Page]:
    return CHAPTERS
