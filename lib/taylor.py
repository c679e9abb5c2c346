"""Even Taylor polynomials of the exponential and Taylor softmax (chapter 8).

The degree-``n`` Taylor polynomial of :math:`e^x` at 0,

.. math::

    f_n(x) = \\sum_{k=0}^{n} \\frac{x^k}{k!},

is strictly positive on the whole real line when ``n`` is even, and has a single
critical point there, its global minimum :math:`x_n^*` (the unique real root of
:math:`f_{n-1}`), with :math:`f_n(x_n^*) = (x_n^*)^n / n!`. It can therefore
replace :math:`e^x` in softmax ("Taylor softmax"), optionally made monotone by
holding it constant left of the minimiser.

Conventions shared by every function:

* ``n`` is a Python or NumPy integer (``bool`` and floats, even ``2.0``, raise
  :class:`ValueError`), at most ``MAX_ORDER = 170``. Functions that need a positive
  polynomial require an even ``n >= 2``.
* ``x`` is array-like of real numbers; NaN and +-inf raise :class:`ValueError`.
  Results are float64 arrays of the broadcast shape (a 0-d input gives a NumPy float).
"""

from __future__ import annotations

import math
from functools import lru_cache

import mpmath
import numpy as np
from numpy.typing import ArrayLike, NDArray

from lib._validation import MAX_SIZE, flag, positive_int

__all__ = [
    "expected_calibration_error",
    "fit_linear_classifier",
    "monotone_taylor_exp",
    "taylor_cross_entropy",
    "taylor_exp",
    "taylor_minimum",
    "taylor_softmax",
]


#: Largest order accepted: the remainder form in ``taylor_exp`` stays inside the float64
#: range up to about n = 190, and ``taylor_softmax`` needs ``n!`` (171! overflows).
MAX_ORDER = 170


def _check_order(n: object, *, even: bool) -> int:
    """Validate a polynomial order; return it as a Python int."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"n must be an integer, got {n!r} of type {type(n).__name__}")
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n > MAX_ORDER:
        raise ValueError(f"n must be <= {MAX_ORDER} (float64 range), got {n}")
    if even and (n < 2 or n % 2):
        raise ValueError(f"n must be an even integer >= 2 (f_n > 0 only then), got {n}")
    return n


def _check_real(
    x: ArrayLike, name: str = "x", *, check_finite: bool = True
) -> NDArray[np.float64]:
    """Convert to a float64 array, rejecting non-real dtypes and non-finite values."""
    arr = np.asarray(x)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must contain real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if check_finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def taylor_exp(x: ArrayLike, n: int) -> np.float64 | NDArray[np.float64]:
    """Evaluate the Taylor polynomial ``f_n(x) = sum_{k=0}^n x**k / k!`` of exp at 0.

    Parameters
    ----------
    x : array_like
        Real, finite points.
    n : int
        Order, ``0 <= n <= 170`` (any parity).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``f_n(x)``, same shape as ``x``.

    Raises
    ------
    ValueError
        If ``n`` is not an integer in ``[0, 170]``, ``x`` is not real and finite, or
        ``|f_n(x)|`` exceeds the float64 range.

    Notes
    -----
    Defined in chapter 8, section "The theorem", eq. (1). Two evaluations, each used
    where it is accurate (chapter 8, section "How far out, and where float64 stops"):

    * Horner's rule in the nested form ``1 + x (1 + x/2 (1 + ... (1 + x/n)))``. Each
      step rounds three times, so the relative error is at most about ``3 n eps
      kappa`` with ``kappa = f_n(|x|) / |f_n(x)|``. That is small for ``x >= 0``,
      for ``x <= -2n`` (the top terms dominate: ``kappa <= 4``) and, for even ``n``,
      right of ``-1/2`` (``f_n(x) >= e^x`` gives ``kappa <= e^{2|x|} <= e``); for
      ``n <= 2`` it is at most 5.9 everywhere.
    * Between, for ``n >= 3`` and ``-2n < x < -1/2``, where ``kappa`` grows like
      ``e^{2|x|}`` and Horner loses every digit near the minimiser from about
      ``n = 70``, the remainder form ``f_n(x) = e^x (1 + (-1)^n T)`` with
      ``T = sum_{k>=0} |x|^{n+1+k} / (n! k! (n+1+k))``, a sum of positive terms
      (bounded: at most ``4n + 57`` terms). For even ``n`` its relative error is a
      few dozen ``eps`` at most up to ``n = 170``; for odd ``n`` it is as accurate as
      the cancellation in ``1 - T`` near the real zero allows.

    Where ``|f_n(x)|`` exceeds the float64 range (``|x|`` far above ``n``, e.g.
    ``x = 1e300``) a ValueError says so instead of returning ``inf``.

    Examples
    --------
    >>> float(taylor_exp(-2.0, 1)), float(taylor_exp(-1.0, 2))
    (-1.0, 0.5)
    """
    n = _check_order(n, even=False)
    arr = _check_real(x)
    flat = arr.reshape(-1)
    result = np.ones_like(flat)
    with np.errstate(over="ignore", invalid="ignore"):  # out of range: refused below
        for j in range(n, 0, -1):
            result = 1.0 + result * flat / j
    inside = _remainder_region(flat, n)
    if np.any(inside):
        result[inside] = _remainder_form(flat[inside], n)
    if not np.all(np.isfinite(result)):
        worst = float(flat[~np.isfinite(result)][0])
        raise ValueError(
            f"x holds {worst!r}, where f_{n}(x) exceeds the float64 range (about 1.8e308)"
        )
    return result.reshape(arr.shape)[()]


#: Horner's rule is used right of this point (and left of -2n); see ``taylor_exp``.
_HORNER_FROM = -0.5


def _remainder_region(arr: NDArray[np.float64], n: int) -> NDArray[np.bool_]:
    """Where Horner's rule is ill-conditioned and the remainder form is used."""
    return (arr < _HORNER_FROM) & (arr > -2.0 * n) & (n >= 3)


