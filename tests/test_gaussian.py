"""Tests for lib.gaussian: closed forms against independent references and properties."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import ot
import pytest
import scipy.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from lib import gaussian as g

SETTINGS = settings(max_examples=40, deadline=None)


def random_spd(rng: np.random.Generator, n: int, cond: float = 10.0) -> np.ndarray:
    """A random SPD matrix with eigenvalues log-spaced in [1, cond]."""
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    w = np.logspace(0.0, math.log10(cond), n)
    s = (q * w) @ q.T
    return 0.5 * (s + s.T)


@st.composite
def gaussians(draw, n: int | None = None):
    """A pair of n-dimensional Gaussians with moderately conditioned covariances."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = n if n is not None else draw(st.integers(1, 6))
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    b = rng.normal(size=(n, n))
    return (
        rng.normal(size=n),
        a @ a.T + 0.1 * np.eye(n),
        rng.normal(size=n),
        b @ b.T + 0.1 * np.eye(n),
    )


def kl_mpmath(mu_p, cov_p, mu_q, cov_q) -> float:
    """KL(p||q) at 50 significant digits (the textbook formula in mpmath)."""
    with mpmath.workdps(50):
        n = len(mu_p)
        p = mpmath.matrix(cov_p.tolist())
        q = mpmath.matrix(cov_q.tolist())
        d = mpmath.matrix((np.asarray(mu_p) - np.asarray(mu_q)).tolist())
        qi = q**-1
        m = qi * p
        value = 0.5 * ((d.T * qi * d)[0] - mpmath.log(mpmath.det(m)) + sum(m[i, i] for i in range(n)) - n)
        return float(value)


# ---------------------------------------------------------------------------
# Known values and independent references
# ---------------------------------------------------------------------------


def test_one_dimensional_closed_forms() -> None:
    mp_, sp_, mq, sq = 0.3, 1.7, -1.1, 0.6
    kl = 0.5 * ((mp_ - mq) ** 2 / sq**2 - math.log(sp_**2 / sq**2) + sp_**2 / sq**2 - 1)
    bd = 0.5 * math.log((sp_**2 + sq**2) / 2 / (sp_ * sq)) + (mp_ - mq) ** 2 / (4 * (sp_**2 + sq**2))
    w2 = (mp_ - mq) ** 2 + (sp_ - sq) ** 2
    args = ([mp_], [[sp_**2]], [mq], [[sq**2]])
    assert g.kl_divergence(*args) == pytest.approx(kl, rel=1e-14)
    assert g.bhattacharyya_distance(*args) == pytest.approx(bd, rel=1e-14)
    assert g.wasserstein2_squared(*args) == pytest.approx(w2, rel=1e-13)
    assert g.hellinger_squared(*args) == pytest.approx(1 - math.exp(-bd), rel=1e-14)


def test_entropy_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    cov = random_spd(rng, 5, 100.0)
    assert g.entropy(cov) == pytest.approx(stats.multivariate_normal(np.zeros(5), cov).entropy(), rel=1e-13)


def test_kl_matches_mpmath_generic_and_nearly_equal() -> None:
    rng = np.random.default_rng(2)
    n = 6
    cov_q = random_spd(rng, n, 1e6)
    cov_p = random_spd(rng, n, 1e6)
    mu = rng.normal(size=n)
    ref = kl_mpmath(mu, cov_p, np.zeros(n), cov_q)
    assert g.kl_divergence(mu, cov_p, np.zeros(n), cov_q) == pytest.approx(ref, rel=1e-10)
    # nearly equal pair: cov_p = R (I + E) R with R = cov_q^(1/2), |E| ~ 1e-3
    e = rng.normal(size=(n, n)) * 1e-4
    r = g.sqrtm_psd(cov_q)
    near = r @ (np.eye(n) + e + e.T) @ r
    near = 0.5 * (near + near.T)
    ref = kl_mpmath(np.zeros(n), near, np.zeros(n), cov_q)
    assert ref < 1e-5
    assert g.kl_divergence(np.zeros(n), near, np.zeros(n), cov_q) == pytest.approx(ref, rel=1e-8, abs=0)
    # closer still (|E| ~ 1e-8, KL ~ 1e-15): Tr - n - logdet would have lost every digit
    tiny = r @ (np.eye(n) + 1e-4 * (e + e.T)) @ r
    tiny = 0.5 * (tiny + tiny.T)
    ref = kl_mpmath(np.zeros(n), tiny, np.zeros(n), cov_q)
    assert ref < 1e-13
    kl = g.kl_divergence(np.zeros(n), tiny, np.zeros(n), cov_q)
    assert kl == pytest.approx(ref, rel=1e-6, abs=0)


