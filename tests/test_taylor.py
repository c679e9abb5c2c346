"""Tests for lib.taylor (chapter 8: even Taylor polynomials of exp, Taylor softmax)."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import special

from lib.taylor import (
    expected_calibration_error,
    fit_linear_classifier,
    monotone_taylor_exp,
    taylor_cross_entropy,
    taylor_exp,
    taylor_minimum,
    taylor_softmax,
)

EVEN = st.sampled_from([2, 4, 6, 8, 10, 12, 20])
LOGITS = arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.integers(1, 6)),
    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
FAST = settings(max_examples=60, deadline=None)


def exact_f(x: float, n: int) -> Fraction:
    """f_n(x) in exact rational arithmetic."""
    q = Fraction(x)
    total, term = Fraction(1), Fraction(1)
    for k in range(1, n + 1):
        term = term * q / k
        total += term
    return total


# -- taylor_exp ---------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 10, 21])
def test_taylor_exp_matches_exact_rationals(n: int) -> None:
    xs = np.array([-7.5, -2.0, -0.3, 0.0, 0.25, 1.0, 4.0])
    got = taylor_exp(xs, n)
    want = np.array([float(exact_f(float(v), n)) for v in xs])
    scale = np.array([float(exact_f(abs(float(v)), n)) for v in xs])  # sum of |terms|
    assert np.all(np.abs(got - want) <= 8 * n * np.finfo(float).eps * scale + 1e-300)


def test_taylor_exp_known_values() -> None:
    assert taylor_exp(-2.0, 1) == -1.0
    assert taylor_exp(-1.0, 2) == 0.5
    assert taylor_exp(3.0, 0) == 1.0
    assert np.isclose(taylor_exp(-2.0, 3), -1 / 3, rtol=1e-15)
    assert isinstance(taylor_exp(1.0, 2), np.float64)


def test_taylor_exp_converges_to_exp() -> None:
    xs = np.linspace(-5, 5, 11)
    # Cancellation for x < 0: the error is relative to the sum of |terms| ~ e^|x|.
    err = np.abs(taylor_exp(xs, 60) - np.exp(xs))
    assert np.all(err <= 100 * np.finfo(float).eps * np.exp(np.abs(xs)))


@FAST
@given(x=st.floats(-50, 50), n=EVEN)
def test_even_orders_are_positive(x: float, n: int) -> None:
    assert taylor_exp(x, n) >= taylor_minimum(n)[1] * (1 - 1e-12) > 0


@FAST
@given(x=st.floats(0, 30), n=st.integers(0, 25))
def test_truncation_below_exp_for_positive_x(x: float, n: int) -> None:
    assert taylor_exp(x, n) <= np.exp(x) * (1 + 1e-14)


# -- taylor_minimum -----------------------------------------------------------
ARTICLE_TABLE = {
    2: (-1.0, 0.5),
    4: (-1.59607, 0.270395),
    6: (-2.18061, 0.149325),
    8: (-2.759, 0.0832715),
    10: (-3.33355, 0.0466991),
}


@pytest.mark.parametrize("n", sorted(ARTICLE_TABLE))
def test_minimum_reproduces_article_table(n: int) -> None:
    x_star, f_star = taylor_minimum(n)
    assert float(f"{x_star:.6g}") == ARTICLE_TABLE[n][0]
    assert float(f"{f_star:.6g}") == ARTICLE_TABLE[n][1]


@pytest.mark.parametrize("n", [2, 4, 6, 12, 20, 40])
def test_minimum_against_sympy_real_roots(n: int) -> None:
    x = sp.symbols("x")
    roots = sp.real_roots(sp.Poly(sum(x**k / sp.factorial(k) for k in range(n)), x))
    assert len(roots) == 1  # f_{n-1} has exactly one real root
    root = sp.N(roots[0], 30)
    x_star, f_star = taylor_minimum(n)
    assert x_star == pytest.approx(float(root), rel=1e-15)
    # f_n(x*) = x*^n / n! at the critical point (eq. (3)).
    assert f_star == pytest.approx(float(root**n / sp.factorial(n)), rel=1e-15)


def test_minimum_is_the_minimum() -> None:
    for n in (2, 6, 14):
        x_star, f_star = taylor_minimum(n)
        grid = np.linspace(x_star - 1e-3, x_star + 1e-3, 2001)
        assert np.all(taylor_exp(grid, n) >= f_star * (1 - 1e-14))


# -- monotone_taylor_exp ------------------------------------------------------
@FAST
@given(a=st.floats(-40, 40), b=st.floats(-40, 40), n=EVEN)
def test_monotone_is_nondecreasing(a: float, b: float, n: int) -> None:
    lo, hi = min(a, b), max(a, b)
    assert monotone_taylor_exp(lo, n) <= monotone_taylor_exp(hi, n) * (1 + 1e-14)


def test_monotone_agrees_right_of_minimum_and_is_continuous() -> None:
    for n in (2, 4, 10):
        x_star, f_star = taylor_minimum(n)
        right = np.linspace(x_star + 1e-9, 5, 50)
        assert np.array_equal(monotone_taylor_exp(right, n), taylor_exp(right, n))
        left = np.linspace(-100, x_star, 50)
        assert np.all(monotone_taylor_exp(left, n) == f_star)
        assert abs(taylor_exp(x_star, n) - f_star) < 1e-15


# -- taylor_softmax -----------------------------------------------------------
@FAST
@given(x=LOGITS, n=EVEN)
def test_softmax_is_a_distribution(x: np.ndarray, n: int) -> None:
    p = taylor_softmax(x, n)
    assert p.shape == x.shape
    assert np.all(p >= 0) and np.all(np.isfinite(p))
    assert np.allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-13)


@FAST
@given(x=LOGITS, n=EVEN)
def test_softmax_permutation_equivariant(x: np.ndarray, n: int) -> None:
    perm = np.arange(x.shape[1])[::-1]
    assert np.allclose(taylor_softmax(x[:, perm], n), taylor_softmax(x, n)[:, perm], atol=1e-15)


@FAST
@given(x=LOGITS, n=EVEN)
def test_softmax_axis_argument(x: np.ndarray, n: int) -> None:
    assert np.allclose(taylor_softmax(x.T, n, axis=0), taylor_softmax(x, n).T, atol=1e-15)


@FAST
@given(
    x=arrays(np.float64, st.integers(1, 6), elements=st.floats(-1e200, 1e200)),
    n=st.sampled_from([2, 4, 6]),
)
def test_softmax_matches_mpmath_for_huge_logits(x: np.ndarray, n: int) -> None:
    with mpmath.workdps(60):
        f = [sum(mpmath.mpf(float(v)) ** k / mpmath.factorial(k) for k in range(n + 1)) for v in x]
        total = sum(f)
        want = np.array([float(v / total) for v in f])
    assert np.allclose(taylor_softmax(x, n), want, rtol=1e-12, atol=1e-300)


def test_softmax_small_logits_approach_softmax() -> None:
    x = np.array([0.3, -0.2, 0.1, 0.0])
    for n in (2, 4):
        err = [np.max(np.abs(taylor_softmax(e * x, n) - special.softmax(e * x)))
               for e in (0.2, 0.1)]
        assert 2 ** (n + 1) * 0.7 < err[0] / err[1] < 2 ** (n + 1) * 1.3  # O(eps^(n+1))


def test_softmax_known_values() -> None:
    p = taylor_softmax([0.0, 1.0], 2)  # f_2(0) = 1, f_2(1) = 2.5
    assert np.allclose(p, [1 / 3.5, 2.5 / 3.5], rtol=1e-15)
    p = taylor_softmax([-1.0, -3.0], 2, monotone=True)  # both truncated to f_2(-1) = 0.5
    assert np.allclose(p, [0.5, 0.5], rtol=1e-15)


def test_softmax_large_array_is_fast_path_consistent() -> None:
    rng = np.random.default_rng(7919)
    x = rng.normal(size=(64, 1000))
    f = taylor_exp(x, 4)
    assert np.allclose(taylor_softmax(x, 4), f / f.sum(axis=1, keepdims=True), rtol=1e-13)


# -- taylor_cross_entropy -----------------------------------------------------
@pytest.mark.parametrize("n, monotone", [(None, False), (2, False), (4, False), (2, True)])
def test_cross_entropy_gradient_by_finite_differences(n: int | None, monotone: bool) -> None:
    rng = np.random.default_rng(7919)
    z = rng.normal(scale=1.5, size=(5, 3))
    y = rng.integers(0, 3, size=5)
    loss, grad = taylor_cross_entropy(z, y, n, monotone=monotone)
    p = special.softmax(z, axis=1) if n is None else taylor_softmax(z, n, monotone=monotone)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), y])), rel=1e-13)
    h = 1e-6
    for i, j in [(0, 0), (1, 2), (4, 1), (2, 1)]:
        dz = np.zeros_like(z)
        dz[i, j] = h
        fd = (taylor_cross_entropy(z + dz, y, n, monotone=monotone)[0]
              - taylor_cross_entropy(z - dz, y, n, monotone=monotone)[0]) / (2 * h)
        assert grad[i, j] == pytest.approx(fd, abs=1e-7)


# -- fit_linear_classifier and expected_calibration_error ---------------------
def test_fit_softmax_matches_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7919)
    X = rng.normal(size=(120, 3))
    y = rng.integers(0, 3, size=120)
    X += np.eye(3)[y] * 1.5
    W, b = fit_linear_classifier(X, y, None, l2=0.5)
    # sklearn minimises sum(loss) + ||W||^2 / (2C); ours is mean(loss) + l2/2 ||W||^2.
    ref = LogisticRegression(C=1 / (0.5 * 120), tol=1e-10, max_iter=10_000).fit(X, y)
    assert np.allclose(special.softmax(X @ W + b, axis=1), ref.predict_proba(X), atol=1e-6)


def test_fit_taylor_reaches_a_stationary_point() -> None:
    rng = np.random.default_rng(7919)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    W, b = fit_linear_classifier(X, y, 2, l2=1e-2)
    _, grad = taylor_cross_entropy(X @ W + b, y, 2)
    assert np.max(np.abs(X.T @ grad + 1e-2 * W)) < 1e-4 and np.max(np.abs(grad.sum(0))) < 1e-4


def test_ece_known_values() -> None:
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    # bins: 0.9 -> acc 1/2 vs conf 0.9 (2 points); 0.6 -> 1 vs 0.6; 0.7 -> 1 vs 0.7
    want = (2 * 0.4 + 0.4 + 0.3) / 4
    assert expected_calibration_error(p, y) == pytest.approx(want, rel=1e-14)
    assert expected_calibration_error(np.eye(3), np.arange(3)) == 0.0
    # a confidence above 1 has no bin: refused, not binned into the last one
    with pytest.raises(ValueError, match=r"probs must lie in \[0, 1\]"):
        expected_calibration_error(np.array([[5e299, 0.0]]), np.array([0]))


def test_ece_confidence_on_an_edge_stays_in_the_lower_bin() -> None:
    # 0.7 * 10 rounds to 7.000000000000001: a ceil-based index would put 0.7 in (0.7, 0.8]
    p = np.array([[0.7, 0.3], [0.75, 0.25]])
    y = np.array([0, 1])
    # bins=10: 0.7 in (0.6, 0.7] (correct), 0.75 in (0.7, 0.8] (wrong): separate bins
    assert expected_calibration_error(p, y) == pytest.approx((0.3 + 0.75) / 2, rel=1e-14)
    # bins=4: 0.7 and 0.75 share (0.5, 0.75]: |1 - 0.7 - 0.75| / 2
    assert expected_calibration_error(p, y, bins=4) == pytest.approx(0.45 / 2, rel=1e-14)


# -- high orders: the remainder form where Horner's rule cancels ----------------
def mp_f(x: float, n: int) -> mpmath.mpf:
    """f_n(x) summed in enough digits to absorb the cancellation (terms up to e^|x|)."""
    with mpmath.workdps(40 + int(abs(x)) + n):
        t = mpmath.mpf(x)
        return +sum(t**k / mpmath.factorial(k) for k in range(n + 1))


def remainder_bound(n: int) -> float:
    """Worst-case relative rounding error of the remainder form for even ``n``.

    2 roundings per factor of t_0 (n + 1 factors), 3 per later term and 1 per addition
    (at most 4n + 57 terms), and 3 for e^x (1 + T).
    """
    return (2 * (n + 1) + 4 * (4 * n + 57) + 3) * np.finfo(float).eps


@pytest.mark.parametrize("n", [4, 10, 40, 68, 100, 150, 170])
def test_taylor_exp_is_accurate_at_high_orders(n: int) -> None:
    # Horner loses every digit near x_n* from n ~ 70 (chapter 8); the remainder form
    # must not: even orders at the minimiser and across (-2n - 5, 5), to a relative
    # error within the worst-case rounding count.
    x_star, _ = taylor_minimum(n)
    xs = np.concatenate([[x_star], np.linspace(-2 * n - 5, 5, 41)])
    got = taylor_exp(xs, n)
    want = np.array([float(mp_f(float(v), n)) for v in xs])
    assert np.all(np.abs(got / want - 1) <= remainder_bound(n))
    assert np.all(got > 0)


@pytest.mark.parametrize("n", [3, 9, 69, 151])
def test_taylor_exp_odd_orders_error_is_absolute_e_to_the_x(n: int) -> None:
    # For odd n, f_n(x) = e^x (1 - T) crosses zero: the error is relative to
    # e^x (1 + T) = 2 e^x - f_n(x), not to f_n (Horner's is relative to f_n(|x|) ~ e^|x|,
    # hopeless for n = 151 near its zero).
    xs = np.linspace(-2 * n + 0.5, -1.5, 37)
    got = taylor_exp(xs, n)
    want = np.array([float(mp_f(float(v), n)) for v in xs])
    assert np.all(np.abs(got - want) <= remainder_bound(n) * (2 * np.exp(xs) + np.abs(want)))


def test_taylor_exp_reports_cases_from_issue_29() -> None:
    # float64 Horner gave -4.9e-9 here; the exact value is 4.78e-9
    assert taylor_exp(-20.005827118880525, 68) == pytest.approx(
        float(mp_f(-20.005827118880525, 68)), rel=1e-14
    )
    x_star, f_star = taylor_minimum(150)  # Horner gave -10.2
    assert taylor_exp(x_star, 150) == pytest.approx(f_star, rel=1e-14)


@pytest.mark.parametrize("n", [72, 100, 150])
def test_taylor_softmax_high_orders_match_mpmath(n: int) -> None:
    rows = np.array([[-20.0, -21.0], [-30.0, -31.0], [-1.5 * n, 3.0], [-0.5 * n, -0.6 * n]])
    got = taylor_softmax(rows, n)
    for row, p in zip(rows, got, strict=True):
        f = [mp_f(float(v), n) for v in row]
        want = np.array([float(v / sum(f)) for v in f])
        assert np.all(np.abs(p / want - 1) <= 2 * remainder_bound(n))


@pytest.mark.parametrize("n", [40, 100, 150])
def test_monotone_taylor_exp_high_orders_monotone_and_positive(n: int) -> None:
    grid = np.linspace(-2.5 * n, 2.0, 100001)
    values = monotone_taylor_exp(grid, n)
    assert np.all(np.diff(values) >= 0) and np.all(values > 0)


def test_taylor_softmax_default_order_is_two() -> None:
    x = np.array([-3.0, 0.5, 2.0])
    f2 = 1 + x + x * x / 2
    assert np.allclose(taylor_softmax(x), f2 / f2.sum(), rtol=1e-15, atol=0)


def test_taylor_cross_entropy_huge_logit() -> None:
    # -log p_1 = log(f_2(1e300) + 1) = log(5e599) to float64 (the issue's 1381.6 was
    # itself off: ln 5 + 599 ln 10 = 1380.8579...)
    loss, grad = taylor_cross_entropy([[1e300, 0.0]], [1], n=2)
    assert loss == pytest.approx(float(mpmath.log(mpmath.mpf(5) * mpmath.mpf(10) ** 599)))
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("n", [100, 150])
def test_taylor_cross_entropy_high_order_log_path(n: int) -> None:
    # a logit of 1e200 forces the log-domain path; the others sit where Horner cancels
    z = np.array([[1e200, -0.5 * n, -30.0], [-0.5 * n, -30.0, -31.0]])
    loss, _ = taylor_cross_entropy(z, [1, 2], n=n)
    want = []
    for row, label in zip(z, [1, 2], strict=True):
        with mpmath.workdps(60 + 2 * n):
            f = [mp_f(float(v), n) if abs(v) < 1e3 else mpmath.mpf(v) ** n / mpmath.factorial(n)
                 for v in row]
            want.append(mpmath.log(sum(f)) - mpmath.log(f[label]))
    assert loss == pytest.approx(float(sum(want) / 2), rel=1e-13)


# -- bad input ----------------------------------------------------------------
BAD_CALLS = [
    ("taylor_exp n negative", lambda: taylor_exp(1.0, -1)),
    ("taylor_exp n float", lambda: taylor_exp(1.0, 2.0)),
    ("taylor_exp n above 170", lambda: taylor_exp(1.0, 171)),
    ("taylor_exp n huge", lambda: taylor_exp(1.0, 10**12)),
    ("taylor_minimum n huge", lambda: taylor_minimum(10**12)),
    ("taylor_exp n bool", lambda: taylor_exp(1.0, True)),
    ("taylor_exp nan", lambda: taylor_exp([0.0, np.nan], 2)),
    ("taylor_exp inf", lambda: taylor_exp(np.inf, 2)),
    ("taylor_exp complex", lambda: taylor_exp(1j, 2)),
    ("taylor_exp string", lambda: taylor_exp("a", 2)),
    ("taylor_minimum odd", lambda: taylor_minimum(3)),
    ("taylor_minimum zero", lambda: taylor_minimum(0)),
    ("taylor_minimum float", lambda: taylor_minimum(4.0)),
    ("monotone odd", lambda: monotone_taylor_exp(1.0, 5)),
    ("monotone nan", lambda: monotone_taylor_exp(np.nan, 2)),
    ("softmax odd n", lambda: taylor_softmax([1.0, 2.0], 3)),
    ("softmax n zero", lambda: taylor_softmax([1.0, 2.0], 0)),
    ("softmax n too large", lambda: taylor_softmax([1.0, 2.0], 152)),
    ("softmax nan", lambda: taylor_softmax([1.0, np.nan])),
    ("softmax inf", lambda: taylor_softmax([[1.0, -np.inf]])),
    ("softmax scalar", lambda: taylor_softmax(1.0)),
    ("softmax empty axis", lambda: taylor_softmax(np.zeros((3, 0)))),
    ("softmax bad axis", lambda: taylor_softmax([1.0, 2.0], axis=1)),
    ("softmax float axis", lambda: taylor_softmax([1.0, 2.0], axis=0.0)),
    ("softmax bool dtype", lambda: taylor_softmax([True, False])),
    ("softmax monotone not bool", lambda: taylor_softmax([1.0, 2.0], monotone="yes")),
    ("ce 1-d logits", lambda: taylor_cross_entropy([1.0, 2.0], [0])),
    ("ce one class", lambda: taylor_cross_entropy([[1.0], [2.0]], [0, 0])),
    ("ce label out of range", lambda: taylor_cross_entropy([[1.0, 2.0]], [2])),
    ("ce float labels", lambda: taylor_cross_entropy([[1.0, 2.0]], [0.0])),
    ("ce label shape", lambda: taylor_cross_entropy([[1.0, 2.0]], [0, 1])),
    ("ce odd n", lambda: taylor_cross_entropy([[1.0, 2.0]], [0], 3)),
    ("ce nan", lambda: taylor_cross_entropy([[1.0, np.nan]], [0])),
    ("fit 1-d features", lambda: fit_linear_classifier([1.0, 2.0], [0, 1])),
    ("fit label shape", lambda: fit_linear_classifier([[1.0], [2.0]], [0])),
    ("fit negative label", lambda: fit_linear_classifier([[1.0], [2.0]], [0, -1])),
    ("fit negative l2", lambda: fit_linear_classifier([[1.0], [2.0]], [0, 1], l2=-1.0)),
    ("fit bad max_iter", lambda: fit_linear_classifier([[1.0], [2.0]], [0, 1], max_iter=0)),
    ("fit odd n", lambda: fit_linear_classifier([[1.0], [2.0]], [0, 1], 3)),
    ("fit inf", lambda: fit_linear_classifier([[np.inf], [2.0]], [0, 1])),
    ("ece negative prob", lambda: expected_calibration_error([[-0.1, 1.1]], [0])),
    ("ece label range", lambda: expected_calibration_error([[0.5, 0.5]], [2])),
    ("ece bins", lambda: expected_calibration_error([[0.5, 0.5]], [0], bins=0)),
    ("ece shape", lambda: expected_calibration_error([0.5, 0.5], [0])),
]


@pytest.mark.parametrize("call", [c for _, c in BAD_CALLS], ids=[i for i, _ in BAD_CALLS])
def test_bad_input_raises_value_error(call) -> None:
    with pytest.raises(ValueError):
        call()


# -- the edges: huge logits (issue "lib is right at the edges") ----------------
def test_monotone_softmax_clamps_before_it_rescales() -> None:
    # both logits lie left of x_2* = -1, so both are clamped to it: uniform
    np.testing.assert_array_equal(taylor_softmax([-1e300, -5e299], 2, monotone=True), [0.5, 0.5])


def test_cross_entropy_does_not_overflow() -> None:
    # -log p_1 = log(f_2(1e300) + f_2(0)) = log(1 + 1e300 + 1e600/2 + 1), to 30 digits
    loss, grad = taylor_cross_entropy([[1e300, 0.0]], [1], 2)
    assert loss == pytest.approx(1380.85790861586746510137764069, rel=1e-15)
    np.testing.assert_allclose(grad, [[2e-300, -1.0]], rtol=1e-12)


@pytest.mark.parametrize("n", [2, 4, 6])
@pytest.mark.parametrize("monotone", [False, True])
def test_cross_entropy_log_domain_matches_the_direct_formula(n: int, monotone: bool) -> None:
    from lib.taylor import _taylor_cross_entropy_log, taylor_minimum

    z = np.random.default_rng(n).normal(scale=3.0, size=(6, 4))
    y = np.arange(6) % 4
    x_star = taylor_minimum(n)[0] if monotone else -np.inf
    direct = taylor_cross_entropy(z, y, n, monotone=monotone)
    logged = _taylor_cross_entropy_log(z, np.maximum(z, x_star), y, n, x_star)
    assert logged[0] == pytest.approx(direct[0], rel=1e-14)
    np.testing.assert_allclose(logged[1], direct[1], rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# Cases found by mutation testing (make mutation)
# ---------------------------------------------------------------------------


def test_ece_bins_are_tenths_from_the_bottom_to_the_top() -> None:
    # opposite gaps in neighbouring bins add in absolute value; merged they would cancel
    def ece(confidences, correct):
        p = np.array([[c, 0.0] for c in confidences])
        return expected_calibration_error(p, np.where(correct, 0, 1))

    # (0.8, 0.9] and (0.9, 1]: (|1 - 0.85| + |0 - 0.95|) / 2
    assert ece([0.85, 0.95], [True, False]) == pytest.approx(0.55, rel=1e-14)
    # [0, 0.1] and (0.1, 0.2]
    assert ece([0.05, 0.15], [True, False]) == pytest.approx(0.55, rel=1e-14)
    # one example is enough; an empty batch and negative labels are refused
    assert ece([0.7], [True]) == pytest.approx(0.3, rel=1e-14)
    with pytest.raises(ValueError, match="m >= 1"):
        expected_calibration_error(np.zeros((0, 2)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="labels must lie in"):
        expected_calibration_error(np.full((1, 2), 0.5), np.array([-1]))


def test_fit_defaults_and_edge_shapes() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] + 0.3 * rng.normal(size=30) > 0).astype(int)
    W, b = fit_linear_classifier(X, y)
    W2, b2 = fit_linear_classifier(X, y, 2, monotone=False, l2=1e-3)
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(b, b2)
    assert W.shape == (2, 2) and b.shape == (2,)
    # no penalty, one feature, one example: all accepted
    assert fit_linear_classifier(X[:, :1], y, l2=0.0)[0].shape == (1, 2)
    assert fit_linear_classifier(X[:1], y[:1])[0].shape == (2, 2)
    # odd orders (f_n can be negative) and negative labels are refused
    with pytest.raises(ValueError, match="n"):
        fit_linear_classifier(X, y, 3)
    with pytest.raises(ValueError, match="labels"):
        fit_linear_classifier(X, -y)


def test_fit_is_converged_to_its_stated_tolerance() -> None:
    # the docstring promises L-BFGS-B with gradient tolerance 1e-9 (not SciPy's 1e-5)
    rng = np.random.default_rng(11)
    X = rng.normal(size=(60, 3))
    y = (X @ [1.0, -1.0, 0.5] + 0.5 * rng.normal(size=60) > 0).astype(int)
    W, b = fit_linear_classifier(X, y, 4, l2=1e-2)
    _, grad = taylor_cross_entropy(X @ W + b, y, 4)
    assert np.max(np.abs(X.T @ grad + 1e-2 * W)) < 1e-7
    assert np.max(np.abs(grad.sum(0))) < 1e-7


def test_fit_monotone_flag_is_used() -> None:
    # logits far below the minimiser x* = -1.6 (n = 2 has x* = -1) are clamped only
    # with monotone=True, which changes the fitted model
    rng = np.random.default_rng(5)
    X = 6.0 * rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    plain = fit_linear_classifier(X, y, 2, l2=1e-2)[0]
    clamped = fit_linear_classifier(X, y, 2, monotone=True, l2=1e-2)[0]
    assert np.max(np.abs(plain - clamped)) > 1e-3


def test_scalar_results_are_numpy_floats_and_odd_orders_are_refused() -> None:
    assert type(monotone_taylor_exp(0.5, 4)) is np.float64
    assert type(taylor_exp(0.5, 3)) is np.float64
    with pytest.raises(ValueError, match="n"):
        monotone_taylor_exp(0.5, 3)


def test_cross_entropy_defaults_and_refusals() -> None:
    z = np.array([[0.3, -1.2, 2.0], [1.0, 0.0, -0.5]])
    y = np.array([2, 0])
    np.testing.assert_array_equal(taylor_cross_entropy(z, y)[1], taylor_cross_entropy(z, y, 2)[1])
    with pytest.raises(ValueError, match="logits"):
        taylor_cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="labels"):
        taylor_cross_entropy(z, np.array([2, -1]))


def test_exact_softmax_cross_entropy_with_rows_far_apart() -> None:
    # n=None: each row is shifted by its own maximum (a global shift would underflow
    # the first row, a sum instead of a difference would overflow the second)
    z = np.array([[0.0, 1.0], [1000.0, 1001.0]])
    y = np.array([0, 1])
    loss, grad = taylor_cross_entropy(z, y, None)
    log_p = [-np.log1p(np.e), -np.log1p(np.exp(-1.0))]
    assert loss == pytest.approx(-np.mean(log_p), rel=1e-14)
    assert np.all(np.isfinite(grad))


def test_taylor_softmax_rows_of_very_different_size() -> None:
    # each row is rescaled by its own largest |x|: one global scale would flush the
    # small row's polynomial values to 0 (0 / 0)
    x = np.array([[1e200, -1e200], [0.5, -0.2]])
    got = taylor_softmax(x, 2)
    with mpmath.workdps(30):
        f = [1 + mpmath.mpf(v) + mpmath.mpf(v) ** 2 / 2 for v in (0.5, -0.2)]
        want = [float(v / sum(f)) for v in f]
    np.testing.assert_allclose(got[1], want, rtol=1e-14)
    np.testing.assert_allclose(got[0], [0.5, 0.5], rtol=1e-14)  # x**2 / 2 dominates both
    assert got.dtype == np.float64
    # inside the remainder region too (n = 6, logits between -12 and -1/2)
    inside = taylor_softmax(np.array([[-3.0, -7.0, 0.2]]), 6)
    assert inside.dtype == np.float64


def test_taylor_exp_refusals_name_the_offending_value() -> None:
    with pytest.raises(ValueError, match="1e\\+300"):
        taylor_exp(np.array([-1e300]), 3)
    with pytest.raises(ValueError, match="1e\\+300"):
        taylor_exp(1e300, 170)


def test_taylor_exp_far_left_of_the_remainder_region() -> None:
    # x <= -2n is Horner's (every term has the sign of x**n, nothing cancels): at
    # n = 150, x = -435 the value is about 1e133, which the remainder form would
    # overflow computing
    for n, x in ((150, -435.0), (20, -58.0), (4, -11.6)):
        want = float(mp_f(x, n))
        assert taylor_exp(x, n) == pytest.approx(want, rel=remainder_bound(n))


def test_integer_input_and_probability_range() -> None:
    np.testing.assert_array_equal(taylor_exp(np.array([1, 2]), 3), taylor_exp([1.0, 2.0], 3))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"probs must lie in \[0, 1\]"):
            expected_calibration_error(np.array([[bad, 0.2]]), np.array([0]))
    with pytest.raises(ValueError, match="features"):
        fit_linear_classifier(np.zeros((0, 2)), np.zeros(0, dtype=int))
