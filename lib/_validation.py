"""Input validation shared by every ``lib`` module.

Each public function in ``lib`` rejects bad input with a ``ValueError`` that names
the argument and says what was wrong; these helpers give those messages one
wording across the package.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MAX_SIZE", "finite_array", "flag", "generator", "positive_int", "real"]

#: Largest number of values any ``lib`` function draws or allocates for one size or
#: count argument: 10**8 float64 values are 800 MB, more than any use in the book
#: needs by a factor of 100, so a larger request is a slip (``10**12`` would ask for
#: 7 TiB) and is refused with a message instead of a MemoryError.
MAX_SIZE = 100_000_000


def finite_array(
    value: ArrayLike,
    name: str,
    ndim: int | tuple[int, ...] | None = None,
    *,
    booleans: bool = True,
) -> NDArray[np.float64]:
    """Return ``value`` as a new float64 array of real, finite numbers.

    Parameters
    ----------
    value : array_like
        Booleans (read as 0 and 1, e.g. indicators), integers or floats.
        Strings, complex numbers, objects and ragged sequences are rejected
        rather than silently cast.
    name : str
        The argument's name, used in error messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    booleans : bool, default True
        Whether booleans are read as 0 and 1; ``False`` refuses them (for
        arguments where a boolean array can only be a mistake, e.g. a Gram matrix).

    Raises
    ------
    ValueError
        If the dtype is not real, the number of dimensions is not allowed, or an
        entry is NaN or infinite.
    """
    try:
        raw = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested sequences
        raise ValueError(f"{name} must be an array of real numbers") from exc
    # Kinds b, i, u, f: booleans, signed and unsigned integers, floats.
    if raw.dtype.kind not in ("biuf" if booleans else "iuf"):
        raise ValueError(f"{name} must contain real numbers, got dtype {raw.dtype}")
    array = raw.astype(np.float64, copy=True)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                f"got shape {array.shape}"
            )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite: it contains NaN or +-inf")
    return array


def flag(value: object, name: str) -> bool:
    """Return ``value`` as a bool; only Python or NumPy ``True``/``False`` are accepted.

    Truthiness would read ``normalize="no"`` as true: strings, numbers and ``None`` are
    refused instead.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def positive_int(
    value: object, name: str, *, minimum: int = 1, maximum: int | None = None
) -> int:
    """Return ``value`` as a Python int in ``[minimum, maximum]``.

    Python and NumPy integers are accepted; ``bool`` (an ``int`` subclass, but
    always a mistake here) and floats, even integral ones like ``3.0``, are not.
    ``maximum`` bounds loop counts, so that a slip like ``10**12`` is refused
    instead of running for days.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value!r} "
            f"of type {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value}")
    return int(value)


def real(
    value: object,
    name: str,
    *,
    positive: bool = False,
    nonnegative: bool = False,
) -> float:
    """Return a real scalar as a finite Python float, or raise naming ``name``.

    Python and NumPy integers and floats (and 0-d arrays of them) are accepted;
    ``bool``, strings, complex numbers, ``None`` and arrays with more than one entry
    are refused rather than converted by ``float()``.
    """
    ok = isinstance(value, (int, float, np.integer, np.floating)) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"
    )
    if not ok or isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"{name} must be a real number, got {value!r} of type {type(value).__name__}"
        )
    number = float(value)  # type: ignore[arg-type]
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number!r}")
    if positive and not number > 0:
        raise ValueError(f"{name} must be > 0, got {number!r}")
    if nonnegative and not number >= 0:
        raise ValueError(f"{name} must be >= 0, got {number!r}")
    return number


def generator(rng: object, name: str = "rng") -> np.random.Generator:
    """Return ``rng`` if it is a ``numpy.random.Generator``; raise otherwise.

    Seeds and the legacy ``RandomState`` are refused so that every random draw in
    the book comes from an explicitly seeded, modern generator.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"{name} must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng
