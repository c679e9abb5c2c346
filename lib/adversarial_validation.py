"""Adversarial validation: a validation set that looks like the test set (chapter 6).

A discriminator is trained to tell training inputs (label 0) from test inputs
(label 1). With balanced classes its optimum is

.. math::

    D(x) = \\frac{q(x)}{p(x) + q(x)},

so the odds :math:`D/(1-D)` are the density ratio :math:`q/p` between the test
and the training input distributions. Those odds are importance weights: a
training-set average weighted by them estimates a test-set average, and
resampling the training rows with probabilities proportional to them draws a
validation set distributed like the test set.

This module fits a cross-fitted discriminator (:func:`fit_discriminator`),
turns its probabilities into prior-corrected weights
(:func:`importance_weights`), measures how many samples the weights are worth
(:func:`effective_sample_size`), estimates a weighted mean with its standard
error (:func:`weighted_mean`), draws a validation set by sampling with
replacement (:func:`resample_validation`), and tames heavy-tailed weights by
truncation (:func:`truncate_weights`) or Pareto smoothing, whose fitted tail
shape diagnoses weights that cannot be trusted (:func:`pareto_smooth_weights`).

Every bad input (wrong shapes, NaN or infinite values, probabilities outside
(0, 1), negative weights, too few weights for a tail fit, a non-generator
``rng``...) raises :class:`ValueError`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lib._validation import MAX_SIZE, finite_array, positive_int
from sklearn.base import ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.utils.validation import has_fit_parameter

__all__ = [
    "effective_sample_size",
    "fit_discriminator",
    "fit_logistic",
    "importance_weights",
    "pareto_smooth_weights",
    "resample_validation",
    "truncate_weights",
    "weighted_mean",
]


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------


def _vector(value: ArrayLike, name: str) -> NDArray[np.float64]:
    """A non-empty, finite, one-dimensional float array."""
    array = finite_array(value, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    return array


def _matrix(value: ArrayLike, name: str) -> NDArray[np.float64]:
    """A finite two-dimensional float array (rows are samples)."""
    array = finite_array(value, name)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be two-dimensional (samples x features), got shape {array.shape}"
        )
    if array.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature column")
    return array


def _weights(value: ArrayLike, name: str = "weights") -> NDArray[np.float64]:
    """Non-negative, finite, one-dimensional weights with a positive sum."""
    w = _vector(value, name)
    if np.any(w < 0):
        raise ValueError(f"{name} must be non-negative")
    if not w.sum() > 0:
        raise ValueError(f"{name} must not all be zero")
    return w


# --------------------------------------------------------------------------
# The discriminator and its weights
# --------------------------------------------------------------------------


def fit_discriminator(
    X_train: ArrayLike,
    X_test: ArrayLike,
    *,
    model: ClassifierMixin | None = None,
    random_state: int | None = None,
    n_splits: int = 5,
) -> NDArray[np.float64]:
    """Cross-fitted probability that each training row comes from the test set.

    The training rows are split into ``n_splits`` folds. For each fold a fresh
    copy of ``model`` is fitted on the other training rows (label 0) and on all
    test rows (label 1), and it scores the held-out fold, so no training row is
    scored by a model that saw it. The two classes are balanced by sample
    weights (each class carries total weight one half), which is the balanced
    objective (1) of the chapter: the returned probabilities estimate
    :math:`D(x) = q(x) / (p(x) + q(x))` with class prior 1/2, whatever the
    sizes of the two sets.

    Parameters
    ----------
    X_train : array_like, shape (n_train, n_features)
        Training inputs (distribution :math:`p`); at least ``n_splits`` rows.
    X_test : array_like, shape (n_test, n_features)
        Test inputs (distribution :math:`q`); at least one row.
    model : classifier, optional
        An unfitted scikit-learn classifier with ``predict_proba`` whose ``fit``
        accepts ``sample_weight``; it is cloned, never modified. Default:
        ``LogisticRegression(max_iter=1000)``.
    random_state : int, optional
        Seed of the fold shuffle (and of ``model`` if it has a ``random_state``
        parameter that is unset), for reproducible output.
    n_splits : int, default 5
        Number of cross-fitting folds, at least 2.

    Returns
    -------
    numpy.ndarray, shape (n_train,)
        :math:`\\hat D(x_i)` for every training row, clipped into the open
        interval (1e-12, 1 - 1e-12) so that the odds are finite.

    Raises
    ------
    ValueError
        Non-2-d or non-finite inputs, different feature counts, too few rows,
        ``n_splits < 2``, or a model without ``predict_proba`` or
        ``sample_weight`` support.

    Notes
    -----
    Derived in chapter 6, section "The discriminator", eqs. (1)-(2).
    """
    train = _matrix(X_train, "X_train")
    test = _matrix(X_test, "X_test")
    if train.shape[1] != test.shape[1]:
        raise ValueError(
            f"X_train and X_test must have the same number of features, "
            f"got {train.shape[1]} and {test.shape[1]}"
        )
    folds = positive_int(n_splits, "n_splits")
    if folds < 2:
        raise ValueError(f"n_splits must be at least 2, got {folds}")
    if train.shape[0] < folds:
        raise ValueError(f"X_train needs at least n_splits={folds} rows, got {train.shape[0]}")
    if test.shape[0] < 1:
        raise ValueError("X_test must have at least one row")
    if random_state is not None and (
        isinstance(random_state, (bool, np.bool_))
        or not isinstance(random_state, (int, np.integer))
    ):
        raise ValueError(f"random_state must be an integer or None, got {random_state!r}")
    base = LogisticRegression(max_iter=1000) if model is None else model
    if not hasattr(base, "predict_proba") or not hasattr(base, "fit"):
        raise ValueError("model must be a classifier with fit and predict_proba")
    if not has_fit_parameter(base, "sample_weight"):
        raise ValueError("model.fit must accept sample_weight (used to balance the classes)")
    base = clone(base)
    params = base.get_params()
    if random_state is not None and "random_state" in params and params["random_state"] is None:
        base.set_params(random_state=random_state)

    d = np.empty(train.shape[0])
    splitter = KFold(n_splits=folds, shuffle=True, random_state=random_state)
    for fit_rows, score_rows in splitter.split(train):
        X = np.vstack([train[fit_rows], test])
        y = np.concatenate([np.zeros(fit_rows.size), np.ones(test.shape[0])])
        sample_weight = np.where(y == 1, 0.5 / test.shape[0], 0.5 / fit_rows.size) * y.size
        fitted = clone(base).fit(X, y, sample_weight=sample_weight)
        column = list(fitted.classes_).index(1.0)
        d[score_rows] = fitted.predict_proba(train[score_rows])[:, column]
    return np.clip(d, 1e-12, 1 - 1e-12)


def fit_logistic(
    X: ArrayLike, y: ArrayLike, *, random_state: int | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unpenalised logistic regression with Fisher-information standard errors.

    Fits :math:`P(y=1\\mid x) = \\sigma(b + a^\\top x)` by maximum likelihood
    (scikit-learn ``LogisticRegression`` with ``C=inf``) and returns the
    parameters with their asymptotic standard errors, the square roots of the
    diagonal of :math:`(Z^\\top V Z)^{-1}`, where :math:`Z = [1, X]` and
    :math:`V = \\mathrm{diag}(\\hat\\sigma_i (1 - \\hat\\sigma_i))`.

    Parameters
    ----------
    X : array_like, shape (n, k)
        Inputs.
    y : array_like, shape (n,)
        Labels, each 0 or 1, both present.
    random_state : int, optional
        Passed to ``LogisticRegression`` (unused by its default solver; kept for
        reproducibility if the solver changes).

    Returns
    -------
    params : numpy.ndarray, shape (k + 1,)
        Intercept :math:`b` first, then the slopes :math:`a`.
    standard_errors : numpy.ndarray, shape (k + 1,)
        Their standard errors, in the same order.

    Raises
    ------
    ValueError
        Non-2-d or non-finite ``X``, labels not in {0, 1} or of one class only,
        or mismatched lengths.

    Notes
    -----
    Used in chapter 6, sections "A toy where everything is known" and
    "Unbalanced classes", to compare a fitted discriminator with the exact one.
    """
    inputs = _matrix(X, "X")
    labels = _vector(y, "y")
    if labels.shape[0] != inputs.shape[0]:
        raise ValueError(f"X has {inputs.shape[0]} rows but y has {labels.shape[0]} labels")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError("y must contain only the labels 0 and 1")
    if labels.min() == labels.max():
        raise ValueError("y must contain both classes")
    model = LogisticRegression(C=np.inf, max_iter=1000, random_state=random_state)
    model.fit(inputs, labels)
    params = np.concatenate([model.intercept_, model.coef_.ravel()])
    Z = np.hstack([np.ones((inputs.shape[0], 1)), inputs])
    s = model.predict_proba(inputs)[:, 1]
    with np.errstate(over="ignore", invalid="ignore"):  # refused below if not finite
        information = Z.T @ (Z * (s * (1 - s))[:, None])
        try:
            covariance = np.linalg.inv(information)
        except np.linalg.LinAlgError:
            covariance = np.full_like(information, np.nan)
        standard_errors = np.sqrt(np.diag(covariance))
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(standard_errors))):
        raise ValueError(
            "X gives a singular or non-finite Fisher information (collinear columns, or "
            "values far from unit scale): no maximum-likelihood fit with standard errors"
        )
    return params, standard_errors


