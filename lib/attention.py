"""Multi-head attention, its low-rank bottleneck and talking-heads attention (chapter 7).

Single-head attention maps queries :math:`Q\\in\\mathbb{R}^{n\\times d}` and keys
:math:`K\\in\\mathbb{R}^{m\\times d}` to the row-stochastic matrix
:math:`P=\\mathrm{softmax}(QK^\\top)`. Because
:math:`\\log P = S - \\mathrm{lse}(S)\\mathbf 1^\\top` with :math:`S=QK^\\top`, the
row-centred log of :math:`P` equals :math:`SH` (:math:`H = I - \\mathbf 1\\mathbf 1^\\top/m`)
and has rank at most the key size :math:`d`. This module computes attention,
multi-head and talking-heads attention, the rank that decides whether a target
matrix is reachable, and fits ``softmax(Q K^T)`` (one head, or several heads with
talking-heads mixing) to given targets by minimising the mean row KL divergence.

Conventions shared by every function:

* Arrays must be real and finite; shapes are checked and a mismatch raises
  :class:`ValueError`, as does any other bad input.
* A *target* is a row-stochastic matrix: entries >= 0, each row summing to 1
  within ``1e-10 * m`` (``m`` the number of columns).
* In fitting, the usual scale :math:`1/\\sqrt{d_k}` is absorbed into ``Q``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lib._validation import finite_array, flag, generator, positive_int

#: Largest ``restarts`` or ``max_iter`` of the fits: L-BFGS stops long before 10**6
#: iterations on every problem in the book; a larger count is a slip.
MAX_ITERATIONS = 1_000_000
from scipy import optimize
from threadpoolctl import threadpool_limits

__all__ = [
    "LayerCost",
    "LowRankFit",
    "TalkingHeadsFit",
    "attention",
    "bottleneck_count",
    "centered_log",
    "centered_log_rank",
    "fit_low_rank_attention",
    "fit_talking_heads",
    "key_size_cost",
    "log_softmax",
    "low_rank_attention_loss",
    "multi_head_attention",
    "row_softmax_mix",
    "softmax",
    "talking_heads_attention",
    "talking_heads_loss",
    "talking_heads_parameter_count",
]

FloatArray = NDArray[np.float64]

#: Rows of a target may miss 1 by at most this times the number of columns.
ROW_SUM_RTOL = 1e-10
#: Scale of the diagonal of the free post-softmax matrix at the identity-like start.
_POST_MIX_START = math.log(100.0)


# -- validation ---------------------------------------------------------------
def _check_targets(target: ArrayLike, ndim: int, name: str = "target") -> FloatArray:
    """Row-stochastic matrices (a stack of them for ``ndim=3``); errors name ``name``."""
    shape = "(n, m)" if ndim == 2 else "(h, n, m)"
    t = finite_array(target, name, ndim, booleans=False)
    if t.shape[-1] < 1 or t.shape[-2] < 1 or (ndim == 3 and t.shape[0] < 1):
        raise ValueError(f"{name} must be a non-empty array of shape {shape}, got {t.shape}")
    if np.any(t < 0):
        raise ValueError(f"{name} must be non-negative")
    m = t.shape[-1]
    off = np.max(np.abs(t.sum(axis=-1) - 1.0))
    if off > ROW_SUM_RTOL * m:
        raise ValueError(f"{name} rows must sum to 1 (within {ROW_SUM_RTOL:g}*m); "
                         f"the worst row is off by {off:.3g}")
    return t


def _check_axis(axis: object, ndim: int) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array of dimension {ndim}")
    return int(axis)


def _finite_logits(logits: FloatArray) -> FloatArray:
    if not np.all(np.isfinite(logits)):
        raise ValueError(
            "the logits are beyond the float64 range: scale down the inputs (q and k, or "
            "x) or the projections wq, wk"
        )
    return logits


# -- softmax ------------------------------------------------------------------
def _softmax_input(x: ArrayLike, axis: object, name: str) -> tuple[FloatArray, int]:
    """Validated logits and axis: a softmax over no entries has no distribution."""
    arr = finite_array(x, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension")
    axis = _check_axis(axis, arr.ndim)
    if arr.shape[axis] == 0:
        raise ValueError(f"{name} has no entries along axis {axis} to normalise")
    return arr, axis


def _log_softmax(x: FloatArray, axis: int = -1) -> FloatArray:
    shift = x - np.max(x, axis=axis, keepdims=True)
    return shift - np.log(np.sum(np.exp(shift), axis=axis, keepdims=True))


def _softmax(x: FloatArray, axis: int = -1) -> FloatArray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax(x: ArrayLike, axis: int = -1) -> FloatArray:
    """Softmax along ``axis``, computed after subtracting the maximum.

    Parameters
    ----------
    x : array_like
        Finite real logits.
    axis : int
        Axis that is normalised (default: the last, i.e. row-wise for a matrix).

    Returns
    -------
    numpy.ndarray
        Positive entries summing to 1 along ``axis``; finite for finite ``x``.

    Notes
    -----
    Definition (1) of chapter 7, section "Attention and multi-head attention".
    """
    arr, axis = _softmax_input(x, axis, "x")
    return _softmax(arr, axis)


def log_softmax(x: ArrayLike, axis: int = -1) -> FloatArray:
    """Logarithm of :func:`softmax`, ``x - logsumexp(x)``, computed stably.

    Notes
    -----
    Chapter 7, section "The bottleneck is a rank": ``log softmax(S) = S - lse(S) 1^T``.
    """
    arr, axis = _softmax_input(x, axis, "x")
    return _log_softmax(arr, axis)


# -- attention ----------------------------------------------------------------
def attention(
    q: ArrayLike,
    k: ArrayLike,
    v: ArrayLike,
    mask: ArrayLike | None = None,
    scale: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Scaled dot-product attention ``softmax(scale * Q K^T) V``, eq. (1).

    Parameters
    ----------
    q : array_like, shape (..., n, d_k)
    k : array_like, shape (..., m, d_k)
    v : array_like, shape (..., m, d_v)
        Leading (batch) dimensions must agree exactly.
    mask : array_like of bool, optional
        Broadcastable to (..., n, m); True means "may attend". Every row needs at
        least one True entry.
    scale : float, optional
        Positive finite logit scale; default ``1/sqrt(d_k)``.

    Returns
    -------
    output : numpy.ndarray, shape (..., n, d_v)
    weights : numpy.ndarray, shape (..., n, m)
        Row-stochastic; masked entries are exactly 0.

    Notes
    -----
    Eq. (1) of chapter 7, section "Attention and multi-head attention".
    """
    qa, ka, va = finite_array(q, "q"), finite_array(k, "k"), finite_array(v, "v")
    for name, a in (("q", qa), ("k", ka), ("v", va)):
        if a.ndim < 2:
            raise ValueError(f"{name} must have at least 2 dimensions, got shape {a.shape}")
    if not (qa.shape[:-2] == ka.shape[:-2] == va.shape[:-2]):
        raise ValueError(f"batch shapes differ: q {qa.shape}, k {ka.shape}, v {va.shape}")
    if qa.shape[-1] != ka.shape[-1]:
        raise ValueError(f"q and k need the same key size, got {qa.shape[-1]} and {ka.shape[-1]}")
    if ka.shape[-2] != va.shape[-2]:
        raise ValueError(f"k and v need the same length m, got {ka.shape[-2]} and {va.shape[-2]}")
    if min(qa.shape[-1], qa.shape[-2], ka.shape[-2], va.shape[-1]) < 1:
        raise ValueError("q, k and v must be non-empty")
    if scale is None:
        scale = 1.0 / math.sqrt(qa.shape[-1])
    elif isinstance(scale, bool) or not (isinstance(scale, (int, float, np.floating, np.integer))
                                         and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    with np.errstate(over="ignore", invalid="ignore"):  # refused just below
        logits = _finite_logits(float(scale) * (qa @ np.swapaxes(ka, -1, -2)))
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype != bool:
            raise ValueError(f"mask must be boolean (True = attend), got dtype {m.dtype}")
        try:
            m = np.broadcast_to(m, logits.shape)
        except ValueError:
            raise ValueError(
                f"mask of shape {m.shape} does not broadcast to {logits.shape}") from None
        if np.any(~np.any(m, axis=-1)):
            raise ValueError("mask leaves a row with nothing to attend to")
        logits = np.where(m, logits, -np.inf)
    weights = _softmax(logits)
    return weights @ va, weights


def _check_heads(x: ArrayLike, wq: ArrayLike, wk: ArrayLike, wv: ArrayLike,
                 wo: ArrayLike | None) -> tuple[FloatArray, ...]:
    xa = finite_array(x, "x", 2)
    wqa, wka, wva = (finite_array(w, name, 3) for w, name in ((wq, "wq"), (wk, "wk"), (wv, "wv")))
    d_model = xa.shape[1]
    if min(xa.shape) < 1:
        raise ValueError(f"x must be non-empty, got shape {xa.shape}")
    for name, w in (("wq", wqa), ("wk", wka), ("wv", wva)):
        if w.shape[1] != d_model:
            raise ValueError(f"{name} must have shape (h, d_model={d_model}, size), got {w.shape}")
    if wqa.shape != wka.shape:
        raise ValueError(f"wq and wk must have the same shape, got {wqa.shape} and {wka.shape}")
    for name, w in (("wq", wqa), ("wv", wva)):
        if min(w.shape) < 1:
            raise ValueError(f"{name} must be non-empty, got shape {w.shape}")
    woa = None
    if wo is not None:
        woa = finite_array(wo, "wo", 2)
        width = wva.shape[0] * wva.shape[2]
        if woa.shape[0] != width or woa.shape[1] < 1:
            raise ValueError(f"wo must have shape (h*head_size={width}, d_out), got {woa.shape}")
    return xa, wqa, wka, wva, woa


def _concat_heads(o: FloatArray, wo: FloatArray | None) -> FloatArray:
    out = np.concatenate(list(o), axis=-1)  # (n, h*head_size): O = [O^(1), ..., O^(h)]
    return out if wo is None else out @ wo


def multi_head_attention(
    x: ArrayLike,
    wq: ArrayLike,
    wk: ArrayLike,
    wv: ArrayLike,
    wo: ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Multi-head self-attention, eq. (2), with an optional output projection.

    Parameters
    ----------
    x : array_like, shape (n, d_model)
    wq, wk : array_like, shape (h, d_model, key_size)
    wv : array_like, shape (h, d_model, head_size)
        key_size and head_size are independent.
    wo : array_like, shape (h * head_size, d_out), optional
        Output projection of standard MHA; ``None`` returns the concatenation, as in (2).

    Returns
    -------
    output : numpy.ndarray, shape (n, h * head_size) or (n, d_out)
    weights : numpy.ndarray, shape (h, n, n)

    Notes
    -----
    Eq. (2) of chapter 7, section "Attention and multi-head attention"; each head
    uses the scale ``1/sqrt(key_size)``.
    """
    xa, wqa, wka, wva, woa = _check_heads(x, wq, wk, wv, wo)
    o, weights = attention(xa @ wqa, xa @ wka, xa @ wva)
    return _concat_heads(o, woa), weights


def talking_heads_attention(
    x: ArrayLike,
    wq: ArrayLike,
    wk: ArrayLike,
    wv: ArrayLike,
    wo: ArrayLike | None = None,
    *,
    pre_softmax_mix: ArrayLike | None = None,
    post_softmax_mix: ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Talking-heads attention (Shazeer et al. 2020), eq. (4) plus the weight projection.

    Parameters
    ----------
    x, wq, wk, wv, wo
        As in :func:`multi_head_attention`; ``wq``/``wk`` have ``h_k`` heads and
        ``wv`` has ``h_v`` heads.
    pre_softmax_mix : array_like, shape (h_l, h_k), optional
        ``J^(i) = sum_j lambda_ij Jhat^(j)`` on the scaled logits. ``None`` = identity.
    post_softmax_mix : array_like, shape (h_v, h_l), optional
        ``W^(i) = sum_j mu_ij P^(j)`` on the attention weights. ``None`` = identity.

    Returns
    -------
    output : numpy.ndarray, shape (n, h_v * head_size) or (n, d_out)
    weights : numpy.ndarray, shape (h_v, n, n)
        The weights that multiply the values (after the post-softmax mix).

    Notes
    -----
    Chapter 7, section "Talking heads". With both mixes ``None`` the result equals
    :func:`multi_head_attention` exactly.
    """
    xa, wqa, wka, wva, woa = _check_heads(x, wq, wk, wv, wo)
    h_k, h_v = wqa.shape[0], wva.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):  # refused just below
        logits = _finite_logits(
            (xa @ wqa) @ np.swapaxes(xa @ wka, -1, -2) / math.sqrt(wqa.shape[2])
        )
    if pre_softmax_mix is not None:
        lam = finite_array(pre_softmax_mix, "pre_softmax_mix", 2)
        if lam.shape[1] != h_k or lam.shape[0] < 1:
            raise ValueError(f"pre_softmax_mix must have shape (h_l, h_k={h_k}), got {lam.shape}")
        logits = np.einsum("ij,jab->iab", lam, logits)
    weights = _softmax(logits)
    h_l = weights.shape[0]
    if post_softmax_mix is not None:
        mu = finite_array(post_softmax_mix, "post_softmax_mix", 2)
        if mu.shape != (h_v, h_l):
            raise ValueError(f"post_softmax_mix must have shape (h_v={h_v}, h_l={h_l}), "
                             f"got {mu.shape}")
        weights = np.einsum("ij,jab->iab", mu, weights)
    elif h_l != h_v:
        raise ValueError(f"without a post-softmax mix the {h_l} logit heads must match "
                         f"the {h_v} value heads")
    o = weights @ (xa @ wva)
    return _concat_heads(o, woa), weights


# -- counting -----------------------------------------------------------------
def bottleneck_count(n: int, d_model: int, heads: int) -> tuple[int, int]:
    """Numbers in one head's ``Q^(i), K^(i)`` versus entries of its ``P``: ``(2nd/h, n^2)``.

    Notes
    -----
    Chapter 7, section "Counting, and the price of a larger key size". ``heads`` must
    divide ``d_model``.
    """
    n, d_model, heads = (positive_int(v, name) for v, name in
                         ((n, "n"), (d_model, "d_model"), (heads, "heads")))
    if d_model % heads:
        raise ValueError(f"heads={heads} must divide d_model={d_model}")
    return 2 * n * d_model // heads, n * n


@dataclass(frozen=True)
class LayerCost:
    """Parameters and multiply-adds of one Transformer layer (biases, norms left out).

    The first five fields are the attention core; the others default to zero when
    :func:`key_size_cost` is asked for the attention core only.

    Chapter 7, section "Counting, and the price of a larger key size".
    """

    qk_params: int
    v_params: int
    o_params: int
    logit_flops: int
    value_flops: int
    #: ``X W_Q``, ``X W_K``, ``X W_V`` and the output projection.
    projection_flops: int = 0
    #: The feed-forward block ``W_2 relu(W_1 x)``: ``2 d d_ff`` weights.
    ffn_params: int = 0
    ffn_flops: int = 0
    #: The talking-heads mixes, two ``h x h`` matrices, each applied to ``h`` maps of ``n^2``.
    mix_params: int = 0
    mix_flops: int = 0

    @property
    def params(self) -> int:
        """All parameters counted above."""
        return (self.qk_params + self.v_params + self.o_params + self.ffn_params
                + self.mix_params)

    @property
    def flops(self) -> int:
        """All multiply-adds counted above."""
        return (self.logit_flops + self.value_flops + self.projection_flops
                + self.ffn_flops + self.mix_flops)


def key_size_cost(d_model: int, heads: int, key_size: int, n: int, *,
                  d_ff: int | None = None, talking_heads: bool = False) -> LayerCost:
    """Cost of one layer with head size ``d_model/heads`` and a free key size.

    Attention core: ``qk_params = 2 d h k``, ``v_params = o_params = d^2``; multiply-adds
    ``h n^2 k`` for the logits and ``h n^2 (d/h)`` for ``P V``. With ``d_ff`` the whole
    layer is counted: the projections, ``n d (2 h k + 2 d)`` multiply-adds, and the
    feed-forward block, ``2 d d_ff`` parameters and ``2 n d d_ff`` multiply-adds. With
    ``talking_heads`` the two ``h x h`` mixes add ``2 h^2`` parameters and ``2 h^2 n^2``
    multiply-adds. Biases, layer norms and the softmax itself are left out.

    Parameters
    ----------
    d_model, heads, key_size, n : int
        Hidden size, number of heads (must divide ``d_model``), key size, sequence length.
    d_ff : int, optional
        Width of the feed-forward block (``4 d_model`` in BERT); ``None`` counts the
        attention core only, as in the first edition of the chapter.
    talking_heads : bool, default False
        Count the pre- and post-softmax mixes of talking-heads attention.

    Notes
    -----
    Chapter 7, section "Counting, and the price of a larger key size".
    """
    d_model, heads, key_size, n = (positive_int(v, name) for v, name in (
        (d_model, "d_model"), (heads, "heads"), (key_size, "key_size"), (n, "n")))
    if d_model % heads:
        raise ValueError(f"heads={heads} must divide d_model={d_model}")
    if not isinstance(talking_heads, (bool, np.bool_)):
        raise TypeError(f"talking_heads must be True or False, got {talking_heads!r}")
    head_size = d_model // heads
    whole = d_ff is not None
    d_ff = positive_int(d_ff, "d_ff") if whole else 0
    return LayerCost(
        qk_params=2 * d_model * heads * key_size,
        v_params=d_model * heads * head_size,
        o_params=heads * head_size * d_model,
        logit_flops=heads * n * n * key_size,
        value_flops=heads * n * n * head_size,
        projection_flops=(n * d_model * (2 * heads * key_size + 2 * heads * head_size)
                          if whole else 0),
        ffn_params=2 * d_model * d_ff,
        ffn_flops=2 * n * d_model * d_ff,
        mix_params=2 * heads * heads if talking_heads else 0,
        mix_flops=2 * heads * heads * n * n if talking_heads else 0,
    )


# -- the rank ----------------------------------------------------------------
def centered_log(p: ArrayLike) -> FloatArray:
    """Row-centred logarithm ``log(P) H`` of a positive row-stochastic matrix.

    Notes
    -----
    Chapter 7, theorem "The bottleneck is a rank": for ``P = softmax(S)`` this is ``S H``.
    """
    t = _check_targets(p, 2, "p")
    if np.any(t == 0):
        raise ValueError("p must be strictly positive (softmax never produces zeros)")
    lp = np.log(t)
    return lp - lp.mean(axis=1, keepdims=True)


def centered_log_rank(p: ArrayLike, rtol: float = 1e-10) -> int:
    """Least key_size for which ``P = softmax(Q K^T)`` exactly: ``rank(log(P) H)``.

    Parameters
    ----------
    p : array_like, shape (n, m)
        Strictly positive, row-stochastic.
    rtol : float
        Singular values below ``rtol * max(s_max, 1)`` count as zero.

    Notes
    -----
    Chapter 7, theorem "The bottleneck is a rank" (and its converse).
    """
    if isinstance(rtol, bool) or not (isinstance(rtol, (float, int, np.floating))
                                      and 0 < rtol < 1):
        raise ValueError(f"rtol must lie in (0, 1), got {rtol!r}")
    s = np.linalg.svd(centered_log(p), compute_uv=False)
    return int(np.sum(s > rtol * max(float(s[0]) if s.size else 0.0, 1.0)))


# -- fitting one head ----------------------------------------------------------
def _entropy_rows(t: FloatArray) -> float:
    """Mean over rows of sum_j t log t (0 log 0 = 0): the constant in CE = KL - this."""
    safe = np.where(t > 0, t, 1.0)
    return float(np.sum(t * np.log(safe)) / t.shape[-2])


def _ce_and_grad_s(s: FloatArray, t: FloatArray) -> tuple[float, FloatArray]:
    """Mean row cross-entropy -sum t log softmax(s) / n and its gradient in s."""
    logp = _log_softmax(s)
    n = s.shape[-2]
    loss = -float(np.sum(t * logp)) / n
    g = (np.exp(logp) * t.sum(axis=-1, keepdims=True) - t) / n
    return loss, g


def low_rank_attention_loss(q: ArrayLike, k: ArrayLike,
                            target: ArrayLike) -> tuple[float, FloatArray, FloatArray]:
    """Mean row cross-entropy of ``softmax(Q K^T)`` against a target, with gradients.

    ``L = -(1/n) sum_ij P_ij log softmax(S)_ij``, ``S = Q K^T``;
    ``G = dL/dS = (softmax(S) o (P 1) 1^T - P) / n``, ``dL/dQ = G K``, ``dL/dK = G^T Q``.

    Returns
    -------
    loss : float
    grad_q : numpy.ndarray, shape (n, d)
    grad_k : numpy.ndarray, shape (m, d)

    Notes
    -----
    Gradient derived in chapter 7, section "Fitting a target below its rank".
    """
    t = _check_targets(target, 2)
    qa, ka = finite_array(q, "q", 2), finite_array(k, "k", 2)
    if qa.shape[0] != t.shape[0] or ka.shape[0] != t.shape[1] or qa.shape[1] != ka.shape[1]:
        raise ValueError(f"need q (n, d), k (m, d) for a target (n, m) = {t.shape}; "
                         f"got q {qa.shape}, k {ka.shape}")
    loss, g = _ce_and_grad_s(qa @ ka.T, t)
    return loss, g @ ka, g.T @ qa


@dataclass(frozen=True)
class LowRankFit:
    """Result of :func:`fit_low_rank_attention` (the best start)."""

    q: FloatArray
    k: FloatArray
    kl: float
    kl_per_start: FloatArray
    converged: bool
    converged_per_start: NDArray[np.bool_]
    baseline_kl: float | None


def _svd_start(t: FloatArray, d: int) -> tuple[FloatArray, FloatArray]:
    positive = t > 0
    floor = np.log(t[positive].min()) - 10.0 if np.any(positive) else 0.0
    lp = np.where(positive, np.log(np.where(positive, t, 1.0)), floor)
    c = lp - lp.mean(axis=1, keepdims=True)
    u, s, vt = np.linalg.svd(c, full_matrices=False)
    r = min(d, s.size)
    q = np.zeros((t.shape[0], d))
    k = np.zeros((t.shape[1], d))
    q[:, :r] = u[:, :r] * np.sqrt(s[:r])
    k[:, :r] = vt[:r].T * np.sqrt(s[:r])
    return q, k


def _kl_one(q: FloatArray, k: FloatArray, t: FloatArray, neg_entropy: float) -> float:
    return max(_ce_and_grad_s(q @ k.T, t)[0] + neg_entropy, 0.0)


def _lbfgs(fun: Callable[[FloatArray], tuple[float, FloatArray]], x0: FloatArray,
           max_iter: int) -> optimize.OptimizeResult:
    # L-BFGS-B calls BLAS on tiny vectors: threads only add contention (40x slower).
    with threadpool_limits(limits=1, user_api="blas"):
        return optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                                 options={"maxiter": max_iter, "maxfun": 4 * max_iter,
                                          "ftol": 1e-15, "gtol": 1e-9, "maxcor": 20})


