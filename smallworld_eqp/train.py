"""``python -m smallworld_eqp.train``: train one configuration for many epochs (Fig. 2, 3).

Writes ``epochs.csv``, ``rates.csv``, ``weight_change.csv`` and a checkpoint every epoch
into ``--out``; ``--resume`` continues an interrupted run from its last checkpoint.

Examples
--------
The paper's small-world network, the first 3 of its 250 epochs::

    python -m smallworld_eqp.train --preset paper-smallworld --epochs 3 --out data/runs/sw

The authors' 784-100x5-10 network to 100 epochs, the training error from zero every 10th::

    python -m smallworld_eqp.train --preset authors-code-mlff --epochs 100 --train-eval-every 10

A quick offline run on scikit-learn's digits::

    python -m smallworld_eqp.train --dataset digits --layers 64,32,32,10 --n-free 60 --epochs 5
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from smallworld_eqp.cli import (
    OneLineParser,
    add_spec_arguments,
    given_settings,
    nonneg_int,
    positive_int,
    run_main,
)
from smallworld_eqp.engine.batch import DivergenceError
from smallworld_eqp.numba_settings import deferred
from smallworld_eqp.owned import check_name
from smallworld_eqp.study.presets import TRAIN_PRESETS
from smallworld_eqp.study.spec import TrialSpec, build_graph

# Load numba: imported when a run starts, after cli.run_main has checked the environment.
execution = deferred("smallworld_eqp.study.execution")
training_runs = deferred("smallworld_eqp.study.training_runs")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m smallworld_eqp.train",
        description="Train one network for many epochs; per-epoch and per-batch CSVs, checkpoints.",
    )
    parser.add_argument(
        "--preset", choices=sorted(TRAIN_PRESETS), default="paper-smallworld", help="starting configuration"
    )
    rewiring = parser.add_argument_group("rewiring (one of)").add_mutually_exclusive_group()
    rewiring.add_argument("--replacements", type=nonneg_int, help="number of edges to replace (or add)")
    rewiring.add_argument("--p", type=float, help="per-edge replacement probability in [0, 1]")
    parser.add_argument("--seed", type=nonneg_int, default=0, help="seeds rewiring, init and shuffling")
    add_spec_arguments(parser)
    run = parser.add_argument_group("running")
    run.add_argument("--out", help="run folder (default data/runs/PRESET)")
    run.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    run.add_argument(
        "--remove-skip-after",
        type=positive_int,
        metavar="E",
        help="drop the layer-skipping edges after epoch E and keep training",
    )
    run.add_argument(
        "--train-eval-every",
        type=positive_int,
        default=1,
        metavar="K",
        help="measure the training error from zero only every K-th epoch and after the last "
        "(recorded in run.json; train_error is empty in the other rows of epochs.csv)",
    )
    run.add_argument("--threads", type=positive_int, help="numba threads")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(prog=parser.prog)
    return parser


def spec_from_args(args: argparse.Namespace):
    """The one trial the command trains."""
    settings = {
        **TRAIN_PRESETS[args.preset],
        **given_settings(args),
        "preset": args.preset,
        "seed": args.seed,
    }
    if args.replacements is not None or args.p is not None:
        settings = {k: v for k, v in settings.items() if k not in ("n", "p")}
        settings |= {"n": args.replacements} if args.replacements is not None else {"p": args.p}
    return TrialSpec.from_settings(settings, data_dir=args.data_dir)


def _train(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    graph = build_graph(spec)  # fails fast on a graph that cannot be built; the run trains on it
    if args.remove_skip_after is not None and args.remove_skip_after >= spec.epochs:
        raise ValueError(
            f"--remove-skip-after {args.remove_skip_after} must be smaller than --epochs {spec.epochs}"
        )
    out = check_name(f"data/runs/{args.preset}" if args.out is None else args.out)
    try:
        with execution.limit_threads(args.threads):
            frame = training_runs.run_training(
                spec,
                out,
                resume=args.resume,
                remove_skip_after=args.remove_skip_after,
                train_eval_every=args.train_eval_every,
                progress=not args.quiet,
                graph=graph,
            )
    except (DivergenceError, training_runs.RunStateError) as exc:
        # Not bad input, a failed run: exit 1, and say what is kept.
        what = "training diverged at " if isinstance(exc, DivergenceError) else ""
        message = " ".join(str(exc).split())
        print(f"{args.prog}: error: {what}{message}; finished epochs are kept in {out}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(frame.to_string(index=False))
        print(f"run folder: {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(build_parser, _train, argv)


if __name__ == "__main__":
    sys.exit(main())
