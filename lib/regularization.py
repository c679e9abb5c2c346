"""Noise, gradient penalties and virtual adversarial training (chapter 5).

Training with input noise :math:`\\varepsilon` of variance :math:`\\sigma^2`
adds, to second order, a penalty :math:`\\tfrac12\\sigma^2\\Delta l` to the
loss; replacing the target by the model's own output turns it into a
weighted gradient penalty :math:`\\tfrac12\\sigma^2\\sum_i\\lambda_i
\\Vert\\nabla_x f_i\\Vert^2`; and looking for the *worst* rather than a random
perturbation of :math:`l(f(x+\\varepsilon), f_{ng}(x))` gives virtual
adversarial training (VAT), whose direction is the top eigenvector of a
Hessian found by power iteration on finite-difference Hessian-vector products.

This module holds the numerical pieces of that chapter:

* :func:`hvp_finite_difference`, :func:`power_iteration` and
  :func:`vat_perturbation`: the VAT machinery of eqs. (17)-(18);
* :func:`rademacher_gradient_penalty`: the one-gradient estimate (14) of
  :math:`\\sum_i\\Vert\\nabla_x f_i\\Vert^2`;
* :func:`softmax`, :func:`kl_divergence`, :func:`random_features`,
  :func:`fisher_penalty_and_gradients` and
  :func:`train_random_feature_classifier`: a small semi-supervised experiment
  (multinomial logistic regression on fixed random tanh features, with
  analytic gradients) that stands in for the article's BERT experiment, with
  random noise, the explicit gradient penalty (13) or VAT on unlabelled data.

Conventions: vectors are 1-d float arrays; batched functions take arrays of
shape ``(n, d)`` and act on the last axis. NaN, +-inf, wrong shapes and out
of range scalars raise :class:`ValueError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lib._validation import finite_array, flag, real

#: Largest loop count accepted (power-iteration steps, training steps, sign samples):
#: 10**6 is a thousand times any use in the book; ``10**12`` would run for days.
MAX_ITERATIONS = 1_000_000

__all__ = [
    "RandomFeatureClassifier",
    "hvp_finite_difference",
    "kl_divergence",
    "objective_and_gradients",
    "power_iteration",
    "rademacher_gradient_penalty",
    "fisher_penalty_and_gradients",
    "random_features",
    "softmax",
    "train_random_feature_classifier",
    "vat_perturbation",
]

FloatArray = NDArray[np.float64]
VectorFunction = Callable[[FloatArray], ArrayLike]


# -- validation helpers -------------------------------------------------------
def _as_finite(value: ArrayLike, name: str, ndim: tuple[int, ...] | None = None,
               *, booleans: bool = True) -> FloatArray:
    """A non-empty, finite float array (see :func:`lib._validation.finite_array`)."""
    arr = finite_array(value, name, ndim, booleans=booleans)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def _count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) > MAX_ITERATIONS:
        raise ValueError(f"{name} must be at most {MAX_ITERATIONS}, got {value!r}")
    return int(value)


def _probabilities(value: ArrayLike, name: str, shape: tuple[int, ...],
                   *, booleans: bool = False) -> FloatArray:
    """Rows of probabilities of the given shape (booleans only where one-hot)."""
    arr = _as_finite(value, name, (len(shape),), booleans=booleans)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if np.any(arr < 0) or np.any(np.abs(arr.sum(axis=-1) - 1) > 1e-9):
        raise ValueError(f"{name} must be probability vectors on the last axis")
    return arr


def _call(fn: VectorFunction, arg: FloatArray, name: str, shape: tuple[int, ...]) -> FloatArray:
    if not callable(fn):
        raise ValueError(f"{name} must be callable")
    out = _as_finite(fn(arg), f"{name}(...)")
    if out.shape != shape:
        raise ValueError(f"{name} must return shape {shape}, got {out.shape}")
    return out


def _normalise(v: FloatArray, name: str) -> FloatArray:
    """Rows of ``v`` divided by their norms. Rows so large or small that the norm
    overflows or underflows (1e300, 1e-300) are divided by their largest entry first."""
    top = np.max(np.abs(v), axis=-1, keepdims=True)
    if np.any(top == 0):
        raise ValueError(f"{name} has a zero vector: cannot normalise it")
    with np.errstate(over="ignore", under="ignore"):
        norm = np.linalg.norm(v, axis=-1, keepdims=True)
    if np.all(np.isfinite(norm)) and np.all(norm >= 1e-150):
        return v / norm  # the ordinary case, unchanged bit for bit
    v = v / top
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# -- VAT machinery -------------------------------------------------------------
def hvp_finite_difference(
    grad: VectorFunction,
    x: ArrayLike,
    u: ArrayLike,
    xi: float,
    *,
    stationary: bool = False,
) -> FloatArray:
    """Hessian-vector product by a forward difference of gradients.

    Parameters
    ----------
    grad : callable
        ``grad(x)`` returns the gradient of a scalar function ``l`` at ``x``
        (same shape as ``x``).
    x : array_like, shape (d,) or (n, d)
        Point(s) at which the Hessian acts.
    u : array_like, same shape as ``x``
        Direction(s).
    xi : float
        Step size, > 0.
    stationary : bool, default False
        If True, assume ``grad(x) = 0`` (as for ``l(f(x'), f_ng(x))`` at
        ``x' = x``) and return the VAT form ``grad(x + xi u) / xi``, which
        saves one gradient evaluation.

    Returns
    -------
    ndarray
        ``(grad(x + xi u) - grad(x)) / xi``, equal to ``H u + xi/2 l'''[u, u]
        + O(xi^2)``.

    Raises
    ------
    ValueError
        If ``x`` or ``u`` is not finite or of the wrong shape, ``xi`` is not
        positive, or (unless ``stationary``) the step ``xi * u`` changes no
        coordinate of ``x`` (it is lost in rounding, and the difference would
        be exactly 0).

    Notes
    -----
    Derived in chapter 5, section "Virtual adversarial training", eq. (18).
    """
    x = _as_finite(x, "x", (1, 2))
    u = _as_finite(u, "u", (1, 2))
    if u.shape != x.shape:
        raise ValueError(f"u must have the shape of x {x.shape}, got {u.shape}")
    xi = _positive(xi, "xi")
    stationary = flag(stationary, "stationary")
    moved = x + xi * u
    if not stationary and np.any(u != 0) and np.all(moved[u != 0] == x[u != 0]):
        # the difference would be exactly 0, whatever H u is (the stationary form
        # divides grad(x + xi u) itself, and vat_perturbation handles a zero there)
        raise ValueError(
            "xi * u is lost in rounding next to x (the step changes no coordinate): "
            "take a larger xi or a longer u"
        )
    ahead = _call(grad, moved, "grad", x.shape)
    if stationary:
        return ahead / xi
    return (ahead - _call(grad, x, "grad", x.shape)) / xi


def power_iteration(
    matvec: VectorFunction, u0: ArrayLike, iters: int
) -> tuple[float, FloatArray]:
    """Power iteration ``u <- H u / ||H u||`` for a symmetric operator ``H``.

    Parameters
    ----------
    matvec : callable
        ``matvec(u)`` returns ``H u`` for a 1-d ``u`` (exactly, or e.g. by
        :func:`hvp_finite_difference`).
    u0 : array_like, shape (d,)
        Starting vector, non-zero.
    iters : int
        Number of iterations, from 0 to ``MAX_ITERATIONS`` = 10**6.

    Returns
    -------
    eigenvalue : float
        The Rayleigh quotient ``u^T H u`` at the final unit vector.
    u : ndarray, shape (d,)
        The final unit vector, an estimate of the top eigenvector (the one of
        largest ``|eigenvalue|``), up to sign.

    Notes
    -----
    Derived in chapter 5, section "Virtual adversarial training", eq. (17).
    """
    u = _normalise(_as_finite(u0, "u0", (1,)), "u0")
    iters = _count(iters, "iters", 0)
    for _ in range(iters):
        hu = _call(matvec, u, "matvec", u.shape)
        u = _normalise(hu, "matvec(u)")
    return float(u @ _call(matvec, u, "matvec", u.shape)), u


def vat_perturbation(
    grad: VectorFunction,
    x: ArrayLike,
    epsilon: float,
    xi: float,
    iters: int,
    rng: np.random.Generator,
) -> FloatArray:
    """The virtual adversarial perturbation of norm ``epsilon`` (the VAT algorithm).

    Parameters
    ----------
    grad : callable
        ``grad(x')`` returns ``nabla_{x'} l(f(x'), f_ng(x))``, the gradient of
        the smoothness loss with the target ``f_ng(x)`` held fixed; it vanishes
        at ``x' = x``.
    x : array_like, shape (d,) or (n, d)
        Input(s); rows are perturbed independently.
    epsilon : float
        Norm of the returned perturbation (per row), > 0.
    xi : float
        Finite-difference step of the power iteration, > 0.
    iters : int
        Power-iteration steps, 0 to ``MAX_ITERATIONS`` = 10**6. With 0 the result is a
        random (Gaussian-direction) perturbation of norm ``epsilon``.
    rng : numpy.random.Generator
        Source of the random starting direction.

    Returns
    -------
    ndarray, same shape as ``x``
        ``epsilon * u`` with ``u`` the unit direction after ``iters`` steps
        ``u <- normalise(grad(x + xi u))``; a row where that gradient is
        exactly zero keeps its previous direction.

    Notes
    -----
    Derived in chapter 5, section "Virtual adversarial training", eqs. (17)-(18).
    """
    x = _as_finite(x, "x", (1, 2))
    epsilon = _positive(epsilon, "epsilon")
    xi = _positive(xi, "xi")
    iters = _count(iters, "iters", 0)
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator")
    u = _normalise(rng.standard_normal(x.shape), "u")
    for _ in range(iters):
        g = hvp_finite_difference(grad, x, u, xi, stationary=True)
        # A row whose Hessian-vector product vanishes (a flat model) keeps its direction.
        flat = np.all(g == 0, axis=-1, keepdims=True)
        u = np.where(flat, u, _normalise(np.where(flat, 1.0, g), "g"))
    return epsilon * u


def rademacher_gradient_penalty(
    jacobian_vector_product: VectorFunction,
    k: int,
    rng: np.random.Generator,
    samples: int = 1,
) -> float:
    """One-gradient estimate of ``sum_i ||grad f_i||^2``, eq. (14).

    Parameters
    ----------
    jacobian_vector_product : callable
        ``jacobian_vector_product(eta)`` returns ``J^T eta``, the gradient of
        ``sum_i eta_i f_i(x)`` with respect to ``x``, for ``eta`` of shape (k,).
    k : int
        Number of outputs ``f_i``, >= 1.
    rng : numpy.random.Generator
        Source of the Rademacher signs.
    samples : int, default 1
        Number of independent sign vectors averaged, 1 to ``MAX_ITERATIONS`` = 10**6.

    Returns
    -------
    float
        The mean of ``||J^T eta||^2`` over ``samples`` Rademacher vectors
        ``eta``; its expectation is ``sum_i ||grad f_i||^2 = tr(J J^T)`` and,
        with ``G = J J^T``, its variance is ``2 sum_{i != j} G_ij^2 / samples``.

    Notes
    -----
    Derived in chapter 5, section "One gradient instead of $k$", eq. (14).
    """
    k = _count(k, "k", 1)
    samples = _count(samples, "samples", 1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator")
    if not callable(jacobian_vector_product):
        raise ValueError("jacobian_vector_product must be callable")
    total = 0.0
    for _ in range(samples):
        eta = rng.choice(np.array([-1.0, 1.0]), size=k)
        g = _as_finite(jacobian_vector_product(eta), "jacobian_vector_product(...)", (1,))
        total += float(g @ g)
    return total / samples


# -- the semi-supervised experiment ----------------------------------------------
def softmax(z: ArrayLike) -> FloatArray:
    """Softmax over the last axis (shifted by the maximum for stability).

    Notes
    -----
    Used in chapter 5 for the models ``f(x)``.
    """
    z = _as_finite(z, "z")
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def kl_divergence(p: ArrayLike, q: ArrayLike) -> FloatArray:
    """``KL(p || q) = sum_i p_i log(p_i / q_i)`` over the last axis.

    Parameters
    ----------
    p, q : array_like, same shape
        Probability vectors (non-negative, summing to 1 within 1e-9 on the
        last axis); ``q`` must be positive where ``p`` is.

    Returns
    -------
    ndarray
        The divergences (a 0-d array for single vectors), >= 0.

    Notes
    -----
    The KL loss of chapter 5, section "Computing it bravely: the gradient
    penalty", eq. (13).
    """
    p = _as_finite(p, "p")
    q = _as_finite(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    for name, v in (("p", p), ("q", q)):
        if np.any(v < 0) or np.any(np.abs(v.sum(axis=-1) - 1) > 1e-9):
            raise ValueError(f"{name} must be probability vectors on the last axis")
    if np.any((p > 0) & (q == 0)):
        raise ValueError("q must be positive wherever p is (KL would be infinite)")
    # log p - log q, not log(p / q): the ratio overflows for q near the float64 minimum
    log_ratio = np.log(np.where(p > 0, p, 1.0)) - np.log(np.where(q > 0, q, 1.0))
    terms = np.where(p > 0, p * log_ratio, 0.0)
    return np.maximum(terms.sum(axis=-1), 0.0)


def random_features(x: ArrayLike, weights: ArrayLike, bias: ArrayLike) -> FloatArray:
    """Fixed random tanh features ``phi(x) = tanh(x W^T + b)``.

    Parameters
    ----------
    x : array_like, shape (n, d)
    weights : array_like, shape (m, d)
    bias : array_like, shape (m,)

    Returns
    -------
    ndarray, shape (n, m)

    Notes
    -----
    Feature map of the semi-supervised experiment in chapter 5.
    """
    x = _as_finite(x, "x", (2,))
    weights = _as_finite(weights, "weights", (2,))
    bias = _as_finite(bias, "bias", (1,))
    if weights.shape[1] != x.shape[1] or bias.shape[0] != weights.shape[0]:
        raise ValueError(
            f"shapes do not match: x {x.shape}, weights {weights.shape}, bias {bias.shape}"
        )
    return np.tanh(x @ weights.T + bias)


@dataclass(frozen=True)
class RandomFeatureClassifier:
    """Multinomial logistic regression on fixed random tanh features.

    ``p(y | x) = softmax(phi(x) V^T + c)`` with ``phi`` from :func:`random_features`.
    The arrays are checked on construction (real, finite, shapes ``(m, d)``, ``(m,)``,
    ``(K, m)``, ``(K,)``) and stored as float64 copies.
    """

    weights: FloatArray  # (m, d) fixed random features
    bias: FloatArray  # (m,)
    coef: FloatArray  # (K, m) trained
    intercept: FloatArray  # (K,) trained

    def __post_init__(self) -> None:
        weights = _as_finite(self.weights, "weights", (2,), booleans=False)
        m = weights.shape[0]
        bias = _as_finite(self.bias, "bias", (1,), booleans=False)
        coef = _as_finite(self.coef, "coef", (2,), booleans=False)
        intercept = _as_finite(self.intercept, "intercept", (1,), booleans=False)
        if bias.shape != (m,):
            raise ValueError(f"bias must have shape ({m},) to match weights, got {bias.shape}")
        if coef.shape[1] != m:
            raise ValueError(f"coef must have shape (K, {m}) to match weights, got {coef.shape}")
        if intercept.shape != (coef.shape[0],):
            raise ValueError(
                f"intercept must have shape ({coef.shape[0]},) to match coef, "
                f"got {intercept.shape}"
            )
        for name, value in (("weights", weights), ("bias", bias), ("coef", coef),
                            ("intercept", intercept)):
            object.__setattr__(self, name, value)

    def predict_proba(self, x: ArrayLike) -> FloatArray:
        """Class probabilities, shape (n, K)."""
        phi = random_features(x, self.weights, self.bias)
        return softmax(phi @ self.coef.T + self.intercept)

    def input_gradient_kl(self, x: ArrayLike, target: ArrayLike) -> FloatArray:
        """``nabla_x KL(target || p(.|x))`` per row, shape (n, d)."""
        x = _as_finite(x, "x", (2,))
        phi = random_features(x, self.weights, self.bias)
        p = softmax(phi @ self.coef.T + self.intercept)
        target = _probabilities(target, "target", p.shape)
        dz = p - target  # gradient of KL(target || softmax(z)) in the logits z
        return ((dz @ self.coef) * (1 - phi**2)) @ self.weights


def objective_and_gradients(
    model: RandomFeatureClassifier,
    x_lab: FloatArray,
    y_onehot: FloatArray,
    x_pert: FloatArray | None,
    target: FloatArray | None,
    weight: float,
    l2: float,
) -> tuple[float, FloatArray, FloatArray]:
    """The training objective and its analytic gradients in (coef, intercept).

    Parameters
    ----------
    model : RandomFeatureClassifier
    x_lab : ndarray, shape (n, d)
    y_onehot : ndarray, shape (n, K)
        One-hot labels.
    x_pert : ndarray, shape (m, d), or None
        Perturbed unlabelled inputs ``x + r`` (None: supervised only).
    target : ndarray, shape (m, K), or None
        The fixed targets ``p_ng(x)`` of the smoothness term.
    weight, l2 : float
        Weight of the smoothness term and of the L2 penalty on ``coef``.

    Returns
    -------
    loss : float
        Mean cross-entropy + ``l2/2 ||coef||^2`` + ``weight`` * mean
        ``KL(target || p(x_pert))``.
    g_coef, g_intercept : ndarray
        Its gradients: ``(p - y)^T phi / n`` and the like.

    Notes
    -----
    The experiment of chapter 5, section "A small semi-supervised experiment".
    """
    if not isinstance(model, RandomFeatureClassifier):
        raise TypeError(f"model must be a RandomFeatureClassifier, got {type(model).__name__}")
    x_lab = _as_finite(x_lab, "x_lab", (2,))
    y_onehot = _probabilities(y_onehot, "y_onehot", (x_lab.shape[0], model.coef.shape[0]),
                              booleans=True)
    weight = real(weight, "weight", nonnegative=True)
    l2 = real(l2, "l2", nonnegative=True)
    if (x_pert is None) != (target is None):
        raise ValueError("give both x_pert and target, or neither")
    if x_pert is not None and target is not None:
        x_pert = _as_finite(x_pert, "x_pert", (2,))
        target = _probabilities(target, "target", (x_pert.shape[0], model.coef.shape[0]))
    phi = random_features(x_lab, model.weights, model.bias)
    p = softmax(phi @ model.coef.T + model.intercept)
    n = x_lab.shape[0]
    loss = -float(np.sum(y_onehot * np.log(p))) / n + 0.5 * l2 * float(np.sum(model.coef**2))
    g_coef = (p - y_onehot).T @ phi / n + l2 * model.coef
    g_int = (p - y_onehot).sum(axis=0) / n
    if x_pert is not None and target is not None:
        phi_u = random_features(x_pert, model.weights, model.bias)
        q = softmax(phi_u @ model.coef.T + model.intercept)
        m = x_pert.shape[0]
        loss += weight * float(np.sum(kl_divergence(target, q))) / m
        g_coef = g_coef + weight * (q - target).T @ phi_u / m
        g_int = g_int + weight * (q - target).sum(axis=0) / m
    return loss, g_coef, g_int


def fisher_penalty_and_gradients(
    model: RandomFeatureClassifier, x: ArrayLike
) -> tuple[float, FloatArray, FloatArray]:
    """The gradient penalty (13) for the KL loss, and its gradients in (coef, intercept).

    For the model ``p(x) = softmax(z(x))``, ``z(x) = V phi(x) + c``, the penalty
    is the mean over the rows of ``x`` of ``tr(J^T diag(1/p) J)``, with ``J``
    the Jacobian of ``p`` in ``x``; it equals ``sum_i p_i |grad_x log p_i|^2``
    and ``tr(A^T (diag p - p p^T) A)`` with ``A`` the Jacobian of the logits.
    A perturbation ``r`` of norm ``epsilon`` in a uniformly random direction
    of ``R^d`` gives ``E KL(p(x) || p(x + r)) = epsilon^2 / (2 d)`` times this,
    up to ``O(epsilon^4)``.

    Parameters
    ----------
    model : RandomFeatureClassifier
    x : array_like, shape (m, d)
        Inputs (unlabelled points).

    Returns
    -------
    penalty : float
        The mean of ``tr(A^T (diag p - p p^T) A)`` over the rows of ``x``.
    g_coef, g_intercept : ndarray
        Its gradients in ``coef`` (shape (K, n_features)) and ``intercept``
        (shape (K,)); both the Jacobian and the probabilities depend on them.

    Notes
    -----
    Chapter 5, sections "Computing it bravely: the gradient penalty" (the
    penalty) and "A small semi-supervised experiment" (training with it).
    """
    if not isinstance(model, RandomFeatureClassifier):
        raise TypeError(f"model must be a RandomFeatureClassifier, got {type(model).__name__}")
    x = _as_finite(x, "x", (2,))
    phi = random_features(x, model.weights, model.bias)  # (m, F)
    p = softmax(phi @ model.coef.T + model.intercept)  # (m, K)
    slope = 1 - phi**2  # tanh'(.) per feature
    # A[n] = V diag(slope[n]) W: the logits' Jacobian in x, shape (m, K, d)
    jac = np.einsum("kf,nf,fd->nkd", model.coef, slope, model.weights)
    gram = jac @ jac.transpose(0, 2, 1)  # A A^T, (m, K, K)
    fisher = np.einsum("nk,kl->nkl", p, np.eye(p.shape[1])) - p[:, :, None] * p[:, None, :]
    m = x.shape[0]
    penalty = float(np.einsum("nkl,nlk->", fisher, gram)) / m
    # through A: d tr(F A A^T) / dA = 2 F A, and dA / dV = diag(slope) W per row
    d_jac = 2 * fisher @ jac  # (m, K, d)
    g_coef = np.einsum("nkd,fd,nf->kf", d_jac, model.weights, slope) / m
    # through p: d tr(F G) / dp = diag(G) - 2 G p, then the softmax Jacobian F
    d_p = np.einsum("nkk->nk", gram) - 2 * np.einsum("nkl,nl->nk", gram, p)
    d_logits = np.einsum("nkl,nl->nk", fisher, d_p)
    g_coef = g_coef + d_logits.T @ phi / m
    g_int = d_logits.sum(axis=0) / m
    return penalty, g_coef, g_int


def train_random_feature_classifier(
    x_lab: ArrayLike,
    y_lab: ArrayLike,
    x_unlab: ArrayLike,
    *,
    method: Literal["supervised", "noise", "penalty", "vat"],
    rng: np.random.Generator,
    n_features: int = 100,
    feature_scale: float = 1.0,
    epsilon: float = 0.3,
    xi: float = 1e-3,
    weight: float = 1.0,
    l2: float = 1e-3,
    steps: int = 500,
    learning_rate: float = 0.05,
) -> RandomFeatureClassifier:
    """Train on few labels, optionally with a smoothness loss on unlabelled data.

    The objective is the mean cross-entropy on the labelled points plus
    ``l2/2 ||V||^2`` plus, for ``method="noise"`` or ``"vat"``,
    ``weight * mean KL(p_ng(x) || p(x + r))`` over the unlabelled points, with
    ``r`` a random direction of norm ``epsilon`` (noise, i.e. VAT with zero
    power iterations) or the virtual adversarial direction of
    :func:`vat_perturbation` with one power iteration (vat); ``r`` and the
    target ``p_ng(x)`` are recomputed at every step and held fixed while
    differentiating. For ``method="penalty"`` the smoothness term is instead
    its second-order value, ``weight * epsilon**2 / (2 d)`` times the penalty
    of :func:`fisher_penalty_and_gradients` on the unlabelled points, with no
    target held fixed. Optimised by Adam with full batches (Kingma & Ba 2015:
    ``beta1 = 0.9``, ``beta2 = 0.999``, ``1e-8`` added to the bias-corrected root
    second moment), from zero ``coef`` and ``intercept``. The random features are
    drawn first, ``weights = feature_scale * N(0, 1)`` of shape (n_features, d) and
    then ``bias = U(-pi, pi) * feature_scale / 2``.

    Parameters
    ----------
    x_lab : array_like, shape (n, d)
    y_lab : array_like of int, shape (n,)
        Labels in ``0..K-1``; every class must appear.
    x_unlab : array_like, shape (m, d)
    method : {"supervised", "noise", "penalty", "vat"}
    rng : numpy.random.Generator
        Draws the random features and the perturbations.
    n_features, feature_scale, epsilon, xi, weight, l2, steps, learning_rate
        Hyper-parameters (all positive; ``l2`` and ``weight`` may be 0;
        ``n_features`` and ``steps`` at most ``MAX_ITERATIONS`` = 10**6).

    Returns
    -------
    RandomFeatureClassifier

    Notes
    -----
    The experiment of chapter 5, section "A small semi-supervised experiment".
    """
    x_lab = _as_finite(x_lab, "x_lab", (2,))
    x_unlab = _as_finite(x_unlab, "x_unlab", (2,))
    if x_unlab.shape[1] != x_lab.shape[1]:
        raise ValueError("x_lab and x_unlab must have the same number of columns")
    y = np.asarray(y_lab)
    if y.shape != (x_lab.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        raise ValueError("y_lab must be integer labels, one per row of x_lab")
    if method not in ("supervised", "noise", "penalty", "vat"):
        raise ValueError(
            f"method must be 'supervised', 'noise', 'penalty' or 'vat', got {method!r}"
        )
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator")
    n_classes = int(y.max()) + 1 if y.size else 0
    if y.min() < 0 or n_classes < 2 or len(np.unique(y)) != n_classes:
        raise ValueError("y_lab must use labels 0..K-1 with K >= 2, each at least once")
    m = _count(n_features, "n_features", 1)
    steps = _count(steps, "steps", 1)
    feature_scale = _positive(feature_scale, "feature_scale")
    epsilon = _positive(epsilon, "epsilon")
    xi = _positive(xi, "xi")
    learning_rate = _positive(learning_rate, "learning_rate")
    weight = real(weight, "weight", nonnegative=True)
    l2 = real(l2, "l2", nonnegative=True)
    d = x_lab.shape[1]
    model = RandomFeatureClassifier(
        weights=feature_scale * rng.standard_normal((m, d)),
        bias=rng.uniform(-np.pi, np.pi, m) * feature_scale / 2,
        coef=np.zeros((n_classes, m)),
        intercept=np.zeros(n_classes),
    )
    y_onehot = np.eye(n_classes)[y]
    params = [model.coef.copy(), model.intercept.copy()]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    b1, b2 = 0.9, 0.999
    for t in range(1, steps + 1):
        model = RandomFeatureClassifier(model.weights, model.bias, params[0], params[1])
        x_pert = target = None
        if method in ("noise", "vat"):
            target = model.predict_proba(x_unlab)
            iters = 1 if method == "vat" else 0
            r = vat_perturbation(
                lambda z: model.input_gradient_kl(z, target), x_unlab, epsilon, xi, iters, rng
            )
            x_pert = x_unlab + r
        _, g_coef, g_int = objective_and_gradients(
            model, x_lab, y_onehot, x_pert, target, weight, l2
        )
        if method == "penalty":
            _, p_coef, p_int = fisher_penalty_and_gradients(model, x_unlab)
            scale = weight * epsilon**2 / (2 * d)
            g_coef, g_int = g_coef + scale * p_coef, g_int + scale * p_int
        for i, g in enumerate((g_coef, g_int)):
            first[i] = b1 * first[i] + (1 - b1) * g
            second[i] = b2 * second[i] + (1 - b2) * g**2
            step = first[i] / (1 - b1**t) / (np.sqrt(second[i] / (1 - b2**t)) + 1e-8)
            params[i] = params[i] - learning_rate * step
    return RandomFeatureClassifier(model.weights, model.bias, params[0], params[1])