def fit_low_rank_attention(
    target: ArrayLike,
    key_size: int,
    rng: np.random.Generator,
    *,
    restarts: int = 1,
    init: Literal["svd", "random"] = "svd",
    max_iter: int = 5000,
) -> LowRankFit:
    """Fit ``softmax(Q K^T)`` with ``Q (n, d), K (m, d)`` to a target by L-BFGS-B.

    Minimises the mean row KL divergence ``KL(target || softmax(Q K^T))`` (the cross-
    entropy minus a constant) with the gradient of :func:`low_rank_attention_loss`.

    Parameters
    ----------
    target : array_like, shape (n, m)
        Row-stochastic, entries >= 0.
    key_size : int
        ``d``, the common width of Q and K.
    rng : numpy.random.Generator
        Source of the random starts.
    restarts : int
        Total number of starts: the first from ``init``, the others random
        (entries N(0, 1/d)); at most ``MAX_ITERATIONS`` = 10**6.
    init : {"svd", "random"}
        ``"svd"``: truncated SVD of the row-centred log target (a zero entry's log
        replaced by the log of the smallest positive entry minus 10), whose KL is
        reported as ``baseline_kl``.
    max_iter : int
        L-BFGS-B iteration limit per start, at most ``MAX_ITERATIONS`` = 10**6.

    Returns
    -------
    LowRankFit
        ``q``, ``k``, ``kl`` of the best start, all starts' KL and convergence flags.
        Each start runs SciPy's L-BFGS-B with ``maxcor=20``, ``ftol=1e-15``,
        ``gtol=1e-9`` and at most ``4 * max_iter`` evaluations.

    Notes
    -----
    Chapter 7, section "Fitting a target below its rank".
    """
    t = _check_targets(target, 2)
    d = positive_int(key_size, "key_size")
    rng = generator(rng)
    restarts = positive_int(restarts, "restarts", maximum=MAX_ITERATIONS)
    max_iter = positive_int(max_iter, "max_iter", maximum=MAX_ITERATIONS)
    if init not in ("svd", "random"):
        raise ValueError(f"init must be 'svd' or 'random', got {init!r}")
    n, m = t.shape
    neg_entropy = _entropy_rows(t)

    def fun(theta: FloatArray) -> tuple[float, FloatArray]:
        q, k = theta[: n * d].reshape(n, d), theta[n * d:].reshape(m, d)
        ce, g = _ce_and_grad_s(q @ k.T, t)
        return ce + neg_entropy, np.concatenate([(g @ k).ravel(), (g.T @ q).ravel()])

    results, baseline = [], None
    for start in range(restarts):
        if start == 0 and init == "svd":
            q0, k0 = _svd_start(t, d)
            baseline = _kl_one(q0, k0, t, neg_entropy)
        else:
            q0 = rng.normal(0.0, 1.0 / math.sqrt(d), (n, d))
            k0 = rng.normal(0.0, 1.0 / math.sqrt(d), (m, d))
        res = _lbfgs(fun, np.concatenate([q0.ravel(), k0.ravel()]), max_iter)
        q, k = res.x[: n * d].reshape(n, d), res.x[n * d:].reshape(m, d)
        results.append((_kl_one(q, k, t, neg_entropy), bool(res.success), q, k))
    best = min(range(len(results)), key=lambda i: results[i][0])
    kl, conv, q, k = results[best]
    return LowRankFit(q=q, k=k, kl=kl,
                      kl_per_start=np.array([r[0] for r in results]),
                      converged=conv,
                      converged_per_start=np.array([r[1] for r in results]),
                      baseline_kl=baseline)


