"""The claims ledger: how every chapter checks, and records, what it derives.

A chapter creates one :class:`Ledger` and routes every check through it. Each
check method either raises :class:`AssertionError` naming the claim, or records
the claim (id, what, method, measured error) and returns ``None``, so a check on
the last line of a cell displays nothing; the measured quantity of the latest
claim is ``ledger.claims[-1].measured``.
The chapter's last cell displays :meth:`Ledger.table`, the "Verified in this
chapter" table; because that table is stored in the golden notebook, a claim
that disappears or changes is a regression that nbval reports.

The ledger refuses checks that cannot fail (:class:`ValueError`, naming the
argument): tolerances that are negative, not finite or both zero; a relative
tolerance of at least :data:`LOOSE_TOLERANCE`, or an absolute one of at least that
fraction of the expected magnitude, unless the claim states a ``reason`` (shown in
its row); a Monte Carlo band of infinitely many standard errors; non-finite
estimates, expected values or standard errors; an empty ``method``.

Random claims (Monte Carlo bands and Kolmogorov-Smirnov tests) share one
false-alarm budget, :data:`FALSE_ALARM_BUDGET`, over at most
:data:`RANDOM_CLAIMS_CAP` of them: the band :data:`MONTE_CARLO_K` and the KS level
:data:`PER_CLAIM_ALPHA` follow from it, and a claim that wants another needs a
``reason``. Each such row shows its resolution, the smallest error it would see.

Every claim says where its evidence comes from (:data:`EVIDENCE_KINDS`), and the
verification page counts the kinds: a symbolic claim says which SymPy operations
produced its left side (``derived_by=``) or that its two sides are equal as built
(``by_construction=True``), and one whose difference is already zero before any
simplification must say one of them; a numerical claim names its reference
(``reference=``) and says when that reference runs the same code as ``lib``
(``same_code_path=True``); bitwise identical values are shown as such.

A derivation is a :class:`Chain` (:meth:`Ledger.chain`): named steps from a
definition, each checked against the previous line (symbolically, or numerically at
stated points and then labelled so), concluded as one claim and rendered as the
aligned display the page shows.

There is no global state: two ledgers never share claims.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import mpmath
import numpy as np
import sympy as sp
from scipy import stats
from sympy.printing.latex import LatexPrinter

__all__ = [
    "Chain",
    "ChainStep",
    "EVIDENCE_KINDS",
    "FALSE_ALARM_BUDGET",
    "LOOSE_TOLERANCE",
    "MONTE_CARLO_K",
    "PER_CLAIM_ALPHA",
    "RANDOM_CLAIMS_CAP",
    "Claim",
    "Ledger",
    "LedgerTable",
    "central_difference_gradient",
    "format_error",
]

#: Errors below this are shown as "< 1e-12": their exact digits depend on the
#: floating-point path (BLAS, compiler), not on the mathematics.
ERROR_DISPLAY_FLOOR = 1e-12

#: A relative tolerance at or above this, or an absolute tolerance at or above this
#: fraction of the largest expected magnitude, lets almost any value through: such a
#: check needs a stated ``reason``.
LOOSE_TOLERANCE = 0.1

#: The book's false-alarm budget, the probability that any random claim (a Monte
#: Carlo band or a Kolmogorov-Smirnov test) anywhere in the book fails when nothing
#: is wrong, for a fresh draw of the seeds.
FALSE_ALARM_BUDGET = 1e-6
#: The most random claims the whole book may make; ``tests/test_goldens.py`` counts
#: them in the executed chapters and fails above this.
RANDOM_CLAIMS_CAP = 200
#: The budget shared equally over the cap (a union bound); each random claim may fail
#: by chance with probability at most this. It is the default KS level.
PER_CLAIM_ALPHA = FALSE_ALARM_BUDGET / RANDOM_CLAIMS_CAP
#: The default Monte Carlo band in standard errors, the two-sided normal quantile
#: Phi^{-1}(1 - PER_CLAIM_ALPHA / 2), about 5.85.
MONTE_CARLO_K = float(stats.norm.isf(PER_CLAIM_ALPHA / 2))

#: Where a claim's evidence comes from (key, then the heading of its column); every
#: claim has exactly one of these.
#:
#: - ``sympy``: SymPy reduces lhs - rhs to zero (the sides were derived or typed)
#: - ``construction``: the two sides are equal as built, the claim records a definition
#: - ``reference``: a number against an independent computation (quadrature, mpmath,
#:   another library, central differences...)
#: - ``same_code``: a number against a reference that runs the same code as ``lib``
#: - ``identical``: a number bitwise equal to its reference, with no reason given
#: - ``random``: Monte Carlo bands and Kolmogorov-Smirnov tests
#: - ``condition``: an inequality or property checked on a grid or sample
EVIDENCE_KINDS: dict[str, str] = {
    "sympy": "SymPy",
    "construction": "by construction",
    "reference": "independent reference",
    "same_code": "same code path",
    "identical": "identical values",
    "random": "Monte Carlo / KS",
    "condition": "condition",
}


def format_error(error: float | None) -> str:
    """Format a measured error with digits that are stable across machines.

    Parameters
    ----------
    error : float or None
        Measured error; ``None`` means the check was exact (symbolic).

    Returns
    -------
    str
        ``"exact"``, ``"< 1e-12"`` or the error to two significant digits.
    """
    if error is None:
        return "exact"
    error = _require_finite("error", error)
    if error < ERROR_DISPLAY_FLOOR:
        return f"< {ERROR_DISPLAY_FLOOR:.0e}"
    return f"{error:.1e}"


def central_difference_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, step: float
) -> np.ndarray:
    """Gradient of a scalar function by central differences, ``(f(x+h e) - f(x-h e)) / 2h``.

    Parameters
    ----------
    f : callable
        Scalar function of an array shaped like ``x``.
    x : ndarray
        Point, any shape.
    step : float
        Step ``h > 0``; the error is O(h^2) plus rounding of order ``eps |f| / h``.

    Returns
    -------
    ndarray
        The estimate, shaped like ``x``.
    """
    f = _require_callable("f", f)
    step = _require_finite("step", step, positive=True)
    point = _real_array("x", x)
    if point.size == 0:
        raise ValueError("x is empty: there is no direction to differentiate along")
    if not np.all(np.isfinite(point)):
        raise ValueError("x must be finite")
    if np.any(point + step == point) or np.any(point - step == point):
        raise ValueError(
            f"step={step:g} is lost in rounding next to x (|x| up to "
            f"{float(np.max(np.abs(point))):.3g}): take a step above eps |x|"
        )
    gradient = np.empty_like(point)
    for index in np.ndindex(point.shape):
        shifted = point.copy()
        shifted[index] += step
        forward = f(shifted)
        shifted[index] -= 2 * step
        gradient[index] = (forward - f(shifted)) / (2 * step)
    if not np.all(np.isfinite(gradient)):
        raise ValueError("f returned a non-finite value next to x: no difference quotient")
    return gradient


@dataclass(frozen=True)
class Claim:
    """One verified claim: a row of the ledger table."""

    claim_id: str
    what: str
    method: str
    error: str
    #: One of the keys of :data:`EVIDENCE_KINDS`.
    evidence: str = "reference"
    #: The measured quantity behind ``error``, unrounded: the largest relative error
    #: (``close``), deviation in standard errors (``monte_carlo``), KS statistic
    #: (``ks_test``), ``margin`` (``holds``); ``None`` for an exact check.
    measured: float | None = None


class LedgerTable:
    """The rendered ledger: plain text for notebooks and nbval, HTML for the site."""

    headers = ("id", "claim", "method", "measured error")

    def __init__(self, title: str, claims: Iterable[Claim], random_comparisons: int = 0):
        self.title = title
        self.rows = [(c.claim_id, c.what, c.method, c.error) for c in claims]
        self.random_comparisons = int(random_comparisons)

    @property
    def summary(self) -> str:
        """The closing line; the golden tests count the random comparisons in it."""
        return (
            f"{len(self.rows)} claims verified; "
            f"{self.random_comparisons} random comparisons (Monte Carlo or KS)"
        )

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
            for i, h in enumerate(self.headers)
        ]
        line = "  ".join(h.ljust(w) for h, w in zip(self.headers, widths))
        rule = "  ".join("-" * w for w in widths)
        body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in self.rows]
        return "\n".join([self.title, line, rule, *body, self.summary])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self.rows
        )
        caption = html.escape(f"{self.title}: {self.summary}")
        return (
            f'<table class="ledger"><caption>{caption}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )


def _require_text(name: str, value: object) -> str:
    """``value`` if it is a non-empty string, else a TypeError/ValueError naming ``name``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _require_finite(name: str, value: object, *, positive: bool = False,
                    nonnegative: bool = False) -> float:
    """``value`` as a float if it is a finite real number (and of the required sign)."""
    array = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if array is None or array.ndim != 0 or array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(array)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number!r}")
    if positive and not number > 0:
        raise ValueError(f"{name} must be positive, got {number!r}")
    if nonnegative and number < 0:
        raise ValueError(f"{name} must be >= 0, got {number!r}")
    return number


