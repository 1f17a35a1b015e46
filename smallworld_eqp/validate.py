"""Checks of public arguments: one clear error for every bad value.

A value of the wrong type raises :class:`TypeError` naming the argument and the type
it got; a value of the right type that is not allowed raises :class:`ValueError`
naming the value and what is allowed. Every value is checked once, by the function
or class that owns it; the command-line interfaces pass these messages through.

Examples
--------
>>> check_int("n_free", 500, low=1)
500
>>> check_int("n_free", -3, low=1)
Traceback (most recent call last):
...
ValueError: n_free must be a positive integer, got -3
>>> check_real("eps", 0.5, "(0, inf)")
0.5
>>> check_real("p", 1.5, "[0, 1]")
Traceback (most recent call last):
...
ValueError: p must lie in [0, 1], got 1.5
>>> check_real("eps", "a", "(0, inf)")
Traceback (most recent call last):
...
TypeError: eps must be a real number, got 'a' (str)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _shown(value: Any) -> str:
    """``repr(value)``, but a huge exact number (an int or Fraction of dozens of digits
    or more, whose repr may even be refused) as its order of magnitude."""
    if isinstance(value, numbers.Rational) and abs(value) >= 10**30:
        log = math.log10(abs(value.numerator)) - math.log10(value.denominator)
        exponent = math.floor(log)
        sign = "-" if value < 0 else ""
        return f"about {sign}{10 ** (log - exponent):.3g}e+{exponent} ({type(value).__name__})"
    return repr(value)


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, within ``[low, high]`` (either end optional).

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a bool or a float is not one).
    ValueError
        If it lies outside ``[low, high]``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_got(value)}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        if high is None and low == 1:
            allowed = "a positive integer"
        elif high is None and low == 0:
            allowed = "a non-negative integer"
        elif high is None:
            allowed = f"an integer >= {low}"
        elif low is None:
            allowed = f"an integer <= {high}"
        else:
            allowed = f"an integer in [{low}, {high}]"
        raise ValueError(f"{name} must be {allowed}, got {_shown(value)}")
    return v


def _parse_interval(interval: str) -> tuple[float, float, bool, bool]:
    left, right = interval[0], interval[-1]
    lo, hi = (float(t) for t in interval[1:-1].split(","))
    return lo, hi, left == "[", right == "]"


def check_real(name: str, value: Any, interval: str = "(-inf, inf)") -> float:
    """``value`` as a float in ``interval``, written like ``"(0, inf)"`` or ``"[0, 1]"``.

    NaN is never allowed, infinity only where the interval includes it (it never
    does: write ``inf`` as an open end). An int or Fraction beyond the floats
    (``10**400``) counts as infinite.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (a bool is not one).
    ValueError
        If it is NaN or outside ``interval``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_got(value)}")
    try:
        v = float(value)
    except OverflowError:  # an int or Fraction beyond the floats, like 10**400: refused below
        v = math.inf if value > 0 else -math.inf
    lo, hi, lo_closed, hi_closed = _parse_interval(interval)
    inside = (v > lo or (lo_closed and v == lo)) and (v < hi or (hi_closed and v == hi))
    if math.isnan(v) or not inside:
        if math.isinf(hi) and not math.isinf(lo):
            allowed = f"finite and {'>=' if lo_closed else '>'} {lo:g}"
        elif math.isinf(lo) and math.isinf(hi):
            allowed = "finite"
        else:
            allowed = f"lie in {interval}"
        verb = "" if allowed.startswith("lie") else "be "
        raise ValueError(f"{name} must {verb}{allowed}, got {_shown(value)}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool; only ``True``/``False`` (numpy's too) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_got(value)}")
    return bool(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {', '.join(choices)}, got {_got(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_random_state(seed: Any, name: str = "seed") -> np.random.Generator:
    """A :class:`numpy.random.Generator` from ``None``, a non-negative int or a Generator
    (returned as is, so its stream goes on)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(check_int(name, seed, low=0))