# -- talking heads ------------------------------------------------------------
def row_softmax_mix(m: ArrayLike) -> FloatArray:
    """The convex post-softmax mix ``mu = softmax(M)`` row-wise (chapter 7, "Talking heads")."""
    arr, axis = _softmax_input(finite_array(m, "m", 2), -1, "m")
    return _softmax(arr, axis)


def talking_heads_parameter_count(h: int, n: int, m: int, key_size: int, *,
                                  pre_softmax: bool, post_softmax: bool) -> int:
    """Free parameters in the talking-heads fit: ``h (n + m) d`` plus ``h^2`` per mix."""
    h, n, m, d = (positive_int(v, name) for v, name in
                  ((h, "h"), (n, "n"), (m, "m"), (key_size, "key_size")))
    pre, post = flag(pre_softmax, "pre_softmax"), flag(post_softmax, "post_softmax")
    return h * (n + m) * d + h * h * (int(pre) + int(post))


def _unpack(theta: FloatArray, h: int, n: int, m: int, d: int, pre: bool, post: bool
            ) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]:
    i = 0
    q = theta[i:i + h * n * d].reshape(h, n, d); i += h * n * d
    k = theta[i:i + h * m * d].reshape(h, m, d); i += h * m * d
    lam = mix = None
    if pre:
        lam = theta[i:i + h * h].reshape(h, h); i += h * h
    if post:
        mix = theta[i:i + h * h].reshape(h, h); i += h * h
    return q, k, lam, mix


