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


# -- the training loop, replayed from its documentation ------------------------------------
def _adam_replay(x_lab, y, x_unlab, method, seed, *, n_features=100, feature_scale=1.0,
                 epsilon=0.3, xi=1e-3, weight=1.0, l2=1e-3, steps=500, learning_rate=0.05):
    """The documented algorithm written out with lib's public pieces."""
    rng = np.random.default_rng(seed)
    d, k = x_lab.shape[1], int(y.max()) + 1
    weights = feature_scale * rng.standard_normal((n_features, d))
    bias = rng.uniform(-np.pi, np.pi, n_features) * feature_scale / 2
    coef, intercept = np.zeros((k, n_features)), np.zeros(k)
    onehot = np.eye(k)[y]
    m1 = [np.zeros_like(coef), np.zeros_like(intercept)]
    m2 = [np.zeros_like(coef), np.zeros_like(intercept)]
    for t in range(1, steps + 1):
        model = reg.RandomFeatureClassifier(weights, bias, coef, intercept)
        x_pert = target = None
        if method in ("noise", "vat"):
            target = model.predict_proba(x_unlab)
            r = reg.vat_perturbation(lambda z: model.input_gradient_kl(z, target), x_unlab,
                                     epsilon, xi, 1 if method == "vat" else 0, rng)
            x_pert = x_unlab + r
        _, g_coef, g_int = reg.objective_and_gradients(model, x_lab, onehot, x_pert, target,
                                                       weight, l2)
        if method == "penalty":
            _, p_coef, p_int = reg.fisher_penalty_and_gradients(model, x_unlab)
            g_coef = g_coef + weight * epsilon**2 / (2 * d) * p_coef
            g_int = g_int + weight * epsilon**2 / (2 * d) * p_int
        new = []
        for i, (p, g) in enumerate(((coef, g_coef), (intercept, g_int))):
            m1[i] = 0.9 * m1[i] + 0.1 * g
            m2[i] = 0.999 * m2[i] + 0.001 * g * g
            m_hat, v_hat = m1[i] / (1 - 0.9**t), m2[i] / (1 - 0.999**t)
            new.append(p - learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8))
        coef, intercept = new
    return weights, bias, coef, intercept


_TRAIN = np.random.default_rng(70)
_TX = _TRAIN.normal(size=(12, 2))
_TY = (_TX[:, 0] > 0).astype(int)
_TU = _TRAIN.normal(size=(20, 2))


