"""Tests for lib.hsic (chapter 4): known values, independent references, properties, bad input."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import pdist
from sklearn.metrics.pairwise import rbf_kernel

from lib import hsic as H

RNG_SEED = 6910


def _ld_reference(K: np.ndarray, L: np.ndarray) -> tuple[float, float]:
    """HSIC_b (explicit H K H L H) and Song et al.'s HSIC_u formula, in long double."""
    K, L = K.astype(np.longdouble), L.astype(np.longdouble)
    n = K.shape[0]
    Hc = np.eye(n, dtype=np.longdouble) - np.longdouble(1) / n
    biased = np.trace(K @ Hc @ L @ Hc) / n**2
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0)
    np.fill_diagonal(Lt, 0)
    one = np.ones(n, dtype=np.longdouble)
    unbiased = (
        np.trace(Kt @ Lt)
        + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * (one @ Kt @ Lt @ one)
    ) / (n * (n - 3))
    return float(biased), float(unbiased)


@pytest.fixture
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((120, 2))
    y = x[:, :1] ** 2 + 0.5 * rng.standard_normal((120, 1))
    return x, y


# -- known values and references ----------------------------------------------------------
@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_matches_long_double_reference(sample, estimator) -> None:
    x, y = sample
    K, L = H.gaussian_kernel(x, 1.3), H.gaussian_kernel(y, 0.8)
    want = _ld_reference(K, L)[estimator == "unbiased"]
    got = H.hsic(x, y, bandwidth_x=1.3, bandwidth_y=0.8, estimator=estimator)
    assert got == pytest.approx(want, rel=1e-12)
    assert H.hsic_gram(K, L, estimator=estimator) == pytest.approx(want, rel=1e-12)


def test_article_formula_17_is_rescaled_biased_estimator(sample) -> None:
    x, y = sample
    K, L = H.gaussian_kernel(x, 1.0), H.gaussian_kernel(y, 1.0)
    n = K.shape[0]
    Kxy = K @ L  # the article's listing, verbatim
    h = np.trace(Kxy) / n**2 + np.mean(K) * np.mean(L) - 2 * np.mean(Kxy) / n
    article = h * n**2 / (n - 1) ** 2
    assert article == pytest.approx(n**2 / (n - 1) ** 2 * H.hsic_gram(K, L), rel=1e-12)


def test_gaussian_kernel_matches_sklearn() -> None:
    x = np.random.default_rng(1).standard_normal((30, 3))
    np.testing.assert_allclose(H.gaussian_kernel(x, 2.0), rbf_kernel(x, gamma=0.25), rtol=1e-13)


def test_median_bandwidth_matches_pdist() -> None:
    rng = np.random.default_rng(2)
    for x in (rng.standard_normal(101), rng.standard_normal(100), rng.standard_normal((50, 3))):
        assert H.median_bandwidth(x) == pytest.approx(np.median(pdist(x.reshape(len(x), -1))))
    ties = rng.integers(0, 4, 60).astype(float)
    assert H.median_bandwidth(ties) == np.median(pdist(ties[:, None]))


def test_median_bandwidth_subsamples() -> None:
    x = np.random.default_rng(3).standard_normal(300)
    assert H.median_bandwidth(x, max_points=50) == H.median_bandwidth(x[:50])
    a = H.median_bandwidth(x, max_points=50, rng=np.random.default_rng(0))
    b = H.median_bandwidth(x, max_points=50, rng=np.random.default_rng(0))
    assert a == b


def test_linear_kernel_gives_squared_covariance() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal(200)
    y = x + rng.standard_normal(200)
    cov_biased = np.mean((x - x.mean()) * (y - y.mean()))
    assert H.hsic(x, y, kernel="linear") == pytest.approx(cov_biased**2, rel=1e-12)


def test_distance_kernel_gives_quarter_distance_covariance() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((40, 2)), rng.standard_normal(40)
    n = 40
    A = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    B = np.abs(y[:, None] - y[None, :])
    Hc = np.eye(n) - 1 / n
    dcov2_v = np.sum((Hc @ A @ Hc) * (Hc @ B @ Hc)) / n**2
    assert H.hsic(x, y, kernel="distance") == pytest.approx(dcov2_v / 4, rel=1e-12)


def test_hyppo_agreement() -> None:
    """The one hyppo comparison (hyppo's import and numba compile are slow)."""
    independence = pytest.importorskip("hyppo.independence")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((30, 1))
    y = x + rng.standard_normal((30, 1))
    g, b = 0.7, 0.7**-0.5
    got = H.hsic(x, y, bandwidth_x=b, bandwidth_y=b, estimator="unbiased", normalize=True)
    assert got == pytest.approx(independence.Hsic(gamma=g).statistic(x, y), rel=1e-12)


def test_block_estimator_is_mean_of_block_u_statistics() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal(450)
    y = np.sin(2 * x) + rng.standard_normal(450)
    est, se = H.hsic_linear_time(x, y, block_size=100, bandwidth_x=1.0, bandwidth_y=1.5)
    blocks = [
        H.hsic(x[i : i + 100], y[i : i + 100], bandwidth_x=1.0, bandwidth_y=1.5,
               estimator="unbiased")
        for i in range(0, 400, 100)
    ]
    assert est == pytest.approx(np.mean(blocks), rel=1e-12)
    assert se == pytest.approx(np.std(blocks, ddof=1) / 2, rel=1e-12)


