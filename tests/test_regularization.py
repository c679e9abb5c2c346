"""Tests for lib.regularization (chapter 5)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lib import regularization as reg

FINITE = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


def _sym(seed: int, d: int = 4) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((d, d))
    return a @ a.T


def _quadratic_grad(h: np.ndarray):
    return lambda x: x @ h  # gradient of x^T H x / 2 (rows or vectors)


# -- hvp_finite_difference ------------------------------------------------------
def test_hvp_exact_for_quadratic() -> None:
    h = _sym(0)
    x, u = np.ones(4), np.arange(4.0)
    np.testing.assert_allclose(reg.hvp_finite_difference(_quadratic_grad(h), x, u, 0.5), h @ u)


def test_hvp_refuses_a_step_lost_in_rounding() -> None:
    # x = 1e300, xi u = 1e-3: x + xi u == x, so the difference would be exactly 0
    h = _sym(0)
    with pytest.raises(ValueError, match="xi \\* u is lost in rounding next to x"):
        reg.hvp_finite_difference(_quadratic_grad(h), np.full(4, 1e300), np.ones(4), 1e-3)
    # one coordinate moved is enough (the others have u = 0 there)
    u = np.array([0.0, 0.0, 0.0, 1.0])
    got = reg.hvp_finite_difference(_quadratic_grad(h), np.ones(4), u, 0.5)
    np.testing.assert_allclose(got, h @ u)


def test_hvp_vat_form_and_first_order_error() -> None:
    # l(x) = sum(x^3)/6: grad = x^2/2, H = diag(x), l'''[u, u] = u^2.
    grad = lambda x: x**2 / 2  # noqa: E731
    u = np.array([1.0, -2.0])
    for xi in (1e-2, 1e-3):
        got = reg.hvp_finite_difference(grad, np.zeros(2), u, xi, stationary=True)
        np.testing.assert_allclose(got, xi / 2 * u**2, rtol=1e-12)
    x = np.array([0.5, 1.0])
    got = reg.hvp_finite_difference(grad, x, u, 1e-3)
    np.testing.assert_allclose(got - x * u, 1e-3 / 2 * u**2, rtol=1e-6)


def test_hvp_batched() -> None:
    h = _sym(1, 3)
    x = np.random.default_rng(2).standard_normal((5, 3))
    u = np.random.default_rng(3).standard_normal((5, 3))
    np.testing.assert_allclose(reg.hvp_finite_difference(_quadratic_grad(h), x, u, 1.0), u @ h)


# -- power_iteration ----------------------------------------------------------------
def test_power_iteration_top_eigenpair() -> None:
    h = _sym(4, 5)
    w, v = np.linalg.eigh(h)
    lam, u = reg.power_iteration(lambda z: h @ z, np.ones(5), 500)
    assert lam == pytest.approx(w[-1], rel=1e-10)
    assert abs(u @ v[:, -1]) == pytest.approx(1.0, abs=1e-10)


@settings(max_examples=30, deadline=None)
@given(arrays(float, 3, elements=FINITE).filter(lambda a: np.linalg.norm(a) > 1e-3))
def test_power_iteration_returns_unit_vector_and_rayleigh_bound(u0: np.ndarray) -> None:
    h = _sym(5, 3)
    lam, u = reg.power_iteration(lambda z: h @ z, u0, 3)
    assert np.linalg.norm(u) == pytest.approx(1.0)
    assert lam <= np.linalg.eigvalsh(h)[-1] * (1 + 1e-12)
    assert lam >= np.linalg.eigvalsh(h)[0] * (1 - 1e-12) - 1e-12


def test_power_iteration_zero_iterations_is_rayleigh_quotient() -> None:
    h = np.diag([1.0, 2.0])
    lam, u = reg.power_iteration(lambda z: h @ z, [3.0, 4.0], 0)
    np.testing.assert_allclose(u, [0.6, 0.8])
    assert lam == pytest.approx(0.36 + 2 * 0.64)


# -- vat_perturbation ------------------------------------------------------------------
def test_vat_perturbation_finds_top_eigenvector() -> None:
    h = _sym(6, 4)
    v = np.linalg.eigh(h)[1][:, -1]
    gen = np.random.default_rng(0)
    r = reg.vat_perturbation(_quadratic_grad(h), np.zeros(4), 0.7, 1e-3, 200, gen)
    assert np.linalg.norm(r) == pytest.approx(0.7)
    assert abs(r @ v) / 0.7 == pytest.approx(1.0, abs=1e-8)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 10), st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_vat_perturbation_rows_have_norm_epsilon(eps: float, iters: int, seed: int) -> None:
    h = _sym(7, 3)
    x = np.random.default_rng(seed).standard_normal((4, 3))
    r = reg.vat_perturbation(
        lambda z: (z - x) @ h, x, eps, 1e-2, iters, np.random.default_rng(seed)
    )
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), eps, rtol=1e-12)


def test_vat_zero_iterations_is_gaussian_direction() -> None:
    r = reg.vat_perturbation(lambda z: z, np.zeros(3), 2.0, 1e-3, 0, np.random.default_rng(9))
    g = np.random.default_rng(9).standard_normal(3)
    np.testing.assert_allclose(r, 2.0 * g / np.linalg.norm(g))


def test_vat_flat_model_keeps_direction() -> None:
    r = reg.vat_perturbation(lambda z: 0 * z, np.zeros(3), 1.0, 1e-3, 2, np.random.default_rng(1))
    assert np.linalg.norm(r) == pytest.approx(1.0)


# -- rademacher_gradient_penalty -------------------------------------------------------
def test_rademacher_identity_exact_over_signs() -> None:
    j = np.random.default_rng(10).standard_normal((3, 4))
    values = [np.sum((np.array(s) @ j) ** 2) for s in itertools.product((-1, 1), repeat=3)]
    assert np.mean(values) == pytest.approx(np.sum(j**2))


def test_rademacher_estimate_within_four_standard_errors() -> None:
    j = np.random.default_rng(11).standard_normal((3, 4))
    g = j @ j.T
    n = 4000
    sd = np.sqrt(2 * (np.sum(g**2) - np.sum(np.diag(g) ** 2)) / n)
    est = reg.rademacher_gradient_penalty(lambda e: e @ j, 3, np.random.default_rng(12), n)
    assert abs(est - np.trace(g)) < 4 * sd


@settings(max_examples=25, deadline=None)
@given(arrays(float, (2, 3), elements=FINITE), st.integers(0, 2**32 - 1))
def test_rademacher_nonnegative_and_exact_for_one_output(j: np.ndarray, seed: int) -> None:
    est = reg.rademacher_gradient_penalty(lambda e: e @ j, 2, np.random.default_rng(seed), 3)
    assert est >= 0
    one = reg.rademacher_gradient_penalty(lambda e: e @ j[:1], 1, np.random.default_rng(seed))
    assert one == pytest.approx(np.sum(j[0] ** 2))


# -- softmax, KL, model ------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(arrays(float, (2, 3), elements=FINITE), st.floats(-5, 5))
def test_softmax_simplex_and_shift_invariance(z: np.ndarray, c: float) -> None:
    p = reg.softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(reg.softmax(z + c), p, rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(arrays(float, 3, elements=FINITE), arrays(float, 3, elements=FINITE))
def test_kl_nonnegative_zero_on_diagonal(a: np.ndarray, b: np.ndarray) -> None:
    p, q = reg.softmax(a), reg.softmax(b)
    assert reg.kl_divergence(p, q) >= 0
    assert reg.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-15)


def test_kl_known_value_and_zero_entries() -> None:
    assert reg.kl_divergence([0.5, 0.5], [0.25, 0.75]) == pytest.approx(
        0.5 * np.log(2) + 0.5 * np.log(2 / 3)
    )
    assert reg.kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(np.log(2))


def _toy_model(seed: int = 0) -> reg.RandomFeatureClassifier:
    r = np.random.default_rng(seed)
    return reg.RandomFeatureClassifier(
        r.standard_normal((6, 2)),
        r.standard_normal(6),
        r.standard_normal((3, 6)),
        r.standard_normal(3),
    )


def test_input_gradient_matches_finite_differences() -> None:
    model = _toy_model()
    x = np.array([[0.3, -0.2], [1.0, 0.5]])
    target = reg.softmax(np.array([[0.1, 0.2, 0.3], [1.0, 0.0, -1.0]]))
    grad = model.input_gradient_kl(x, target)
    h = 1e-6
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd = (
            reg.kl_divergence(target, model.predict_proba(x + e))
            - reg.kl_divergence(target, model.predict_proba(x - e))
        ) / (2 * h)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-6, atol=1e-9)


def test_objective_gradients_match_finite_differences() -> None:
    model = _toy_model(1)
    r = np.random.default_rng(2)
    xl, xu = r.standard_normal((4, 2)), r.standard_normal((5, 2))
    y = np.eye(3)[[0, 1, 2, 1]]
    target = model.predict_proba(xu)
    args = (xl, y, xu + 0.1, target, 0.7, 0.01)
    _, g_coef, g_int = reg.objective_and_gradients(model, *args)

    def loss(coef: np.ndarray, intercept: np.ndarray) -> float:
        m = reg.RandomFeatureClassifier(model.weights, model.bias, coef, intercept)
        return reg.objective_and_gradients(m, *args)[0]

    h = 1e-6
    for idx in [(0, 0), (2, 5), (1, 3)]:
        c = model.coef.copy()
        c[idx] += h
        up = loss(c, model.intercept)
        c[idx] -= 2 * h
        dn = loss(c, model.intercept)
        assert (up - dn) / (2 * h) == pytest.approx(g_coef[idx], rel=1e-6, abs=1e-9)
    b = model.intercept.copy()
    b[1] += h
    up = loss(model.coef, b)
    b[1] -= 2 * h
    dn = loss(model.coef, b)
    assert (up - dn) / (2 * h) == pytest.approx(g_int[1], rel=1e-6, abs=1e-9)


def test_training_learns_separable_data() -> None:
    x = np.array([[-2.0, 0.0], [-1.5, 0.3], [2.0, 0.0], [1.5, -0.3]])
    y = np.array([0, 0, 1, 1])
    xu = np.random.default_rng(3).standard_normal((20, 2))
    for method in ("supervised", "noise", "penalty", "vat"):
        model = reg.train_random_feature_classifier(
            x, y, xu, method=method, rng=np.random.default_rng(4), steps=100, n_features=20
        )
        assert np.all(model.predict_proba(x).argmax(axis=1) == y)


def test_fisher_penalty_is_sum_of_weighted_gradients_of_p() -> None:
    model = _toy_model(5)
    x = np.random.default_rng(6).standard_normal((4, 2))
    penalty, _, _ = reg.fisher_penalty_and_gradients(model, x)
    h, total = 1e-6, 0.0
    for row in x:
        jac = np.stack(
            [
                (model.predict_proba([row + h * e])[0] - model.predict_proba([row - h * e])[0])
                / (2 * h)
                for e in np.eye(2)
            ],
            axis=1,
        )
        total += np.sum(jac**2 / model.predict_proba([row])[0][:, None])
    assert penalty == pytest.approx(total / len(x), rel=1e-7)


def test_fisher_penalty_is_the_small_noise_limit_of_kl() -> None:
    # r of norm eps, direction uniform on the circle: E KL(p(x) || p(x + r))
    # = eps^2 / (2 d) * penalty + O(eps^4); 720 directions integrate exactly
    model, x = _toy_model(7), np.array([[0.2, -0.4]])
    penalty, _, _ = reg.fisher_penalty_and_gradients(model, x)
    angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    circle = np.column_stack([np.cos(angles), np.sin(angles)])
    p = model.predict_proba(x)
    ratios = []
    for eps in (1e-2, 5e-3):
        kl = reg.kl_divergence(np.repeat(p, 720, axis=0), model.predict_proba(x + eps * circle))
        ratios.append(kl.mean() / (eps**2 / 4 * penalty))
    # the relative error is O(eps^2): it falls fourfold when eps halves
    assert abs(ratios[0] - 1) < 1e-2
    assert abs(ratios[1] - 1) < abs(ratios[0] - 1) / 3


def test_fisher_penalty_gradients_match_finite_differences() -> None:
    model = _toy_model(8)
    x = np.random.default_rng(9).standard_normal((5, 2))
    _, g_coef, g_int = reg.fisher_penalty_and_gradients(model, x)
    flat = np.concatenate([model.coef.ravel(), model.intercept])

    def penalty(params: np.ndarray) -> float:
        coef, intercept = params[: model.coef.size], params[model.coef.size :]
        m = reg.RandomFeatureClassifier(
            model.weights, model.bias, coef.reshape(model.coef.shape), intercept
        )
        return reg.fisher_penalty_and_gradients(m, x)[0]

    h = 1e-6
    fd = [(penalty(flat + h * e) - penalty(flat - h * e)) / (2 * h) for e in np.eye(flat.size)]
    np.testing.assert_allclose(
        np.concatenate([g_coef.ravel(), g_int]), fd, rtol=1e-6, atol=1e-8
    )


# -- bad inputs ------------------------------------------------------------------------------
_G = lambda z: np.asarray(z, dtype=float)  # noqa: E731
_RNG = np.random.default_rng(0)
_XL, _YL, _XU = np.zeros((2, 2)), np.array([0, 1]), np.zeros((3, 2))


def _train(y=_YL, xu=_XU, method="vat", **kw):
    return reg.train_random_feature_classifier(_XL, y, xu, method=method, rng=_RNG, **kw)


@pytest.mark.parametrize(
    "call",
    [
        lambda: reg.hvp_finite_difference(_G, [0.0, np.nan], [1.0, 0.0], 0.1),
        lambda: reg.hvp_finite_difference(_G, [0.0, 1.0], [1.0, 0.0, 0.0], 0.1),
        lambda: reg.hvp_finite_difference(_G, [0.0, 1.0], [1.0, 0.0], 0.0),
        lambda: reg.hvp_finite_difference(_G, [0.0, 1.0], [1.0, 0.0], np.inf),
        lambda: reg.hvp_finite_difference(lambda z: z[:1], [0.0, 1.0], [1.0, 0.0], 0.1),
        lambda: reg.hvp_finite_difference(lambda z: z * np.nan, [0.0, 1.0], [1.0, 0.0], 0.1),
        lambda: reg.hvp_finite_difference("grad", [0.0, 1.0], [1.0, 0.0], 0.1),
        lambda: reg.hvp_finite_difference(_G, np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), 0.1),
        lambda: reg.power_iteration(_G, [0.0, 0.0], 3),
        lambda: reg.power_iteration(_G, [1.0, 0.0], -1),
        lambda: reg.power_iteration(_G, [1.0, 0.0], 2.0),
        lambda: reg.power_iteration(_G, [[1.0, 0.0]], 2),
        lambda: reg.power_iteration(lambda z: 0 * z, [1.0, 0.0], 2),
        lambda: reg.power_iteration(_G, ["a", "b"], 2),
        lambda: reg.vat_perturbation(_G, [0.0, 1.0], -1.0, 0.1, 1, _RNG),
        lambda: reg.vat_perturbation(_G, [0.0, 1.0], 1.0, 0.0, 1, _RNG),
        lambda: reg.vat_perturbation(_G, [0.0, 1.0], 1.0, 0.1, True, _RNG),
        lambda: reg.vat_perturbation(_G, [0.0, 1.0], 1.0, 0.1, 1, 42),
        lambda: reg.vat_perturbation(_G, [np.inf, 1.0], 1.0, 0.1, 1, _RNG),
        lambda: reg.rademacher_gradient_penalty(_G, 0, _RNG),
        lambda: reg.rademacher_gradient_penalty(_G, 2, _RNG, 0),
        lambda: reg.rademacher_gradient_penalty(_G, 2, None),
        lambda: reg.rademacher_gradient_penalty(None, 2, _RNG),
        lambda: reg.rademacher_gradient_penalty(lambda e: e * np.nan, 2, _RNG),
        lambda: reg.softmax([np.nan, 1.0]),
        lambda: reg.softmax([]),
        lambda: reg.kl_divergence([0.5, 0.5], [0.5, 0.3, 0.2]),
        lambda: reg.kl_divergence([0.5, 0.6], [0.5, 0.5]),
        lambda: reg.kl_divergence([1.5, -0.5], [0.5, 0.5]),
        lambda: reg.kl_divergence([0.5, 0.5], [1.0, 0.0]),
        lambda: reg.random_features(np.zeros((2, 3)), np.zeros((4, 2)), np.zeros(4)),
        lambda: reg.random_features(np.zeros((2, 2)), np.zeros((4, 2)), np.zeros(3)),
        lambda: reg.random_features(np.zeros(2), np.zeros((4, 2)), np.zeros(4)),
        lambda: _train(method="adv"),
        lambda: _train(y=[0, 0]),
        lambda: _train(y=[0.0, 1.0]),
        lambda: _train(y=[0, 2]),
        lambda: _train(y=[0, 1, 1]),
        lambda: _train(xu=np.zeros((3, 3))),
        lambda: _train(epsilon=0),
        lambda: _train(weight=-1),
        lambda: _train(steps=0),
        lambda: _train(xi=np.nan),
        lambda: reg.objective_and_gradients(
            _toy_model(), _XL, np.eye(3)[[0, 1]], _XU, None, 1.0, 0.0
        ),
        lambda: reg.fisher_penalty_and_gradients(_toy_model(), np.zeros((2, 3))),
        lambda: reg.fisher_penalty_and_gradients(_toy_model(), [[0.0, np.nan]]),
    ],
)
def test_bad_input_raises(call) -> None:
    with pytest.raises(ValueError):
        call()


def test_kl_divergence_with_q_near_the_float64_minimum() -> None:
    import mpmath

    # p / q overflows; log p - log q does not: KL = -log(q_0) for the subnormal q_0
    want = float(-mpmath.log(mpmath.mpf(1e-320)))
    assert reg.kl_divergence([1.0, 0.0], [1e-320, 1.0]) == pytest.approx(want, rel=1e-15)
