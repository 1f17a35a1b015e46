"""Argument parsing shared by the command-line entry points (and ``analysis``).

Every bad value ends the program with one line on stderr naming the value and
what is allowed, and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from .datasets import DATASETS

if TYPE_CHECKING:
    from .eqprop import EqPropConfig


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def fail(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.error(" ".join(str(message).split()))


def _list_of(convert: Callable[[str], float | int], what: str) -> Callable[[str], list]:
    def parse(text: str) -> list:
        items = [t.strip() for t in text.split(",")]
        if not text.strip() or any(not t for t in items):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}")
        try:
            return [convert(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {what}, got {text!r}"
            ) from None

    return parse


def _nonneg_int(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(text) from None
    if not value.is_integer() or value < 0:
        raise ValueError(text)
    return int(value)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


int_list = _list_of(_nonneg_int, "non-negative integers")
float_list = _list_of(_finite_float, "numbers")


def nonneg_int(text: str) -> int:
    try:
        return _nonneg_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def layer_list(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes like 784,500,10, got {text!r}"
        ) from None
    if len(sizes) < 3 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected at least 3 positive layer sizes like 784,500,10, got {text!r}"
        )
    return sizes


def logspace_spec(text: str) -> tuple[float, float, int]:
    """``START:STOP:NUM`` exponents of 10, as :func:`numpy.logspace` takes them."""
    parts = text.split(":")
    try:
        start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3 or num < 1 or not (math.isfinite(start) and math.isfinite(stop)):
            raise ValueError
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(
            f"expected START:STOP:NUM (exponents of 10 and a positive count), got {text!r}"
        ) from None
    return start, stop, num


def logspace_values(spec: tuple[float, float, int]) -> list[float]:
    return np.logspace(*spec[:2], int(spec[2])).tolist()


def skip_init_value(text: str) -> float | str:
    if text == "mean-glorot":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative number or 'mean-glorot', got {text!r}"
        ) from None


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS, help="data set (preset's by default)")
    g.add_argument("--n-train", type=positive_int, help="use the first N training examples")
    g.add_argument("--n-test", type=positive_int, help="use the first N test examples")
    g.add_argument(
        "--data-dir",
        help="folder holding mnist/ and fashion-mnist/ (default: $SMALLWORLD_EQP_DATA, else ./data)",
    )


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("network")
    g.add_argument("--layers", type=layer_list, help="layer sizes, input first, e.g. 784,500,500,500,10")
    g.add_argument(
        "--intra",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="connect every pair of neurons inside each hidden layer (paper 4.3)",
    )
    g.add_argument("--mode", choices=("replace", "add"), help="replace edges, or add without removing")
    g.add_argument(
        "--reuse-removed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="removed edges become candidates for later replacements (the authors' code)",
    )
    g.add_argument("--epochs", type=positive_int, help="training epochs")


_CONFIG_FLAGS = {
    "eps": (float, "Euler step size eps (eq. 9)"),
    "beta": (float, "clamping factor beta (eq. 5)"),
    "n_free": (int, "free-phase steps"),
    "n_clamped": (int, "weakly-clamped-phase steps"),
    "batch_size": (int, "examples per batch"),
    "nudge_factor": (float, "factor on the cost's pull (1: eq. 5; 2: the authors' code)"),
    "nudge": (str, "clamped step: gradient (eq. 5, 9) or after-step (the authors' code)"),
    "bias_learning_rate": (float, "one rate for every bias (default: its input weights' rate)"),
    "batch_order": (str, "reshuffle (new order every epoch) or fixed (the authors' code)"),
    "solver": (str, "relaxation: euler (eq. 9) or coordinate"),
    "tol": (float, "stop a phase early when max|ds| < TOL"),
    "dtype": (str, "float32 or float64"),
}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("EqProp hyper-parameters (EqPropConfig)")
    for name, (kind, text) in _CONFIG_FLAGS.items():
        g.add_argument("--" + name.replace("_", "-"), type=kind, help=text)
    g.add_argument(
        "--learning-rate",
        type=float_list,
        help="one rate, or one per adjacent layer pair input->output, comma-separated",
    )
    g.add_argument("--skip-init", type=skip_init_value, help="half-width of U[-a, a] or mean-glorot")
    for name, text in (
        ("random_beta_sign", "flip the sign of beta at random every batch"),
        ("persistent_particles", "start each example's free phase from its last free state"),
        ("test_particles", "evaluate the test split from its own persistent particles (the authors' code)"),
    ):
        g.add_argument(
            "--" + name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=None, help=text
        )


def config_from_args(args: argparse.Namespace, base: dict) -> EqPropConfig:
    """The preset's config fields overridden by every flag that was given."""
    from .eqprop import EqPropConfig  # numba compiles on import: keep it out of light CLIs

    fields = {f.name for f in dataclasses.fields(EqPropConfig)}
    values = {k: v for k, v in base.items() if k in fields}
    for name in fields:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    lr = values.get("learning_rate")
    if isinstance(lr, (list, tuple)):
        values["learning_rate"] = lr[0] if len(lr) == 1 else tuple(lr)
    return EqPropConfig(**values)


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


def pick(args: argparse.Namespace, preset: dict, name: str):
    """A flag's value if given, else the preset's."""
    value = getattr(args, name, None)
    return preset.get(name) if value is None else value


def spec_fields(args: argparse.Namespace, preset: dict, preset_name: str) -> dict:
    """The :class:`~smallworld_eqp.experiment.TrialSpec` fields shared by every trial of a command:
    network, data and EqProp configuration, each flag overriding the preset."""
    return {
        "layers": tuple(pick(args, preset, "layers")),
        "intra": bool(pick(args, preset, "intra")),
        "mode": pick(args, preset, "mode") or "replace",
        "reuse_removed": bool(pick(args, preset, "reuse_removed")),
        "dataset": pick(args, preset, "dataset"),
        "n_train": pick(args, preset, "n_train"),
        "n_test": pick(args, preset, "n_test"),
        "epochs": pick(args, preset, "epochs"),
        "config": config_from_args(args, preset.get("config", {})),
        "preset": preset_name,
        "data_dir": args.data_dir,
    }


def run_main(main: Callable[[Sequence[str] | None], int]) -> None:
    """Run a CLI's ``main`` and exit with its code; Ctrl-C exits 130 quietly."""
    try:
        code = main(None)
    except KeyboardInterrupt:
        print("interrupted; finished results are kept, rerun the same command to resume", file=sys.stderr)
        code = 130
    sys.exit(code)