def _th_forward_backward(theta: FloatArray, t: FloatArray, d: int, pre: bool, post: bool,
                         grad: bool = True
                         ) -> tuple[float, FloatArray] | tuple[float, FloatArray, FloatArray]:
    """Talking-heads loss and gradient (``grad=True``) or loss, per-head CE and weights."""
    h, n, m = t.shape
    q, k, lam, mix = _unpack(theta, h, n, m, d, pre, post)
    jhat = q @ np.swapaxes(k, 1, 2)  # (h, n, m)
    j = np.einsum("ij,jab->iab", lam, jhat) if pre else jhat
    if not post:
        logp = _log_softmax(j)
        per_head = -np.sum(t * logp, axis=(1, 2)) / n
        g_j = (np.exp(logp) * t.sum(axis=-1, keepdims=True) - t) / (n * h)
        w = np.exp(logp)
    else:
        p = _softmax(j)
        mu = _softmax(mix)
        w = np.einsum("ij,jab->iab", mu, p)
        wsafe = np.maximum(w, np.finfo(float).tiny)
        per_head = -np.sum(np.where(t > 0, t * np.log(wsafe), 0.0), axis=(1, 2)) / n
    loss = float(per_head.mean())
    if not grad:
        return loss, per_head, w
    if post:
        g_w = -np.where(t > 0, t / wsafe, 0.0) / (n * h)
        g_mu = np.einsum("iab,jab->ij", g_w, p)
        g_mix = mu * (g_mu - np.sum(g_mu * mu, axis=1, keepdims=True))
        g_p = np.einsum("ij,iab->jab", mu, g_w)
        g_j = p * (g_p - np.sum(g_p * p, axis=-1, keepdims=True))
    if pre:
        g_jhat = np.einsum("ij,iab->jab", lam, g_j)
        g_lam = np.einsum("iab,jab->ij", g_j, jhat)
    else:
        g_jhat = g_j
    parts = [(g_jhat @ k).ravel(), (np.swapaxes(g_jhat, 1, 2) @ q).ravel()]
    if pre:
        parts.append(g_lam.ravel())
    if post:
        parts.append(g_mix.ravel())
    return loss, np.concatenate(parts)


