"""Checks of public arguments: one clear error for every bad value.

A value of the wrong type raises :class:`TypeError` naming the argument and the type
it got; a value of the right type that is not allowed raises :class:`ValueError`
naming the value and what is allowed. Every value is checked once, by the function
or class that owns it; the command-line interfaces pass these messages through.

A setting declares the values it allows where it is declared, as one of the
constraints below (:class:`Interval`, :class:`Choices`, :class:`Nullable`, ...;
``settings.setting(..., allowed=...)``): the one check of that setting, for the API,
the command lines and the specs (:func:`smallworld_eqp.settings.check_declared`).

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
from collections.abc import Mapping, Sequence
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


# --- declared constraints --------------------------------------------------------------
#
# A setting declares the values it allows where it is declared
# (``settings.setting(..., allowed=...)``), scikit-learn ``_parameter_constraints``
# style; one call, ``constraint(name, value)``, checks a value and returns it as it is
# stored (an int as int, a number as float, a list as a tuple), with the messages of
# the check_ functions above.


class Constraint:
    """What a setting allows: ``constraint(name, value)`` returns the value as stored,
    or raises a one-line TypeError or ValueError naming ``name`` and ``value``."""

    def __call__(self, name: str, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _end(x: float | None, inf: str) -> str:
    return inf if x is None else f"{x:g}"


class Interval(Constraint):
    """A number of ``kind`` (int or float) within ``[low, high]`` (None: no end).

    ``closed`` (floats only): which finite ends belong to the interval, ``"both"``,
    ``"left"``, ``"right"`` or ``"neither"``; an infinite end never does (NaN and
    infinity are refused, :func:`check_real`). Ints are checked by :func:`check_int`.

    Examples
    --------
    >>> Interval(int, 1, None)("epochs", 3)
    3
    >>> Interval(float, 0, 1, closed="both")("p", 1.5)
    Traceback (most recent call last):
    ...
    ValueError: p must lie in [0, 1], got 1.5
    """

    def __init__(
        self, kind: type, low: float | None = None, high: float | None = None, *, closed: str = "both"
    ):
        if kind not in (int, float):
            raise TypeError(f"an Interval is of int or float, got {kind!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be one of both, left, right, neither, got {closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    @property
    def text(self) -> str:
        """The interval as :func:`check_real` reads it, like ``"(0, inf)"``."""
        left = "[" if self.low is not None and self.closed in ("both", "left") else "("
        right = "]" if self.high is not None and self.closed in ("both", "right") else ")"
        return f"{left}{_end(self.low, '-inf')}, {_end(self.high, 'inf')}{right}"

    def __call__(self, name: str, value: Any) -> Any:
        if self.kind is int:
            return check_int(name, value, low=self.low, high=self.high)
        return check_real(name, value, self.text)


class NonZero(Constraint):
    """A finite real number other than 0."""

    def __call__(self, name: str, value: Any) -> float:
        v = check_real(name, value)
        if v == 0:
            raise ValueError(f"{name} must be non-zero, got 0")
        return v


class Boolean(Constraint):
    """``True`` or ``False`` (numpy's too), stored as a bool (:func:`check_bool`)."""

    def __call__(self, name: str, value: Any) -> bool:
        return check_bool(name, value)


class Choices(Constraint):
    """One of the strings ``choices`` (:func:`check_choice`), or of the keys of a
    registry, read when checking: ``Choices(DESIGNS)`` for a dict ``DESIGNS``.

    Examples
    --------
    >>> Choices("euler", "coordinate")("solver", "newton")
    Traceback (most recent call last):
    ...
    ValueError: solver must be one of euler, coordinate, got 'newton'
    """

    def __init__(self, *choices: str | Mapping[str, Any]):
        if len(choices) == 1 and isinstance(choices[0], Mapping):
            self._registry: Mapping[str, Any] | tuple[str, ...] = choices[0]
        else:
            self._registry = tuple(choices)

    def __repr__(self) -> str:
        return f"Choices{self.choices!r}"

    @property
    def choices(self) -> tuple[str, ...]:
        """The allowed strings, now."""
        return tuple(self._registry)

    def __call__(self, name: str, value: Any) -> str:
        return check_choice(name, value, self.choices)


class Text(Constraint):
    """Any string."""

    def __call__(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {value!r}")
        return value


class Nullable(Constraint):
    """None, or a value ``inner`` allows."""

    def __init__(self, inner: Constraint):
        self.inner = inner

    def __call__(self, name: str, value: Any) -> Any:
        return None if value is None else self.inner(name, value)


class NumberOr(Constraint):
    """A number ``inner`` allows, or the word ``word``; ``what`` says which numbers
    (``"a number >= 0"``) in the message refusing another word."""

    def __init__(self, inner: Interval, word: str, what: str):
        self.inner, self.word, self.what = inner, word, what

    def __call__(self, name: str, value: Any) -> Any:
        if isinstance(value, str):
            if value != self.word:
                raise ValueError(f"{name} must be {self.what} or {self.word!r}, got {value!r}")
            return value
        return self.inner(name, value)


class OneOrPerItem(Constraint):
    """One value ``item`` allows, or a non-empty sequence of them (a tuple; item ``i``
    named ``name[i]``); ``what`` names an item (``"a positive number"``) in the message
    refusing an empty sequence. What the sequence's length must be is for the owner
    to check (per-pair rates against the layers)."""

    def __init__(self, item: Constraint, what: str):
        self.item, self.what = item, what

    def __call__(self, name: str, value: Any) -> Any:
        if isinstance(value, (list, tuple, np.ndarray)):
            if len(value) == 0:
                raise ValueError(f"{name} must be {self.what} or a non-empty sequence of them, got []")
            return tuple(self.item(f"{name}[{i}]", v) for i, v in enumerate(value))
        return self.item(name, value)


class InstanceOf(Constraint):
    """An instance of ``cls``, named ``what`` in the message."""

    def __init__(self, cls: type, what: str):
        self.cls, self.what = cls, what

    def __call__(self, name: str, value: Any) -> Any:
        if not isinstance(value, self.cls):
            raise TypeError(f"{name} must be {self.what}, got {type(value).__name__}")
        return value


class Satisfies(Constraint):
    """What ``check(value)`` returns: a check of its owner's, with its own messages
    (the layer sizes: :func:`smallworld_eqp.graph.sizing.check_layer_sizes`)."""

    def __init__(self, check: Any):
        self.check = check

    def __repr__(self) -> str:
        return f"Satisfies({getattr(self.check, '__qualname__', self.check)})"

    def __call__(self, name: str, value: Any) -> Any:
        return self.check(value)