def test_kl_against_textbook_formula_well_conditioned() -> None:
    rng = np.random.default_rng(3)
    n = 4
    mp_, mq = rng.normal(size=n), rng.normal(size=n)
    cp, cq = random_spd(rng, n), random_spd(rng, n)
    qi = np.linalg.inv(cq)
    ref = 0.5 * ((mp_ - mq) @ qi @ (mp_ - mq) - np.log(np.linalg.det(qi @ cp)) + np.trace(qi @ cp) - n)
    assert g.kl_divergence(mp_, cp, mq, cq) == pytest.approx(ref, rel=1e-12)


def test_wasserstein_matches_pot_and_sqrtm() -> None:
    rng = np.random.default_rng(4)
    n = 30
    mp_, mq = rng.normal(size=n), rng.normal(size=n)
    cp, cq = random_spd(rng, n, 1e3), random_spd(rng, n, 1e3)
    pot = float(ot.gaussian.bures_wasserstein_distance(mp_, mq, cp, cq))
    assert g.wasserstein2(mp_, cp, mq, cq) == pytest.approx(pot, rel=1e-12)
    version2 = np.sum((mp_ - mq) ** 2) + np.trace(cp) + np.trace(cq) - 2 * np.trace(sla.sqrtm(cp @ cq)).real
    assert g.wasserstein2_squared(mp_, cp, mq, cq) == pytest.approx(version2, rel=1e-10)


def test_bhattacharyya_matches_slogdet_formula() -> None:
    rng = np.random.default_rng(5)
    n = 5
    mp_, mq = rng.normal(size=n), rng.normal(size=n)
    cp, cq = random_spd(rng, n, 50.0), random_spd(rng, n, 50.0)
    s = 0.5 * (cp + cq)
    ld = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    ref = 0.5 * (ld(s) - 0.5 * ld(cp) - 0.5 * ld(cq)) + (mp_ - mq) @ np.linalg.solve(s, mp_ - mq) / 8
    assert g.bhattacharyya_distance(mp_, cp, mq, cq) == pytest.approx(ref, rel=1e-12)


def test_bhattacharyya_nearly_equal_matches_series() -> None:
    # cov_p = (1 + eps) cov_q: BD = n/2 [log(1 + eps/2) - log(1 + eps)/2] ~ n eps^2 / 16
    eps = 1e-5
    cov = random_spd(np.random.default_rng(6), 3, 1e4)
    exact = 1.5 * (math.log1p(eps / 2) - 0.5 * math.log1p(eps))
    series = 3 * (eps**2 / 16 - eps**3 / 16)
    assert exact == pytest.approx(series, rel=1e-4, abs=0)
    got = g.bhattacharyya_distance(np.zeros(3), (1 + eps) * cov, np.zeros(3), cov)
    assert got == pytest.approx(series, rel=1e-5, abs=0)


def test_transport_map_pushes_forward() -> None:
    rng = np.random.default_rng(7)
    cp, cq = random_spd(rng, 6, 100.0), random_spd(rng, 6, 100.0)
    t = g.transport_map(cp, cq)
    np.testing.assert_allclose(t, t.T, atol=0)
    assert np.all(np.linalg.eigvalsh(t) > 0)
    np.testing.assert_allclose(t @ cp @ t, cq, rtol=0, atol=1e-10 * np.abs(cq).max())
    # its cost is W2^2 (zero means): E||x - Tx||^2 = Tr((I - T) cp (I - T))
    i = np.eye(6)
    assert np.trace((i - t) @ cp @ (i - t)) == pytest.approx(
        g.wasserstein2_squared(np.zeros(6), cp, np.zeros(6), cq), rel=1e-9
    )


def test_sqrtm_psd_matches_scipy_and_handles_singular() -> None:
    rng = np.random.default_rng(8)
    a = random_spd(rng, 7, 1e4)
    np.testing.assert_allclose(g.sqrtm_psd(a), sla.sqrtm(a).real, rtol=1e-10, atol=1e-12)
    v = rng.normal(size=(4, 2))
    singular = v @ v.T  # rank 2
    root = g.sqrtm_psd(singular)
    np.testing.assert_allclose(root @ root, singular, atol=1e-12 * np.abs(singular).max())