def importance_weights(d: ArrayLike, prior_test: float = 0.5) -> NDArray[np.float64]:
    """Importance weights :math:`w = \\frac{D}{1-D}\\cdot\\frac{1-\\pi}{\\pi}` from probabilities.

    Parameters
    ----------
    d : array_like, shape (n,)
        Discriminator probabilities :math:`D(x_i)` that row ``i`` comes from the
        test set, each strictly between 0 and 1.
    prior_test : float, default 0.5
        The share :math:`\\pi` of test rows in the discriminator's training
        objective. With balanced classes (:func:`fit_discriminator`) it is 1/2
        and the weights are the plain odds :math:`D/(1-D)`.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Estimates of the density ratio :math:`q(x_i)/p(x_i)`.

    Raises
    ------
    ValueError
        ``d`` not one-dimensional, non-finite, or outside the open interval
        (0, 1); ``prior_test`` not in (0, 1).

    Notes
    -----
    Derived in chapter 6, sections "Importance sampling" (eq. (5)) and
    "Unbalanced classes" (the prior correction).
    """
    probabilities = _vector(d, "d")
    if np.any((probabilities <= 0) | (probabilities >= 1)):
        raise ValueError("d must lie strictly between 0 and 1 (the odds D/(1-D) are undefined)")
    if isinstance(prior_test, (bool, np.bool_)) or not isinstance(prior_test, numbers.Real):
        raise ValueError(f"prior_test must be a real number in (0, 1), got {prior_test!r}")
    prior = float(prior_test)
    if not 0 < prior < 1:
        raise ValueError(f"prior_test must lie strictly between 0 and 1, got {prior}")
    return probabilities / (1 - probabilities) * ((1 - prior) / prior)