def test_permutation_test() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal(40)
    res = H.hsic_test(x, x**2, num_permutations=199, rng=np.random.default_rng(0))
    assert res.statistic == pytest.approx(40 * H.hsic(x, x**2))
    assert res.p_value == pytest.approx(1 / 200)
    assert res.null is not None and res.null.shape == (199,)
    again = H.hsic_test(x, x**2, num_permutations=199, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(res.null, again.null)


def test_gamma_test_moments() -> None:
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal(60), rng.standard_normal(60)
    res = H.hsic_test(x, y, method="gamma", bandwidth_x=1.0, bandwidth_y=1.0)
    K, L = H.gaussian_kernel(x, 1.0), H.gaussian_kernel(y, 1.0)
    mu = [(M.sum() - 60) / (60 * 59) for M in (K, L)]
    mean = (1 - mu[0]) * (1 - mu[1]) / 60  # k(x, x) = 1
    assert res.gamma_shape * res.gamma_scale == pytest.approx(60 * mean, rel=1e-12)
    assert 0 < res.p_value < 1
    strong = H.hsic_test(x, np.cos(3 * x), method="gamma")
    assert strong.p_value < 1e-4


def test_block_test() -> None:
    rng = np.random.default_rng(10)
    x = rng.standard_normal(2000)
    res = H.hsic_test(x, x + 0.5 * rng.standard_normal(2000), method="block", block_size=50)
    assert res.statistic > 5 and res.p_value < 1e-6


# -- properties -------------------------------------------------------------------------
finite = st.floats(-10, 10, allow_nan=False, width=64)
samples = st.integers(6, 25).flatmap(
    lambda n: st.tuples(arrays(np.float64, (n, 2), elements=finite),
                        arrays(np.float64, (n,), elements=finite))
)


@settings(max_examples=40, deadline=None)
@given(samples)
def test_biased_nonnegative_and_symmetric(xy) -> None:
    x, y = xy
    v = H.hsic(x, y, bandwidth_x=1.0, bandwidth_y=2.0)
    assert v >= -1e-15
    assert v == pytest.approx(H.hsic(y, x, bandwidth_x=2.0, bandwidth_y=1.0), abs=1e-14)


@settings(max_examples=40, deadline=None)
@given(samples, st.randoms(use_true_random=False), finite)
def test_invariances(xy, rnd, shift) -> None:
    x, y = xy
    perm = np.array(rnd.sample(range(len(y)), len(y)))
    for est in ("biased", "unbiased"):
        base = H.hsic(x, y, bandwidth_x=1.5, bandwidth_y=0.7, estimator=est)
        permuted = H.hsic(x[perm], y[perm], bandwidth_x=1.5, bandwidth_y=0.7, estimator=est)
        shifted = H.hsic(x + shift, y - shift, bandwidth_x=1.5, bandwidth_y=0.7, estimator=est)
        assert permuted == pytest.approx(base, abs=1e-13)
        assert shifted == pytest.approx(base, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(samples)
def test_constant_y_gives_zero(xy) -> None:
    x, y = xy
    const = np.zeros_like(y)
    for est in ("biased", "unbiased"):
        assert H.hsic(x, const, bandwidth_x=1.0, bandwidth_y=1.0, estimator=est) == \
            pytest.approx(0.0, abs=1e-14)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.integers(2, 40), elements=finite))
def test_fast_median_equals_selection(x) -> None:
    if np.ptp(x) == 0:
        return
    # Differences taken directly: pdist squares them, and a squared difference below
    # 2.2e-308 is subnormal, so pdist's sqrt(d**2) is off in the last bits there.
    want = float(np.median(np.abs(x[:, None] - x[None, :])[np.triu_indices(x.size, 1)]))
    if want > 0:
        assert H.median_bandwidth(x) == want


# -- scale: every kernel is homogeneous, so HSIC must not break at 1e+-160, 1e+-300 ------
_rs = np.random.default_rng(29)
_xs = _rs.normal(size=(60, 2))
_ys = _xs[:, :1] + _rs.normal(size=(60, 1))
SCALES = [2.0**-1000, 1e-300, 1e-170, 1e160, 1e300]


@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_hsic_is_scale_invariant(scale: float) -> None:
    # issue 29: NaN at 1e160, OverflowError at y * 1e300, ZeroDivisionError at y * 1e-300
    want = H.hsic(_xs, _ys)
    assert H.hsic(_xs * scale, _ys) == pytest.approx(want, rel=1e-13)
    assert H.hsic(_xs, _ys * scale) == pytest.approx(want, rel=1e-13)
    assert H.hsic(_xs * scale, _ys * scale, estimator="unbiased") == pytest.approx(
        H.hsic(_xs, _ys, estimator="unbiased"), rel=1e-13
    )
    bw = H.hsic(_xs * scale, _ys * scale, bandwidth_x=1.5 * scale, bandwidth_y=0.7 * scale)
    assert bw == pytest.approx(H.hsic(_xs, _ys, bandwidth_x=1.5, bandwidth_y=0.7), rel=1e-13)


@pytest.mark.parametrize("scale", SCALES)
def test_median_bandwidth_scales_with_the_data(scale: float) -> None:
    # two columns: the squared distances used to overflow (inf) or underflow (0)
    assert H.median_bandwidth(_xs * scale) == pytest.approx(
        H.median_bandwidth(_xs) * scale, rel=1e-15
    )


