"""Distances between two multivariate normal distributions (chapter 3).

For :math:`p = \\mathcal{N}(\\mu_p, \\Sigma_p)` and
:math:`q = \\mathcal{N}(\\mu_q, \\Sigma_q)` on :math:`\\mathbb{R}^n` this module
evaluates, in closed form,

* the differential entropy :math:`\\mathcal{H}(p)`,
* the Kullback-Leibler divergence :math:`KL(p\\Vert q)`,
* the Bhattacharyya distance :math:`BD(p, q)` and the squared Hellinger
  distance :math:`1 - e^{-BD}`,
* the Rényi divergence :math:`D_\\alpha(p\\Vert q)` of every order
  :math:`\\alpha > 0`, which contains KL (:math:`\\alpha \\to 1`) and twice BD
  (:math:`\\alpha = 1/2`),
* the 2-Wasserstein distance :math:`\\mathcal{W}_2[p, q]` and the optimal
  transport map :math:`T` (symmetric, :math:`T\\Sigma_pT = \\Sigma_q`),
* the principal square root of a symmetric positive semidefinite matrix.

Conventions shared by every function:

* Means have shape ``(..., n)`` and covariances ``(..., n, n)``; the leading
  ("batch") dimensions of all arguments broadcast against each other, and the
  result has the broadcast batch shape (a NumPy float for unbatched input).
* Inputs must be real and finite. A covariance must be symmetric (up to a
  relative tolerance of ``1e-10`` of its largest entry; it is then symmetrised)
  and positive definite (its Cholesky factorisation must succeed);
  :func:`sqrtm_psd` accepts positive *semi*\\ definite input. Boolean covariances,
  complex and string input are refused. Anything else raises :class:`ValueError`,
  as does a result beyond the float64 range (means 1e200 apart, say) instead of
  returning ``inf`` (the Renyi divergence's true ``+inf`` excepted).
* Nothing forms an explicit inverse or determinant: log-determinants come from
  Cholesky factors, quadratic forms from triangular solves, and the
  covariance parts of KL and BD for nearly equal covariances from the
  eigenvalues of the whitened difference (see :func:`kl_divergence`).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lib._validation import finite_array

__all__ = [
    "bhattacharyya_distance",
    "entropy",
    "hellinger_squared",
    "kl_divergence",
    "renyi_divergence",
    "sqrtm_psd",
    "transport_map",
    "wasserstein2",
    "wasserstein2_squared",
]

FloatOrArray = np.float64 | NDArray[np.float64]

#: Relative asymmetry ``max|A - A^T| / max|A|`` accepted as rounding noise.
SYMMETRY_RTOL = 1e-10

#: Smallest eigenvalue accepted by :func:`sqrtm_psd`, relative to the largest
#: absolute eigenvalue (eigh's backward error is a small multiple of n * eps).
PSD_RTOL = 1e-10

#: Below this spectral radius of the whitened covariance difference the
#: covariance parts of KL and BD are summed from its eigenvalues (no
#: cancellation); above it, from Cholesky log-determinants and traces.
_NEAR_EQUAL_RADIUS = 0.5

_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _as_symmetric(value: ArrayLike, name: str) -> NDArray[np.float64]:
    """Validate a batch of square symmetric matrices and return them symmetrised."""
    a = finite_array(value, name, booleans=False)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name} must have shape (..., n, n), got {a.shape}")
    if a.shape[-1] == 0:
        raise ValueError(f"{name} must be at least 1 x 1, got shape {a.shape}")
    at = np.swapaxes(a, -1, -2)
    scale = np.max(np.abs(a), axis=(-2, -1), keepdims=True)
    asym = np.max(np.abs(a - at), axis=(-2, -1), keepdims=True)
    if np.any(asym > SYMMETRY_RTOL * scale):
        raise ValueError(f"{name} must be symmetric (max |A - A^T| > {SYMMETRY_RTOL:g} max |A|)")
    return 0.5 * (a + at)


def _cholesky(a: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    """Lower Cholesky factor of a batch of symmetric matrices, or ValueError."""
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite (Cholesky failed)") from None


def _as_cov(value: ArrayLike, name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate a covariance batch; return it (symmetrised) and its Cholesky factor."""
    a = _as_symmetric(value, name)
    return a, _cholesky(a, name)


