"""The argument checks (validate.py): one clear error for every bad value."""

import math
from fractions import Fraction

import pytest

from smallworld_eqp.validate import check_int, check_real


@pytest.mark.parametrize(
    "value, shown",
    [
        (10**400, r"about 1e\+400 \(int\)"),
        (-3 * 10**400, r"about -3e\+400 \(int\)"),
        (Fraction(10**400, 3), r"about 3\.33e\+399 \(Fraction\)"),
        (10**5000, r"about 1e\+5000 \(int\)"),  # its repr alone is refused by Python
    ],
    ids=["int", "negative", "fraction", "5000-digits"],
)
def test_numbers_beyond_the_floats_are_refused_by_name(value, shown):
    with pytest.raises(ValueError, match=rf"^eps must be finite and > 0, got {shown}$"):
        check_real("eps", value, "(0, inf)")


def test_a_huge_integer_is_named_by_its_magnitude():
    with pytest.raises(ValueError, match=r"^n_free must be an integer <= 5, got about 1e\+5000 \(int\)$"):
        check_int("n_free", 10**5000, high=5)
    with pytest.raises(ValueError, match=r"got 100000000000000000000$"):  # short enough to print
        check_int("n_free", 10**20, high=5)


def test_text_beyond_the_floats_reads_as_infinity_and_is_refused():
    from smallworld_eqp.settings import parse_float

    with pytest.raises(ValueError, match="^tol must be finite and > 0, got inf$"):
        check_real("tol", parse_float("1e400"), "(0, inf)")


def test_argparse_types_say_what_they_expect_or_the_parser_message():
    import argparse

    from smallworld_eqp.cli import float_list, int_list
    from smallworld_eqp.settings import argparse_type, parse_ints

    assert int_list("0, 10") == (0, 10) and float_list("0.5") == (0.5,)
    for convert, text in ((int_list, "1,,2"), (int_list, "1,-2"), (float_list, "x")):
        with pytest.raises(
            argparse.ArgumentTypeError, match=f"^expected a comma-separated list of .*, got '{text}'$"
        ):
            convert(text)
    with pytest.raises(argparse.ArgumentTypeError, match="^expected integers separated by '/', got '1//2'$"):
        argparse_type(lambda text: parse_ints(text, "/"))("1//2")


# --- the declared constraints (settings.setting(allowed=...)) ----------------------------

import dataclasses  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from smallworld_eqp.config import EqPropConfig  # noqa: E402
from smallworld_eqp.study.spec import TrialSpec  # noqa: E402
from smallworld_eqp.validate import (  # noqa: E402
    Boolean,
    Choices,
    InstanceOf,
    Interval,
    NonZero,
    Nullable,
    NumberOr,
    OneOrPerItem,
    Satisfies,
    Text,
)

#: Every checked field of both classes: (class, field).
CHECKED = [
    (cls, f) for cls in (EqPropConfig, TrialSpec) for f in dataclasses.fields(cls) if "allowed" in f.metadata
]
#: What messages call a field whose check is its owner's (sizing.check_layer_sizes).
CALLED = {"layers": ("layer sizes", "a layer size")}
#: Small enough that a message shows them as they are (not their magnitude).
BIG = 10**20


def _floats(low=None, high=None, closed="both"):
    return st.floats(
        min_value=low,
        max_value=high,
        exclude_min=low is not None and closed in ("right", "neither"),
        exclude_max=high is not None and closed in ("left", "neither"),
        allow_nan=False,
        allow_infinity=False,
    )


def _inside(c, name):
    """Values the constraint ``c`` of field ``name`` allows."""
    if isinstance(c, Interval) and c.kind is int:
        return st.integers(-BIG if c.low is None else c.low, BIG if c.high is None else c.high)
    if isinstance(c, Interval):
        return _floats(c.low, c.high, c.closed)
    if isinstance(c, NonZero):
        return _floats().filter(lambda v: v != 0)
    if isinstance(c, Boolean):
        return st.booleans()
    if isinstance(c, Choices):
        return st.sampled_from(c.choices)
    if isinstance(c, Text):
        return st.text(max_size=8)
    if isinstance(c, Nullable):
        return st.none() | _inside(c.inner, name)
    if isinstance(c, NumberOr):
        return st.just(c.word) | _inside(c.inner, name)
    if isinstance(c, OneOrPerItem):
        item = _inside(c.item, name)
        return item | st.lists(item, min_size=1, max_size=4)
    if isinstance(c, InstanceOf):
        return st.just(EqPropConfig(n_free=3))
    if name == "layers":
        return st.lists(st.integers(1, 40), min_size=3, max_size=6)
    if name == "steps":
        return st.sampled_from([(), [{"op": "without_kind", "kind": "skip"}]])
    raise AssertionError(f"no values for {c!r}")