@pytest.mark.parametrize("method", ["supervised", "noise", "penalty", "vat"])
def test_training_is_the_documented_adam_loop(method: str) -> None:
    got = reg.train_random_feature_classifier(_TX, _TY, _TU, method=method,
                                              rng=np.random.default_rng(5), steps=12)
    want = _adam_replay(_TX, _TY, _TU, method, 5, steps=12)
    for name, value in zip(("weights", "bias", "coef", "intercept"), want):
        np.testing.assert_allclose(getattr(got, name), value, rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_training_hyper_parameters_reach_the_loop() -> None:
    kw = dict(n_features=7, feature_scale=1.7, epsilon=0.6, xi=0.01, weight=2.5, l2=0.1,
              steps=9, learning_rate=0.2)
    for method in ("penalty", "vat"):
        got = reg.train_random_feature_classifier(_TX, _TY, _TU, method=method,
                                                  rng=np.random.default_rng(6), **kw)
        want = _adam_replay(_TX, _TY, _TU, method, 6, **kw)
        np.testing.assert_allclose(got.coef, want[2], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.bias, want[1], rtol=1e-12)
    # the smallest accepted sizes, and zero weight and l2
    one = reg.train_random_feature_classifier(_TX, _TY, _TU, method="noise",
                                              rng=np.random.default_rng(6), n_features=1,
                                              steps=1, weight=0.0, l2=0.0)
    want = _adam_replay(_TX, _TY, _TU, "noise", 6, n_features=1, steps=1, weight=0.0, l2=0.0)
    np.testing.assert_allclose(one.coef, want[2], rtol=1e-9, atol=1e-12)
    for name in ("weight", "l2"):
        with pytest.raises(ValueError, match=name):
            reg.train_random_feature_classifier(_TX, _TY, _TU, method="noise",
                                                rng=np.random.default_rng(6), **{name: -0.1})
    for name, bad in (("x_lab", _TX[:, :, None]), ("x_unlab", _TU[None])):
        args = {"x_lab": _TX, "x_unlab": _TU, name: bad}
        with pytest.raises(ValueError, match=f"{name} must have"):
            reg.train_random_feature_classifier(args["x_lab"], _TY, args["x_unlab"],
                                                method="noise", rng=np.random.default_rng(6))


def test_training_defaults_are_the_documented_ones() -> None:
    got = reg.train_random_feature_classifier(_TX, _TY, _TU, method="supervised",
                                              rng=np.random.default_rng(8))
    want = _adam_replay(_TX, _TY, _TU, "supervised", 8)  # steps=500 and the rest
    np.testing.assert_allclose(got.coef, want[2], rtol=1e-9, atol=1e-12)


# -- every array argument names its expected number of dimensions --------------------------
_W, _B = np.ones((3, 2)), np.zeros(3)
_MODEL = reg.RandomFeatureClassifier(_W, _B, np.ones((2, 3)), np.zeros(2))
_X2 = np.ones((4, 2))


def _jvp_2d(eta):
    return np.ones((3, 1))


WRONG_NDIM = {
    "weights": (lambda a: reg.RandomFeatureClassifier(a, _B, np.ones((2, 3)), np.zeros(2)),
                np.ones((3, 2, 1)), "weights must have 2 dimensions"),
    "bias": (lambda a: reg.RandomFeatureClassifier(_W, a, np.ones((2, 3)), np.zeros(2)),
             np.zeros((3, 1)), "bias must have 1 dimension"),
    "coef": (lambda a: reg.RandomFeatureClassifier(_W, _B, a, np.zeros(2)),
             np.ones((2, 3, 1)), "coef must have 2 dimensions"),
    "intercept": (lambda a: reg.RandomFeatureClassifier(_W, _B, np.ones((2, 3)), a),
                  np.zeros((2, 1)), "intercept must have 1 dimension"),
    "input_gradient_kl-x": (lambda a: _MODEL.input_gradient_kl(a, np.full((4, 2), 0.5)),
                            np.ones((4, 2, 1)), "x must have 2 dimensions"),
    "random_features-weights": (lambda a: reg.random_features(_X2, a, _B), np.ones(3),
                                "weights must have 2 dimensions"),
    "random_features-bias": (lambda a: reg.random_features(_X2, _W, a), np.zeros((3, 1)),
                             "bias must have 1 dimension"),
    "vat-x": (lambda a: reg.vat_perturbation(lambda z: z, a, 0.1, 1e-3, 1,
                                             np.random.default_rng(0)),
              np.ones((2, 2, 2)), "x must have 1 or 2 dimensions"),
    "hvp-x": (lambda a: reg.hvp_finite_difference(lambda z: z, a, np.ones((2, 2, 2)), 1e-3),
              np.ones((2, 2, 2)), "x must have 1 or 2 dimensions"),
    "hvp-u": (lambda a: reg.hvp_finite_difference(lambda z: z, np.ones(2), a, 1e-3),
              np.ones((2, 2, 2)), "u must have 1 or 2 dimensions"),
    "fisher-x": (lambda a: reg.fisher_penalty_and_gradients(_MODEL, a), np.ones(2),
                 "x must have 2 dimensions"),
    "jvp-output": (lambda a: reg.rademacher_gradient_penalty(a, 3, np.random.default_rng(0)),
                   _jvp_2d, r"jacobian_vector_product\(...\) must have 1 dimension"),
}


@pytest.mark.parametrize("call, bad, message", WRONG_NDIM.values(), ids=WRONG_NDIM.keys())
def test_wrong_dimensions_are_named(call, bad, message) -> None:
    with pytest.raises(ValueError, match=message):
        call(bad)


def test_random_features_shape_checks() -> None:
    with pytest.raises(ValueError, match="bias"):
        reg.random_features(_X2, _W, np.zeros(4))
    with pytest.raises(ValueError, match="weights"):
        reg.random_features(_X2, np.ones((3, 5)), _B)


def test_boolean_inputs_where_they_make_sense() -> None:
    # data may be booleans (0/1 indicators); model parameters may not
    x = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(reg.random_features(x, _W, _B),
                                  reg.random_features(x.astype(float), _W, _B))
    for field in ("weights", "bias", "coef", "intercept"):
        args = dict(weights=_W, bias=_B, coef=np.ones((2, 3)), intercept=np.zeros(2))
        args[field] = args[field].astype(bool)
        with pytest.raises(ValueError, match=f"{field} must contain real numbers"):
            reg.RandomFeatureClassifier(**args)
    onehot = np.eye(2, dtype=bool)[[0, 1, 1, 0]]
    a = reg.objective_and_gradients(_MODEL, _X2, onehot, None, None, 1.0, 0.1)
    b = reg.objective_and_gradients(_MODEL, _X2, onehot.astype(float), None, None, 1.0, 0.1)
    assert a[0] == b[0]
    for name in ("weight", "l2"):
        kw = {"weight": 1.0, "l2": 0.1, name: -1.0}
        with pytest.raises(ValueError, match=name):
            reg.objective_and_gradients(_MODEL, _X2, onehot, None, None, **kw)
    with pytest.raises(ValueError, match="y_onehot must be probability vectors"):
        reg.objective_and_gradients(_MODEL, _X2, np.array([[1.5, -0.5]] * 4), None, None,
                                    1.0, 0.1)


def test_objective_gradients_by_finite_differences_with_n_m_d_all_different() -> None:
    rng = np.random.default_rng(71)
    model = reg.RandomFeatureClassifier(rng.normal(size=(5, 3)), rng.normal(size=5),
                                        rng.normal(size=(2, 5)), rng.normal(size=2))
    x_lab, x_pert = rng.normal(size=(4, 3)), rng.normal(size=(7, 3))
    onehot = np.eye(2)[[0, 1, 1, 0]]
    target = reg.softmax(rng.normal(size=(7, 2)))
    loss, g_coef, g_int = reg.objective_and_gradients(model, x_lab, onehot, x_pert, target,
                                                      0.7, 0.2)

    def objective(coef, intercept):
        m = reg.RandomFeatureClassifier(model.weights, model.bias, coef, intercept)
        ce = -np.mean(np.sum(onehot * np.log(m.predict_proba(x_lab)), axis=1))
        kl = np.mean(reg.kl_divergence(target, m.predict_proba(x_pert)))
        return ce + 0.1 * np.sum(coef**2) + 0.7 * kl

    assert loss == pytest.approx(objective(model.coef, model.intercept), rel=1e-13)
    h = 1e-6
    for idx in np.ndindex(*g_coef.shape):
        e = np.zeros_like(model.coef)
        e[idx] = h
        fd = (objective(model.coef + e, model.intercept)
              - objective(model.coef - e, model.intercept)) / (2 * h)
        assert g_coef[idx] == pytest.approx(fd, abs=1e-8)
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd = (objective(model.coef, model.intercept + e)
              - objective(model.coef, model.intercept - e)) / (2 * h)
        assert g_int[j] == pytest.approx(fd, abs=1e-8)


def test_normalise_rows_at_every_scale() -> None:
    import warnings

    v = np.array([[3.0, 4.0], [0.3, 0.4], [1e-300, 1e-300], [1e300, -1e300], [5.0, 12.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or underflow warning either
        got = reg._normalise(v, "v")
    s = np.sqrt(0.5)
    np.testing.assert_allclose(got, [[0.6, 0.8], [0.6, 0.8], [s, s], [s, -s],
                                     [5 / 13, 12 / 13]], rtol=1e-15)
    # ordinary rows are divided by their norm, bit for bit
    ordinary = np.random.default_rng(72).normal(size=(6, 3)) * [[1], [0.5], [1e-3], [2],
                                                                 [1e3], [0.1]]
    assert np.array_equal(reg._normalise(ordinary, "v"),
                          ordinary / np.linalg.norm(ordinary, axis=-1, keepdims=True))
    tall = np.full((3, 2), 1e-300)
    tall[0] = [1.0, 0.0]
    np.testing.assert_allclose(reg._normalise(tall, "v")[1:], s, rtol=1e-15)


def test_kl_divergence_zeros_of_p() -> None:
    # zeros of p contribute nothing, wherever q is zero or not
    assert reg.kl_divergence([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0
    assert reg.kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(np.log(2), rel=1e-15)
    with pytest.raises(ValueError, match="q must be positive wherever p is"):
        reg.kl_divergence([0.5, 0.5], [1.0, 0.0])
    with pytest.raises(ValueError, match="q must be positive wherever p is"):
        reg.kl_divergence([0.5, 0.25, 0.25], [0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="p must be probability vectors"):
        reg.kl_divergence([1.5, -0.5], [0.5, 0.5])


def test_vat_direction_is_the_normalised_gradient_whatever_its_size() -> None:
    # a gradient of norm 0.5 (or 1e-20) still sets the direction; only a zero one keeps u
    # (and one of norm 1e300, whose squared norm overflows, sets it too)
    x = np.zeros((4, 2))
    direction = np.array([[0.3, 0.4], [0.0, 1e-20], [0.0, 0.0], [-6e299, 8e299]])
    r = reg.vat_perturbation(lambda z: direction, x, 0.2, 1e-3, 1, np.random.default_rng(1))
    np.testing.assert_allclose(r[[0, 1, 3]], [[0.12, 0.16], [0.0, 0.2], [-0.12, 0.16]],
                               rtol=1e-14)
    start = np.random.default_rng(1).standard_normal((4, 2))[2]
    np.testing.assert_allclose(r[2], 0.2 * start / np.linalg.norm(start), rtol=1e-14)


def test_rademacher_penalty_default_is_one_sample() -> None:
    jvp = lambda eta: np.cumsum(eta)  # noqa: E731
    one = reg.rademacher_gradient_penalty(jvp, 6, np.random.default_rng(4))
    again = reg.rademacher_gradient_penalty(jvp, 6, np.random.default_rng(4), samples=1)
    two = reg.rademacher_gradient_penalty(jvp, 6, np.random.default_rng(4), samples=2)
    assert one == again and one != two
