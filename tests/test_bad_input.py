"""Every public function of ``lib`` against every class of bad input (issue 29).

One row per public function or method: a valid call, and the kind of each argument.
Each kind has its classes of bad input (NaN, +-inf, empty, an extra dimension, complex,
string, object, ``None``, booleans, non-integers, negative and zero sizes, huge loop
counts, data scaled by 1e+-300, ...). Every call with one argument replaced must

* raise ``ValueError`` or ``TypeError`` whose message names that argument, or
* for the classes a row lists as accepted (documented behaviour, e.g. booleans read
  as 0 and 1, or data at any scale), return a result with no NaN in it (and, for
  booleans, the same result as for the 0/1 floats).

A loop count of ``10**12`` must be refused or finish within a few seconds. A new
public function without a row fails ``test_every_public_function_has_a_row``.

Cases ``lib`` does not handle yet are listed in ``bad_input_known_gaps.txt`` and
marked as strict expected failures: the list can only shrink (a listed case that
starts passing fails the suite until it is removed from the list).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp

from _references import tanh_correlation_slope
from lib import adversarial_validation as AV
from lib import angles as AN
from lib import attention as AT
from lib import checks as CK
from lib import gaussian as GA
from lib import hsic as HS
from lib import initialization as IN
from lib import regularization as RG
from lib import taylor as TA

MODULES = [AV, AN, AT, CK, GA, HS, IN, RG, TA]

#: Public classes that are plain result records, built by ``lib`` itself and
#: holding no logic to validate (their producers have rows).
RECORDS = {
    "lib.attention.LowRankFit",
    "lib.attention.TalkingHeadsFit",
    "lib.attention.LayerCost",
    "lib.checks.Claim",
    "lib.checks.ChainStep",
    "lib.checks.LedgerTable",
    "lib.hsic.HsicTestResult",
}


def _rng() -> np.random.Generator:
    return np.random.default_rng(29)


_r = np.random.default_rng(2929)
X2 = _r.normal(size=(12, 2))
STOCH = np.full((4, 4), 0.25) + np.diag([0.2, -0.05, 0.1, 0.0])
STOCH /= STOCH.sum(axis=1, keepdims=True)
COV = np.array([[2.0, 0.3], [0.3, 1.0]])
MODEL = RG.RandomFeatureClassifier(
    weights=_r.normal(size=(5, 2)), bias=_r.normal(size=5),
    coef=_r.normal(size=(3, 5)), intercept=np.zeros(3),
)


def _ledger_chain(stepped: bool = False) -> CK.Chain:
    x = sp.Symbol("x")
    chain = CK.Ledger("t").chain("c", sp.Symbol("y"), (x + 1) ** 2)
    if stepped:
        chain.step("expand", to=x**2 + 2 * x + 1)
    return chain


@dataclass
class Row:
    """A valid call of ``fn`` with keyword arguments, and each argument's kind."""

    fn: Callable[..., Any]
    valid: dict[str, Any]
    kinds: dict[str, str]
    #: classes of bad input the function documents as accepted, per argument
    ok: dict[str, set[str]] = field(default_factory=dict)
    #: arguments for which None is a documented value (optional arguments)
    optional: set[str] = field(default_factory=set)
    #: data arguments of a ledger check: bad data there must fail the claim
    #: (AssertionError naming it), which is what a check is for
    claim_data: set[str] = field(default_factory=set)
    #: arguments where an infinite result is documented (a bound that is +inf at 0)
    infinite: set[str] = field(default_factory=set)


def R(fn, valid, kinds, ok=None, optional=(), claim_data=(), infinite=()):  # noqa: N802
    return Row(fn, valid, kinds, ok or {}, set(optional), set(claim_data), set(infinite))