def effective_sample_size(w: ArrayLike) -> float:
    """Kish's effective sample size :math:`(\\sum_i w_i)^2 / \\sum_i w_i^2`.

    Parameters
    ----------
    w : array_like, shape (n,)
        Non-negative weights, not all zero.

    Returns
    -------
    float
        A number in [1, n]: n for equal weights, 1 when one weight carries all.
        It is invariant under rescaling the weights.

    Raises
    ------
    ValueError
        Weights not one-dimensional, empty, non-finite, negative or all zero.

    Notes
    -----
    Derived in chapter 6, section "Effective sample size".
    """
    weights = _weights(w, "w")
    scaled = weights / weights.max()  # scale-free, avoids overflow of the squares
    return float(scaled.sum() ** 2 / np.sum(scaled**2))


def weighted_mean(values: ArrayLike, weights: ArrayLike) -> tuple[float, float]:
    """Self-normalised weighted mean and its delta-method standard error.

    Parameters
    ----------
    values : array_like, shape (n,)
        The quantity :math:`f(x_i)` to average.
    weights : array_like, shape (n,)
        Non-negative importance weights :math:`w_i`, not all zero.

    Returns
    -------
    mean : float
        :math:`\\hat\\mu = \\sum_i w_i f_i / \\sum_i w_i`.
    standard_error : float
        :math:`\\sqrt{\\sum_i w_i^2 (f_i - \\hat\\mu)^2} / \\sum_i w_i`, the usual
        delta-method error of the self-normalised importance sampling estimate
        with independent samples.

    Raises
    ------
    ValueError
        Shapes differ, non-finite input, negative or all-zero weights.

    Notes
    -----
    Derived in chapter 6, sections "Importance sampling" and "Effective sample size".
    """
    f = _vector(values, "values")
    w = _weights(weights)
    if f.shape != w.shape:
        raise ValueError(f"values and weights must have the same shape, got {f.shape} and {w.shape}")
    w = w / w.max()
    # values near 1e200 would overflow (f - mean)**2: work at unit scale, by a power
    # of two so that dividing and multiplying back are exact
    largest = float(np.max(np.abs(f)))
    scale = math.ldexp(1.0, math.frexp(largest)[1]) if largest > 0 else 1.0
    f = f / scale
    total = w.sum()
    mean = float(np.dot(w, f) / total)
    standard_error = float(np.sqrt(np.sum(w**2 * (f - mean) ** 2)) / total)
    return mean * scale, standard_error * scale


