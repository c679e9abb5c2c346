"""Tests for lib.angles: the angle between two random vectors (chapter 1).

Known values, independent references (SciPy, quadrature, 50-digit mpmath),
hypothesis properties, and one test per kind of bad input.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, stats

from lib.angles import (
    angle_between,
    angle_cdf,
    angle_moments,
    angle_pdf,
    angle_ppf,
    angle_tail,
    normalisation_constant,
    sample_angles,
    sharp_tail_bound,
    tail_bounds,
)

SETTINGS = settings(max_examples=60, deadline=None)

#: Dimensions used against high-precision references, as in the spec.
REFERENCE_DIMENSIONS = [2, 3, 10, 1000, 10**5]

#: Values below this are compared only for being tiny: the spec's accuracy
#: target applies where the probability is a normal double well above underflow.
SMALLEST_COMPARED = 1e-300

dimensions = st.integers(min_value=2, max_value=10**5)
angles_in_range = st.floats(min_value=0.0, max_value=math.pi)
deviations_in_range = st.floats(min_value=0.0, max_value=math.pi / 2)


# ---------------------------------------------------------------------------
# 50-digit references
# ---------------------------------------------------------------------------


def _mp_continued_fraction(a: mpmath.mpf, b: mpmath.mpf, x: mpmath.mpf) -> mpmath.mpf:
    """I_x(a, b) by its continued fraction (modified Lentz), for x < (a+1)/(a+b+2).

    mpmath.betainc sums a hypergeometric series that cancels catastrophically
    for large a, b (it raises, or returns 1 - I at working precision); the
    continued fraction converges in O(sqrt(max(a, b))) steps without
    cancellation, so it is the reference for n up to 1e5.
    """
    tiny = mpmath.mpf(10) ** (-4 * mpmath.mp.dps)
    tolerance = mpmath.mpf(10) ** (5 - mpmath.mp.dps)

    def guarded(value: mpmath.mpf) -> mpmath.mpf:
        return value if abs(value) > tiny else tiny

    c = mpmath.mpf(1)
    d = 1 / guarded(1 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, 100_000):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        for numerator in (even, odd):
            d = 1 / guarded(1 + numerator * d)
            c = guarded(1 + numerator / c)
            step = c * d
            fraction *= step
        if abs(step - 1) < tolerance:
            break
    else:  # pragma: no cover - the reference itself failed
        raise RuntimeError("continued fraction did not converge")
    log_front = (
        a * mpmath.log(x) + b * mpmath.log1p(-x) - mpmath.log(a) - mpmath.log(mpmath.beta(a, b))
    )
    return mpmath.exp(log_front) * fraction


def mp_regularized_beta(a, b, x, *, upper: bool = False) -> mpmath.mpf:
    """Regularised incomplete Beta I_x(a, b) (or 1 - I_x) at the current precision."""
    a, b, x = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(x)
    if x == 0:
        return mpmath.mpf(1 if upper else 0)
    if x < (a + 1) / (a + b + 2):
        lower = _mp_continued_fraction(a, b, x)
        return 1 - lower if upper else lower
    upper_value = _mp_continued_fraction(b, a, 1 - x)
    return upper_value if upper else 1 - upper_value


def mp_cdf(theta: float, n: int) -> mpmath.mpf:
    """I_{sin^2(theta/2)}((n-1)/2, (n-1)/2) at the exact value of the float theta."""
    shape = mpmath.mpf(n - 1) / 2
    return mp_regularized_beta(shape, shape, mpmath.sin(mpmath.mpf(theta) / 2) ** 2)


def mp_tail(delta: float, n: int) -> mpmath.mpf:
    """P(cos^2 theta >= sin^2 delta), cos^2 theta ~ Beta(1/2, (n-1)/2)."""
    return mp_regularized_beta(
        mpmath.mpf(1) / 2, mpmath.mpf(n - 1) / 2, mpmath.sin(mpmath.mpf(delta)) ** 2, upper=True
    )


def mp_normalisation_constant(n: int) -> mpmath.mpf:
    half = mpmath.mpf(n) / 2
    return mpmath.gamma(half) / (mpmath.gamma(half - 0.5) * mpmath.sqrt(mpmath.pi))


def relative_error(value: float, reference: mpmath.mpf) -> float:
    return float(abs((mpmath.mpf(float(value)) - reference) / reference))


@pytest.mark.parametrize(
    ("a", "b", "x"),
    [(0.5, 0.5, 1e-20), (0.5, 4.5, 0.3), (4.5, 4.5, 0.2), (2.0, 3.0, 0.9), (4.5, 0.5, 0.7)],
)
def test_continued_fraction_reference_agrees_with_mpmath_betainc(a, b, x):
    with mpmath.workdps(50):
        lower = mpmath.betainc(a, b, 0, x, regularized=True)
        upper = mpmath.betainc(a, b, x, 1, regularized=True)
        assert abs(mp_regularized_beta(a, b, x) - lower) < mpmath.mpf(10) ** -45
        assert abs(mp_regularized_beta(a, b, x, upper=True) - upper) < mpmath.mpf(10) ** -45


# ---------------------------------------------------------------------------
# Density
# ---------------------------------------------------------------------------


def test_pdf_n2_is_exactly_uniform_including_endpoints():
    theta = np.array([0.0, 1e-300, 0.3, np.pi / 2, 3.0, np.pi])
    np.testing.assert_array_equal(angle_pdf(theta, 2), np.full(theta.shape, 1 / np.pi))


def test_pdf_n3_is_half_sine():
    theta = np.linspace(0.0, np.pi, 101)
    # At numpy.pi the density is exactly 0 (the endpoint), sin(numpy.pi) / 2 is 6e-17.
    np.testing.assert_allclose(angle_pdf(theta, 3), np.sin(theta) / 2, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("n", [3, 4, 10, 1000, 10**7])
def test_pdf_is_zero_at_the_endpoints(n):
    assert angle_pdf(0.0, n) == 0.0
    assert angle_pdf(np.pi, n) == 0.0


@pytest.mark.parametrize("n", [2, 3, 4, 7, 10, 101, 1000])
def test_pdf_integrates_to_one(n):
    total, error_estimate = integrate.quad(
        angle_pdf, 0.0, np.pi, args=(n,), points=[np.pi / 2], epsabs=1e-13
    )
    assert error_estimate < 1e-10
    assert total == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 10, 39, 40, 41, 42, 100, 1001, 10**5, 10**7, 10**7 + 1])
def test_normalisation_constant_against_mpmath(n):
    with mpmath.workdps(40):
        assert relative_error(normalisation_constant(n), mp_normalisation_constant(n)) < 2e-15


@pytest.mark.parametrize("n", [3, 10, 1000, 10**5, 10**7])
def test_pdf_against_mpmath_within_a_few_standard_deviations(n):
    spread = 1 / math.sqrt(n)
    # Interior points only: the density is 0 at the endpoint numpy.pi by convention.
    offsets = np.array([-30, -5, -1, -0.1, 0, 0.3, 2, 8, 25])
    theta = np.clip(np.pi / 2 + spread * offsets, 1e-6, np.pi - 1e-6)
    theta = np.concatenate([theta, [1e-3, 0.5, 2.5, np.pi - 1e-6]])
    values = angle_pdf(theta, n)
    with mpmath.workdps(50):
        for angle, value in zip(theta, values):
            reference = mp_normalisation_constant(n) * mpmath.sin(mpmath.mpf(angle)) ** (n - 2)
            if reference < SMALLEST_COMPARED:
                assert value < 1e-290
            else:
                # Relative error grows like n cos^2(theta) * eps; below 1e-12 here.
                assert relative_error(value, reference) < 1e-12


def test_pdf_is_finite_at_ten_million_dimensions():
    theta = np.linspace(0.0, np.pi, 10_001)
    values = angle_pdf(theta, 10**7)
    assert np.all(np.isfinite(values))
    peak = angle_pdf(np.pi / 2, 10**7)
    assert peak == pytest.approx(math.sqrt(10**7 / (2 * math.pi)), rel=1e-6)


def test_scalar_inputs_give_numpy_floats_and_arrays_broadcast():
    assert type(angle_pdf(1.0, 5)) is np.float64
    assert type(angle_cdf(1.0, 5)) is np.float64
    assert type(angle_ppf(0.3, 5)) is np.float64
    assert type(angle_tail(0.3, 5)) is np.float64
    assert all(type(bound) is np.float64 for bound in tail_bounds(0.3, 5))
    assert type(angle_between([1.0, 2.0], [3.0, 1.0])) is np.float64
    theta = np.full((2, 3), 1.0)
    for function in (angle_pdf, angle_cdf, angle_tail):
        assert function(theta, 5).shape == (2, 3)
    assert angle_ppf([[0.1], [0.9]], 5).shape == (2, 1)


# ---------------------------------------------------------------------------
# Distribution function and quantiles
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 10, 100])
def test_cdf_matches_scipy_beta_law_of_the_half_angle(n):
    theta = np.linspace(0.2, np.pi - 0.2, 25)
    shape = (n - 1) / 2
    reference = stats.beta.cdf(np.sin(theta / 2) ** 2, shape, shape)
    np.testing.assert_allclose(angle_cdf(theta, n), reference, rtol=1e-12)


@pytest.mark.parametrize("n", [3, 10, 50])
def test_cdf_is_the_integral_of_the_pdf(n):
    for theta in np.linspace(0.1, np.pi, 8):
        integral, _ = integrate.quad(angle_pdf, 0.0, theta, args=(n,), epsabs=1e-14, epsrel=1e-12)
        assert angle_cdf(theta, n) == pytest.approx(integral, rel=1e-10, abs=1e-14)


def test_cdf_known_values():
    assert angle_cdf(0.0, 7) == 0.0
    assert angle_cdf(np.pi, 7) == 1.0
    assert angle_cdf(np.pi / 2, 7) == pytest.approx(0.5, rel=1e-15)
    theta = np.linspace(0.0, np.pi, 17)
    np.testing.assert_allclose(angle_cdf(theta, 2), theta / np.pi, rtol=1e-15)
    np.testing.assert_allclose(angle_cdf(theta, 3), (1 - np.cos(theta)) / 2, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("n", REFERENCE_DIMENSIONS)
def test_cdf_against_50_digit_reference_across_the_range(n):
    spread = 1 / math.sqrt(n)
    theta = np.concatenate(
        [
            [1e-200, 1e-20, 1e-8, 1e-3],
            np.linspace(0.05, np.pi - 0.05, 9),
            np.clip(
                np.pi / 2 + spread * np.array([-37, -20, -6, -1, 0.5, 3, 15, 37]),
                1e-6,
                np.pi - 1e-6,
            ),
            [np.pi - 1e-3, np.pi - 1e-8],
        ]
    )
    values = angle_cdf(theta, n)
    with mpmath.workdps(50):
        for angle, value in zip(theta, values):
            reference = mp_cdf(angle, n)
            if reference < SMALLEST_COMPARED:
                assert value < 1e-290
            else:
                assert relative_error(value, reference) < 1e-12, angle


@given(n=dimensions, first=angles_in_range, second=angles_in_range)
@SETTINGS
def test_cdf_is_monotone(n, first, second):
    low, high = sorted((first, second))
    # Monotone up to the stated relative accuracy of 1e-12.
    assert angle_cdf(low, n) <= angle_cdf(high, n) * (1 + 1e-12)


@given(n=dimensions, theta=angles_in_range)
@SETTINGS
def test_cdf_is_symmetric_about_half_pi(n, theta):
    # pi - theta is rounded, which moves the cdf by up to pdf * 4.4e-16 < 6e-14.
    assert angle_cdf(theta, n) + angle_cdf(np.pi - theta, n) == pytest.approx(1.0, abs=1e-13)


@given(n=st.integers(2, 2000), theta=st.floats(0.0, math.pi / 2))
@SETTINGS
def test_ppf_inverts_cdf(n, theta):
    probability = angle_cdf(theta, n)
    assume(probability > 1e-280)  # below, the cdf underflows and cannot be inverted
    assert angle_ppf(probability, n) == pytest.approx(theta, rel=1e-10)


@given(n=dimensions, q=st.floats(0.0, 0.5))
@SETTINGS
def test_ppf_is_symmetric(n, q):
    upper = 1 - q  # rounded: in the tail it can lose q entirely
    lower = 1 - upper  # exact (Sterbenz), so lower + upper == 1 exactly
    assert angle_ppf(upper, n) + angle_ppf(lower, n) == pytest.approx(np.pi, rel=1e-15)


@pytest.mark.parametrize("n", [4, 7, 10, 14, 23, 30, 39, 1000, 10**5])
def test_ppf_is_accurate_deep_in_the_tail(n):
    # scipy.special.betaincinv returns NaN (n = 7..14) or a quantile with a
    # wrong probability (n = 23..39) down here; angle_ppf must not.
    q = np.logspace(-300, -1, 60)
    theta = angle_ppf(q, n)
    assert np.all(np.isfinite(theta)) and np.all(theta > 0)
    # One ulp of theta moves the cdf by kappa = theta * pdf / cdf ulps.
    kappa = theta * angle_pdf(theta, n) / angle_cdf(theta, n)
    relative_errors = np.abs(angle_cdf(theta, n) / q - 1)
    np.testing.assert_array_less(relative_errors, 4e-16 * np.maximum(kappa, 1) + 1e-15)


def test_ppf_endpoints_and_median():
    for n in (2, 3, 50):
        assert angle_ppf(0.0, n) == 0.0
        assert angle_ppf(1.0, n) == np.pi
        assert angle_ppf(0.5, n) == pytest.approx(np.pi / 2, rel=1e-15)
    assert angle_ppf(1e-300, 2) == pytest.approx(np.pi * 1e-300, rel=1e-15)


# ---------------------------------------------------------------------------
# Tail and bounds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", REFERENCE_DIMENSIONS)
def test_tail_against_mpmath_betainc_at_tiny_delta_and_near_half_pi(n):
    half_dimension = mpmath.mpf(n - 1) / 2
    near_zero = [1e-300, 1e-12, 1e-8, 1e-5]
    near_half_pi = [np.pi / 2 - step for step in (1e-15, 1e-12, 1e-8, 1e-5, 1e-3)]
    with mpmath.workdps(50):
        for delta in near_zero:
            # Tail near 1: the upper form of mpmath.betainc in sin^2 delta.
            sin_squared = mpmath.sin(mpmath.mpf(delta)) ** 2
            reference = mpmath.betainc(0.5, half_dimension, sin_squared, 1, regularized=True)
            assert relative_error(angle_tail(delta, n), reference) < 1e-12
        for delta in near_half_pi:
            # Tiny tail: the lower form in cos^2 delta, a series without cancellation.
            cos_squared = mpmath.cos(mpmath.mpf(delta)) ** 2
            reference = mpmath.betainc(half_dimension, 0.5, 0, cos_squared, regularized=True)
            value = angle_tail(delta, n)
            if reference < SMALLEST_COMPARED:
                assert value < 1e-290
            else:
                assert relative_error(value, reference) < 1e-12


@pytest.mark.parametrize("n", REFERENCE_DIMENSIONS)
def test_tail_against_50_digit_reference_across_the_range(n):
    spread = 1 / math.sqrt(n)
    deltas = np.concatenate(
        [
            np.linspace(0.01, np.pi / 2 - 0.01, 12),
            # Interior points only: numpy.pi / 2 stands for the endpoint, tail 0.
            np.minimum(spread * np.array([0.01, 0.3, 1, 3, 10, 25, 37]), np.pi / 2 - 1e-6),
            [np.pi / 4, np.nextafter(np.pi / 4, 1.0)],
        ]
    )
    values = angle_tail(deltas, n)
    with mpmath.workdps(50):
        for delta, value in zip(deltas, values):
            reference = mp_tail(delta, n)
            if reference < SMALLEST_COMPARED:
                assert value < 1e-290
            else:
                assert relative_error(value, reference) < 1e-12, delta


def test_tail_known_values():
    assert angle_tail(0.0, 10) == 1.0
    assert angle_tail(np.pi / 2, 2) == 0.0
    deltas = np.linspace(0.0, np.pi / 2, 9)
    np.testing.assert_allclose(
        angle_tail(deltas, 2), 1 - 2 * deltas / np.pi, rtol=1e-14, atol=1e-16
    )
    # n = 3: cos(theta) is uniform on [-1, 1], so the tail is 1 - sin(delta).
    np.testing.assert_allclose(angle_tail(deltas, 3), 1 - np.sin(deltas), rtol=1e-13, atol=1e-16)
    # The chapter's example: n = 1000, delta = 5 degrees.
    assert round(float(angle_tail(np.deg2rad(5), 1000)), 4) == 0.0058


def test_tail_agrees_with_cdf_differences_away_from_cancellation():
    n, delta = 50, 0.2
    from_cdf = angle_cdf(np.pi / 2 - delta, n) + 1 - angle_cdf(np.pi / 2 + delta, n)
    assert angle_tail(delta, n) == pytest.approx(from_cdf, rel=1e-12)


@given(n=dimensions, first=deviations_in_range, second=deviations_in_range)
@SETTINGS
def test_tail_is_a_decreasing_probability(n, first, second):
    low, high = sorted((first, second))
    tail_low, tail_high = angle_tail(low, n), angle_tail(high, n)
    assert 0.0 <= tail_high <= 1.0 and 0.0 <= tail_low <= 1.0
    assert tail_high <= tail_low * (1 + 1e-12)


def test_bounds_dominate_the_exact_tail_on_a_grid():
    deltas = np.linspace(0.0, np.pi / 2, 200)[1:]
    for n in [2, 3, 5, 10, 30, 100, 300, 1000, 3000, 10**4]:
        exact = angle_tail(deltas, n)
        chebyshev, chernoff = tail_bounds(deltas, n)
        assert np.all(exact <= chebyshev)
        assert np.all(exact <= chernoff)


def test_bounds_values_and_no_clipping():
    chebyshev, chernoff = tail_bounds(np.pi / 2, 10)
    assert chebyshev == pytest.approx(0.1, rel=1e-15)
    assert chernoff == pytest.approx(2 * math.exp(-5), rel=1e-15)
    chebyshev, chernoff = tail_bounds(1e-3, 10)
    assert chebyshev > 1 and chernoff > 1
    # The chapter's example: exact 0.0058 against a Chernoff bound of 0.045.
    assert round(float(tail_bounds(np.deg2rad(5), 1000)[1]), 3) == 0.045


# ---------------------------------------------------------------------------
# Moments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "variance"),
    [
        (2, sp.pi**2 / 12),
        (3, sp.pi**2 / 4 - 2),
        (4, sp.pi**2 / 12 - sp.Rational(1, 2)),
        (5, sp.pi**2 / 4 - sp.Rational(20, 9)),
    ],
)
def test_exact_moments_small_n(n, variance):
    mean, exact_variance = angle_moments(n, exact=True)
    assert mean == sp.pi / 2
    assert sp.simplify(exact_variance - variance) == 0


def test_exact_moments_for_n3_print_as_in_the_spec():
    assert angle_moments(3, exact=True) == (sp.pi / 2, sp.pi**2 / 4 - 2)


@pytest.mark.parametrize("n", [*range(2, 30), 101, 1000])
def test_float_moments_equal_the_exact_closed_form(n):
    mean, variance = angle_moments(n)
    exact_mean, exact_variance = angle_moments(n, exact=True)
    assert isinstance(mean, float) and isinstance(variance, float)
    assert mean == float(exact_mean)
    assert variance == pytest.approx(float(exact_variance.evalf(30)), rel=1e-14)


@pytest.mark.parametrize("n", [3, 10, 100])
def test_variance_equals_the_variance_integral(n):
    with mpmath.workdps(30):
        constant = mp_normalisation_constant(n)
        integral = mpmath.quad(
            lambda theta: (theta - mpmath.pi / 2) ** 2 * mpmath.sin(theta) ** (n - 2),
            [0, mpmath.pi / 2, mpmath.pi],
        )
        assert relative_error(angle_moments(n)[1], constant * integral) < 1e-14


@pytest.mark.parametrize(
    ("n", "printed"),
    [
        (3, "0.467401"),
        (10, "0.110661"),
        (20, "0.0525832"),
        (50, "0.0204053"),
        (100, "0.0101007"),
        (200, "0.00502508"),
        (1000, "0.001001"),
    ],
)
def test_article_variance_table(n, printed):
    # The table prints 6 significant digits (1000: 0.00100100 without zeros).
    assert f"{angle_moments(n)[1]:.6g}" == printed


# ---------------------------------------------------------------------------
# Angles between vectors
# ---------------------------------------------------------------------------


def test_tiny_angle_is_recovered():
    angle = 1e-9
    x = np.array([1.0, 0.0, 0.0])
    y = np.array([math.cos(angle), math.sin(angle), 0.0])
    assert angle_between(x, y) == pytest.approx(angle, rel=1e-6)
    # arccos of the cosine loses it entirely.
    assert np.arccos(np.dot(x, y)) == 0.0


def test_angle_close_to_pi_is_recovered():
    angle = 1e-9
    x = np.array([1.0, 0.0])
    y = np.array([-math.cos(angle), math.sin(angle)])
    assert np.pi - angle_between(x, y) == pytest.approx(angle, rel=1e-6)


def test_orthogonal_and_antiparallel_vectors():
    assert angle_between([1.0, 0.0, 0.0], [0.0, 3.0, 0.0]) == pytest.approx(np.pi / 2, rel=1e-15)
    assert angle_between([1.0, 2.0, 3.0], [-2.0, -4.0, -6.0]) == pytest.approx(np.pi, rel=1e-15)
    assert angle_between([1.0, 2.0], [2.0, 4.0]) == 0.0


def test_extreme_magnitudes_do_not_overflow_or_underflow():
    assert angle_between([1e300, 0.0], [0.0, 1e300]) == pytest.approx(np.pi / 2, rel=1e-15)
    assert angle_between([1e-300, 1e-300], [1e-300, 0.0]) == pytest.approx(np.pi / 4, rel=1e-15)
    assert angle_between([1e-300, 0.0], [1e300, 1e300]) == pytest.approx(np.pi / 4, rel=1e-15)


def test_leading_axes_broadcast():
    rng = np.random.default_rng(7076)
    x = rng.standard_normal((4, 1, 3))
    y = rng.standard_normal((5, 3))
    result = angle_between(x, y)
    assert result.shape == (4, 5)
    for i in range(4):
        for j in range(5):
            assert result[i, j] == pytest.approx(angle_between(x[i, 0], y[j]), abs=1e-15)
            cosine = np.dot(x[i, 0], y[j]) / (np.linalg.norm(x[i, 0]) * np.linalg.norm(y[j]))
            assert result[i, j] == pytest.approx(np.arccos(cosine), abs=1e-12)
    assert angle_between(np.eye(3), [1.0, 0.0, 0.0]).shape == (3,)


def test_inputs_are_not_modified():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([5.0, -1.0])
    x_copy, y_copy = x.copy(), y.copy()
    angle_between(x, y)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)


@st.composite
def vector_pairs(draw):
    """Two non-zero vectors of a common length 1..8, entries 0 or 1e-6..1e6 in size.

    The lower limit keeps entries normal after the scalings of 1e-200 below.
    """
    length = draw(st.integers(1, 8))
    magnitudes = st.floats(1e-6, 1e6)
    elements = st.one_of(st.just(0.0), magnitudes, magnitudes.map(lambda value: -value))
    x = draw(arrays(np.float64, length, elements=elements))
    y = draw(arrays(np.float64, length, elements=elements))
    assume(np.any(x != 0) and np.any(y != 0))
    return x, y


@given(pair=vector_pairs())
@SETTINGS
def test_angle_between_is_symmetric_and_in_range(pair):
    x, y = pair
    angle = angle_between(x, y)
    assert 0.0 <= angle <= np.pi
    assert angle_between(y, x) == angle


@given(pair=vector_pairs(), log_scale=st.floats(-200, 200), scale_first=st.booleans())
@SETTINGS
def test_angle_between_is_invariant_to_positive_scaling(pair, log_scale, scale_first):
    x, y = pair
    scale = 10.0**log_scale
    scaled = angle_between(x * scale, y) if scale_first else angle_between(x, y * scale)
    # Unit vectors move by a few ulps under scaling, so the angle does too.
    assert scaled == pytest.approx(angle_between(x, y), abs=1e-13)


@given(pair=vector_pairs(), seed=st.integers(0, 2**32 - 1))
@SETTINGS
def test_angle_between_is_invariant_to_a_common_rotation(pair, seed):
    x, y = pair
    assume(len(x) >= 2)  # ortho_group needs dimension >= 2
    rotation = stats.ortho_group.rvs(len(x), random_state=seed)
    rotated = angle_between(rotation @ x, rotation @ y)
    assert rotated == pytest.approx(angle_between(x, y), abs=1e-12)


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["vectors", "chi2"])
def test_sampling_is_reproducible_with_the_same_seed(method):
    first = sample_angles(7, 1000, np.random.default_rng(7076), method=method)
    second = sample_angles(7, 1000, np.random.default_rng(7076), method=method)
    np.testing.assert_array_equal(first, second)
    other_seed = sample_angles(7, 1000, np.random.default_rng(1), method=method)
    assert not np.array_equal(first, other_seed)


@pytest.mark.parametrize("method", ["vectors", "chi2"])
@pytest.mark.parametrize(("n", "size"), [(2, 20_000), (10, 20_000), (1000, 4_000)])
def test_sample_mean_and_law(method, n, size):
    samples = sample_angles(n, size, np.random.default_rng(7076 + n), method=method)
    assert samples.shape == (size,) and samples.dtype == np.float64
    assert np.all((samples >= 0.0) & (samples <= np.pi))
    mean, variance = angle_moments(n)
    standard_error = math.sqrt(variance / size)
    assert abs(samples.mean() - mean) < 4 * standard_error
    # The derived law itself: KS statistic below the alpha = 0.001 critical value.
    statistic = stats.kstest(samples, lambda theta: angle_cdf(theta, n)).statistic
    assert statistic < stats.kstwo.ppf(0.999, size)


def test_vectors_sampling_crosses_chunk_boundaries():
    # 2**19 // 4096 = 128 pairs per chunk, so 300 angles take three chunks.
    samples = sample_angles(4096, 300, np.random.default_rng(3))
    assert samples.shape == (300,)
    assert np.all(np.isfinite(samples))
    assert abs(samples.mean() - np.pi / 2) < 4 * math.sqrt(angle_moments(4096)[1] / 300)


def test_size_one_and_numpy_integer_arguments():
    rng = np.random.default_rng(0)
    assert sample_angles(np.int64(5), np.int32(1), rng).shape == (1,)
    assert angle_pdf(1.0, np.int64(5)) == angle_pdf(1.0, 5)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

BAD_DIMENSIONS = [True, False, 3.0, 1, 0, -2, "3", np.float64(3), None, np.bool_(True)]

FUNCTIONS_OF_N = {
    "angle_pdf": lambda n: angle_pdf(1.0, n),
    "angle_cdf": lambda n: angle_cdf(1.0, n),
    "angle_ppf": lambda n: angle_ppf(0.5, n),
    "angle_tail": lambda n: angle_tail(0.5, n),
    "tail_bounds": lambda n: tail_bounds(0.5, n),
    "sharp_tail_bound": lambda n: sharp_tail_bound(0.5, n),
    "angle_moments": lambda n: angle_moments(n),
    "angle_moments_exact": lambda n: angle_moments(n, exact=True),
    "normalisation_constant": lambda n: normalisation_constant(n),
    "sample_angles": lambda n: sample_angles(n, 10, np.random.default_rng(0)),
    "sample_angles_chi2": lambda n: sample_angles(n, 10, np.random.default_rng(0), method="chi2"),
}


@pytest.mark.parametrize("n", BAD_DIMENSIONS, ids=repr)
@pytest.mark.parametrize("function", FUNCTIONS_OF_N.values(), ids=FUNCTIONS_OF_N.keys())
def test_bad_dimension_raises(function, n):
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        function(n)


@pytest.mark.parametrize(
    "theta", [np.nan, np.inf, -np.inf, -0.1, 4.0, [0.5, np.nan], [1.0, 3.2], "a", 1j]
)
@pytest.mark.parametrize("function", [angle_pdf, angle_cdf])
def test_bad_theta_raises(function, theta):
    with pytest.raises(ValueError, match="theta"):
        function(theta, 5)


@pytest.mark.parametrize("q", [1.5, -0.1, np.nan, np.inf, [0.2, 1.01]])
def test_bad_probability_raises(q):
    with pytest.raises(ValueError, match="q"):
        angle_ppf(q, 5)


@pytest.mark.parametrize("delta", [2.0, -0.1, np.nan, -np.inf, [0.1, 1.6]])
def test_bad_tail_delta_raises(delta):
    with pytest.raises(ValueError, match="delta"):
        angle_tail(delta, 5)


@pytest.mark.parametrize("delta", [0.0, 2.0, -0.1, np.nan, [0.1, 0.0]])
def test_bad_bound_delta_raises(delta):
    with pytest.raises(ValueError, match="delta"):
        tail_bounds(delta, 5)


@pytest.mark.parametrize("size", [0, -1, True, 2.5, 10.0, "10", None])
def test_bad_size_raises(size):
    with pytest.raises(ValueError, match="size"):
        sample_angles(5, size, np.random.default_rng(0))


@pytest.mark.parametrize(
    "rng", [42, np.random.RandomState(0), None], ids=["int", "RandomState", "None"]
)
def test_bad_rng_raises(rng):
    with pytest.raises(ValueError, match="rng"):
        sample_angles(5, 10, rng)


def test_bad_method_raises():
    with pytest.raises(ValueError, match="method"):
        sample_angles(5, 10, np.random.default_rng(0), method="foo")


def test_bad_exact_flag_raises():
    with pytest.raises(ValueError, match="exact"):
        angle_moments(5, exact="yes")


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([0.0, 0.0], [1.0, 0.0], "zero vector"),
        ([1.0, 0.0], [[1.0, 1.0], [0.0, 0.0]], "zero vector"),
        ([1.0, 0.0], [1.0, 0.0, 0.0], "last axes"),
        ([1.0, np.nan], [1.0, 0.0], "finite"),
        ([1.0, 0.0], [np.inf, 0.0], "finite"),
        (1.0, 2.0, "vectors"),
        (np.ones((2, 3)), np.ones((4, 3)), "broadcast"),
        ([], [], "at least one component"),
    ],
)
def test_bad_vectors_raise(x, y, message):
    with pytest.raises(ValueError, match=message):
        angle_between(x, y)


# ---------------------------------------------------------------------------
# The sharp tail bound (chapter 1, "Almost orthogonal")


def test_sharp_bound_dominates_the_exact_tail_and_tends_to_it():
    deltas = np.linspace(0.0, np.pi / 2, 200)[1:]
    for n in [2, 3, 5, 10, 30, 100, 300, 1000, 3000, 10**4]:
        exact = angle_tail(deltas, n)
        assert np.all(exact <= sharp_tail_bound(deltas, n) * (1 + 1e-12))
    ratios = [sharp_tail_bound(0.35, n) / angle_tail(0.35, n) for n in (10, 100, 1000)]
    assert ratios[0] > ratios[1] > ratios[2] > 1  # asymptotically exact


def test_sharp_bound_against_mpmath_and_endpoints():
    with mpmath.workdps(30):
        for n in (2, 7, 1000):
            for delta in (0.05, 0.7, 1.5):
                d = mpmath.mpf(delta)
                c_n = mpmath.gamma(mpmath.mpf(n) / 2) / (
                    mpmath.gamma(mpmath.mpf(n - 1) / 2) * mpmath.sqrt(mpmath.pi)
                )
                reference = 2 * c_n * mpmath.cos(d) ** (n - 1) / ((n - 1) * mpmath.sin(d))
                assert sharp_tail_bound(delta, n) == pytest.approx(float(reference), rel=1e-13)
    assert sharp_tail_bound(np.pi / 2, 5) == 0.0
    assert type(sharp_tail_bound(0.3, 5)) is np.float64
    assert sharp_tail_bound([0.3, np.pi / 2], 5).shape == (2,)
    with pytest.raises(ValueError, match="delta"):
        sharp_tail_bound(0.0, 5)
    with pytest.raises(ValueError, match="delta"):
        sharp_tail_bound([0.3, np.nan], 5)


# ---------------------------------------------------------------------------
# Cases found by mutation testing (make mutation): each kills mutants that the
# tests above let through
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "argument"),
    [
        (angle_pdf, "theta"),
        (angle_cdf, "theta"),
        (angle_ppf, "q"),
        (angle_tail, "delta"),
        (tail_bounds, "delta"),
        (sharp_tail_bound, "delta"),
    ],
)
def test_booleans_are_refused_even_when_their_value_is_in_range(function, argument):
    # True would be read as 1.0, inside every interval: the refusal must be by type
    with pytest.raises((TypeError, ValueError), match=f"{argument} must contain real numbers"):
        function(np.array([True, True]), 5)


def test_cdf_at_the_float_nearest_half_pi_is_below_one_half():
    # fl(pi/2) = pi/2 - 6.1e-17; at n = 1e5 the density there is about 126, so
    # the cdf is 0.5 - 7.7e-15: below 1/2 by some 35 ulps
    n = 10**5
    value = angle_cdf(np.pi / 2, n)
    assert value < 0.5
    with mpmath.workdps(50):
        assert relative_error(value, mp_cdf(np.pi / 2, n)) < 1e-15


def test_ppf_known_values_for_n_2_and_3():
    # n = 2: uniform angle; n = 3: cos(theta) is uniform on [-1, 1]
    assert angle_ppf(0.25, 2) == pytest.approx(np.pi / 4, rel=1e-15)
    assert angle_ppf(0.25, 3) == pytest.approx(np.pi / 3, rel=1e-15)
    assert angle_ppf(0.1, 3) == pytest.approx(math.acos(0.8), rel=1e-15)


@pytest.mark.parametrize(
    ("n", "q"), [(10, 1e-150), (30, 1e-250), (30, 1e-300), (4, 1e-200), (39, 1.2008576399310062e-295)]
)
def test_scalar_ppf_deep_in_the_tail_is_converged(n, q):
    # a scalar goes through Newton's method alone: it must not stop before converging
    theta = angle_ppf(q, n)
    kappa = theta * angle_pdf(theta, n) / q
    with mpmath.workdps(50):
        assert relative_error(q, mp_cdf(theta, n)) < 4e-16 * max(kappa, 1) + 1e-15


@pytest.mark.parametrize(("n", "q"), [(3, 5e-324), (4, 1e-320), (20, 2e-310), (50, 3e-315)])
def test_ppf_refuses_a_subnormal_probability(n, q):
    # the cdf flushes probabilities below about 1e-309 to 0, so Newton's method
    # cannot locate such a quantile (it returned 0.098 for q = 2e-310, n = 20)
    with pytest.raises(ValueError, match="q must be 0 or at least 2.225e-308"):
        angle_ppf(q, n)
    assert angle_ppf(q, 2) == q * np.pi  # the uniform case needs no cdf


def test_ppf_at_the_smallest_normal_probability():
    for n in (3, 4, 20, 50, 1000):
        theta = angle_ppf(np.finfo(np.float64).tiny, n)
        with mpmath.workdps(50):
            assert relative_error(np.finfo(np.float64).tiny, mp_cdf(theta, n)) < 1e-13


def test_vectors_sampling_uses_consecutive_normal_pairs():
    # the documented construction, pair by pair from the same stream
    n, size = 7, 5
    draws = np.random.default_rng(11).standard_normal((2, size, n))
    expected = angle_between(draws[0], draws[1])
    np.testing.assert_allclose(
        sample_angles(n, size, np.random.default_rng(11)), expected, rtol=1e-14
    )


def test_vectors_sampling_with_vectors_longer_than_a_chunk():
    # n > 2**19 floats: one pair per chunk, each drawn in turn from the stream
    n, size = 2**19 + 3, 3
    rng = np.random.default_rng(5)
    expected = [angle_between(*rng.standard_normal((2, 1, n))[:, 0]) for _ in range(size)]
    np.testing.assert_allclose(
        sample_angles(n, size, np.random.default_rng(5)), expected, rtol=1e-12
    )


def test_tail_bounds_are_infinite_not_warnings_for_tiny_deviations():
    # n sin^2(delta) underflows to 0 (delta = 1e-200) or is subnormal (1e-310 / n):
    # Chebyshev's bound is then +inf, a true if trivial bound, with no warning
    for delta in (1e-200, 1e-155):
        chebyshev, chernoff = tail_bounds(delta, 10)
        assert chebyshev == np.inf and chernoff == 2.0


def test_angle_between_names_the_zero_vector_and_refuses_scalars():
    with pytest.raises(ValueError, match=r"^x contains a zero vector"):
        angle_between([0.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"^y contains a zero vector"):
        angle_between([1.0, 0.0], [[1.0, 1.0], [0.0, 0.0]])
    for x, y in ((1.0, [1.0, 0.0]), ([1.0, 0.0], 2.0)):
        with pytest.raises(ValueError, match="must be vectors"):
            angle_between(x, y)
    with pytest.raises(ValueError, match="do not broadcast"):
        angle_between(np.ones((2, 3)), np.ones((3, 3)))