ARR_SCALE = {"huge", "tiny"}
ROWS: dict[str, Row] = {
    # -- adversarial_validation ------------------------------------------------------
    "lib.adversarial_validation.effective_sample_size": R(
        AV.effective_sample_size, {"w": [1.0, 2.0, 3.0]}, {"w": "arr"},
        ok={"w": ARR_SCALE | {"bool"}}),
    "lib.adversarial_validation.fit_discriminator": R(
        AV.fit_discriminator,
        {"X_train": X2, "X_test": X2 + 1.0, "random_state": 0, "n_splits": 2},
        {"X_train": "arr", "X_test": "arr", "n_splits": "count"},
        ok={"X_train": ARR_SCALE | {"bool"}, "X_test": ARR_SCALE | {"bool"}}),
    "lib.adversarial_validation.fit_logistic": R(
        AV.fit_logistic, {"X": X2, "y": np.arange(12) % 2, "random_state": 0},
        {"X": "arr", "y": "arr"}, ok={"X": ARR_SCALE | {"bool"}, "y": {"bool"}}),
    "lib.adversarial_validation.importance_weights": R(
        AV.importance_weights, {"d": [0.2, 0.5, 0.7], "prior_test": 0.5},
        {"d": "arr", "prior_test": "real"}, ok={"d": {"tiny"}}),
    "lib.adversarial_validation.pareto_smooth_weights": R(
        AV.pareto_smooth_weights, {"w": _r.uniform(0.5, 2.0, 60)}, {"w": "arr"},
        ok={"w": ARR_SCALE | {"bool"}}),
    "lib.adversarial_validation.resample_validation": R(
        AV.resample_validation, {"weights": [0.2, 0.3, 0.5], "size": 5, "rng": _rng()},
        {"weights": "arr", "size": "count", "rng": "rng"},
        ok={"weights": ARR_SCALE | {"bool"}}),
    "lib.adversarial_validation.truncate_weights": R(
        AV.truncate_weights, {"w": [1.0, 2.0, 3.0]}, {"w": "arr"},
        ok={"w": ARR_SCALE | {"bool"}}),
    "lib.adversarial_validation.weighted_mean": R(
        AV.weighted_mean, {"values": [1.0, 2.0, 3.0], "weights": [1.0, 1.0, 2.0]},
        {"values": "arr", "weights": "arr"},
        ok={"values": ARR_SCALE | {"bool"}, "weights": ARR_SCALE | {"bool"}}),
    # -- angles ---------------------------------------------------------------------
    "lib.angles.angle_between": R(
        AN.angle_between, {"x": [1.0, 0.0, 0.0], "y": [1.0, 1.0, 0.0]},
        {"x": "arr", "y": "arr"},
        ok={"x": ARR_SCALE | {"extra_dim", "bool"}, "y": ARR_SCALE | {"extra_dim", "bool"}}),
    "lib.angles.angle_cdf": R(AN.angle_cdf, {"theta": [0.5, 1.0], "n": 5},
                              {"theta": "arr", "n": "int"},
                              ok={"theta": {"tiny", "extra_dim", "empty"}}),
    "lib.angles.angle_moments": R(AN.angle_moments, {"n": 5, "exact": False},
                                  {"n": "int", "exact": "flag"}),
    "lib.angles.angle_pdf": R(AN.angle_pdf, {"theta": [0.5, 1.0], "n": 5},
                              {"theta": "arr", "n": "int"},
                              ok={"theta": {"tiny", "extra_dim", "empty"}}),
    "lib.angles.angle_ppf": R(AN.angle_ppf, {"q": [0.1, 0.5], "n": 5},
                              {"q": "arr", "n": "int"},
                              ok={"q": {"tiny", "extra_dim", "empty"}}),
    "lib.angles.angle_tail": R(AN.angle_tail, {"delta": [0.1, 0.3], "n": 5},
                               {"delta": "arr", "n": "int"},
                               ok={"delta": {"tiny", "extra_dim", "empty"}}),
    "lib.angles.normalisation_constant": R(AN.normalisation_constant, {"n": 5},
                                           {"n": "int"}),
    "lib.angles.sample_angles": R(
        AN.sample_angles, {"n": 5, "size": 10, "rng": _rng(), "method": "vectors"},
        {"n": "int", "size": "count", "rng": "rng", "method": "choice"}),
    "lib.angles.sharp_tail_bound": R(AN.sharp_tail_bound, {"delta": [0.1, 0.3], "n": 5},
                                     {"delta": "arr", "n": "int"},
                                     ok={"delta": {"tiny", "extra_dim", "empty"}}),
    "lib.angles.tail_bounds": R(AN.tail_bounds, {"delta": [0.1, 0.3], "n": 5},
                                {"delta": "arr", "n": "int"},
                                ok={"delta": {"tiny", "extra_dim", "empty"}},
                                infinite={"delta"}),
    # -- attention ------------------------------------------------------------------
    "lib.attention.attention": R(
        AT.attention, {"q": X2[:3], "k": X2[:4], "v": X2[4:8]},
        {"q": "arr", "k": "arr", "v": "arr", "mask": "arr", "scale": "real"},
        ok={"q": ARR_SCALE | {"extra_dim", "bool"}, "k": ARR_SCALE | {"bool"},
            "v": ARR_SCALE | {"extra_dim", "bool"}},
        optional={"mask", "scale"}),
    "lib.attention.bottleneck_count": R(
        AT.bottleneck_count, {"n": 8, "d_model": 16, "heads": 4},
        {"n": "int", "d_model": "int", "heads": "int"}),
    "lib.attention.centered_log": R(AT.centered_log, {"p": STOCH}, {"p": "arr"},
                                    ok={"p": {"extra_dim"}}),
    "lib.attention.centered_log_rank": R(AT.centered_log_rank, {"p": STOCH, "rtol": 1e-10},
                                         {"p": "arr", "rtol": "real"}),
    "lib.attention.fit_low_rank_attention": R(
        AT.fit_low_rank_attention,
        {"target": STOCH, "key_size": 2, "rng": _rng(), "restarts": 1, "init": "svd",
         "max_iter": 30},
        {"target": "arr", "key_size": "int", "rng": "rng", "restarts": "count",
         "init": "choice", "max_iter": "count"}),
    "lib.attention.fit_talking_heads": R(
        AT.fit_talking_heads,
        {"targets": np.stack([STOCH, STOCH.T / STOCH.T.sum(1, keepdims=True)]),
         "key_size": 1, "rng": _rng(), "pre_softmax": True, "post_softmax": False,
         "restarts": 1, "max_iter": 20},
        {"targets": "arr", "key_size": "int", "rng": "rng", "pre_softmax": "flag",
         "post_softmax": "flag", "restarts": "count", "max_iter": "count"}),
    "lib.attention.key_size_cost": R(
        AT.key_size_cost, {"d_model": 16, "heads": 4, "key_size": 4, "n": 8, "d_ff": 32,
                           "talking_heads": False},
        {"d_model": "int", "heads": "int", "key_size": "int", "n": "int", "d_ff": "int",
         "talking_heads": "flag"}, optional={"d_ff"}),
    "lib.attention.log_softmax": R(AT.log_softmax, {"x": X2[:3], "axis": -1},
                                   {"x": "arr", "axis": "axis"},
                                   ok={"x": {"tiny", "extra_dim", "bool"}}),
    "lib.attention.low_rank_attention_loss": R(
        AT.low_rank_attention_loss, {"q": X2[:4], "k": X2[4:8], "target": STOCH},
        {"q": "arr", "k": "arr", "target": "arr"},
        ok={"q": {"tiny", "bool"}, "k": {"tiny", "bool"}}),
    "lib.attention.multi_head_attention": R(
        AT.multi_head_attention,
        {"x": _r.normal(size=(4, 6)), "wq": _r.normal(size=(2, 6, 3)),
         "wk": _r.normal(size=(2, 6, 3)), "wv": _r.normal(size=(2, 6, 3)),
         "wo": _r.normal(size=(6, 6))},
        {"x": "arr", "wq": "arr", "wk": "arr", "wv": "arr", "wo": "arr"},
        ok={k: {"tiny", "bool"} for k in ("x", "wq", "wk", "wv", "wo")},
        optional={"wo"}),
    "lib.attention.row_softmax_mix": R(AT.row_softmax_mix, {"m": COV}, {"m": "arr"},
                                       ok={"m": {"tiny", "bool"}}),
    "lib.attention.softmax": R(AT.softmax, {"x": X2[:3], "axis": -1},
                               {"x": "arr", "axis": "axis"},
                               ok={"x": ARR_SCALE | {"extra_dim", "bool"}}),
    "lib.attention.talking_heads_attention": R(
        AT.talking_heads_attention,
        {"x": _r.normal(size=(4, 6)), "wq": _r.normal(size=(2, 6, 3)),
         "wk": _r.normal(size=(2, 6, 3)), "wv": _r.normal(size=(2, 6, 3)), "wo": None,
         "pre_softmax_mix": COV, "post_softmax_mix": COV},
        {"x": "arr", "wq": "arr", "wk": "arr", "wv": "arr", "wo": "arr",
         "pre_softmax_mix": "arr", "post_softmax_mix": "arr"},
        ok={k: {"tiny", "bool"} for k in ("x", "wq", "wk", "wv", "wo", "pre_softmax_mix",
                                         "post_softmax_mix")},
        optional={"wo", "pre_softmax_mix", "post_softmax_mix"}),
    "lib.attention.talking_heads_loss": R(
        AT.talking_heads_loss,
        {"params": _r.normal(size=AT.talking_heads_parameter_count(
            2, 4, 4, 1, pre_softmax=True, post_softmax=False)),
         "targets": np.stack([STOCH, STOCH]), "key_size": 1, "pre_softmax": True,
         "post_softmax": False},
        {"params": "arr", "targets": "arr", "key_size": "int", "pre_softmax": "flag",
         "post_softmax": "flag"}, ok={"params": {"tiny", "bool"}}),
    "lib.attention.talking_heads_parameter_count": R(
        AT.talking_heads_parameter_count,
        {"h": 2, "n": 4, "m": 4, "key_size": 1, "pre_softmax": True, "post_softmax": True},
        {"h": "int", "n": "int", "m": "int", "key_size": "int", "pre_softmax": "flag",
         "post_softmax": "flag"}),
    # -- checks ---------------------------------------------------------------------
    "lib.checks.central_difference_gradient": R(
        CK.central_difference_gradient,
        {"f": lambda v: float(np.sum(v**2)), "x": np.array([1.0, 2.0]), "step": 1e-4},
        {"f": "func", "x": "arr", "step": "real"}, ok={"x": {"bool", "extra_dim"}}),
    "lib.checks.format_error": R(CK.format_error, {"error": 1e-3}, {"error": "real"},
                                 optional={"error"}),
    "lib.checks.Ledger": R(CK.Ledger, {"chapter": "t"}, {"chapter": "text"}),
    "lib.checks.Ledger.chain": R(
        lambda **kw: CK.Ledger("t").chain(**kw),
        {"name": "c", "lhs": sp.Symbol("y"), "start": sp.Symbol("x") + 1},
        {"name": "text", "lhs": "expr", "start": "expr", "justification": "text"}),
    "lib.checks.Ledger.symbolic": R(
        lambda **kw: CK.Ledger("t").symbolic(**kw),
        {"claim_id": "a", "what": "w", "lhs": sp.Symbol("x") * 2,
         "rhs": sp.Symbol("x") + sp.Symbol("x"), "derived_by": "expand"},
        {"claim_id": "text", "what": "text", "lhs": "expr", "rhs": "expr",
         "derived_by": "text", "by_construction": "flag"}, optional={"derived_by"}),
    "lib.checks.Ledger.close": R(
        lambda **kw: CK.Ledger("t").close(**kw),
        {"claim_id": "a", "what": "w", "value": [1.0, 2.0], "expected": [1.0, 2.0],
         "rtol": 1e-12, "atol": 0.0, "reference": "exact", "same_code_path": False},
        {"claim_id": "text", "what": "text", "value": "arr", "expected": "arr",
         "rtol": "real", "atol": "real", "reference": "text", "same_code_path": "flag",
         "reason": "text"},
        ok={"value": {"bool"}, "expected": {"bool"}},
        optional={"reason"}, claim_data={"value", "expected"}),
    "lib.checks.Ledger.monte_carlo": R(
        lambda **kw: CK.Ledger("t").monte_carlo(**kw),
        {"claim_id": "a", "what": "w", "estimate": 1.0, "expected": 1.0,
         "standard_error": 0.1},
        {"claim_id": "text", "what": "text", "estimate": "real", "expected": "real",
         "standard_error": "real", "k": "real", "reason": "text", "method": "text"},
        optional={"k", "reason"}, claim_data={"estimate", "expected"}),
    "lib.checks.Ledger.ks_test": R(
        lambda **kw: CK.Ledger("t").ks_test(**kw),
        {"claim_id": "a", "what": "w", "samples": _r.uniform(size=200),
         "cdf": lambda t: np.clip(t, 0.0, 1.0)},
        {"claim_id": "text", "what": "text", "samples": "arr", "cdf": "func",
         "alpha": "real", "reason": "text", "method": "text"},
        optional={"alpha", "reason"}, claim_data={"samples"}),
    "lib.checks.Ledger.gradient": R(
        lambda **kw: CK.Ledger("t").gradient(**kw),
        {"claim_id": "a", "what": "w", "f": lambda v: float(np.sum(v**2)),
         "x": np.array([1.0, 2.0]), "gradient": np.array([2.0, 4.0]), "step": 1e-4},
        {"claim_id": "text", "what": "text", "f": "func", "x": "arr",
         "gradient": "arr", "step": "real"}, claim_data={"gradient", "x"},
        ok={"x": {"extra_dim"}, "gradient": {"extra_dim"}}),
    "lib.checks.Ledger.holds": R(
        lambda **kw: CK.Ledger("t").holds(**kw),
        {"claim_id": "a", "what": "w", "condition": [True, True], "method": "m",
         "margin": 0.5, "random": 0},
        {"claim_id": "text", "what": "text", "method": "text", "margin": "real",
         "random": "int0"}, optional={"margin"}),
    "lib.checks.Ledger.table": R(lambda: CK.Ledger("t").table(), {}, {}),
    "lib.checks.Ledger.summary": R(lambda: CK.Ledger("t").summary(), {}, {}),
    "lib.checks.Ledger.evidence_counts": R(lambda: CK.Ledger("t").evidence_counts(), {},
                                           {}),
    "lib.checks.Ledger.chain_step_counts": R(
        lambda: CK.Ledger("t").chain_step_counts(), {}, {}),
    "lib.checks.Chain": R(None, {}, {}),  # built by Ledger.chain, which has its row
    "lib.checks.Chain.step": R(
        lambda **kw: _ledger_chain().step(**kw),
        {"justification": "expand", "to": sp.Symbol("x") ** 2 + 2 * sp.Symbol("x") + 1},
        {"justification": "text", "to": "expr", "relation": "text"},
        optional={"to"}),
    "lib.checks.Chain.conclude": R(
        lambda **kw: _ledger_chain(stepped=True).conclude(**kw),
        {"claim_id": "a", "what": "w"},
        {"claim_id": "text", "what": "text", "equals": "expr"}, optional={"equals"}),
    "lib.checks.Chain.latex": R(lambda: _ledger_chain().latex(), {}, {}),
    "lib.checks.Chain.counts": R(lambda: _ledger_chain().counts(), {}, {}),
    "lib.checks.Chain.glue": R(None, {}, {}),  # calls myst_nb.glue: covered by the book
    # -- gaussian -------------------------------------------------------------------
    **{
        f"lib.gaussian.{name}": R(
            getattr(GA, name),
            {"mu_p": [0.0, 1.0], "cov_p": COV, "mu_q": [1.0, 0.0], "cov_q": np.eye(2)},
            {"mu_p": "arr", "cov_p": "arr", "mu_q": "arr", "cov_q": "arr"},
            ok={"mu_p": {"extra_dim", "bool"}, "mu_q": {"extra_dim", "bool"},
                "cov_p": {"extra_dim"}, "cov_q": {"extra_dim"}})
        for name in ("bhattacharyya_distance", "hellinger_squared", "kl_divergence",
                     "wasserstein2", "wasserstein2_squared")
    },
    "lib.gaussian.renyi_divergence": R(
        GA.renyi_divergence,
        {"mu_p": [0.0, 1.0], "cov_p": COV, "mu_q": [1.0, 0.0], "cov_q": np.eye(2),
         "alpha": 0.5},
        {"mu_p": "arr", "cov_p": "arr", "mu_q": "arr", "cov_q": "arr", "alpha": "real"},
        ok={"mu_p": {"extra_dim", "bool"}, "mu_q": {"extra_dim", "bool"},
            "cov_p": {"extra_dim"}, "cov_q": {"extra_dim"}}),
    "lib.gaussian.entropy": R(GA.entropy, {"cov": COV}, {"cov": "arr"},
                              ok={"cov": {"extra_dim"}}),
    "lib.gaussian.sqrtm_psd": R(GA.sqrtm_psd, {"a": COV}, {"a": "arr"},
                                ok={"a": ARR_SCALE | {"extra_dim"}}),
    "lib.gaussian.transport_map": R(GA.transport_map, {"cov_p": COV, "cov_q": np.eye(2)},
                                    {"cov_p": "arr", "cov_q": "arr"},
                                    ok={"cov_p": {"extra_dim"}, "cov_q": {"extra_dim"}}),
    # -- hsic -----------------------------------------------------------------------
    "lib.hsic.distance_kernel": R(HS.distance_kernel, {"x": X2}, {"x": "arr"},
                                  ok={"x": ARR_SCALE | {"bool"}}),
    "lib.hsic.gaussian_kernel": R(HS.gaussian_kernel, {"x": X2, "bandwidth": 1.0},
                                  {"x": "arr", "bandwidth": "real"},
                                  ok={"x": {"tiny", "bool"}}),
    "lib.hsic.linear_kernel": R(HS.linear_kernel, {"x": X2}, {"x": "arr"},
                                ok={"x": {"tiny", "bool"}}),
    "lib.hsic.hsic": R(
        HS.hsic, {"x": X2[:, 0], "y": X2[:, 1], "kernel": "gaussian", "bandwidth_x": 1.0,
                  "bandwidth_y": 1.0, "estimator": "biased", "normalize": False},
        {"x": "arr", "y": "arr", "kernel": "choice", "bandwidth_x": "real",
         "bandwidth_y": "real", "estimator": "choice", "normalize": "flag"},
        ok={"x": {"tiny", "bool"}, "y": {"tiny", "bool"}},
        optional={"bandwidth_x", "bandwidth_y"}),
    "lib.hsic.hsic_exact": R(HS.hsic_exact, {"K": [[1, 0], [0, 1]], "L": [[1, 0], [0, 1]],
                                             "estimator": "biased"},
                             {"K": "arr", "L": "arr", "estimator": "choice"}),
    "lib.hsic.hsic_gram": R(
        HS.hsic_gram, {"K": HS.gaussian_kernel(X2[:, 0], 1.0),
                       "L": HS.gaussian_kernel(X2[:, 1], 1.0), "estimator": "biased",
                       "normalize": False},
        {"K": "arr", "L": "arr", "estimator": "choice", "normalize": "flag"},
        ok={"K": {"tiny"}, "L": {"tiny"}}),
    "lib.hsic.hsic_linear_time": R(
        HS.hsic_linear_time, {"x": X2[:, 0], "y": X2[:, 1], "block_size": 4, "rng": _rng()},
        {"x": "arr", "y": "arr", "block_size": "count", "bandwidth_x": "real",
         "bandwidth_y": "real", "rng": "rng"},
        ok={"x": ARR_SCALE | {"bool"}, "y": ARR_SCALE | {"bool"}},
        optional={"bandwidth_x", "bandwidth_y", "rng"}),
    "lib.hsic.hsic_test": R(
        HS.hsic_test, {"x": X2[:, 0], "y": X2[:, 1], "method": "permutation",
                       "num_permutations": 20, "rng": _rng()},
        {"x": "arr", "y": "arr", "method": "choice", "num_permutations": "count",
         "rng": "rng"},
        ok={"x": ARR_SCALE | {"bool"}, "y": ARR_SCALE | {"bool"}}),
    "lib.hsic.median_bandwidth": R(
        HS.median_bandwidth, {"x": X2, "max_points": 10, "rng": _rng()},
        {"x": "arr", "max_points": "int", "rng": "rng"},
        ok={"x": ARR_SCALE | {"bool"}}, optional={"rng"}),
    # -- initialization -------------------------------------------------------------
    "lib.initialization.entry_expectation": R(
        IN.entry_expectation,
        {"expr": sp.Symbol("a") ** 2, "entries": [sp.Symbol("a")], "variance": 1,
         "kurtosis": 3},
        {"expr": "expr", "entries": "other", "variance": "expr", "kurtosis": "expr"}),
    "lib.initialization.forward_norm_ratios": R(
        IN.forward_norm_ratios,
        {"x": [1.0, 2.0, 3.0], "depth": 2, "scheme": "he_fan_in", "activation": "relu",
         "rng": _rng(), "dist": "normal", "trials": 2, "orthogonal": False},
        {"x": "arr", "depth": "count", "scheme": "choice", "activation": "choice",
         "rng": "rng", "dist": "choice", "trials": "count", "orthogonal": "flag"},
        ok={"x": ARR_SCALE | {"bool"}}),
    "lib.initialization.gram_mse": R(
        IN.gram_mse, {"shape": (3, 4), "variance": 0.5, "dist": "normal"},
        {"shape": "shape", "variance": "real", "dist": "choice"}),
    "lib.initialization.gram_spectrum": R(IN.gram_spectrum, {"W": X2[:3]}, {"W": "arr"},
                                          ok={"W": ARR_SCALE | {"bool", "extra_dim"}}),
    "lib.initialization.init_variance": R(IN.init_variance,
                                          {"shape": (3, 4), "scheme": "he_fan_in"},
                                          {"shape": "shape", "scheme": "choice"}),
    "lib.initialization.log_gain_moments": R(
        IN.log_gain_moments, {"width": 4, "variance": 0.5, "activation": "linear"},
        {"width": "int", "variance": "real", "activation": "choice"}),
    "lib.initialization.marchenko_pastur_cdf": R(
        IN.marchenko_pastur_cdf, {"x": [0.5, 1.0], "ratio": 0.5, "scale": 1.0},
        {"x": "arr", "ratio": "real", "scale": "real"},
        ok={"x": ARR_SCALE | {"extra_dim", "empty", "bool"}}),
    "lib.initialization.marchenko_pastur_pdf": R(
        IN.marchenko_pastur_pdf, {"x": [0.5, 1.0], "ratio": 0.5, "scale": 1.0},
        {"x": "arr", "ratio": "real", "scale": "real"},
        ok={"x": ARR_SCALE | {"extra_dim", "empty", "bool"}}),
    "lib.initialization.marchenko_pastur_support": R(
        IN.marchenko_pastur_support, {"ratio": 0.5, "scale": 1.0},
        {"ratio": "real", "scale": "real"}),
    "lib.initialization.mean_field_correlation_map": R(
        IN.mean_field_correlation_map, {"c": [0.5], "activation": "tanh", "q": 1.0,
                                        "gain": 1.0},
        {"c": "arr", "activation": "choice", "q": "real", "gain": "real"},
        ok={"c": {"tiny", "extra_dim", "empty", "bool"}}),
    "lib.initialization.mean_field_length_map": R(
        IN.mean_field_length_map, {"q": [1.0], "activation": "tanh", "gain": 1.0},
        {"q": "arr", "activation": "choice", "gain": "real"},
        ok={"q": ARR_SCALE | {"extra_dim", "empty", "bool"}}),
    "lib.initialization.norm_ratio_moments": R(
        IN.norm_ratio_moments, {"shape": (3, 4), "variance": 0.5, "dist": "normal",
                                "activation": "linear"},
        {"shape": "shape", "variance": "real", "dist": "choice", "x": "arr",
         "activation": "choice"}, optional={"x"}),
    "lib.initialization.sample_orthogonal": R(
        IN.sample_orthogonal, {"shape": (3, 3), "rng": _rng(), "gain": 1.0},
        {"shape": "shape", "rng": "rng", "gain": "real"}),
    "lib.initialization.sample_weights": R(
        IN.sample_weights, {"shape": (3, 4), "scheme": "he_fan_in", "rng": _rng(),
                            "dist": "normal"},
        {"shape": "shape", "scheme": "choice", "rng": "rng", "dist": "choice"}),
    "lib.initialization.variance_with_standard_error": R(
        IN.variance_with_standard_error, {"sample": [1.0, 2.0, 4.0, 7.0]},
        {"sample": "arr"}, ok={"sample": ARR_SCALE | {"bool"}}),
    # -- regularization -------------------------------------------------------------
    "lib.regularization.RandomFeatureClassifier.predict_proba": R(
        MODEL.predict_proba, {"x": X2[:4]}, {"x": "arr"}, ok={"x": {"tiny", "bool"}}),
    "lib.regularization.RandomFeatureClassifier.input_gradient_kl": R(
        MODEL.input_gradient_kl, {"x": X2[:4], "target": np.full((4, 3), 1 / 3)},
        {"x": "arr", "target": "arr"}, ok={"x": {"tiny", "bool"}}),
    "lib.regularization.RandomFeatureClassifier": R(
        RG.RandomFeatureClassifier,
        {"weights": MODEL.weights, "bias": MODEL.bias, "coef": MODEL.coef,
         "intercept": MODEL.intercept},
        {"weights": "arr", "bias": "arr", "coef": "arr", "intercept": "arr"},
        ok={k: {"tiny", "bool"} for k in ("weights", "bias", "coef", "intercept")}),
    "lib.regularization.hvp_finite_difference": R(
        RG.hvp_finite_difference,
        {"grad": lambda v: 2.0 * v, "x": np.array([1.0, 2.0]), "u": np.array([0.6, 0.8]),
         "xi": 1e-3, "stationary": False},
        {"grad": "func", "x": "arr", "u": "arr", "xi": "real", "stationary": "flag"},
        ok={"x": {"extra_dim", "bool", "tiny"}, "u": {"extra_dim", "bool", "tiny"}}),
    "lib.regularization.kl_divergence": R(
        RG.kl_divergence, {"p": [[0.2, 0.8]], "q": [[0.5, 0.5]]}, {"p": "arr", "q": "arr"},
        ok={"p": {"extra_dim", "bool"}, "q": {"extra_dim"}}),
    "lib.regularization.objective_and_gradients": R(
        RG.objective_and_gradients,
        {"model": MODEL, "x_lab": X2[:4], "y_onehot": np.eye(3)[[0, 1, 2, 0]],
         "x_pert": X2[4:8], "target": np.full((4, 3), 1 / 3), "weight": 1.0, "l2": 1e-3},
        {"model": "other", "x_lab": "arr", "y_onehot": "arr", "x_pert": "arr",
         "target": "arr", "weight": "real", "l2": "real"},
        ok={"x_lab": {"tiny", "bool"}, "x_pert": {"tiny", "bool"},
            "y_onehot": {"bool"}},
        optional={"x_pert", "target"}),
    "lib.regularization.power_iteration": R(
        RG.power_iteration, {"matvec": lambda v: COV @ v, "u0": [1.0, 0.0], "iters": 10},
        {"matvec": "func", "u0": "arr", "iters": "count0"},
        ok={"u0": ARR_SCALE | {"bool"}}),
    "lib.regularization.rademacher_gradient_penalty": R(
        RG.rademacher_gradient_penalty,
        {"jacobian_vector_product": lambda eta: np.array([eta.sum(), -eta[0]]), "k": 2,
         "rng": _rng(), "samples": 3},
        {"jacobian_vector_product": "func", "k": "int", "rng": "rng", "samples": "count"}),
    "lib.regularization.fisher_penalty_and_gradients": R(
        RG.fisher_penalty_and_gradients, {"model": MODEL, "x": X2[:4]},
        {"model": "other", "x": "arr"}, ok={"x": {"tiny", "bool"}}),
    "lib.regularization.random_features": R(
        RG.random_features, {"x": X2[:4], "weights": MODEL.weights, "bias": MODEL.bias},
        {"x": "arr", "weights": "arr", "bias": "arr"},
        ok={"x": {"tiny", "bool"}, "weights": {"tiny", "bool"}, "bias": ARR_SCALE | {"bool"}}),
    "lib.regularization.softmax": R(RG.softmax, {"z": X2[:3]}, {"z": "arr"},
                                    ok={"z": ARR_SCALE | {"extra_dim", "bool"}}),
    "lib.regularization.train_random_feature_classifier": R(
        RG.train_random_feature_classifier,
        {"x_lab": X2[:6], "y_lab": np.array([0, 1, 0, 1, 0, 1]), "x_unlab": X2[6:],
         "method": "vat", "rng": _rng(), "n_features": 8, "feature_scale": 1.0,
         "epsilon": 0.3, "xi": 1e-3, "weight": 1.0, "l2": 1e-3, "steps": 5,
         "learning_rate": 0.05},
        {"x_lab": "arr", "y_lab": "arr", "x_unlab": "arr", "method": "choice",
         "rng": "rng", "n_features": "count", "feature_scale": "real", "epsilon": "real",
         "xi": "real", "weight": "real", "l2": "real", "steps": "count",
         "learning_rate": "real"},
        ok={"x_lab": {"tiny", "bool"}, "x_unlab": {"tiny", "bool"}, "y_lab": {"bool"}}),
    "lib.regularization.vat_perturbation": R(
        RG.vat_perturbation,
        {"grad": lambda v: 2.0 * (v - 1.0), "x": np.array([[1.0, 2.0]]), "epsilon": 0.3,
         "xi": 1e-3, "iters": 2, "rng": _rng()},
        {"grad": "func", "x": "arr", "epsilon": "real", "xi": "real", "iters": "count0",
         "rng": "rng"},
        ok={"x": {"extra_dim", "bool", "tiny"}}),
    # -- taylor ---------------------------------------------------------------------
    "lib.taylor.taylor_exp": R(TA.taylor_exp, {"x": [-3.0, 0.5], "n": 4},
                               {"x": "arr", "n": "count0"},
                               ok={"x": {"tiny", "extra_dim", "empty"}}),
    "lib.taylor.monotone_taylor_exp": R(TA.monotone_taylor_exp, {"x": [-3.0, 0.5], "n": 4},
                                        {"x": "arr", "n": "order"},
                                        ok={"x": {"tiny", "extra_dim", "empty"}}),
    "lib.taylor.taylor_minimum": R(TA.taylor_minimum, {"n": 4}, {"n": "order"}),
    "lib.taylor.taylor_softmax": R(
        TA.taylor_softmax, {"x": X2[:3], "n": 4, "axis": -1, "monotone": False},
        {"x": "arr", "n": "order", "axis": "axis", "monotone": "flag"},
        ok={"x": ARR_SCALE | {"extra_dim"}}),
    "lib.taylor.taylor_cross_entropy": R(
        TA.taylor_cross_entropy,
        {"logits": X2[:4], "labels": np.array([0, 1, 1, 0]), "n": 4, "monotone": False},
        {"logits": "arr", "labels": "arr", "n": "order", "monotone": "flag"},
        ok={"logits": ARR_SCALE}, optional={"n"}),
    "lib.taylor.fit_linear_classifier": R(
        TA.fit_linear_classifier,
        {"features": X2, "labels": np.arange(12) % 3, "n": 2, "monotone": False,
         "l2": 1e-3, "max_iter": 20},
        {"features": "arr", "labels": "arr", "n": "order", "monotone": "flag",
         "l2": "real", "max_iter": "count"},
        ok={"features": {"tiny"}}, optional={"n"}),
    "lib.taylor.expected_calibration_error": R(
        TA.expected_calibration_error,
        {"probs": np.full((4, 2), 0.5), "labels": np.array([0, 1, 1, 0]), "bins": 5},
        {"probs": "arr", "labels": "arr", "bins": "count"}, ok={"probs": {"tiny"}}),
}