def test_batching_matches_loop() -> None:
    rng = np.random.default_rng(9)
    n = 3
    mus = rng.normal(size=(4, 1, n))
    covs = np.stack([random_spd(rng, n) for _ in range(5)])  # (5, n, n)
    mu_q, cov_q = rng.normal(size=n), random_spd(rng, n)
    for f in (g.kl_divergence, g.bhattacharyya_distance, g.hellinger_squared, g.wasserstein2_squared):
        out = f(mus, covs, mu_q, cov_q)
        assert out.shape == (4, 5)
        loop = np.array([[f(mus[i, 0], covs[j], mu_q, cov_q) for j in range(5)] for i in range(4)])
        np.testing.assert_allclose(out, loop, rtol=1e-13)
    assert g.entropy(covs).shape == (5,)
    assert g.transport_map(covs, cov_q).shape == (5, n, n)
    assert g.sqrtm_psd(covs).shape == (5, n, n)
    assert isinstance(g.kl_divergence(mu_q, cov_q, mu_q, cov_q), np.float64)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------


@SETTINGS
@given(gaussians())
def test_divergences_nonnegative_and_zero_on_diagonal(pair) -> None:
    mp_, cp, mq, cq = pair
    for f in (g.kl_divergence, g.bhattacharyya_distance, g.hellinger_squared, g.wasserstein2_squared):
        assert f(mp_, cp, mq, cq) >= 0
        assert f(mp_, cp, mp_, cp) == pytest.approx(0, abs=1e-9 * (1 + np.trace(cp)))
    assert g.hellinger_squared(mp_, cp, mq, cq) <= 1


@SETTINGS
@given(gaussians())
def test_symmetric_distances(pair) -> None:
    mp_, cp, mq, cq = pair
    for f in (g.bhattacharyya_distance, g.wasserstein2_squared):
        assert f(mp_, cp, mq, cq) == pytest.approx(f(mq, cq, mp_, cp), rel=1e-8, abs=1e-10)


@SETTINGS
@given(gaussians(), st.integers(0, 2**32 - 1))
def test_invariances(pair, seed) -> None:
    """KL and BD are invariant under any affine bijection; W2 under rigid motions."""
    mp_, cp, mq, cq = pair
    n = len(mp_)
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n)) + 3 * np.eye(n)
    b = rng.normal(size=n)
    o, _ = np.linalg.qr(rng.normal(size=(n, n)))
    for f, m in ((g.kl_divergence, a), (g.bhattacharyya_distance, a), (g.wasserstein2_squared, o)):
        moved = f(m @ mp_ + b, m @ cp @ m.T, m @ mq + b, m @ cq @ m.T)
        assert moved == pytest.approx(f(mp_, cp, mq, cq), rel=1e-6, abs=1e-9)


@SETTINGS
@given(gaussians())
def test_commuting_and_standard_normal_cases(pair) -> None:
    mp_, cp, _, _ = pair
    n = len(mp_)
    root = g.sqrtm_psd(cp)
    w34 = np.sum(mp_**2) + np.sum((root - np.eye(n)) ** 2)
    assert g.wasserstein2_squared(mp_, cp, np.zeros(n), np.eye(n)) == pytest.approx(w34, rel=1e-8, abs=1e-10)
    kl16 = 0.5 * (np.sum(mp_**2) - np.linalg.slogdet(cp)[1] + np.trace(cp) - n)
    assert g.kl_divergence(mp_, cp, np.zeros(n), np.eye(n)) == pytest.approx(kl16, rel=1e-9, abs=1e-12)


@SETTINGS
@given(gaussians(n=3), st.floats(0.05, 0.95))
def test_triangle_inequality_w2(pair, t) -> None:
    mp_, cp, mq, cq = pair
    mr, cr = t * mp_ + (1 - t) * mq, t * cp + (1 - t) * cq
    w = g.wasserstein2
    assert w(mp_, cp, mq, cq) <= w(mp_, cp, mr, cr) + w(mr, cr, mq, cq) + 1e-9


# ---------------------------------------------------------------------------
# Renyi divergence
# ---------------------------------------------------------------------------


