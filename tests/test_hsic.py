"""Tests for lib.hsic (chapter 4): known values, independent references, properties, bad input."""

from __future__ import annotations

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