def _as_mean(value: ArrayLike, name: str, n: int) -> NDArray[np.float64]:
    """Validate a batch of mean vectors of length ``n``."""
    m = finite_array(value, name)
    if m.ndim < 1 or m.shape[-1] != n:
        raise ValueError(f"{name} must have shape (..., {n}) to match the covariances, got {m.shape}")
    return m


def _pair(
    mu_p: ArrayLike, cov_p: ArrayLike, mu_q: ArrayLike, cov_q: ArrayLike
) -> tuple[NDArray[np.float64], ...]:
    """Validate and broadcast two Gaussians; return (delta, cov_p, L_p, cov_q, L_q)."""
    cp, lp = _as_cov(cov_p, "cov_p")
    cq, lq = _as_cov(cov_q, "cov_q")
    n = cp.shape[-1]
    if cq.shape[-1] != n:
        raise ValueError(f"cov_p is {n} x {n} but cov_q is {cq.shape[-1]} x {cq.shape[-1]}")
    mp = _as_mean(mu_p, "mu_p", n)
    mq = _as_mean(mu_q, "mu_q", n)
    try:
        batch = np.broadcast_shapes(mp.shape[:-1], mq.shape[:-1], cp.shape[:-2], cq.shape[:-2])
    except ValueError:
        raise ValueError(
            "batch shapes do not broadcast: "
            f"mu_p {mp.shape}, cov_p {cp.shape}, mu_q {mq.shape}, cov_q {cq.shape}"
        ) from None
    delta = np.broadcast_to(mp, batch + (n,)) - np.broadcast_to(mq, batch + (n,))
    mat = batch + (n, n)
    return (
        delta,
        np.broadcast_to(cp, mat),
        np.broadcast_to(lp, mat),
        np.broadcast_to(cq, mat),
        np.broadcast_to(lq, mat),
    )


def _range_checked(func: Callable[..., FloatOrArray]) -> Callable[..., FloatOrArray]:
    """Run ``func`` with float64 overflow warnings off: ``_scalar`` turns a result that
    left the range into a ValueError, so the warning would only precede that error."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> FloatOrArray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return func(*args, **kwargs)

    return wrapper


def _scalar(x: NDArray[np.float64], divergent: NDArray[np.bool_] | None = None
            ) -> FloatOrArray:
    """0-d arrays become NumPy floats; other arrays are returned as they are.

    Every public function returns through here: a result that left the float64 range
    (means 1e200 apart, say) raises instead of coming back as ``inf`` or ``nan``;
    ``divergent`` marks entries that are a true ``+inf`` (a Renyi integral that diverges).
    """
    finite = np.isfinite(x) if divergent is None else np.isfinite(x) | divergent
    if not np.all(finite):
        raise ValueError(
            "the result is beyond the float64 range for these arguments (mu_p, mu_q, "
            "cov_p, cov_q or cov: means far apart or covariances far from unit scale)"
        )
    return np.float64(x) if np.ndim(x) == 0 else x


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------


def _logdet_chol(chol: NDArray[np.float64]) -> NDArray[np.float64]:
    """log det(L L^T) from the Cholesky factor L."""
    return 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


def _solve_lower(chol: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """L^{-1} B for batches of lower-triangular L and matrices B (batch dims broadcast).

    NumPy's batched ``solve`` (LU with partial pivoting, backward stable) is used
    rather than a triangular solve: it runs the whole batch in one compiled loop.
    """
    return np.linalg.solve(chol, b)


def _mahalanobis_sq(chol: NDArray[np.float64], delta: NDArray[np.float64]) -> NDArray[np.float64]:
    """delta^T (L L^T)^{-1} delta via one triangular solve."""
    z = _solve_lower(chol, delta[..., None])[..., 0]
    return np.sum(z * z, axis=-1)


def _whitened_difference_eigs(
    cov_p: NDArray[np.float64], cov_q: NDArray[np.float64], chol_q: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Eigenvalues mu_i of E = L_q^{-1} (Sigma_p - Sigma_q) L_q^{-T}.

    The eigenvalues of Sigma_q^{-1} Sigma_p are 1 + mu_i; computing mu_i from the
    *difference* of the covariances keeps their digits when the two are close.
    """
    x = _solve_lower(chol_q, cov_p - cov_q)
    e = _solve_lower(chol_q, np.swapaxes(x, -1, -2))
    e = 0.5 * (e + np.swapaxes(e, -1, -2))
    return np.linalg.eigvalsh(e)


