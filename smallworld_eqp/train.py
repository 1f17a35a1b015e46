"""``python -m smallworld_eqp.train``: train one configuration for many epochs (Fig. 2, 3).

Writes ``epochs.csv``, ``rates.csv`` and a checkpoint every epoch into ``--out``;
``--resume`` continues an interrupted run from its last checkpoint.

Examples
--------
The paper's small-world network, the first 3 of its 250 epochs::

    python -m smallworld_eqp.train --preset paper-smallworld --epochs 3 --out data/runs/sw

A quick offline run on scikit-learn's digits::

    python -m smallworld_eqp.train --dataset digits --layers 64,32,32,10 --n-free 60 --epochs 5
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .cli import (
    OneLineParser,
    add_config_arguments,
    add_data_arguments,
    add_network_arguments,
    fail,
    positive_int,
    run_main,
    spec_fields,
)
from .eqprop import DivergenceError
from .experiment import TrialSpec, build_graph
from .presets import TRAIN_PRESETS
from .training import run_training


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m smallworld_eqp.train",
        description="Train one network for many epochs; per-epoch and per-batch CSVs, checkpoints.",
    )
    parser.add_argument(
        "--preset", choices=sorted(TRAIN_PRESETS), default="paper-smallworld", help="starting configuration"
    )
    add_network_arguments(parser)
    rewiring = parser.add_argument_group("rewiring (one of)").add_mutually_exclusive_group()
    rewiring.add_argument("--replacements", type=int, help="number of edges to replace (or add)")
    rewiring.add_argument("--p", type=float, help="per-edge replacement probability in [0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="seeds rewiring, init and shuffling")
    add_data_arguments(parser)
    add_config_arguments(parser)
    run = parser.add_argument_group("running")
    run.add_argument("--out", help="run folder (default data/runs/PRESET)")
    run.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    run.add_argument(
        "--remove-skip-after",
        type=positive_int,
        metavar="E",
        help="drop the layer-skipping edges after epoch E and keep training",
    )
    run.add_argument("--threads", type=positive_int, help="numba threads")
    run.add_argument(
        "--train-eval-n",
        type=positive_int,
        default=10_000,
        help="measure training error on the first N training examples",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def spec_from_args(args: argparse.Namespace) -> TrialSpec:
    preset = TRAIN_PRESETS[args.preset]
    rewiring = {}
    if args.replacements is not None:
        if args.replacements < 0:
            raise ValueError(f"--replacements must be >= 0, got {args.replacements}")
        rewiring = {"n": args.replacements}
    elif args.p is not None:
        if not 0.0 <= args.p <= 1.0:
            raise ValueError(f"--p must lie in [0, 1], got {args.p}")
        rewiring = {"p": args.p}
    elif "n" in preset or "p" in preset:
        rewiring = {k: preset[k] for k in ("n", "p") if k in preset}
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    return TrialSpec(
        **spec_fields(args, preset, args.preset),
        seed=args.seed,
        train_eval_n=args.train_eval_n,
        **rewiring,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        spec = spec_from_args(args)
        build_graph(spec)
        if args.remove_skip_after is not None and args.remove_skip_after >= spec.epochs:
            raise ValueError(
                f"--remove-skip-after {args.remove_skip_after} must be smaller than --epochs {spec.epochs}"
            )
        if args.threads is not None:
            from .runner import limit_threads

            limit_threads(args.threads)
        out = Path(args.out or f"data/runs/{args.preset}")
        frame = run_training(
            spec,
            out,
            resume=args.resume,
            remove_skip_after=args.remove_skip_after,
            progress=not args.quiet,
        )
    except (ValueError, OSError) as exc:
        fail(parser, exc)
    except DivergenceError as exc:
        # Not bad input, a failed run: exit 1, and say what is kept.
        print(
            f"{parser.prog}: error: training diverged at {exc}; finished epochs are kept in {out}",
            file=sys.stderr,
        )
        return 1
    if not args.quiet:
        print(frame.to_string(index=False))
        print(f"run folder: {out}")
    return 0


if __name__ == "__main__":
    run_main(main)
