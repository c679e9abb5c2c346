"""The Hilbert-Schmidt independence criterion, HSIC (chapter 4).

For kernels :math:`k` on the values of :math:`X` and :math:`l` on those of
:math:`Y`,

.. math::

    \\mathrm{HSIC}(X, Y) = \\mathbb{E}[k(x_1, x_2)\\, l(y_1, y_2)]
        + \\mathbb{E}[k(x_1, x_2)]\\,\\mathbb{E}[l(y_1, y_2)]
        - 2\\,\\mathbb{E}_{x_1, y_1}\\big[\\mathbb{E}_{x_2}[k(x_1, x_2)]\\,
          \\mathbb{E}_{y_2}[l(y_1, y_2)]\\big],

the three expectations running over two joint draws, four independent
marginal draws, and one joint draw plus two marginal ones (chapter 4,
eq. (13)). On a sample of size ``n`` with Gram matrices ``K`` and ``L`` this
module computes

* the biased (V-statistic) estimator ``HSIC_b = tr(K H L H) / n**2`` of
  Gretton et al. (2005), ``H = I - 1/n`` the centring matrix (chapter 4,
  eq. (16));
* the unbiased (U-statistic) estimator ``HSIC_u`` of Song et al. (2012);
* the block estimator of Zhang et al. (2018) for very large ``n``;
* permutation, gamma-approximation and block independence tests.

Conventions shared by every function:

* ``x`` is ``(n,)`` or ``(n, p)``, ``y`` is ``(n,)`` or ``(n, q)``; a 1-d
  array is one variable observed ``n`` times. Gram matrices are square,
  symmetric and of equal size.
* Centring is done by subtracting row, column and grand means in place: the
  matrix ``H`` is never formed and no ``n x n`` matrix product is computed, so
  time and memory are ``O(n**2)`` (``O(n * block_size)`` for the block
  estimator).
* Bad input (wrong shapes, NaN/inf, complex, string or object data, boolean
  Gram matrices, non-symmetric Gram matrices, too few samples, bandwidth <= 0,
  unknown names, flags that are not ``True``/``False``) raises
  :class:`ValueError` naming the argument. Booleans as data are read as 0 and 1.
* Every kernel is computed at unit scale: data are divided by a power of two
  (exact) and HSIC multiplied back, so results do not depend on the data's scale
  between 1e-300 and 1e300 (the Gaussian kernel with a median or scaled bandwidth
  is scale-free); a result beyond the float64 range raises instead of ``inf``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from lib._validation import finite_array, generator, positive_int, real
from lib._validation import flag as _check_flag

__all__ = [
    "HsicTestResult",
    "distance_kernel",
    "gaussian_kernel",
    "hsic",
    "hsic_exact",
    "hsic_gram",
    "hsic_linear_time",
    "hsic_test",
    "linear_kernel",
    "median_bandwidth",
]

Kernel = Literal["gaussian", "linear", "distance"]
Estimator = Literal["biased", "unbiased"]

_KERNELS = ("gaussian", "linear", "distance")
_ESTIMATORS = ("biased", "unbiased")
_METHODS = ("permutation", "gamma", "block")
#: Smallest sample size for each estimator (the unbiased one divides by n - 3).
_MIN_N = {"biased": 2, "unbiased": 4}
#: Rows per chunk when a check or a block computation walks an n x n array.
_ROWS_PER_CHUNK = 1024
#: Rows per block when a Gram matrix is built or centred in place (~1 MiB at n = 2000).
_CACHE_ROWS = 64
#: ``_unit_scale`` leaves data alone when its largest entry is within 2**+-500 of 1:
#: squared distances and products then stay far inside the float64 range.
_NO_RESCALE_WITHIN = 500
#: Blocks processed together by the block estimator (bounds its memory).
_BLOCKS_PER_CHUNK = 256
#: Most permutations ``hsic_test`` accepts: 10**6 resolves p-values to 1e-6, and each
#: costs one pass over an n x n matrix, so more is a slip (10**12 would run for days).
MAX_PERMUTATIONS = 1_000_000


# -- input validation -----------------------------------------------------------
def _as_samples(x: ArrayLike, name: str) -> NDArray[np.float64]:
    """Return ``x`` as a finite float array of shape (n, p).

    Booleans are read as 0 and 1 (indicator variables); complex, string and object
    input is refused rather than cut to its real part or parsed.
    """
    arr = finite_array(x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, p), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return arr


def _as_pair(x: ArrayLike, y: ArrayLike, min_n: int) -> tuple[NDArray[np.float64], ...]:
    xs, ys = _as_samples(x, "x"), _as_samples(y, "y")
    if xs.shape[0] != ys.shape[0]:
        raise ValueError(
            f"x and y must have the same number of samples, got {xs.shape[0]} and {ys.shape[0]}"
        )
    if xs.shape[0] < min_n:
        raise ValueError(f"need at least {min_n} samples, got {xs.shape[0]}")
    return xs, ys


def _check_gram(k: ArrayLike, name: str) -> NDArray[np.float64]:
    """Return ``k`` as a finite, square, symmetric float array (checked in row chunks)."""
    arr = finite_array(k, name, booleans=False)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) matrix, got shape {arr.shape}")
    n = arr.shape[0]
    if n == 0:
        raise ValueError(f"{name} is empty")
    scale = 0.0
    for start in range(0, n, _ROWS_PER_CHUNK):
        block = arr[start : start + _ROWS_PER_CHUNK]
        if not np.all(np.isfinite(block)):
            raise ValueError(f"{name} contains NaN or infinite values")
        scale = max(scale, float(np.max(np.abs(block))))
    tol = 1e-10 * max(scale, np.finfo(float).tiny)
    for start in range(0, n, _ROWS_PER_CHUNK):
        rows = arr[start : start + _ROWS_PER_CHUNK]
        cols = arr[:, start : start + _ROWS_PER_CHUNK].T
        if np.max(np.abs(rows - cols)) > tol:
            raise ValueError(f"{name} is not symmetric")
    return arr


def _unit_scale(
    a: NDArray[np.float64], *, in_place: bool = False
) -> tuple[NDArray[np.float64], int]:
    """``(a / 2**e, e)`` with ``max|a| / 2**e`` in ``[0.5, 1)`` (``e = 0`` for data whose
    largest entry is within ``2**+-500`` of 1): an exact rescaling.

    Every kernel here is homogeneous in the data (Gaussian of degree 0 once the
    bandwidth is scaled with it, distance of degree 1, linear of degree 2), so HSIC can
    be computed at unit scale and scaled back exactly: no squared distance or product
    overflows at 1e160 or underflows at 1e-170, and results on ordinary data are
    bit-identical (a power of two scales every rounding with it).
    """
    top = float(np.max(np.abs(a)))
    if top == 0.0:
        return a, 0
    e = math.frexp(top)[1]
    if abs(e) <= _NO_RESCALE_WITHIN:
        # ordinary scales need nothing, and halving would flush the smallest
        # subnormals to 0 (data [0, 1, 5e-324] would lose a distinct value)
        return a, 0
    return np.ldexp(a, -e, out=a if in_place else None), e


def _scale_back(value: float, exponent: int, what: str) -> float:
    """``value * 2**exponent`` exactly; a ValueError if that leaves the float64 range."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        raise ValueError(
            f"{what} is {value!r} * 2**{exponent}, beyond the float64 range: the "
            "data's scale is too large for this kernel (normalised HSIC is scale-free)"
        ) from None