def resample_validation(
    weights: ArrayLike, size: int, rng: np.random.Generator
) -> NDArray[np.intp]:
    """Indices of a validation set drawn with replacement with probabilities (6).

    Row ``i`` is drawn with probability :math:`p_i = w_i / \\sum_j w_j`,
    independently ``size`` times. Repeated indices are intended: dropping them
    changes the distribution of the validation set.

    Parameters
    ----------
    weights : array_like, shape (n,)
        Non-negative importance weights, not all zero.
    size : int
        Number of draws (the validation-set size), from 1 to ``MAX_SIZE`` = 10**8.
    rng : numpy.random.Generator
        The source of randomness.

    Returns
    -------
    numpy.ndarray of int, shape (size,)
        Row indices into the training set, duplicates included.

    Raises
    ------
    ValueError
        Bad weights, ``size`` not a positive integer, or ``rng`` not a
        :class:`numpy.random.Generator`.

    Notes
    -----
    Derived in chapter 6, section "Strategy 2: resampling", eq. (6).
    """
    w = _weights(weights)
    draws = positive_int(size, "size", maximum=MAX_SIZE)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng.choice(w.size, size=draws, replace=True, p=w / w.sum())


# --------------------------------------------------------------------------
# Taming heavy-tailed weights
# --------------------------------------------------------------------------


def truncate_weights(w: ArrayLike) -> NDArray[np.float64]:
    """Truncated importance weights :math:`\\min(w_i, \\bar w\\sqrt{N})` (Ionides, 2008).

    Capping each weight at :math:`\\sqrt{N}` times the mean weight bounds the
    influence of any single row. The estimate it gives is biased, but it
    converges under weaker conditions than plain importance sampling, weights
    of infinite variance included, with a bias that vanishes as :math:`N` grows.

    Parameters
    ----------
    w : array_like, shape (n,)
        Non-negative importance weights, not all zero.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The weights, each capped at ``w.mean() * sqrt(n)`` (same scale as ``w``).

    Raises
    ------
    ValueError
        Weights not one-dimensional, empty, non-finite, negative or all zero.

    Notes
    -----
    Used in chapter 6, section "Taming heavy weights".
    """
    weights = _weights(w, "w")
    cap = weights.mean() * np.sqrt(weights.size)
    return np.minimum(weights, cap)