def renyi_mpmath(mu_p, cov_p, mu_q, cov_q, alpha) -> float:
    """D_alpha at 50 digits, from the determinant form (an independent route)."""
    with mpmath.workdps(50):
        a = mpmath.mpf(alpha)
        p = mpmath.matrix(cov_p.tolist())
        q = mpmath.matrix(cov_q.tolist())
        s = a * q + (1 - a) * p
        d = mpmath.matrix((np.asarray(mu_p) - np.asarray(mu_q)).tolist())
        mean = a / 2 * (d.T * s**-1 * d)[0]
        logs = mpmath.log(mpmath.det(s)) - (1 - a) * mpmath.log(mpmath.det(p))
        logs -= a * mpmath.log(mpmath.det(q))
        return float(mean - logs / (2 * (a - 1)))


def test_renyi_matches_mpmath_and_one_dimensional_integral() -> None:
    rng = np.random.default_rng(71)
    for alpha in (0.1, 0.5, 0.9, 1.5, 3.0):
        for n in (1, 3, 6):
            mp, mq = rng.normal(size=n), rng.normal(size=n)
            cp, cq = random_spd(rng, n, 5.0), random_spd(rng, n, 5.0)
            got = g.renyi_divergence(mp, cp, mq, cq, alpha)
            if np.isinf(got):
                continue
            assert got == pytest.approx(renyi_mpmath(mp, cp, mq, cq, alpha), rel=1e-11)
    # 1-D: the definition by quadrature, independent of every closed form.
    p, q = stats.norm(0.3, 0.8), stats.norm(-0.5, 1.3)
    for alpha in (0.25, 2.0):
        log_integrand = lambda x: alpha * p.logpdf(x) + (1 - alpha) * q.logpdf(x)
        integral = integrate.quad(lambda x: math.exp(log_integrand(x)), -np.inf, np.inf, epsabs=0)[0]
        expected = math.log(integral) / (alpha - 1)
        got = g.renyi_divergence([0.3], [[0.64]], [-0.5], [[1.69]], alpha)
        assert got == pytest.approx(expected, rel=1e-10)


def test_renyi_special_orders_and_continuity_at_one() -> None:
    rng = np.random.default_rng(72)
    mp, mq = rng.normal(size=4), rng.normal(size=4)
    cp, cq = random_spd(rng, 4, 20.0), random_spd(rng, 4, 20.0)
    kl = g.kl_divergence(mp, cp, mq, cq)
    assert g.renyi_divergence(mp, cp, mq, cq, 0.5) == pytest.approx(2 * g.bhattacharyya_distance(mp, cp, mq, cq), rel=1e-12)
    assert g.renyi_divergence(mp, cp, mq, cq, 1.0) == pytest.approx(kl, rel=1e-13)
    for h in (1e-4, 1e-8, 1e-12):  # no cancellation next to alpha = 1
        for alpha in (1 - h, 1 + h):
            assert g.renyi_divergence(mp, cp, mq, cq, alpha) == pytest.approx(kl, rel=20 * h + 1e-13)
    # nearly equal covariances: the series keeps the digits (mpmath reference)
    cq2 = cp + 1e-7 * random_spd(rng, 4)
    for alpha in (0.3, 1.0, 2.0):
        ref = renyi_mpmath(mp, cp, mp, cq2, alpha) if alpha != 1.0 else kl_mpmath(mp, cp, mp, cq2)
        assert g.renyi_divergence(mp, cp, mp, cq2, alpha) == pytest.approx(ref, rel=1e-8, abs=0)


@SETTINGS
@given(pair=gaussians(), alphas=st.lists(st.floats(0.05, 4.0), min_size=2, max_size=2))
def test_renyi_nonnegative_and_nondecreasing_in_alpha(pair, alphas) -> None:
    a, b = sorted(alphas)
    da, db = g.renyi_divergence(*pair, a), g.renyi_divergence(*pair, b)
    assert da >= 0
    assert db >= da * (1 - 1e-9) - 1e-12
    assert g.renyi_divergence(pair[0], pair[1], pair[0], pair[1], a) == pytest.approx(0.0, abs=1e-12)


