"""Tests for lib.checks: every check passes when it should and fails when it should."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from scipy import stats

from lib.checks import (
    EVIDENCE_KINDS,
    _ChainPrinter,
    readable_latex,
    FALSE_ALARM_BUDGET,
    MONTE_CARLO_K,
    PER_CLAIM_ALPHA,
    RANDOM_CLAIMS_CAP,
    Ledger,
    central_difference_gradient,
    format_error,
)

x, n = sp.symbols("x n", positive=True)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger("test chapter")


def test_symbolic_passes_and_records(ledger: Ledger) -> None:
    ledger.symbolic("s-1", "sin^2 + cos^2 = 1", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    ledger.symbolic("s-2", "Gamma recurrence", sp.gamma(n + 1), n * sp.gamma(n))
    assert [c.claim_id for c in ledger.claims] == ["s-1", "s-2"]
    assert ledger.claims[0].error == "exact"


def test_symbolic_fails_naming_the_claim(ledger: Ledger) -> None:
    with pytest.raises(AssertionError, match="s-bad"):
        ledger.symbolic("s-bad", "wrong identity", sp.sin(x) ** 2, sp.cos(x) ** 2)
    assert ledger.claims == ()


def test_symbolic_matrices_are_checked_entrywise(ledger: Ledger) -> None:
    ledger.symbolic("s-m", "two identities", sp.Matrix([sp.cos(x) ** 2 + sp.sin(x) ** 2, x]),
                    sp.Matrix([1, x]))
    with pytest.raises(AssertionError, match="s-m2"):
        ledger.symbolic("s-m2", "one wrong entry", sp.Matrix([1, x]), sp.Matrix([1, 2 * x]))


def test_close_passes_and_fails(ledger: Ledger) -> None:
    assert ledger.close("c-1", "pi", 3.14159265, np.pi, rtol=1e-8, reference="arithmetic") is None
    assert 0 < ledger.claims[-1].measured < 1e-8
    with pytest.raises(AssertionError, match="c-2"):
        ledger.close("c-2", "pi", 3.14, np.pi, rtol=1e-8, reference="arithmetic")
    with pytest.raises(AssertionError, match="non-finite"):
        ledger.close("c-3", "nan", np.nan, 1.0, rtol=1e-8, reference="arithmetic")


def test_close_arrays_use_worst_element(ledger: Ledger) -> None:
    with pytest.raises(AssertionError, match="c-arr"):
        ledger.close("c-arr", "arrays", [1.0, 2.0, 3.1], [1.0, 2.0, 3.0], rtol=1e-3, reference="m")


def test_close_rejects_bad_tolerances(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.close("c-4", "no tolerance", 1.0, 1.0, rtol=0.0, reference="m")
    with pytest.raises(ValueError):
        ledger.close("c-5", "negative", 1.0, 1.0, rtol=-1.0, reference="m")


def test_monte_carlo_within_and_outside_k_se(ledger: Ledger) -> None:
    rng = np.random.default_rng(0)
    samples = rng.standard_normal(10_000)
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    ledger.monte_carlo("m-1", "mean of N(0,1)", samples.mean(), 0.0, se)
    assert ledger.claims[-1].measured <= 4
    with pytest.raises(AssertionError, match="m-2"):
        ledger.monte_carlo("m-2", "mean is not 0.1", samples.mean(), 0.1, se)
    with pytest.raises(ValueError):
        ledger.monte_carlo("m-3", "bad se", 0.0, 0.0, 0.0)


def test_ks_test_accepts_right_law_and_rejects_wrong_one(ledger: Ledger) -> None:
    rng = np.random.default_rng(1)
    samples = rng.standard_normal(20_000)
    ledger.ks_test("k-1", "normal samples", samples, stats.norm.cdf)
    with pytest.raises(AssertionError, match="k-2"):
        ledger.ks_test("k-2", "not logistic", samples, stats.logistic.cdf)


def test_holds(ledger: Ledger) -> None:
    ledger.holds("h-1", "squares are non-negative", np.arange(-3, 4) ** 2 >= 0, method="grid")
    with pytest.raises(AssertionError, match="1 of 3"):
        ledger.holds("h-2", "all positive", np.array([1, -1, 2]) > 0, method="grid")
    with pytest.raises(ValueError):
        ledger.holds("h-3", "not boolean", np.array([1.0, 2.0]), method="grid")
    with pytest.raises(ValueError):
        ledger.holds("h-4", "empty", np.array([], dtype=bool), method="grid")


def test_duplicate_and_empty_ids_are_rejected(ledger: Ledger) -> None:
    ledger.symbolic("d-1", "trivial", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    with pytest.raises(ValueError, match="already"):
        ledger.symbolic("d-1", "again", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    with pytest.raises(ValueError):
        ledger.symbolic("", "no id", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    with pytest.raises(ValueError):
        Ledger("")


def test_ledgers_do_not_share_state() -> None:
    first, second = Ledger("a"), Ledger("b")
    first.symbolic("a-1", "trivial", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    assert len(second.claims) == 0
    second.symbolic("a-1", "same id, other ledger", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)


def test_table_renders_every_claim(ledger: Ledger) -> None:
    ledger.symbolic("t-1", "identity", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    ledger.close("t-2", "number", 1.0 + 1e-9, 1.0, rtol=1e-6, reference="m")
    table = ledger.table()
    text = repr(table)
    assert "t-1" in text and "t-2" in text and "2 claims verified" in text
    assert "exact" in text and "1.0e-09" in text
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and "&lt;" not in "".join(r[1] for r in table.rows)
    assert ledger.summary() == "2 of 2 passed"


def test_html_is_escaped(ledger: Ledger) -> None:
    ledger.holds("e-1", "a < b & c", np.array([True]), method="m")
    assert "a &lt; b &amp; c" in ledger.table()._repr_html_()


@pytest.mark.parametrize(
    ("error", "shown"),
    [(None, "exact"), (0.0, "< 1e-12"), (3e-16, "< 1e-12"), (1.234e-5, "1.2e-05")],
)
def test_format_error(error: float | None, shown: str) -> None:
    assert format_error(error) == shown


def test_format_error_rejects_nan() -> None:
    with pytest.raises(ValueError):
        format_error(float("nan"))


def test_central_difference_gradient_of_a_quadratic() -> None:
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = np.array([0.5, -1.0])
    estimate = central_difference_gradient(lambda v: 0.5 * v @ a @ v, x, 1e-3)
    np.testing.assert_allclose(estimate, a @ x, rtol=1e-9, atol=1e-10)
    with pytest.raises(ValueError):
        central_difference_gradient(lambda v: float(v.sum()), x, 0.0)


def test_gradient_check_passes_and_fails(ledger: Ledger) -> None:
    x = np.array([[0.3, -0.7], [1.1, 0.2]])
    f = lambda v: float(np.sum(np.sin(v)) + np.sum(v) ** 2)  # noqa: E731
    exact = np.cos(x) + 2 * np.sum(x)
    ledger.gradient("g-1", "gradient of sin sum", f, x, exact)
    with pytest.raises(AssertionError, match="g-2"):
        ledger.gradient("g-2", "gradient off by 1e-5", f, x, exact + 1e-5)


# -- refusals: a check that cannot fail is refused, naming the argument ----------
@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"rtol": float("inf")}, "rtol"),
        ({"rtol": float("nan")}, "rtol"),
        ({"rtol": -1e-9}, "rtol"),
        ({"rtol": 0.0, "atol": float("inf")}, "atol"),
        ({"rtol": 1e-9, "atol": -1.0}, "atol"),
        ({"rtol": 0.0, "atol": 0.0}, "both 0"),
    ],
)
def test_close_refuses_meaningless_tolerances(ledger: Ledger, kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        ledger.close("c-t", "a value", 2.0, 1.0, reference="m", **kwargs)
    assert ledger.claims == ()


def test_close_refuses_non_numeric_tolerance(ledger: Ledger) -> None:
    with pytest.raises(TypeError, match="rtol"):
        ledger.close("c-t", "a value", 1.0, 1.0, rtol="1e-9", reference="m")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="atol"):
        ledger.close("c-t", "a value", 1.0, 1.0, rtol=1e-9, atol=True, reference="m")


def test_close_loose_tolerance_needs_a_reason(ledger: Ledger) -> None:
    # rtol = 0.5 would pass 1.4 for 1.0: refused without a reason, shown with one.
    with pytest.raises(ValueError, match="reason"):
        ledger.close("c-l1", "loose rtol", 1.4, 1.0, rtol=0.5, reference="m")
    # An atol of a tenth of the expected magnitude is as loose.
    with pytest.raises(ValueError, match="reason"):
        ledger.close("c-l2", "loose atol", 1.9, 2.0, rtol=0.0, atol=0.2, reference="m")
    ledger.close("c-l3", "loose rtol", 1.4, 1.0, rtol=0.5, reference="m",
                 reason="an order-of-magnitude statement")
    assert "an order-of-magnitude statement" in ledger.claims[-1].method
    with pytest.raises(ValueError, match="reason"):
        ledger.close("c-l4", "empty reason", 1.0, 1.0, rtol=0.5, reference="m", reason=" ")
    # Sound checks still pass: an absolute tolerance against a zero expected value,
    # and a small one against a large value.
    ledger.close("c-l5", "residual", 1e-12, 0.0, rtol=0.0, atol=1e-10, reference="m")
    ledger.close("c-l6", "absolute", 1000.0 + 1e-9, 1000.0, rtol=0.0, atol=1e-6, reference="m")
    assert [c.claim_id for c in ledger.claims] == ["c-l3", "c-l5", "c-l6"]


def test_close_refuses_non_finite_expected_and_empty_method(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="expected"):
        ledger.close("c-e", "inf", float("inf"), float("inf"), rtol=1e-9, reference="m")
    with pytest.raises(ValueError, match="reference"):
        ledger.close("c-m", "no method", 1.0, 1.0, rtol=1e-9, reference="")
    with pytest.raises(TypeError, match="reference"):
        ledger.close("c-m", "no method", 1.0, 1.0, rtol=1e-9, reference=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((0.0, 0.0, 1.0), {"k": float("inf")}, "k"),
        ((0.0, 0.0, 1.0), {"k": float("nan")}, "k"),
        ((0.0, 0.0, 1.0), {"k": 0.0}, "k"),
        ((0.0, 0.0, 1.0), {"k": -4.0}, "k"),
        ((0.0, 0.0, float("inf")), {}, "standard_error"),
        ((0.0, 0.0, float("nan")), {}, "standard_error"),
        ((0.0, 0.0, -1.0), {}, "standard_error"),
        ((float("nan"), 0.0, 1.0), {}, "estimate"),
        ((float("inf"), 0.0, 1.0), {}, "estimate"),
        ((0.0, float("nan"), 1.0), {}, "expected"),
        ((0.0, 0.0, 1.0), {"method": ""}, "method"),
    ],
)
def test_monte_carlo_refusals(ledger: Ledger, args: tuple, kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        ledger.monte_carlo("m-r", "a mean", *args, **kwargs)
    assert ledger.claims == ()


def test_ks_test_refusals(ledger: Ledger) -> None:
    samples = np.random.default_rng(2).standard_normal(100)
    for alpha in (0.0, 1.0, float("nan"), float("inf"), -0.1):
        with pytest.raises(ValueError, match="alpha"):
            ledger.ks_test("k-r", "normal", samples, stats.norm.cdf, alpha=alpha)
    with pytest.raises(ValueError, match="finite"):
        ledger.ks_test("k-r", "normal", np.append(samples, np.nan), stats.norm.cdf)
    with pytest.raises(ValueError, match="method"):
        ledger.ks_test("k-r", "normal", samples, stats.norm.cdf, method=" ")
    assert ledger.claims == ()


def test_holds_and_symbolic_need_a_method(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="method"):
        ledger.holds("h-m", "true", np.array([True]), method="")
    with pytest.raises(TypeError, match="method"):
        ledger.holds("h-m", "true", np.array([True]), method=None)  # type: ignore[arg-type]
    assert ledger.claims == ()


def test_gradient_refuses_bad_step(ledger: Ledger) -> None:
    f = lambda v: float(np.sum(v**2))  # noqa: E731
    point = np.array([1.0, 2.0])
    for step in (0.0, -1e-4, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="step"):
            ledger.gradient("g-s", "gradient", f, point, 2 * point, step=step)
    assert ledger.claims == ()


# -- one false-alarm budget -------------------------------------------------------
def test_budget_constants_follow_from_the_budget() -> None:
    assert FALSE_ALARM_BUDGET <= 1e-6
    assert PER_CLAIM_ALPHA * RANDOM_CLAIMS_CAP == pytest.approx(FALSE_ALARM_BUDGET)
    # The two-sided tail beyond MONTE_CARLO_K is the per-claim share.
    assert 2 * stats.norm.sf(MONTE_CARLO_K) == pytest.approx(PER_CLAIM_ALPHA, rel=1e-9)
    assert 5.8 < MONTE_CARLO_K < 5.9


def test_monte_carlo_default_band_and_resolution(ledger: Ledger) -> None:
    # 5.8 SE passes, 5.9 SE fails: the band is MONTE_CARLO_K, not a chosen 4.
    ledger.monte_carlo("m-b1", "inside", 1.0 + 5.8 * 0.01, 1.0, 0.01)
    with pytest.raises(AssertionError, match="m-b2"):
        ledger.monte_carlo("m-b2", "outside", 1.0 + 5.9 * 0.01, 1.0, 0.01)
    row = ledger.claims[-1]
    assert row.method.endswith(f"|z| <= {MONTE_CARLO_K:.2f}")
    # resolution k SE / |expected| = 5.85 * 0.01 / 1 -> "6e-02 rel."
    assert row.error == "5.80 SE; resolves 6e-02 rel."
    ledger.monte_carlo("m-b3", "zero mean", 0.001, 0.0, 0.001)
    assert ledger.claims[-1].error == "1.00 SE; resolves 6e-03 abs."
    ledger.monte_carlo("m-b4", "close", 1.0001, 1.0, 0.01)  # not shown as "0.0 SE"
    assert ledger.claims[-1].error.startswith("0.01 SE;")


def test_own_k_or_alpha_needs_a_reason(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="reason"):
        ledger.monte_carlo("m-k", "own k", 0.0, 0.0, 1.0, k=3.0)
    with pytest.raises(ValueError, match="reason"):
        ledger.monte_carlo("m-k", "reason without k", 0.0, 0.0, 1.0, reason="why")
    ledger.monte_carlo("m-k", "own k", 0.0, 0.0, 1.0, k=3.0, reason="a power claim")
    assert "a power claim" in ledger.claims[-1].method
    assert ledger.claims[-1].method.endswith("|z| <= 3.00")
    samples = np.random.default_rng(3).standard_normal(500)
    with pytest.raises(ValueError, match="reason"):
        ledger.ks_test("k-a", "own alpha", samples, stats.norm.cdf, alpha=1e-3)
    ledger.ks_test("k-a", "own alpha", samples, stats.norm.cdf, alpha=1e-3, reason="why not")
    assert "why not" in ledger.claims[-1].method


def test_ks_test_default_level_and_resolution(ledger: Ledger) -> None:
    samples = np.random.default_rng(4).standard_normal(1000)
    ledger.ks_test("k-d", "normal", samples, stats.norm.cdf)
    row = ledger.claims[-1]
    assert row.method.endswith(f"alpha={PER_CLAIM_ALPHA:.0e}")
    critical = stats.kstwo.isf(PER_CLAIM_ALPHA, 1000)
    assert row.error.endswith(f"resolves {critical:.0e}")
    # A shift of a quarter standard deviation moves the CDF by about 0.1 > 0.099.
    with pytest.raises(AssertionError, match="k-s"):
        ledger.ks_test("k-s", "shifted", samples + 0.25, stats.norm.cdf)


def test_random_comparisons_are_counted_in_the_summary(ledger: Ledger) -> None:
    samples = np.random.default_rng(5).standard_normal(400)
    ledger.monte_carlo("r-1", "mean", samples.mean(), 0.0, 0.05)
    ledger.ks_test("r-2", "law", samples, stats.norm.cdf)
    ledger.holds("r-3", "twelve bands", np.ones(12, dtype=bool), method="m", random=12)
    ledger.holds("r-4", "not random", np.array([True]), method="m")
    assert ledger.random_comparisons == 14
    assert repr(ledger.table()).endswith("4 claims verified; 14 random comparisons (Monte Carlo or KS)")
    with pytest.raises(ValueError, match="random"):
        ledger.holds("r-5", "bad count", np.array([True]), method="m", random=-1)


# -- evidence labels ----------------------------------------------------------------
def test_a_tautology_is_refused_and_a_derived_claim_passes(ledger: Ledger) -> None:
    t = sp.symbols("t", positive=True)
    # Both sides typed the same way: zero before any check runs.
    with pytest.raises(ValueError, match="already 0 as built"):
        ledger.symbolic("e-1", "typed twice", sp.exp(-t) * t, t * sp.exp(-t))
    # The same integral, obtained by integrate from the definition: SymPy's standard
    # form makes the difference zero as built, and the claim says how it was derived.
    derived = sp.integrate(sp.exp(-x * t), (x, 0, sp.oo))
    ledger.symbolic("e-2", "Laplace transform of 1", derived, 1 / t, derived_by="integrate")
    assert ledger.claims[-1].method == "sympy: integrate"
    assert ledger.claims[-1].evidence == "sympy"
    # A derived claim that is wrong still fails.
    with pytest.raises(AssertionError, match="e-3"):
        ledger.symbolic("e-3", "wrong transform", derived, 2 / t, derived_by="integrate")


def test_the_same_object_on_both_sides_is_refused(ledger: Ledger) -> None:
    expr = sp.sin(x) ** 2 + sp.cos(x) ** 2
    for kwargs in ({}, {"by_construction": True}):
        with pytest.raises(ValueError, match="same object"):
            ledger.symbolic("e-4", "itself", expr, expr, **kwargs)
    m = sp.Matrix([x, 1])
    with pytest.raises(ValueError, match="same object"):
        ledger.symbolic("e-5", "itself", m, m)
    assert ledger.claims == ()
    # SymPy's cache: a derivation that lands exactly on the typed form returns that
    # very object. Named, it is a derived claim.
    t = sp.symbols("t", positive=True)
    typed = 1 / t
    derived = sp.integrate(sp.exp(-x * t), (x, 0, sp.oo))
    assert derived is typed
    ledger.symbolic("e-6", "Laplace transform of 1", derived, typed, derived_by="integrate")
    assert ledger.claims[-1].evidence == "sympy"


def test_by_construction_is_labelled_and_must_be_true_as_built(ledger: Ledger) -> None:
    ledger.symbolic("e-6b", "definition", x**2 + 1, 1 + x**2, by_construction=True)
    assert ledger.claims[-1].evidence == "construction"
    assert ledger.claims[-1].method.startswith("by construction")
    with pytest.raises(ValueError, match="differ as built"):
        ledger.symbolic("e-7", "needs simplify", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1,
                        by_construction=True)
    with pytest.raises(ValueError, match="not both"):
        ledger.symbolic("e-8", "both", x, 1 * x, derived_by="diff", by_construction=True)
    # A genuine identity that needs simplification needs no label.
    ledger.symbolic("e-9", "Pythagoras", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    assert ledger.claims[-1].method == "sympy: difference simplifies to 0"


def test_close_names_its_reference_and_flags_weak_ones(ledger: Ledger) -> None:
    ledger.close("r-1", "pi", 3.14159265358979, np.pi, rtol=1e-12, reference="math.pi")
    assert ledger.claims[-1].evidence == "reference"
    assert ledger.claims[-1].method == "math.pi"
    ledger.close("r-2", "same routine", 1.0 + 1e-15, 1.0, rtol=1e-12, reference="scipy",
                 same_code_path=True)
    assert ledger.claims[-1].evidence == "same_code"
    assert "same code path" in ledger.claims[-1].method
    ledger.close("r-3", "copied", np.array([1.0, 2.0]), np.array([1.0, 2.0]), rtol=1e-12,
                 reference="itself")
    assert ledger.claims[-1].evidence == "identical"
    assert ledger.claims[-1].method.endswith("identical values")
    ledger.close("r-4", "exact in binary", 0.5, 0.5, rtol=1e-12, reference="fractions",
                 reason="both are exact dyadic rationals")
    assert ledger.claims[-1].evidence == "reference"
    with pytest.raises(TypeError, match="reference"):
        ledger.close("r-5", "unnamed", 1.0, 1.0, rtol=1e-12)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="reference"):
        ledger.close("r-5", "unnamed", 1.0, 1.0, rtol=1e-12, reference=" ")
    assert ledger.evidence_counts() == {
        "sympy": 0, "construction": 0, "reference": 2, "same_code": 1, "identical": 1,
        "random": 0, "condition": 0,
    }


def test_every_claim_kind_is_counted(ledger: Ledger) -> None:
    ledger.symbolic("k-1", "Pythagoras", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    ledger.monte_carlo("k-2", "mean", 0.01, 0.0, 0.01)
    ledger.holds("k-3", "positive", np.array([True]), method="grid")
    ledger.holds("k-4", "a band", np.array([True]), method="grid", random=1)
    counts = ledger.evidence_counts()
    assert set(counts) == set(EVIDENCE_KINDS)
    assert (counts["sympy"], counts["random"], counts["condition"]) == (1, 2, 1)
    assert sum(counts.values()) == len(ledger.claims)


def test_checks_return_none_so_a_last_line_displays_nothing(ledger: Ledger) -> None:
    samples = np.random.default_rng(6).standard_normal(200)
    results = [
        ledger.symbolic("n-1", "Pythagoras", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1),
        ledger.close("n-2", "one", 1.0, 1.0 + 1e-12, rtol=1e-9, reference="m"),
        ledger.monte_carlo("n-3", "mean", samples.mean(), 0.0, 1 / np.sqrt(200)),
        ledger.ks_test("n-4", "law", samples, stats.norm.cdf),
        ledger.holds("n-5", "true", np.array([True]), method="m", margin=0.5),
        ledger.gradient("n-6", "gradient", lambda v: float(v @ v), np.ones(2), 2 * np.ones(2)),
    ]
    assert results == [None] * 6
    measured = [c.measured for c in ledger.claims]
    assert measured[0] is None and measured[4] == 0.5
    assert all(isinstance(m, float) for m in measured[1:4] + measured[5:])


# -- derivation chains --------------------------------------------------------------
def test_a_correct_chain_concludes_as_one_claim(ledger: Ledger) -> None:
    t = sp.symbols("t", positive=True)
    chain = ledger.chain("sin3", sp.Symbol("I"), sp.Integral(sp.sin(t) ** 3, (t, 0, sp.pi)))
    chain.step("$\\sin^2 = 1 - \\cos^2$",
               to=sp.Integral((1 - sp.cos(t) ** 2) * sp.sin(t), (t, 0, sp.pi)))
    chain.step("substitute $c = \\cos t$", via=lambda e: e.doit(), to=sp.Rational(4, 3))
    chain.conclude("c-1", "int_0^pi sin^3 = 4/3", equals=sp.Rational(4, 3))
    claim = ledger.claims[-1]
    assert claim.claim_id == "c-1" and claim.evidence == "sympy"
    assert claim.method == "derivation chain sin3: 2 symbolic step(s)"
    assert ledger.chain_step_counts() == (2, 0)


def test_a_wrong_step_fails_at_that_step(ledger: Ledger) -> None:
    chain = ledger.chain("square", sp.Symbol("f"), (x + 1) ** 2)
    chain.step("expand", via=sp.expand)
    with pytest.raises(AssertionError, match=r"chain square, step 2 \(drop a term\)"):
        chain.step("drop a term", to=x**2 + 1)
    with pytest.raises(AssertionError, match="step 2"):
        chain.step("operation and stated form disagree", via=sp.factor, to=(x + 2) ** 2)
    assert len(chain.steps) == 2


def test_a_numeric_step_is_labelled_and_can_fail(ledger: Ledger) -> None:
    chain = ledger.chain("gamma", sp.Symbol("g"), sp.gamma(x + sp.Rational(1, 2)))
    points = [{x: 0.3}, {x: 2.7}]
    chain.step("Legendre duplication",
               to=sp.sqrt(sp.pi) * sp.gamma(2 * x) / (2 ** (2 * x - 1) * sp.gamma(x)),
               numeric=points)
    assert chain.steps[-1].kind == "numeric"
    assert "Legendre duplication (checked numerically)}" in chain.latex()
    with pytest.raises(AssertionError, match="step 2"):
        chain.step("a wrong identity", to=sp.gamma(2 * x), numeric=points)
    chain.conclude("g-1", "duplication", equals=None)
    assert ledger.claims[-1].method.endswith("1 checked numerically (2 points, 30 digits)")
    assert ledger.chain_step_counts() == (0, 1)


def test_a_change_of_variables_is_checked_through_the_substitution(ledger: Ledger) -> None:
    th, u = sp.symbols("theta u", positive=True)
    chain = ledger.chain("u", sp.Symbol("h"), sp.sin(th) ** 2 * sp.cos(th) ** 2)
    chain.step("$u = \\sin^2\\theta$", to=u * (1 - u), where={u: sp.sin(th) ** 2})
    with pytest.raises(AssertionError, match="step 2"):
        chain.step("a wrong change of variables", to=u**2, where={u: sp.sin(th) ** 2})


def test_conclude_checks_the_end_and_closes_the_chain(ledger: Ledger) -> None:
    chain = ledger.chain("end", sp.Symbol("f"), (x + 1) ** 2)
    with pytest.raises(ValueError, match="no steps"):
        chain.conclude("e-0", "nothing yet")
    chain.step("expand", via=sp.expand)
    with pytest.raises(AssertionError, match="e-1"):
        chain.conclude("e-1", "wrong end", equals=x**2 + 1)
    chain.conclude("e-2", "square expanded", equals=x**2 + 2 * x + 1)
    with pytest.raises(ValueError, match="already concluded"):
        chain.step("more", via=sp.factor)
    with pytest.raises(ValueError, match="already exists"):
        ledger.chain("end", sp.Symbol("f"), x)


def test_the_rendering_is_a_stable_aligned_display(ledger: Ledger) -> None:
    chain = ledger.chain("render", sp.Symbol("f"), (x + 1) ** 2, "definition, 50% & more")
    chain.step("expand", via=sp.expand)
    assert chain.latex() == (
        "\\begin{aligned}\n"
        "f &= \\left(x + 1\\right)^{2} && \\text{definition, 50\\% \\& more} \\\\\n"
        " &= x^{2} + 2 x + 1 && \\text{expand}\n"
        "\\end{aligned}"
    )


def test_an_inequality_step_is_checked_and_rendered(ledger: Ledger) -> None:
    c = sp.symbols("c", real=True)
    m = sp.symbols("m", integer=True, positive=True)
    chain = ledger.chain("even", sp.Symbol("v"), c ** (2 * m) / sp.factorial(2 * m) + 1)
    chain.step("an even power is non-negative", to=sp.Integer(1), relation=">=")
    assert chain.relation == ">="
    assert "&\\ge 1" in chain.latex()
    chain.conclude("ineq-1", "v >= 1", equals=1)
    assert ledger.claims[-1].method.endswith("concludes lhs >= end")


def test_a_false_or_undecided_inequality_fails_at_that_step(ledger: Ledger) -> None:
    c = sp.symbols("c", real=True)
    n = sp.symbols("n", integer=True, positive=True)
    chain = ledger.chain("sign", sp.Symbol("v"), c**2 + 1)
    with pytest.raises(AssertionError, match=r"step 1 \(wrong way\).*is false"):
        chain.step("wrong way", to=c**2 + 2, relation=">")
    with pytest.raises(AssertionError, match="cannot be decided"):
        chain.step("odd powers can be negative", to=c**n + 1, relation=">=")
    # the undecided step holds at these points only numerically, and is labelled so
    chain.step("checked at points", to=c + sp.Rational(1, 2), relation=">",
               numeric=[{c: -1.5}, {c: 0.5}, {c: 3.0}])
    assert chain.steps[-1].kind == "numeric" and chain.relation == ">"
    with pytest.raises(AssertionError, match="fails at"):
        chain.step("false at a point", to=c**2, relation=">=", numeric=[{c: 3.0}])
    with pytest.raises(ValueError, match="would not compose"):
        chain.step("the other way", to=c + 1, relation="<", numeric=[{c: 0.0}])
    with pytest.raises(ValueError, match="relation must be one of"):
        chain.step("unknown", to=c, relation="!=")


def test_the_rendering_keeps_the_authors_order_and_drops_limit_points(
    ledger: Ledger,
) -> None:
    n = sp.symbols("n", positive=True)
    k = sp.symbols("k", integer=True)
    tail = sp.Sum(x**k / sp.factorial(k), (k, 0, n - 1))
    chain = ledger.chain("order", sp.Symbol("s"), tail + x**n / sp.factorial(n))
    chain.step("as written", to=sp.Add(tail, x**n / sp.factorial(n), evaluate=False))
    first, second = chain.latex().split(" \\\\\n")
    assert "s &= \\frac{x^{n}}{n!} + \\sum" in first  # SymPy's default order
    assert "&= \\sum_{k=0}^{n - 1} \\frac{x^{k}}{k!} + \\frac{x^{n}}{n!}" in second
    assert _ChainPrinter().doprint(sp.O(1 / n, (n, sp.oo))) == "O\\left(\\frac{1}{n}\\right)"


def test_readable_latex_is_the_chain_printer() -> None:
    n = sp.symbols("n", positive=True)
    series = sp.Add(1 / n, 1 / n**2, sp.O(n**-3, (n, sp.oo)), evaluate=False)
    assert readable_latex(series) == (
        "\\frac{1}{n} + \\frac{1}{n^{2}} + O\\left(\\frac{1}{n^{3}}\\right)"
    )


# -- chains: what each step checks, and how it is shown -----------------------------------
def test_latex_text_escapes_specials_outside_math_only() -> None:
    from lib.checks import _latex_text

    assert _latex_text("a\\b{c}#%&_^~") == (
        r"a\backslash b\{c\}\#\%\&\_\^{}\~{}"
    )
    assert _latex_text("cost_1 $x_1^2$ and_so $") == r"cost\_1 $x_1^2$ and\_so $"
    assert _latex_text("x_1$") == r"x\_1$"  # a lone dollar does not start math
    assert _latex_text("") == ""


def test_chain_glue_hands_the_rendered_display_to_myst_nb(monkeypatch, ledger) -> None:
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda *a, **k: calls.append((a, k)))
    chain = ledger.chain("c", sp.Symbol("I"), x + x)
    chain.step("collect", 2 * x)
    chain.glue("my-key")
    (args, kwargs), = calls
    assert args[0] == "my-key" and kwargs == {"display": False}
    assert args[1].data == chain.latex()
    with pytest.raises(ValueError, match="key"):
        chain.glue("")


def test_chain_defaults_order_and_recorded_steps(ledger) -> None:
    a, b = sp.symbols("a b")
    chain = ledger.chain("c", sp.Symbol("S"), a + b**2)
    assert chain.steps[0].justification == "definition" and chain.steps[0].kind == "start"
    chain.step("swap", b**2 + a)
    assert chain.steps[1] == (type(chain.steps[1]))(b**2 + a, "swap", "symbolic")
    assert chain.steps[1].detail == "" and chain.steps[1].relation == "="
    lex = ledger.chain("lex", sp.Symbol("S"), a + b**2, order="lex")
    rev = ledger.chain("rev", sp.Symbol("S"), a + b**2, order="rev-lex")
    assert lex.order == "lex" and lex.latex() != rev.latex()


def test_numeric_steps_substitute_floats_exactly(ledger) -> None:
    # (x + 1)^2 - x^2 - 2x is 1; with x = 12345.6789 kept as a 15-digit float the
    # cancellation would leave an error of about 1e-8
    y = sp.Symbol("y")
    chain = ledger.chain("c", sp.Symbol("E"), (y + 1) ** 2 - y**2 - 2 * y)
    chain.step("expand", 1, numeric=[{y: 12345.6789}, {y: 0.1}])
    assert chain.steps[1].kind == "numeric"
    assert chain.steps[1].detail == "2 points, 30 digits"


def test_numeric_step_tolerance_is_relative_to_max_of_1_and_the_value(ledger) -> None:
    y = sp.Symbol("y")
    ok = ledger.chain("ok", sp.Symbol("E"), y**2)
    # value 1e6: the tolerance is 1e-15 * 1e6 = 1e-9, so 5e-10 passes
    ok.step("nudge", y**2 + sp.Rational(1, 2 * 10**9), numeric=[{y: 1000}])
    bad = ledger.chain("bad", sp.Symbol("E"), y)
    # value 1: the tolerance is 1e-15 absolute, so 1.5e-15 fails, and says by how much
    with pytest.raises(AssertionError,
                       match=r"chain bad, step 1 \(nudge\) failed: differs by 1\.5\d\de-15"):
        bad.step("nudge", y + sp.Rational(3, 2 * 10**15), numeric=[{y: 1}])


def test_numeric_step_reports_leftover_symbols_and_non_finite_values(ledger) -> None:
    y, z = sp.symbols("y z")
    chain = ledger.chain("c", sp.Symbol("E"), y)
    with pytest.raises(AssertionError, match=r"symbols \['z'\] left"):
        chain.step("s", y + z, numeric=[{y: 1}])
    with pytest.raises(AssertionError, match="non-finite value"):
        chain.step("s", sp.exp(y), numeric=[{y: sp.oo}])


def test_numeric_integrals_are_evaluated_to_30_digits(ledger) -> None:
    from lib.checks import Chain

    t = sp.Symbol("t", positive=True)
    # a Beta integral with singular endpoints: mpmath's tanh-sinh (at 30 digits) gets
    # pi to the last bit of the double it returns
    beta = sp.Integral(1 / sp.sqrt(t * (1 - t)), (t, 0, 1))
    assert abs(Chain._evaluate(beta) - np.pi) <= 4.5e-16
    # and without integrals evalf keeps 30 digits: e^(pi sqrt 163) misses an integer
    # by 7.5e-13, below double precision of the number itself
    near = sp.exp(sp.pi * sp.sqrt(163)) - 640320**3 - 744
    assert Chain._evaluate(near).real == pytest.approx(-7.49927e-13, rel=1e-5)
    chain = ledger.chain("c", sp.Symbol("B"), beta)
    chain.step("Beta(1/2, 1/2)", sp.pi, numeric=[{}])


@pytest.mark.parametrize("relation, equal_ok", [(">=", True), (">", False), ("<=", True),
                                                 ("<", False)])
def test_numeric_inequality_steps_at_equality(ledger, relation: str, equal_ok: bool) -> None:
    y = sp.Symbol("y")
    chain = ledger.chain("c", sp.Symbol("E"), y**2)
    if equal_ok:
        chain.step("equal here", y * y + 0 * y, numeric=[{y: 2}], relation=relation)
        assert chain.relation == relation
    else:
        with pytest.raises(AssertionError, match=f"4 {relation} 4 fails"):
            chain.step("equal here", 4, numeric=[{y: 2}], relation=relation)


def test_numeric_inequality_refuses_complex_values(ledger) -> None:
    y = sp.Symbol("y")
    chain = ledger.chain("c", sp.Symbol("E"), sp.sqrt(y))
    with pytest.raises(AssertionError, match="not a finite real number"):
        chain.step("s", 0, numeric=[{y: -1}], relation=">=")


def test_equalities_compose_with_an_inequality(ledger) -> None:
    y = sp.Symbol("y", positive=True)
    chain = ledger.chain("c", sp.Symbol("E"), y + 1)
    chain.step("drop 1", y, relation=">")
    chain.step("rename", y + 0)
    assert chain.relation == ">"
    chain.conclude("c-1", "E > y")
    assert ledger.claims[-1].method.endswith("; concludes lhs > end")
    assert ledger.claims[-1].error == "exact" and ledger.claims[-1].evidence == "sympy"


def test_via_and_to_together_are_both_checked(ledger) -> None:
    y = sp.Symbol("y")
    chain = ledger.chain("c", sp.Symbol("E"), (y + 1) ** 2)
    with pytest.raises(AssertionError, match=r"step 1 \(expand\) failed: the operation gives"):
        chain.step("expand", y**2 + 1, via=sp.expand)
    with pytest.raises(AssertionError,
                       match=r"step 1 \(expand\) failed: the operation's result differs"):
        chain.step("expand", y**2 + 1, via=sp.expand, numeric=[{y: 1}])
    chain.step("expand", y**2 + 2 * y + 1, via=sp.expand, numeric=[{y: 3}])
    assert chain.steps[-1].kind == "numeric"
    # where= relates the two lines after a change of variable
    u = sp.Symbol("u")
    chain.step("let u = y + 1", u**2, where={u: y + 1})
    with pytest.raises(AssertionError, match=r"step 3 \(wrong\) failed"):
        chain.step("wrong", u**3, where={u: y + 1})


def test_inequality_step_undecided_by_sympy_says_so(ledger) -> None:
    y = sp.Symbol("y")  # no sign assumption
    chain = ledger.chain("c", sp.Symbol("E"), y**2 + y)
    with pytest.raises(AssertionError, match="cannot be decided by SymPy"):
        chain.step("drop y", y**2, relation=">=")
    p = sp.Symbol("p", positive=True)
    chain = ledger.chain("d", sp.Symbol("E"), p)
    with pytest.raises(AssertionError, match="is false"):
        chain.step("grow", p + 1, relation=">=")


# -- ledger rows at their edges ----------------------------------------------------------
def test_close_tolerance_edges(ledger) -> None:
    from lib.checks import LOOSE_TOLERANCE

    # a deviation equal to atol passes
    ledger.close("c-eq", "at the edge", 1.0 + 2.0**-20, 1.0, rtol=0.0, atol=2.0**-20,
                 reference="exact")
    # rtol of exactly LOOSE_TOLERANCE, or atol that large against |expected|, is loose
    with pytest.raises(ValueError, match="lets almost anything pass"):
        ledger.close("c-l1", "loose", 1.0, 1.0, rtol=LOOSE_TOLERANCE, reference="exact")
    with pytest.raises(ValueError, match="lets almost anything pass"):
        ledger.close("c-l2", "loose", 0.5, 0.5, rtol=0.0, atol=0.05, reference="exact")
    ledger.close("c-t", "tight", 0.5, 0.5, rtol=0.0, atol=0.049, reference="exact")
    with pytest.raises(ValueError, match="lets almost anything pass"):
        ledger.close("c-l3", "loose", 8.0, 8.0, rtol=0.0, atol=0.8, reference="exact")
    ledger.close("c-t2", "tight", 8.0, 8.0, rtol=0.0, atol=0.79, reference="exact")
    # where expected is 0 the measured error is absolute
    ledger.close("c-0", "zero", [1e-13, 1.0], [0.0, 1.0], rtol=1e-12, atol=1e-12,
                 reference="exact")
    assert ledger.claims[-1].measured == pytest.approx(1e-13, rel=1e-9)


def test_gradient_tolerance_is_the_documented_one(ledger) -> None:
    # tol = 4 max|D(h) - D(h/2)| + 10 eps max(|f(x)|, 1) / (h/2)
    def f(v):
        return float(np.sum(np.exp(3 * v)))

    point, h = np.array([0.2, -0.4]), 1e-3
    fine = central_difference_gradient(f, point, h / 2)
    coarse = central_difference_gradient(f, point, h)
    rounding = 10 * np.finfo(float).eps * max(f(point), 1.0)
    tol = 4 * np.max(np.abs(fine - coarse)) + rounding / (h / 2)
    ledger.gradient("g-in", "inside", f, point, fine + 0.99 * tol, step=h)
    with pytest.raises(AssertionError, match="g-out"):
        ledger.gradient("g-out", "outside", f, point, fine + 1.01 * tol, step=h)
    assert "h=0.001 and h/2" in ledger.claims[-1].method
    for bad in (0.0, -1e-3):
        with pytest.raises(ValueError, match="step"):
            ledger.gradient("g-bad", "bad step", f, point, fine, step=bad)


def test_monte_carlo_edges(ledger) -> None:
    ledger.monte_carlo("mc-edge", "exactly k SE away", MONTE_CARLO_K, 0.0, 1.0)
    ledger.monte_carlo("mc-2", "relative resolution", 2.0, 2.0, 0.01)
    assert ledger.claims[-1].error == f"0.00 SE; resolves {MONTE_CARLO_K * 0.01 / 2:.0e} rel."
    assert ledger.random_comparisons == 2
    for k in (0.0, -1.0):
        with pytest.raises(ValueError, match="k"):
            ledger.monte_carlo("mc-k", "bad k", 1.0, 1.0, 0.1, k=k, reason="test")
    with pytest.raises(ValueError, match="claim mc-r: k=3 replaces"):
        ledger.monte_carlo("mc-r", "no reason", 1.0, 1.0, 0.1, k=3.0)


def test_ks_test_smallest_sample_and_alpha_edges(ledger) -> None:
    ledger.ks_test("ks-2", "two points", np.array([-0.5, 0.5]), stats.norm.cdf)
    for alpha in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            ledger.ks_test("ks-a", "bad alpha", np.array([-0.5, 0.5]), stats.norm.cdf,
                           alpha=alpha, reason="test")


def test_holds_reports_how_many_points_failed(ledger) -> None:
    with pytest.raises(AssertionError, match="failed at 2 of 3 points"):
        ledger.holds("h-f", "fails", np.array([True, False, False]), method="grid")


# -- what the reader sees: the ledger table, its HTML and a chain's display ----------------
_SNAPSHOT = Path(__file__).parent / "checks_snapshot"


def _snapshot_ledger() -> tuple[Ledger, object]:
    """One claim of every kind, with deterministic values."""
    ledger = Ledger("Snapshot <ledger>")
    x = sp.symbols("x", positive=True)
    ledger.symbolic("s1", "a_b & 100%", sp.integrate(2 * x, x), x**2, derived_by="integrate")
    ledger.close("c1", "close <1>", 1.0 + 1e-13, 1.0, rtol=1e-12, reference="exact value")
    ledger.monte_carlo("m1", "mean", 0.51, 0.5, 0.01)
    samples = stats.norm.ppf((np.arange(200) + 0.5) / 200)
    ledger.ks_test("k1", "normal", samples, stats.norm.cdf)
    ledger.gradient("g1", "grad", lambda v: float(np.sum(v**3)), np.array([1.0, 2.0]),
                    np.array([3.0, 12.0]))
    ledger.holds("h1", "holds", True, method="by inspection")
    ledger.holds("h2", "margin", np.array([True, True]), method="bound", margin=0.25)
    chain = ledger.chain("ch", sp.Symbol("I"), sp.Integral(x, (x, 0, 1)))
    chain.step("integrate", sp.Rational(1, 2), via=lambda e: e.doit())
    chain.step("numerically $1/2$ is $0.5$", sp.Float(0.5), numeric=[{}])
    chain.step("shrink_it", sp.Rational(1, 4), relation=">=")
    chain.conclude("ch1", "chain claim")
    return ledger, chain


def test_ledger_table_text_html_and_chain_display_are_as_documented() -> None:
    # written once from the code and read line by line: widths, escaping, the
    # evidence words, the default method names, the chain's relation and notes
    ledger, chain = _snapshot_ledger()
    table = ledger.table()
    assert repr(table) == (_SNAPSHOT / "ledger.txt").read_text(encoding="utf-8").rstrip("\n")
    assert table._repr_html_() == (_SNAPSHOT / "ledger.html").read_text(
        encoding="utf-8").rstrip("\n")
    assert chain.latex() == (_SNAPSHOT / "chain.tex").read_text(encoding="utf-8").rstrip("\n")
    assert [c.evidence for c in ledger.claims] == [
        "sympy", "reference", "random", "random", "reference", "condition", "condition",
        "sympy",
    ]
    measured = [c.measured for c in ledger.claims]
    assert measured[0] is None and measured[5] is None and measured[7] is None
    assert measured[1] == pytest.approx(1e-13, rel=1e-3)  # |1 + 1e-13 - 1| / 1
    assert measured[2] == pytest.approx(1.0, rel=1e-12)  # (0.51 - 0.5) / 0.01
    # midpoint quantiles of 200 points: the KS statistic is exactly 0.5 / 200
    assert measured[3] == pytest.approx(0.0025, rel=1e-12)
    assert measured[6] == 0.25
    assert ledger.random_comparisons == 2


def test_series_print_leading_term_first_whatever_sympy_sorts() -> None:
    y = sp.Symbol("y", positive=True)
    assert readable_latex(sp.series(sp.exp(y), y, 0, 3)) == (
        r"1 + y + \frac{y^{2}}{2} + O\left(y^{3}\right)"
    )
    assert readable_latex(sp.Add(1 / n**2, 1, 1 / n, sp.O(1 / n**3, (n, sp.oo)),
                                 evaluate=False)) == (
        r"1 + \frac{1}{n} + \frac{1}{n^{2}} + O\left(\frac{1}{n^{3}}\right)"
    )
    assert readable_latex(1 / n + 1 + sp.O(1 / n**2, (n, sp.oo))) == (
        r"1 + \frac{1}{n} + O\left(\frac{1}{n^{2}}\right)"
    )


def test_numeric_points_read_floats_as_the_rationals_they_denote(ledger) -> None:
    # (100 y^2 - 1) 1e20 is 0 at y = 1/10; the float 0.1 kept as a float leaves about 2e4
    y = sp.Symbol("y")
    chain = ledger.chain("c", sp.Symbol("E"), (100 * y**2 - 1) * 10**20)
    chain.step("at the root", 0, numeric=[{y: 0.1}])


def test_numeric_step_with_one_side_infinite_is_non_finite(ledger) -> None:
    y = sp.Symbol("y")
    chain = ledger.chain("c", sp.Symbol("E"), sp.exp(-y))
    with pytest.raises(AssertionError, match="non-finite value"):
        chain.step("s", sp.exp(y), numeric=[{y: sp.oo}])


def test_where_substitutes_in_the_previous_line_too(ledger) -> None:
    u, y = sp.symbols("u y")
    chain = ledger.chain("c", sp.Symbol("E"), u**2)
    chain.step("let u = y + 1", (y + 1) ** 2, where={u: y + 1})
    assert chain.expression == (y + 1) ** 2


def test_numeric_inequality_detail_reaches_the_claim(ledger) -> None:
    y = sp.Symbol("y")
    chain = ledger.chain("c", sp.Symbol("E"), y**2 + 1)
    chain.step("drop 1", y**2, numeric=[{y: 2}, {y: -3}], relation=">")
    assert chain.steps[-1].detail == "2 points, 30 digits"
    chain.conclude("c-1", "E > y^2")
    assert ledger.claims[-1].method == (
        "derivation chain c: 0 symbolic step(s), 1 checked numerically "
        "(2 points, 30 digits); concludes lhs > end"
    )
    assert ledger.claims[-1].error == "numeric steps"


def test_numeric_inequality_points_read_floats_as_rationals(ledger) -> None:
    y = sp.Symbol("y")
    chain = ledger.chain("c", sp.Symbol("E"), (100 * y**2 - 1) * 10**20)
    chain.step("at the root", 0, numeric=[{y: -0.1}], relation="<=")