def _check_bandwidth(bandwidth: float, name: str = "bandwidth") -> float:
    return real(bandwidth, name, positive=True)


def _check_rng(rng: object) -> np.random.Generator | None:
    return None if rng is None else generator(rng)


def _check_choice(value: str, options: tuple[str, ...], name: str) -> str:
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; expected one of {options}")
    return value


# -- kernels -------------------------------------------------------------------------
def _squared_distances(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pairwise squared Euclidean distances, one coordinate at a time (exact, no Gram trick)."""
    d2 = np.subtract.outer(x[:, 0], x[:, 0])
    np.square(d2, out=d2)
    for j in range(1, x.shape[1]):
        diff = np.subtract.outer(x[:, j], x[:, j])
        np.square(diff, out=diff)
        d2 += diff
    return d2


def _count_at_most(xs: NDArray[np.float64], t: float) -> NDArray[np.int64]:
    """For sorted ``xs``: per i, the first j with ``xs[j] - xs[i] > t`` (as floats).

    ``fl(xs[j] - xs[i])`` is non-decreasing in j, so this is a threshold; the
    ``searchsorted`` guess is corrected to the exact floating-point comparison.
    """
    n = xs.size
    i = np.arange(n)
    idx = np.maximum(np.searchsorted(xs, xs + t, side="right"), i + 1)
    while True:  # move right while the next difference is still <= t
        ok = idx < n
        step = ok & (xs[np.minimum(idx, n - 1)] - xs <= t)
        if not step.any():
            break
        idx += step
    while True:  # move left while the last counted difference is > t
        ok = idx > i + 1
        step = ok & (xs[np.maximum(idx - 1, 0)] - xs > t)
        if not step.any():
            break
        idx -= step
    return idx


def _kth_pair_difference(xs: NDArray[np.float64], k: int) -> float:
    """The k-th smallest (0-based) of ``xs[j] - xs[i]``, i < j, for sorted 1-d ``xs``.

    Bisection on the value with an O(n log n) count, then an exact selection
    among the few pairs left in the final interval: O(n log n) per step
    instead of O(n**2) for a selection on all pairs.
    """
    n = xs.size
    i = np.arange(n)
    lo, hi = -1.0, float(xs[-1] - xs[0])
    below = i + 1  # pairs with difference <= lo: none
    upper = _count_at_most(xs, hi)
    for _ in range(200):
        if int((upper - below).sum()) <= 8 * n:
            break
        mid = 0.5 * (lo + hi) if lo >= 0 else 0.5 * hi
        if not lo < mid < hi:
            break
        c = _count_at_most(xs, mid)
        if int((c - i - 1).sum()) > k:
            hi, upper = mid, c
        else:
            lo, below = mid, c
    counts = upper - below
    rows = np.repeat(i, counts)
    cols = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cols += np.repeat(below, counts)
    values = xs[cols] - xs[rows]
    r = k - int((below - i - 1).sum())
    return float(np.partition(values, r)[r])


def _median_of_squared(d2: NDArray[np.float64]) -> float:
    """Median of the off-diagonal distances sqrt(d2[i, j]), i < j, from the full matrix.

    The full matrix holds every pair twice and n zeros on the diagonal; since
    distances are >= 0, the sorted entries are the n zeros followed by the
    doubled pair list, whose two middle entries give the pair median.
    """
    n = d2.shape[0]
    m = n * (n - 1) // 2
    flat = d2.ravel()
    lo, hi = np.partition(flat, (n + m - 1, n + m))[[n + m - 1, n + m]]
    return float(0.5 * (np.sqrt(lo) + np.sqrt(hi)))


def _median_distance(x: NDArray[np.float64]) -> float:
    """Median of ``||x_i - x_j||``, i < j: O(n log n) for one column, O(n**2) otherwise."""
    if x.shape[1] > 1:
        return _median_of_squared(_squared_distances(x))
    xs = np.sort(x[:, 0])
    m = xs.size * (xs.size - 1) // 2
    if m % 2:
        return _kth_pair_difference(xs, m // 2)
    return 0.5 * (_kth_pair_difference(xs, m // 2 - 1) + _kth_pair_difference(xs, m // 2))


def median_bandwidth(
    x: ArrayLike, max_points: int = 2000, rng: np.random.Generator | None = None
) -> float:
    """Median pairwise distance, the bandwidth heuristic of Gretton et al.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, p)
        Samples (at least 2).
    max_points : int, default 2000
        At most this many rows are used: a random subset drawn with ``rng``
        when given, otherwise the first ``max_points`` rows.
    rng : numpy.random.Generator, optional
        Generator for the subset.

    Returns
    -------
    float
        Median of ``||x_i - x_j||`` over ``i < j``; must be positive.

    Notes
    -----
    Used as the default ``sigma`` of the Gaussian kernel, chapter 4, section
    "Testing independence". (hyppo's default bandwidth is ``sqrt(2)`` times
    this median, computed from ``x`` and used for both variables.)
    """
    return _median_bandwidth(_as_samples(x, "x"), max_points, rng, "x")


def _median_bandwidth(xs: NDArray[np.float64], max_points: int,
                      rng: np.random.Generator | None, name: str) -> float:
    """``median_bandwidth`` of validated samples; errors name the caller's ``name``."""
    max_points = positive_int(max_points, "max_points", minimum=2)
    rng = _check_rng(rng)
    if xs.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples, got {xs.shape[0]}")
    if xs.shape[0] > max_points:
        if rng is None:
            xs = xs[:max_points]
        else:
            xs = xs[rng.choice(xs.shape[0], size=max_points, replace=False)]
    unit, e = _unit_scale(xs)
    median = _median_distance(unit)
    if not median > 0:
        raise ValueError(
            f"median pairwise distance of {name} is 0 (too many repeated points)"
        )
    return math.ldexp(median, e)