@pytest.mark.parametrize("scale", SCALES)
def test_hsic_tests_are_scale_invariant(scale: float) -> None:
    perm = H.hsic_test(_xs * scale, _ys * scale, rng=np.random.default_rng(1),
                       num_permutations=99)
    ref = H.hsic_test(_xs, _ys, rng=np.random.default_rng(1), num_permutations=99)
    assert np.isfinite(perm.statistic) and perm.p_value == ref.p_value
    assert perm.statistic == pytest.approx(ref.statistic, rel=1e-13)
    gamma = H.hsic_test(_xs * scale, _ys, method="gamma")
    assert gamma.p_value == pytest.approx(H.hsic_test(_xs, _ys, method="gamma").p_value,
                                          rel=1e-10)
    est, se = H.hsic_linear_time(np.tile(_xs, (2, 1)) * scale, np.tile(_ys, (2, 1)),
                                 block_size=30)
    assert (est, se) == pytest.approx(
        H.hsic_linear_time(np.tile(_xs, (2, 1)), np.tile(_ys, (2, 1)), block_size=30),
        rel=1e-12,
    )


@pytest.mark.parametrize("scale", [1e-100, 2.0**-300, 1e100])
def test_linear_and_distance_hsic_scale_by_their_degree(scale: float) -> None:
    # linear: HSIC(sx, y) = s**2 HSIC(x, y); distance: s HSIC(x, y); normalised: 1
    lin, dist = H.hsic(_xs, _ys, kernel="linear"), H.hsic(_xs, _ys, kernel="distance")
    assert H.hsic(_xs * scale, _ys, kernel="linear") == pytest.approx(lin * scale**2,
                                                                     rel=1e-13)
    assert H.hsic(_xs * scale, _ys, kernel="distance") == pytest.approx(dist * scale,
                                                                       rel=1e-13)
    K, L = H.linear_kernel(_xs), H.linear_kernel(_ys)
    assert H.hsic_gram(K * scale, L) == pytest.approx(H.hsic_gram(K, L) * scale, rel=1e-13)
    assert H.hsic(_xs * scale, _ys * 1e250, kernel="distance", normalize=True) == (
        pytest.approx(H.hsic(_xs, _ys, kernel="distance", normalize=True), rel=1e-13)
    )


def test_hsic_beyond_float64_range_is_an_error_not_inf() -> None:
    with pytest.raises(ValueError, match="beyond the float64 range"):
        H.hsic(_xs * 1e200, _ys * 1e200, kernel="linear")
    K = H.linear_kernel(_xs)
    with pytest.raises(ValueError, match="beyond the float64 range"):
        H.hsic_gram(K * 1e300, K * 1e300)


def test_unit_scaling_keeps_the_smallest_subnormals() -> None:
    # found by hypothesis under mutmut: halving [0, 1, 5e-324, ...] flushed 5e-324 to 0
    # and the median distance (5e-324) became 0
    x = np.array([0.0, 1.0, 5e-324, 5e-324, 5e-324])
    assert H.median_bandwidth(x) == 5e-324
    # the same at the edge of the no-rescale window (largest entry 1.5 * 2**499)
    x[1] = math.ldexp(1.5, 499)
    assert H.median_bandwidth(x) == 5e-324


def test_ordinary_results_are_bit_identical_to_a_direct_computation() -> None:
    # the power-of-two rescaling must not move a single bit on ordinary data
    x, y = _xs[:, 0], _ys[:, 0]
    n = x.size
    b = float(np.median(np.abs(x[:, None] - x[None, :])[np.triu_indices(n, 1)]))
    K = np.exp((x[:, None] - x[None, :]) ** 2 * (-1.0 / b**2))
    assert np.array_equal(H.gaussian_kernel(x, b), K)
    assert H.median_bandwidth(x) == b


# -- bad input --------------------------------------------------------------------------
_x = np.linspace(0.0, 1.0, 10)
_K = H.gaussian_kernel(_x, 1.0)
_asym = _K.copy()
_asym[0, 1] += 0.1