def _x_minus_log1p(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """x - log(1 + x) without cancellation for small |x| (series for |x| < 0.1)."""
    x = np.asarray(x, dtype=np.float64)
    out = x - np.log1p(x)
    small = np.abs(x) < 0.1
    if np.any(small):
        xs = x[small]
        # sum_{k>=2} (-1)^k x^k / k, Horner form, 18 terms: error < 0.1^17.
        acc = np.zeros_like(xs)
        for k in range(19, 1, -1):
            acc = acc * xs + (-1.0) ** k / k
        out[small] = acc * xs * xs
    return out


def _log1p_half_minus_half_log1p(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """log(1 + x/2) - log(1 + x)/2 (>= 0) without cancellation for small |x|."""
    x = np.asarray(x, dtype=np.float64)
    out = np.log1p(0.5 * x) - 0.5 * np.log1p(x)
    small = np.abs(x) < 0.1
    if np.any(small):
        xs = x[small]
        # coefficient of x^k: (-1)^(k+1) (2^-k - 1/2) / k, zero for k = 1.
        acc = np.zeros_like(xs)
        for k in range(22, 1, -1):
            acc = acc * xs + (-1.0) ** (k + 1) * (0.5**k - 0.5) / k
        out[small] = acc * xs * xs
    return out


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def entropy(cov: ArrayLike) -> FloatOrArray:
    """Differential entropy of :math:`\\mathcal{N}(\\mu, \\Sigma)` (in nats).

    .. math:: \\mathcal{H} = \\tfrac n2 (1 + \\log 2\\pi) + \\tfrac12 \\log\\det\\Sigma

    Parameters
    ----------
    cov : array_like, shape (..., n, n)
        Symmetric positive-definite covariance matrices.

    Returns
    -------
    numpy.float64 or ndarray, shape (...)
        The entropy; it does not depend on the mean.

    Raises
    ------
    ValueError
        If ``cov`` is not a finite symmetric positive-definite batch.

    Notes
    -----
    Derived in chapter 3, section "KL divergence" (eq. (4)), as the KL
    cross-entropy term with :math:`q = p`. The log-determinant is twice the
    sum of the logs of the Cholesky diagonal.
    """
    _, chol = _as_cov(cov, "cov")
    n = chol.shape[-1]
    return _scalar(0.5 * n * (1.0 + _LOG_2PI) + 0.5 * _logdet_chol(chol))


@_range_checked
def kl_divergence(
    mu_p: ArrayLike, cov_p: ArrayLike, mu_q: ArrayLike, cov_q: ArrayLike
) -> FloatOrArray:
    """Kullback-Leibler divergence :math:`KL(p\\Vert q)` between two Gaussians.

    .. math::

        KL = \\tfrac12\\left[\\Delta^\\top\\Sigma_q^{-1}\\Delta
             - \\log\\det(\\Sigma_q^{-1}\\Sigma_p) + \\mathrm{Tr}(\\Sigma_q^{-1}\\Sigma_p) - n\\right],
        \\qquad \\Delta = \\mu_p - \\mu_q.

    Parameters
    ----------
    mu_p, mu_q : array_like, shape (..., n)
        Means.
    cov_p, cov_q : array_like, shape (..., n, n)
        Symmetric positive-definite covariances.

    Returns
    -------
    numpy.float64 or ndarray
        :math:`KL(p\\Vert q) \\ge 0`, with the broadcast batch shape.

    Raises
    ------
    ValueError
        On wrong or mismatched shapes, non-finite entries, or covariances that
        are not symmetric positive definite.

    Notes
    -----
    Derived in chapter 3, section "KL divergence" (eqs. (15), (17)-(19)).
    With :math:`1 + \\mu_i` the eigenvalues of :math:`\\Sigma_q^{-1}\\Sigma_p`,
    the covariance part is :math:`\\tfrac12\\sum_i (\\mu_i - \\log(1 + \\mu_i))`.
    When all :math:`|\\mu_i| < 0.5` it is summed that way, the :math:`\\mu_i`
    being the eigenvalues of the whitened difference
    :math:`L_q^{-1}(\\Sigma_p - \\Sigma_q)L_q^{-\\top}`; this avoids the
    cancellation of ``Tr - n - logdet`` for nearly equal covariances. Otherwise
    the trace is :math:`\\Vert L_q^{-1}L_p\\Vert_F^2` and the log-determinants
    come from the Cholesky diagonals.
    """
    delta, cp, lp, cq, lq = _pair(mu_p, cov_p, mu_q, cov_q)
    n = cp.shape[-1]
    maha = _mahalanobis_sq(lq, delta)
    mu = _whitened_difference_eigs(cp, cq, lq)
    near = np.max(np.abs(mu), axis=-1) < _NEAR_EQUAL_RADIUS
    part_near = np.sum(_x_minus_log1p(np.where(near[..., None], mu, 0.0)), axis=-1)
    a = _solve_lower(lq, lp)
    part_far = np.sum(a * a, axis=(-2, -1)) - n - (_logdet_chol(lp) - _logdet_chol(lq))
    cov_part = np.where(near, part_near, part_far)
    return _scalar(np.maximum(0.5 * (maha + cov_part), 0.0))


@_range_checked
def bhattacharyya_distance(
    mu_p: ArrayLike, cov_p: ArrayLike, mu_q: ArrayLike, cov_q: ArrayLike
) -> FloatOrArray:
    """Bhattacharyya distance :math:`BD(p, q) = -\\log\\int\\sqrt{pq}`.

    .. math::

        BD = \\tfrac12\\log\\frac{\\det\\Sigma}{\\sqrt{\\det\\Sigma_p\\det\\Sigma_q}}
             + \\tfrac18\\Delta^\\top\\Sigma^{-1}\\Delta,
        \\qquad \\Sigma = \\tfrac12(\\Sigma_p + \\Sigma_q).

    Parameters
    ----------
    mu_p, mu_q : array_like, shape (..., n)
        Means.
    cov_p, cov_q : array_like, shape (..., n, n)
        Symmetric positive-definite covariances.

    Returns
    -------
    numpy.float64 or ndarray
        :math:`BD \\ge 0`, symmetric in ``p`` and ``q``.

    Raises
    ------
    ValueError
        On wrong or mismatched shapes, non-finite entries, or covariances that
        are not symmetric positive definite.

    Notes
    -----
    Derived in chapter 3, section "Bhattacharyya distance" (eqs. (21)-(25)).
    The covariance part equals :math:`\\tfrac12\\sum_i[\\log(1+\\mu_i/2) -
    \\tfrac12\\log(1+\\mu_i)]` with :math:`\\mu_i` as in :func:`kl_divergence`;
    it is summed that way for nearly equal covariances, and from Cholesky
    log-determinants otherwise.
    """
    delta, cp, lp, cq, lq = _pair(mu_p, cov_p, mu_q, cov_q)
    avg = 0.5 * (cp + cq)
    lavg = _cholesky(avg, "(cov_p + cov_q) / 2")
    maha = _mahalanobis_sq(lavg, delta)
    mu = _whitened_difference_eigs(cp, cq, lq)
    near = np.max(np.abs(mu), axis=-1) < _NEAR_EQUAL_RADIUS
    part_near = np.sum(_log1p_half_minus_half_log1p(np.where(near[..., None], mu, 0.0)), axis=-1)
    part_far = _logdet_chol(lavg) - 0.5 * (_logdet_chol(lp) + _logdet_chol(lq))
    cov_part = np.where(near, part_near, part_far)
    return _scalar(np.maximum(0.5 * cov_part + 0.125 * maha, 0.0))


@_range_checked
def hellinger_squared(
    mu_p: ArrayLike, cov_p: ArrayLike, mu_q: ArrayLike, cov_q: ArrayLike
) -> FloatOrArray:
    """Squared Hellinger distance :math:`\\tfrac12\\int(\\sqrt p - \\sqrt q)^2 = 1 - e^{-BD}`.

    Parameters
    ----------
    mu_p, mu_q : array_like, shape (..., n)
        Means.
    cov_p, cov_q : array_like, shape (..., n, n)
        Symmetric positive-definite covariances.

    Returns
    -------
    numpy.float64 or ndarray
        A value in :math:`[0, 1]` (1 only when :math:`e^{-BD}` underflows
        relative to 1, i.e. for BD above about 37).

    Raises
    ------
    ValueError
        As :func:`bhattacharyya_distance`.

    Notes
    -----
    Derived in chapter 3, section "Bhattacharyya distance" (the Hellinger
    remark after eq. (20)); computed as ``-expm1(-BD)`` so that small values
    keep their digits.
    """
    return _scalar(-np.expm1(-np.asarray(bhattacharyya_distance(mu_p, cov_p, mu_q, cov_q))))


def _renyi_covariance_terms(beta: float, mu: NDArray[np.float64]) -> NDArray[np.float64]:
    """[log(1 + beta mu) - beta log(1 + mu)] / beta, elementwise, beta = 1 - alpha.

    Tends to mu - log(1 + mu) as beta -> 0 (the KL term). For |mu| < 0.1 and
    |beta mu| < 0.1 it is summed from its series
    sum_{k>=2} (-1)^(k+1) (beta^(k-1) - 1) mu^k / k (error < 0.1^20), which
    avoids the cancellation between the two logarithms; elsewhere the direct form
    loses at most a few units in the last place.
    """
    if beta == 0.0:
        return _x_minus_log1p(mu)
    out = np.log1p(beta * mu) / beta - np.log1p(mu)
    small = (np.abs(mu) < 0.1) & (np.abs(beta * mu) < 0.1)
    if np.any(small):
        ms = mu[small]
        acc = np.zeros_like(ms)
        for k in range(21, 1, -1):
            acc = acc * ms + (-1.0) ** (k + 1) * (beta ** (k - 1) - 1.0) / k
        out[small] = acc * ms * ms
    return out


@_range_checked
def renyi_divergence(
    mu_p: ArrayLike, cov_p: ArrayLike, mu_q: ArrayLike, cov_q: ArrayLike, alpha: float
) -> FloatOrArray:
    """Rényi divergence of order ``alpha`` between two Gaussians.

    :math:`D_\\alpha(p\\Vert q) = \\frac{1}{\\alpha-1}\\log\\int p^\\alpha q^{1-\\alpha}`,
    in closed form:

    .. math::

        D_\\alpha = \\tfrac\\alpha2\\Delta^\\top\\Sigma_\\alpha^{-1}\\Delta
            - \\frac{1}{2(\\alpha-1)}\\log\\frac{\\det\\Sigma_\\alpha}
              {(\\det\\Sigma_p)^{1-\\alpha}(\\det\\Sigma_q)^{\\alpha}},
        \\qquad \\Sigma_\\alpha = \\alpha\\Sigma_q + (1-\\alpha)\\Sigma_p .

    Parameters
    ----------
    mu_p, mu_q : array_like, shape (..., n)
        Means.
    cov_p, cov_q : array_like, shape (..., n, n)
        Symmetric positive-definite covariances.
    alpha : float
        The order, a finite positive number. ``alpha = 1`` gives
        :func:`kl_divergence` (the limit), ``alpha = 0.5`` twice
        :func:`bhattacharyya_distance`.

    Returns
    -------
    numpy.float64 or ndarray
        :math:`D_\\alpha(p\\Vert q) \\ge 0`, nondecreasing in ``alpha``. For
        ``alpha > 1`` it is ``inf`` where :math:`\\Sigma_\\alpha` is not positive
        definite: the integral diverges there.

    Raises
    ------
    TypeError
        If ``alpha`` is not a real number.
    ValueError
        If ``alpha`` is not finite and positive, or as :func:`kl_divergence`.

    Notes
    -----
    Chapter 3, section "A family that contains both". With :math:`1 + \\mu_i` the
    eigenvalues of :math:`\\Sigma_q^{-1}\\Sigma_p` (from the whitened difference
    :math:`E = L_q^{-1}(\\Sigma_p - \\Sigma_q)L_q^{-\\top}`, as in
    :func:`kl_divergence`) and :math:`\\beta = 1 - \\alpha`, the covariance part
    is :math:`\\frac1{2\\beta}\\sum_i[\\log(1 + \\beta\\mu_i) - \\beta\\log(1 + \\mu_i)]`,
    which is continuous at :math:`\\alpha = 1`; the mean part is
    :math:`\\tfrac\\alpha2 z^\\top(I + \\beta E)^{-1}z` with :math:`z = L_q^{-1}\\Delta`.
    """
    real_types = (int, float, np.integer, np.floating)
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, real_types):
        raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha > 0.0):
        raise ValueError(f"alpha must be finite and positive, got {alpha}")
    delta, cp, lp, cq, lq = _pair(mu_p, cov_p, mu_q, cov_q)
    beta = 1.0 - alpha
    x = _solve_lower(lq, cp - cq)
    e = _solve_lower(lq, np.swapaxes(x, -1, -2))
    mu, vecs = np.linalg.eigh(0.5 * (e + np.swapaxes(e, -1, -2)))
    scale = 1.0 + beta * mu  # eigenvalues of the whitened Sigma_alpha
    finite = np.all(scale > 0.0, axis=-1)
    safe_mu = np.where(finite[..., None], mu, 0.0)
    safe_scale = np.where(finite[..., None], scale, 1.0)
    z = _solve_lower(lq, delta[..., None])[..., 0]
    zv = np.einsum("...ij,...i->...j", vecs, z)
    mean_part = 0.5 * alpha * np.sum(zv * zv / safe_scale, axis=-1)
    cov_part = 0.5 * np.sum(_renyi_covariance_terms(beta, safe_mu), axis=-1)
    value = np.where(finite, np.maximum(mean_part + cov_part, 0.0), np.inf)
    return _scalar(value, divergent=~finite)