def test_renyi_infinite_where_the_integral_diverges_and_batches() -> None:
    # alpha Sigma_q + (1 - alpha) Sigma_p = 3 - 2 * 4 < 0 for alpha = 3
    assert g.renyi_divergence([0.0], [[4.0]], [0.0], [[1.0]], 3.0) == np.inf
    assert np.isfinite(g.renyi_divergence([0.0], [[4.0]], [0.0], [[1.0]], 1.2))
    rng = np.random.default_rng(73)
    covs = np.stack([random_spd(rng, 3) for _ in range(5)])
    means = rng.normal(size=(5, 3))
    batch = g.renyi_divergence(means, covs, 0 * means[0], np.eye(3), 0.7)
    loop = [g.renyi_divergence(m, c, 0 * m, np.eye(3), 0.7) for m, c in zip(means, covs)]
    np.testing.assert_allclose(batch, loop, rtol=1e-14)


@pytest.mark.parametrize(
    ("alpha", "error"),
    [(0.0, ValueError), (-1.0, ValueError), (math.nan, ValueError), (math.inf, ValueError),
     ("2", TypeError), (None, TypeError), (True, TypeError), (np.array([0.5]), TypeError)],
)
def test_renyi_bad_alpha(alpha, error) -> None:
    with pytest.raises(error, match="alpha"):
        g.renyi_divergence([0.0], [[1.0]], [0.0], [[1.0]], alpha)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

I2 = np.eye(2)
Z2 = np.zeros(2)
BAD_CALLS = {
    "cov not square": lambda: g.kl_divergence(Z2, np.ones((2, 3)), Z2, I2),
    "cov 1-d": lambda: g.entropy(np.ones(2)),
    "cov empty": lambda: g.entropy(np.zeros((0, 0))),
    "cov not symmetric": lambda: g.kl_divergence(Z2, [[1.0, 0.5], [0.0, 1.0]], Z2, I2),
    "cov not PD": lambda: g.bhattacharyya_distance(Z2, [[1.0, 2.0], [2.0, 1.0]], Z2, I2),
    "cov singular": lambda: g.wasserstein2(Z2, [[1.0, 1.0], [1.0, 1.0]], Z2, I2),
    "cov NaN": lambda: g.entropy([[np.nan, 0.0], [0.0, 1.0]]),
    "cov inf": lambda: g.kl_divergence(Z2, I2, Z2, [[np.inf, 0.0], [0.0, 1.0]]),
    "cov complex": lambda: g.entropy(np.eye(2, dtype=complex)),
    "cov strings": lambda: g.entropy([["a", "b"], ["c", "d"]]),
    "mean wrong length": lambda: g.kl_divergence(np.zeros(3), I2, Z2, I2),
    "mean scalar": lambda: g.wasserstein2_squared(0.0, I2, Z2, I2),
    "mean NaN": lambda: g.hellinger_squared([np.nan, 0.0], I2, Z2, I2),
    "dimensions differ": lambda: g.kl_divergence(Z2, I2, np.zeros(3), np.eye(3)),
    "batches do not broadcast": lambda: g.kl_divergence(np.zeros((3, 2)), I2, np.zeros((4, 2)), I2),
    "transport dims differ": lambda: g.transport_map(I2, np.eye(3)),
    "transport not PD": lambda: g.transport_map(-I2, I2),
    "transport batches": lambda: g.transport_map(np.stack([I2] * 3), np.stack([I2] * 2)),
    "sqrtm negative eigenvalue": lambda: g.sqrtm_psd([[1.0, 0.0], [0.0, -1.0]]),
    "sqrtm not symmetric": lambda: g.sqrtm_psd([[1.0, 1.0], [0.0, 1.0]]),
    "sqrtm not square": lambda: g.sqrtm_psd(np.ones((2, 3))),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_raises_value_error(call) -> None:
    with pytest.raises(ValueError):
        call()


def test_wasserstein2_far_from_unit_scale() -> None:
    eye = np.eye(2)
    # means 1e200 apart: W2**2 = 1e400 overflows, W2 itself does not
    assert g.wasserstein2([0.0, 0.0], eye, [1e200, 0.0], eye) == pytest.approx(1e200, rel=1e-15)
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 3, 3))
    cov_p, cov_q = a @ a.T + np.eye(3), b @ b.T + np.eye(3)
    mu_p, mu_q = rng.normal(size=(2, 3))
    base = g.wasserstein2(mu_p, cov_p, mu_q, cov_q)
    for e in (500, -500):  # W2 is homogeneous: means times s, covariances times s**2
        s = 2.0**e
        scaled = g.wasserstein2(mu_p * s, cov_p * s * s, mu_q * s, cov_q * s * s)
        assert scaled == pytest.approx(s * base, rel=1e-12)