def gaussian_kernel(x: ArrayLike, bandwidth: float) -> NDArray[np.float64]:
    """Gaussian Gram matrix ``exp(-||x_i - x_j||**2 / bandwidth**2)``.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, p)
    bandwidth : float
        ``sigma > 0`` in chapter 4, eq. (14) (no factor 2: the article's convention).

    Returns
    -------
    ndarray, shape (n, n)
    """
    xs = _as_samples(x, "x")
    b = _check_bandwidth(bandwidth)
    unit, e = _unit_scale(xs)
    d2 = _squared_distances(unit)
    d2 *= _minus_inverse_square(math.ldexp(b, -e))
    return np.exp(d2, out=d2)


def _minus_inverse_square(b: float) -> float:
    """``-1 / b**2`` for a bandwidth in unit-scale data, finite for every ``b > 0``.

    A bandwidth below ``sqrt(tiny)`` of the data's scale gives ``-1 / tiny`` instead of
    ``-inf``: every non-zero squared distance then still maps to ``exp(-huge) = 0`` and
    the zero ones to 1, without ``0 * inf = nan``.
    """
    return -1.0 / max(b * b, np.finfo(float).tiny)


def linear_kernel(x: ArrayLike) -> NDArray[np.float64]:
    """Linear Gram matrix ``<x_i, x_j>``; HSIC with it is a squared covariance (chapter 4, eq. (18)).

    Parameters
    ----------
    x : array_like, shape (n,) or (n, p)

    Returns
    -------
    ndarray, shape (n, n)
    """
    unit, e = _unit_scale(_as_samples(x, "x"))
    return _scale_gram_back(unit @ unit.T, 2 * e)


