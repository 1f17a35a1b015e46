"""What the command-line entry points share: one-line errors, the settings' flags, presets.

Every bad value ends the program with one line on stderr naming the value and what is
allowed, and exit code 2; no traceback. The flags of the settings are derived from
their declarations (:mod:`smallworld_eqp.settings`); a preset is a mapping of
settings (:mod:`smallworld_eqp.study.presets`) that the flags given override.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import numpy as np

from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.numba_settings import numba_environment_error
from smallworld_eqp.settings import (
    add_arguments,
    argparse_type,
    parse_float,
    parse_int,
    parse_ints,
    parse_items,
)
from smallworld_eqp.study.spec import SETTING_NAMES, TrialSpec

#: Most values a logarithmic grid flag may ask for (more is a typing error).
MAX_GRID = 10_000


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())}\n")


def run_main(
    parser: argparse.ArgumentParser | Callable[[], argparse.ArgumentParser],
    action: Callable[[argparse.Namespace], int | None],
    argv: Sequence[str] | None = None,
    *,
    bad_input: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError),
) -> int:
    """Parse ``argv`` and run ``action(args)``; return the exit code.

    ``parser`` may be the function that builds it: it runs after the environment is
    checked (:func:`~smallworld_eqp.numba_settings.numba_environment_error`), as does the
    action, which may import numba. ``bad_input`` errors become one line on stderr and exit
    code 2 (they name the bad value); Ctrl-C exits 130 saying that finished results
    are kept.
    """
    problem = numba_environment_error()
    if problem is not None:
        # The command's module by its import name (under ``python -m`` it runs as __main__).
        spec = getattr(sys.modules.get(action.__module__), "__spec__", None)
        module = getattr(spec, "name", None) or action.__module__
        print(f"python -m {module.removesuffix('.__main__')}: error: {problem}", file=sys.stderr)
        return 2
    if not isinstance(parser, argparse.ArgumentParser):
        parser = parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return action(args) or 0
    except KeyboardInterrupt:
        print(
            f"{parser.prog}: interrupted; finished results are kept, rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    except bad_input as exc:
        parser.error(str(exc))


def _int_from(low: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        value = parse_int(text)
        if value < low:
            raise ValueError(text)
        return value

    return convert


positive_int = argparse_type(_int_from(1), "a positive integer")
nonneg_int = argparse_type(_int_from(0), "a non-negative integer")
int_list = argparse_type(
    functools.partial(parse_items, parse=_int_from(0)), "a comma-separated list of non-negative integers"
)
float_list = argparse_type(
    functools.partial(parse_items, parse=parse_float), "a comma-separated list of numbers"
)
layer_list = argparse_type(parse_ints, "comma-separated layer sizes like 784,500,10")


def logspace_spec(text: str) -> tuple[float, float, int]:
    """``START:STOP:NUM`` exponents of 10 and a count, as :func:`numpy.logspace` takes them."""
    parts = text.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        if (
            not 1 <= num <= MAX_GRID
            or not (math.isfinite(start) and math.isfinite(stop))
            or max(start, stop) > 300
        ):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected START:STOP:NUM (exponents of 10 up to 300 and a count from 1 to {MAX_GRID}), got {text!r}"
        ) from None
    return start, stop, num


def logspace_values(spec: tuple[float, float, int]) -> list[float]:
    return np.logspace(*spec[:2], int(spec[2])).tolist()


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of every setting of :class:`~smallworld_eqp.study.spec.TrialSpec` and
    :class:`~smallworld_eqp.config.EqPropConfig`, grouped, plus ``--data-dir``."""
    add_arguments(parser.add_argument_group("network, data and training"), TrialSpec)
    parser.add_argument(
        "--data-dir",
        help="folder holding mnist/ and fashion-mnist/ (default: $SMALLWORLD_EQP_DATA, else ./data)",
    )
    add_arguments(parser.add_argument_group("EqProp hyper-parameters (EqPropConfig)"), EqPropConfig)


def given_settings(args: argparse.Namespace) -> dict:
    """The settings whose flags were given (not None), by setting name."""
    return {name: getattr(args, name) for name in SETTING_NAMES if getattr(args, name, None) is not None}


def join_negative_values(argv: Sequence[str], flags: Sequence[str]) -> list[str]:
    """Let ``--flag -4:0:30`` through argparse, which reads ``-4:0:30`` as an option."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        if args[i] in flags and i + 1 < len(args) and args[i + 1].startswith("-"):
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out