def talking_heads_loss(
    params: ArrayLike,
    targets: ArrayLike,
    key_size: int,
    *,
    pre_softmax: bool,
    post_softmax: bool,
) -> tuple[float, FloatArray]:
    """Mean over heads of the mean row cross-entropy of talking-heads weights, with gradient.

    Model for ``h`` targets of shape (n, m): ``Jhat_j = Q_j K_j^T``; with ``pre_softmax``
    ``J_i = sum_j lambda_ij Jhat_j``; ``P_i = softmax(J_i)``; with ``post_softmax``
    ``W_i = sum_j mu_ij P_j``, ``mu = softmax(M)`` row-wise. ``params`` is the flat
    vector ``[Q (h, n, d), K (h, m, d), lambda (h, h) if pre, M (h, h) if post]``.

    Returns
    -------
    loss : float
    grad : numpy.ndarray, same shape as ``params``

    Notes
    -----
    Gradient derived in chapter 7, section "Talking heads against one target per head".
    """
    t = _check_targets(targets, 3, "targets")
    d = positive_int(key_size, "key_size")
    pre_softmax, post_softmax = flag(pre_softmax, "pre_softmax"), flag(post_softmax, "post_softmax")
    h, n, m = t.shape
    theta = finite_array(params, "params", 1)
    size = talking_heads_parameter_count(h, n, m, d, pre_softmax=pre_softmax,
                                         post_softmax=post_softmax)
    if theta.size != size:
        raise ValueError(f"params must have {size} entries for these targets, got {theta.size}")
    with np.errstate(over="ignore", invalid="ignore"):  # refused below if not finite
        loss, grad = _th_forward_backward(theta, t, d, pre_softmax, post_softmax)
    if not (np.isfinite(loss) and np.all(np.isfinite(grad))):
        raise ValueError("params are so large that the loss or its gradient overflowed")
    return loss, grad