class _Object:
    pass


def _bad_values(kind: str, valid: Any) -> dict[str, Any]:
    """The classes of bad input for one argument of the given kind."""
    if kind == "arr":
        arr = np.asarray(valid)
        numeric = np.asarray(valid, dtype=float)
        out = {
            "nan": np.where(np.ones_like(numeric, dtype=bool), np.nan, numeric),
            "inf": np.full_like(numeric, np.inf),
            "neg_inf": np.full_like(numeric, -np.inf),
            "empty": numeric.reshape(-1)[:0] if numeric.ndim == 0 else numeric[..., :0],
            "extra_dim": numeric[None],
            "complex": numeric + 1j,
            "string": numeric.astype(str),
            "object": np.array([_Object()] * max(arr.size, 1), dtype=object),
            "none": None,
            # alternating True/False: booleans read as 0/1 must give non-constant data
            "bool": (np.arange(numeric.size) * 2 % 3 == 0).reshape(numeric.shape),
            "huge": numeric * 1e300,
            "tiny": numeric * 1e-300,
        }
        return out
    if kind in ("int", "count", "count0", "int0", "order"):
        out = {"float": 2.5, "integral_float": 2.0, "bool": True, "string": "2",
               "none": None, "negative": -1, "complex": 2 + 0j}
        if kind not in ("count0", "int0"):
            out["zero"] = 0
        if kind in ("count", "count0", "order"):
            out["huge_count"] = 10**12
        return out
    if kind == "real":
        return {"nan": float("nan"), "inf": float("inf"), "complex": 1j, "string": "1",
                "none": None, "bool": True, "array": np.array([1.0, 2.0])}
    if kind == "flag":
        return {"string": "yes", "int": 1, "none": None}
    if kind == "choice":
        return {"unknown": "no-such-choice", "none": None, "int": 3}
    if kind == "rng":
        return {"seed": 0, "none": None, "legacy": np.random.RandomState(0)}
    if kind == "func":
        return {"none": None, "int": 1}
    if kind == "axis":
        return {"float": 0.5, "string": "0", "bool": True, "none": None, "out_of_range": 5}
    if kind == "shape":
        return {"float": (2.5, 3), "bool": (True, 2), "negative": (-1, 2), "string": "ab",
                "none": None, "zero": (0, 3)}
    if kind == "text":
        return {"int": 3, "none": None}
    if kind == "expr":
        return {"none": None, "object": _Object()}
    if kind == "other":
        return {"none": None, "object": _Object()}
    raise AssertionError(kind)


