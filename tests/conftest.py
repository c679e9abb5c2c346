"""pytest configuration shared by the lib tests and the nbval run."""

from __future__ import annotations

import os

import pytest

from hypothesis import settings

# Property tests draw their examples from a fixed seed, so that a CI run is
# reproducible and a failure is the code's, not the draw's. Fresh draws, to look for
# new counterexamples: HYPOTHESIS_PROFILE=explore pytest tests/test_<module>.py
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A relative tolerance means a relative tolerance. pytest.approx(x, rel=r) also accepts
# anything within 1e-12 in absolute terms, which makes a comparison of values below
# about 1e-12 / r vacuous (a KL divergence of 1.7e-15 "equalled" 0.0). In this suite,
# rel without abs compares relatively only; pass abs= where an absolute floor is meant.
_pytest_approx = pytest.approx


def _relative_approx(expected, rel=None, abs=None, nan_ok=False):  # noqa: A002 (pytest's name)
    if rel is not None and abs is None:
        abs = 0.0  # noqa: A001
    return _pytest_approx(expected, rel=rel, abs=abs, nan_ok=nan_ok)


pytest.approx = _relative_approx

# Output MIME types nbval must not compare. Everything else (text/plain, text/latex,
# text/html, glued text) is compared against the reviewed golden notebooks.
VOLATILE_MIME_TYPES = (
    # Rasterised figures differ byte-for-byte across FreeType/Agg builds; the data
    # behind each figure is checked by the chapter's ledger instead.
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    # The same figures when glued with myst_nb.glue (stored as papermill records).
    "application/papermill.record/image/png",
    "application/papermill.record/image/svg+xml",
)


def pytest_collection_modifyitems(session, config, items):
    """Add the volatile MIME types to each notebook's nbval skip list."""
    for item in items:
        notebook = item.parent
        skip = getattr(notebook, "skip_compare", None)
        if skip is not None:
            notebook.skip_compare = tuple(dict.fromkeys(skip + VOLATILE_MIME_TYPES))