def _remainder_form(x: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``f_n(x)`` for ``-2n <= x < 0`` as ``e^x (1 + (-1)^n T)``, ``T`` a positive sum.

    Taylor's remainder ``e^x - f_n(x) = (1/n!) int_0^x e^{x-u} u^n du``, with
    ``e^{-u}`` expanded and integrated term by term, gives ``T = sum_k t_k``,
    ``t_k = a^{n+1+k} / (n! k! (n+1+k))`` for ``a = -x`` (chapter 8, section "How far
    out, and where float64 stops"). ``t_0 = a^{n+1} / (n+1)!`` is formed as a product
    (no factorial, no overflow for ``n <= 170``) and ``t_k / t_{k-1} = a (n+k) / (k
    (n+k+1))``. Once ``k >= 2a`` each term is below half the one before, so the tail
    is below twice the last term: the loop stops there as soon as that term is below
    ``2^-56 T``, and since every term is at most ``T``, by ``k = 2a + 57`` at the latest.
    """
    a = -x
    term = np.ones_like(a)
    for j in range(1, n + 2):
        term *= a / j
    total = term.copy()
    a_max = float(np.max(a))
    for k in range(1, math.ceil(2.0 * a_max) + 58):
        term *= a * ((n + k) / (k * (n + k + 1.0)))
        total += term
        if k >= 2.0 * a_max and np.all(term <= 2.0**-56 * total):
            break
    return np.exp(x) * (1.0 + total if n % 2 == 0 else 1.0 - total)


@lru_cache(maxsize=256)
def _minimum_mp(n: int) -> tuple[mpmath.mpf, mpmath.mpf]:
    """High-precision ``(x_n*, f_n(x_n*))`` by bracketed root finding on f_{n-1}."""
    # Near the root the terms of f_{n-1} reach about e^{0.28 n}: keep extra digits.
    dps = 30 + n // 4
    with mpmath.workdps(dps):
        coeffs = [mpmath.mpf(1) / mpmath.factorial(k) for k in range(n + 1)]

        def f(m: int, t: mpmath.mpf) -> mpmath.mpf:
            return mpmath.polyval(coeffs[m::-1], t)

        # f_{n-1} is increasing with f_{n-1}(0) = 1 > 0 and f_{n-1}(-n) < 0.
        lo, hi = mpmath.mpf(-n), mpmath.mpf(0)
        if not f(n - 1, lo) < 0:  # pragma: no cover - guaranteed by the lemma
            raise RuntimeError("root bracket failed")
        # Bisection to a narrow bracket, then Newton (f_{n-1}' = f_{n-2} > 0).
        for _ in range(60):
            mid = (lo + hi) / 2
            if f(n - 1, mid) < 0:
                lo = mid
            else:
                hi = mid
        root = (lo + hi) / 2
        tol = mpmath.mpf(10) ** (-(dps - 5))
        for _ in range(100):
            step = f(n - 1, root) / f(n - 2, root)
            root -= step
            if abs(step) < tol:
                break
        return +root, +f(n, root)


def taylor_minimum(n: int) -> tuple[float, float]:
    """Minimiser ``x_n*`` and minimum ``f_n(x_n*)`` of an even-order Taylor polynomial.

    Parameters
    ----------
    n : int
        Even order ``n >= 2``.

    Returns
    -------
    (float, float)
        ``x_n*`` (negative) and ``f_n(x_n*)`` (positive), correctly rounded to
        float64 from a high-precision (mpmath) computation.

    Raises
    ------
    ValueError
        If ``n`` is not an even integer ``>= 2``.

    Notes
    -----
    Derived in chapter 8, section "A single minimum": ``f_n' = f_{n-1}`` is
    strictly increasing (its derivative ``f_{n-2}`` is positive), so it has one
    real root, the unique critical point of ``f_n``. The root is bracketed in
    ``[-n, 0]``, narrowed by bisection and polished by Newton's method in
    ``30 + n // 4`` digits; ``f_n`` is then evaluated as its full sum.

    Examples
    --------
    >>> taylor_minimum(2)
    (-1.0, 0.5)
    """
    n = _check_order(n, even=True)
    root, value = _minimum_mp(n)
    return float(root), float(value)


def monotone_taylor_exp(x: ArrayLike, n: int) -> np.float64 | NDArray[np.float64]:
    """The monotone truncation ``f~_n(x) = f_n(max(x, x_n*))`` of eq. (6).

    Parameters
    ----------
    x : array_like
        Real, finite points.
    n : int
        Even order ``n >= 2``.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``f_n(x)`` for ``x > x_n*`` and the minimum ``f_n(x_n*)`` otherwise:
        continuous, non-decreasing and positive.

    Raises
    ------
    ValueError
        If ``n`` is not an even integer ``>= 2`` or ``x`` is not real and finite.

    Notes
    -----
    Derived in chapter 8, section "Keeping it monotone", eq. (6).
    """
    n = _check_order(n, even=True)
    arr = _check_real(x)
    x_star, f_star = taylor_minimum(n)
    # f_n >= f_n(x_n*) everywhere: a rounded value below the minimum is raised to it
    value = np.maximum(taylor_exp(arr, n), f_star)
    result = np.where(arr > x_star, value, f_star)
    return result[()] if result.ndim == 0 else result


def _monic_scaled(arr: NDArray[np.float64], n: int, inv: NDArray[np.float64] | float
                  ) -> NDArray[np.float64]:
    """``n! f_n(arr) * inv**n`` by Horner's rule on ``y = arr * inv``, without overflow.

    With ``t = inv`` the polynomial is ``sum_k (n!/k!) t**(n-k) y**k``; for ``inv <=
    1/max|arr|`` every ``|y| <= 1`` and every coefficient is at most ``n!`` (chapter 8,
    section "Taylor softmax").
    """
    y = arr * inv
    coeff = float(n) * inv  # (n!/k!) t**(n-k), k = n - 1
    u = y + coeff
    for k in range(n - 2, -1, -1):
        coeff = coeff * ((k + 1) * inv)
        u *= y
        u += coeff
    return u


#: Largest ``max_iter`` of ``fit_linear_classifier``: L-BFGS-B stops long before on
#: every problem in the book; a larger count is a slip, not a need.
MAX_FIT_ITERATIONS = 1_000_000

#: Largest order ``taylor_softmax`` accepts (``MAX_ORDER`` less a margin: its plain
#: branch multiplies ``n!`` by polynomial values).
MAX_SOFTMAX_ORDER = 150


def taylor_softmax(
    x: ArrayLike, n: int = 2, axis: int = -1, *, monotone: bool = False
) -> NDArray[np.float64]:
    """Taylor softmax ``f_n(x_i) / sum_k f_n(x_k)`` along ``axis`` (eq. (5)).

    Parameters
    ----------
    x : array_like
        Real, finite logits with at least one dimension and a non-empty ``axis``.
    n : int, default 2
        Even order ``2 <= n <= 150`` (even, so that every ``f_n(x_i) > 0``).
    axis : int, default -1
        Axis along which the probabilities sum to one.
    monotone : bool, default False
        Use the monotone ``f~_n`` of eq. (6) instead of ``f_n``.

    Returns
    -------
    numpy.ndarray
        Probabilities (float64), same shape as ``x``, summing to 1 along ``axis``;
        positive except where the exact value is below the float64 range.

    Raises
    ------
    ValueError
        If ``n`` is not an even integer in ``[2, 150]``, ``x`` is not real and
        finite, is 0-d or empty along ``axis``, or ``axis`` is out of range.

    Notes
    -----
    Derived in chapter 8, section "Taylor softmax". The common factor ``n!``
    cancels in the ratio, so the code evaluates the monic polynomial
    ``g(x) = n! f_n(x) = sum_k (n!/k!) x**k`` by Horner's rule (``2n - 1``
    vectorised operations, the leading coefficient being 1).

    Unlike softmax, the map is not shift-invariant, so max-subtraction does not
    apply. When ``g`` could overflow (very large ``|x|``), each slice is divided
    by ``s**n`` with ``s = max_k |x_k|``: with ``y = x / s`` and ``t = 1 / s``,
    ``g(x) / s**n = sum_k (n!/k!) t**(n-k) y**k`` has every coefficient and
    every ``|y|`` at most ``n!`` and 1, so nothing overflows, and the largest
    entry keeps a value of order 1, so the normaliser never underflows.

    Horner's rule cancels badly for logits between ``-2n`` and ``-1/2`` when
    ``n >= 4`` (``taylor_exp``, Notes); there each entry is ``n! f_n(x) / s**n`` with
    ``f_n`` from the remainder form, so the probabilities are accurate to a few dozen
    ``eps`` (relative) at every accepted order.

    Examples
    --------
    >>> taylor_softmax([0.0, 0.0]).tolist()
    [0.5, 0.5]
    """
    n = _check_order(n, even=True)
    if n > MAX_SOFTMAX_ORDER:
        raise ValueError(f"n must be <= {MAX_SOFTMAX_ORDER}, got {n}")
    monotone = flag(monotone, "monotone")
    arr = _check_real(x, check_finite=False)
    if arr.ndim == 0:
        raise ValueError("x must have at least one dimension")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"axis must be an integer, got {axis!r}")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis {axis} is out of range for an array of dimension {arr.ndim}")
    if arr.shape[axis] == 0:
        raise ValueError("x is empty along axis: no probabilities to normalise")
    if arr.size == 0:
        return arr.copy()
    if monotone:  # clamp first: the scale below must be that of the clamped logits
        arr = np.maximum(arr, taylor_minimum(n)[0])
    # max |x| per slice without a temporary |x|; NaN and inf propagate into it.
    scale = np.maximum(
        np.max(arr, axis=axis, keepdims=True), -np.min(arr, axis=axis, keepdims=True)
    )
    if not np.all(np.isfinite(scale)):
        raise ValueError("x contains NaN or infinite values")
    # |g(x)| <= n! (1 + |x|)**n: the plain Horner rule is safe while the row sums
    # stay far below the float64 maximum (about e**709).
    biggest = float(np.max(scale))
    safe = math.lgamma(n + 1) + n * math.log1p(biggest) + math.log(arr.shape[axis]) < 600.0
    if safe:
        u = arr + float(n)
        coeff = float(n)
        for k in range(n - 2, -1, -1):
            coeff *= k + 1  # n! / k!
            u *= arr
            u += coeff
        inv = 1.0
    else:
        inv = 1.0 / np.maximum(scale, 1.0)
        u = _monic_scaled(arr, n, inv)
    inside = _remainder_region(arr, n)
    if np.any(inside):  # Horner cancels there: n! f_n(x) / s**n, f_n by the remainder
        factor = np.ones_like(inv)
        for k in range(1, n + 1):
            factor = factor * (k * inv)  # n! / s**n, may underflow (then so does u)
        accurate = np.zeros_like(arr)
        accurate[inside] = _remainder_form(arr[inside], n)
        u = np.where(inside, accurate * factor, u)
    u /= np.sum(u, axis=axis, keepdims=True)
    return u


def taylor_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, n: int | None = 2, *, monotone: bool = False
) -> tuple[float, NDArray[np.float64]]:
    """Mean cross-entropy of (Taylor) softmax probabilities and its gradient in the logits.

    Parameters
    ----------
    logits : array_like, shape (m, K)
        Real, finite logits, one row per example, ``K >= 2`` classes.
    labels : array_like of int, shape (m,)
        Class indices in ``0 .. K-1``.
    n : int or None, default 2
        Even Taylor order ``n >= 2``; ``None`` means ordinary softmax (``exp``).
    monotone : bool, default False
        With ``n`` given, use the monotone ``f~_n`` of eq. (6).

    Returns
    -------
    (float, numpy.ndarray)
        ``mean_i -log p_{i, y_i}`` and its gradient with respect to ``logits``.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite logits, labels that are not integers in
        range, or an invalid ``n``.

    Notes
    -----
    Used in chapter 8, section "Is it less over-confident?". With ``p = g(z) /
    sum_k g(z_k)`` the gradient of ``-log p_y`` is
    ``g'(z_j) / sum_k g(z_k) - [j = y] g'(z_y) / g(z_y)``; for ``g = f_n``,
    ``g' = f_{n-1}``, and for ``f~_n`` the derivative vanishes left of ``x_n*``.
    When ``f_n`` of some logit would overflow, both are computed in the log domain
    with each entry rescaled by ``max(1, |z|)**n`` (finite for every finite input).
    Logits where Horner's rule cancels take ``f_n`` and ``f_{n-1}`` from the remainder
    form, as in ``taylor_exp``.
    """
    monotone = flag(monotone, "monotone")
    z = _check_real(logits, "logits")
    if z.ndim != 2 or z.shape[1] < 2 or z.shape[0] < 1:
        raise ValueError(f"logits must have shape (m, K) with m >= 1, K >= 2; got {z.shape}")
    y = np.asarray(labels)
    if y.shape != (z.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({z.shape[0]},)")
    if np.any(y < 0) or np.any(y >= z.shape[1]):
        raise ValueError(f"labels must lie in 0..{z.shape[1] - 1}")
    m = z.shape[0]
    rows = np.arange(m)
    if n is None:
        shifted = z - z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
        p = np.exp(shifted - log_norm[:, None])
        loss = float(np.mean(log_norm - shifted[rows, y]))
        grad = p.copy()
        grad[rows, y] -= 1.0
        return loss, grad / m
    n = _check_order(n, even=True)
    x_star = taylor_minimum(n)[0] if monotone else -math.inf
    clamped = np.maximum(z, x_star)
    # f_n(z) overflows for |z| beyond about (709 + log n!) / n: then work in the log
    # domain, each entry rescaled by its own max(1, |z|)**n; only ratios of f's matter.
    biggest = float(np.max(np.abs(clamped)))
    if math.lgamma(n + 1) + n * math.log1p(biggest) + math.log(z.shape[1]) >= 600.0:
        return _taylor_cross_entropy_log(z, clamped, y, n, x_star)
    if monotone:
        g = monotone_taylor_exp(z, n)
        dg = np.where(z > x_star, taylor_exp(z, n - 1), 0.0)
    else:
        g = taylor_exp(z, n)
        dg = taylor_exp(z, n - 1)
    total = g.sum(axis=1)
    loss = float(np.mean(np.log(total) - np.log(g[rows, y])))
    grad = dg / total[:, None]
    grad[rows, y] -= dg[rows, y] / g[rows, y]
    return loss, grad / m



def _taylor_cross_entropy_log(z: NDArray[np.float64], clamped: NDArray[np.float64],
                              y: NDArray[np.integer], n: int, x_star: float
                              ) -> tuple[float, NDArray[np.float64]]:
    """``taylor_cross_entropy`` in the log domain, for logits so large that f_n overflows.

    Each entry gets its own scale ``s = max(1, |z|)``: ``log f_n(z) = log(n! f_n(z) / s**n)
    + n log s - log n!`` (the last term cancels in the loss), and ``f_{n-1}(z) / f_n(z) =
    n G_{n-1} / (s G_n)`` with ``G_k = k! f_k / s**k``.
    """
    inside = _remainder_region(clamped, n)  # where Horner cancels: the remainder form
    horner = np.where(inside, 0.0, clamped)
    inv = 1.0 / np.maximum(np.abs(horner), 1.0)
    g_n, g_lower = _monic_scaled(horner, n, inv), _monic_scaled(horner, n - 1, inv)
    log_f = np.log(g_n) - n * np.log(inv)  # log f_n + log n!
    ratio = n * inv * g_lower / g_n  # f_{n-1} / f_n
    if np.any(inside):
        f_n = _remainder_form(clamped[inside], n)
        f_lower = _remainder_form(clamped[inside], n - 1)
        log_f[inside] = np.log(f_n) + math.lgamma(n + 1)
        ratio[inside] = f_lower / f_n
    ratio = np.where(z > x_star, ratio, 0.0)
    top = log_f.max(axis=1, keepdims=True)
    log_total = top[:, 0] + np.log(np.exp(log_f - top).sum(axis=1))
    rows = np.arange(z.shape[0])
    loss = float(np.mean(log_total - log_f[rows, y]))
    grad = ratio * np.exp(log_f - log_total[:, None])  # f_{n-1}(z_j) / sum_k f_n(z_k)
    grad[rows, y] -= ratio[rows, y]
    return loss, grad / z.shape[0]


def fit_linear_classifier(
    features: ArrayLike,
    labels: ArrayLike,
    n: int | None = 2,
    *,
    monotone: bool = False,
    l2: float = 1e-3,
    max_iter: int = 2000,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Multinomial linear classifier trained by (Taylor) softmax cross-entropy.

    Minimises ``taylor_cross_entropy(X W + b, y, n) + l2/2 ||W||^2`` with
    L-BFGS-B from ``W = 0, b = 0`` (gradient tolerance 1e-9), with single-threaded
    BLAS so that the result does not depend on thread scheduling. The tolerance is
    absolute: with features far below 1e-9 the weights' gradient is already below it at
    the start, so ``W`` stays 0 (the exact minimiser's ``W`` is then of the order of the
    features divided by ``l2``); standardise the features.

    Parameters
    ----------
    features : array_like, shape (m, d)
        Real, finite inputs.
    labels : array_like of int, shape (m,)
        Class indices; the number of classes is ``max(labels) + 1`` (at least 2).
    n : int or None, default 2
        Even Taylor order, or ``None`` for ordinary softmax.
    monotone : bool, default False
        Use the monotone ``f~_n`` of eq. (6).
    l2 : float, default 1e-3
        Non-negative ridge penalty on ``W`` (not on ``b``).
    max_iter : int, default 2000
        Iteration cap for L-BFGS-B, in ``[1, 10**6]``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Weights ``W`` of shape ``(d, K)`` and biases ``b`` of shape ``(K,)``.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite features, bad labels, a negative ``l2`` or
        a non-positive ``max_iter``.

    Notes
    -----
    Used in chapter 8, section "Is it less over-confident?".
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    X = _check_real(features, "features")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"features must have shape (m, d) with m, d >= 1, got {X.shape}")
    monotone = flag(monotone, "monotone")
    y = np.asarray(labels)
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer) or np.any(y < 0):
        raise ValueError(f"labels must be non-negative integers of shape ({X.shape[0]},)")
    numeric = isinstance(l2, (int, float, np.floating, np.integer)) and not isinstance(l2, bool)
    if not (numeric and math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    max_iter = positive_int(max_iter, "max_iter", maximum=MAX_FIT_ITERATIONS)
    d, k = X.shape[1], max(int(y.max()) + 1, 2)
    if n is not None:
        _check_order(n, even=True)

    def objective(w: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        W, b = w[: d * k].reshape(d, k), w[d * k :]
        logits = X @ W + b
        if not np.all(np.isfinite(logits)):
            raise ValueError(
                "features are so large that the logits X @ W + b overflowed during the "
                "fit; standardise the features"
            )
        loss, grad = taylor_cross_entropy(logits, y, n, monotone=monotone)
        penalty = 0.5 * l2 * float(np.sum(W * W))
        return loss + penalty, np.concatenate([(X.T @ grad + l2 * W).ravel(), grad.sum(0)])

    with threadpool_limits(limits=1):
        result = minimize(
            objective, np.zeros(d * k + k), jac=True, method="L-BFGS-B",
            options={"maxiter": int(max_iter), "gtol": 1e-9, "ftol": 1e-13},
        )
    return result.x[: d * k].reshape(d, k), result.x[d * k :]


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, bins: int = 10) -> float:
    """Expected calibration error of the top-class confidence, equal-width bins.

    ``ECE = sum_b (|B_b| / m) |accuracy(B_b) - mean confidence(B_b)|`` where
    ``B_b`` holds the examples whose largest probability falls in
    ``((b-1)/bins, b/bins]``.

    Parameters
    ----------
    probs : array_like, shape (m, K)
        Rows of probabilities (non-negative, finite).
    labels : array_like of int, shape (m,)
        True classes in ``0 .. K-1``.
    bins : int, default 10
        Number of equal-width confidence bins, from 1 to ``MAX_SIZE`` = 10**8.

    Returns
    -------
    float
        The ECE, in ``[0, 1]``.

    Raises
    ------
    ValueError
        On wrong shapes, probabilities outside [0, 1] or non-finite, bad labels or
        bins.

    Notes
    -----
    Used in chapter 8, section "Is it less over-confident?".
    """
    p = _check_real(probs, "probs")
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError("probs must be an (m, K) array with m >= 1, K >= 2")
    if np.any(p < 0) or np.any(p > 1):
        # a confidence above 1 has no bin, and would turn the gap into nonsense
        raise ValueError("probs must lie in [0, 1]")
    y = np.asarray(labels)
    if y.shape != (p.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({p.shape[0]},)")
    if np.any(y < 0) or np.any(y >= p.shape[1]):
        raise ValueError(f"labels must lie in 0..{p.shape[1] - 1}")
    bins = positive_int(bins, "bins", maximum=MAX_SIZE)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    # bin b holds (edge_{b-1}, edge_b]; comparing with the float edges b/bins keeps a
    # confidence written as 0.7 in the bin (0.6, 0.7], where ceil(0.7 * 10) - 1 would not
    edges = np.arange(1, bins + 1) / bins
    index = np.minimum(np.searchsorted(edges, confidence, side="left"), bins - 1)
    gap = np.bincount(index, correct - confidence, minlength=bins)
    return float(np.sum(np.abs(gap)) / p.shape[0])
