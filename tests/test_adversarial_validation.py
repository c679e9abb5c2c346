"""Tests for lib.adversarial_validation (chapter 6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from scipy.special import expit
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from lib.adversarial_validation import (
    effective_sample_size,
    fit_discriminator,
    fit_logistic,
    importance_weights,
    pareto_smooth_weights,
    resample_validation,
    truncate_weights,
    weighted_mean,
)

positive_weights = arrays(
    np.float64,
    st.integers(1, 40),
    elements=st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False),
)
probabilities = arrays(
    np.float64,
    st.integers(1, 40),
    elements=st.floats(1e-9, 1 - 1e-9, allow_nan=False, allow_infinity=False),
)


@pytest.fixture(scope="module")
def gaussian_toy() -> tuple[np.ndarray, np.ndarray]:
    """p = N(0, 1) for training inputs, q = N(1, 1) for test inputs."""
    rng = np.random.default_rng(0)
    return rng.normal(0, 1, (4000, 1)), rng.normal(1, 1, (2000, 1))


# -- known values -----------------------------------------------------------


def test_importance_weights_known_values() -> None:
    np.testing.assert_allclose(importance_weights([0.5, 0.75, 0.2]), [1.0, 3.0, 0.25])
    # prior 0.2: the odds are divided by 0.2/0.8 = 1/4
    np.testing.assert_allclose(importance_weights([0.5, 0.2], prior_test=0.2), [4.0, 1.0])


def test_effective_sample_size_known_values() -> None:
    assert effective_sample_size(np.ones(7)) == pytest.approx(7.0)
    assert effective_sample_size([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert effective_sample_size([1.0, 2.0, 3.0]) == pytest.approx(36.0 / 14.0)


def test_weighted_mean_known_values() -> None:
    mean, se = weighted_mean([1.0, 3.0], [1.0, 1.0])
    assert mean == pytest.approx(2.0)
    assert se == pytest.approx(np.sqrt(2.0) / 2.0)
    mean, _ = weighted_mean([1.0, 3.0], [3.0, 1.0])
    assert mean == pytest.approx(1.5)


def test_weighted_mean_matches_plain_mean_and_se_for_equal_weights() -> None:
    f = np.random.default_rng(1).normal(size=500)
    mean, se = weighted_mean(f, np.full(f.size, 2.5))
    assert mean == pytest.approx(f.mean())
    assert se == pytest.approx(f.std(ddof=0) / np.sqrt(f.size))


def test_fit_logistic_recovers_known_model() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20_000, 1))
    y = (rng.random(20_000) < expit(0.5 + 2.0 * x[:, 0])).astype(float)
    params, se = fit_logistic(x, y)
    assert np.all(np.abs(params - [0.5, 2.0]) < 4 * se)
    assert np.all(se > 0) and np.all(se < 0.1)


def test_discriminator_matches_exact_density_ratio(gaussian_toy) -> None:
    """Unbalanced sizes (4000 vs 2000) are balanced by weights: D -> sigma(x - 1/2)."""
    x_train, x_test = gaussian_toy
    d = fit_discriminator(x_train, x_test, random_state=0)
    exact = expit(x_train[:, 0] - 0.5)
    inner = np.abs(x_train[:, 0]) < 2
    assert np.max(np.abs(d - exact)[inner]) < 0.03


def test_discriminator_is_reproducible_and_accepts_models(gaussian_toy) -> None:
    x_train, x_test = gaussian_toy
    a = fit_discriminator(x_train, x_test, random_state=3)
    b = fit_discriminator(x_train, x_test, random_state=3)
    np.testing.assert_array_equal(a, b)
    tree = fit_discriminator(
        x_train, x_test, model=DecisionTreeClassifier(max_depth=3), random_state=3
    )
    assert tree.shape == (x_train.shape[0],)
    assert np.all((tree > 0) & (tree < 1))


def test_discriminator_without_signal_is_near_one_half() -> None:
    rng = np.random.default_rng(4)
    d = fit_discriminator(rng.normal(size=(3000, 2)), rng.normal(size=(1000, 2)), random_state=4)
    assert abs(d.mean() - 0.5) < 0.02


def test_weighted_estimate_recovers_test_mean(gaussian_toy) -> None:
    x_train, x_test = gaussian_toy
    w = importance_weights(fit_discriminator(x_train, x_test, random_state=5))
    mean, se = weighted_mean(x_train[:, 0], w)
    assert abs(mean - 1.0) < 4 * np.hypot(se, 0.03)


def test_resampling_draws_from_weighted_law() -> None:
    rng = np.random.default_rng(6)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    idx = resample_validation(w, 40_000, rng)
    counts = np.bincount(idx, minlength=4)
    assert stats.chisquare(counts, 40_000 * w / w.sum()).pvalue > 1e-3


def test_resampling_is_reproducible_and_never_picks_zero_weight() -> None:
    w = np.array([0.0, 1.0, 0.0, 2.0])
    a = resample_validation(w, 100, np.random.default_rng(7))
    b = resample_validation(w, 100, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert set(a.tolist()) <= {1, 3}


def test_truncate_weights_known_values() -> None:
    # 99 ones and one 1000: mean 10.99, cap 10.99 * sqrt(100) = 109.9
    w = np.r_[np.ones(99), 1000.0]
    np.testing.assert_allclose(truncate_weights(w), np.r_[np.ones(99), 109.9], rtol=1e-12)
    # a cap that does not bind leaves the weights alone
    np.testing.assert_array_equal(truncate_weights([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("shape", [0.0, 0.5, 1.0])
def test_pareto_k_hat_recovers_generalized_pareto_shape(shape: float) -> None:
    # 20 samples of 20000: the mean k-hat has a standard error near 0.016 and the
    # weak prior pulls it by at most 0.5 * 10 / 434 = 0.012 towards 1/2
    rng = np.random.default_rng(42)
    k_hats = [
        pareto_smooth_weights(1 + stats.genpareto.rvs(shape, size=20_000, random_state=rng))[1]
        for _ in range(20)
    ]
    assert abs(np.mean(k_hats) - shape) < 0.1


def test_pareto_smoothing_structure() -> None:
    rng = np.random.default_rng(3)
    w = np.exp(2.5 * rng.normal(size=2_000))
    smoothed, k_hat = pareto_smooth_weights(w)
    tail_size = int(np.ceil(min(0.2 * w.size, 3 * np.sqrt(w.size))))
    body, tail = np.split(np.argsort(w), [w.size - tail_size])
    np.testing.assert_array_equal(smoothed[body], w[body])  # the body bit for bit
    assert np.all(np.diff(smoothed[tail]) >= 0)  # the tail keeps its order
    assert smoothed[tail].min() > w[body].max()
    assert smoothed.max() <= w.max()
    assert k_hat > 0.5  # lognormal with sigma 2.5: heavy in a sample of 2000
    smoothed_scaled, k_scaled = pareto_smooth_weights(1e-6 * w)
    np.testing.assert_allclose(smoothed_scaled, 1e-6 * smoothed, rtol=1e-9)
    assert k_scaled == pytest.approx(k_hat, rel=1e-9)


def test_pareto_smoothing_of_tied_weights_returns_them_unchanged() -> None:
    w = np.ones(100)
    smoothed, k_hat = pareto_smooth_weights(w)
    np.testing.assert_array_equal(smoothed, w)
    assert k_hat == -np.inf


# -- properties -------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(positive_weights, st.floats(1e-3, 1e3))
def test_ess_bounds_and_scale_invariance(w: np.ndarray, scale: float) -> None:
    ess = effective_sample_size(w)
    assert 1 - 1e-9 <= ess <= w.size * (1 + 1e-9)
    assert effective_sample_size(scale * w) == pytest.approx(ess, rel=1e-9)
    assert effective_sample_size(w[::-1]) == pytest.approx(ess, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(probabilities, st.floats(0.01, 0.99))
def test_weights_are_positive_odds_and_invert(d: np.ndarray, prior: float) -> None:
    w = importance_weights(d, prior_test=prior)
    assert np.all(w > 0)
    # undo the prior correction and map odds back to probabilities
    odds = w * prior / (1 - prior)
    np.testing.assert_allclose(odds / (1 + odds), d, rtol=1e-9)
    # the prior only rescales: self-normalised weights do not depend on it
    w_half = importance_weights(d)
    np.testing.assert_allclose(w / w.sum(), w_half / w_half.sum(), rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(positive_weights, st.floats(1e-3, 1e3), st.floats(-5, 5))
def test_weighted_mean_lies_in_range_and_is_scale_invariant(
    w: np.ndarray, scale: float, shift: float
) -> None:
    f = np.linspace(-1.0, 2.0, w.size)
    mean, se = weighted_mean(f, w)
    assert f.min() - 1e-9 <= mean <= f.max() + 1e-9
    assert se >= 0
    mean2, se2 = weighted_mean(f + shift, scale * w)
    assert mean2 == pytest.approx(mean + shift, abs=1e-9)
    assert se2 == pytest.approx(se, rel=1e-7, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(positive_weights, st.integers(1, 50), st.integers(0, 2**32 - 1))
def test_resample_indices_are_in_range(w: np.ndarray, size: int, seed: int) -> None:
    idx = resample_validation(w, size, np.random.default_rng(seed))
    assert idx.shape == (size,)
    assert np.all((idx >= 0) & (idx < w.size))


# -- bad input --------------------------------------------------------------

X2 = np.zeros((10, 2))
BAD_CALLS = {
    "d-zero": lambda: importance_weights([0.0, 0.5]),
    "d-one": lambda: importance_weights([0.5, 1.0]),
    "d-negative": lambda: importance_weights([-0.1]),
    "d-nan": lambda: importance_weights([np.nan]),
    "d-2d": lambda: importance_weights([[0.5]]),
    "d-empty": lambda: importance_weights([]),
    "d-string": lambda: importance_weights(["a"]),
    "prior-zero": lambda: importance_weights([0.5], prior_test=0.0),
    "prior-one": lambda: importance_weights([0.5], prior_test=1.0),
    "prior-bool": lambda: importance_weights([0.5], prior_test=True),
    "ess-negative": lambda: effective_sample_size([1.0, -1.0]),
    "ess-zero": lambda: effective_sample_size([0.0, 0.0]),
    "ess-inf": lambda: effective_sample_size([1.0, np.inf]),
    "ess-2d": lambda: effective_sample_size(np.ones((2, 2))),
    "ess-empty": lambda: effective_sample_size([]),
    "wm-shape": lambda: weighted_mean([1.0, 2.0], [1.0]),
    "wm-nan": lambda: weighted_mean([np.nan], [1.0]),
    "wm-negative": lambda: weighted_mean([1.0], [-1.0]),
    "rs-size-zero": lambda: resample_validation([1.0], 0, np.random.default_rng(0)),
    "rs-size-float": lambda: resample_validation([1.0], 2.0, np.random.default_rng(0)),
    "rs-rng-int": lambda: resample_validation([1.0], 2, 0),
    "rs-rng-legacy": lambda: resample_validation([1.0], 2, np.random.RandomState(0)),
    "rs-weights-zero": lambda: resample_validation([0.0], 2, np.random.default_rng(0)),
    "fd-1d": lambda: fit_discriminator(np.zeros(10), X2),
    "fd-features": lambda: fit_discriminator(X2, np.zeros((5, 3))),
    "fd-nan": lambda: fit_discriminator(np.full((10, 2), np.nan), X2),
    "fd-too-few": lambda: fit_discriminator(np.zeros((3, 2)), X2),
    "fd-empty-test": lambda: fit_discriminator(X2, np.zeros((0, 2))),
    "fd-splits": lambda: fit_discriminator(X2, X2, n_splits=1),
    "fd-random-state": lambda: fit_discriminator(X2, X2, random_state=1.5),
    "fd-no-proba": lambda: fit_discriminator(X2, X2, model=LinearSVC()),
    "fl-labels": lambda: fit_logistic(X2, np.arange(10.0)),
    "fl-one-class": lambda: fit_logistic(X2, np.zeros(10)),
    "fl-length": lambda: fit_logistic(X2, np.zeros(9)),
    "fl-1d": lambda: fit_logistic(np.zeros(10), np.zeros(10)),
    "tw-negative": lambda: truncate_weights([1.0, -1.0]),
    "tw-nan": lambda: truncate_weights([1.0, np.nan]),
    "tw-zero": lambda: truncate_weights([0.0, 0.0]),
    "ps-too-few": lambda: pareto_smooth_weights(np.ones(24)),
    "ps-2d": lambda: pareto_smooth_weights(np.ones((5, 5))),
    "ps-negative": lambda: pareto_smooth_weights(np.r_[np.ones(30), -1.0]),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_raises_value_error(call) -> None:
    with pytest.raises(ValueError):
        call()


def test_weighted_mean_is_scale_equivariant_at_extreme_scales() -> None:
    # (f - mean)**2 overflows for values near 1e200 unless the values are rescaled
    gen = np.random.default_rng(12)
    values, weights = gen.normal(size=300), gen.random(300)
    mean, error = weighted_mean(values, weights)
    for s in (1e200, 1e-200):
        scaled = weighted_mean(values * s, weights)
        assert scaled[0] == pytest.approx(mean * s, rel=1e-14)
        assert scaled[1] == pytest.approx(error * s, rel=1e-14)


# -- cases found by mutation testing (make mutation) --------------------------------


def test_weighted_mean_standard_error_with_unequal_weights() -> None:
    # sqrt(sum w_i^2 (f_i - mean)^2) / sum w_i, by hand in exact fractions
    from fractions import Fraction

    f = [Fraction(1), Fraction(4), Fraction(-2)]
    w = [Fraction(1), Fraction(3), Fraction(2)]
    total = sum(w)
    mean = sum(a * b for a, b in zip(w, f)) / total
    variance = sum(b * b * (a - mean) ** 2 for a, b in zip(f, w)) / total**2
    got_mean, got_se = weighted_mean([1.0, 4.0, -2.0], [1.0, 3.0, 2.0])
    assert got_mean == pytest.approx(float(mean), rel=1e-15)
    assert got_se == pytest.approx(float(variance) ** 0.5, rel=1e-15)


def test_fit_logistic_is_the_unpenalised_maximum_likelihood() -> None:
    # Newton's method on the exact log-likelihood (independent of scikit-learn), and
    # standard errors from the inverse Fisher information Z^T diag(s (1 - s)) Z
    rng = np.random.default_rng(17)
    x = rng.normal(size=(200, 2))
    y = (rng.uniform(size=200) < expit(0.4 + x @ [1.2, -0.7])).astype(int)
    z = np.hstack([np.ones((200, 1)), x])
    beta = np.zeros(3)
    for _ in range(50):
        s = expit(z @ beta)
        information = z.T @ (z * (s * (1 - s))[:, None])
        beta = beta + np.linalg.solve(information, z.T @ (y - s))
    params, got_se = fit_logistic(x, y)
    # scikit-learn's L-BFGS stops once every component of the gradient of the *mean*
    # log-loss is at most tol = 1e-4, so params - beta is about (I / n)^-1 g:
    # |params - beta| <= n sqrt(3) tol / lambda_min(I), to first order (doubled here)
    information = z.T @ (z * (s * (1 - s))[:, None])
    bound = 2 * 200 * np.sqrt(3) * 1e-4 / np.linalg.eigvalsh(information)[0]
    assert np.linalg.norm(params - beta) <= bound
    # ... a few per cent of the smallest standard error: the optimiser's stop is harmless
    assert bound < 0.05 * np.sqrt(np.diag(np.linalg.inv(information))).min()
    # the standard errors are the Fisher-information ones at the returned params
    s_hat = expit(z @ params)
    se = np.sqrt(np.diag(np.linalg.inv(z.T @ (z * (s_hat * (1 - s_hat))[:, None]))))
    np.testing.assert_allclose(got_se, se, rtol=1e-10)


def test_fit_discriminator_folds_seeds_and_limits() -> None:
    rng = np.random.default_rng(23)
    train, test = rng.normal(size=(30, 2)), rng.normal(0.5, 1.0, size=(10, 2))
    default = fit_discriminator(train, test, random_state=3)
    np.testing.assert_array_equal(default, fit_discriminator(train, test, n_splits=5, random_state=3))
    # the number of folds is used, and two folds, as many folds as rows and a single
    # test row are all allowed
    assert not np.array_equal(default, fit_discriminator(train, test, n_splits=3, random_state=3))
    assert fit_discriminator(train, test, n_splits=2, random_state=3).shape == (30,)
    assert fit_discriminator(train[:4], test[:1], n_splits=4, random_state=3).shape == (4,)
    # the seed reaches a model that takes one (a tree), so two runs agree
    tree = DecisionTreeClassifier(max_features=1)
    first = fit_discriminator(train, test, model=tree, random_state=4)
    np.testing.assert_array_equal(first, fit_discriminator(train, test, model=tree, random_state=4))
    # separable samples: probabilities are kept off 0 and 1 (the odds stay finite)
    far = fit_discriminator(train, test + 50.0, model=DecisionTreeClassifier(), random_state=0)
    assert far.min() == 1e-12
    # and training rows sitting among the test rows are scored 1 - 1e-12, not 1
    mixed = np.vstack([train, test[:5] + 50.0])
    inside = fit_discriminator(mixed, test + 50.0, model=DecisionTreeClassifier(), random_state=0)
    assert inside.max() == 1 - 1e-12
    with pytest.raises(ValueError, match="n_splits must be at least 2"):
        fit_discriminator(train, test, n_splits=1)


@pytest.mark.parametrize("n", [25, 100, 400])
def test_pareto_smoothing_replaces_the_tail_by_fitted_quantiles(n: int) -> None:
    # M = ceil(min(0.2 n, 3 sqrt(n))) largest weights become the quantiles, at levels
    # (i - 1/2) / M, of the generalised Pareto law fitted to their excesses over the
    # (M+1)-th largest (Vehtari et al.); scipy's genpareto gives the quantiles here
    from lib.adversarial_validation import _generalized_pareto_fit

    w = np.random.default_rng(n).lognormal(0.0, 1.5, size=n)
    smoothed, k_hat = pareto_smooth_weights(w)
    m = int(np.ceil(min(0.2 * n, 3 * np.sqrt(n))))
    order = np.argsort(w)
    body, tail = order[:-m], order[-m:]
    np.testing.assert_array_equal(smoothed[body], w[body])
    scaled = w / w.max()
    threshold = scaled[order[-m - 1]]
    k, sigma = _generalized_pareto_fit(scaled[tail] - threshold)
    assert k_hat == k
    levels = (np.arange(m) + 0.5) / m
    quantiles = stats.genpareto.ppf(levels, c=k, scale=sigma)
    want = np.minimum(threshold + quantiles, 1.0) * w.max()
    np.testing.assert_allclose(smoothed[tail], want, rtol=1e-12)


def _gpdfit_reference(x: np.ndarray) -> tuple[float, float]:
    """The PSIS reference fit, written from arviz.stats.stats._gpdfit (after psis.py's
    gpdfitnew by Vehtari and Sivula): Zhang and Stephens' grid of 30 + sqrt(n) values of
    b with prior 3, weights 1 / sum exp(L_j - L_i) with those below 10 eps dropped, then
    k pulled towards 1/2 by a prior worth 10 observations (sigma from the unpulled k)."""
    n = x.size
    m = 30 + int(n**0.5)
    b = 1 - np.sqrt(m / (np.arange(1, m + 1, dtype=float) - 0.5))
    b /= 3 * x[int(n / 4 + 0.5) - 1]
    b += 1 / x[-1]
    k = np.log1p(-b[:, None] * x).mean(axis=1)
    log_lik = n * (np.log(-(b / k)) - k - 1)
    with np.errstate(over="ignore"):  # far-off grid points: exp overflows, weight 0
        weights = 1 / np.exp(log_lik - log_lik[:, None]).sum(axis=1)
    keep = weights >= 10 * np.finfo(float).eps
    weights, b = weights[keep], b[keep]
    weights /= weights.sum()
    b_post = np.sum(b * weights)
    k_post = np.log1p(-b_post * x).mean()
    sigma = -k_post / b_post
    return (n * k_post + 10 * 0.5) / (n + 10), sigma


@pytest.mark.parametrize("n, shape", [(5, 0.3), (20, 0.7), (200, -0.2), (1000, 1.1)])
def test_generalized_pareto_fit_matches_the_psis_reference(n: int, shape: float) -> None:
    from lib.adversarial_validation import _generalized_pareto_fit

    rng = np.random.default_rng(n)
    x = np.sort(stats.genpareto.rvs(shape, scale=2.0, size=n, random_state=rng))
    got = _generalized_pareto_fit(x)
    want = _gpdfit_reference(x)
    assert got == pytest.approx(want, rel=1e-12)