def _require_expression(name: str, value: object) -> sp.Basic:
    """``value`` as a SymPy object (numbers and expressions), else a TypeError naming it."""
    if value is None or isinstance(value, (str, bytes, bool)):
        raise TypeError(f"{name} must be a SymPy expression, got {type(value).__name__}")
    try:
        return sp.sympify(value)
    except (sp.SympifyError, TypeError, ValueError):
        raise TypeError(
            f"{name} must be a SymPy expression, got {type(value).__name__}"
        ) from None


def _require_callable(name: str, value: object) -> Callable[..., Any]:
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value


def _real_array(name: str, value: object) -> np.ndarray:
    """``value`` as a float array if it holds real numbers (booleans read as 0/1)."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}")
    try:
        raw = np.asarray(value)
    except (ValueError, TypeError):
        raise TypeError(f"{name} must be an array of real numbers") from None
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {raw.dtype}")
    return raw.astype(float)


def _level(alpha: object) -> float:
    """``alpha`` as a float in (0, 1), else a ValueError naming it."""
    level = _require_finite("alpha", alpha, positive=True)
    if not level < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {level!r}")
    return level


def _book_default(
    claim_id: str,
    name: str,
    value: float | None,
    reason: str | None,
    default: float,
    book_name: str,
    validate: Callable[[float], float],
) -> float:
    """The book's ``default`` for ``name``, or the caller's ``value`` with a reason."""
    if value is None:
        if reason is not None:
            raise ValueError(f"reason is only for a {name} other than the book's {book_name}")
        return default
    value = validate(value)
    if reason is None:
        raise ValueError(
            f"claim {claim_id}: {name}={value:g} replaces the book's {book_name} "
            f"({default:.3g}); give reason=..."
        )
    _require_text("reason", reason)
    return value


def _structurally_zero(expr: sp.Basic) -> bool:
    """True when ``expr`` is zero as built, before any simplification is tried."""
    if isinstance(expr, sp.MatrixBase):
        return all(entry == 0 for entry in expr)
    return expr == 0


def _is_zero(expr: sp.Expr) -> bool:
    """Decide whether a sympy expression is identically zero.

    Tries increasingly expensive normal forms; an expression that none of them
    reduces to zero is treated as non-zero (the check then fails loudly rather
    than passing silently).
    """
    expr = sp.sympify(expr)
    if isinstance(expr, sp.MatrixBase):
        return all(_is_zero(entry) for entry in expr)
    if expr == 0:
        return True
    for simplifier in (sp.simplify, sp.expand, sp.trigsimp, sp.gammasimp, sp.powsimp):
        try:
            if simplifier(expr) == 0:
                return True
        except (TypeError, NotImplementedError):  # a form that cannot apply here
            continue
    return sp.simplify(sp.expand_func(sp.combsimp(expr))) == 0


def _latex_text(text: str) -> str:
    r"""Text for ``\text{...}``: LaTeX specials escaped outside ``$...$`` math."""
    pieces = re.split(r"(\$[^$]*\$)", text)
    special = {"\\": r"\backslash ", "{": r"\{", "}": r"\}", "#": r"\#", "%": r"\%",
               "&": r"\&", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
    out = []
    for piece in pieces:
        if piece.startswith("$") and piece.endswith("$") and len(piece) > 1:
            out.append(piece)
        else:
            out.append("".join(special.get(ch, ch) for ch in piece))
    return "".join(out)


# -- derivation chains -----------------------------------------------------------
class _ChainPrinter(LatexPrinter):
    """LaTeX for chain lines, reading the way a derivation is written by hand.

    * A sum built unevaluated (``sp.Add(a, b, evaluate=False)``) keeps the order
      of its terms; SymPy's default would sort them (often reversing them).
    * ``O(...)`` is printed without its limit point (``O(1/n)``, not
      ``O(1/n; n \\to \\infty)``); the step's justification states the limit.
    * A truncated series (a sum with one ``O(...)`` term) is printed leading
      term first and the ``O(...)`` last.
    """

    def _print_Add(self, expr, order=None):
        orders = [term for term in expr.args if isinstance(term, sp.Order)]
        if len(orders) == 1 and len(orders[0].variables) == 1:
            # A truncated series: leading term first, the O-term last.
            big_o, variable = orders[0], orders[0].variables[0]
            at_infinity = orders[0].point[0] is sp.oo
            rest = sorted(
                (term for term in expr.args if term is not big_o),
                key=lambda term: term.as_coeff_exponent(variable)[1],
                reverse=at_infinity,
            )
            return super()._print_Add(sp.Add(*rest, big_o, evaluate=False), order="none")
        if expr.args != sp.Add(*expr.args).args:  # built unevaluated: keep its order
            order = "none"
        return super()._print_Add(expr, order=order)

    def _print_Order(self, expr):
        return r"O\left(%s\right)" % self._print(expr.expr)


def readable_latex(expr: sp.Basic) -> str:
    """LaTeX for a displayed formula, written the way a derivation is written by hand.

    As :func:`sympy.latex`, except that a sum built unevaluated
    (``sp.Add(a, b, evaluate=False)``) keeps the order of its terms and
    ``O(...)`` is printed without its limit point (say where the limit is in the
    text). Derivation chains render their lines with it.
    """
    return _ChainPrinter().doprint(sp.sympify(expr))


@dataclass(frozen=True)
class ChainStep:
    """One line of a derivation: the expression reached and how it was reached."""

    expression: sp.Expr
    justification: str
    kind: str  # "start", "symbolic" or "numeric"
    detail: str = ""
    relation: str = "="  # how this line relates to the previous one


class Chain:
    """A derivation as a sequence of named, individually checked steps.

    Made by :meth:`Ledger.chain`. Each :meth:`step` moves from the previous
    expression to a new one, by a SymPy operation (``via``), by the form the
    author states (``to``), or both; the new expression is checked to equal the
    previous one (after the substitutions ``where``, if the step changes
    variables), symbolically, or, where SymPy cannot decide it, numerically at
    stated points with 30 significant digits (and then labelled as numeric). A
    wrong step raises :class:`AssertionError` at that step. :meth:`conclude`
    records the chain as one ledger claim; :meth:`latex` renders it as the
    aligned display shown on the page.
    """

    #: Agreement required of a numeric step, relative to ``max(1, |value|)``.
    NUMERIC_TOLERANCE = 1e-15
    NUMERIC_DIGITS = 30
    #: Relations a step may state between the previous line and the new one.
    RELATIONS = {"=": "=", ">=": "\\ge", ">": ">", "<=": "\\le", "<": "<"}

    def __init__(
        self,
        ledger: "Ledger",
        name: str,
        lhs: sp.Basic,
        start: sp.Basic,
        justification: str = "definition",
        *,
        order: str | None = None,
    ):
        self._ledger = ledger
        self.name = _require_text("name", name)
        self.lhs = _require_expression("lhs", lhs)
        self.order = order
        self._steps: list[ChainStep] = [
            ChainStep(_require_expression("start", start),
                      _require_text("justification", justification), "start")
        ]
        self.concluded: str | None = None

    # -- inspection ------------------------------------------------------------
    @property
    def steps(self) -> tuple[ChainStep, ...]:
        """The lines of the chain, the starting expression first."""
        return tuple(self._steps)

    @property
    def expression(self) -> sp.Expr:
        """The expression the chain has reached."""
        return self._steps[-1].expression

    def counts(self) -> tuple[int, int]:
        """Numbers of symbolic and of numeric steps (the start is not a step)."""
        kinds = [s.kind for s in self._steps[1:]]
        return kinds.count("symbolic"), kinds.count("numeric")

    @property
    def relation(self) -> str:
        """How the left-hand side relates to the last line (``=``, ``>=``, ``>``...).

        Equalities compose with anything; ``>=`` and ``>`` compose to ``>``.
        """
        stated = {s.relation for s in self._steps[1:]} - {"="}
        if not stated:
            return "="
        direction = next(iter(stated))[0]
        strict = any(len(r) == 1 for r in stated)
        return direction if strict else direction + "="

    # -- building --------------------------------------------------------------
    def _fail(self, index: int, justification: str, message: str) -> None:
        raise AssertionError(
            f"chain {self.name}, step {index} ({justification}) failed: {message}"
        )

    @staticmethod
    def _prepared(expr: sp.Basic, where: Mapping[sp.Basic, sp.Basic] | None) -> sp.Basic:
        return sp.sympify(expr).subs(dict(where)) if where else sp.sympify(expr)

    def _symbolically_equal(self, first: sp.Basic, second: sp.Basic) -> bool:
        difference = first - second
        # Cheap first: carry out derivatives one level deep (the fundamental
        # theorem of calculus, say) without trying to evaluate the integrals
        # inside them, which SymPy can spend seconds failing to do.
        shallow = difference.replace(
            lambda e: isinstance(e, sp.Derivative), lambda e: e.doit(deep=False)
        )
        if sp.expand(shallow) == 0 or _is_zero(difference):
            return True
        done = difference.doit()
        return done != difference and _is_zero(done)

    @staticmethod
    def _sign_holds(difference: sp.Basic, relation: str) -> bool | None:
        """Whether ``difference`` (previous - new) has the sign ``relation`` needs.

        True or False when SymPy's assumptions decide it, None when they cannot.
        """
        expr = sp.simplify(difference)
        test = {
            ">=": expr.is_nonnegative,
            ">": expr.is_positive,
            "<=": expr.is_nonpositive,
            "<": expr.is_negative,
        }[relation]
        return test

    def _numerically_ordered(
        self,
        first: sp.Basic,
        second: sp.Basic,
        relation: str,
        points: Sequence[Mapping[sp.Symbol, object]],
    ) -> str | None:
        """None if ``first relation second`` at every point, else the miss."""
        for point in points:
            subs = {k: sp.nsimplify(v) if isinstance(v, float) else v for k, v in point.items()}
            try:
                a = self._evaluate(sp.sympify(first).subs(subs))
                b = self._evaluate(sp.sympify(second).subs(subs))
            except TypeError:
                return f"not a number at {point}"
            if a.imag or b.imag or not (np.isfinite(a.real) and np.isfinite(b.real)):
                return f"not a finite real number at {point}"
            a, b = a.real, b.real
            holds = {">=": a >= b, ">": a > b, "<=": a <= b, "<": a < b}[relation]
            if not holds:
                return f"{a:.6g} {relation} {b:.6g} fails at {point}"
        return None

    @classmethod
    def _evaluate(cls, expr: sp.Basic) -> complex:
        """A closed expression's value at :attr:`NUMERIC_DIGITS` digits.

        Integrals go to mpmath's tanh-sinh quadrature, which handles the
        integrable endpoint singularities of Beta-type integrals in milliseconds
        (``evalf`` takes seconds and loses digits on them).
        """
        if expr.has(sp.Integral):
            function = sp.lambdify([], expr, modules="mpmath")
            with mpmath.workdps(cls.NUMERIC_DIGITS):
                return complex(function())
        return complex(expr.evalf(cls.NUMERIC_DIGITS))

    def _numerically_equal(
        self,
        first: sp.Basic,
        second: sp.Basic,
        points: Sequence[Mapping[sp.Symbol, object]],
    ) -> str | None:
        """None if ``first == second`` at every point, else a description of the miss."""
        for point in points:
            subs = {k: sp.nsimplify(v) if isinstance(v, float) else v for k, v in point.items()}
            a = sp.sympify(first).subs(subs)
            b = sp.sympify(second).subs(subs)
            if a.free_symbols or b.free_symbols:
                return f"symbols {sorted(map(str, a.free_symbols | b.free_symbols))} left"
            try:
                a_c, b_c = self._evaluate(a), self._evaluate(b)
            except TypeError:
                return f"not a number at {point}"
            if not (np.isfinite(a_c) and np.isfinite(b_c)):
                return f"non-finite value at {point}"
            scale = max(1.0, abs(a_c))
            if abs(a_c - b_c) > self.NUMERIC_TOLERANCE * scale:
                return f"differs by {abs(a_c - b_c):.3e} at {point}"
        return None

    def step(
        self,
        justification: str,
        to: sp.Basic | None = None,
        *,
        via: Callable[[sp.Basic], sp.Basic] | None = None,
        where: Mapping[sp.Basic, sp.Basic] | None = None,
        numeric: Sequence[Mapping[sp.Symbol, object]] | None = None,
        relation: str = "=",
    ) -> None:
        """Move to a new expression and check it equals the previous one.

        An inequality step (``relation`` other than ``"="``) checks instead that
        the previous line stands in that relation to the new one.

        Parameters
        ----------
        justification : str
            Why the step holds, shown beside it ("substitute $u = \\sin^2\\theta$").
            Inline math in ``$...$`` is rendered.
        to : sympy expression, optional
            The form the step arrives at, as the author writes it.
        via : callable, optional
            A SymPy operation applied to the previous expression. With ``to`` as
            well, its result must equal ``to``; alone, its result is the new line.
        where : mapping, optional
            Substitutions (old symbol -> expression) that relate the two lines
            when the step changes variables; both sides are compared after them.
        numeric : sequence of mappings, optional
            Points (symbol -> value) at which the step is checked numerically
            instead of symbolically; for steps SymPy cannot decide in general.
            The step is then shown as checked numerically.
        relation : {"=", ">=", ">", "<=", "<"}
            previous ``relation`` new. An inequality is confirmed symbolically
            when SymPy's assumptions fix the sign of the difference (e.g. from
            ``positive=True`` symbols); otherwise it needs ``numeric`` points.
            A chain cannot mix ``>``-type and ``<``-type steps.
        """
        if self.concluded is not None:
            raise ValueError(f"chain {self.name} is already concluded as {self.concluded}")
        justification = _require_text("justification", justification)
        if to is None and via is None:
            raise ValueError("a step needs the new expression (to=...) or an operation (via=...)")
        if via is not None and not callable(via):
            raise TypeError("via must be callable (previous expression -> new expression)")
        if relation not in self.RELATIONS:
            raise ValueError(f"relation must be one of {sorted(self.RELATIONS)}, got {relation!r}")
        if relation != "=" and self.relation != "=" and self.relation[0] != relation[0]:
            raise ValueError(
                f"chain {self.name} already runs {self.relation!r}; a {relation!r} step "
                "would not compose"
            )
        index = len(self._steps)
        previous = self._steps[-1].expression
        new = _require_expression("to", to) if to is not None else sp.sympify(via(previous))
        if numeric is not None:
            points = list(numeric)
            if not points:
                raise ValueError("numeric needs at least one point")
        if to is not None and via is not None:
            produced = sp.sympify(via(previous))
            if numeric is None and not self._symbolically_equal(produced, new):
                self._fail(index, justification, f"the operation gives {produced}, not {new}")
            if numeric is not None:
                miss = self._numerically_equal(produced, new, points)
                if miss:
                    self._fail(index, justification, f"the operation's result {miss}")
        first = self._prepared(previous, where)
        second = self._prepared(new, where)
        if relation != "=":
            if numeric is None:
                decided = self._sign_holds(first - second, relation)
                if decided is not True:
                    why = "is false" if decided is False else "cannot be decided by SymPy"
                    self._fail(
                        index, justification,
                        f"{previous} {relation} {new} {why} (give numeric points?)",
                    )
                self._steps.append(ChainStep(new, justification, "symbolic", "", relation))
            else:
                miss = self._numerically_ordered(first, second, relation, points)
                if miss:
                    self._fail(index, justification, miss)
                detail = f"{len(points)} points, {self.NUMERIC_DIGITS} digits"
                self._steps.append(ChainStep(new, justification, "numeric", detail, relation))
            return
        if numeric is None:
            if not self._symbolically_equal(first, second):
                self._fail(index, justification, f"{previous} != {new}")
            self._steps.append(ChainStep(new, justification, "symbolic"))
        else:
            miss = self._numerically_equal(first, second, points)
            if miss:
                self._fail(index, justification, miss)
            detail = f"{len(points)} points, {self.NUMERIC_DIGITS} digits"
            self._steps.append(ChainStep(new, justification, "numeric", detail))

    def conclude(self, claim_id: str, what: str, equals: sp.Basic | None = None) -> None:
        """Record the chain as one ledger claim, optionally checking where it ends.

        ``equals`` is the stated result (the article's formula, or the one ``lib``
        implements); the chain's last expression must equal it symbolically.
        """
        if len(self._steps) < 2:
            raise ValueError(f"chain {self.name} has no steps to conclude")
        if equals is not None:
            equals = _require_expression("equals", equals)
        if equals is not None and not self._symbolically_equal(self.expression, equals):
            raise AssertionError(
                f"claim {claim_id} ({what}) failed: chain {self.name} ends at "
                f"{self.expression}, not {equals}"
            )
        symbolic, numeric = self.counts()
        method = f"derivation chain {self.name}: {symbolic} symbolic step(s)"
        if numeric:
            details = sorted({s.detail for s in self._steps if s.kind == "numeric"})
            method += f", {numeric} checked numerically ({'; '.join(details)})"
        if self.relation != "=":
            method += f"; concludes lhs {self.relation} end"
        self._ledger._check_new(claim_id, what)
        self._ledger._claims.append(
            Claim(claim_id, what, method, "exact" if not numeric else "numeric steps", "sympy")
        )
        self.concluded = claim_id

    # -- rendering -------------------------------------------------------------
    def _expr_latex(self, expr: sp.Basic) -> str:
        settings = {"order": self.order} if self.order else {}
        return _ChainPrinter(settings).doprint(expr)

    def latex(self) -> str:
        r"""The chain as one ``aligned`` display, a justification beside each line."""
        lines = []
        for i, step in enumerate(self._steps):
            left = self._expr_latex(self.lhs) if i == 0 else ""
            note = step.justification
            if step.kind == "numeric":
                note += " (checked numerically)"  # the points are in the ledger
            symbol = self.RELATIONS[step.relation]
            lines.append(
                f"{left} &{symbol} {self._expr_latex(step.expression)} "
                f"&& \\text{{{_latex_text(note)}}}"
            )
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def glue(self, key: str) -> None:
        """Glue the rendered chain under ``key`` for ``{glue:math}`` in the prose."""
        from IPython.display import Math
        from myst_nb import glue

        glue(_require_text("key", key), Math(self.latex()), display=False)




class Ledger:
    """The claims a chapter verifies, in the order it verifies them.

    Parameters
    ----------
    chapter : str
        Title used on the table, e.g. ``"Chapter 1: random angles"``.

    Examples
    --------
    >>> import sympy as sp
    >>> ledger = Ledger("demo")
    >>> x = sp.symbols("x")
    >>> ledger.symbolic("d-1", "d/dx x^2 = 2x", sp.diff(x**2, x), 2 * x, derived_by="diff")
    >>> len(ledger.table())
    1
    """

    def __init__(self, chapter: str):
        if not isinstance(chapter, str) or not chapter:
            raise ValueError("chapter must be a non-empty string")
        self.chapter = chapter
        self._claims: list[Claim] = []
        self._chains: list[Chain] = []
        self._random_comparisons = 0

    # -- bookkeeping --------------------------------------------------------
    def _record(
        self, claim_id: str, what: str, method: str, error: float | None, evidence: str
    ) -> None:
        self._claims.append(
            Claim(claim_id, what, method, format_error(error), evidence, error)
        )

    def _check_new(self, claim_id: str, what: str) -> None:
        if not isinstance(claim_id, str) or not claim_id:
            raise ValueError("claim_id must be a non-empty string")
        if not isinstance(what, str) or not what:
            raise ValueError("what must be a non-empty string describing the claim")
        if any(c.claim_id == claim_id for c in self._claims):
            raise ValueError(f"claim {claim_id!r} is already in the ledger")

    @property
    def claims(self) -> tuple[Claim, ...]:
        """The recorded claims, oldest first."""
        return tuple(self._claims)

    @property
    def random_comparisons(self) -> int:
        """How many comparisons made so far can fail by chance (Monte Carlo or KS).

        Each uses the book's per-claim level :data:`PER_CLAIM_ALPHA` (or states a
        reason for another); the whole book may make at most
        :data:`RANDOM_CLAIMS_CAP` of them.
        """
        return self._random_comparisons

    def chain(
        self,
        name: str,
        lhs: sp.Basic,
        start: sp.Basic,
        justification: str = "definition",
        *,
        order: str | None = None,
    ) -> Chain:
        """Start a derivation chain at ``lhs = start`` (see :class:`Chain`).

        ``order`` is passed to :func:`sympy.latex` (e.g. ``"none"`` keeps the
        order in which terms were built instead of SymPy's reversed default).
        """
        name = _require_text("name", name)
        if any(c.name == name for c in self._chains):
            raise ValueError(f"chain {name!r} already exists")
        chain = Chain(self, name, lhs, start, justification, order=order)
        self._chains.append(chain)
        return chain


    @property
    def chains(self) -> tuple[Chain, ...]:
        """The derivation chains started in this ledger, oldest first."""
        return tuple(self._chains)

    def chain_step_counts(self) -> tuple[int, int]:
        """Symbolic and numeric steps over all chains, for the verification page."""
        counts = [chain.counts() for chain in self._chains]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    def evidence_counts(self) -> dict[str, int]:
        """Number of claims of each kind of evidence, keyed as :data:`EVIDENCE_KINDS`."""
        counts = dict.fromkeys(EVIDENCE_KINDS, 0)
        for claim in self._claims:
            counts[claim.evidence] += 1
        return counts

    def table(self) -> LedgerTable:
        """The "Verified in this chapter" table (text and HTML representations)."""
        return LedgerTable(
            f"Verified in this chapter: {self.chapter}", self._claims, self._random_comparisons
        )

    def summary(self) -> str:
        """One line for the book's verification page, e.g. ``"12 of 12 passed"``.

        Only claims that passed are recorded (a failing check raises), so the
        two numbers agree whenever the chapter executed to its end.
        """
        n = len(self._claims)
        return f"{n} of {n} passed"

    # -- checks -------------------------------------------------------------
    def symbolic(
        self,
        claim_id: str,
        what: str,
        lhs: sp.Expr,
        rhs: sp.Expr = sp.Integer(0),
        *,
        derived_by: str | None = None,
        by_construction: bool = False,
    ) -> None:
        """Check ``lhs == rhs`` exactly: sympy reduces ``lhs - rhs`` to zero.

        ``lhs`` and ``rhs`` may be matrices (checked entry by entry), so several
        cases of one claim can be proved in a single check.

        SymPy evaluates as it builds, so the difference is often zero before any
        check runs: that is sound when one side came out of SymPy operations on the
        definitions (``integrate``, ``solve``, ``series``...) and is in standard
        form, and a tautology when both sides were typed the same way. Such a claim
        must therefore say which: ``derived_by`` names the SymPy operations that
        produced ``lhs`` from the definitions (the row shows "sympy: ..."), or
        ``by_construction=True`` records an equality that holds by definition (the
        row says so). Without either it is refused with :class:`ValueError`, as is
        the same Python object on both sides unless ``derived_by`` explains it (SymPy's
        cache returns the typed object itself when a derivation lands exactly on
        it).
        """
        self._check_new(claim_id, what)
        if not isinstance(by_construction, bool):
            raise TypeError("by_construction must be True or False")
        if derived_by is not None:
            derived_by = _require_text("derived_by", derived_by)
            if by_construction:
                raise ValueError("give derived_by or by_construction=True, not both")
        left, right = _require_expression("lhs", lhs), _require_expression("rhs", rhs)
        # The same object on both sides compares a value with itself. SymPy's cache
        # also returns one object when a derived side comes out exactly as typed
        # (integrate(exp(-x t), (x, 0, oo)) is the very object 1/t), so only a claim
        # that names the operations deriving lhs may have it.
        if lhs is rhs and derived_by is None and not isinstance(left, sp.Number):
            raise ValueError(
                f"claim {claim_id}: lhs and rhs are the same object; the claim compares "
                "a value with itself (if SymPy derived lhs and its cache returned the "
                "typed object, say how with derived_by)"
            )
        difference = left - right
        as_built = _structurally_zero(difference)
        if as_built and derived_by is None and not by_construction:
            raise ValueError(
                f"claim {claim_id}: lhs - rhs is already 0 as built, before any check: "
                "say how lhs was obtained (derived_by='integrate, simplify') or that the "
                "equality holds by definition (by_construction=True)"
            )
        if by_construction and not as_built:
            raise ValueError(
                f"claim {claim_id}: by_construction=True but the sides differ as built; "
                "the check is then a simplification (use derived_by or neither)"
            )
        if not _is_zero(difference):
            raise AssertionError(
                f"claim {claim_id} ({what}) failed: lhs - rhs = {sp.simplify(difference)}"
            )
        if by_construction:
            method, evidence = "by construction: the sides are equal as defined", "construction"
        elif derived_by is not None and as_built:
            method, evidence = f"sympy: {derived_by}", "sympy"
        elif derived_by is not None:
            method, evidence = f"sympy: {derived_by}; difference simplifies to 0", "sympy"
        else:
            method, evidence = "sympy: difference simplifies to 0", "sympy"
        self._record(claim_id, what, method, None, evidence)

    def close(
        self,
        claim_id: str,
        what: str,
        value: object,
        expected: object,
        *,
        rtol: float,
        atol: float = 0.0,
        reference: str,
        same_code_path: bool = False,
        reason: str | None = None,
    ) -> None:
        """Check ``|value - expected| <= atol + rtol * |expected|`` elementwise.

        ``reference`` names how ``expected`` was computed ("mpmath, 30 digits",
        "scipy quad", "POT ot.emd2"); it is the row's method. ``same_code_path=True``
        says that computation runs the same code as the ``lib`` function under test
        (the same SciPy routine it calls, say), so it cannot catch a bug there; the
        row says "same code path". A ``value`` bitwise identical to ``expected`` is
        shown as "identical values" unless ``reason`` says why that still checks
        something.

        ``rtol`` and ``atol`` must be finite, non-negative and not both zero. A
        loose check (``rtol >= LOOSE_TOLERANCE``, or ``atol`` at least
        ``LOOSE_TOLERANCE`` times the largest ``|expected|`` when that is non-zero)
        is refused unless ``reason`` says why it is still meaningful; the reason is
        shown in the row. ``expected`` must be finite; a non-finite ``value`` fails
        the claim. The measured error is the largest relative error (absolute
        where ``expected`` is 0).
        """
        self._check_new(claim_id, what)
        method = _require_text("reference", reference)
        if not isinstance(same_code_path, bool):
            raise TypeError("same_code_path must be True or False")
        rtol = _require_finite("rtol", rtol, nonnegative=True)
        atol = _require_finite("atol", atol, nonnegative=True)
        if rtol == 0 and atol == 0:
            raise ValueError("rtol and atol are both 0: at least one must be positive")
        evidence = "reference"
        if same_code_path:
            method, evidence = f"{method}; same code path as lib", "same_code"
        if reason is not None:
            method = f"{method}; because {_require_text('reason', reason)}"
        got = _real_array("value", value)
        want = _real_array("expected", expected)
        if got.shape != want.shape and got.size != 1 and want.size != 1:
            raise ValueError(f"value and expected shapes differ: {got.shape} vs {want.shape}")
        if not np.all(np.isfinite(want)):
            raise ValueError(f"expected must be finite (claim {claim_id})")
        magnitude = float(np.max(np.abs(want))) if want.size else 0.0
        loose = rtol >= LOOSE_TOLERANCE or (magnitude > 0 and atol >= LOOSE_TOLERANCE * magnitude)
        if loose and reason is None:
            raise ValueError(
                f"claim {claim_id}: rtol={rtol:g}, atol={atol:g} against |expected| up to "
                f"{magnitude:.3g} lets almost anything pass; tighten it or give reason=..."
            )
        if not np.all(np.isfinite(got)):
            raise AssertionError(f"claim {claim_id} ({what}) failed: non-finite values")
        deviation = np.abs(got - want)
        ok = deviation <= atol + rtol * np.abs(want)
        scale = np.where(want != 0, np.abs(want), 1.0)
        error = float(np.max(deviation / scale))
        if not np.all(ok):
            raise AssertionError(
                f"claim {claim_id} ({what}) failed: max relative error {error:.3e} "
                f"exceeds rtol={rtol:g}, atol={atol:g}"
            )
        if reason is None and got.shape == want.shape and np.array_equal(got, want):
            method, evidence = f"{method}; identical values", "identical"
        self._record(claim_id, what, method, error, evidence)

    def monte_carlo(
        self,
        claim_id: str,
        what: str,
        estimate: float,
        expected: float,
        standard_error: float,
        *,
        k: float | None = None,
        reason: str | None = None,
        method: str = "Monte Carlo",
    ) -> None:
        """Check a Monte Carlo estimate lies within ``k`` standard errors of ``expected``.

        The band is not chosen per claim: by default ``k`` is :data:`MONTE_CARLO_K`,
        which follows from the book's :data:`FALSE_ALARM_BUDGET`. Another ``k`` needs
        a ``reason`` (shown in the row). ``standard_error`` must be the standard
        error of ``estimate`` (positive and finite). The row shows the deviation in
        standard errors and the resolution ``k * SE / |expected|`` (``k * SE`` when
        ``expected`` is 0): a bias of that size could pass unseen, so it is what
        the check can detect. The measured quantity is ``|estimate - expected| / SE``.
        """
        self._check_new(claim_id, what)
        method = _require_text("method", method)
        estimate = _require_finite("estimate", estimate)
        expected = _require_finite("expected", expected)
        standard_error = _require_finite("standard_error", standard_error, positive=True)
        k = _book_default(claim_id, "k", k, reason, MONTE_CARLO_K, "MONTE_CARLO_K",
                          lambda v: _require_finite("k", v, positive=True))
        if reason is not None:
            method = f"{method}; k because {reason}"
        z = abs(estimate - expected) / standard_error
        if not z <= k:
            raise AssertionError(
                f"claim {claim_id} ({what}) failed: estimate {estimate:.6g} is "
                f"{z:.2f} standard errors from {expected:.6g} (allowed {k:.2f})"
            )
        if expected != 0:
            resolution = f"resolves {k * standard_error / abs(expected):.0e} rel."
        else:
            resolution = f"resolves {k * standard_error:.0e} abs."
        # Two decimals: a deviation printed as "0.0 SE" would read like a value
        # compared with itself.
        self._claims.append(
            Claim(claim_id, what, f"{method}, |z| <= {k:.2f}", f"{z:.2f} SE; {resolution}",
                  "random", z)
        )
        self._random_comparisons += 1

    def ks_test(
        self,
        claim_id: str,
        what: str,
        samples: np.ndarray,
        cdf: Callable[[np.ndarray], np.ndarray],
        *,
        alpha: float | None = None,
        reason: str | None = None,
        method: str = "Kolmogorov-Smirnov",
    ) -> None:
        """Check samples against a CDF: KS statistic below the level-``alpha`` critical value.

        By default ``alpha`` is :data:`PER_CLAIM_ALPHA`, the book's false-alarm
        budget shared over its random claims; another ``alpha`` needs a ``reason``
        (shown in the row). The critical value is the exact one of
        ``scipy.stats.kstwo``. The measured quantity is the KS statistic; the table shows statistic /
        critical value, and the critical value itself as the resolution: a CDF
        that is off by less than that everywhere can pass.
        """
        self._check_new(claim_id, what)
        method = _require_text("method", method)
        samples = _real_array("samples", samples)
        cdf = _require_callable("cdf", cdf)
        if samples.ndim != 1 or samples.size < 2:
            raise ValueError("samples must be a 1-d array with at least 2 values")
        if not np.all(np.isfinite(samples)):
            raise ValueError("samples must be finite")
        alpha = _book_default(claim_id, "alpha", alpha, reason, PER_CLAIM_ALPHA,
                              "PER_CLAIM_ALPHA", _level)
        if reason is not None:
            method = f"{method}; alpha because {reason}"
        statistic = float(stats.kstest(samples, cdf).statistic)
        critical = float(stats.kstwo.isf(alpha, samples.size))
        if not statistic <= critical:
            raise AssertionError(
                f"claim {claim_id} ({what}) failed: KS statistic {statistic:.4g} exceeds "
                f"the alpha={alpha:g} critical value {critical:.4g} (n={samples.size})"
            )
        ratio = statistic / critical
        self._claims.append(
            Claim(claim_id, what, f"{method}, alpha={alpha:.0e}",
                  f"D/D_crit={ratio:.2f}; resolves {critical:.0e}", "random", statistic)
        )
        self._random_comparisons += 1

    def gradient(
        self,
        claim_id: str,
        what: str,
        f: Callable[[np.ndarray], float],
        x: np.ndarray,
        gradient: object,
        *,
        step: float = 1e-4,
    ) -> None:
        """Check an analytic gradient of scalar ``f`` at ``x`` against central differences.

        The tolerance follows from the method, not the result: central differences
        err by O(h^2), so the estimate at ``h/2`` errs by about a third of
        ``|D(h) - D(h/2)|``; four times that difference is allowed, plus a rounding
        floor of ``10 eps max(|f(x)|, 1) / (h/2)``.
        The measured error is the largest deviation from the ``h/2`` estimate.
        """
        step = _require_finite("step", step, positive=True)
        fine = central_difference_gradient(f, x, step / 2)
        coarse = central_difference_gradient(f, x, step)
        analytic = _real_array("gradient", gradient)
        if analytic.size != fine.size:
            raise ValueError(
                f"gradient has {analytic.size} entries but x has {fine.size}: "
                "one partial derivative per entry of x"
            )
        rounding = 10 * np.finfo(float).eps * max(abs(float(f(np.asarray(x, dtype=float)))), 1.0)
        tolerance = 4 * float(np.max(np.abs(fine - coarse))) + rounding / (step / 2)
        self.close(
            claim_id, what, np.reshape(analytic, fine.shape), fine,
            rtol=0.0, atol=tolerance,
            reference=f"central differences, h={step:g} and h/2; tol 4|D(h) - D(h/2)| + rounding",
        )

    def holds(
        self,
        claim_id: str,
        what: str,
        condition: bool | np.ndarray,
        *,
        method: str,
        margin: float | None = None,
        random: int = 0,
    ) -> None:
        """Check a condition that is not an equality (an inequality on a grid, a sign...).

        ``condition`` may be an array: every element must be true. ``margin`` is an
        optional measured quantity shown in the table (e.g. the smallest slack).
        ``random`` is the number of comparisons in ``condition`` that can fail by
        chance (an estimate against a band of :data:`MONTE_CARLO_K` standard errors,
        a KS statistic against its level-:data:`PER_CLAIM_ALPHA` critical value);
        they count toward the book's :data:`RANDOM_CLAIMS_CAP`.
        """
        self._check_new(claim_id, what)
        method = _require_text("method", method)
        if isinstance(random, bool) or not isinstance(random, (int, np.integer)) or random < 0:
            raise ValueError(f"random must be a non-negative integer, got {random!r}")
        if margin is not None:
            margin = _require_finite("margin", margin)
        cond = np.asarray(condition)
        if cond.dtype != bool:
            raise ValueError("condition must be boolean (or a boolean array)")
        if cond.size == 0:
            raise ValueError("condition is empty: nothing was checked")
        if not bool(np.all(cond)):
            failures = int(np.size(cond) - np.count_nonzero(cond))
            raise AssertionError(
                f"claim {claim_id} ({what}) failed at {failures} of {cond.size} points"
            )
        shown = "holds" if margin is None else f"margin {format_error(abs(margin))}"
        evidence = "random" if random else "condition"
        measured = None if margin is None else float(margin)
        self._claims.append(Claim(claim_id, what, method, shown, evidence, measured))
        self._random_comparisons += int(random)
