"""Smoke test for benchmarks/run.py: it imports and produces one small row.

The benchmarks are a report (`make bench`), not a test: no timing is asserted here,
only that the script runs and its accuracy columns are filled in.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_run", module)
    spec.loader.exec_module(module)
    return module


def test_bench_smallest_row_runs():
    run = _load()
    rows = run.rows_w2(1, sizes=(16,), generic=False)
    assert [r.ref for r in rows] == ["POT bures_wasserstein_distance", "scipy.linalg.sqrtm textbook"]
    for r in rows:
        assert r.lib_s > 0 and r.ref_s > 0 and r.ratio > 0
        assert r.lib_err < 1e-12 and r.rel_diff < 1e-12  # exact integer reference
    table = run.format_table(rows)
    assert "gaussian.wasserstein2" in table and "n=16" in table


def test_integer_w2_pair_is_exact():
    run = _load()
    mu_p, cp, mu_q, cq, exact = run.integer_w2_pair(8, seed=0)
    assert exact > 0
    assert (cp == cp.T).all() and (cq == cq.T).all()