@dataclass(frozen=True)
class TalkingHeadsFit:
    """Result of :func:`fit_talking_heads` (the best start)."""

    kl_per_head: FloatArray
    kl: float
    pre_mix: FloatArray | None
    post_mix: FloatArray | None
    q: FloatArray
    k: FloatArray
    parameter_count: int
    kl_per_start: FloatArray
    converged_per_start: NDArray[np.bool_]


def fit_talking_heads(
    targets: ArrayLike,
    key_size: int,
    rng: np.random.Generator,
    *,
    pre_softmax: bool = True,
    post_softmax: bool = False,
    restarts: int = 1,
    max_iter: int = 5000,
) -> TalkingHeadsFit:
    """Fit ``h`` targets at once with talking-heads attention, by L-BFGS-B.

    The first start is each head's truncated-SVD fit with identity-like mixes
    (``lambda = I``, ``M = log(100) I``); further starts are random.

    Returns
    -------
    TalkingHeadsFit
        Per-head mean row KL, the mixes (``lambda``, and ``mu = softmax(M)``), Q, K,
        the parameter count and every start's mean KL and convergence flag. The
        optimiser is that of :func:`fit_low_rank_attention`; random starts draw Q and
        K from N(0, 1/d), lambda from N(0, 1/h) and M from N(0, 1).

    Notes
    -----
    Chapter 7, section "Talking heads against one target per head".
    """
    t = _check_targets(targets, 3, "targets")
    d = positive_int(key_size, "key_size")
    rng = generator(rng)
    restarts = positive_int(restarts, "restarts", maximum=MAX_ITERATIONS)
    max_iter = positive_int(max_iter, "max_iter", maximum=MAX_ITERATIONS)
    pre, post = flag(pre_softmax, "pre_softmax"), flag(post_softmax, "post_softmax")
    h, n, m = t.shape
    neg_entropy = np.array([_entropy_rows(ti) for ti in t])
    const = float(neg_entropy.mean())

    def fun(theta: FloatArray) -> tuple[float, FloatArray]:
        loss, g = _th_forward_backward(theta, t, d, pre, post)
        return loss + const, g

    runs = []
    for start in range(restarts):
        if start == 0:
            qk = [_svd_start(ti, d) for ti in t]
            parts = [np.stack([a for a, _ in qk]).ravel(), np.stack([b for _, b in qk]).ravel()]
            parts += [np.eye(h).ravel()] if pre else []
            parts += [(_POST_MIX_START * np.eye(h)).ravel()] if post else []
        else:
            parts = [rng.normal(0.0, 1.0 / math.sqrt(d), h * (n + m) * d)]
            parts += [rng.normal(0.0, 1.0 / math.sqrt(h), h * h)] if pre else []
            parts += [rng.normal(0.0, 1.0, h * h)] if post else []
        res = _lbfgs(fun, np.concatenate(parts), max_iter)
        _, per_head, _ = _th_forward_backward(res.x, t, d, pre, post, grad=False)
        runs.append((np.maximum(per_head + neg_entropy, 0.0), bool(res.success), res.x))
    best = min(range(restarts), key=lambda i: runs[i][0].mean())
    kl_heads, _, theta = runs[best]
    q, k, lam, mix = _unpack(theta, h, n, m, d, pre, post)
    return TalkingHeadsFit(
        kl_per_head=kl_heads, kl=float(kl_heads.mean()),
        pre_mix=None if lam is None else lam.copy(),
        post_mix=None if mix is None else _softmax(mix),
        q=q.copy(), k=k.copy(),
        parameter_count=talking_heads_parameter_count(h, n, m, d, pre_softmax=pre,
                                                      post_softmax=post),
        kl_per_start=np.array([r[0].mean() for r in runs]),
        converged_per_start=np.array([r[1] for r in runs]))
