"""Benchmark ``lib`` against the reference libraries, side by side, in one process.

    make bench                           # every row except the book build (a few minutes)
    make bench-book                      # cold, no-change and parallel-primed book builds (scratch copy)
    .venv/bin/python benchmarks/run.py --only w2,kl --reps 9
    .venv/bin/python benchmarks/run.py --write-readme   # also refresh benchmarks/README.md

Each row times lib and the reference in the same process: one warm-up call each
(excluded; it also calibrates how many calls make one repetition last >= 50 ms),
then ``--reps`` repetitions that alternate which side runs first. The times shown are
medians per call; the ratio is the median of the per-repetition ratios
reference / lib, so a load spike hits both sides of a ratio rather than one.

Accuracy columns: ``rel diff`` is max |lib - ref| / |ref|; ``lib err`` and ``ref err``
are max relative errors against a high-precision value (mpmath at 50 digits, an exact
integer construction, or a long-double evaluation, named per row). Targets print
PASS/FAIL: this is a report, not a test, and it always exits 0 unless it crashes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # `lib` and `benchmarks` from this checkout
    sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import mp_reference  # noqa: E402

GROUPS = ("w2", "kl", "batch", "hsic", "hsic-memory", "hsic-linear", "taylor")
MIN_REP_SECONDS = 0.05
ROW_BUDGET = 20.0
GIB = 1024**3


# ---------------------------------------------------------------------------------
# Rows and timing
# ---------------------------------------------------------------------------------
@dataclass
class Row:
    group: str
    op: str
    size: str
    ref: str
    lib_s: float | None = None
    ref_s: float | None = None
    ratio: float | None = None
    rel_diff: float | None = None
    lib_err: float | None = None
    ref_err: float | None = None
    target: str = ""
    status: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Timing:
    lib_s: float
    ref_s: float
    ratio: float
    calls: tuple[int, int]
    reps: int


def _calls_for(f: Callable[[], object]) -> tuple[int, float]:
    """Warm-up call (excluded) that also sizes a repetition to >= MIN_REP_SECONDS."""
    t0 = time.perf_counter()
    f()
    dt = time.perf_counter() - t0
    k = 1 if dt >= MIN_REP_SECONDS else max(1, math.ceil(MIN_REP_SECONDS / max(dt, 1e-7)))
    return k, dt


def _time_calls(f: Callable[[], object], k: int) -> float:
    t0 = time.perf_counter()
    for _ in range(k):
        f()
    return (time.perf_counter() - t0) / k


def compare(f_lib: Callable[[], object], f_ref: Callable[[], object], reps: int) -> Timing:
    """Median seconds per call of both sides and the median paired ratio ref / lib."""
    (k_lib, dt_lib), (k_ref, dt_ref) = _calls_for(f_lib), _calls_for(f_ref)
    # Slow rows get fewer repetitions so that one row costs at most ~ROW_BUDGET seconds.
    reps = max(1, min(reps, int(ROW_BUDGET / max(dt_lib + dt_ref, 1e-9))))
    t_lib, t_ref, ratios = [], [], []
    for r in range(reps):
        if r % 2 == 0:
            a = _time_calls(f_lib, k_lib)
            b = _time_calls(f_ref, k_ref)
        else:
            b = _time_calls(f_ref, k_ref)
            a = _time_calls(f_lib, k_lib)
        t_lib.append(a)
        t_ref.append(b)
        ratios.append(b / a)
    return Timing(statistics.median(t_lib), statistics.median(t_ref), statistics.median(ratios),
                  (k_lib, k_ref), reps)


def time_one(f: Callable[[], object], reps: int) -> float:
    k, _ = _calls_for(f)
    return statistics.median(_time_calls(f, k) for _ in range(reps))


def rel_err(value, reference) -> float:
    """max |value - reference| / |reference| (reference may be mpmath numbers)."""
    v = np.atleast_1d(np.asarray(value, dtype=np.float64))
    ref = np.atleast_1d(np.asarray([float(r) for r in np.ravel(reference)], dtype=np.float64))
    return float(np.max(np.abs(v - ref) / np.abs(ref)))


def rel_err_mp(value, reference) -> float:
    """Like rel_err, but the difference taken in mpmath (for errors far below 1e-16)."""
    import mpmath as mp

    vals = np.ravel(np.asarray(value, dtype=np.float64))
    refs = list(np.ravel(np.asarray(reference, dtype=object)))
    with mp.workdps(mp_reference.DPS):
        return float(max(abs((mp.mpf(float(v)) - r) / r) for v, r in zip(vals, refs)))


# ---------------------------------------------------------------------------------
# Inputs (all seeded)
# ---------------------------------------------------------------------------------
def spd(n: int, cond: float, seed: int) -> np.ndarray:
    """Q diag(logspace(0, -log10 cond)) Q^T with Q Haar-orthogonal (scipy ortho_group)."""
    from scipy.stats import ortho_group

    q = ortho_group.rvs(n, random_state=seed)
    s = np.logspace(0.0, -math.log10(cond), n)
    a = (q * s) @ q.T
    return 0.5 * (a + a.T)


def near_pair(n: int, cond: float, seed: int, kl: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """(S1, S2 = S1 + S1^1/2 W S1^1/2): W symmetric with |W|_F^2 = 4 kl, so KL ~ kl."""
    from scipy.stats import ortho_group

    q = ortho_group.rvs(n, random_state=seed)
    s = np.logspace(0.0, -math.log10(cond), n)
    s1 = (q * s) @ q.T
    s1 = 0.5 * (s1 + s1.T)
    root = (q * np.sqrt(s)) @ q.T
    w = np.random.default_rng(seed).standard_normal((n, n))
    w = w + w.T
    w *= math.sqrt(4.0 * kl) / np.linalg.norm(w)
    s2 = s1 + root @ w @ root
    return s1, 0.5 * (s2 + s2.T)


def integer_w2_pair(n: int, seed: int):
    """Two Gaussians with integer data and an exactly known W2^2 (an integer).

    S_p = B'B + I and T = C'C + I (B, C entries in {-1, 0, 1}) are SPD integer
    matrices; S_q = T S_p T. Then S_p^1/2 S_q S_p^1/2 = (S_p^1/2 T S_p^1/2)^2, so the
    trace of its root is tr(T S_p) and W2^2 = |m_p - m_q|^2 + tr S_p + tr S_q - 2 tr(T S_p).
    Every product is an integer below 2^53, so the float64 inputs are exact.
    """
    rng = np.random.default_rng(seed)
    b = rng.integers(-1, 2, size=(n, n)).astype(np.float64)
    c = rng.integers(-1, 2, size=(n, n)).astype(np.float64)
    eye = np.eye(n)
    cp = b.T @ b + eye
    t = c.T @ c + eye
    tcp = t @ cp
    cq = tcp @ t
    for m in (cp, t, tcp, cq):
        assert np.all(np.abs(m) < 2.0**52) and np.array_equal(m, np.round(m))
    assert np.array_equal(cq, cq.T)
    mu_p = rng.integers(-3, 4, size=n).astype(np.float64)
    mu_q = rng.integers(-3, 4, size=n).astype(np.float64)
    w2sq = (
        int(np.sum((mu_p - mu_q) ** 2))
        + int(np.trace(cp))
        + int(np.trace(cq))
        - 2 * int(np.trace(tcp))
    )
    return mu_p, cp, mu_q, cq, mp_reference.sqrt_integer(w2sq)


def random_batch(count: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((count, n, n))
    cov = a @ np.swapaxes(a, -1, -2) / n + 0.1 * np.eye(n)
    return rng.standard_normal((count, n)), 0.5 * (cov + np.swapaxes(cov, -1, -2))


# ---------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------
def w2_sqrtm(mu_p, cov_p, mu_q, cov_q) -> float:
    """Textbook W2 with scipy.linalg.sqrtm (Schur method) for both square roots."""
    from scipy.linalg import sqrtm

    root = sqrtm(cov_p)
    cross = np.trace(sqrtm(root @ cov_q @ root)).real
    d = mu_p - mu_q
    return math.sqrt(max(float(d @ d + np.trace(cov_p) + np.trace(cov_q) - 2.0 * cross), 0.0))


def kl_textbook(mu_p, cov_p, mu_q, cov_q) -> float:
    """(15) as printed: inv and det."""
    q_inv = np.linalg.inv(cov_q)
    d = mu_p - mu_q
    m = q_inv @ cov_p
    with np.errstate(invalid="ignore", divide="ignore"):  # det can round to <= 0
        return 0.5 * float(d @ q_inv @ d - np.log(np.linalg.det(m)) + np.trace(m) - d.size)


def kl_scipy(mu_p, cov_p, mu_q, cov_q) -> float:
    """KL = cross-entropy - entropy from scipy.stats.multivariate_normal.

    E_p[-log q] = -log q(mu_p) + tr(S_q^-1 S_p) / 2 (the trace by scipy's Cholesky solve).
    """
    from scipy.linalg import cho_factor, cho_solve
    from scipy.stats import multivariate_normal

    p = multivariate_normal(mu_p, cov_p)
    q = multivariate_normal(mu_q, cov_q)
    tr = float(np.trace(cho_solve(cho_factor(cov_q), cov_p)))
    return float(-q.logpdf(mu_p) + 0.5 * tr - p.entropy())


def hsic_biased_longdouble(x: np.ndarray, y: np.ndarray, bx: float, by: float,
                           chunk: int = 256) -> float:
    """HSIC_b = sum(Kc * Lc) / n^2 in np.longdouble (eps 1e-19), by row chunks."""
    ld = np.longdouble
    xs, ys = x.astype(ld).reshape(len(x), -1), y.astype(ld).reshape(len(y), -1)
    n = xs.shape[0]

    def rows(z, b, a, e):
        d2 = np.zeros((e - a, n), dtype=ld)
        for j in range(z.shape[1]):
            diff = z[a:e, None, j] - z[None, :, j]
            d2 += diff * diff
        return np.exp(-d2 / (ld(b) * ld(b)))

    rk = np.empty(n, dtype=ld)
    rl = np.empty(n, dtype=ld)
    for a in range(0, n, chunk):
        e = min(a + chunk, n)
        rk[a:e] = rows(xs, bx, a, e).mean(axis=1)
        rl[a:e] = rows(ys, by, a, e).mean(axis=1)
    sk, sl = rk.mean(), rl.mean()
    total = ld(0)
    for a in range(0, n, chunk):
        e = min(a + chunk, n)
        kc = rows(xs, bx, a, e) - rk[a:e, None] - rk[None, :] + sk
        lc = rows(ys, by, a, e) - rl[a:e, None] - rl[None, :] + sl
        total += np.sum(kc * lc)
    return float(total / (ld(n) * ld(n)))


# ---------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------
def rows_w2(reps: int, sizes=(16, 128, 512), generic: bool = True) -> list[Row]:
    import ot

    from lib import gaussian

    out = []
    for n in sizes:
        mu_p, cp, mu_q, cq, exact = integer_w2_pair(n, seed=8512 + n)
        v_lib = gaussian.wasserstein2(mu_p, cp, mu_q, cq)
        refs = [
            ("POT bures_wasserstein_distance",
             lambda: ot.gaussian.bures_wasserstein_distance(mu_p, mu_q, cp, cq)),
            ("scipy.linalg.sqrtm textbook", lambda: w2_sqrtm(mu_p, cp, mu_q, cq)),
        ]
        for name, f_ref in refs:
            t = compare(lambda: gaussian.wasserstein2(mu_p, cp, mu_q, cq), f_ref, reps)
            v_ref = float(f_ref())
            row = Row("w2", "gaussian.wasserstein2", f"n={n}", name, t.lib_s, t.ref_s, t.ratio,
                      rel_err(v_lib, v_ref), rel_err_mp(v_lib, [exact]),
                      rel_err_mp(v_ref, [exact]),
                      note="err vs exact integer W2^2 (see integer_w2_pair)")
            if n == 512 and name.startswith("POT"):
                row.target = ">=3x POT, rel diff <=1e-12"
                row.status = _pf(t.ratio >= 3.0 and row.rel_diff <= 1e-12)
            out.append(row)
    if not generic:
        return out
    # A generic (non-integer) pair against mpmath's eigendecomposition-based W2.
    n = 16
    cp, cq = spd(n, 1e6, seed=8512), spd(n, 1e6, seed=8513)
    rng = np.random.default_rng(8512)
    mu_p, mu_q = rng.standard_normal(n), rng.standard_normal(n)
    exact = mp_reference.wasserstein2(mu_p, cp, mu_q, cq)
    f_lib = lambda: gaussian.wasserstein2(mu_p, cp, mu_q, cq)  # noqa: E731
    f_ref = lambda: ot.gaussian.bures_wasserstein_distance(mu_p, mu_q, cp, cq)  # noqa: E731
    t = compare(f_lib, f_ref, reps)
    out.append(Row("w2", "gaussian.wasserstein2", "n=16 cond 1e6", "POT bures_wasserstein_distance",
                   t.lib_s, t.ref_s, t.ratio, rel_err(f_lib(), f_ref()),
                   rel_err_mp(f_lib(), [exact]), rel_err_mp(float(f_ref()), [exact]),
                   note="err vs mpmath (50 digits)"))
    return out


def rows_kl(reps: int, pairs: int = 3) -> list[Row]:
    from lib import gaussian

    out = []
    n = 16
    for kind in ("generic", "near"):
        for cond in (1e2, 1e6, 1e10):
            cases = []
            for s in range(pairs):
                seed = 8512 + 100 * s + int(math.log10(cond))
                if kind == "generic":
                    cp, cq = spd(n, cond, seed), spd(n, cond, seed + 50)
                    rng = np.random.default_rng(seed)
                    mu_p, mu_q = rng.standard_normal(n), rng.standard_normal(n)
                else:
                    cp, cq = near_pair(n, cond, seed)
                    mu_p = mu_q = np.zeros(n)
                cases.append((mu_p, cp, mu_q, cq, mp_reference.kl_divergence(mu_p, cp, mu_q, cq)))
            exact = [c[4] for c in cases]
            lib_vals = [gaussian.kl_divergence(*c[:4]) for c in cases]
            for name, ref in (("textbook inv+det", kl_textbook), ("scipy.stats mvn", kl_scipy)):
                try:
                    ref_vals = [ref(*c[:4]) for c in cases]
                    bad = sum(not math.isfinite(v) for v in ref_vals)
                    ref_err = rel_err_mp(ref_vals, exact) if not bad else float("nan")
                    rel_diff = rel_err(lib_vals, ref_vals)
                    c0 = cases[0]
                    t = compare(lambda: gaussian.kl_divergence(*c0[:4]), lambda: ref(*c0[:4]), reps)
                    times = (t.lib_s, t.ref_s, t.ratio)
                    note = (f"reference returned NaN for {bad} of {pairs} pairs "
                            "(det(inv(Sq) Sp) rounds to <= 0)") if bad else ""
                except Exception as exc:  # scipy refuses cond 1e10 (eigenvalue cutoff 1e6 eps)
                    ref_err = rel_diff = None
                    times = (time_one(lambda: gaussian.kl_divergence(*cases[0][:4]), reps), None, None)
                    note = f"reference failed: {type(exc).__name__}: {str(exc)[:60]}"
                kl_mag = float(exact[0])
                row = Row("kl", "gaussian.kl_divergence", f"n={n} {kind} cond {cond:.0e}", name,
                          *times, rel_diff, rel_err_mp(lib_vals, exact), ref_err,
                          note=(note or f"KL~{kl_mag:.1e}; err vs mpmath, max over {pairs} pairs"))
                if name.startswith("textbook"):
                    bound = {("generic", 1e6): 1e-10, ("near", 1e6): 1e-8, ("near", 1e10): 1e-4}
                    if (kind, cond) in bound:
                        row.target = f"lib err <={bound[(kind, cond)]:.0e}"
                        row.status = _pf(row.lib_err <= bound[(kind, cond)])
                out.append(row)
    # Timing at a larger size (mpmath reference omitted: O(n^3) at 50 digits).
    n = 128
    cp, cq = spd(n, 1e6, 8600), spd(n, 1e6, 8601)
    rng = np.random.default_rng(8600)
    mu_p, mu_q = rng.standard_normal(n), rng.standard_normal(n)
    v_lib = gaussian.kl_divergence(mu_p, cp, mu_q, cq)
    for name, ref in (("textbook inv+det", kl_textbook), ("scipy.stats mvn", kl_scipy)):
        t = compare(lambda: gaussian.kl_divergence(mu_p, cp, mu_q, cq),
                    lambda: ref(mu_p, cp, mu_q, cq), reps)
        out.append(Row("kl", "gaussian.kl_divergence", f"n={n} generic cond 1e+06", name,
                       t.lib_s, t.ref_s, t.ratio, rel_err(v_lib, ref(mu_p, cp, mu_q, cq))))
    return out


def rows_batch(reps: int, count: int = 10_000, n: int = 8, checked: int = 20) -> list[Row]:
    import ot

    from lib import gaussian

    mu_p, cp = random_batch(count, n, 1)
    mu_q, cq = random_batch(count, n, 2)
    out = []
    sub = range(checked)  # mpmath on the first `checked` pairs

    # KL
    kl_lib = gaussian.kl_divergence(mu_p, cp, mu_q, cq)
    kl_exact = [mp_reference.kl_divergence(mu_p[i], cp[i], mu_q[i], cq[i]) for i in sub]

    def kl_loop():
        return np.array([kl_textbook(mu_p[i], cp[i], mu_q[i], cq[i]) for i in range(count)])

    t = compare(lambda: gaussian.kl_divergence(mu_p, cp, mu_q, cq), kl_loop, max(3, reps // 2))
    kl_ref = kl_loop()
    out.append(Row("batch", "gaussian.kl_divergence (one call)", f"{count}x{n}x{n}",
                   "Python loop, textbook inv+det", t.lib_s, t.ref_s, t.ratio,
                   rel_err(kl_lib, kl_ref), rel_err_mp(kl_lib[:checked], kl_exact),
                   rel_err_mp(kl_ref[:checked], kl_exact),
                   note=f"err vs mpmath on the first {checked} pairs"))

    # W2
    w2_lib = gaussian.wasserstein2(mu_p, cp, mu_q, cq)
    w2_exact = [mp_reference.wasserstein2(mu_p[i], cp[i], mu_q[i], cq[i]) for i in sub]

    def w2_loop():
        return np.array([ot.gaussian.bures_wasserstein_distance(mu_p[i], mu_q[i], cp[i], cq[i])
                         for i in range(count)])

    def w2_pot_batched():
        return ot.gaussian.bures_wasserstein_distance(mu_p, mu_q, cp, cq, paired=True)

    for name, f_ref in (("Python loop, POT", w2_loop), ("POT batched (paired=True)", w2_pot_batched)):
        t = compare(lambda: gaussian.wasserstein2(mu_p, cp, mu_q, cq), f_ref, max(3, reps // 2))
        ref = np.asarray(f_ref())
        out.append(Row("batch", "gaussian.wasserstein2 (one call)", f"{count}x{n}x{n}", name,
                       t.lib_s, t.ref_s, t.ratio, rel_err(w2_lib, ref),
                       rel_err_mp(w2_lib[:checked], w2_exact), rel_err_mp(ref[:checked], w2_exact),
                       note=f"err vs mpmath on the first {checked} pairs"))
    return out


def _hyppo_warm():
    t0 = time.perf_counter()
    from hyppo.independence import Hsic

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1))
    Hsic().statistic(x, x + rng.standard_normal((64, 1)))
    Hsic(gamma=0.5).statistic(x, x + rng.standard_normal((64, 1)))
    return Hsic, time.perf_counter() - t0


def rows_hsic(reps: int, sizes=(500, 2000, 5000)) -> list[Row]:
    from lib import hsic as lh

    Hsic, warm = _hyppo_warm()
    out = []
    for n in sizes:
        rng = np.random.default_rng(6910 + n)
        x = rng.standard_normal((n, 1))
        y = rng.standard_normal((n, 1))  # independent: the hard case for accuracy
        r = reps if n < 5000 else max(3, reps // 2)
        t = compare(lambda: lh.hsic(x, y), lambda: Hsic().statistic(x, y), r)
        # Accuracy 1: the same statistic as hyppo (unbiased, normalised, fixed gamma).
        g = 0.5
        b = 1.0 / math.sqrt(g)
        v_match = lh.hsic(x, y, bandwidth_x=b, bandwidth_y=b, estimator="unbiased", normalize=True)
        v_hyppo = Hsic(gamma=g).statistic(x, y)
        # Accuracy 2: biased HSIC against a long-double evaluation (same bandwidths).
        bx, by = lh.median_bandwidth(x, max_points=2000), lh.median_bandwidth(y, max_points=2000)
        v_b = lh.hsic(x, y, bandwidth_x=bx, bandwidth_y=by)
        lib_err = rel_err(v_b, hsic_biased_longdouble(x, y, bx, by)) if n <= 2000 else None
        row = Row("hsic", "hsic.hsic biased, median bw", f"n={n}", "hyppo Hsic().statistic",
                  t.lib_s, t.ref_s, t.ratio, rel_err(v_match, v_hyppo), lib_err, None,
                  note=("rel diff: unbiased normalised vs Hsic(gamma=0.5); lib err vs longdouble"
                        + (f"; hyppo import+JIT warm-up {warm:.1f} s (excluded)" if n == sizes[0] else "")))
        if n == 2000:
            row.target = ">=5x hyppo"
            row.status = _pf(t.ratio >= 5.0)
        out.append(row)
    return out


def _child(kind: str, n: int) -> dict:
    """Run one large call in a fresh process; report wall time and peak RSS above baseline."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(n)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"child {kind} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _vm(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def child_main(kind: str, n: int) -> None:
    from lib import hsic as lh

    rng = np.random.default_rng(6910)
    x = rng.standard_normal(n)
    if kind == "hsic-memory":
        y = rng.standard_normal(n)
        call = lambda: lh.hsic(x, y)  # noqa: E731
    else:  # linear time, the article's dependent pair with its kernel exp(-d^2)
        y = x + 0.1 * rng.standard_normal(n)
        call = lambda: lh.hsic_linear_time(x, y, bandwidth_x=1.0, bandwidth_y=1.0)  # noqa: E731
    lh.hsic(x[:200], y[:200])  # import/first-call costs out of the measurement
    try:  # reset the peak-RSS counter (VmHWM) to the current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    base = _vm("VmRSS")
    t0 = time.perf_counter()
    value = call()
    dt = time.perf_counter() - t0
    peak = _vm("VmHWM")
    print(json.dumps({"seconds": dt, "peak": peak, "base": base, "value": value}))


def rows_hsic_memory(_reps: int, n: int = 20_000) -> list[Row]:
    r = _child("hsic-memory", n)
    extra = (r["peak"] - r["base"]) / GIB
    row = Row("hsic-memory", "hsic.hsic biased, one call", f"n={n}", "-", r["seconds"],
              note=f"peak RSS {r['peak'] / GIB:.2f} GiB ({extra:.2f} GiB above baseline; "
                   f"two n x n float64 Gram matrices = {2 * 8 * n * n / GIB:.2f} GiB)",
              target="peak <=24 GiB", status=_pf(r["peak"] <= 24 * GIB))
    row.extra = r
    return [row]


def rows_hsic_linear(reps: int, n: int = 1_000_000, sub: int = 5000) -> list[Row]:
    from lib import hsic as lh

    r = _child("hsic-linear", n)
    est, se = r["value"]
    rng = np.random.default_rng(6910)
    x = rng.standard_normal(n)
    y = x + 0.1 * rng.standard_normal(n)
    xs, ys = x[:sub], y[:sub]
    f_exact = lambda: lh.hsic(xs, ys, bandwidth_x=1.0, bandwidth_y=1.0, estimator="unbiased")  # noqa: E731
    exact_sub = f_exact()
    t_sub = time_one(f_exact, max(3, reps // 2))
    pop = float(mp_reference.hsic_population_article(0.1))
    row = Row("hsic-linear", "hsic.hsic_linear_time (B=100)", f"n={n:.0e}",
              f"exact HSIC_u, n={sub} subsample", r["seconds"], t_sub, None,
              rel_err(est, exact_sub), rel_err(est, pop), rel_err(exact_sub, pop),
              target="<=5 s, peak <=2 GiB",
              status=_pf(r["seconds"] <= 5.0 and r["peak"] <= 2 * GIB),
              note=(f"estimate {est:.5f} +- {se:.5f} (SE); subsample {exact_sub:.5f}; "
                    f"population {pop:.5f}; errs vs population; peak RSS {r['peak'] / GIB:.2f} GiB"))
    row.extra = r
    return [row]


def rows_taylor(reps: int) -> list[Row]:
    from scipy.special import softmax

    from lib import taylor

    x = np.random.default_rng(7919).standard_normal((4096, 1000))
    xl = x.astype(np.longdouble)
    f = 1 + xl + xl * xl / 2
    ref_taylor = f / f.sum(axis=-1, keepdims=True)
    e = np.exp(xl - xl.max(axis=-1, keepdims=True))
    ref_soft = e / e.sum(axis=-1, keepdims=True)

    def err(v, ref):
        return float(np.max(np.abs((v - ref) / ref)))

    def naive():
        g = 1.0 + x + 0.5 * x * x
        return g / g.sum(axis=-1, keepdims=True)

    v_lib = taylor.taylor_softmax(x)
    out = []
    t = compare(lambda: taylor.taylor_softmax(x), lambda: softmax(x, axis=-1), reps)
    out.append(Row("taylor", "taylor.taylor_softmax n=2", "(4096, 1000)", "scipy.special.softmax",
                   t.lib_s, t.ref_s, t.ratio, None, err(v_lib, ref_taylor),
                   err(softmax(x, axis=-1), ref_soft),
                   note="different functions: no rel diff; each err vs its own long-double value"))
    t = compare(lambda: taylor.taylor_softmax(x), naive, reps)
    out.append(Row("taylor", "taylor.taylor_softmax n=2", "(4096, 1000)", "NumPy (1+x+x^2/2)/sum",
                   t.lib_s, t.ref_s, t.ratio, err(v_lib, naive()), err(v_lib, ref_taylor),
                   err(naive(), ref_taylor), note="errs vs long double"))
    return out


# ---------------------------------------------------------------------------------
# Book build
# ---------------------------------------------------------------------------------
SCRATCH_MARK = ".bench-book-scratch"


def _stamp_ok(root: Path) -> str | None:
    """None if root's .venv and node_modules are set up for its current pins, else why not."""
    import hashlib

    want = hashlib.sha256((root / "requirements.txt").read_bytes()
                          + (root / "pyproject.toml").read_bytes()).hexdigest()
    have = (root / ".venv/.setup-stamp").read_text().strip() if (root / ".venv/.setup-stamp").exists() else ""
    if want != have:
        return ".venv is not set up for the current requirements.txt (run scripts/setup-env)"
    js_want = hashlib.sha256((root / "package-lock.json").read_bytes()).hexdigest()
    js_stamp = root / "node_modules/.setup-stamp"
    if not js_stamp.exists() or js_stamp.read_text().strip() != js_want:
        return "node_modules is not set up for package-lock.json (run scripts/setup-env)"
    return None


def rows_book(scratch: Path, patch: str | None = None) -> list[Row]:
    """Cold `make book` (every chapter executed) and a no-change rebuild, in a scratch copy.

    The copy holds the files git would put in a clone plus untracked, not-ignored files
    (`git ls-files -co --exclude-standard`), i.e. the current working tree; .venv and
    node_modules are symlinked to this checkout's (only when their set-up stamps match,
    so `make book` there never installs anything), and PYTHONPATH points at the copy
    so its chapters import the copy's lib.
    """
    why = _stamp_ok(ROOT)
    if why:
        return [Row("book", "make book", "-", "-", note=f"skipped: {why}")]
    if scratch.exists():
        if not (scratch / SCRATCH_MARK).exists():
            return [Row("book", "make book", "-", "-",
                        note=f"skipped: {scratch} exists and was not made by this script")]
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    (scratch / SCRATCH_MARK).write_text("made by benchmarks/run.py --book; safe to delete\n")
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            dst = scratch / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    if patch:  # e.g. time a fix before it lands; applied to the copy only
        res = subprocess.run(["git", "apply", "-p1", str(Path(patch).resolve())], cwd=scratch,
                             capture_output=True, text=True)
        if res.returncode:
            return [Row("book", "make book", "-", "-", note=f"patch failed: {res.stderr[:300]}")]
    (scratch / ".venv").symlink_to(ROOT / ".venv")
    (scratch / "node_modules").symlink_to(ROOT / "node_modules")
    env = dict(os.environ, PYTHONPATH=str(scratch))
    env.pop("MPLBACKEND", None)  # as scripts/build-book: figures must render inline
    env["PATH"] = f"{scratch / '.venv/bin'}{os.pathsep}{env.get('PATH', '')}"
    chapters = len(re.findall(r"file:\s*book/\d\d-", (scratch / "_toc.yml").read_text()))
    size = f"{chapters} chapters" + (f" + {Path(patch).name}" if patch else "")

    def make_book(label: str, prime: bool = False) -> tuple[float, float, str, int]:
        """Wall and CPU seconds of `make book` (after priming the cache in parallel)."""
        log = scratch / f"_bench-{label}.log"
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        code = 0
        with open(log, "w") as fh:
            if prime:  # what scripts/build-book does first, then the parallel executor
                code = subprocess.run(["bash", "-c", _INPUTS_HASH], cwd=scratch, env=env,
                                      stdout=fh, stderr=subprocess.STDOUT).returncode
                code = code or subprocess.run(
                    [str(scratch / ".venv/bin/python"), str(HERE.parent / "scripts" / "prime_cache.py"), str(scratch)],
                    cwd=scratch, env=dict(env, **_BUILD_ENV), stdout=fh,
                    stderr=subprocess.STDOUT).returncode
            if code == 0:
                code = subprocess.run(["make", "book"], cwd=scratch, env=env, stdout=fh,
                                      stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime
        return wall, cpu, log.read_text(), code

    def failure(label: str, wall: float, text: str, code: int) -> Row:
        clean = re.sub(r"\x1b\[[0-9;]*m", "", text)
        causes = re.findall(r"(book/[\w-]+\.md: WARNING: Executing notebook failed.*|^\w*Error: .*$)",
                            clean, flags=re.M)
        return Row("book", f"make book, {label}", size, "-", wall, target="builds", status="FAIL",
                   note=f"build failed (exit {code}): "
                        + " | ".join(dict.fromkeys(c for c in causes if len(c.strip()) > 16))[:400]
                        + f"; log {scratch}/_bench-{label}.log")

    rows = []
    wall, cpu, text, code = make_book("cold")
    if code:
        rows.append(failure("cold", wall, text, code))
    else:
        executed = re.findall(r"book/([\w-]+)\.md: Executed notebook in ([\d.]+) seconds", text)
        per = ", ".join(f"{name[:2]} {float(sec):.0f} s" for name, sec in executed)
        total = sum(float(sec) for _, sec in executed)
        rows.append(Row("book", "make book, cold (all executed)", size, "-", wall,
                        target="<=90 s", status=_pf(wall <= 90.0),
                        note=(f"CPU time {cpu:.0f} s; chapters executed one after another, "
                              f"{total:.0f} s in all (chapter: wall) {per}")))
        wall, cpu, text, code = make_book("no-change")
        if code:
            rows.append(failure("no-change", wall, text, code))
        else:
            again = "Executed notebook" in text
            rows.append(Row("book", "make book, no-change rebuild", size, "-", wall,
                            target="<=10 s", status=_pf(wall <= 10.0 and not again),
                            note=f"CPU time {cpu:.0f} s; "
                                 + ("WARNING: a chapter was re-executed" if again
                                    else "nothing re-executed")))
    # Prototype of the fix for the cold build: the same cold build, after executing the
    # chapters into the cache in parallel (scripts/prime_cache.py).
    shutil.rmtree(scratch / "_build", ignore_errors=True)
    wall, cpu, text, code = make_book("cold-parallel", prime=True)
    per = ", ".join(f"{name[:2]} {float(sec):.0f} s"
                    for name, sec in re.findall(r"prime_cache: ([\w-]+)\.md ([\d.]+) s", text))
    if code:
        row = failure("cold-parallel", wall, text, code)
        row.note += f"; chapters that ran (wall, in parallel): {per}"
        rows.append(row)
    else:
        m = re.search(r"prime_cache: .* in ([\d.]+) s", text)
        rows.append(Row("book", "make book, cold, cache primed in parallel", size, "-", wall,
                        target="<=90 s (if adopted)", status=_pf(wall <= 90.0),
                        note=(f"CPU time {cpu:.0f} s; parallel execution "
                                                    f"{m.group(1) if m else '?'} s of it "
                                                    f"(chapter: wall) {per}; "
                                                    "scripts/prime_cache.py, 2 workers")))
    return rows


#: scripts/build-book's environment and its cache-invalidation key (kept in sync by hand).
_BUILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
_INPUTS_HASH = ("mkdir -p _build && (find lib -name '*.py' -print0 | sort -z | xargs -0 cat; "
                "cat requirements.txt) | sha256sum | cut -d' ' -f1 > _build/.inputs-hash")


# ---------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------
def _pf(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _t(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def _e(v: float | None) -> str:
    if v is None:
        return "-"
    return "0" if v == 0 else f"{v:.1e}"


COLUMNS = ("operation", "size", "reference", "lib", "ref", "ref/lib", "rel diff", "lib err",
           "ref err", "target", "")


def _cells(r: Row) -> list[str]:
    return [r.op, r.size, r.ref, _t(r.lib_s), _t(r.ref_s),
            "-" if r.ratio is None else f"{r.ratio:.2f}x", _e(r.rel_diff), _e(r.lib_err),
            _e(r.ref_err), r.target, r.status]


def format_table(rows: list[Row]) -> str:
    cells = [list(COLUMNS)] + [_cells(r) for r in rows]
    width = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = []
    for k, c in enumerate(cells):
        lines.append("  ".join(s.ljust(w) for s, w in zip(c, width)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in width))
    notes = [f"  [{r.op} | {r.size} | {r.ref}] {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", "Notes:"] + notes if notes else []))


def format_markdown(rows: list[Row]) -> str:
    out = ["| " + " | ".join(c or "status" for c in COLUMNS) + " |",
           "|" + "---|" * len(COLUMNS)]
    for r in rows:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    return "\n".join(out)


def machine_info(threads: int) -> dict:
    import scipy

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError):
        mem = float("nan")
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "scipy": scipy.__version__}
    for mod, name in (("ot", "POT"), ("hyppo", "hyppo"), ("mpmath", "mpmath")):
        try:
            versions[name] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} {i['version']}" for i in threadpool_info()
                         if i.get("user_api") == "blas")
    except Exception:  # noqa: BLE001
        blas = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "blas": blas,
            "threads": threads, "versions": versions, "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}


def header(info: dict, load0, load1, seconds: float, reps: int) -> str:
    v = ", ".join(f"{k} {x}" for k, x in info["versions"].items())
    return (f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; "
            f"BLAS {info['blas']} with {info['threads']} thread(s)\n"
            f"Versions: {v}\n"
            f"Run: {info['date_utc']} UTC, {reps} repetitions per row (median), "
            f"{seconds:.0f} s in all; load average (1/5/15 min) "
            f"{load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f} at start, "
            f"{load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f} at end")


RUNNERS = {
    "w2": rows_w2,
    "kl": rows_kl,
    "batch": rows_batch,
    "hsic": rows_hsic,
    "hsic-memory": rows_hsic_memory,
    "hsic-linear": rows_hsic_linear,
    "taylor": rows_taylor,
}


def run(groups, reps: int, progress: bool = True) -> list[Row]:
    rows: list[Row] = []
    for g in groups:
        t0 = time.perf_counter()
        got = RUNNERS[g](reps)
        if progress:
            print(f"  {g}: {len(got)} rows in {time.perf_counter() - t0:.0f} s", file=sys.stderr,
                  flush=True)
        rows.extend(got)
    return rows


def readme_block(rows: list[Row], head: str) -> str:
    notes = "\n".join(f"- {r.op}, {r.size}, vs {r.ref}: {r.note}" for r in rows if r.note)
    return "```text\n" + head + "\n```\n\n" + format_markdown(rows) + "\n\n" + notes


def write_readme(path: Path, rows: list[Row], head: str) -> None:
    """Replace the library block and/or the book block of README.md with this run's rows."""
    text = path.read_text()
    for name, part in (("bench", [r for r in rows if r.group != "book"]),
                       ("bench-book", [r for r in rows if r.group == "book"])):
        if not part:
            continue
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        i, j = text.index(start) + len(start), text.index(end)
        text = text[:i] + "\n" + readme_block(part, head) + "\n" + text[j:]
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help=f"comma-separated groups from {GROUPS}")
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per row (default 7)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads for both sides (default 1, as the book build uses)")
    ap.add_argument("--book", action="store_true", help="also time the book builds (minutes)")
    ap.add_argument("--book-only", action="store_true", help="only the book builds")
    ap.add_argument("--scratch", default="/tmp/bench-book", help="scratch copy for the book rows")
    ap.add_argument("--book-patch", help="apply this patch (git apply -p1) to the scratch copy")
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    ap.add_argument("--write-readme", action="store_true",
                    help="replace the table block in benchmarks/README.md with this run")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=args.threads)
    if args.child:
        child_main(args.child[0], int(args.child[1]))
        return 0

    groups = [] if args.book_only else [g for g in (args.only.split(",") if args.only else GROUPS) if g]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        ap.error(f"unknown groups {sorted(unknown)}; choose from {GROUPS}")
    info = machine_info(args.threads)
    load0, t0 = os.getloadavg(), time.perf_counter()
    rows = run(groups, args.reps)
    if args.book or args.book_only:
        print("  book: three `make book` runs in a scratch copy (minutes) ...", file=sys.stderr, flush=True)
        rows.extend(rows_book(Path(args.scratch), args.book_patch))
    seconds, load1 = time.perf_counter() - t0, os.getloadavg()
    head = header(info, load0, load1, seconds, args.reps)
    print(head)
    print()
    print(format_table(rows))
    failed = [r for r in rows if r.status == "FAIL"]
    print(f"\nTargets: {sum(r.status == 'PASS' for r in rows)} PASS, {len(failed)} FAIL"
          + "".join(f"\n  FAIL: {r.op} {r.size} vs {r.ref} ({r.target})" for r in failed))
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "load": [load0, load1],
                                               "rows": [asdict(r) for r in rows]}, indent=1,
                                              default=float))
    if args.write_readme:
        write_readme(HERE / "README.md", rows, head)
    return 0


if __name__ == "__main__":
    sys.exit(main())