def _generalized_pareto_fit(exceedances: NDArray[np.float64]) -> tuple[float, float]:
    """Shape :math:`k` and scale of a generalized Pareto law fitted to exceedances.

    The empirical-Bayes estimate of Zhang and Stephens (2009) as used by
    Pareto-smoothed importance sampling: a posterior mean of
    :math:`\\theta = -k/\\sigma` over a quadrature grid, then :math:`k` (positive for
    a heavy tail) shrunk towards 1/2 by a weak prior worth ten observations.
    ``exceedances`` must be sorted, positive, with at least five entries.
    """
    x = exceedances
    n = x.size
    grid_size = 30 + int(np.sqrt(n))
    theta = 1 - np.sqrt(grid_size / (np.arange(1, grid_size + 1) - 0.5))
    theta = theta / (3 * x[int(n / 4 + 0.5) - 1]) + 1 / x[-1]
    k_grid = np.log1p(-theta[:, None] * x).mean(axis=1)
    profile = n * (np.log(-theta / k_grid) - k_grid - 1)
    posterior = np.exp(profile - profile.max())  # normalised profile likelihood
    theta_mean = float(np.sum(theta * posterior) / posterior.sum())
    shape = float(np.log1p(-theta_mean * x).mean())
    scale = -shape / theta_mean
    return (n * shape + 10 * 0.5) / (n + 10), scale


def pareto_smooth_weights(w: ArrayLike) -> tuple[NDArray[np.float64], float]:
    """Pareto-smoothed importance weights and the tail diagnostic :math:`\\hat k`.

    The largest :math:`M = \\lceil\\min(N/5, 3\\sqrt N)\\rceil` weights are
    replaced by the expected order statistics of a generalized Pareto law fitted
    to their excess over the next weight, and capped at the largest raw weight
    (Vehtari, Simpson, Gelman, Yao and Gabry, 2024). The fitted shape
    :math:`\\hat k` estimates the tail index of the weights: their moments of
    order below :math:`1/k` exist, so :math:`\\hat k > 1/2` warns that the
    variance is infinite and :math:`\\hat k > 0.7` (or
    :math:`1 - 1/\\log_{10}N` for small :math:`N`) that no weighting can be
    trusted.

    Parameters
    ----------
    w : array_like, shape (n,)
        Non-negative importance weights, not all zero; at least 25 of them, so
        that the tail holds five.

    Returns
    -------
    smoothed : numpy.ndarray, shape (n,)
        The weights with their tail smoothed (same scale as ``w``; the other
        weights unchanged).
    k_hat : float
        The fitted tail shape. When fewer than five weights exceed the
        threshold (ties at the top, as with equal weights) the tail is bounded:
        the weights are returned unchanged with ``k_hat = -inf``.

    Raises
    ------
    ValueError
        Weights not one-dimensional, non-finite, negative or all zero, or
        fewer than 25 of them.

    Notes
    -----
    Used in chapter 6, section "Taming heavy weights".
    """
    weights = _weights(w, "w")
    n = weights.size
    if n < 25:
        raise ValueError(f"w needs at least 25 weights for a tail fit, got {n}")
    tail_size = int(np.ceil(min(0.2 * n, 3 * np.sqrt(n))))
    scale = weights.max()
    scaled = weights / scale  # scale-free: the fit sees numbers in (0, 1]
    order = np.argsort(scaled, kind="stable")
    threshold = scaled[order[-tail_size - 1]]
    tail = order[-tail_size:][scaled[order[-tail_size:]] > threshold]
    if tail.size < 5:
        return weights.copy(), -np.inf
    k_hat, sigma = _generalized_pareto_fit(scaled[tail] - threshold)
    levels = (np.arange(tail.size) + 0.5) / tail.size
    if abs(k_hat) > 1e-12:
        quantiles = sigma * np.expm1(-k_hat * np.log1p(-levels)) / k_hat
    else:
        quantiles = -sigma * np.log1p(-levels)
    smoothed = weights.copy()  # the body is returned bit for bit
    smoothed[tail] = np.minimum(threshold + quantiles, 1.0) * scale  # capped at max w
    return smoothed, float(k_hat)
