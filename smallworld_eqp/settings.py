"""A setting is declared once, as a dataclass field, and everything else derives from it.

:func:`setting` attaches to a field its help text, how a command line spells a value
(a parser from text) and the version that added it, which every setting names
(``since=``, no default): a setting added after :data:`BASE_VERSION` enters the trial
hash only off its default, so one that forgot to say so would change every trial id. From the fields of
:class:`~smallworld_eqp.config.EqPropConfig` and :class:`~smallworld_eqp.study.spec.TrialSpec`
derive the command-line flags (:func:`add_arguments`), the presets' keys, the trial
hash and the results CSV columns.

Parsers turn text into values of the right type and say what they expect; whether a
value is allowed, each setting declares too (``allowed=``, a constraint of
:mod:`smallworld_eqp.validate`), and :func:`check_declared` checks every declared value
of an object, the one check of a setting for the API, the command lines and the specs.
A list value (per-pair learning rates, layer sizes) is written with ``,`` in a flag
and with ``/`` inside one value of ``--vary``, whose values are separated by ``,``,
or by the setting's ``vary_sep`` where its values hold commas (the JSON recipe steps: ``;``).

Examples
--------
>>> parse_int("12")
12
>>> parse_floats("0.128/0.032", sep="/")
(0.128, 0.032)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from smallworld_eqp.validate import Constraint

#: The version before settings carried the version that added them; a setting added
#: later enters the trial hash only when it differs from its default.
BASE_VERSION = "0.1"


def setting(
    default: Any,
    help: str,
    *,
    parse: Callable[..., Any] | None = None,
    since: str,
    allowed: Constraint,
    flag: bool = True,
    vary_sep: str = ",",
) -> Any:
    """A dataclass field declaring a setting.

    Parameters
    ----------
    default : the default value (immutable).
    help : one line for ``--help``.
    parse : callable, optional
        Text to value, ``parse(text, sep)`` for list values; default from the type of
        ``default`` (int, float, str, bool; None needs ``parse``).
    since : str
        Version that added the setting, required: :data:`BASE_VERSION` (``"0.1"``)
        for the settings that version had, which always enter the trial hash; for a
        setting added later, the version adding it (the package's next release),
        and it enters the hash only when it differs from ``default``, so the ids of
        trials recorded before it stay valid
        (:attr:`smallworld_eqp.study.spec.TrialSpec.config_hash`).
    allowed : Constraint
        The values it allows, required (:mod:`smallworld_eqp.validate`: ``Interval(int,
        1, None)``, ``Choices("euler", "coordinate")``, ``Nullable(...)``, ...), checked
        by :func:`check_declared`. What involves several settings at once (a rate per
        layer pair) is checked by the owner, after.
    flag : bool
        Whether commands offer a flag for it.
    vary_sep : str
        What separates its values in ``--vary NAME=V1<sep>V2`` (another than ``,``
        where a value holds commas).

    Raises
    ------
    TypeError
        Without ``since`` (a forgotten version would change every trial id) or
        ``allowed``.

    Examples
    --------
    >>> from smallworld_eqp.validate import Interval
    >>> f = setting(3, "steps", since="0.1", allowed=Interval(int, 1, None))
    >>> f.default, f.metadata["since"]
    (3, '0.1')
    >>> setting(3, "steps", allowed=Interval(int, 1, None))
    Traceback (most recent call last):
    ...
    TypeError: setting() missing 1 required keyword-only argument: 'since'
    """
    if parse is None:
        parse = {bool: parse_bool, int: parse_int, float: parse_float, str: str}[type(default)]
    return dataclasses.field(
        default=default,
        metadata={
            "help": help,
            "parse": parse,
            "since": since,
            "allowed": allowed,
            "flag": flag,
            "vary_sep": vary_sep,
        },
    )


def check_declared(obj: Any) -> None:
    """Check every field of the dataclass ``obj`` that declares the values it allows
    (``allowed`` in its metadata: the settings, :func:`setting`), in field order, and
    store each as its constraint returns it (2 and 2.0, numpy or not, are one value,
    so equal objects hash alike).

    Raises
    ------
    TypeError, ValueError
        The first refused value's one-line message, naming the field and the value.
    """
    for f in dataclasses.fields(obj):
        if "allowed" in f.metadata:
            object.__setattr__(obj, f.name, f.metadata["allowed"](f.name, getattr(obj, f.name)))


def declared(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` declared with :func:`setting`, in order."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def parse_value(f: dataclasses.Field, text: str, sep: str = ",") -> Any:
    """A value of setting ``f`` from text; ``sep`` separates the items of a list value."""
    parse = f.metadata["parse"]
    return parse(text, sep) if parse in LIST_PARSERS else parse(text)


def flag_name(name: str) -> str:
    """``n_free`` -> ``--n-free``."""
    return "--" + name.replace("_", "-")


def add_arguments(group: argparse._ActionsContainer, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per declared setting of ``cls`` (default None: not given)."""
    for f in declared(cls):
        if not f.metadata["flag"] or f.name in skip:
            continue
        if f.metadata["parse"] is parse_bool:
            group.add_argument(
                flag_name(f.name),
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f.metadata["help"],
            )
        else:
            parse = functools.partial(parse_value, f)
            group.add_argument(
                flag_name(f.name), type=argparse_type(parse, name=f.name), help=f.metadata["help"]
            )


def argparse_type(
    parse: Callable[[str], Any], what: str | None = None, *, name: str | None = None
) -> Callable[[str], Any]:
    """``parse`` as an argparse ``type``: its ValueError becomes argparse's one-line error.

    Parameters
    ----------
    parse : callable
        Text to value; raises ValueError on bad text.
    what : str, optional
        What the flag expects: the error then says ``expected <what>, got '<text>'``;
        without it, the parser's own message.
    name : str, optional
        The type's name, which argparse shows in some messages.
    """

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            message = str(exc) if what is None else f"expected {what}, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None

    convert.__name__ = name or getattr(parse, "__name__", "value")
    return convert


# --- parsers of text ----------------------------------------------------------------


def parse_int(text: str) -> int:
    """An integer written as one (``"1e3"`` and ``"2.0"`` are refused: never through float)."""
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def parse_float(text: str) -> float:
    """A number; whether it is allowed (finite, in range) is for its owner to say."""
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def parse_bool(text: str) -> bool:
    """``true``/``false`` (also ``yes``/``no``, ``1``/``0``), any case."""
    value = text.strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_optional_int(text: str) -> int | None:
    """An integer, or ``none`` for no value."""
    return None if text.strip().lower() == "none" else parse_int(text)


def parse_optional_float(text: str) -> float | None:
    """A number, or ``none`` for no value."""
    return None if text.strip().lower() == "none" else parse_float(text)


def parse_items(text: str, parse: Callable[[str], Any], sep: str = ",", what: str = "values") -> tuple:
    """Items separated by ``sep``, each parsed by ``parse``; an empty item is refused.

    Examples
    --------
    >>> parse_items("1, 2", parse_int)
    (1, 2)
    >>> parse_items("1,,2", parse_int, what="integers")
    Traceback (most recent call last):
    ...
    ValueError: expected integers separated by ',', got '1,,2'
    """
    items = [t.strip() for t in text.split(sep)]
    if not text.strip() or any(not t for t in items):
        raise ValueError(f"expected {what} separated by {sep!r}, got {text!r}")
    return tuple(parse(t) for t in items)


def parse_floats(text: str, sep: str = ",") -> float | tuple[float, ...]:
    """One number, or several separated by ``sep`` (a tuple)."""
    values = parse_items(text, parse_float, sep, "numbers")
    return values[0] if len(values) == 1 else values


def parse_ints(text: str, sep: str = ",") -> tuple[int, ...]:
    """Integers separated by ``sep``."""
    return parse_items(text, parse_int, sep, "integers")


def parse_number_or(word: str) -> Callable[[str], float | str]:
    """A parser taking a number or the word ``word``."""

    def parse(text: str) -> float | str:
        if text.strip() == word:
            return word
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number or {word!r}, got {text!r}") from None

    return parse


#: Parsers of list values: they take the item separator.
LIST_PARSERS = (parse_floats, parse_ints)