BAD_CALLS = {
    "x 3-d": lambda: H.hsic(np.zeros((4, 2, 2)), _x[:4]),
    "length mismatch": lambda: H.hsic(_x, _x[:9]),
    "nan in x": lambda: H.hsic(np.r_[_x[:-1], np.nan], _x),
    "inf in y": lambda: H.hsic(_x, np.r_[_x[:-1], np.inf]),
    "biased n < 2": lambda: H.hsic(_x[:1], _x[:1], bandwidth_x=1.0, bandwidth_y=1.0),
    "unbiased n < 4": lambda: H.hsic(_x[:3], _x[:3], estimator="unbiased"),
    "bandwidth 0": lambda: H.hsic(_x, _x, bandwidth_x=0.0),
    "bandwidth negative": lambda: H.gaussian_kernel(_x, -1.0),
    "bandwidth nan": lambda: H.hsic(_x, _x, bandwidth_y=np.nan),
    "unknown kernel": lambda: H.hsic(_x, _x, kernel="laplace"),
    "unknown estimator": lambda: H.hsic(_x, _x, estimator="jackknife"),
    "bandwidth with linear": lambda: H.hsic(_x, _x, kernel="linear", bandwidth_x=1.0),
    "gram not square": lambda: H.hsic_gram(_K[:, :9], _K[:, :9]),
    "gram asymmetric": lambda: H.hsic_gram(_asym, _K),
    "gram size mismatch": lambda: H.hsic_gram(_K, _K[:9, :9]),
    "gram nan": lambda: H.hsic_gram(np.full((4, 4), np.nan), np.eye(4)),
    "normalize constant": lambda: H.hsic(_x, np.ones(10), kernel="linear", normalize=True),
    "median of constant": lambda: H.median_bandwidth(np.ones(5)),
    "median n < 2": lambda: H.median_bandwidth(_x[:1]),
    "median max_points 1": lambda: H.median_bandwidth(_x, max_points=1),
    "permutation without rng": lambda: H.hsic_test(_x, _x),
    "permutation count 0": lambda: H.hsic_test(_x, _x, num_permutations=0,
                                               rng=np.random.default_rng(0)),
    "gamma n < 6": lambda: H.hsic_test(_x[:5], _x[:5], method="gamma"),
    "unknown method": lambda: H.hsic_test(_x, _x, method="bootstrap"),
    "unknown test argument": lambda: H.hsic_test(_x, _x, method="gamma", block_size=5),
    "block size 3": lambda: H.hsic_linear_time(_x, _x, block_size=3),
    "one block only": lambda: H.hsic_linear_time(_x, _x, block_size=6),
    "complex x": lambda: H.hsic(_x + 1e-3j, _x),
    "string x": lambda: H.hsic(_x.astype(str), _x),
    "object x": lambda: H.hsic(np.array([object()] * 10), _x),
    "complex gram": lambda: H.hsic_gram(_K + 0j, _K),
    "normalize string": lambda: H.hsic(_x, _x, normalize="yes"),
    "normalize int": lambda: H.hsic_gram(_K, _K, normalize=1),
    "complex median": lambda: H.median_bandwidth(_x * 1j),
    "complex test": lambda: H.hsic_test(_x * 1j, _x, method="gamma"),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_raises(call) -> None:
    with pytest.raises(ValueError):
        call()


# -- exact arithmetic ---------------------------------------------------------------------
def _sympy_hsic(K: list[list[int]], L: list[list[int]], estimator: str):
    """The textbook formulas in sympy rationals: tr(K H L H)/n**2 and Song et al.'s."""
    import sympy as sp

    n = len(K)
    Km, Lm = sp.Matrix(K), sp.Matrix(L)
    if estimator == "biased":
        Hc = sp.eye(n) - sp.ones(n, n) / n
        return (Km * Hc * Lm * Hc).trace() / n**2
    Kt, Lt = Km - sp.diag(*Km.diagonal()), Lm - sp.diag(*Lm.diagonal())
    one = sp.ones(n, 1)
    value = (
        (Kt * Lt).trace()
        + (one.T * Kt * one)[0] * (one.T * Lt * one)[0] / ((n - 1) * (n - 2))
        - sp.Rational(2, n - 2) * (one.T * Kt * Lt * one)[0]
    ) / (n * (n - 3))
    return value


def _random_symmetric_ints(rng: np.random.Generator, n: int) -> list[list[int]]:
    a = rng.integers(-9, 10, (n, n))
    return (a + a.T).tolist()


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("n", [4, 5, 7])
def test_hsic_exact_matches_sympy(estimator: str, n: int) -> None:
    rng = np.random.default_rng(n)
    K, L = _random_symmetric_ints(rng, n), _random_symmetric_ints(rng, n)
    got = H.hsic_exact(K, L, estimator=estimator)
    assert isinstance(got, Fraction)
    want = _sympy_hsic(K, L, estimator)
    assert (got.numerator, got.denominator) == (want.p, want.q)
    # Fractions, numpy integers and binary floats are read exactly as well
    halves = [[Fraction(v, 2) for v in row] for row in K]
    assert H.hsic_exact(halves, L, estimator) == got / 2
    assert H.hsic_exact(np.array(K), np.array(L, dtype=np.int64), estimator) == got
    assert H.hsic_exact([[v / 4 for v in row] for row in K], L, estimator) == got / 4
    # and the floating-point estimator agrees
    assert H.hsic_gram(np.array(K, float), np.array(L, float), estimator=estimator) == (
        pytest.approx(float(want), rel=1e-12, abs=1e-14)
    )


def test_hsic_exact_diagonal_only_matters_to_the_biased_estimator() -> None:
    rng = np.random.default_rng(3)
    K, L = _random_symmetric_ints(rng, 6), _random_symmetric_ints(rng, 6)
    K2 = [row[:] for row in K]
    K2[2][2] += 5
    assert H.hsic_exact(K2, L, "unbiased") == H.hsic_exact(K, L, "unbiased")
    assert H.hsic_exact(K2, L, "biased") != H.hsic_exact(K, L, "biased")
    assert H.hsic_exact(K, L) == H.hsic_exact(K, L, "biased")  # the default


EXACT_BAD = {
    "not a matrix": ((1, 2, 3), "K must be a square sequence"),
    "not square": ([[1, 2], [2, 1], [0, 0]], "K must be square"),
    "bool entry": ([[True, 0], [0, 1]], "K must hold ints"),
    "nan entry": ([[np.nan, 0], [0, 1]], "K must hold ints"),
    "inf entry": ([[1.0, 0.0], [0.0, np.inf]], "K must hold ints"),
    "string entry": ([["1", 0], [0, 1]], "K must hold ints"),
    "numpy bool entry": ([[np.bool_(True), 0], [0, 1]], "K must hold ints"),
}


@pytest.mark.parametrize("K, message", EXACT_BAD.values(), ids=EXACT_BAD.keys())
def test_hsic_exact_refuses_bad_matrices(K, message) -> None:
    with pytest.raises(ValueError, match=message):
        H.hsic_exact(K, [[1, 0], [0, 1]])


def test_hsic_exact_refuses_bad_sizes_and_asymmetry() -> None:
    eye = [[int(i == j) for j in range(5)] for i in range(5)]
    with pytest.raises(ValueError, match=r"equal size >= 2"):
        H.hsic_exact([[1]], [[1]])
    with pytest.raises(ValueError, match=r"equal size >= 4"):
        H.hsic_exact([r[:3] for r in eye[:3]], [r[:3] for r in eye[:3]], "unbiased")
    # n = 4 is accepted; identity Gram matrices have nothing off the diagonal: HSIC_u = 0
    eye4 = [r[:4] for r in eye[:4]]
    assert H.hsic_exact(eye4, eye4, "unbiased") == Fraction(0)
    assert H.hsic_exact([[1, 0], [0, 1]], [[1, 0], [0, 1]]) == Fraction(1, 4)
    with pytest.raises(ValueError, match="equal size"):
        H.hsic_exact(eye, [r[:4] for r in eye[:4]])
    for which in (0, 1):
        asym = [row[:] for row in eye]
        asym[0][3] = 2
        args = (asym, eye) if which == 0 else (eye, asym)
        with pytest.raises(ValueError, match="symmetric"):
            H.hsic_exact(*args)
    with pytest.raises(ValueError, match="unknown estimator"):
        H.hsic_exact(eye, eye, "jackknife")


# -- the gamma test against Gretton's reference code --------------------------------------
def _gretton_gamma(K: np.ndarray, L: np.ndarray) -> tuple[float, float, float]:
    """A line-by-line port of hsicTestGamma.m (Gretton 2008), Gaussian kernels."""
    m = K.shape[0]
    Hm = np.eye(m) - np.ones((m, m)) / m
    Kc, Lc = Hm @ K @ Hm, Hm @ L @ Hm
    test_stat = np.sum(Kc.T * Lc) / m
    var_hsic = (Kc * Lc / 6) ** 2
    var_hsic = (var_hsic.sum() - np.trace(var_hsic)) / m / (m - 1)
    var_hsic = 72 * (m - 4) * (m - 5) / m / (m - 1) / (m - 2) / (m - 3) * var_hsic
    K0, L0 = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(m)
    mu_x = one @ K0 @ one / m / (m - 1)
    mu_y = one @ L0 @ one / m / (m - 1)
    m_hsic = (1 + mu_x * mu_y - mu_x - mu_y) / m
    alpha = m_hsic**2 / var_hsic
    beta = var_hsic * m / m_hsic
    return test_stat, alpha, beta


@pytest.mark.parametrize("n", [6, 9, 40])
def test_gamma_test_matches_gretton_reference(n: int) -> None:
    from scipy import stats as st_

    rng = np.random.default_rng(100 + n)
    x = rng.standard_normal((n, 2))
    y = x[:, :1] + rng.standard_normal((n, 1))
    res = H.hsic_test(x, y, method="gamma", bandwidth_x=1.3, bandwidth_y=0.9)
    stat, alpha, beta = _gretton_gamma(H.gaussian_kernel(x, 1.3), H.gaussian_kernel(y, 0.9))
    assert res.statistic == pytest.approx(stat, rel=1e-12)
    assert res.gamma_shape == pytest.approx(alpha, rel=1e-12)
    assert res.gamma_scale == pytest.approx(beta, rel=1e-12)
    assert res.p_value == pytest.approx(st_.gamma.sf(stat, alpha, scale=beta), rel=1e-10)
    assert res.null is None


# -- the O(n log n) median of pairwise differences -----------------------------------------
def _brute_count(xs: np.ndarray, t: float) -> np.ndarray:
    n = xs.size
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        j = i + 1
        while j < n and xs[j] - xs[i] <= t:
            j += 1
        out[i] = j
    return out


@pytest.mark.parametrize("seed", range(6))
def test_count_at_most_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # ties, near-ties one ulp apart and wide gaps: the searchsorted guess is off both ways
    base = np.sort(np.concatenate([
        rng.integers(0, 5, 30).astype(float),
        np.nextafter(rng.integers(0, 5, 10).astype(float), 10),
        rng.standard_normal(20) * 1e3,
        0.1 * np.arange(10),
    ]))
    for t in [0.0, 0.1, 0.3, 1.0, 1.0 + 1e-15, 2.5, 1e3, 1e5,
              float(base[7] - base[3]), float(base[40] - base[1])]:
        np.testing.assert_array_equal(H._count_at_most(base, t), _brute_count(base, t))


@pytest.mark.parametrize("n", [2, 3, 60, 301])
def test_kth_pair_difference_matches_a_full_sort(n: int) -> None:
    rng = np.random.default_rng(n)
    xs = np.sort(np.round(rng.standard_normal(n) * 4, 1))  # many tied differences
    diffs = np.sort((xs[None, :] - xs[:, None])[np.triu_indices(n, 1)])
    for k in sorted({0, 1, diffs.size // 3, diffs.size // 2, diffs.size - 2, diffs.size - 1}):
        if 0 <= k < diffs.size:
            assert H._kth_pair_difference(xs, k) == diffs[k]
    x = rng.standard_normal(n)
    want = float(np.median(np.abs(x[:, None] - x[None, :])[np.triu_indices(n, 1)]))
    assert H.median_bandwidth(x) == want
    if n > 2:
        two = np.column_stack([x, rng.standard_normal(n)])
        assert H.median_bandwidth(two) == pytest.approx(
            np.median(pdist(two)), rel=1e-15
        )


# -- Gram-matrix checks --------------------------------------------------------------------
def test_gram_symmetry_tolerance_is_relative_to_the_largest_entry() -> None:
    # the largest entry sits at [0, 0]: the tolerance 1e-10 * 1e10 = 1 allows 1e-5
    K = np.diag([1e10, 1.0, 1.0, 1.0])
    K[1, 2] += 1e-5
    assert np.isfinite(H.hsic_gram(K, np.eye(4)))
    # an asymmetry of exactly the tolerance is allowed, just past it is not
    K = np.eye(4)
    K[0, 1] = 1e-10
    assert np.isfinite(H.hsic_gram(K, np.eye(4)))
    K[0, 1] = 1.0001e-10
    with pytest.raises(ValueError, match="K is not symmetric"):
        H.hsic_gram(K, np.eye(4))
    with pytest.raises(ValueError, match="L is not symmetric"):
        H.hsic_gram(np.eye(4), K)
    with pytest.raises(ValueError, match=r"K must be a square \(n, n\) matrix"):
        H.hsic_gram(np.eye(4)[:3], np.eye(4))
    with pytest.raises(ValueError, match=r"K must be a square"):
        H.hsic_gram(np.ones(4), np.eye(4))
    with pytest.raises(ValueError, match="K is empty"):
        H.hsic_gram(np.zeros((0, 0)), np.eye(4))
    with pytest.raises(ValueError, match="K must contain real numbers, got dtype bool"):
        H.hsic_gram(np.eye(4, dtype=bool), np.eye(4))
    # the tolerance scales down with the matrix too: 1e-5 relative asymmetry at 1e-20
    tiny = np.eye(4) * 1e-20
    tiny[0, 1] = 1e-25
    with pytest.raises(ValueError, match="K is not symmetric"):
        H.hsic_gram(tiny, np.eye(4))


def test_hsic_gram_normalised_and_smallest_sizes() -> None:
    rng = np.random.default_rng(31)
    x = rng.standard_normal(12)
    K, L = H.gaussian_kernel(x, 1.0), H.gaussian_kernel(x**2, 1.0)
    for est in ("biased", "unbiased"):
        want = H.hsic_gram(K, L, estimator=est) / np.sqrt(
            H.hsic_gram(K, K, estimator=est) * H.hsic_gram(L, L, estimator=est)
        )
        assert H.hsic_gram(K, L, estimator=est, normalize=True) == pytest.approx(want,
                                                                            rel=1e-13)
        assert H.hsic_gram(L, K, estimator=est, normalize=True) == pytest.approx(want,
                                                                            rel=1e-13)
    # the smallest sizes each estimator accepts
    c2 = np.eye(2) - 0.5
    two = np.trace(K[:2, :2] @ c2 @ L[:2, :2] @ c2) / 4
    assert H.hsic_gram(K[:2, :2], L[:2, :2]) == pytest.approx(two, rel=1e-13)
    assert H.hsic_gram(K[:4, :4], L[:4, :4], estimator="unbiased") == pytest.approx(
        _ld_reference(K[:4, :4], L[:4, :4])[1], rel=1e-12)
    assert H.hsic(x[:2], x[:2] ** 2, bandwidth_x=1.0, bandwidth_y=1.0) == pytest.approx(
        two, rel=1e-13)
    assert H.hsic(x[:4], x[:4] ** 2, bandwidth_x=1.0, bandwidth_y=1.0,
                  estimator="unbiased") == pytest.approx(
        _ld_reference(K[:4, :4], L[:4, :4])[1], rel=1e-12)
    # a constant K (not only a constant L) leaves normalised HSIC undefined
    with pytest.raises(ValueError, match="normalised HSIC is undefined"):
        H.hsic(np.ones(12), x, kernel="linear", normalize=True)


@pytest.mark.parametrize("n", [200, 400])
def test_large_samples_cross_the_row_blocks(n: int) -> None:
    # Gram rows are built 64 at a time and the inner product is summed in blocks of
    # 131072 // n rows: n = 200 and 400 cross both block boundaries
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 2))
    y = x[:, :1] ** 2 + rng.standard_normal((n, 1))
    K, L = H.gaussian_kernel(x, 1.1), H.gaussian_kernel(y, 0.9)
    want = _ld_reference(K, L)
    for est, ref in zip(("biased", "unbiased"), want):
        assert H.hsic(x, y, bandwidth_x=1.1, bandwidth_y=0.9, estimator=est) == \
            pytest.approx(ref, rel=1e-12)
    # the default (median) bandwidth matches an explicit one
    bx, by = np.median(pdist(x)), np.median(pdist(y))
    assert H.hsic(x, y) == pytest.approx(
        H.hsic(x, y, bandwidth_x=bx, bandwidth_y=by), rel=1e-13)


def test_gram_median_bandwidth_uses_the_first_2000_points() -> None:
    rng = np.random.default_rng(2001)
    x = rng.standard_normal(2001)
    y = np.sin(x) + rng.standard_normal(2001)
    head = H.median_bandwidth(x[:2000])
    assert H.median_bandwidth(x) == head  # max_points defaults to 2000
    assert head != H.median_bandwidth(x, max_points=2001)
    want = H.hsic(x, y, bandwidth_x=head, bandwidth_y=H.median_bandwidth(y[:2000]))
    assert H.hsic(x, y) == pytest.approx(want, rel=1e-13)


def test_gram_refuses_a_zero_median_distance() -> None:
    x = np.r_[np.zeros(8), 1.0, 2.0]
    with pytest.raises(ValueError, match="median pairwise distance of x is 0"):
        H.hsic(x, np.arange(10.0))
    with pytest.raises(ValueError, match="median pairwise distance of y is 0"):
        H.hsic(np.arange(10.0), x)


def test_median_bandwidth_small_sizes_and_subsets() -> None:
    assert H.median_bandwidth([1.0, 4.0]) == 3.0
    x = np.random.default_rng(5).standard_normal((80, 2))
    assert H.median_bandwidth(x, max_points=2) == pytest.approx(
        np.linalg.norm(x[0] - x[1]), rel=1e-15)
    subset = np.random.default_rng(9).choice(80, size=50, replace=False)
    assert H.median_bandwidth(x, max_points=50, rng=np.random.default_rng(9)) == \
        pytest.approx(np.median(pdist(x[subset])), rel=1e-15)


def test_kernels_of_one_point_and_of_no_points() -> None:
    assert H.gaussian_kernel([[0.5, 2.0]], 1.0).tolist() == [[1.0]]
    assert H.linear_kernel([3.0]).tolist() == [[9.0]]
    for kernel in (lambda v: H.gaussian_kernel(v, 1.0), H.linear_kernel, H.distance_kernel):
        with pytest.raises(ValueError, match="x is empty"):
            kernel(np.zeros(0))
        with pytest.raises(ValueError, match="x is empty"):
            kernel(np.zeros((3, 0)))


def test_distance_kernel_is_the_documented_formula() -> None:
    x = np.random.default_rng(8).standard_normal((9, 3))
    norms = np.linalg.norm(x, axis=1)
    dist = np.linalg.norm(x[:, None] - x[None, :], axis=2)
    want = (norms[:, None] + norms[None, :] - dist) / 2
    np.testing.assert_allclose(H.distance_kernel(x), want, rtol=1e-13, atol=1e-15)


def test_linear_kernel_scales_back_exactly() -> None:
    x = np.random.default_rng(10).standard_normal((6, 2))
    assert np.array_equal(H.linear_kernel(np.ldexp(x, 501)), np.ldexp(H.linear_kernel(x), 1002))


# -- the tests: arguments reach the right place, scale comes back exactly ------------------
def _hsic_pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    return x, x[:, :1] ** 2 + rng.standard_normal((n, 1))


def test_permutation_null_is_the_statistic_of_permuted_pairs() -> None:
    x, y = _hsic_pair(4, 1)
    y[1] = y[0]  # a tie, so that some permutations reproduce the statistic exactly
    res = H.hsic_test(x, y, rng=np.random.default_rng(3), num_permutations=199,
                      kernel="linear")
    assert res.statistic == pytest.approx(4 * H.hsic(x, y, kernel="linear"), rel=1e-13)
    rng = np.random.default_rng(3)
    K, L = H.linear_kernel(x), H.linear_kernel(y)
    null = []
    for _ in range(199):
        perm = rng.permutation(4)
        null.append(4 * H.hsic_gram(K, L[np.ix_(perm, perm)]))
    np.testing.assert_allclose(res.null, null, rtol=1e-12, atol=1e-15)
    at_least = np.count_nonzero(res.null >= res.statistic)
    assert np.count_nonzero(res.null == res.statistic) > 0  # ties count as extreme
    assert res.p_value == (1 + at_least) / 200
    # the default number of permutations
    assert H.hsic_test(x, y, rng=np.random.default_rng(0)).null.shape == (1000,)
    # the smallest samples each method accepts
    for n in (2, 3):
        assert H.hsic_test(x[:n], y[:n], rng=np.random.default_rng(0),
                           kernel="linear").p_value > 0


@pytest.mark.parametrize("method", ["permutation", "gamma"])
def test_hsic_test_kernel_and_scale_reach_the_statistic(method: str) -> None:
    x, y = _hsic_pair(30, 2)
    for kernel in ("linear", "distance"):
        res = H.hsic_test(x, y, method=method, kernel=kernel, rng=np.random.default_rng(4))
        assert res.statistic == pytest.approx(30 * H.hsic(x, y, kernel=kernel), rel=1e-12)
        # powers of two scale the statistic exactly: 2**(2*600 - 2*700) for linear
        big = H.hsic_test(np.ldexp(x, 600), np.ldexp(y, -700), method=method,
                          kernel=kernel, rng=np.random.default_rng(4))
        degree = 2 if kernel == "linear" else 1
        assert big.statistic == pytest.approx(
            math.ldexp(res.statistic, degree * -100), rel=1e-13)
        assert big.p_value == pytest.approx(res.p_value, rel=1e-10)
        if method == "gamma":
            assert big.gamma_scale == pytest.approx(
                math.ldexp(res.gamma_scale, degree * -100), rel=1e-12)
            assert big.gamma_shape == pytest.approx(res.gamma_shape, rel=1e-12)
        else:
            np.testing.assert_allclose(big.null, np.ldexp(res.null, degree * -100),
                                       rtol=1e-12)
    with pytest.raises(ValueError, match="bandwidths only apply"):
        H.hsic_test(x, y, method=method, kernel="linear", bandwidth_y=1.0,
                    rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="bandwidths only apply"):
        H.hsic_test(x, y, method=method, kernel="distance", bandwidth_x=1.0,
                    rng=np.random.default_rng(0))


def test_gamma_test_with_a_kernel_whose_diagonal_is_not_one() -> None:
    # the null mean is (mean diag K - mu_x)(mean diag L - mu_y) / n (Gretton et al. 2008)
    x, y = _hsic_pair(20, 3)
    K, L = H.linear_kernel(x), H.linear_kernel(y)
    n = 20
    mu = [(M.sum() - np.trace(M)) / (n * (n - 1)) for M in (K, L)]
    mean = (np.trace(K) / n - mu[0]) * (np.trace(L) / n - mu[1]) / n
    res = H.hsic_test(x, y, method="gamma", kernel="linear")
    assert res.gamma_shape * res.gamma_scale == pytest.approx(n * mean, rel=1e-12)


def test_block_test_arguments_reach_the_block_estimator() -> None:
    x, y = _hsic_pair(600, 4)
    res = H.hsic_test(x, y, method="block", block_size=50, bandwidth_x=1.2,
                      bandwidth_y=0.8, rng=np.random.default_rng(6))
    est, se = H.hsic_linear_time(x, y, block_size=50, bandwidth_x=1.2, bandwidth_y=0.8,
                                 rng=np.random.default_rng(6))
    assert res.statistic == pytest.approx(est / se, rel=1e-13)
    unshuffled = H.hsic_linear_time(x, y, block_size=50, bandwidth_x=1.2, bandwidth_y=0.8)
    assert unshuffled[0] != pytest.approx(est, rel=1e-6)
    # identical blocks: zero standard error, no z-score
    same = np.tile(x[:50], (3, 1)), np.tile(y[:50], (3, 1))
    with pytest.raises(ValueError, match="need at least 6 samples, got 5"):
        H.hsic_test(x[:5], y[:5], method="gamma")
    with pytest.raises(ValueError, match="need at least 6 samples, got 3"):
        H.hsic_test(x[:3], y[:3], method="gamma")
    with pytest.raises(ValueError, match="block standard error is 0"):
        H.hsic_test(*same, method="block", block_size=50)


def _blocks_by_hand(x, y, block_size, bx, by):
    m = x.shape[0] // block_size
    values = [
        H.hsic(x[i * block_size:(i + 1) * block_size], y[i * block_size:(i + 1) * block_size],
               bandwidth_x=bx, bandwidth_y=by, estimator="unbiased")
        for i in range(m)
    ]
    return np.mean(values), np.std(values, ddof=1) / np.sqrt(m)


def test_block_estimator_past_one_chunk_of_blocks_in_two_dimensions() -> None:
    # 600 blocks of 4 cross the 256-block chunks; two columns exercise the distance sum
    x, y = _hsic_pair(2403, 5)
    got = H.hsic_linear_time(x, y, block_size=4, bandwidth_x=1.3, bandwidth_y=0.6)
    assert got == pytest.approx(_blocks_by_hand(x, y, 4, 1.3, 0.6), rel=1e-12)
    # the smallest sample it accepts is two blocks; the default block size is 100
    assert H.hsic_linear_time(x[:8], y[:8], block_size=4, bandwidth_x=1.3,
                              bandwidth_y=0.6) == pytest.approx(
        _blocks_by_hand(x[:8], y[:8], 4, 1.3, 0.6), rel=1e-12)
    assert H.hsic_linear_time(x[:250], y[:250], bandwidth_x=1.3, bandwidth_y=0.6) == \
        pytest.approx(_blocks_by_hand(x[:250], y[:250], 100, 1.3, 0.6), rel=1e-12)


@pytest.mark.parametrize("n", [2000, 2500])
def test_block_estimator_draws_subsets_and_order_from_one_generator(n: int) -> None:
    x, y = _hsic_pair(n, 6)
    got = H.hsic_linear_time(x, y, block_size=100, rng=np.random.default_rng(7))
    rng = np.random.default_rng(7)
    if n > 2000:  # only a sample larger than 2000 draws a subset for the median
        bx = H.median_bandwidth(x, rng=rng)
        by = H.median_bandwidth(y, rng=rng)
    else:
        bx, by = H.median_bandwidth(x), H.median_bandwidth(y)
    order = rng.permutation(n)
    want = H.hsic_linear_time(x[order], y[order], block_size=100, bandwidth_x=bx,
                              bandwidth_y=by)
    assert got == pytest.approx(want, rel=1e-13)


def test_block_estimator_bandwidths_scale_with_the_data() -> None:
    x, y = _hsic_pair(400, 8)
    want = H.hsic_linear_time(x, y, bandwidth_x=1.3, bandwidth_y=0.6)
    got = H.hsic_linear_time(np.ldexp(x, 600), np.ldexp(y, -600),
                             bandwidth_x=math.ldexp(1.3, 600),
                             bandwidth_y=math.ldexp(0.6, -600))
    assert got == pytest.approx(want, rel=1e-13)


@pytest.mark.parametrize("tied", [False, True])
def test_kth_pair_difference_for_every_k(tied: bool) -> None:
    # 40 points: 780 pairs > 8 * 40, so the bisection runs before the exact selection;
    # every k meets every branch (a count equal to k, a count just above it)
    rng = np.random.default_rng(40 + tied)
    xs = rng.standard_normal(40)
    xs = np.sort(np.round(xs, 1) if tied else xs)
    diffs = np.sort((xs[None, :] - xs[:, None])[np.triu_indices(40, 1)])
    got = [H._kth_pair_difference(xs, k) for k in range(diffs.size)]
    np.testing.assert_array_equal(got, diffs)


def test_count_at_most_when_the_searchsorted_guess_falls_short() -> None:
    # fl(xs[i] + t) rounds below xs[j] although fl(xs[j] - xs[i]) <= t: the guess misses
    # pairs that the floating-point comparison counts (found by a random search)
    xs = np.array([1.603889883650369e-17, 5.160390030914762e-17, 0.9999999999999999,
                   0.9999999999999999, 1.0])
    t = 3.556500147264393e-17
    np.testing.assert_array_equal(H._count_at_most(xs, t), _brute_count(xs, t))


def test_count_at_most_on_every_threshold_of_a_small_sample() -> None:
    xs = np.array([0.0, 0.5, 1.0, 1.0, 2.0, 3.5, 3.5, 7.0])
    diffs = np.unique(xs[None, :] - xs[:, None])
    for t in np.unique(np.r_[diffs, (diffs[1:] + diffs[:-1]) / 2]):
        if t >= 0:
            np.testing.assert_array_equal(H._count_at_most(xs, t), _brute_count(xs, t))