# ---------------------------------------------------------------------------
# Cases found by mutation testing (make mutation)
# ---------------------------------------------------------------------------


def _mp(f, x: float) -> float:
    with mpmath.workdps(50):
        return float(f(mpmath.mpf(float(x))))


# on both sides of the switch to the series (|x| < 0.1), up to |x| = 0.93
SERIES_POINTS = np.concatenate([-np.logspace(-12, -0.03, 30), np.logspace(-12, -0.03, 30)])
# for the Renyi terms, |beta x| must stay below 1: |x| < 0.095 with |beta| up to 10
RENYI_POINTS = np.concatenate([-np.logspace(-12, -1.03, 25), np.logspace(-12, -1.03, 25)])


def test_x_minus_log1p_against_mpmath() -> None:
    # the series branch (|x| < 0.1) keeps full relative accuracy where the direct
    # form x - log1p(x) would cancel (at x = 1e-8 it keeps only 8 digits)
    got = g._x_minus_log1p(SERIES_POINTS)
    want = [_mp(lambda t: t - mpmath.log1p(t), x) for x in SERIES_POINTS]
    np.testing.assert_allclose(got, want, rtol=5e-15, atol=0)


def test_log1p_half_minus_half_log1p_against_mpmath() -> None:
    got = g._log1p_half_minus_half_log1p(SERIES_POINTS)
    want = [_mp(lambda t: mpmath.log1p(t / 2) - mpmath.log1p(t) / 2, x) for x in SERIES_POINTS]
    np.testing.assert_allclose(got, want, rtol=5e-15, atol=0)


@pytest.mark.parametrize("beta", [0.5, -0.5, 0.3, -2.0, 1e-3, 10.0, -10.0])
def test_renyi_covariance_terms_against_mpmath(beta: float) -> None:
    got = g._renyi_covariance_terms(beta, RENYI_POINTS)
    want = [
        _mp(lambda t: (mpmath.log1p(beta * t) - beta * mpmath.log1p(t)) / beta, x)
        for x in RENYI_POINTS
    ]
    np.testing.assert_allclose(got, want, rtol=5e-14, atol=0)