def sqrtm_psd(a: ArrayLike) -> NDArray[np.float64]:
    """Principal square root of symmetric positive semidefinite matrices.

    Parameters
    ----------
    a : array_like, shape (..., n, n)
        Symmetric positive-semidefinite matrices.

    Returns
    -------
    ndarray, shape (..., n, n)
        The unique symmetric PSD matrix :math:`S` with :math:`S^2 = A`.

    Raises
    ------
    ValueError
        If ``a`` is not finite, not square, not symmetric, or has an
        eigenvalue below ``-PSD_RTOL`` times its largest absolute eigenvalue.

    Notes
    -----
    Chapter 3, section "Linear-algebra toolkit" (eq. (11)):
    :math:`A = U\\Lambda U^\\top \\Rightarrow A^{1/2} = U\\Lambda^{1/2}U^\\top`,
    from one symmetric eigendecomposition; eigenvalues within rounding of zero
    are clipped to zero.
    """
    s = _as_symmetric(a, "a")
    w, u = np.linalg.eigh(s)
    top = np.max(np.abs(w), axis=-1, keepdims=True)
    if np.any(w < -PSD_RTOL * top):
        raise ValueError("a must be positive semidefinite (it has a negative eigenvalue)")
    root = (u * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.swapaxes(u, -1, -2)
    return 0.5 * (root + np.swapaxes(root, -1, -2))


@_range_checked
def wasserstein2_squared(
    mu_p: ArrayLike, cov_p: ArrayLike, mu_q: ArrayLike, cov_q: ArrayLike
) -> FloatOrArray:
    """Squared 2-Wasserstein distance between two Gaussians.

    .. math::

        \\mathcal{W}_2^2 = \\Vert\\mu_p - \\mu_q\\Vert^2 + \\mathrm{Tr}\\Sigma_p
        + \\mathrm{Tr}\\Sigma_q - 2\\,\\mathrm{Tr}\\big((\\Sigma_p^{1/2}\\Sigma_q\\Sigma_p^{1/2})^{1/2}\\big).

    Parameters
    ----------
    mu_p, mu_q : array_like, shape (..., n)
        Means.
    cov_p, cov_q : array_like, shape (..., n, n)
        Symmetric positive-definite covariances.

    Returns
    -------
    numpy.float64 or ndarray
        :math:`\\mathcal{W}_2^2 \\ge 0` (rounding below zero is clipped).

    Raises
    ------
    ValueError
        On wrong or mismatched shapes, non-finite entries, or covariances that
        are not symmetric positive definite.

    Notes
    -----
    Derived in chapter 3, section "Wasserstein distance" (eqs. (28)-(31), two
    derivations). The trace term is computed without any matrix square root:
    :math:`\\Sigma_p^{1/2}\\Sigma_q\\Sigma_p^{1/2}` is similar to
    :math:`L_p^\\top\\Sigma_qL_p = (L_p^\\top L_q)(L_p^\\top L_q)^\\top`, so its
    square root has trace equal to the sum of the singular values (nuclear
    norm) of :math:`L_p^\\top L_q`: two Cholesky factorisations, one product
    and one values-only SVD. Taking singular values of the factor, rather
    than square roots of eigenvalues, keeps small singular values accurate.
    When the covariances are so close that this difference of traces would
    cancel (below ``BURES_CANCELLATION`` of the traces), it is recomputed as
    :math:`\\|L_p - L_qU\\|_F^2` with the optimal orthogonal :math:`U` from a full
    SVD: a sum of squares, accurate to a few ulps, so that
    :math:`\\mathcal{W}_2(p, p)` is of order :math:`\\varepsilon` rather than
    :math:`\\sqrt{\\varepsilon}` (times :math:`\\sqrt{\\mathrm{Tr}\\,\\Sigma}`).
    """
    delta, cp, lp, cq, lq = _pair(mu_p, cov_p, mu_q, cov_q)
    w2 = np.sum(delta * delta, axis=-1) + _bures_squared(cp, lp, cq, lq)
    return _scalar(np.maximum(w2, 0.0))


def _bures_squared(cp: NDArray[np.float64], lp: NDArray[np.float64],
                   cq: NDArray[np.float64], lq: NDArray[np.float64]) -> NDArray[np.float64]:
    """The covariance part of W2**2, ``Tr Sigma_p + Tr Sigma_q - 2 ||L_p^T L_q||_*``."""
    k = np.swapaxes(lp, -1, -2) @ lq
    nuclear = np.sum(np.linalg.svd(k, compute_uv=False), axis=-1)
    traces = np.trace(cp, axis1=-2, axis2=-1) + np.trace(cq, axis1=-2, axis2=-1)
    bures = traces - 2.0 * nuclear
    close = bures < BURES_CANCELLATION * traces
    if np.any(close):  # nearly equal covariances: the difference form, no cancellation
        bures = np.where(close, _bures_squared_difference(lp, lq), bures)
    return np.maximum(bures, 0.0)


#: Below this fraction of ``Tr Sigma_p + Tr Sigma_q`` the covariance part of W2**2 is
#: recomputed as a sum of squares: ``Tr - 2 ||L_p^T L_q||_*`` has lost about
#: ``log10(1 / fraction)`` digits to cancellation there (at ``Sigma_p = Sigma_q``
#: all of them, which left W2 an absolute noise floor of ``sqrt(eps Tr Sigma)``).
BURES_CANCELLATION = 1e-2


def _bures_squared_difference(lp: NDArray[np.float64], lq: NDArray[np.float64]
                              ) -> NDArray[np.float64]:
    """``Tr Sigma_p + Tr Sigma_q - 2 ||L_p^T L_q||_*`` as ``||L_p - L_q U||_F**2``.

    With ``L_p^T L_q = P S Q^T``, the orthogonal ``U = Q P^T`` maximises
    ``Tr(L_p^T L_q U)``, which then equals ``sum(S)``, so ``||L_p - L_q U||_F**2``
    is the same number (chapter 3, section "Wasserstein distance", the SVD
    maximiser) written as a sum of squares: each entry of the difference is formed
    directly, so nothing cancels and W2 comes out with an absolute error of order
    ``n * eps * sqrt(Tr Sigma)`` instead of the trace form's ``sqrt(eps * Tr Sigma)``
    (the relative error of W2**2 still grows as W2 falls towards that level).
    """
    p_left, _, q_right_t = np.linalg.svd(np.swapaxes(lp, -1, -2) @ lq)
    u = np.swapaxes(q_right_t, -1, -2) @ np.swapaxes(p_left, -1, -2)
    diff = lp - lq @ u
    return np.sum(diff * diff, axis=(-2, -1))


@_range_checked
def wasserstein2(
    mu_p: ArrayLike, cov_p: ArrayLike, mu_q: ArrayLike, cov_q: ArrayLike
) -> FloatOrArray:
    """2-Wasserstein distance, the square root of :func:`wasserstein2_squared`.

    Parameters
    ----------
    mu_p, mu_q : array_like, shape (..., n)
        Means.
    cov_p, cov_q : array_like, shape (..., n, n)
        Symmetric positive-definite covariances.

    Returns
    -------
    numpy.float64 or ndarray
        :math:`\\mathcal{W}_2[p, q] \\ge 0`.

    Raises
    ------
    ValueError
        As :func:`wasserstein2_squared`.

    Notes
    -----
    Chapter 3, section "Wasserstein distance", eq. (28). The mean part
    :math:`\\lVert\\mu_p - \\mu_q\\rVert` and the covariance part are combined by
    ``hypot``, so that W2 stays finite (and keeps its digits) when W2**2 would
    overflow or underflow.
    """
    # ||mu_p - mu_q||**2 can overflow or underflow far from unit scale although W2 is
    # representable: the mean part is a scaled norm and is combined with the
    # covariance (Bures) part by hypot, never squared.
    delta, cp, lp, cq, lq = _pair(mu_p, cov_p, mu_q, cov_q)
    bures = np.sqrt(_bures_squared(cp, lp, cq, lq))
    largest = np.max(np.abs(delta), axis=-1, keepdims=True)
    safe = np.where(largest > 0, largest, 1.0)
    mean_part = largest[..., 0] * np.sqrt(np.sum((delta / safe) ** 2, axis=-1))
    return _scalar(np.hypot(mean_part, bures))


def transport_map(cov_p: ArrayLike, cov_q: ArrayLike) -> NDArray[np.float64]:
    """Optimal transport map between centred Gaussians: the matrix :math:`T`.

    .. math::

        T = \\Sigma_p^{-1/2}(\\Sigma_p^{1/2}\\Sigma_q\\Sigma_p^{1/2})^{1/2}\\Sigma_p^{-1/2},

    symmetric positive definite with :math:`T\\Sigma_pT = \\Sigma_q`; the map
    :math:`x \\mapsto \\mu_q + T(x - \\mu_p)` pushes :math:`p` forward to
    :math:`q` and attains :math:`\\mathcal{W}_2`.

    Parameters
    ----------
    cov_p, cov_q : array_like, shape (..., n, n)
        Symmetric positive-definite covariances (batch dimensions broadcast).

    Returns
    -------
    ndarray, shape (..., n, n)
        The symmetric matrix :math:`T`.

    Raises
    ------
    ValueError
        On wrong or mismatched shapes, non-finite entries, or covariances that
        are not symmetric positive definite.

    Notes
    -----
    Chapter 3, section "Derivation 2: block factorisation and Lagrange
    multipliers" (the multiplier :math:`W_p` of eq. (48) is :math:`T`). One eigendecomposition of :math:`\\Sigma_p` gives
    :math:`\\Sigma_p^{\\pm1/2}`, one more gives the middle square root.
    """
    cp, _ = _as_cov(cov_p, "cov_p")
    cq, _ = _as_cov(cov_q, "cov_q")
    if cp.shape[-1] != cq.shape[-1]:
        raise ValueError(f"cov_p is {cp.shape[-1]} x {cp.shape[-1]} but cov_q is {cq.shape[-1]} x {cq.shape[-1]}")
    try:
        batch = np.broadcast_shapes(cp.shape[:-2], cq.shape[:-2])
    except ValueError:
        raise ValueError(f"batch shapes do not broadcast: cov_p {cp.shape}, cov_q {cq.shape}") from None
    w, u = np.linalg.eigh(cp)
    ut = np.swapaxes(u, -1, -2)
    root = (u * np.sqrt(w)[..., None, :]) @ ut
    inv_root = (u / np.sqrt(w)[..., None, :]) @ ut
    middle = root @ cq @ root
    m = sqrtm_psd(0.5 * (middle + np.swapaxes(middle, -1, -2)))
    t = inv_root @ m @ inv_root
    t = 0.5 * (t + np.swapaxes(t, -1, -2))
    return np.broadcast_to(t, batch + cp.shape[-2:]).copy()