class _Timeout(Exception):
    pass


def _call_with_timeout(fn: Callable[[], Any], seconds: float) -> Any:
    def handler(signum, frame):  # noqa: ARG001
        raise _Timeout

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _floats(result: Any) -> list[np.ndarray]:
    """Every float in a result (arrays, tuples, dataclasses, numbers)."""
    if result is None or isinstance(result, (str, bool, sp.Basic)):
        return []
    if dataclasses.is_dataclass(result):
        return [f for v in vars(result).values() for f in _floats(v)]
    if isinstance(result, (tuple, list)):
        return [f for v in result for f in _floats(v)]
    if isinstance(result, dict):
        return [f for v in result.values() for f in _floats(v)]
    arr = np.asarray(result)
    if arr.dtype.kind in "fc":
        return [arr]
    return []


KNOWN_GAPS = frozenset(
    line.strip()
    for line in (Path(__file__).parent / "bad_input_known_gaps.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def _cases() -> list[Any]:
    cases = []
    for key, row in ROWS.items():
        for arg, kind in row.kinds.items():
            if row.fn is None or (kind == "arr" and arg not in row.valid):
                continue  # an optional array argument without a valid value
            for cls in _bad_values(kind, row.valid.get(arg)):
                if cls == "none" and arg in row.optional:
                    continue
                case_id = f"{key.removeprefix('lib.')}:{arg}:{cls}"
                marks = (
                    [pytest.mark.xfail(strict=True, reason="known gap (issue 29)")]
                    if case_id in KNOWN_GAPS else []
                )
                cases.append(pytest.param(key, arg, cls, id=case_id, marks=marks))
    return cases


def test_known_gaps_are_real_cases() -> None:
    ids = {case.id for case in CASES}
    assert sorted(KNOWN_GAPS - ids) == []


CASES = _cases()


def test_every_public_function_has_a_row() -> None:
    public = set()
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            key = f"{module.__name__}.{name}"
            if inspect.isclass(obj):
                if key in RECORDS:
                    continue
                public.add(key)
                for meth, value in vars(obj).items():
                    # (a method's mutants, under `make mutation`, are no public API)
                    if callable(value) and not meth.startswith("_") and "__mutmut_" not in meth:
                        public.add(f"{key}.{meth}")
            elif callable(obj):
                public.add(key)
    assert sorted(public - set(ROWS)) == []
    assert sorted(set(ROWS) - public) == []


def _fresh(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments with every generator replaced by a new one, seeded alike: each
    call sees the same random numbers whatever ran before it (and on any worker)."""
    return {k: np.random.default_rng(29) if isinstance(v, np.random.Generator) else v
            for k, v in kwargs.items()}


def test_every_valid_call_succeeds() -> None:
    for key, row in ROWS.items():
        if row.fn is None:
            continue
        result = row.fn(**_fresh(row.valid))
        for arr in _floats(result):
            assert not np.any(np.isnan(arr)), key


# -- the right value at 1e+-300 ------------------------------------------------------
# Where a row accepts data scaled by 1e300 or 1e-300 and returns, the result must be the
# right one, not merely finite: either by a scaling law (f(s x) = s**k f(x), with f(x)
# at unit scale checked against references in the module's own tests) or against a
# 40-digit mpmath evaluation of the definition.
SCALE = {"huge": 1e300, "tiny": 1e-300}


def _law(*degrees: float) -> Callable[..., list[np.ndarray]]:
    """Each float output scales as s**k (one degree per output, in _floats order)."""

    def expected(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
        with np.errstate(over="ignore", under="ignore"):
            return [np.asarray(b) * np.float64(s) ** k for b, k in
                    zip(_floats(base), degrees, strict=True)]

    return expected


def _mp_softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax of float logits at 40 digits (any exponent range)."""
    with mpmath.workdps(40):
        rows = []
        for row in np.atleast_2d(logits):
            e = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
            total = mpmath.fsum(e)
            rows.append([float(v / total) for v in e])
    return np.array(rows).reshape(np.shape(logits))


def _mp_taylor(x: float, n: int) -> mpmath.mpf:
    z = mpmath.mpf(float(x))
    return mpmath.fsum(z**k / mpmath.factorial(k) for k in range(n + 1))


def _softmax_reference(arg: str) -> Callable[..., list[np.ndarray]]:
    def expected(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
        return [_mp_softmax(np.asarray(kwargs[arg], dtype=float))]

    return expected


def _attention_reference(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
    q, k, v = (np.asarray(kwargs[a], dtype=float) for a in ("q", "k", "v"))
    with mpmath.workdps(40):
        scale = 1 / mpmath.sqrt(q.shape[-1])
        logits = [[scale * mpmath.fsum(mpmath.mpf(a) * mpmath.mpf(b) for a, b in zip(qi, kj))
                   for kj in k] for qi in q]
        weights = []
        for row in logits:
            top = max(row)
            e = [mpmath.exp(value - top) for value in row]
            weights.append([value / mpmath.fsum(e) for value in e])
        out = [[float(mpmath.fsum(w * mpmath.mpf(vj[c]) for w, vj in zip(wi, v)))
                for c in range(v.shape[1])] for wi in weights]
        return [np.array(out), np.array([[float(w) for w in wi] for wi in weights])]


def _taylor_softmax_reference(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
    x, n = np.asarray(kwargs["x"], dtype=float), kwargs["n"]
    with mpmath.workdps(40):
        rows = []
        for row in x:
            f = [_mp_taylor(v, n) for v in row]
            rows.append([float(value / mpmath.fsum(f)) for value in f])
    return [np.array(rows)]


def _taylor_cross_entropy_reference(base: Any, kwargs: dict[str, Any], s: float
                                    ) -> list[np.ndarray]:
    # loss mean_i -log(f_n(z_iy) / S_i); d/dz_ik = (f_{n-1}(z_ik) / S_i
    # - [k = y] f_{n-1}(z_iy) / f_n(z_iy)) / m, since f_n' = f_{n-1}
    z, labels, n = np.asarray(kwargs["logits"], dtype=float), kwargs["labels"], kwargs["n"]
    with mpmath.workdps(40):
        losses, grad = [], np.zeros_like(z)
        for i, (row, y) in enumerate(zip(z, labels)):
            f = [_mp_taylor(v, n) for v in row]
            df = [_mp_taylor(v, n - 1) for v in row]
            total = mpmath.fsum(f)
            losses.append(-mpmath.log(f[y] / total))
            for c in range(len(row)):
                g = df[c] / total - (df[y] / f[y] if c == y else 0)
                grad[i, c] = float(g / len(z))
        return [np.array(float(mpmath.fsum(losses) / len(z))), grad]


def _random_features_reference(base: Any, kwargs: dict[str, Any], s: float
                               ) -> list[np.ndarray]:
    x, w, b = (np.asarray(kwargs[a], dtype=float) for a in ("x", "weights", "bias"))
    with mpmath.workdps(40):
        return [np.array([[float(mpmath.tanh(mpmath.fsum(mpmath.mpf(p) * mpmath.mpf(q)
                                                        for p, q in zip(xi, wj)) + bj))
                           for wj, bj in zip(w, b)] for xi in x])]


def _constant(*values: Any) -> Callable[..., list[np.ndarray]]:
    def expected(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
        return [np.asarray(v(s) if callable(v) else v, dtype=float) for v in values]

    return expected


def _mp_log_softmax(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
    x = np.asarray(kwargs["x"], dtype=float)
    with mpmath.workdps(40):
        rows = []
        for row in x:
            total = mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in row)
            rows.append([float(mpmath.mpf(float(v)) - mpmath.log(total)) for v in row])
    return [np.array(rows)]


def _angle_ppf_tail(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
    # P_n(theta) = c_n theta**(n-1) / (n-1) (1 + O(theta**2)), theta ~ 1e-76 here
    q, n = np.asarray(kwargs["q"], dtype=float), kwargs["n"]
    with mpmath.workdps(40):
        c_n = mpmath.gamma(mpmath.mpf(n) / 2) / (
            mpmath.gamma(mpmath.mpf(n - 1) / 2) * mpmath.sqrt(mpmath.pi)
        )
        return [np.array([float(((n - 1) * mpmath.mpf(float(p)) / c_n) ** (mpmath.mpf(1) / (n - 1)))
                          for p in q])]


def _importance_weights_reference(base: Any, kwargs: dict[str, Any], s: float
                                  ) -> list[np.ndarray]:
    d, prior = np.asarray(kwargs["d"], dtype=float), kwargs["prior_test"]
    with mpmath.workdps(40):
        return [np.array([float(mpmath.mpf(float(v)) / (1 - mpmath.mpf(float(v)))
                                * (1 - mpmath.mpf(prior)) / mpmath.mpf(prior)) for v in d])]


def _tanh_correlation_reference(base: Any, kwargs: dict[str, Any], s: float
                                ) -> list[np.ndarray]:
    # slope at 0 (q = gain = 1); the cubic term is 1e-600 relative here
    return [tanh_correlation_slope() * np.asarray(kwargs["c"], dtype=float)]


def _gaussian_gram(x: np.ndarray, s: float) -> np.ndarray:
    """exp(-(x_i - x_j)**2) for distinct data scaled by s = 1e+-300: the exponent is
    1e+-600 times a number of order one, so the kernel is exactly 1 (tiny) or, off the
    diagonal, exactly 0 (huge)."""
    n = len(np.asarray(x))
    return np.eye(n) if s > 1 else np.ones((n, n))


def _hsic_fixed_bandwidth(arg: str) -> Callable[..., list[np.ndarray]]:
    """Biased HSIC tr(K H L H) / n**2 when one argument is scaled (bandwidths 1)."""

    def expected(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
        if s < 1:  # a constant kernel: H K H = 0, so HSIC is O(1e-600), 0 in float64
            return [np.array(0.0)]
        other = "y" if arg == "x" else "x"
        scaled = _gaussian_gram(kwargs[arg], s)
        v = np.asarray(kwargs[other], dtype=float)
        unscaled = np.exp(-((v[:, None] - v[None, :]) ** 2))
        n = len(v)
        centring = np.eye(n) - 1 / n
        return [np.array(np.trace(scaled @ centring @ unscaled @ centring) / n**2)]

    return expected


def _shape_of(arg: str, value: float) -> Callable[..., list[np.ndarray]]:
    """A constant result with the shape of the argument (the true value rounds to it)."""

    def expected(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
        return [np.full(np.shape(kwargs[arg]), value)]

    return expected


#: (row, argument) -> the right value of an accepted 1e+-300 call
# -- whole-model references at 40 digits: numpy object arrays of mpmath numbers ------------
_to_mp = np.vectorize(lambda v: mpmath.mpf(float(v)), otypes=[object])
_to_float = np.vectorize(float, otypes=[float])
_mp_exp = np.vectorize(mpmath.exp, otypes=[object])
_mp_log = np.vectorize(mpmath.log, otypes=[object])
_mp_tanh = np.vectorize(mpmath.tanh, otypes=[object])
_mp_sqrt = np.vectorize(mpmath.sqrt, otypes=[object])


def _mp_args(kwargs: dict[str, Any], *names: str) -> list[np.ndarray]:
    return [_to_mp(np.asarray(kwargs[name], dtype=float)) for name in names]


def _mp_row_softmax(logits: np.ndarray) -> np.ndarray:
    e = _mp_exp(logits - np.max(logits, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _low_rank_loss_reference(base: Any, kwargs: dict[str, Any], s: float
                             ) -> list[np.ndarray]:
    # L = -sum t log softmax(q k^T) / n; G = (softmax * rowsum(t) - t) / n; G k, G^T q
    with mpmath.workdps(40):
        q, k, t = _mp_args(kwargs, "q", "k", "target")
        p = _mp_row_softmax(q @ k.T)
        n = q.shape[0]
        loss = -np.sum(t * _mp_log(p)) / n
        g = (p * np.sum(t, axis=1)[:, None] - t) / n
        return [np.array(float(loss)), _to_float(g @ k), _to_float(g.T @ q)]


def _heads_reference(kwargs: dict[str, Any], pre: bool, post: bool) -> list[np.ndarray]:
    """Multi-head (eq. 2) or talking-heads attention, output then weights."""
    x, wq, wk, wv = _mp_args(kwargs, "x", "wq", "wk", "wv")
    root = mpmath.sqrt(wq.shape[2])
    logits = np.stack([(x @ wq[i]) @ (x @ wk[i]).T / root for i in range(wq.shape[0])])
    if pre:
        lam = _mp_args(kwargs, "pre_softmax_mix")[0]
        logits = np.stack([sum(lam[i, j] * logits[j] for j in range(lam.shape[1]))
                           for i in range(lam.shape[0])])
    weights = np.stack([_mp_row_softmax(head) for head in logits])
    if post:
        mu = _mp_args(kwargs, "post_softmax_mix")[0]
        weights = np.stack([sum(mu[i, j] * weights[j] for j in range(mu.shape[1]))
                            for i in range(mu.shape[0])])
    out = np.hstack([weights[i] @ (x @ wv[i]) for i in range(wv.shape[0])])
    if kwargs.get("wo") is not None:
        out = out @ _mp_args(kwargs, "wo")[0]
    return [_to_float(out), _to_float(weights)]


def _mha_reference(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
    with mpmath.workdps(40):
        return _heads_reference(kwargs, pre=False, post=False)


def _talking_heads_reference(base: Any, kwargs: dict[str, Any], s: float
                             ) -> list[np.ndarray]:
    with mpmath.workdps(40):
        return _heads_reference(kwargs, pre=kwargs.get("pre_softmax_mix") is not None,
                                post=kwargs.get("post_softmax_mix") is not None)


def _rfc_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phi = tanh(x W^T + b) and p = softmax(phi V^T + c) of the test MODEL, in mpmath."""
    w, b, v, c = (_to_mp(getattr(MODEL, name)) for name in
                  ("weights", "bias", "coef", "intercept"))
    phi = _mp_tanh(x @ w.T + b)
    return phi, _mp_row_softmax(phi @ v.T + c)


def _predict_proba_reference(base: Any, kwargs: dict[str, Any], s: float
                             ) -> list[np.ndarray]:
    with mpmath.workdps(40):
        return [_to_float(_rfc_forward(_mp_args(kwargs, "x")[0])[1])]


def _input_gradient_kl_reference(base: Any, kwargs: dict[str, Any], s: float
                                 ) -> list[np.ndarray]:
    # grad_x KL(target || p(x)) = ((p - target) V o (1 - phi^2)) W
    with mpmath.workdps(40):
        x, target = _mp_args(kwargs, "x", "target")
        phi, p = _rfc_forward(x)
        v, w = _to_mp(MODEL.coef), _to_mp(MODEL.weights)
        return [_to_float((((p - target) @ v) * (1 - phi**2)) @ w)]


def _objective_reference(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
    # mean CE + l2/2 |V|^2 + weight mean KL(target || p(x_pert)), and its gradients
    with mpmath.workdps(40):
        x, y, xp, target = _mp_args(kwargs, "x_lab", "y_onehot", "x_pert", "target")
        weight, l2 = mpmath.mpf(kwargs["weight"]), mpmath.mpf(kwargs["l2"])
        v = _to_mp(MODEL.coef)
        phi, p = _rfc_forward(x)
        phi_u, q = _rfc_forward(xp)
        n, m = x.shape[0], xp.shape[0]
        kl = np.sum(target * (_mp_log(target) - _mp_log(q)))
        loss = -np.sum(y * _mp_log(p)) / n + l2 / 2 * np.sum(v * v) + weight * kl / m
        g_coef = (p - y).T @ phi / n + l2 * v + weight * (q - target).T @ phi_u / m
        g_int = np.sum(p - y, axis=0) / n + weight * np.sum(q - target, axis=0) / m
        return [np.array(float(loss)), _to_float(g_coef), _to_float(g_int)]


def _mp_central_difference(fun: Callable[[np.ndarray], Any], a: np.ndarray,
                           h: str = "1e-12") -> np.ndarray:
    """d fun / d a entry by entry, by central differences in the current mpmath precision."""
    step = mpmath.mpf(h)
    grad = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(*a.shape):
        up, down = a.copy(), a.copy()
        up[idx] += step
        down[idx] -= step
        grad[idx] = (fun(up) - fun(down)) / (2 * step)
    return grad


def _fisher_reference(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
    # penalty = mean over rows of tr(F A A^T), F = diag p - p p^T, A = V diag(1 - phi^2) W;
    # its gradients in (V, c) by central differences at 40 digits (h = 1e-12: the
    # truncation error is about 1e-24 relative)
    with mpmath.workdps(40):
        x = _mp_args(kwargs, "x")[0]
        w, b = _to_mp(MODEL.weights), _to_mp(MODEL.bias)

        def penalty(v: np.ndarray, c: np.ndarray) -> mpmath.mpf:
            phi = _mp_tanh(x @ w.T + b)
            p = _mp_row_softmax(phi @ v.T + c)
            total = mpmath.mpf(0)
            for row in range(x.shape[0]):
                a = (v * (1 - phi[row] ** 2)) @ w
                f = np.diag(p[row]) - np.outer(p[row], p[row])
                total += np.trace(f @ a @ a.T)
            return total / x.shape[0]

        v0, c0 = _to_mp(MODEL.coef), _to_mp(MODEL.intercept)
        g_v = _mp_central_difference(lambda v: penalty(v, c0), v0)
        g_c = _mp_central_difference(lambda c: penalty(v0, c), c0)
        return [np.array(float(penalty(v0, c0))), _to_float(g_v), _to_float(g_c)]


def _mp_unit_rows(a: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Rows of a made unit; a zero row takes keep's row (as the power step does)."""
    norm = _mp_sqrt(np.sum(a * a, axis=-1, keepdims=True))
    if keep is None:
        return a / norm
    return np.where(norm > 0, a / np.where(norm > 0, norm, 1), keep)


def _vat_reference(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
    # u0 is the generator's first normal draw (a fresh generator seeded alike), made a
    # unit row; each power step u <- unit(grad(x + xi u)); the result is epsilon u. The
    # caller's gradient runs on 40-digit numbers (the row's is 2 (v - 1)).
    draw = _fresh(kwargs)["rng"]
    with mpmath.workdps(40):
        x = _mp_args(kwargs, "x")[0]
        xi, epsilon = mpmath.mpf(kwargs["xi"]), mpmath.mpf(kwargs["epsilon"])
        u = _mp_unit_rows(_to_mp(draw.standard_normal(x.shape)))
        for _ in range(kwargs["iters"]):
            u = _mp_unit_rows(kwargs["grad"](x + xi * u), keep=u)
        return [_to_float(epsilon * u)]


def _train_reference(base: Any, kwargs: dict[str, Any], s: float) -> list[np.ndarray]:
    # The documented training (random features, then Adam on coef and intercept, VAT or
    # noise perturbations of the unlabelled points) replayed at 40 digits with the same
    # draws, but with one float64 rounding on purpose: the pre-activations x W^T + b.
    # With x ~ 1e-300 beside b ~ 1 that rounding loses x entirely, as any float64
    # evaluation must; without it the exact run moves coef by ~1e-294, because Adam
    # divides a gradient of ~1e-300 by its own root mean square plus 1e-8.
    draw = _fresh(kwargs)["rng"]
    method = kwargs["method"]
    assert method in ("supervised", "noise", "vat"), method
    with mpmath.workdps(40):
        x_lab, x_unlab = _mp_args(kwargs, "x_lab", "x_unlab")
        y = np.asarray(kwargs["y_lab"])
        k, n, n_unlab, d = int(y.max()) + 1, len(y), x_unlab.shape[0], x_lab.shape[1]
        onehot = _to_mp(np.eye(k)[y])
        scale = kwargs["feature_scale"]
        weights = scale * draw.standard_normal((kwargs["n_features"], d))
        bias = draw.uniform(-np.pi, np.pi, kwargs["n_features"]) * scale / 2
        w, b = _to_mp(weights), _to_mp(bias)
        epsilon, xi = mpmath.mpf(kwargs["epsilon"]), mpmath.mpf(kwargs["xi"])
        weight, l2 = mpmath.mpf(kwargs["weight"]), mpmath.mpf(kwargs["l2"])
        rate = mpmath.mpf(kwargs["learning_rate"])

        def forward(x: np.ndarray, v: np.ndarray, c: np.ndarray) -> tuple[Any, Any]:
            phi = _mp_tanh(_to_mp(_to_float(x @ w.T + b)))
            return phi, _mp_row_softmax(phi @ v.T + c)

        params = [_to_mp(np.zeros((k, len(bias)))), _to_mp(np.zeros(k))]
        first = [p * 0 for p in params]
        second = [p * 0 for p in params]
        for t in range(1, kwargs["steps"] + 1):
            v, c = params
            phi, p = forward(x_lab, v, c)
            g_coef = (p - onehot).T @ phi / n + l2 * v
            g_int = np.sum(p - onehot, axis=0) / n
            if method != "supervised":
                target = forward(x_unlab, v, c)[1]

                def grad_kl(z: np.ndarray) -> np.ndarray:
                    phi_z, q_z = forward(z, v, c)
                    return (((q_z - target) @ v) * (1 - phi_z**2)) @ w

                u = _mp_unit_rows(_to_mp(draw.standard_normal(x_unlab.shape)))
                if method == "vat":
                    u = _mp_unit_rows(grad_kl(x_unlab + xi * u), keep=u)
                phi_u, q = forward(x_unlab + epsilon * u, v, c)
                g_coef = g_coef + weight * (q - target).T @ phi_u / n_unlab
                g_int = g_int + weight * np.sum(q - target, axis=0) / n_unlab
            for i, g in enumerate((g_coef, g_int)):
                first[i] = mpmath.mpf("0.9") * first[i] + mpmath.mpf("0.1") * g
                second[i] = mpmath.mpf("0.999") * second[i] + mpmath.mpf("0.001") * g**2
                m_hat = first[i] / (1 - mpmath.mpf("0.9") ** t)
                root = _mp_sqrt(second[i] / (1 - mpmath.mpf("0.999") ** t))
                params[i] = params[i] - rate * m_hat / (root + mpmath.mpf("1e-8"))
        return [weights, bias, _to_float(params[0]), _to_float(params[1])]


def _fit_at_start_reference(base: Any, kwargs: dict[str, Any], s: float
                            ) -> list[np.ndarray]:
    # L-BFGS-B returns its start W = 0, b = 0 when no gradient component there exceeds
    # its tolerance (1e-9, scipy's pgtol). At the start every logit is 0 and
    # f_n(0) = f_n'(0) = 1 for every order (and for exp), so d(mean loss) / d z_ik =
    # (1/K - [y_i = k]) / m; the gradient is X^T G in W and the column sums of G in b.
    # With features ~1e-300 and balanced labels these are ~1e-300 and 0, checked here at
    # 40 digits; the exact minimiser's weights, ~1e-300, are below that tolerance.
    with mpmath.workdps(40):
        x = _mp_args(kwargs, "features")[0]
        y = np.asarray(kwargs["labels"])
        k = max(int(y.max()) + 1, 2)
        g = (_to_mp(np.full((len(y), k), 1 / k)) - _to_mp(np.eye(k)[y])) / len(y)
        gradient = np.concatenate([(x.T @ g).ravel(), np.sum(g, axis=0)])
        assert max(abs(v) for v in gradient) <= mpmath.mpf("1e-9")
    return [np.zeros((x.shape[1], k)), np.zeros(k)]

def _talking_heads_loss_reference(base: Any, kwargs: dict[str, Any], s: float
                                  ) -> list[np.ndarray]:
    # the test row's model (pre-softmax mix only), its loss and gradient at 40 digits:
    # J_i = sum_j lambda_ij Q_j K_j^T, loss = mean_i -sum t_i log softmax(J_i) / n
    with mpmath.workdps(40):
        theta, t = _mp_args(kwargs, "params", "targets")
        h, n, m = t.shape
        d = kwargs["key_size"]
        q = theta[: h * n * d].reshape(h, n, d)
        k = theta[h * n * d: h * (n + m) * d].reshape(h, m, d)
        lam = theta[h * (n + m) * d:].reshape(h, h)
        jhat = np.stack([q[j] @ k[j].T for j in range(h)])
        j_mix = np.stack([sum(lam[i, j] * jhat[j] for j in range(h)) for i in range(h)])
        p = np.stack([_mp_row_softmax(j_mix[i]) for i in range(h)])
        loss = sum(-np.sum(t[i] * _mp_log(p[i])) / n for i in range(h)) / h
        g_j = np.stack([(p[i] * np.sum(t[i], axis=1)[:, None] - t[i]) / (n * h)
                        for i in range(h)])
        g_jhat = np.stack([sum(lam[i, j] * g_j[i] for i in range(h)) for j in range(h)])
        g_lam = np.array([[np.sum(g_j[i] * jhat[j]) for j in range(h)] for i in range(h)])
        g_q = np.stack([g_jhat[j] @ k[j] for j in range(h)])
        g_k = np.stack([g_jhat[j].T @ q[j] for j in range(h)])
        grad = np.concatenate([g_q.ravel(), g_k.ravel(), g_lam.ravel()])
        return [np.array(float(loss)), _to_float(grad)]


SCALE_REFERENCES: dict[tuple[str, str], Callable[..., list[np.ndarray]]] = {
    ("lib.adversarial_validation.effective_sample_size", "w"): _law(0),
    ("lib.adversarial_validation.pareto_smooth_weights", "w"): _law(1, 0),
    ("lib.adversarial_validation.truncate_weights", "w"): _law(1),
    ("lib.adversarial_validation.weighted_mean", "values"): _law(1, 1),
    ("lib.adversarial_validation.weighted_mean", "weights"): _law(0, 0),
    ("lib.angles.angle_between", "x"): _law(0),
    ("lib.angles.angle_between", "y"): _law(0),
    ("lib.attention.attention", "q"): _attention_reference,
    ("lib.attention.attention", "k"): _attention_reference,
    ("lib.attention.attention", "v"): _law(1, 0),
    ("lib.attention.softmax", "x"): _softmax_reference("x"),
    ("lib.gaussian.sqrtm_psd", "a"): _law(0.5),
    ("lib.hsic.distance_kernel", "x"): _law(1),
    ("lib.hsic.hsic_linear_time", "x"): _law(0, 0),
    ("lib.hsic.hsic_linear_time", "y"): _law(0, 0),
    ("lib.hsic.hsic_test", "x"): _law(0, 0, 0),
    ("lib.hsic.hsic_test", "y"): _law(0, 0, 0),
    ("lib.hsic.median_bandwidth", "x"): _law(1),
    ("lib.initialization.forward_norm_ratios", "x"): _law(0),
    ("lib.initialization.gram_spectrum", "W"): _law(2),
    # x = [0.5, 1] * s with ratio 1/2: support [0.086, 2.91], so both points lie beyond
    # it (cdf 1, density 0) or below it (cdf 0, density 0)
    ("lib.initialization.marchenko_pastur_cdf", "x"): _constant(lambda s: [float(s > 1)] * 2),
    ("lib.initialization.marchenko_pastur_pdf", "x"): _constant([0.0, 0.0]),
    # tanh: E tanh(sqrt(q) z)**2 = q - 2 q**2 + ..., so gain * q to 1e-300 relative
    ("lib.initialization.mean_field_length_map", "q"): _constant(lambda s: [s]),
    ("lib.initialization.variance_with_standard_error", "sample"): _law(2, 2),
    ("lib.regularization.power_iteration", "u0"): _law(0, 0),
    ("lib.regularization.random_features", "x"): _random_features_reference,
    ("lib.regularization.random_features", "weights"): _random_features_reference,
    ("lib.regularization.random_features", "bias"): _random_features_reference,
    ("lib.regularization.softmax", "z"): _softmax_reference("z"),
    ("lib.taylor.taylor_softmax", "x"): _taylor_softmax_reference,
    ("lib.taylor.taylor_cross_entropy", "logits"): _taylor_cross_entropy_reference,
    ("lib.adversarial_validation.importance_weights", "d"): _importance_weights_reference,
    # theta ~ 1e-300, n = 5: the density ~ theta**3 and the cdf ~ theta**4 are below the
    # float64 range; the tail is 1 - O(delta), the Chernoff bound 2 exp(-O(delta**2))
    # and the Chebyshev bound 1 / (n sin(delta)**2) ~ 1e599, beyond it (+inf)
    ("lib.angles.angle_cdf", "theta"): _shape_of("theta", 0.0),
    ("lib.angles.angle_pdf", "theta"): _shape_of("theta", 0.0),
    ("lib.angles.angle_ppf", "q"): _angle_ppf_tail,
    ("lib.angles.angle_tail", "delta"): _shape_of("delta", 1.0),
    ("lib.angles.tail_bounds", "delta"): lambda base, kwargs, s: [
        np.full(2, np.inf), np.full(2, 2.0)],
    ("lib.attention.log_softmax", "x"): _mp_log_softmax,
    ("lib.attention.row_softmax_mix", "m"): _softmax_reference("m"),
    ("lib.attention.multi_head_attention", "wv"): _law(1, 0),
    ("lib.attention.multi_head_attention", "wo"): _law(1, 0),
    ("lib.attention.talking_heads_attention", "wv"): _law(1, 0),
    ("lib.attention.talking_heads_attention", "post_softmax_mix"): _law(1, 1),
    # a fixed bandwidth of 1: the kernel of data ~1e-300 is 1 - O(1e-600), HSIC O(1e-600)
    # distinct points: off the diagonal the kernel is exp(-1e600 O(1)) = 0 or
    # exp(-1e-600 O(1)) = 1
    ("lib.hsic.gaussian_kernel", "x"): lambda base, kwargs, s: [
        np.eye(12) if s > 1 else np.ones((12, 12))],
    ("lib.hsic.hsic", "x"): _hsic_fixed_bandwidth("x"),
    ("lib.hsic.hsic", "y"): _hsic_fixed_bandwidth("y"),
    ("lib.hsic.hsic_gram", "K"): _law(1),
    ("lib.hsic.hsic_gram", "L"): _law(1),
    ("lib.hsic.linear_kernel", "x"): _law(2),
    ("lib.initialization.mean_field_correlation_map", "c"): _tanh_correlation_reference,
    ("lib.taylor.taylor_exp", "x"): _shape_of("x", 1.0),
    ("lib.taylor.monotone_taylor_exp", "x"): _shape_of("x", 1.0),
    # every confidence ~5e-301 falls in the first bin, whose accuracy is 1/2 (probs of
    # 5e299 are refused: probabilities above 1)
    ("lib.taylor.expected_calibration_error", "probs"): _constant(0.5),
    # whole models at 40 digits
    ("lib.attention.low_rank_attention_loss", "q"): _low_rank_loss_reference,
    ("lib.attention.low_rank_attention_loss", "k"): _low_rank_loss_reference,
    ("lib.attention.multi_head_attention", "x"): _mha_reference,
    ("lib.attention.multi_head_attention", "wq"): _mha_reference,
    ("lib.attention.multi_head_attention", "wk"): _mha_reference,
    ("lib.attention.talking_heads_attention", "x"): _talking_heads_reference,
    ("lib.attention.talking_heads_attention", "wq"): _talking_heads_reference,
    ("lib.attention.talking_heads_attention", "wk"): _talking_heads_reference,
    ("lib.attention.talking_heads_attention", "pre_softmax_mix"): _talking_heads_reference,
    ("lib.regularization.RandomFeatureClassifier", "weights"): _law(1, 0, 0, 0),
    ("lib.regularization.RandomFeatureClassifier", "bias"): _law(0, 1, 0, 0),
    ("lib.regularization.RandomFeatureClassifier", "coef"): _law(0, 0, 1, 0),
    ("lib.regularization.RandomFeatureClassifier", "intercept"): _law(0, 0, 0, 1),
    ("lib.regularization.RandomFeatureClassifier.predict_proba", "x"):
        _predict_proba_reference,
    ("lib.regularization.RandomFeatureClassifier.input_gradient_kl", "x"):
        _input_gradient_kl_reference,
    ("lib.regularization.objective_and_gradients", "x_lab"): _objective_reference,
    ("lib.regularization.objective_and_gradients", "x_pert"): _objective_reference,
    # the test row's gradient is 2v, whose Hessian product is 2u whatever x is
    ("lib.regularization.hvp_finite_difference", "x"): _law(0),
    ("lib.regularization.hvp_finite_difference", "u"): _law(1),
    ("lib.regularization.fisher_penalty_and_gradients", "x"): _fisher_reference,
    ("lib.attention.talking_heads_loss", "params"): _talking_heads_loss_reference,
    ("lib.regularization.vat_perturbation", "x"): _vat_reference,
    ("lib.regularization.train_random_feature_classifier", "x_lab"): _train_reference,
    ("lib.regularization.train_random_feature_classifier", "x_unlab"): _train_reference,
    ("lib.taylor.fit_linear_classifier", "features"): _fit_at_start_reference,
}

#: Rows that accept 1e+-300 data where no reference is practical, and why
SCALE_UNCHECKED = {
    ("lib.adversarial_validation.fit_discriminator", "X_train"):
        "an L2-penalised fit is not scale-equivariant: its right value at 1e300 is "
        "another optimisation's result (checked finite and NaN-free only)",
    ("lib.adversarial_validation.fit_discriminator", "X_test"):
        "as for X_train",
    ("lib.adversarial_validation.fit_logistic", "X"): "refuses both scales (singular fit)",
    ("lib.adversarial_validation.resample_validation", "weights"):
        "returns indices, compared exactly with the unit-scale draw below",
    ("lib.angles.sharp_tail_bound", "delta"): "a bound, not a value: checked finite only",
    ("lib.attention.talking_heads_attention", "wo"):
        "refused: the row's wo is None, so its scaled copy is 0-d",
}


def test_every_accepted_scale_has_a_reference() -> None:
    accepted = {(key, arg) for key, row in ROWS.items() for arg, classes in row.ok.items()
                if classes & ARR_SCALE}
    assert accepted == set(SCALE_REFERENCES) | set(SCALE_UNCHECKED)
    assert not set(SCALE_REFERENCES) & set(SCALE_UNCHECKED)


def _check_scale_reference(key: str, arg: str, cls: str, kwargs: dict[str, Any],
                           result: Any) -> None:
    row = ROWS[key]
    base = row.fn(**_fresh(row.valid))
    if (key, arg) == ("lib.adversarial_validation.resample_validation", "weights"):
        np.testing.assert_array_equal(result, base)
        return
    reference = SCALE_REFERENCES.get((key, arg))
    if reference is None:
        return
    got = _floats(result)
    want = reference(base, kwargs, SCALE[cls])
    assert len(got) == len(want), f"{key}: {len(got)} outputs, reference has {len(want)}"
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        # 1e-9: rounding of the scaled data; 1e-310: a subnormal result's granularity
        np.testing.assert_allclose(
            g, w, rtol=1e-9, atol=1e-310, err_msg=f"{key}({arg}=<{cls}>) output {index}"
        )


@pytest.mark.parametrize(("key", "arg", "cls"), CASES)
def test_bad_input(key: str, arg: str, cls: str) -> None:
    row = ROWS[key]
    kwargs = _fresh(row.valid)
    kwargs[arg] = _bad_values(row.kinds[arg], row.valid.get(arg))[cls]
    accepted = cls in row.ok.get(arg, set())
    try:
        result = _call_with_timeout(lambda: row.fn(**kwargs), 5.0)
    except _Timeout:
        pytest.fail(f"{key}({arg}=<{cls}>) ran for more than 5 s: refuse or bound it")
    except AssertionError as exc:
        if arg not in row.claim_data or "failed" not in str(exc):
            raise
        return  # the claim fails on bad data, as a check should
    except (ValueError, TypeError) as exc:
        # also for accepted classes: a data-dependent refusal (booleans that make the
        # median distance 0, say) is fine if it names the argument
        # the name as a word of its own, in the caller's spelling
        named = re.search(rf"(?<![\w.]){re.escape(arg)}(?!\w)", str(exc))
        assert named, f"{key}({arg}=<{cls}>): message does not name it: {exc}"
        return
    if not accepted and cls not in ARR_SCALE:
        pytest.fail(f"{key}({arg}=<{cls}>) returned instead of raising")
    for arr in _floats(result):
        assert not np.any(np.isnan(arr)), f"{key}({arg}=<{cls}>) returned NaN"
        if cls in ARR_SCALE and arg not in row.infinite:  # right or refused, never inf
            assert np.all(np.isfinite(arr)), f"{key}({arg}=<{cls}>) returned inf"
    if cls in ARR_SCALE:
        _check_scale_reference(key, arg, cls, kwargs, result)
    if cls == "bool":
        as_float = _fresh(row.valid)
        as_float[arg] = np.asarray(kwargs[arg], dtype=float)
        want = row.fn(**as_float)
        for got_arr, want_arr in zip(_floats(result), _floats(want), strict=True):
            np.testing.assert_array_equal(got_arr, want_arr)
