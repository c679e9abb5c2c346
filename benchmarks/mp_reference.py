"""High-precision references for the benchmarks (mpmath, 50 significant digits).

Every float64 input is converted to mpmath exactly (a double is a dyadic rational),
so these are the values of the formulas *for the inputs the float64 code received*:
the difference between a float64 result and these is that code's own error.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np

DPS = 50


def _matrix(a: np.ndarray) -> mp.matrix:
    return mp.matrix(np.asarray(a, dtype=np.float64).tolist())


def _vector(v: np.ndarray) -> mp.matrix:
    return mp.matrix(np.asarray(v, dtype=np.float64).tolist())


def _logdet_spd(a: mp.matrix) -> mp.mpf:
    chol = mp.cholesky(a)
    return 2 * mp.fsum(mp.log(chol[i, i]) for i in range(a.rows))


def kl_divergence(mu_p, cov_p, mu_q, cov_q, dps: int = DPS) -> mp.mpf:
    """KL(p || q) = [d' Sq^-1 d - log det(Sq^-1 Sp) + tr(Sq^-1 Sp) - n] / 2, at ``dps`` digits.

    Cancellation in ``tr - n - logdet`` for nearly equal covariances costs about
    log10(n / KL) digits and an inverse at condition number kappa about log10(kappa):
    at 50 digits, KL ~ 1e-6 and kappa = 1e10 still leave more than 30.
    """
    with mp.workdps(dps):
        p, q = _matrix(cov_p), _matrix(cov_q)
        n = p.rows
        d = _vector(mu_p) - _vector(mu_q)
        q_inv = mp.inverse(q)
        maha = (d.T * q_inv * d)[0, 0]
        qp = q_inv * p
        trace = mp.fsum(qp[i, i] for i in range(n))
        return (maha + trace - n - _logdet_spd(p) + _logdet_spd(q)) / 2


def wasserstein2(mu_p, cov_p, mu_q, cov_q, dps: int = DPS) -> mp.mpf:
    """W2 = sqrt(|d|^2 + tr Sp + tr Sq - 2 tr (Sp^1/2 Sq Sp^1/2)^1/2), at ``dps`` digits.

    Both square roots by symmetric eigendecomposition (``mp.eigsy``); O(n^3) in
    Python-level arithmetic, so meant for n up to a few dozen.
    """
    with mp.workdps(dps):
        p, q = _matrix(cov_p), _matrix(cov_q)
        n = p.rows
        d = _vector(mu_p) - _vector(mu_q)
        w, u = mp.eigsy(p)
        root = u * mp.diag([mp.sqrt(w[i]) for i in range(n)]) * u.T
        middle = root * q * root
        middle = (middle + middle.T) / 2
        ev = mp.eigsy(middle, eigvals_only=True)
        cross = mp.fsum(mp.sqrt(max(ev[i], mp.mpf(0))) for i in range(n))
        w2sq = mp.fsum(d[i] ** 2 for i in range(n)) + mp.fsum(p[i, i] + q[i, i] for i in range(n))
        return mp.sqrt(max(w2sq - 2 * cross, mp.mpf(0)))


def sqrt_integer(value: int, dps: int = DPS) -> mp.mpf:
    """sqrt of an exact integer (the W2 benchmark's inputs have an integer W2^2)."""
    with mp.workdps(dps):
        return mp.sqrt(mp.mpf(int(value)))


def hsic_population_article(noise: float = 0.1) -> mp.mpf:
    """Population HSIC for x ~ N(0,1), y = x + noise*e, kernel exp(-d^2) on both.

    For jointly Gaussian (u, v) with covariance S, E exp(-(u^2 + v^2)) = det(I + 2S)^-1/2
    (chapter 4, claim 6910-f): HSIC = det(I+2S1)^-1/2 + det(I+2S2)^-1/2 - 2 det(I+2S3)^-1/2
    with S1 = [[2, 2], [2, 2 + 2s^2]] (two joint draws), S2 = diag(2, 2 + 2s^2)
    (independent draws) and S3 = [[2, 1], [1, 2 + 2s^2]] (one shared draw).
    """
    with mp.workdps(DPS):
        s2 = mp.mpf(noise) ** 2
        vy = 2 + 2 * s2

        def e(c):
            return 1 / mp.sqrt((1 + 4) * (1 + 2 * vy) - (2 * c) ** 2)

        return e(2) + e(0) - 2 * e(1)