def _scale_gram_back(k: NDArray[np.float64], exponent: int) -> NDArray[np.float64]:
    """``k * 2**exponent`` in place; a ValueError naming ``x`` if an entry overflows."""
    with np.errstate(over="ignore"):  # an overflow is refused just below
        np.ldexp(k, exponent, out=k)
    if not np.all(np.isfinite(k)):
        raise ValueError("x is so large that its Gram matrix exceeds the float64 range")
    return k


def distance_kernel(x: ArrayLike) -> NDArray[np.float64]:
    """Distance-induced Gram matrix ``(||x_i|| + ||x_j|| - ||x_i - x_j||) / 2``.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, p)

    Returns
    -------
    ndarray, shape (n, n)

    Notes
    -----
    Chapter 4, section "Distance covariance is HSIC": centring removes the norm terms,
    so HSIC with this kernel is a quarter of the squared distance covariance
    (Sejdinovic et al. 2013).
    """
    xs, e = _unit_scale(_as_samples(x, "x"))  # degree 1: computed at unit scale
    norms = np.sqrt(np.sum(xs**2, axis=1))
    d = np.sqrt(_squared_distances(xs))
    d *= -0.5
    d += 0.5 * norms[:, None]
    d += 0.5 * norms[None, :]
    return _scale_gram_back(d, e)


def _gram(
    x: NDArray[np.float64], kernel: str, bandwidth: float | None, name: str
) -> tuple[NDArray[np.float64], int]:
    """Gram matrix of ``x`` at unit scale and the power of two it was divided by.

    The true Gram matrix is ``k * 2**exponent`` (``exponent`` 0 for the Gaussian kernel,
    ``e`` for the distance kernel and ``2e`` for the linear one; see ``_unit_scale``).
    """
    x, e = _unit_scale(x)
    if kernel == "linear":
        return x @ x.T, 2 * e
    if kernel == "distance":
        return distance_kernel(x), e
    if bandwidth is None:
        if x.shape[0] <= 2000:
            b = _median_distance(x)
            if not b > 0:
                raise ValueError(f"median pairwise distance of {name} is 0")
        else:
            b = _median_bandwidth(x, 2000, None, name)
    else:
        b = math.ldexp(_check_bandwidth(bandwidth, f"bandwidth_{name}"), -e)
    n = x.shape[0]
    k = np.empty((n, n))
    scale = _minus_inverse_square(b)
    for start in range(0, n, _CACHE_ROWS):  # row blocks: temporaries stay in cache
        block = k[start : start + _CACHE_ROWS]
        np.subtract.outer(x[start : start + _CACHE_ROWS, 0], x[:, 0], out=block)
        np.square(block, out=block)
        for j in range(1, x.shape[1]):
            diff = np.subtract.outer(x[start : start + _CACHE_ROWS, j], x[:, j])
            block += np.square(diff, out=diff)
        block *= scale
        np.exp(block, out=block)
    return k, 0


# -- estimators --------------------------------------------------------------------
def _centre(k: NDArray[np.float64], unbiased: bool) -> NDArray[np.float64]:
    """Centre a symmetric Gram matrix in place: ``H K H`` (V) or the U-centred matrix.

    U-centring (used for ``HSIC_u``) zeroes the diagonal, subtracts row sums
    divided by ``n - 2`` and adds the total divided by ``(n - 1)(n - 2)``.
    """
    n = k.shape[0]
    if unbiased:
        np.fill_diagonal(k, 0.0)
        rows = k.sum(axis=1)
        shift = rows.sum() / ((n - 1) * (n - 2))
        rows /= n - 2
    else:
        rows = k.mean(axis=1)
        shift = rows.mean()
    cols = shift - rows  # K_ij - r_i - r_j + shift, one cache-sized row block at a time
    for start in range(0, n, _CACHE_ROWS):
        block = k[start : start + _CACHE_ROWS]
        block -= rows[start : start + _CACHE_ROWS, None]
        block += cols[None, :]
    if unbiased:
        np.fill_diagonal(k, 0.0)
    return k


