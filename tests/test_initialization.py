"""Tests for lib.initialization (chapter 2)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from _references import tanh_correlation_slope
from lib import initialization as init

SIZES = st.integers(min_value=1, max_value=64)
RATIOS = st.floats(min_value=1e-3, max_value=1e2, allow_nan=False)
SCALES = st.floats(min_value=1e-2, max_value=1e2, allow_nan=False)


# -- init_variance / sample_weights ------------------------------------------------


def test_init_variance_known_values() -> None:
    shape = (400, 100)
    assert init.init_variance(shape, "fan_out") == 1 / 400
    assert init.init_variance(shape, "fan_in") == 1 / 100
    assert init.init_variance(shape, "xavier") == 2 / 500
    assert init.init_variance(shape, "he_fan_in") == 2 / 100
    assert init.init_variance((7, 400, 100), "he_fan_out") == 2 / 400


@settings(max_examples=50, deadline=None)
@given(m=SIZES, n=SIZES)
def test_xavier_is_harmonic_mean(m: int, n: int) -> None:
    fan_in = init.init_variance((m, n), "fan_in")
    fan_out = init.init_variance((m, n), "fan_out")
    assert init.init_variance((m, n), "xavier") == pytest.approx(2 / (1 / fan_in + 1 / fan_out))


@pytest.mark.parametrize("dist", ["normal", "uniform"])
def test_sample_weights_moments(dist: str) -> None:
    rng = np.random.default_rng(0)
    w = init.sample_weights((200, 50, 40), "fan_in", rng, dist)
    assert w.shape == (200, 50, 40)
    variance = 1 / 40
    assert abs(w.mean()) < 4 * math.sqrt(variance / w.size)
    # Var of the sample variance is (kappa - 1) sigma^4 / N.
    kappa = init.KURTOSIS[dist]
    se = math.sqrt((kappa - 1) / w.size) * variance
    assert abs(w.var() - variance) < 4 * se
    if dist == "uniform":
        assert np.max(np.abs(w)) <= math.sqrt(3 * variance)
        sample_kurtosis = np.mean(w**4) / np.mean(w**2) ** 2
        assert sample_kurtosis == pytest.approx(9 / 5, abs=0.02)


def test_sample_weights_is_reproducible() -> None:
    a = init.sample_weights((3, 4), "xavier", np.random.default_rng(5))
    b = init.sample_weights((3, 4), "xavier", np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


# -- gram_mse ------------------------------------------------------------------


def _symbolic_gram_mse(m: int, n: int, kappa: sp.Expr, s2: sp.Expr) -> sp.Expr:
    """E mean((W^T W - I)^2) by expanding in the entries (an independent reference)."""
    w = sp.Matrix(m, n, lambda i, j: sp.Symbol(f"w{i}{j}"))
    expr = sp.expand(sum((w.T * w - sp.eye(n)).applyfunc(lambda e: e**2)) / n**2)
    moments = {1: 0, 2: s2, 3: 0, 4: kappa * s2**2}
    total = sp.Integer(0)
    for monomial, coeff in sp.Poly(expr, *w).terms():
        term = coeff
        for power in monomial:
            term *= moments[power] if power else 1
        total += term
    return sp.simplify(total)


@pytest.mark.parametrize("m, n", [(1, 1), (2, 2), (2, 3), (3, 2)])
def test_gram_mse_matches_symbolic_expansion(m: int, n: int) -> None:
    kappa, s2 = sp.Rational(9, 5), sp.Rational(1, 7)
    want = float(_symbolic_gram_mse(m, n, kappa, s2))
    assert init.gram_mse((m, n), 1 / 7, "uniform") == pytest.approx(want, rel=1e-12)


def test_gram_mse_article_snippet_values() -> None:
    assert init.gram_mse((100, 100), 0.01) == pytest.approx(101 / 100**2, rel=1e-14)
    assert init.gram_mse((100, 100), 0.01, "uniform") == pytest.approx(99.8 / 100**2, rel=1e-14)
    assert init.gram_mse((400, 100), 1 / 400) == pytest.approx(101 / 40000, rel=1e-14)


def test_gram_mse_monte_carlo() -> None:
    rng = np.random.default_rng(1)
    w = init.sample_weights((400, 30, 20), "fan_out", rng, "uniform")
    g = np.swapaxes(w, -1, -2) @ w
    mse = ((g - np.eye(20)) ** 2).mean(axis=(1, 2))
    want = init.gram_mse((30, 20), 1 / 30, "uniform")
    assert abs(mse.mean() - want) < 4 * mse.std(ddof=1) / math.sqrt(mse.size)


@settings(max_examples=50, deadline=None)
@given(m=SIZES, n=SIZES, s2=st.floats(min_value=1e-4, max_value=10))
def test_gram_mse_positive_and_normal_above_uniform(m: int, n: int, s2: float) -> None:
    normal = init.gram_mse((m, n), s2, "normal")
    uniform = init.gram_mse((m, n), s2, "uniform")
    assert 0 < uniform < normal


def test_entry_expectation_matches_helper_and_law() -> None:
    kappa, s2 = sp.symbols("kappa sigma2", positive=True)
    w = sp.Matrix(2, 3, lambda i, j: sp.Symbol(f"w{i}{j}"))
    expr = sum((w.T * w - sp.eye(3)).applyfunc(lambda e: e**2)) / 9
    got = init.entry_expectation(expr, list(w), s2, kappa)
    assert sp.simplify(got - _symbolic_gram_mse(2, 3, kappa, s2)) == 0
    # Normal law: E x^4 = 3 sigma^4 by integration.
    x, s = sp.symbols("x s", positive=True)
    pdf = sp.exp(-(x**2) / (2 * s**2)) / sp.sqrt(2 * sp.pi * s**2)
    fourth = sp.integrate(x**4 * pdf, (x, -sp.oo, sp.oo))
    assert sp.simplify(init.entry_expectation(x**4, [x], s**2, 3) - fourth) == 0


# -- gram_spectrum -------------------------------------------------------------


def test_gram_spectrum_matches_eigvalsh() -> None:
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 30, 12))
    want = np.linalg.eigvalsh(np.swapaxes(w, -1, -2) @ w)
    np.testing.assert_allclose(init.gram_spectrum(w), want, rtol=1e-10, atol=1e-10)


def test_gram_spectrum_exact_zeros_when_wide() -> None:
    w = np.random.default_rng(3).standard_normal((50, 100))
    eigen = init.gram_spectrum(w)
    assert eigen.shape == (100,)
    assert np.count_nonzero(eigen == 0.0) == 50
    assert np.all(np.diff(eigen) >= 0)


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 8), n=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_gram_spectrum_trace_and_orthogonal_invariance(m: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, n))
    q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    eigen = init.gram_spectrum(w)
    assert eigen.sum() == pytest.approx(np.sum(w**2), rel=1e-10)
    np.testing.assert_allclose(init.gram_spectrum(q @ w), eigen, atol=1e-10 * (1 + eigen.max()))


# -- norm_ratio_moments --------------------------------------------------------


@pytest.mark.parametrize("dist", ["normal", "uniform"])
@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_norm_ratio_moments_monte_carlo(dist: str, activation: str) -> None:
    rng = np.random.default_rng(4)
    m, n, draws = 8, 5, 20000
    x = np.array([3.0, -1.0, 0.5, 0.0, 2.0])
    w = init.sample_weights((draws, m, n), "fan_out", rng, dist)
    y = w @ x
    if activation == "relu":
        y = np.maximum(y, 0)
    r = np.sum(y**2, axis=1) / np.sum(x**2)
    mean, var = init.norm_ratio_moments((m, n), 1 / m, dist, x, activation)
    assert abs(r.mean() - mean) < 4 * math.sqrt(var / draws)
    # SE of the sample variance from the sample fourth central moment.
    se_var = math.sqrt((np.mean((r - r.mean()) ** 4) - r.var() ** 2) / draws)
    assert abs(r.var(ddof=1) - var) < 4 * se_var


def test_norm_ratio_normal_is_chi_square() -> None:
    m = 16
    mean, var = init.norm_ratio_moments((m, 3), 1 / m, "normal", [1.0, 2.0, 3.0])
    assert mean == pytest.approx(stats.chi2(m).mean() / m)
    assert var == pytest.approx(stats.chi2(m).var() / m**2)


def test_norm_ratio_sphere_average() -> None:
    # r for e_1 is 1, for the all-ones vector 1/n; the sphere average 3/(n+2) lies between.
    m, n = 10, 6
    _, var_e1 = init.norm_ratio_moments((m, n), 1 / m, "uniform", np.eye(n)[0])
    _, var_ones = init.norm_ratio_moments((m, n), 1 / m, "uniform", np.ones(n))
    _, var_sphere = init.norm_ratio_moments((m, n), 1 / m, "uniform")
    assert var_e1 == pytest.approx((2 - 1.2) / m)
    assert var_ones == pytest.approx((2 - 1.2 / n) / m)
    assert var_e1 < var_sphere < var_ones
    assert var_sphere == pytest.approx((2 - 1.2 * 3 / (n + 2)) / m)


@settings(max_examples=50, deadline=None)
@given(
    x=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=10).filter(
        lambda v: any(abs(t) > 1e-3 for t in v)
    ),
    c=st.floats(min_value=1e-3, max_value=1e3),
    dist=st.sampled_from(["normal", "uniform"]),
)
def test_norm_ratio_scale_invariant_and_bounded(x: list[float], c: float, dist: str) -> None:
    n, m = len(x), 7
    mean, var = init.norm_ratio_moments((m, n), 1 / m, dist, x)
    mean_c, var_c = init.norm_ratio_moments((m, n), 1 / m, dist, [c * t for t in x])
    assert mean == pytest.approx(mean_c) and var == pytest.approx(var_c)
    kappa = init.KURTOSIS[dist]
    lo, hi = sorted([2 + (kappa - 3) / n, 2 + (kappa - 3)])
    assert lo / m - 1e-12 <= var <= hi / m + 1e-12


# -- Marchenko-Pastur ----------------------------------------------------------


def test_marchenko_pastur_support_values() -> None:
    assert init.marchenko_pastur_support(1.0) == (0.0, 4.0, 0.0)
    a, b, atom = init.marchenko_pastur_support(4.0, 2.0)
    assert (a, b, atom) == pytest.approx((2.0, 18.0, 0.75))


@pytest.mark.parametrize("gamma", [1e-3, 0.1, 0.25, 1.0, 2.0, 4.0, 100.0])
@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_marchenko_pastur_cdf_against_quadrature(gamma: float, scale: float) -> None:
    a, b, atom = init.marchenko_pastur_support(gamma, scale)
    for x in np.linspace(a, b, 6):
        mass, _ = integrate.quad(
            lambda t: init.marchenko_pastur_pdf(t, gamma, scale), a, x, epsabs=1e-14, limit=200
        )
        assert init.marchenko_pastur_cdf(x, gamma, scale) == pytest.approx(atom + mass, abs=1e-10)
    assert init.marchenko_pastur_cdf(b, gamma, scale) == 1.0
    assert init.marchenko_pastur_cdf(-1.0, gamma, scale) == 0.0
    assert init.marchenko_pastur_cdf(0.0, gamma, scale) == pytest.approx(atom, abs=1e-15)


def test_marchenko_pastur_antiderivative_symbolic() -> None:
    # The closed form's arcsine antiderivative differentiates to the integrand (gamma = 1/4).
    t = sp.Symbol("t", positive=True)
    a, b = sp.Rational(1, 4), sp.Rational(9, 4)
    q = sp.sqrt((b - t) * (t - a))
    antiderivative = (
        q
        + (a + b) / 2 * sp.asin((2 * t - a - b) / (b - a))
        - sp.sqrt(a * b) * sp.asin(((a + b) * t - 2 * a * b) / (t * (b - a)))
    )
    difference = sp.diff(antiderivative, t) - q / t
    for point in [sp.Rational(1, 2), 1, sp.Rational(3, 2), 2]:
        assert abs(sp.N(difference.subs(t, point), 30)) < 1e-25


@settings(max_examples=50, deadline=None)
@given(gamma=RATIOS, scale=SCALES)
def test_marchenko_pastur_cdf_monotone_and_pdf_nonnegative(gamma: float, scale: float) -> None:
    a, b, atom = init.marchenko_pastur_support(gamma, scale)
    xs = np.linspace(a - 0.1 * b, 1.1 * b, 200)
    cdf = init.marchenko_pastur_cdf(xs, gamma, scale)
    assert np.all(np.diff(cdf) >= -1e-12)
    assert np.all((cdf >= 0) & (cdf <= 1))
    assert np.all(init.marchenko_pastur_pdf(xs, gamma, scale) >= 0)
    assert 0 <= atom < 1


@settings(max_examples=20, deadline=None)
@given(gamma=RATIOS, scale=SCALES)
def test_marchenko_pastur_scale_covariance(gamma: float, scale: float) -> None:
    a, b, _ = init.marchenko_pastur_support(gamma, 1.0)
    xs = np.linspace(a, b, 9)
    np.testing.assert_allclose(
        init.marchenko_pastur_cdf(scale * xs, gamma, scale),
        init.marchenko_pastur_cdf(xs, gamma, 1.0),
        atol=1e-9,
    )


def test_marchenko_pastur_mass_and_mean_by_quadrature() -> None:
    for gamma in [0.25, 1.0, 4.0]:
        a, b, _ = init.marchenko_pastur_support(gamma)
        mass, _ = integrate.quad(lambda t: init.marchenko_pastur_pdf(t, gamma), a, b)
        mean, _ = integrate.quad(lambda t: t * init.marchenko_pastur_pdf(t, gamma), a, b)
        assert mass == pytest.approx(min(1.0, 1 / gamma), abs=1e-8)
        assert mean == pytest.approx(1.0, abs=1e-8)  # the atom at 0 adds nothing


# -- forward_norm_ratios -------------------------------------------------------


def test_forward_norm_ratios_shape_and_first_column() -> None:
    rng = np.random.default_rng(6)
    out = init.forward_norm_ratios(np.ones(16), 5, "fan_out", "tanh", rng, trials=3)
    assert out.shape == (3, 6)
    np.testing.assert_array_equal(out[:, 0], 1.0)
    assert np.all(out > 0)


def test_forward_norm_ratios_linear_log_mean() -> None:
    # Gaussian linear layers: log R per layer ~ log(chi2_m / m), mean psi(m/2) - log(m/2).
    from scipy.special import digamma

    rng = np.random.default_rng(7)
    m, depth, trials = 16, 10, 200
    out = init.forward_norm_ratios(rng.standard_normal(m), depth, "fan_out", "linear", rng, trials=trials)
    log_r = np.diff(2 * np.log(out), axis=1).ravel()
    want = digamma(m / 2) - math.log(m / 2)
    assert abs(log_r.mean() - want) < 4 * log_r.std(ddof=1) / math.sqrt(log_r.size)


def test_forward_norm_ratios_orthogonal_linear_is_exact() -> None:
    rng = np.random.default_rng(9)
    out = init.forward_norm_ratios(rng.standard_normal(12), 6, "fan_out", "linear", rng, trials=3,
                                   orthogonal=True)
    np.testing.assert_allclose(out, 1.0, rtol=1e-12)
    relu = init.forward_norm_ratios(np.ones(12), 1, "he_fan_out", "relu", rng, trials=4000,
                                    orthogonal=True)[:, 1] ** 2
    # sqrt(2) Q h is uniform on a sphere of radius sqrt(2)|h|: E R = 1 exactly.
    assert abs(relu.mean() - 1.0) < 4 * relu.std(ddof=1) / math.sqrt(relu.size)


@pytest.mark.parametrize("dist", init.DISTRIBUTIONS)
def test_sample_weights_moments_every_law(dist: str) -> None:
    # Mean 0, variance sigma^2 = 1/8 and the catalogued kurtosis, within 5 standard errors.
    w = init.sample_weights((400_000, 8), "fan_out", np.random.default_rng(12), dist).ravel()
    s2 = init.init_variance((400_000, 8), "fan_out")
    assert abs(w.mean()) < 5 * w.std() / math.sqrt(w.size)
    sq = w**2
    assert abs(sq.mean() - s2) < 5 * sq.std() / math.sqrt(w.size) + 1e-12 * s2
    fourth = w**4 / s2**2
    assert abs(fourth.mean() - init.KURTOSIS[dist]) < 5 * fourth.std() / math.sqrt(w.size) + 1e-12


def test_sample_weights_rademacher_values() -> None:
    w = init.sample_weights((50, 4), "fan_in", np.random.default_rng(13), "rademacher")
    np.testing.assert_allclose(np.abs(w), 0.5)
    assert set(np.unique(np.sign(w))) == {-1.0, 1.0}


def test_relu_moments_need_a_symmetric_law() -> None:
    with pytest.raises(ValueError, match="symmetric"):
        init.norm_ratio_moments((4, 4), 0.25, "exponential", activation="relu")
    init.norm_ratio_moments((4, 4), 0.25, "student_t", activation="relu")


# -- sample_orthogonal -----------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 5), (7, 3), (3, 7), (4, 6, 2)])
def test_sample_orthogonal_is_orthonormal(shape: tuple[int, ...]) -> None:
    w = init.sample_orthogonal(shape, np.random.default_rng(10), gain=1.5)
    assert w.shape == shape
    m, n = shape[-2:]
    gram = np.swapaxes(w, -1, -2) @ w if m >= n else w @ np.swapaxes(w, -1, -2)
    np.testing.assert_allclose(gram, np.broadcast_to(2.25 * np.eye(min(m, n)), gram.shape),
                               atol=1e-13)


def test_sample_orthogonal_is_haar() -> None:
    # Under Haar measure every entry of a 4 x 4 Q is distributed as a coordinate of a
    # uniform unit vector: mean 0, second moment 1/4. QR without the sign fix gives
    # Q[0, 0] = -|a| / |column|, of mean about -0.47.
    w = init.sample_orthogonal((20_000, 4, 4), np.random.default_rng(11))
    for entry in (w[:, 0, 0], w[:, 2, 1]):
        assert abs(entry.mean()) < 4 * entry.std(ddof=1) / math.sqrt(entry.size)
        se = (entry**2).std(ddof=1) / math.sqrt(entry.size)
        assert abs((entry**2).mean() - 0.25) < 4 * se
    # The first column is uniform on the sphere: its first coordinate's angle to e_1
    # follows the chapter 1 law, here through Beta(1/2, 3/2) for its square.
    assert stats.kstest(w[:, 0, 0] ** 2, stats.beta(0.5, 1.5).cdf).pvalue > 1e-3


# -- log_gain_moments / mean-field maps ------------------------------------------


def test_log_gain_moments_linear_by_quadrature() -> None:
    m, s2 = 6, 0.3
    law = stats.chi2(m)
    mean = integrate.quad(lambda t: math.log(s2 * t) * law.pdf(t), 0, np.inf)[0]
    second = integrate.quad(lambda t: math.log(s2 * t) ** 2 * law.pdf(t), 0, np.inf)[0]
    got = init.log_gain_moments(m, s2)
    assert got == pytest.approx((mean, second - mean**2), rel=1e-8)


def test_log_gain_moments_relu_by_enumeration() -> None:
    # K ~ Bin(m, 1/2) positive coordinates, R = s2 chi2_K, conditioned on K >= 1.
    m, s2 = 4, 0.5
    probs = np.array([stats.binom(m, 0.5).pmf(k) for k in range(1, m + 1)])
    probs = probs / probs.sum()
    moments = []
    for k in range(1, m + 1):
        law = stats.chi2(k)
        lo = integrate.quad(lambda t: math.log(s2 * t) * law.pdf(t), 0, 1, limit=200)[0]
        hi = integrate.quad(lambda t: math.log(s2 * t) * law.pdf(t), 1, np.inf)[0]
        lo2 = integrate.quad(lambda t: math.log(s2 * t) ** 2 * law.pdf(t), 0, 1, limit=200)[0]
        hi2 = integrate.quad(lambda t: math.log(s2 * t) ** 2 * law.pdf(t), 1, np.inf)[0]
        moments.append((lo + hi, lo2 + hi2))
    mean = float(probs @ [a for a, _ in moments])
    second = float(probs @ [b for _, b in moments])
    got = init.log_gain_moments(m, s2, "relu")
    assert got == pytest.approx((mean, second - mean**2), rel=1e-7)


@pytest.mark.parametrize("q", [1e-4, 0.3, 1.0, 5.0, 40.0])
def test_mean_field_length_map_tanh_by_quadrature(q: float) -> None:
    gain = 1.3
    want = integrate.quad(
        lambda z: math.tanh(math.sqrt(gain * q) * z) ** 2 * stats.norm.pdf(z), -np.inf, np.inf,
        epsabs=1e-15, epsrel=1e-13, limit=200,
    )[0]
    assert init.mean_field_length_map(q, "tanh", gain) == pytest.approx(want, rel=1e-11, abs=1e-15)


def test_mean_field_length_map_linear_relu() -> None:
    q = np.array([0.0, 0.5, 3.0])
    np.testing.assert_allclose(init.mean_field_length_map(q, "linear", 2.0), 2 * q)
    np.testing.assert_allclose(init.mean_field_length_map(q, "relu", 2.0), q)


@pytest.mark.parametrize("c", [-0.8, 0.0, 0.3, 0.95])
def test_mean_field_correlation_map_by_quadrature(c: float) -> None:
    s = math.sqrt(0.7 * 1.5)
    sine = math.sqrt(1 - c * c)
    tanh_cross = integrate.dblquad(
        lambda y, x: math.tanh(s * x) * math.tanh(s * (c * x + sine * y))
        * stats.norm.pdf(x) * stats.norm.pdf(y),
        -12, 12, -12, 12, epsabs=1e-12,
    )[0]
    tanh_second = integrate.quad(lambda z: math.tanh(s * z) ** 2 * stats.norm.pdf(z), -12, 12,
                                 epsabs=1e-14)[0]
    got = init.mean_field_correlation_map(c, "tanh", q=0.7, gain=1.5)
    assert got == pytest.approx(tanh_cross / tanh_second, abs=1e-8)
    # ReLU: integrate the product over the quadrant where both pre-activations are
    # positive (x > 0 and c x + sine y > 0), so the kink is a boundary, not inside.
    relu_cross = integrate.dblquad(
        lambda y, x: x * (c * x + sine * y) * stats.norm.pdf(x) * stats.norm.pdf(y),
        0, 12, lambda x: -c * x / sine, 12, epsabs=1e-13,
    )[0]
    got = init.mean_field_correlation_map(c, "relu", q=0.7, gain=1.5)
    assert got == pytest.approx(relu_cross / 0.5, abs=1e-10)
    np.testing.assert_allclose(init.mean_field_correlation_map([c, 1.0], "linear"), [c, 1.0])
    assert init.mean_field_correlation_map(1.0, "relu") == pytest.approx(1.0)


def test_variance_with_standard_error() -> None:
    rng = np.random.default_rng(8)
    sample = rng.standard_normal(200_000) * 3.0
    var, se = init.variance_with_standard_error(sample)
    assert var == pytest.approx(np.var(sample, ddof=1))
    assert se == pytest.approx(math.sqrt(2 / sample.size) * 9.0, rel=0.02)  # normal: sqrt(2/N) s^2
    assert init.variance_with_standard_error([1.0, 3.0]) == (2.0, 0.0)


# -- bad input -----------------------------------------------------------------

RNG = np.random.default_rng(0)
BAD_CALLS = {
    "shape one axis": lambda: init.init_variance((3,), "fan_in"),
    "shape zero": lambda: init.init_variance((0, 3), "fan_in"),
    "shape float": lambda: init.init_variance((2.0, 3), "fan_in"),
    "shape bool": lambda: init.init_variance((True, 3), "fan_in"),
    "shape not tuple": lambda: init.init_variance(3, "fan_in"),
    "unknown scheme": lambda: init.init_variance((2, 3), "glorot"),
    "unknown dist": lambda: init.sample_weights((2, 3), "fan_in", RNG, "cauchy"),
    "rng not generator": lambda: init.sample_weights((2, 3), "fan_in", 42),
    "gram shape 3 axes": lambda: init.gram_mse((1, 2, 3), 0.5),
    "gram variance zero": lambda: init.gram_mse((2, 3), 0.0),
    "gram variance nan": lambda: init.gram_mse((2, 3), float("nan")),
    "gram variance inf": lambda: init.gram_mse((2, 3), float("inf")),
    "gram variance negative": lambda: init.gram_mse((2, 3), -1.0),
    "spectrum 1-d": lambda: init.gram_spectrum(np.ones(3)),
    "spectrum nan": lambda: init.gram_spectrum(np.array([[1.0, np.nan]])),
    "spectrum inf": lambda: init.gram_spectrum(np.array([[1.0, np.inf]])),
    "ratio x zero": lambda: init.norm_ratio_moments((2, 3), 0.5, x=np.zeros(3)),
    "ratio x wrong length": lambda: init.norm_ratio_moments((2, 3), 0.5, x=np.ones(4)),
    "ratio x nan": lambda: init.norm_ratio_moments((2, 3), 0.5, x=[1.0, np.nan, 0.0]),
    "ratio x 2-d": lambda: init.norm_ratio_moments((2, 3), 0.5, x=np.ones((3, 1))),
    "ratio activation": lambda: init.norm_ratio_moments((2, 3), 0.5, activation="tanh"),
    "mp ratio zero": lambda: init.marchenko_pastur_support(0.0),
    "mp ratio inf": lambda: init.marchenko_pastur_support(float("inf")),
    "mp scale negative": lambda: init.marchenko_pastur_pdf(1.0, 0.5, -1.0),
    "mp scale nan": lambda: init.marchenko_pastur_cdf(1.0, 0.5, float("nan")),
    "mp x nan": lambda: init.marchenko_pastur_cdf([1.0, np.nan], 0.5),
    "mp x inf": lambda: init.marchenko_pastur_pdf(np.inf, 0.5),
    "forward depth zero": lambda: init.forward_norm_ratios(np.ones(3), 0, "fan_in", "relu", RNG),
    "forward depth float": lambda: init.forward_norm_ratios(np.ones(3), 2.0, "fan_in", "relu", RNG),
    "forward trials zero": lambda: init.forward_norm_ratios(
        np.ones(3), 2, "fan_in", "relu", RNG, trials=0
    ),
    "forward activation": lambda: init.forward_norm_ratios(np.ones(3), 2, "fan_in", "gelu", RNG),
    "forward x zero": lambda: init.forward_norm_ratios(np.zeros(3), 2, "fan_in", "relu", RNG),
    "forward x inf": lambda: init.forward_norm_ratios([np.inf, 1.0], 2, "fan_in", "relu", RNG),
    "forward scheme": lambda: init.forward_norm_ratios(np.ones(3), 2, "lecun", "relu", RNG),
    "expectation no entries": lambda: init.entry_expectation(sp.Integer(1), [], 1, 3),
    "expectation degree 5": lambda: init.entry_expectation(sp.Symbol("a") ** 5, [sp.Symbol("a")], 1, 3),
    "expectation not polynomial": lambda: init.entry_expectation(
        sp.sin(sp.Symbol("a")), [sp.Symbol("a")], 1, 3
    ),
    "variance one value": lambda: init.variance_with_standard_error([1.0]),
    "variance 2-d": lambda: init.variance_with_standard_error(np.ones((2, 2))),
    "variance nan": lambda: init.variance_with_standard_error([1.0, np.nan]),
    "forward orthogonal uniform": lambda: init.forward_norm_ratios(
        np.ones(3), 2, "fan_in", "relu", RNG, dist="uniform", orthogonal=True
    ),
    "orthogonal gain zero": lambda: init.sample_orthogonal((3, 3), RNG, 0.0),
    "orthogonal gain nan": lambda: init.sample_orthogonal((3, 3), RNG, float("nan")),
    "orthogonal shape": lambda: init.sample_orthogonal((3,), RNG),
    "log gain width zero": lambda: init.log_gain_moments(0, 1.0),
    "log gain variance negative": lambda: init.log_gain_moments(3, -1.0),
    "log gain tanh": lambda: init.log_gain_moments(3, 1.0, "tanh"),
    "length map q negative": lambda: init.mean_field_length_map(-0.1, "tanh"),
    "length map q nan": lambda: init.mean_field_length_map([1.0, np.nan], "relu"),
    "length map tanh q huge": lambda: init.mean_field_length_map(1e3, "tanh"),
    "length map activation": lambda: init.mean_field_length_map(1.0, "gelu"),
    "correlation c above 1": lambda: init.mean_field_correlation_map(1.01, "relu"),
    "correlation c nan": lambda: init.mean_field_correlation_map(np.nan, "relu"),
    "correlation q zero": lambda: init.mean_field_correlation_map(0.5, "tanh", q=0.0),
    "correlation tanh q huge": lambda: init.mean_field_correlation_map(0.5, "tanh", q=1e3),
    "forward dist": lambda: init.forward_norm_ratios(
        np.ones(3), 2, "fan_in", "relu", RNG, dist="laplace"
    ),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_raises_value_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def test_forward_norm_ratios_orthogonal_must_be_bool() -> None:
    with pytest.raises(TypeError, match="orthogonal"):
        init.forward_norm_ratios(np.ones(3), 2, "fan_in", "relu", RNG, orthogonal=1)


def test_variance_with_standard_error_is_scale_equivariant_at_extreme_scales() -> None:
    # the fourth moment of values near 1e80 overflows unless the sample is rescaled
    sample = np.random.default_rng(11).normal(size=500)
    variance, error = init.variance_with_standard_error(sample)
    for s in (1e80, 1e-80):
        scaled = init.variance_with_standard_error(sample * s)
        assert scaled[0] == pytest.approx(variance * s * s, rel=1e-14)
        assert scaled[1] == pytest.approx(error * s * s, rel=1e-14)


@pytest.mark.parametrize("q", [0.5, 1.0, 4.0])
def test_tanh_correlation_map_is_relatively_accurate_at_tiny_cosines(q: float) -> None:
    # the 2-D grid alone returned -2.6e-19 at c = 0 and for every |c| < 1e-19
    c = np.array([1e-300, 1e-100, 1e-12, -1e-8, 0.0])
    got = init.mean_field_correlation_map(c, "tanh", q=q)
    np.testing.assert_allclose(got, tanh_correlation_slope(q) * c, rtol=1e-12, atol=0)
    # odd in c, and continuous where the series hands over to the grid
    np.testing.assert_array_equal(init.mean_field_correlation_map(-c, "tanh", q=q), -got)
    # against the Mehler series through c**9 with 30-digit coefficients, where the
    # c**3 and c**5 terms matter most (just below the switch)
    with mpmath.workdps(30):
        s = mpmath.sqrt(q)
        density = lambda z: mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
        line = [-mpmath.inf, 0, mpmath.inf]

        def hermite(k, z):
            return mpmath.hermite(k, z / mpmath.sqrt(2)) * mpmath.mpf(2) ** (-mpmath.mpf(k) / 2)

        second = mpmath.quad(lambda z: mpmath.tanh(s * z) ** 2 * density(z), line)
        c0 = mpmath.mpf(9.99e-4)
        series = sum(
            mpmath.quad(lambda z: mpmath.tanh(s * z) * hermite(k, z) * density(z), line) ** 2
            / mpmath.factorial(k) * c0**k
            for k in (1, 3, 5, 7, 9)
        )
        want = float(series / second)
    got_edge = init.mean_field_correlation_map(np.array([9.99e-4]), "tanh", q=q)[0]
    assert got_edge == pytest.approx(want, rel=2e-15)
    sides = np.array([1e-3 - 1e-9, 1e-3 + 1e-9])
    ratio = init.mean_field_correlation_map(sides, "tanh", q=q) / sides
    assert ratio[1] == pytest.approx(ratio[0], rel=1e-12)


# -- cases found by mutation testing (make mutation) ------------------------------


@pytest.mark.parametrize("m", [40, 3000])
def test_log_gain_moments_relu_at_large_width(m: int) -> None:
    # the binomial weights C(m, k) 2**-m overflow exp() unless formed in logs (at m =
    # 3000 C(m, m/2) is 1e901); scipy's binomial pmf is the independent reference
    k = np.arange(1, m + 1)
    weights = stats.binom(m, 0.5).pmf(k)
    weights = weights / weights.sum()
    means = math.log(2.0 * 0.7) + special.digamma(k / 2.0)
    mean = float(weights @ means)
    var = float(weights @ (special.polygamma(1, k / 2.0) + (means - mean) ** 2))
    got = init.log_gain_moments(m, 0.7, "relu")
    assert got == pytest.approx((mean, var), rel=1e-10)


@pytest.mark.parametrize("dist", ["uniform", "rademacher", "exponential", "student_t"])
def test_sampled_weights_have_mean_zero_and_the_scheme_variance(dist: str) -> None:
    # 4e5 draws: the standard error of the sample variance is sigma^2 sqrt((kappa - 1)
    # / 4e5), under 0.3 % for every law here (kappa <= 9); the band is 2 %
    rng = np.random.default_rng(2024)
    w = init.sample_weights((400, 1000), "fan_in", rng, dist)
    sigma2 = 1 / 1000
    assert abs(w.mean()) < 5 * math.sqrt(sigma2 / w.size)
    assert w.var() == pytest.approx(sigma2, rel=0.02)


def test_wide_batches_of_gram_spectra_and_orthogonal_matrices() -> None:
    # batch (2, 3) of 2 x 5 matrices: no batch axis has the size of a matrix axis
    rng = np.random.default_rng(8)
    w = rng.normal(size=(2, 3, 2, 5))
    spectrum = init.gram_spectrum(w)
    assert spectrum.shape == (2, 3, 5)
    np.testing.assert_array_equal(spectrum[..., :3], 0.0)  # rank 2: three exact zeros
    np.testing.assert_allclose(
        spectrum[..., 3:], np.sort(np.linalg.eigvalsh(w @ np.swapaxes(w, -1, -2)), -1),
        rtol=1e-12,
    )
    q = init.sample_orthogonal((2, 3, 2, 5), rng)
    assert q.shape == (2, 3, 2, 5)
    np.testing.assert_allclose(q @ np.swapaxes(q, -1, -2), np.broadcast_to(np.eye(2), (2, 3, 2, 2)),
                               atol=1e-14)


def test_entry_expectation_odd_moments_vanish() -> None:
    w, c = sp.symbols("w c")
    s2, kappa = sp.symbols("sigma2 kappa", positive=True)
    assert init.entry_expectation(c * w**3 + w, [w], s2, kappa) == 0
    assert sp.simplify(init.entry_expectation(w**4 + c * w**2, [w], s2, kappa)
                       - (kappa * s2**2 + c * s2)) == 0


def test_forward_norm_ratios_defaults_and_law() -> None:
    x = np.ones(6)
    args = (x, 3, "fan_in", "linear")
    plain = init.forward_norm_ratios(*args, np.random.default_rng(1))
    explicit = init.forward_norm_ratios(*args, np.random.default_rng(1), dist="normal", trials=1)
    np.testing.assert_array_equal(plain, explicit)
    signs = init.forward_norm_ratios(*args, np.random.default_rng(1), dist="rademacher")
    assert not np.array_equal(plain, signs)


@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_marchenko_pastur_cdf_is_the_atom_plus_the_integrated_density(ratio: float) -> None:
    # independent of the closed form: quadrature of the density, plus the atom at 0
    a, b, atom = init.marchenko_pastur_support(ratio)
    points = np.array([0.0, a / 2, a, a + 0.3 * (b - a), a + 0.9 * (b - a), b, 2 * b])
    want = [
        atom + (integrate.quad(lambda t: float(init.marchenko_pastur_pdf(t, ratio)), a, min(p, b),
                               limit=200)[0] if p > a else 0.0)
        for p in points
    ]
    np.testing.assert_allclose(init.marchenko_pastur_cdf(points, ratio), want, rtol=1e-9, atol=1e-12)


def test_documented_defaults_limits_and_exact_shapes() -> None:
    x = np.array([0.3, -0.1])
    assert init.mean_field_correlation_map(x, "tanh") == pytest.approx(
        init.mean_field_correlation_map(x, "tanh", q=1.0, gain=1.0), rel=0)
    assert init.mean_field_length_map(x**2, "tanh") == pytest.approx(
        init.mean_field_length_map(x**2, "tanh", gain=1.0), rel=0)
    # gain * q <= 100 is accepted, as documented
    assert np.isfinite(init.mean_field_length_map(100.0, "tanh"))
    assert init.norm_ratio_moments((3, 4), 0.5) == init.norm_ratio_moments((3, 4), 0.5, "normal")
    for f in (lambda s: init.gram_mse(s, 0.5), lambda s: init.norm_ratio_moments(s, 0.5)):
        with pytest.raises(ValueError, match=r"shape must be \(m, n\)"):
            f((2, 3, 4))
    # an input vector at any scale gives the same moments (it is rescaled first)
    v = np.array([1.0, -2.0, 0.5, 3.0])
    assert init.norm_ratio_moments((3, 4), 0.5, x=1e200 * v) == pytest.approx(
        init.norm_ratio_moments((3, 4), 0.5, x=v), rel=1e-14)
    # an empty batch of matrices has an empty spectrum
    assert init.gram_spectrum(np.zeros((2, 0, 3, 3))).shape == (2, 0, 3)
