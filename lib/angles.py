"""The angle between two random vectors in n dimensions (chapter 1).

Two independent isotropic vectors in :math:`\\mathbb{R}^n` (for instance two
standard Gaussian vectors) make an angle :math:`\\theta \\in [0, \\pi]` with
density

.. math::

    p_n(\\theta) = c_n \\sin^{n-2}\\theta, \\qquad
    c_n = \\frac{\\Gamma(n/2)}{\\Gamma((n-1)/2)\\sqrt{\\pi}},

so that :math:`\\sin^2(\\theta/2) \\sim \\mathrm{Beta}((n-1)/2, (n-1)/2)`,
:math:`\\cos^2\\theta \\sim \\mathrm{Beta}(1/2, (n-1)/2)`, the mean is
:math:`\\pi/2` and the variance is :math:`\\tfrac12\\psi_1(n/2)`.

This module evaluates that law accurately (density, distribution function,
quantiles, the two-sided tail around :math:`\\pi/2`, its Chebyshev and
Chernoff bounds and a sharp bound with the exact exponential rate, exact and
floating-point moments), samples it in two
independent ways, and measures angles between given vectors.

Conventions shared by every function:

* ``n`` is an integer >= 2 (Python or NumPy integer). ``bool``, any float
  (even ``3.0``) and ``n < 2`` raise :class:`ValueError`.
* Array arguments broadcast; a scalar argument gives a NumPy float
  (:class:`numpy.float64`). NaN, +-inf and values outside the stated domain
  raise :class:`ValueError`.
* Floats are taken at face value (``numpy.pi`` is 1.2e-16 below pi), except
  that the float endpoints of a domain stand for the exact ones: the density
  at ``numpy.pi`` is 0 for ``n >= 3`` and ``angle_tail(numpy.pi / 2, n)`` is
  0. Reference values for tests are therefore mpmath evaluated at
  ``mpmath.mpf(x)`` of the same float ``x``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal, TypeAlias, overload

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike, NDArray

from lib._validation import MAX_SIZE, finite_array, positive_int
from scipy import special

__all__ = [
    "angle_between",
    "angle_cdf",
    "angle_moments",
    "angle_pdf",
    "angle_ppf",
    "angle_tail",
    "normalisation_constant",
    "sample_angles",
    "sharp_tail_bound",
    "tail_bounds",
]

#: A NumPy float for scalar input, an array of floats for array input.
FloatOrArray: TypeAlias = np.float64 | NDArray[np.float64]

_HALF_PI = np.pi / 2

#: Probabilities below this (subnormal floats) are refused by angle_ppf for n >= 3:
#: scipy.special.betainc, hence angle_cdf, flushes them to 0 (from about 1e-309).
_SMALLEST_NORMAL = float(np.finfo(np.float64).tiny)

#: Floats per Gaussian block drawn by ``sample_angles(method="vectors")``:
#: 2**19 float64 values are 4 MiB, so a chunk and its temporaries stay well
#: under the 64 MiB budget whatever ``n`` and ``size`` are.
_FLOATS_PER_CHUNK = 2**19

#: Newton steps of angle_ppf stop when they change the angle by less than this
#: (relative), or after _MAX_NEWTON_STEPS; from a good start one or two suffice.
_NEWTON_TOLERANCE = 4 * np.finfo(np.float64).eps
_MAX_NEWTON_STEPS = 60

#: Below this z, Gamma(z + 1/2) / Gamma(z) is a ratio of two ``gamma`` values
#: (3e-16 relative); from it on, the asymptotic series truncated after z**-9
#: is accurate to better than 1e-17 relative.
_GAMMA_RATIO_SERIES_FROM = 20.0

#: Coefficients of z**-k in log(Gamma(z + 1/2) / Gamma(z)) - log(z) / 2, from
#: (-1)**(k+1) (B_{k+1}(1/2) - B_{k+1}(0)) / (k (k+1)) with Bernoulli
#: polynomials B_k; the even powers vanish.
_GAMMA_RATIO_SERIES = (
    (1, -1 / 8),
    (3, 1 / 192),
    (5, -1 / 640),
    (7, 17 / 14336),
    (9, -31 / 18432),
)


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------


def _validate_n(n: object) -> int:
    """Return ``n`` as a Python int, or raise if it is not an integer >= 2."""
    # bool is a subclass of int but ``n=True`` is always a mistake.
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise ValueError(
            f"n must be an integer >= 2 (int or numpy integer), "
            f"got {n!r} of type {type(n).__name__}"
        )
    if n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n}")
    return int(n)


def _check_interval(
    array: NDArray[np.float64],
    name: str,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    interval: str,
) -> None:
    """Raise unless every element of ``array`` lies in the stated interval."""
    below = array <= low if low_open else array < low
    if np.any(below) or np.any(array > high):
        raise ValueError(
            f"{name} must lie in {interval}; got values in "
            f"[{array.min()!r}, {array.max()!r}]"
        )


def _as_angles(theta: ArrayLike) -> NDArray[np.float64]:
    """Validate angles in [0, pi]."""
    array = finite_array(theta, "theta", booleans=False)
    _check_interval(array, "theta", 0.0, np.pi, interval="[0, pi]")
    return array


# --------------------------------------------------------------------------
# Density, distribution function, quantiles
# --------------------------------------------------------------------------


def _gamma_ratio_half(z: float) -> float:
    """Return Gamma(z + 1/2) / Gamma(z) for z >= 1/2 to ~3e-16 relative.

    ``exp(gammaln(z + 0.5) - gammaln(z))`` subtracts two numbers of size
    z log z to get one of size log(z)/2: it loses 7e-15 relative near z = 1
    and 1e-9 at z = 5e6. Small z use ``gamma`` directly (no overflow below
    z = 171); large z use sqrt(z) times the exponential of the asymptotic
    series, whose terms are all small.
    """
    if z < _GAMMA_RATIO_SERIES_FROM:
        return float(special.gamma(z + 0.5) / special.gamma(z))
    correction = math.fsum(coefficient * z**-power for power, coefficient in _GAMMA_RATIO_SERIES)
    return math.sqrt(z) * math.exp(correction)


def _normalisation_constant(n: int) -> float:
    """c_n for an already validated n."""
    return _gamma_ratio_half((n - 1) / 2) / math.sqrt(math.pi)


def normalisation_constant(n: int) -> float:
    """Normalising constant :math:`c_n` of the angle density.

    .. math::

        c_n = \\frac{\\Gamma(n/2)}{\\Gamma(\\frac{n-1}{2})\\sqrt{\\pi}}
            = \\frac{A_{n-1}}{A_n}
            = \\frac{1}{B(\\frac12, \\frac{n-1}{2})}.

    Parameters
    ----------
    n : int
        Dimension, an integer >= 2.

    Returns
    -------
    float
        :math:`c_n`, accurate to about 1e-15 relative for every ``n``.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 2.

    Notes
    -----
    Derived in chapter 1, section "Hyperspherical coordinates", eq. (6), as
    the ratio of the areas :math:`A_{n-1}/A_n` of unit spheres. For
    ``n <= 40`` it is a ratio of ``gamma`` values; for larger ``n`` it is
    :math:`\\sqrt{z}\\,\\exp(\\cdot)` of the asymptotic series of
    :math:`\\log\\Gamma(z+\\frac12) - \\log\\Gamma(z)`, :math:`z = (n-1)/2`.
    The textbook ``exp(gammaln(n/2) - gammaln((n-1)/2))`` is avoided: its
    difference of two large numbers loses up to 1e-9 relative at
    ``n = 1e7`` (and 7e-15 already for small ``n``).
    For large ``n``, :math:`c_n \\approx \\sqrt{n / (2\\pi)}`.

    Examples
    --------
    >>> normalisation_constant(3)
    0.5
    >>> round(normalisation_constant(2) * math.pi, 15)
    1.0
    """
    n = _validate_n(n)
    return _normalisation_constant(n)


def _cos_squared_upper_tail(
    threshold: NDArray[np.float64], complement: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    """P(cos^2 theta >= t) for cos^2 theta ~ Beta(1/2, b), b = (n-1)/2.

    ``threshold`` is t and ``complement`` is 1 - t, each computed with full
    relative precision (one is a sin**2, the other a cos**2).

    The tail is 1 - I_t(1/2, b) = I_{1-t}(b, 1/2). SciPy is only ever given
    a Beta argument whose relevant end is known to full relative precision,
    and only ``betainc`` is called: in SciPy 1.17 ``betaincc`` is about ten
    times slower and, at a = b = 1/2, off by up to 6e-11 for x < 1e-16.

    * t > 1/2: I_{1-t}(b, 1/2) with the accurate complement.
    * t <= median of Beta(1/2, b): the tail is >= 1/2, so 1 - I_t(1/2, b)
      does not cancel.
    * median < t <= 1/2: I_y(b, 1/2) at y = fl(1 - t) >= 1/2. Rounding 1 - t
      moves y by up to 5.5e-17, which the Beta(b, 1/2) density (of order b
      relative to the tail) would turn into 3e-12 relative error at
      n = 1e5; the exact rounding residual (1 - y) - t (Sterbenz) is added
      back to first order, times that density.
    """
    half_dimension = (n - 1) / 2
    median = special.betaincinv(0.5, half_dimension, 0.5)
    large_tail = threshold <= median
    small_tail = (threshold > median) & (threshold <= 0.5)
    far_tail = threshold > 0.5
    tail = np.empty_like(threshold)

    tail[large_tail] = 1 - special.betainc(0.5, half_dimension, threshold[large_tail])

    t = threshold[small_tail]
    rounded_complement = 1 - t
    residual = (1 - rounded_complement) - t  # exact: both steps are Sterbenz subtractions
    log_density = (
        (half_dimension - 1) * np.log(rounded_complement)
        - 0.5 * np.log(t)
        - special.betaln(half_dimension, 0.5)
    )
    tail[small_tail] = special.betainc(
        half_dimension, 0.5, rounded_complement
    ) + residual * np.exp(log_density)

    tail[far_tail] = special.betainc(half_dimension, 0.5, complement[far_tail])
    return tail


def _pdf_values(angles: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """p_n at validated angles (see :func:`angle_pdf`)."""
    if n == 2:
        # sin**0 = 1, including at the endpoints where log(sin) = -inf.
        return np.full(angles.shape, 1 / np.pi)
    # numpy.pi stands for the endpoint pi, where the density is 0; every other
    # float is taken at face value (sin(numpy.pi) itself is 1.2e-16).
    sin_theta = np.where(angles == np.pi, 0.0, np.sin(angles))
    cos_theta = np.cos(angles)
    near_half_pi = np.abs(cos_theta) < sin_theta
    with np.errstate(divide="ignore"):
        # log(0) = -inf at the endpoints gives density exp(-inf) = 0; the
        # unused branch of np.where may also take log(0).
        log_sin = np.where(
            near_half_pi,
            0.5 * np.log1p(-(cos_theta**2)),
            np.log(sin_theta),
        )
    return _normalisation_constant(n) * np.exp((n - 2) * log_sin)


def _cdf_values(angles: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """P_n(theta' <= theta) at validated angles (see :func:`angle_cdf`)."""
    if n == 2:
        # The angle is uniform; this form also avoids sin(theta)**2
        # underflowing for theta < 1e-154, where theta / pi is still normal.
        return angles / np.pi
    # P(theta' <= theta) = P(cos theta' >= cos theta) = T / 2 for theta <= pi/2,
    # with T = P(cos^2 theta' >= cos^2 theta); 1 - T / 2 above pi/2.
    two_sided = _cos_squared_upper_tail(np.cos(angles) ** 2, np.sin(angles) ** 2, n)
    return np.where(angles <= _HALF_PI, two_sided / 2, 1 - two_sided / 2)


def _lower_half_quantile(probabilities: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """Angles in [0, pi/2] with P_n(theta' <= theta) = q, for 1-d q in [0, 1/2], n >= 3.

    ``scipy.special.betaincinv`` gives the starting point; in SciPy 1.17 it
    returns NaN for ``n = 7..14`` and q below about 1e-100, and quantiles
    whose probability is off by up to 100% for ``n = 23..39`` and q below
    about 1e-200. Newton's method on log P_n then converges from any start in
    (0, pi/2]: P_n is log-concave (its density sin^{n-2} is), so after one
    step the iterates increase monotonically to the root.
    """
    shape_parameter = (n - 1) / 2
    beta_quantile = special.betaincinv(shape_parameter, shape_parameter, probabilities)
    angles = 2 * np.arcsin(np.sqrt(np.clip(beta_quantile, 0.0, 0.5)))
    # Where betaincinv failed, start from the tail approximation
    # P_n(theta) ~ c_n sin^{n-1}(theta) / (n - 1).
    positive = probabilities > 0
    failed = positive & ~(angles > 0)  # NaN or zero
    log_sine_guess = (
        np.log((n - 1) * probabilities[failed]) - math.log(_normalisation_constant(n))
    ) / (n - 1)
    angles[failed] = np.arcsin(np.exp(np.minimum(log_sine_guess, 0.0)))
    angles[~positive] = 0.0

    active = np.flatnonzero(positive)
    target = probabilities[active]
    for _ in range(_MAX_NEWTON_STEPS):
        current = angles[active]
        probability = _cdf_values(current, n)
        density = _pdf_values(current, n)
        underflowed = probability == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            # log(P / q), not log P - log q: near q = 1e-300 the logs are
            # about 690, whose ulp (1e-13) would limit the relative accuracy.
            step = np.log(probability / target) * probability / density
        # Newton on log P: theta - log(P / q) P / p. An underflowed P means
        # the start is far left of the root: move halfway to pi/2.
        updated = np.where(underflowed, (current + _HALF_PI) / 2, current - step)
        # The first step from the right of the root may overshoot below 0.
        updated = np.where(updated > 0, np.minimum(updated, _HALF_PI), current / 2)
        angles[active] = updated
        unconverged = np.abs(updated - current) > _NEWTON_TOLERANCE * updated
        active, target = active[unconverged], target[unconverged]
        if active.size == 0:
            break
    return angles


def angle_pdf(theta: ArrayLike, n: int) -> FloatOrArray:
    """Density :math:`p_n(\\theta) = c_n \\sin^{n-2}\\theta` of the angle.

    Parameters
    ----------
    theta : array_like
        Angles in :math:`[0, \\pi]`.
    n : int
        Dimension, an integer >= 2.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The density at each angle; a NumPy float for scalar ``theta``.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 2, or ``theta`` contains NaN, +-inf or
        values outside :math:`[0, \\pi]`.

    Notes
    -----
    Derived in chapter 1, section "The density of the angle", eq. (7), as the
    derivative of eq. (6).

    Evaluated as :math:`c_n \\exp((n-2)\\log\\sin\\theta)`, with the power in
    log space and :math:`c_n` from :func:`normalisation_constant`, so that
    it neither overflows nor underflows prematurely; it is finite up to
    ``n = 1e7`` (where its peak is about 1262). Where
    :math:`|\\cos\\theta| < \\sin\\theta`, :math:`\\log\\sin\\theta` is computed
    as :math:`\\frac12` ``log1p(-cos(theta)**2)``: there ``log(sin(theta))``
    is a tiny number whose relative rounding error, multiplied by
    :math:`n-2`, would be 1e-9 at ``n = 1e7``.
    For ``n = 2`` the density is exactly ``1/pi`` everywhere, endpoints
    included; for ``n >= 3`` it is exactly 0 at ``0`` and ``numpy.pi``.

    Examples
    --------
    >>> float(angle_pdf(np.pi / 2, 3))
    0.5
    >>> angle_pdf([0.0, np.pi], 2) * np.pi
    array([1., 1.])
    """
    n = _validate_n(n)
    return _pdf_values(_as_angles(theta), n)[()]


def angle_cdf(theta: ArrayLike, n: int) -> FloatOrArray:
    """Distribution function :math:`P_n(\\theta' \\le \\theta)` of the angle.

    .. math::

        P_n(\\theta' \\le \\theta)
            = I_{\\sin^2(\\theta/2)}\\left(\\tfrac{n-1}{2}, \\tfrac{n-1}{2}\\right)
            = \\tfrac12 P(\\cos^2\\theta' \\ge \\cos^2\\theta)
            \\quad (\\theta \\le \\tfrac\\pi2),

    with :math:`I` the regularised incomplete Beta function and
    :math:`\\cos^2\\theta' \\sim \\mathrm{Beta}(\\frac12, \\frac{n-1}2)`.

    Parameters
    ----------
    theta : array_like
        Angles in :math:`[0, \\pi]`.
    n : int
        Dimension, an integer >= 2.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        Probabilities in [0, 1]; a NumPy float for scalar ``theta``.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 2, or ``theta`` contains NaN, +-inf or
        values outside :math:`[0, \\pi]`.

    Notes
    -----
    Derived in chapter 1, section "The density of the angle", eq. (6), and
    written as an incomplete Beta function in section "Beta laws", which
    proves both forms above (:math:`\\sin^2(\\theta/2)` and
    :math:`\\cos^2\\theta` are Beta distributed).

    Computed with the second form, through the same kernel as
    :func:`angle_tail`, and the symmetry
    :math:`P_n(\\theta) = 1 - P_n(\\pi - \\theta)` above :math:`\\pi/2`, so
    both tails are computed directly. The first form is ill-conditioned in
    the far tails for large ``n``: one rounding of
    :math:`\\sin^2(\\theta/2) \\approx 0.4` moves
    :math:`I_x(\\frac{n-1}2, \\frac{n-1}2)` by about ``n/6`` ulps, 1.3e-12
    relative at ``n = 12345``, whereas :math:`\\cos^2\\theta` and
    :math:`\\sin^2\\theta` carry the small quantities with full relative
    precision. Relative error is below 2e-13 against 50-digit mpmath for
    ``n <= 1e5`` wherever the value is above 1e-300. For ``n = 2`` the
    result is ``theta / pi``.

    Examples
    --------
    >>> round(float(angle_cdf(np.pi / 2, 7)), 15)
    0.5
    >>> round(float(angle_cdf(np.pi / 3, 3)), 15)  # (1 - cos(theta)) / 2 for n = 3
    0.25
    """
    n = _validate_n(n)
    return _cdf_values(_as_angles(theta), n)[()]


def angle_ppf(q: ArrayLike, n: int) -> FloatOrArray:
    """Quantile function (inverse of :func:`angle_cdf`).

    Parameters
    ----------
    q : array_like
        Probabilities in [0, 1].
    n : int
        Dimension, an integer >= 2.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The angle :math:`\\theta \\in [0, \\pi]` with
        ``angle_cdf(theta, n) == q``; a NumPy float for scalar ``q``.
        ``q = 0`` gives 0 and ``q = 1`` gives ``numpy.pi``.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 2, or ``q`` contains NaN, +-inf or
        values outside [0, 1], or (for ``n >= 3``) subnormal values, between 0
        and 2.2e-308: :func:`angle_cdf` flushes those probabilities to 0, so
        no angle can be shown to have them.

    Notes
    -----
    Derived in chapter 1, section "Beta laws": the angle is
    :math:`2\\arcsin\\sqrt{X}` with
    :math:`X \\sim \\mathrm{Beta}(\\frac{n-1}2, \\frac{n-1}2)`. The Beta
    quantile from ``scipy.special.betaincinv`` is only a starting point:
    in SciPy 1.17 it is NaN or wrong in the far tails for some ``n`` (see
    the source), so Newton's method on :math:`\\log P_n` with
    :func:`angle_cdf` and :func:`angle_pdf` polishes it to a few ulps.
    For :math:`q > 1/2` the symmetry :math:`\\theta_q = \\pi - \\theta_{1-q}`
    is used (``1 - q`` is exact there).

    Examples
    --------
    >>> float(angle_ppf(0.5, 10)) == np.pi / 2
    True
    >>> round(float(angle_ppf(0.25, 3)), 12) == round(np.pi / 3, 12)
    True
    """
    n = _validate_n(n)
    probabilities = finite_array(q, "q", booleans=False)
    _check_interval(probabilities, "q", 0.0, 1.0, interval="[0, 1]")
    if n == 2:
        # Uniform angle; a Beta quantile would underflow for q < 1e-154.
        return (probabilities * np.pi)[()]
    subnormal = (probabilities > 0) & (probabilities < _SMALLEST_NORMAL)
    if np.any(subnormal):
        raise ValueError(
            f"q must be 0 or at least {_SMALLEST_NORMAL:.4g} (the smallest normal float) "
            f"for n >= 3: below it angle_cdf underflows and the quantile cannot be "
            f"resolved; got {probabilities[subnormal].min()!r}"
        )
    lower_probabilities = np.minimum(probabilities, 1 - probabilities)
    folded = _lower_half_quantile(lower_probabilities.reshape(-1), n).reshape(
        probabilities.shape
    )
    return np.where(probabilities <= 0.5, folded, np.pi - folded)[()]


# --------------------------------------------------------------------------
# Concentration around pi/2
# --------------------------------------------------------------------------


def angle_tail(delta: ArrayLike, n: int) -> FloatOrArray:
    """Two-sided tail :math:`P(|\\theta - \\pi/2| \\ge \\delta)`.

    .. math::

        P(|\\theta - \\tfrac\\pi2| \\ge \\delta)
          = P(\\cos^2\\theta \\ge \\sin^2\\delta)
          = 1 - I_{\\sin^2\\delta}\\left(\\tfrac12, \\tfrac{n-1}2\\right)
          = I_{\\cos^2\\delta}\\left(\\tfrac{n-1}2, \\tfrac12\\right).

    Parameters
    ----------
    delta : array_like
        Deviations from :math:`\\pi/2`, in :math:`[0, \\pi/2]`.
    n : int
        Dimension, an integer >= 2.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        Probabilities in [0, 1]: 1 at ``delta = 0``, 0 at ``delta = pi/2``;
        a NumPy float for scalar ``delta``.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 2, or ``delta`` contains NaN, +-inf or
        values outside :math:`[0, \\pi/2]`.

    Notes
    -----
    Derived in chapter 1, section "Almost orthogonal", from the law
    :math:`\\cos^2\\theta \\sim \\mathrm{Beta}(\\frac12, \\frac{n-1}2)` of
    section "Beta laws".

    Computed directly, not as differences of :func:`angle_cdf` values, which
    would cancel. Of the two incomplete-Beta forms above, the first loses
    digits near :math:`\\delta = \\pi/2` (its argument :math:`\\sin^2\\delta`
    rounds towards 1) and the second near :math:`\\delta = 0`; the function
    switches at :math:`\\pi/4`, where :math:`\\sin^2\\delta = \\frac12`, so
    SciPy always works from whichever of :math:`\\sin^2\\delta`,
    :math:`\\cos^2\\delta` is at most 1/2 (each computed with full relative
    precision). Tails >= 1/2 are taken as :math:`1 - I` (no cancellation);
    smaller tails below :math:`\\pi/4` use the second form with the rounding
    of :math:`1 - \\sin^2\\delta` corrected to first order. SciPy's
    ``betaincc`` is not used: in SciPy 1.17 it is ten times slower than
    ``betainc`` and off by up to 6e-11 at ``a = b = 1/2`` and ``x < 1e-16``.
    Relative error is below 2e-13 against 50-digit mpmath for ``n <= 1e5``
    wherever the value is above 1e-300. ``delta = numpy.pi / 2`` stands for
    :math:`\\pi/2` and gives exactly 0.

    Examples
    --------
    >>> float(angle_tail(0.0, 50))
    1.0
    >>> round(float(angle_tail(np.deg2rad(5), 1000)), 4)
    0.0058
    """
    n = _validate_n(n)
    deviations = finite_array(delta, "delta", booleans=False)
    _check_interval(deviations, "delta", 0.0, _HALF_PI, interval="[0, pi/2]")
    tail = _cos_squared_upper_tail(np.sin(deviations) ** 2, np.cos(deviations) ** 2, n)
    # numpy.pi/2 stands for the endpoint pi/2, where the tail is 0 (at face
    # value cos(numpy.pi/2) = 6e-17 would give 4e-17 for n = 2).
    tail[deviations == _HALF_PI] = 0.0
    return tail[()]


def tail_bounds(delta: ArrayLike, n: int) -> tuple[FloatOrArray, FloatOrArray]:
    """Chebyshev and Chernoff upper bounds on :func:`angle_tail`.

    .. math::

        P(|\\theta - \\tfrac\\pi2| \\ge \\delta)
          \\le \\frac{1}{n \\sin^2\\delta}
        \\quad\\text{and}\\quad
        P(|\\theta - \\tfrac\\pi2| \\ge \\delta)
          \\le 2 \\exp\\left(-\\frac{n \\sin^2\\delta}{2}\\right).

    Parameters
    ----------
    delta : array_like
        Deviations from :math:`\\pi/2`, in :math:`(0, \\pi/2]` (the
        Chebyshev bound is infinite at 0).
    n : int
        Dimension, an integer >= 2.

    Returns
    -------
    chebyshev, chernoff : numpy.float64 or numpy.ndarray
        The two bounds, not clipped to 1 (so they can be compared with each
        other on a log scale).

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 2, or ``delta`` contains NaN, +-inf or
        values outside :math:`(0, \\pi/2]`.

    Notes
    -----
    Derived in chapter 1, section "Almost orthogonal": Chebyshev's
    inequality with :math:`E\\cos^2\\theta = 1/n` (section "Asymptotics"),
    and the Chernoff bound from
    :math:`E e^{\\lambda\\cos\\theta} \\le e^{\\lambda^2/(2n)}`.

    Examples
    --------
    >>> chebyshev, chernoff = tail_bounds(np.pi / 2, 10)
    >>> float(chebyshev), round(float(chernoff), 6)
    (0.1, 0.013476)
    """
    n = _validate_n(n)
    deviations = finite_array(delta, "delta", booleans=False)
    _check_interval(deviations, "delta", 0.0, _HALF_PI, low_open=True, interval="(0, pi/2]")
    n_sin_squared = n * np.sin(deviations) ** 2
    with np.errstate(divide="ignore", over="ignore"):  # +inf is a true (trivial) bound
        chebyshev = 1 / n_sin_squared
    chernoff = 2 * np.exp(-n_sin_squared / 2)
    return chebyshev[()], chernoff[()]


def sharp_tail_bound(delta: ArrayLike, n: int) -> FloatOrArray:
    """An upper bound on :func:`angle_tail` that is asymptotically exact.

    .. math::

        P(|\\theta - \\tfrac\\pi2| \\ge \\delta)
          \\le \\frac{2 c_n \\cos^{n-1}\\delta}{(n - 1)\\sin\\delta}
          \\sim \\frac{2\\cos^{n-1}\\delta}{\\sin\\delta\\,\\sqrt{2\\pi n}}
          \\quad (n \\to \\infty).

    Parameters
    ----------
    delta : array_like
        Deviations from :math:`\\pi/2`, in :math:`(0, \\pi/2]` (the bound is
        infinite at 0).
    n : int
        Dimension, an integer >= 2.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The bound, not clipped to 1; 0 at ``delta = numpy.pi / 2``.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 2, or ``delta`` contains NaN, +-inf or
        values outside :math:`(0, \\pi/2]`.

    Notes
    -----
    Derived in chapter 1, section "Almost orthogonal": in the tail integral
    :math:`2 c_n \\int_{\\sin\\delta}^1 (1 - \\eta^2)^{(n-3)/2} d\\eta` the
    factor :math:`\\eta / \\sin\\delta` is at least 1, and with it the integral
    is elementary. Unlike :func:`tail_bounds`, its ratio to the exact tail
    tends to 1 as ``n`` grows, and it has the exact exponential rate
    :math:`-\\log\\cos\\delta`. Computed in log space, so it does not
    overflow or underflow before the result does.

    Examples
    --------
    >>> round(float(sharp_tail_bound(np.deg2rad(5), 1000)), 5)
    0.00642
    """
    n = _validate_n(n)
    deviations = finite_array(delta, "delta", booleans=False)
    _check_interval(deviations, "delta", 0.0, _HALF_PI, low_open=True, interval="(0, pi/2]")
    with np.errstate(divide="ignore"):  # log cos(pi/2) = -inf gives the bound 0
        log_bound = (
            math.log(2 * _normalisation_constant(n) / (n - 1))
            + (n - 1) * np.log(np.cos(deviations))
            - np.log(np.sin(deviations))
        )
    bound = np.asarray(np.exp(log_bound), dtype=np.float64)
    bound[deviations == _HALF_PI] = 0.0  # cos(numpy.pi/2) = 6e-17, not 0
    return bound[()]


# --------------------------------------------------------------------------
# Moments
# --------------------------------------------------------------------------


def _exact_variance(n: int) -> sp.Expr:
    """Closed form of (1/2) trigamma(n/2) as pi**2 times a rational plus a rational."""
    if n % 2 == 0:
        # psi_1(m) = pi**2/6 - sum_{j<m} 1/j**2 with m = n/2.
        partial_sum = sum((Fraction(1, j * j) for j in range(1, (n - 2) // 2 + 1)), Fraction(0))
        return sp.pi**2 / 12 - sp.Rational(partial_sum.numerator, 2 * partial_sum.denominator)
    # psi_1(m + 1/2) = pi**2/2 - 4 sum_{j<m} 1/(2j+1)**2 with m = (n-1)/2.
    partial_sum = sum(
        (Fraction(1, (2 * j + 1) ** 2) for j in range((n - 3) // 2 + 1)), Fraction(0)
    )
    return sp.pi**2 / 4 - 2 * sp.Rational(partial_sum.numerator, partial_sum.denominator)


@overload
def angle_moments(n: int, exact: Literal[False] = ...) -> tuple[float, float]: ...


@overload
def angle_moments(n: int, exact: Literal[True]) -> tuple[sp.Expr, sp.Expr]: ...


def angle_moments(n: int, exact: bool = False) -> tuple[float, float] | tuple[sp.Expr, sp.Expr]:
    """Mean and variance of the angle.

    .. math::

        E\\theta = \\frac\\pi2, \\qquad
        \\mathrm{Var}_n(\\theta) = \\tfrac12 \\psi_1\\left(\\tfrac n2\\right)
        = \\begin{cases}
            \\frac{\\pi^2}{12} - \\frac12 \\sum_{j=1}^{(n-2)/2} j^{-2}
                & n \\text{ even}, \\\\
            \\frac{\\pi^2}{4} - 2 \\sum_{j=0}^{(n-3)/2} (2j+1)^{-2}
                & n \\text{ odd}.
          \\end{cases}

    Parameters
    ----------
    n : int
        Dimension, an integer >= 2.
    exact : bool, default False
        If true, return SymPy expressions (``pi/2`` and a closed form in
        ``pi**2`` and rationals) instead of floats.

    Returns
    -------
    mean, variance : float or sympy.Expr
        Floats (``pi/2``, ``polygamma(1, n/2) / 2``) or, with
        ``exact=True``, SymPy expressions.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 2 or ``exact`` is not a bool.

    Notes
    -----
    Derived in chapter 1, section "Mean and variance": the mean by symmetry
    of :math:`\\sin^{n-2}\\theta` about :math:`\\pi/2`, the variance (9) by
    the recurrence :math:`\\mathrm{Var}_n = \\mathrm{Var}_{n-2} - 2/(n-2)^2`,
    which the trigamma function shares, from the base cases ``n = 2, 3``.
    Section "Asymptotics" shows :math:`\\mathrm{Var}_n = 1/n + 1/n^2 + O(n^{-3})`.
    The exact form sums ``n/2`` rationals, so keep ``n`` moderate with
    ``exact=True``.

    Examples
    --------
    >>> angle_moments(3, exact=True)
    (pi/2, -2 + pi**2/4)
    >>> round(angle_moments(100)[1], 9)
    0.010100667
    """
    n = _validate_n(n)
    if not isinstance(exact, (bool, np.bool_)):
        raise ValueError(f"exact must be a bool, got {exact!r}")
    if exact:
        return sp.pi / 2, _exact_variance(n)
    return math.pi / 2, float(special.polygamma(1, n / 2)) / 2


# --------------------------------------------------------------------------
# Angles between vectors, sampling
# --------------------------------------------------------------------------


def _row_norms(vectors: NDArray[np.float64]) -> NDArray[np.float64]:
    """Euclidean norms along the last axis (einsum: no squared temporary)."""
    return np.sqrt(np.einsum("...i,...i->...", vectors, vectors))


def _angles_overwriting(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """2 atan2(|x^ - y^|, |x^ + y^|) along the last axis; overwrites x and y.

    The caller owns both arrays and guarantees finite entries, non-zero
    vectors and norms that neither overflow nor underflow. Working in place
    keeps ``sample_angles`` at about eight passes over each chunk.
    """
    x /= _row_norms(x)[..., np.newaxis]
    y /= _row_norms(y)[..., np.newaxis]
    difference = x - y
    if x.shape == difference.shape:
        total = np.add(x, y, out=x)
    else:  # x is broadcast against a larger y
        total = x + y
    return 2 * np.arctan2(_row_norms(difference), _row_norms(total))


def angle_between(x: ArrayLike, y: ArrayLike) -> FloatOrArray:
    """Angle between vectors along the last axis, accurate for tiny angles.

    .. math::

        \\theta(x, y) = 2 \\operatorname{atan2}\\left(
            \\lVert \\hat x - \\hat y \\rVert, \\lVert \\hat x + \\hat y \\rVert
        \\right), \\qquad \\hat x = x / \\lVert x \\rVert.

    Parameters
    ----------
    x, y : array_like
        Vectors along the last axis, which must have the same length (>= 1);
        the leading axes broadcast against each other.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        Angles in :math:`[0, \\pi]` with the broadcast leading shape; a NumPy
        float for two 1-d inputs.

    Raises
    ------
    ValueError
        If an input is 0-d, the last axes differ in length, the leading axes
        do not broadcast, an entry is NaN or +-inf, or a vector is zero.

    Notes
    -----
    Used in chapter 1, section "Monte Carlo", to measure the angles of
    Gaussian pairs (and by chapter 2). Unlike ``arccos`` of the cosine,
    which returns 0 for angles below about 1e-8 because
    :math:`\\cos\\theta = 1 - \\theta^2/2` rounds to 1, this half-angle form
    recovers a 1e-9 angle to about 1e-7 relative, and is equally accurate
    near :math:`\\pi`. Vectors are scaled by their largest entry before the
    norm is taken, so entries as large as 1e300 or as small as 1e-300 work.

    Examples
    --------
    >>> float(angle_between([1.0, 0.0], [0.0, 2.0])) == np.pi / 2
    True
    >>> angle_between(np.eye(3), [1.0, 0.0, 0.0]).round(6)
    array([0.      , 1.570796, 1.570796])
    """
    x_array = finite_array(x, "x")
    y_array = finite_array(y, "y")
    if x_array.ndim == 0 or y_array.ndim == 0:
        raise ValueError("x and y must be vectors (at least 1-d), got a scalar")
    if x_array.shape[-1] != y_array.shape[-1]:
        raise ValueError(
            f"x and y must have equal last axes, got shapes {x_array.shape} and {y_array.shape}"
        )
    if x_array.shape[-1] == 0:
        raise ValueError("x and y must have at least one component")
    try:
        np.broadcast_shapes(x_array.shape, y_array.shape)
    except ValueError as error:
        raise ValueError(
            f"leading axes of x {x_array.shape} and y {y_array.shape} do not broadcast"
        ) from error
    scaled = []
    for name, array in (("x", x_array), ("y", y_array)):
        largest = np.max(np.abs(array), axis=-1, keepdims=True)
        if np.any(largest == 0):
            raise ValueError(f"{name} contains a zero vector, whose angle is undefined")
        # Dividing by the largest entry keeps the squared norm from
        # overflowing (entries ~1e200) or underflowing (entries ~1e-200);
        # it also makes the copies that _angles_overwriting may overwrite.
        scaled.append(array / largest)
    return _angles_overwriting(*scaled)[()]


def sample_angles(
    n: int,
    size: int,
    rng: np.random.Generator,
    method: Literal["vectors", "chi2"] = "vectors",
) -> NDArray[np.float64]:
    """Draw angles between two independent isotropic vectors in R^n.

    Parameters
    ----------
    n : int
        Dimension, an integer >= 2.
    size : int
        Number of angles, an integer from 1 to ``MAX_SIZE`` = 10**8.
    rng : numpy.random.Generator
        Source of randomness; the result is a deterministic function of its
        state.
    method : {"vectors", "chi2"}, default "vectors"
        ``"vectors"`` draws pairs of independent :math:`N(0, I_n)` vectors
        and measures their angles with the formula of :func:`angle_between`
        (its input checks and rescaling are unnecessary for Gaussian
        entries) -- it uses the definition, not the derived law, so it
        tests that law. ``"chi2"``
        uses :math:`\\theta = \\operatorname{atan2}(\\sqrt{\\chi^2_{n-1}}, Z)`,
        which costs O(size) whatever ``n`` is.

    Returns
    -------
    numpy.ndarray
        Shape ``(size,)``, values in :math:`[0, \\pi]`.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 2, ``size`` is not an integer >= 1,
        ``rng`` is not a :class:`numpy.random.Generator` or ``method`` is
        unknown.

    Notes
    -----
    Used in chapter 1, section "Monte Carlo"; the ``"chi2"`` route is the
    second proof in section "Beta laws". Fix one vector to :math:`e_1`
    (isotropy) and write the other as :math:`(Z, W)` with
    :math:`Z \\sim N(0, 1)` and :math:`\\lVert W \\rVert^2 \\sim \\chi^2_{n-1}`
    independent: then :math:`\\cos\\theta = Z / \\sqrt{Z^2 + \\chi^2_{n-1}}`
    and :math:`\\sin\\theta = \\sqrt{\\chi^2_{n-1}} / \\sqrt{Z^2 + \\chi^2_{n-1}}
    \\ge 0`, which is exactly ``atan2(sqrt(chi2), Z)``.

    ``"vectors"`` works in chunks of about 2**19 / n pairs, so its memory is
    O(n * chunk), not O(n * size).

    Examples
    --------
    >>> angles = sample_angles(10, 5, np.random.default_rng(0))
    >>> angles.shape
    (5,)
    """
    n = _validate_n(n)
    size = positive_int(size, "size", maximum=MAX_SIZE)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    if method == "chi2":
        chi_squared = rng.chisquare(n - 1, size)
        first_coordinate = rng.standard_normal(size)
        return np.arctan2(np.sqrt(chi_squared), first_coordinate)
    if method != "vectors":
        raise ValueError(f"method must be 'vectors' or 'chi2', got {method!r}")
    pairs_per_chunk = max(1, _FLOATS_PER_CHUNK // n)
    angles = np.empty(size)
    for start in range(0, size, pairs_per_chunk):
        stop = min(start + pairs_per_chunk, size)
        pairs = rng.standard_normal((2, stop - start, n))
        # angle_between's checks and rescaling are skipped: Gaussian entries
        # are finite and moderate, and a zero vector has probability 0.
        angles[start:stop] = _angles_overwriting(pairs[0], pairs[1])
    return angles