def test_two_dimensional_batches_on_both_sides_match_a_loop() -> None:
    # batch (2, 3) of 4 x 4 covariances against a batch (3,): no axis of the batch has
    # the matrices' size, so an axis confused with another changes the shapes or values
    rng = np.random.default_rng(21)
    n = 4
    cov_p = np.stack([[random_spd(rng, n, cond=10.0 ** (i + j)) for j in range(3)] for i in range(2)])
    cov_p[1, 2] = cov_p[0, 1] * (1 + 1e-9)  # one nearly equal pair (the series branches)
    cov_q = np.stack([random_spd(rng, n) for _ in range(3)])
    cov_q[1] = cov_p[0, 1]
    mu_p = rng.normal(size=(2, 1, n))
    mu_q = rng.normal(size=n)
    functions = {
        "kl": g.kl_divergence,
        "bhattacharyya": g.bhattacharyya_distance,
        "hellinger": g.hellinger_squared,
        "w2sq": g.wasserstein2_squared,
        "w2": g.wasserstein2,
        "renyi": lambda *a: g.renyi_divergence(*a, alpha=0.7),
    }
    for name, f in functions.items():
        out = f(mu_p, cov_p, mu_q, cov_q)
        assert out.shape == (2, 3), name
        loop = [[f(mu_p[i, 0], cov_p[i, j], mu_q, cov_q[j]) for j in range(3)] for i in range(2)]
        np.testing.assert_allclose(out, loop, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(
        g.entropy(cov_p), [[g.entropy(c) for c in row] for row in cov_p], rtol=1e-14
    )
    root = g.sqrtm_psd(cov_p)
    np.testing.assert_allclose(root, [[g.sqrtm_psd(c) for c in row] for row in cov_p], rtol=1e-12)
    np.testing.assert_allclose(root @ root, cov_p, rtol=1e-9, atol=1e-12 * np.max(cov_p))
    # a covariance batch of shape (1, 3, n, n) broadcasts like (3, n, n)
    np.testing.assert_allclose(
        g.kl_divergence(mu_p, cov_p, mu_q, cov_q[None]), g.kl_divergence(mu_p, cov_p, mu_q, cov_q)
    )
    np.testing.assert_allclose(g.transport_map(cov_p, cov_q[None]), g.transport_map(cov_p, cov_q))
    maps = g.transport_map(cov_p, cov_q)
    # square roots and transport maps are symmetric to the last bit
    np.testing.assert_array_equal(maps, np.swapaxes(maps, -1, -2))
    np.testing.assert_array_equal(root, np.swapaxes(root, -1, -2))
    np.testing.assert_allclose(
        maps, [[g.transport_map(cov_p[i, j], cov_q[j]) for j in range(3)] for i in range(2)],
        rtol=1e-10,
    )


def test_symmetry_and_definiteness_are_judged_matrix_by_matrix() -> None:
    # a small asymmetric (or indefinite) matrix must not hide behind a large one
    rng = np.random.default_rng(4)
    big = random_spd(rng, 3) * 1e6
    small_asymmetric = random_spd(rng, 3) * 1e-6
    small_asymmetric[0, 1] *= 1 + 1e-3
    with pytest.raises(ValueError, match="cov must be symmetric"):
        g.entropy(np.stack([big, small_asymmetric]))
    indefinite = np.diag([1.0, 1.0, -1e-3])
    with pytest.raises(ValueError, match="positive semidefinite"):
        g.sqrtm_psd(np.stack([big, indefinite]))
    # and a tiny relative asymmetry (rounding) is accepted and symmetrised away, also
    # next to a matrix a million times smaller
    nearly = big.copy()
    nearly[0, 1] *= 1 + 1e-13
    assert np.isfinite(g.entropy(nearly))
    assert np.all(np.isfinite(g.entropy(np.stack([nearly, small_asymmetric.T @ small_asymmetric]))))
    # a rounding-level negative eigenvalue (relative 1e-12) of a large PSD matrix is 0
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    psd = (q * [1e6, 1.0, -1e-6]) @ q.T
    root = g.sqrtm_psd(0.5 * (psd + psd.T))
    np.testing.assert_allclose(root @ root, (q * [1e6, 1.0, 0.0]) @ q.T, atol=1e-6)
    # the zero matrix is PSD (root 0) but not a covariance
    np.testing.assert_array_equal(g.sqrtm_psd(np.zeros((2, 2))), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="cov must be positive definite"):
        g.entropy(np.zeros((2, 2)))


def test_non_square_and_mismatched_covariances_are_refused() -> None:
    rng = np.random.default_rng(5)
    cov = random_spd(rng, 3)
    with pytest.raises(ValueError, match=r"cov must have shape \(\.\.\., n, n\)"):
        g.entropy(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="cov must be at least 1 x 1"):
        g.entropy(np.zeros((2, 3, 0, 0)))
    with pytest.raises(ValueError, match="cov_p is 3 x 3 but cov_q is 2 x 2"):
        g.kl_divergence(np.zeros(3), cov, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="cov_p is 3 x 3 but cov_q is 2 x 2"):
        g.transport_map(cov, np.eye(2))
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        g.transport_map(np.stack([cov, cov]), np.stack([cov, cov, cov]))
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        g.kl_divergence(np.zeros((2, 3)), cov, np.zeros((3, 3)), cov)


def test_w2_between_nearby_scalar_multiples_keeps_its_digits() -> None:
    # Sigma_q = (1 + eps) Sigma_p: W2 = sqrt(Tr Sigma_p) (sqrt(1 + eps) - 1) exactly, about
    # 5e-11 sqrt(Tr Sigma_p) at eps = 1e-10. The difference form resolves W2 to an absolute
    # n * machine-eps * sqrt(Tr Sigma) or so (chapter 3); the trace form only to
    # sqrt(machine-eps * Tr Sigma) = 1.5e-8 sqrt(Tr Sigma)
    rng = np.random.default_rng(8)
    n = 4
    cov = random_spd(rng, n, cond=100.0)
    mean = rng.normal(size=n)
    for scale in (1.0, 1e4):  # the switch between the forms is relative to the traces
        root_trace = math.sqrt(scale * np.trace(cov))
        for eps in (1e-10, 1e-6, 1e-3):
            with mpmath.workdps(40):
                exact = float(root_trace * (mpmath.sqrt(1 + mpmath.mpf(eps)) - 1))
            got = g.wasserstein2(mean, scale * cov, mean, scale * cov * (1 + eps))
            assert abs(got - exact) <= 10 * n * np.finfo(float).eps * root_trace
    assert g.wasserstein2(mean, cov, mean, cov) <= 1e-14 * math.sqrt(np.trace(cov))
