"""High-precision references shared by several test modules."""

from __future__ import annotations

import mpmath


def tanh_correlation_slope(q: float = 1.0) -> float:
    """d/dc of the tanh mean-field correlation map at c = 0, to 30 digits.

    Mehler's expansion gives ``E[tanh(s z) z]**2 / E[tanh(s z)**2]`` with ``s = sqrt(q)``
    (unit gain); the next term is of order ``c**3``.
    """
    with mpmath.workdps(30):
        s = mpmath.sqrt(q)
        density = lambda z: mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
        line = [-mpmath.inf, 0, mpmath.inf]
        first = mpmath.quad(lambda z: mpmath.tanh(s * z) * z * density(z), line)
        second = mpmath.quad(lambda z: mpmath.tanh(s * z) ** 2 * density(z), line)
        return float(first**2 / second)
