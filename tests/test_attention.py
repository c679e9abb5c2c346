"""Tests for lib.attention: attention, the low-rank bottleneck and talking heads (chapter 7)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from lib import attention as A

RNG_SEED = 7325


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


def _fd_grad(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# -- softmax and attention ------------------------------------------------------
def test_softmax_matches_scipy(rng: np.random.Generator) -> None:
    x = rng.normal(0, 5, (4, 7))
    np.testing.assert_allclose(A.softmax(x), special.softmax(x, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(A.log_softmax(x, axis=0), special.log_softmax(x, axis=0),
                               rtol=1e-13, atol=1e-13)


def test_softmax_is_finite_for_huge_logits() -> None:
    p = A.softmax(np.array([1e300, 0.0, -1e300]))
    assert np.all(np.isfinite(p)) and p[0] == 1.0
    assert np.all(np.isfinite(A.log_softmax(np.array([1e300, 0.0]))[:1]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=1, max_size=12), st.floats(-100, 100))
def test_softmax_properties(values: list[float], shift: float) -> None:
    x = np.array(values)
    p = A.softmax(x)
    assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-12
    np.testing.assert_allclose(A.softmax(x + shift), p, rtol=1e-9, atol=1e-15)


def test_attention_against_explicit_formula(rng: np.random.Generator) -> None:
    q, k, v = rng.normal(size=(5, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    s = q @ k.T / np.sqrt(3)
    w = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    out, weights = A.attention(q, k, v)
    np.testing.assert_allclose(weights, w, rtol=1e-13)
    np.testing.assert_allclose(out, w @ v, rtol=1e-12)


def test_attention_mask_and_batch(rng: np.random.Generator) -> None:
    q, k, v = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 5))
    causal = np.tril(np.ones((4, 4), dtype=bool))
    out, w = A.attention(q, k, v, mask=causal, scale=0.5)
    assert np.all(w[:, ~causal] == 0)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(out[:, 0], v[:, 0], rtol=1e-13)


def _heads(rng: np.random.Generator, h: int = 3, n: int = 6, dm: int = 8, ks: int = 4,
           hs: int = 2):
    return (rng.normal(size=(n, dm)), rng.normal(size=(h, dm, ks)),
            rng.normal(size=(h, dm, ks)), rng.normal(size=(h, dm, hs)))


def test_mha_is_per_head_attention(rng: np.random.Generator) -> None:
    x, wq, wk, wv = _heads(rng)
    wo = rng.normal(size=(6, 5))
    out, w = A.multi_head_attention(x, wq, wk, wv, wo)
    parts = [A.attention(x @ wq[i], x @ wk[i], x @ wv[i]) for i in range(3)]
    np.testing.assert_allclose(out, np.hstack([p[0] for p in parts]) @ wo, rtol=1e-12)
    np.testing.assert_allclose(w, np.stack([p[1] for p in parts]), rtol=1e-13)


def test_talking_heads_identity_is_mha(rng: np.random.Generator) -> None:
    x, wq, wk, wv = _heads(rng)
    out, w = A.multi_head_attention(x, wq, wk, wv)
    for kw in ({}, {"pre_softmax_mix": np.eye(3)}, {"post_softmax_mix": np.eye(3)},
               {"pre_softmax_mix": np.eye(3), "post_softmax_mix": np.eye(3)}):
        o2, w2 = A.talking_heads_attention(x, wq, wk, wv, **kw)
        np.testing.assert_allclose(o2, out, rtol=1e-12)
        np.testing.assert_allclose(w2, w, rtol=1e-12)


def test_talking_heads_shapes_and_mixing(rng: np.random.Generator) -> None:
    x, wq, wk, wv = _heads(rng, h=3)
    wv5 = rng.normal(size=(5, 8, 2))
    lam = rng.normal(size=(4, 3))
    mu = rng.dirichlet(np.ones(4), size=5)
    out, w = A.talking_heads_attention(x, wq, wk, wv5, pre_softmax_mix=lam, post_softmax_mix=mu)
    assert out.shape == (6, 10) and w.shape == (5, 6, 6)
    jhat = np.stack([(x @ wq[i]) @ (x @ wk[i]).T / 2.0 for i in range(3)])
    p = special.softmax(np.einsum("ij,jab->iab", lam, jhat), axis=-1)
    np.testing.assert_allclose(w, np.einsum("ij,jab->iab", mu, p), rtol=1e-12)


# -- the rank --------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.integers(2, 9), st.integers(2, 9), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_centered_log_rank_bound(n: int, m: int, d: int, seed: int) -> None:
    r = np.random.default_rng(seed)
    p = A.softmax(r.normal(size=(n, d)) @ r.normal(size=(m, d)).T)
    rank = A.centered_log_rank(p)
    assert rank <= min(d, n, m - 1)
    # exact: log(P) H equals S H
    s = r.normal(size=(n, d)) @ r.normal(size=(m, d)).T
    np.testing.assert_allclose(A.centered_log(A.softmax(s)), s - s.mean(1, keepdims=True),
                               atol=1e-12)


def test_centered_log_rank_generic_and_uniform(rng: np.random.Generator) -> None:
    assert A.centered_log_rank(rng.dirichlet(np.ones(10), size=12)) == 9
    assert A.centered_log_rank(rng.dirichlet(np.ones(10), size=4)) == 4
    assert A.centered_log_rank(np.full((3, 5), 0.2)) == 0


# -- losses and gradients ---------------------------------------------------------
def test_low_rank_loss_gradient(rng: np.random.Generator) -> None:
    t = rng.dirichlet(np.ones(5), size=4)
    q, k = rng.normal(size=(4, 2)), rng.normal(size=(5, 2))
    loss, gq, gk = A.low_rank_attention_loss(q, k, t)
    ce = -np.mean(np.sum(t * special.log_softmax(q @ k.T, axis=1), axis=1))
    assert abs(loss - ce) < 1e-13
    fq = _fd_grad(lambda z: A.low_rank_attention_loss(z, k, t)[0], q)
    fk = _fd_grad(lambda z: A.low_rank_attention_loss(q, z, t)[0], k)
    np.testing.assert_allclose(gq, fq, atol=1e-8)
    np.testing.assert_allclose(gk, fk, atol=1e-8)


@pytest.mark.parametrize("pre,post", [(False, False), (True, False), (False, True), (True, True)])
def test_talking_heads_gradient(rng: np.random.Generator, pre: bool, post: bool) -> None:
    t = rng.dirichlet(np.ones(4), size=(3, 3))
    size = A.talking_heads_parameter_count(3, 3, 4, 2, pre_softmax=pre, post_softmax=post)
    theta = rng.normal(size=size)
    loss, g = A.talking_heads_loss(theta, t, 2, pre_softmax=pre, post_softmax=post)
    fd = _fd_grad(lambda z: A.talking_heads_loss(z, t, 2, pre_softmax=pre,
                                                 post_softmax=post)[0], theta)
    np.testing.assert_allclose(g, fd, atol=1e-8)


def test_talking_heads_loss_without_mixes_is_mean_of_heads(rng: np.random.Generator) -> None:
    t = rng.dirichlet(np.ones(5), size=(2, 4))
    theta = rng.normal(size=A.talking_heads_parameter_count(2, 4, 5, 3, pre_softmax=False,
                                                            post_softmax=False))
    q, k = theta[:24].reshape(2, 4, 3), theta[24:].reshape(2, 5, 3)
    loss, _ = A.talking_heads_loss(theta, t, 3, pre_softmax=False, post_softmax=False)
    each = [A.low_rank_attention_loss(q[i], k[i], t[i])[0] for i in range(2)]
    assert abs(loss - np.mean(each)) < 1e-13


# -- fitting ------------------------------------------------------------------------
def test_fit_reaches_zero_at_the_rank(rng: np.random.Generator) -> None:
    s = rng.normal(size=(8, 2)) @ rng.normal(size=(9, 2)).T
    p = A.softmax(s)
    fit = A.fit_low_rank_attention(p, 2, rng, restarts=2)
    assert fit.baseline_kl < 1e-12 and fit.kl < 1e-12
    np.testing.assert_allclose(A.softmax(fit.q @ fit.k.T), p, atol=1e-10)
    assert fit.kl_per_start.shape == (2,) and fit.converged_per_start.shape == (2,)


def test_fit_below_rank_is_positive_and_improves_on_svd(rng: np.random.Generator) -> None:
    p = rng.dirichlet(np.ones(8), size=8)
    fit = A.fit_low_rank_attention(p, 2, rng, restarts=2)
    assert 0 < fit.kl <= fit.baseline_kl
    kl = np.mean(np.sum(p * (np.log(p) - A.log_softmax(fit.q @ fit.k.T)), axis=1))
    assert abs(kl - fit.kl) < 1e-12


def test_fit_handles_zeros_in_target(rng: np.random.Generator) -> None:
    p = np.tril(np.ones((5, 5)))
    p /= p.sum(1, keepdims=True)
    fit = A.fit_low_rank_attention(p, 2, rng, init="random", max_iter=300)
    assert np.isfinite(fit.kl) and fit.kl >= 0 and fit.baseline_kl is None


def test_fit_talking_heads(rng: np.random.Generator) -> None:
    t = np.stack([rng.dirichlet(np.ones(6), size=6) for _ in range(3)])
    mha = A.fit_talking_heads(t, 1, rng, pre_softmax=False)
    both = A.fit_talking_heads(t, 1, rng, pre_softmax=True, post_softmax=True, restarts=2)
    assert mha.kl_per_head.shape == (3,) and both.kl <= mha.kl + 1e-9
    np.testing.assert_allclose(both.post_mix.sum(1), 1.0, rtol=1e-13)
    assert both.parameter_count == mha.parameter_count + 18
    each = [A.fit_low_rank_attention(t[i], 1, rng).kl for i in range(3)]
    np.testing.assert_allclose(mha.kl_per_head, each, atol=1e-6)


# -- counting ------------------------------------------------------------------------
def test_counts() -> None:
    assert A.bottleneck_count(128, 768, 12) == (128 * 128, 128 * 128)
    assert A.bottleneck_count(512, 768, 12) == (65536, 262144)
    c64, c128 = A.key_size_cost(768, 12, 64, 512), A.key_size_cost(768, 12, 128, 512)
    assert c128.qk_params - c64.qk_params == 2 * 768 * 12 * (128 - 64)
    assert c64.qk_params == c64.v_params * 2 == 2 * 768**2
    assert c128.logit_flops == 2 * c64.logit_flops and c128.value_flops == c64.value_flops
    assert c64.projection_flops == c64.ffn_params == c64.mix_flops == 0  # core only


def test_whole_layer_cost() -> None:
    # BERT-base: 12 layers of 7,077,888 weights (4 d^2 + 8 d^2 with d_ff = 4d), no biases
    bert = A.key_size_cost(768, 12, 64, 512, d_ff=3072)
    assert bert.params == 12 * 768**2 == 7_077_888
    assert bert.projection_flops == 4 * 512 * 768**2
    assert bert.ffn_flops == 2 * 512 * 768 * 3072
    assert bert.flops == 12 * 512 * 768**2 + 2 * 512**2 * 768
    th = A.key_size_cost(768, 12, 64, 512, d_ff=3072, talking_heads=True)
    assert th.params - bert.params == 2 * 12**2
    assert th.flops - bert.flops == 2 * 12**2 * 512**2


# -- bad input -----------------------------------------------------------------------
_G = np.random.default_rng(0)
_P = _G.dirichlet(np.ones(4), size=3)
_Q, _K = _G.normal(size=(3, 2)), _G.normal(size=(4, 2))
_X, _WQ, _WK, _WV = _heads(np.random.default_rng(1))
_BAD = {
    "softmax nan": lambda: A.softmax([1.0, np.nan]),
    "softmax inf": lambda: A.softmax([1.0, np.inf]),
    "softmax scalar": lambda: A.softmax(1.0),
    "log_softmax str": lambda: A.log_softmax(np.array(["a"])),
    "attention key sizes": lambda: A.attention(_Q, _K[:, :1], _K),
    "attention lengths": lambda: A.attention(_Q, _K, _K[:3]),
    "attention batch": lambda: A.attention(_Q[None], _K, _K),
    "attention 1d": lambda: A.attention(_Q[0], _K, _K),
    "attention masked row": lambda: A.attention(_Q, _K, _K, mask=np.zeros((3, 4), bool)),
    "attention mask dtype": lambda: A.attention(_Q, _K, _K, mask=np.ones((3, 4))),
    "attention mask shape": lambda: A.attention(_Q, _K, _K, mask=np.ones((2, 4), bool)),
    "attention scale": lambda: A.attention(_Q, _K, _K, scale=-1.0),
    "attention nan": lambda: A.attention(_Q * np.nan, _K, _K),
    "mha wq/wk": lambda: A.multi_head_attention(_X, _WQ, _WK[:, :, :3], _WV),
    "mha d_model": lambda: A.multi_head_attention(_X[:, :5], _WQ, _WK, _WV),
    "mha wo": lambda: A.multi_head_attention(_X, _WQ, _WK, _WV, np.ones((5, 2))),
    "mha heads": lambda: A.multi_head_attention(_X, _WQ, _WK[:2], _WV),
    "th pre shape": lambda: A.talking_heads_attention(_X, _WQ, _WK, _WV,
                                                      pre_softmax_mix=np.eye(2)),
    "th post shape": lambda: A.talking_heads_attention(_X, _WQ, _WK, _WV,
                                                       post_softmax_mix=np.eye(2)),
    "th head count": lambda: A.talking_heads_attention(_X, _WQ, _WK, _WV,
                                                       pre_softmax_mix=np.ones((4, 3))),
    "rank zeros": lambda: A.centered_log_rank(np.array([[1.0, 0.0], [0.5, 0.5]])),
    "rank rtol": lambda: A.centered_log_rank(_P, rtol=2.0),
    "target negative": lambda: A.centered_log(np.array([[1.5, -0.5]])),
    "target row sum": lambda: A.fit_low_rank_attention(_P * 1.01, 1, _G),
    "target ndim": lambda: A.fit_low_rank_attention(_P[0], 1, _G),
    "target 3d for th": lambda: A.fit_talking_heads(_P, 1, _G),
    "key_size zero": lambda: A.fit_low_rank_attention(_P, 0, _G),
    "key_size float": lambda: A.fit_low_rank_attention(_P, 2.0, _G),
    "key_size bool": lambda: A.fit_low_rank_attention(_P, True, _G),
    "rng": lambda: A.fit_low_rank_attention(_P, 1, 0),
    "init": lambda: A.fit_low_rank_attention(_P, 1, _G, init="zeros"),
    "restarts": lambda: A.fit_low_rank_attention(_P, 1, _G, restarts=0),
    "loss shapes": lambda: A.low_rank_attention_loss(_Q, _Q, _P),
    "th loss size": lambda: A.talking_heads_loss(np.ones(3), _P[None], 1, pre_softmax=True,
                                                 post_softmax=False),
    "th rng": lambda: A.fit_talking_heads(_P[None], 1, np.random.RandomState(0)),
    "count heads": lambda: A.bottleneck_count(512, 768, 7),
    "cost n": lambda: A.key_size_cost(768, 12, 64, 0),
    "cost d_ff": lambda: A.key_size_cost(768, 12, 64, 512, d_ff=0),
}


def test_cost_talking_heads_flag_must_be_bool() -> None:
    with pytest.raises(TypeError, match="talking_heads"):
        A.key_size_cost(768, 12, 64, 512, talking_heads="yes")


@pytest.mark.parametrize("case", sorted(_BAD))
def test_bad_input_raises(case: str) -> None:
    with pytest.raises(ValueError):
        _BAD[case]()