def _outside(c, name):
    """Values the constraint ``c`` of field ``name`` refuses."""
    if isinstance(c, Interval) and c.kind is int:
        below = st.nothing() if c.low is None else st.integers(-BIG, c.low - 1)
        above = st.nothing() if c.high is None else st.integers(c.high + 1, BIG)
        return below | above | st.floats(allow_nan=False) | st.booleans() | st.text(max_size=4)
    if isinstance(c, Interval):
        low_open = c.low is not None and c.closed in ("right", "neither")
        high_open = c.high is not None and c.closed in ("left", "neither")
        below = (
            st.nothing() if c.low is None else _floats(high=c.low, closed="left" if low_open else "neither")
        )
        above = (
            st.nothing()
            if c.high is None
            else _floats(low=c.high, closed="right" if high_open else "neither")
        )
        return below | above | st.sampled_from([math.nan, math.inf, -math.inf]) | st.text(max_size=4)
    if isinstance(c, NonZero):
        return st.sampled_from([0, 0.0, -0.0, math.nan, math.inf]) | st.none()
    if isinstance(c, Boolean):
        return st.integers(-3, 3) | st.none() | st.text(max_size=4)
    if isinstance(c, Choices):
        return st.text(max_size=12).filter(lambda v: v not in c.choices) | st.integers(-3, 3)
    if isinstance(c, Text):
        return st.integers(-3, 3) | st.none()
    if isinstance(c, Nullable):
        return _outside(c.inner, name)
    if isinstance(c, NumberOr):
        return st.text(max_size=12).filter(lambda v: v != c.word) | _outside(c.inner, name)
    if isinstance(c, OneOrPerItem):
        bad = _outside(c.item, name)
        return bad | st.just([]) | st.tuples(_inside(c.item, name), bad).map(list)
    if isinstance(c, InstanceOf):
        return st.none() | st.integers() | st.just({"eps": 0.5})
    if name == "layers":
        sizes = st.integers(-5, 40)
        return (
            st.lists(sizes, min_size=3, max_size=6).filter(lambda s: min(s) <= 0)
            | st.lists(st.integers(1, 40), max_size=2)
            | st.lists(st.floats(allow_nan=False), min_size=1, max_size=4)
            | st.integers()
            | st.text(max_size=4)
        )
    if name == "steps":
        return st.text(max_size=4) | st.integers() | st.just({"op": "layered"}) | st.just([1, 2])
    raise AssertionError(f"no values for {c!r}")


def _shows(message, value):
    """Whether ``message`` shows ``value`` (as repr, or the item of a list it names)."""
    tail = message.rsplit("got ", 1)[-1]
    if tail == type(value).__name__:  # an object of the wrong class is named by its class
        return True
    if isinstance(value, list) and value and tail not in (repr(value), "[]"):
        return any(_shows(message, v) for v in value)
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        try:
            return float(tail) == value or tail == repr(value)
        except ValueError:
            return tail.startswith(repr(value)) or repr(value) in message
    return repr(value)[:40] in message or type(value).__name__ in message or str(list(value)) in message


def _owner(cls, name, value):
    """The class holding ``name``, given only ``value`` (and small layers for a spec)."""
    if cls is EqPropConfig:
        return EqPropConfig(**{name: value})
    return TrialSpec(**({"layers": (8, 4, 3)} if name != "layers" else {}), **{name: value})


@settings(max_examples=400)
@given(data=st.data())
def test_every_constraint_takes_the_values_inside_it_and_its_owner_stores_them(data):
    cls, f = data.draw(st.sampled_from(CHECKED), label="field")
    c = f.metadata["allowed"]
    value = data.draw(_inside(c, f.name), label=f.name)
    checked = c(f.name, value)
    assert getattr(_owner(cls, f.name, value), f.name) == checked


@settings(max_examples=600)
@given(data=st.data())
def test_every_constraint_refuses_the_values_outside_it_in_one_line_naming_setting_and_value(data):
    cls, f = data.draw(st.sampled_from(CHECKED), label="field")
    c = f.metadata["allowed"]
    value = data.draw(_outside(c, f.name), label=f.name)
    with pytest.raises((TypeError, ValueError)) as alone:
        c(f.name, value)
    message = str(alone.value)
    assert "\n" not in message
    assert message.startswith(CALLED.get(f.name, f.name)), message
    assert _shows(message, value), message
    # the owner refuses it with the very same message: one check
    with pytest.raises(type(alone.value)) as owned:
        _owner(cls, f.name, value)
    assert str(owned.value) == message


@pytest.mark.parametrize(
    "closed, text", [("both", "[0, 1]"), ("left", "[0, 1)"), ("right", "(0, 1]"), ("neither", "(0, 1)")]
)
def test_an_interval_is_written_as_check_real_reads_it(closed, text):
    assert Interval(float, 0, 1, closed=closed).text == text
    assert Interval(float, 0, None, closed=closed).text == (
        "[0, inf)" if closed in ("both", "left") else "(0, inf)"
    )
    assert Interval(float).text == "(-inf, inf)"


def test_constraints_keep_the_messages_of_the_checks():
    with pytest.raises(ValueError, match=r"^n_free must be an integer in \[1, 1000000000\], got 0$"):
        Interval(int, 1, 10**9)("n_free", 0)
    with pytest.raises(ValueError, match=r"^p must lie in \[0, 1\], got 1.5$"):
        Interval(float, 0, 1)("p", 1.5)
    with pytest.raises(ValueError, match="^beta must be non-zero, got 0$"):
        NonZero()("beta", 0.0)
    with pytest.raises(ValueError, match="^solver must be one of euler, coordinate, got 'newton'$"):
        Choices("euler", "coordinate")("solver", "newton")
    assert Nullable(Interval(int, 1))("n_train", None) is None
    with pytest.raises(ValueError, match=r"^learning_rate\[1\] must be finite and > 0, got -1$"):
        OneOrPerItem(Interval(float, 0, None, closed="neither"), "a positive number")(
            "learning_rate", [1, -1]
        )
    with pytest.raises(ValueError, match="^skip_init must be a number >= 0 or 'mean-glorot', got 'x'$"):
        NumberOr(Interval(float, 0, None), "mean-glorot", "a number >= 0")("skip_init", "x")
    assert Satisfies(len)("anything", [1, 2]) == 2