def _inner(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """``sum(a * b)`` by cache-sized row blocks with pairwise summation (no BLAS threads)."""
    rows = max(1, _CACHE_ROWS * 2048 // max(a.shape[1], 1))
    buf = np.empty((min(rows, a.shape[0]), a.shape[1]))
    total = 0.0
    for start in range(0, a.shape[0], rows):
        stop = min(start + rows, a.shape[0])
        out = buf[: stop - start]
        np.multiply(a[start:stop], b[start:stop], out=out)
        total += float(out.sum())
    return total


def _hsic_centred(kc: NDArray[np.float64], lc: NDArray[np.float64], unbiased: bool) -> float:
    n = kc.shape[0]
    return _inner(kc, lc) / (n * (n - 3) if unbiased else n * n)


def _normalised(kc: NDArray[np.float64], lc: NDArray[np.float64], unbiased: bool) -> float:
    kk, ll = _hsic_centred(kc, kc, unbiased), _hsic_centred(lc, lc, unbiased)
    if not (kk > 0 and ll > 0):
        raise ValueError(
            "normalised HSIC is undefined: HSIC(K, K) or HSIC(L, L) is not positive "
            "(constant data?)"
        )
    return _hsic_centred(kc, lc, unbiased) / float(np.sqrt(kk * ll))


def hsic_gram(
    K: ArrayLike,
    L: ArrayLike,
    *,
    estimator: Estimator = "biased",
    normalize: bool = False,
) -> float:
    """HSIC from Gram matrices.

    Parameters
    ----------
    K, L : array_like, shape (n, n)
        Symmetric Gram matrices of ``x`` and ``y`` (not modified).
    estimator : {"biased", "unbiased"}
        ``"biased"``: ``tr(K H L H) / n**2`` (Gretton et al. 2005), chapter 4,
        eq. (16); the article's eq. (17) is this times ``n**2 / (n-1)**2``.
        ``"unbiased"``: the U-statistic of Song et al. (2012), chapter 4,
        section "Biased and unbiased estimators".
    normalize : bool
        Return ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``.

    Returns
    -------
    float
    """
    _check_choice(estimator, _ESTIMATORS, "estimator")
    normalize = _check_flag(normalize, "normalize")
    # _check_gram returns new arrays: K and L themselves are never modified
    kc, ek = _unit_scale(_check_gram(K, "K"), in_place=True)
    lc, el = _unit_scale(_check_gram(L, "L"), in_place=True)
    if kc.shape != lc.shape:
        raise ValueError(f"K and L must have the same shape, got {kc.shape} and {lc.shape}")
    if kc.shape[0] < _MIN_N[estimator]:
        raise ValueError(f"the {estimator} estimator needs n >= {_MIN_N[estimator]}")
    unbiased = estimator == "unbiased"
    _centre(kc, unbiased)
    _centre(lc, unbiased)
    if normalize:
        return _normalised(kc, lc, unbiased)
    return _scale_back(_hsic_centred(kc, lc, unbiased), ek + el, "HSIC")


def hsic(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel: Kernel = "gaussian",
    bandwidth_x: float | None = None,
    bandwidth_y: float | None = None,
    estimator: Estimator = "biased",
    normalize: bool = False,
) -> float:
    """HSIC of a sample ``(x_i, y_i)``.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, p)
    y : array_like, shape (n,) or (n, q)
    kernel : {"gaussian", "linear", "distance"}
        The same kernel family for both variables.
    bandwidth_x, bandwidth_y : float, optional
        Gaussian bandwidths ``sigma`` in ``exp(-d**2 / sigma**2)``; ``None``
        uses the median pairwise distance (:func:`median_bandwidth`).
    estimator : {"biased", "unbiased"}
        See :func:`hsic_gram`.
    normalize : bool
        See :func:`hsic_gram`.

    Returns
    -------
    float

    Notes
    -----
    Derived in chapter 4, eqs. (13)-(17). Time and memory ``O(n**2 (p + q))``;
    the Gram matrices are centred in place, no ``n x n`` product is formed.
    """
    _check_choice(kernel, _KERNELS, "kernel")
    _check_choice(estimator, _ESTIMATORS, "estimator")
    xs, ys = _as_pair(x, y, _MIN_N[estimator])
    if kernel != "gaussian" and (bandwidth_x is not None or bandwidth_y is not None):
        raise ValueError(f"bandwidths only apply to the gaussian kernel, not {kernel!r}")
    normalize = _check_flag(normalize, "normalize")
    unbiased = estimator == "unbiased"
    k, ek = _gram(xs, kernel, bandwidth_x, "x")
    l, el = _gram(ys, kernel, bandwidth_y, "y")
    kc, lc = _centre(k, unbiased), _centre(l, unbiased)
    if normalize:
        return _normalised(kc, lc, unbiased)
    return _scale_back(_hsic_centred(kc, lc, unbiased), ek + el, "HSIC")


def hsic_exact(
    K: Sequence[Sequence[Fraction | int]],
    L: Sequence[Sequence[Fraction | int]],
    estimator: Estimator = "biased",
) -> Fraction:
    """HSIC_b or HSIC_u in exact rational arithmetic, for small Gram matrices.

    Parameters
    ----------
    K, L : sequences of sequences of Fraction or int, shape (n, n)
        Symmetric Gram matrices.
    estimator : {"biased", "unbiased"}
        ``tr(K H L H) / n**2``, or Song et al.'s
        ``[tr(K~L~) + 1'K~1 1'L~1/((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3))``
        with ``K~``, ``L~`` the Gram matrices with zeroed diagonals.

    Returns
    -------
    fractions.Fraction

    Notes
    -----
    Used in chapter 4, section "Biased and unbiased estimators", to average
    both estimators over every sample of a small size exactly.
    """
    _check_choice(estimator, _ESTIMATORS, "estimator")
    k, l = _exact_matrix(K, "K"), _exact_matrix(L, "L")
    n = len(k)
    if n < _MIN_N[estimator] or len(l) != n:
        raise ValueError(f"K and L must be square, of equal size >= {_MIN_N[estimator]}")
    if any(k[i][j] != k[j][i] or l[i][j] != l[j][i] for i in range(n) for j in range(n)):
        raise ValueError("K and L must be symmetric")
    if estimator == "unbiased":
        for i in range(n):
            k[i][i] = l[i][i] = Fraction(0)
    trace = sum(k[i][j] * l[j][i] for i in range(n) for j in range(n))
    rk = [sum(row) for row in k]
    rl = [sum(row) for row in l]
    cross = sum(a * b for a, b in zip(rk, rl))
    if estimator == "biased":
        return (trace - 2 * cross / n + sum(rk) * sum(rl) / n**2) / n**2
    return (trace + sum(rk) * sum(rl) / ((n - 1) * (n - 2)) - 2 * cross / (n - 2)) / (
        n * (n - 3)
    )


def _exact_matrix(m: object, name: str) -> list[list[Fraction]]:
    """A square matrix of ints, Fractions or finite floats as Fractions (exactly)."""
    try:
        rows = [list(row) for row in m]  # type: ignore[union-attr]
    except TypeError:
        raise ValueError(f"{name} must be a square sequence of sequences") from None
    if any(len(row) != len(rows) for row in rows):
        raise ValueError(f"{name} must be square")
    out = []
    for row in rows:
        for v in row:
            exact = isinstance(v, (int, Fraction, np.integer)) or (
                isinstance(v, (float, np.floating)) and np.isfinite(v)
            )
            if not exact or isinstance(v, (bool, np.bool_)):
                raise ValueError(
                    f"{name} must hold ints, Fractions or finite floats, got {v!r}"
                )
        out.append([Fraction(int(v)) if isinstance(v, np.integer) else Fraction(v)
                    for v in row])
    return out


# -- block estimator ---------------------------------------------------------------
def _block_gaussian(xb: NDArray[np.float64], b: float) -> NDArray[np.float64]:
    """Gaussian Gram matrices of a stack of blocks, shape (m, B, p) -> (m, B, B)."""
    d2 = np.zeros((xb.shape[0], xb.shape[1], xb.shape[1]))
    for j in range(xb.shape[2]):
        diff = xb[:, :, None, j] - xb[:, None, :, j]
        d2 += diff * diff
    d2 *= _minus_inverse_square(b)
    return np.exp(d2, out=d2)


def _block_unbiased(k: NDArray[np.float64], l: NDArray[np.float64]) -> NDArray[np.float64]:
    """HSIC_u of each block from stacked Gram matrices (m, B, B), by U-centring."""
    nb = k.shape[1]
    idx = np.arange(nb)
    out = []
    for g in (k, l):
        g[:, idx, idx] = 0.0
        rows = g.sum(axis=2)
        total = rows.sum(axis=1)
        g -= rows[:, :, None] / (nb - 2)
        g -= rows[:, None, :] / (nb - 2)
        g += (total / ((nb - 1) * (nb - 2)))[:, None, None]
        g[:, idx, idx] = 0.0
        out.append(g)
    return np.einsum("mij,mij->m", out[0], out[1]) / (nb * (nb - 3))


def hsic_linear_time(
    x: ArrayLike,
    y: ArrayLike,
    *,
    block_size: int = 100,
    bandwidth_x: float | None = None,
    bandwidth_y: float | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Block estimator of HSIC (Zhang, Filippi, Gretton & Sejdinovic 2018).

    The sample is cut into ``n // block_size`` disjoint blocks (the last
    ``n % block_size`` points are dropped); ``HSIC_u`` of each block is an
    unbiased estimate of HSIC, and their mean is returned with its standard
    error (sample standard deviation of the block values / sqrt(#blocks)).

    Parameters
    ----------
    x : array_like, shape (n,) or (n, p)
    y : array_like, shape (n,) or (n, q)
    block_size : int, default 100
        At least 4; ``n`` must hold at least two blocks.
    bandwidth_x, bandwidth_y : float, optional
        Gaussian bandwidths; ``None`` uses :func:`median_bandwidth` (at most
        2000 points, subsampled with ``rng``).
    rng : numpy.random.Generator, optional
        If given, the sample is shuffled before blocking.

    Returns
    -------
    estimate, standard_error : float

    Notes
    -----
    Chapter 4, section "Large samples". Time ``O(n * block_size)``; memory
    ``O(n + 256 * block_size**2)``: blocks are processed in chunks of 256.
    """
    block_size = positive_int(block_size, "block_size", minimum=4)
    rng = _check_rng(rng)
    xs, ys = _as_pair(x, y, 4)
    if xs.shape[0] < 2 * block_size:
        raise ValueError(
            f"block_size={block_size} needs at least 2 * block_size samples, "
            f"got {xs.shape[0]}"
        )
    # at unit scale (see _unit_scale); the Gaussian kernel is invariant, so the
    # estimate needs no scaling back
    (xs, ex), (ys, ey) = _unit_scale(xs), _unit_scale(ys)
    bx = (
        _median_bandwidth(xs, 2000, rng, "x")
        if bandwidth_x is None
        else math.ldexp(_check_bandwidth(bandwidth_x, "bandwidth_x"), -ex)
    )
    by = (
        _median_bandwidth(ys, 2000, rng, "y")
        if bandwidth_y is None
        else math.ldexp(_check_bandwidth(bandwidth_y, "bandwidth_y"), -ey)
    )
    n = xs.shape[0]
    if rng is not None:
        order = rng.permutation(n)
        xs, ys = xs[order], ys[order]
    m = n // block_size
    xb = xs[: m * block_size].reshape(m, block_size, xs.shape[1])
    yb = ys[: m * block_size].reshape(m, block_size, ys.shape[1])
    values = np.empty(m)
    for start in range(0, m, _BLOCKS_PER_CHUNK):
        stop = min(start + _BLOCKS_PER_CHUNK, m)
        values[start:stop] = _block_unbiased(
            _block_gaussian(xb[start:stop], bx), _block_gaussian(yb[start:stop], by)
        )
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(m))


# -- tests -------------------------------------------------------------------------
@dataclass(frozen=True)
class HsicTestResult:
    """Outcome of :func:`hsic_test`.

    ``statistic`` is ``n * HSIC_b`` (permutation and gamma) or the z-score
    ``estimate / standard_error`` (block); ``null`` holds the permutation
    statistics; ``gamma_shape`` and ``gamma_scale`` the fitted gamma law.
    """

    statistic: float
    p_value: float
    null: NDArray[np.float64] | None = None
    gamma_shape: float | None = None
    gamma_scale: float | None = None


def _gamma_fit(kc: NDArray[np.float64], lc: NDArray[np.float64], k_diag_mean: float,
               l_diag_mean: float, mu_x: float, mu_y: float) -> tuple[float, float]:
    """Gamma shape and scale matching the null mean and variance of ``n * HSIC_b``.

    Gretton et al. (2008): mean ``(tr K/n - mu_x)(tr L/n - mu_y)/n`` for HSIC_b,
    ``mu`` the off-diagonal means; variance from the centred Gram matrices.
    """
    n = kc.shape[0]
    mean = (k_diag_mean - mu_x) * (l_diag_mean - mu_y) / n
    v = (kc * lc / 6.0) ** 2
    v_off = (v.sum() - np.trace(v)) / (n * (n - 1))
    var = 72.0 * (n - 4) * (n - 5) / (n * (n - 1) * (n - 2) * (n - 3)) * v_off
    if not (mean > 0 and var > 0):
        raise ValueError("gamma approximation undefined: null mean or variance is not positive")
    return mean**2 / var, var * n / mean


def hsic_test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    method: Literal["permutation", "gamma", "block"] = "permutation",
    num_permutations: int = 1000,
    rng: np.random.Generator | None = None,
    **kernel_args: Any,
) -> HsicTestResult:
    """Test ``H0: X and Y independent`` with HSIC.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, p)
    y : array_like, shape (n,) or (n, q)
    method : {"permutation", "gamma", "block"}
        ``"permutation"``: p = (1 + #{T_b >= T}) / (1 + B) over ``B``
        permutations of ``y`` (Phipson & Smyth 2010), T = n HSIC_b.
        ``"gamma"``: the gamma approximation of Gretton et al. (2008) to the
        null law of ``n HSIC_b`` (n >= 6). ``"block"``: one-sided z-test on
        :func:`hsic_linear_time`.
    num_permutations : int, default 1000
        From 1 to ``MAX_PERMUTATIONS`` = 10**6.
    rng : numpy.random.Generator, optional
        Required by the permutation test; optional shuffle for the block test.
    **kernel_args
        ``kernel``, ``bandwidth_x``, ``bandwidth_y`` as in :func:`hsic`
        (``block_size`` and bandwidths for the block test).

    Returns
    -------
    HsicTestResult

    Notes
    -----
    Chapter 4, section "Testing independence".
    """
    _check_choice(method, _METHODS, "method")
    if method == "block":
        allowed = {"block_size", "bandwidth_x", "bandwidth_y"}
    else:
        allowed = {"kernel", "bandwidth_x", "bandwidth_y"}
    unknown = set(kernel_args) - allowed
    if unknown:
        raise ValueError(f"unknown arguments for method {method!r}: {sorted(unknown)}")
    if method == "block":
        est, se = hsic_linear_time(x, y, rng=rng, **kernel_args)
        if not se > 0:
            raise ValueError("block standard error is 0: cannot form a z-score")
        z = est / se
        return HsicTestResult(statistic=float(z), p_value=float(stats.norm.sf(z)))
    kernel = _check_choice(kernel_args.get("kernel", "gaussian"), _KERNELS, "kernel")
    bw_x, bw_y = kernel_args.get("bandwidth_x"), kernel_args.get("bandwidth_y")
    if kernel != "gaussian" and (bw_x is not None or bw_y is not None):
        raise ValueError(f"bandwidths only apply to the gaussian kernel, not {kernel!r}")
    xs, ys = _as_pair(x, y, 6 if method == "gamma" else 2)
    n = xs.shape[0]
    (k, ek), (l, el) = _gram(xs, kernel, bw_x, "x"), _gram(ys, kernel, bw_y, "y")
    # statistics are computed at unit scale; T, the null draws and the gamma scale are
    # multiplied back by 2**(ek + el) (p-values and the gamma shape are invariant)
    if method == "gamma":
        kd, ld = float(np.trace(k)) / n, float(np.trace(l)) / n
        mu_x = (float(k.sum()) - n * kd) / (n * (n - 1))
        mu_y = (float(l.sum()) - n * ld) / (n * (n - 1))
        kc, lc = _centre(k, False), _centre(l, False)
        stat = n * _hsic_centred(kc, lc, False)
        shape, scale = _gamma_fit(kc, lc, kd, ld, mu_x, mu_y)
        p = float(stats.gamma.sf(stat, shape, scale=scale))
        return HsicTestResult(
            _scale_back(stat, ek + el, "the statistic"), p, gamma_shape=float(shape),
            gamma_scale=_scale_back(float(scale), ek + el, "the gamma scale"),
        )
    if rng is None:
        raise ValueError("the permutation test needs a seeded rng (numpy.random.Generator)")
    rng = generator(rng)
    num_permutations = positive_int(
        num_permutations, "num_permutations", maximum=MAX_PERMUTATIONS
    )
    kc, lc = _centre(k, False), _centre(l, False)
    stat = n * _hsic_centred(kc, lc, False)
    null = np.empty(num_permutations)
    for b in range(num_permutations):
        perm = rng.permutation(n)
        null[b] = _inner(kc, lc[np.ix_(perm, perm)]) / n
    p = (1.0 + np.count_nonzero(null >= stat)) / (1.0 + num_permutations)
    return HsicTestResult(
        _scale_back(stat, ek + el, "the statistic"), float(p), null=np.ldexp(null, ek + el)
    )
