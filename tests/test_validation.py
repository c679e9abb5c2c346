"""Tests for lib._validation, the input checks every lib module shares."""

from __future__ import annotations

import numpy as np
import pytest

from lib._validation import finite_array, flag, generator, positive_int


def test_finite_array_converts_and_copies() -> None:
    source = np.arange(3)
    result = finite_array(source, "x")
    assert result.dtype == np.float64
    result[0] = 99.0
    assert source[0] == 0, "the input must never be modified through the result"


@pytest.mark.parametrize(
    "bad",
    [[np.nan], [np.inf], [1.0, -np.inf], ["1"], [1 + 2j], [[1.0], [1.0, 2.0]]],
)
def test_finite_array_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="x must"):
        finite_array(bad, "x")


def test_finite_array_reads_booleans_as_indicators() -> None:
    assert finite_array([True, False], "x").tolist() == [1.0, 0.0]


def test_finite_array_checks_dimensions() -> None:
    assert finite_array([[1.0]], "m", ndim=(1, 2)).shape == (1, 1)
    with pytest.raises(ValueError, match="m must have 1 dimensions"):
        finite_array([[1.0]], "m", ndim=1)


@pytest.mark.parametrize("good", [1, 7, np.int64(3), np.uint8(2)])
def test_positive_int_accepts_integers(good: object) -> None:
    assert positive_int(good, "k") == int(good)  # type: ignore[call-overload]
    assert type(positive_int(good, "k")) is int


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, np.float64(2), "2", None])
def test_positive_int_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        positive_int(bad, "k")


def test_positive_int_minimum() -> None:
    assert positive_int(2, "n", minimum=2) == 2
    with pytest.raises(ValueError, match=">= 2"):
        positive_int(1, "n", minimum=2)


def test_generator() -> None:
    rng = np.random.default_rng(0)
    assert generator(rng) is rng
    for bad in (0, np.random.RandomState(0), None):
        with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
            generator(bad)


def test_positive_int_maximum_bounds_loop_counts() -> None:
    assert positive_int(10, "iters", maximum=10) == 10
    with pytest.raises(ValueError, match="iters must be an integer <= 10"):
        positive_int(10**12, "iters", maximum=10)


@pytest.mark.parametrize("good", [True, False, np.bool_(True)])
def test_flag_accepts_booleans(good: object) -> None:
    assert flag(good, "normalize") is bool(good)


@pytest.mark.parametrize("bad", ["yes", "", 1, 0, None, 1.0])
def test_flag_refuses_truthiness(bad: object) -> None:
    with pytest.raises(ValueError, match="normalize must be True or False"):
        flag(bad, "normalize")


def test_a_relative_tolerance_has_no_hidden_absolute_floor():
    # tests/conftest.py: pytest.approx(x, rel=r) compares relatively only in this suite
    assert 0.0 != pytest.approx(1.7e-15, rel=1e-6)
    assert 1.7e-15 * (1 + 1e-7) == pytest.approx(1.7e-15, rel=1e-6)
    assert 0.0 == pytest.approx(1e-13, abs=1e-12)
