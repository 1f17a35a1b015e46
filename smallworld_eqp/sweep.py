"""``python -m smallworld_eqp.sweep``: the replacement-count study (paper 5.1.3, Fig. 4).

For every replacement count (or per-edge probability p) and seed: build the graph,
measure it, train for ``--epochs``, evaluate, and append one row to the results CSV
(and the per-batch correction RMS to ``NAME_rates.csv``). Rerunning the same command
skips the trials already in the CSV.

Examples
--------
Offline quick study on scikit-learn's digits (the default preset)::

    python -m smallworld_eqp.sweep

The authors' sweep on MNIST for three values of p, two worker processes::

    python -m smallworld_eqp.sweep --preset authors-code --p 0,0.001,0.1 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import datasets
from .cli import (
    OneLineParser,
    add_config_arguments,
    add_data_arguments,
    add_network_arguments,
    fail,
    float_list,
    int_list,
    join_negative_values,
    logspace_spec,
    logspace_values,
    positive_int,
    run_main,
    spec_fields,
)
from .experiment import TrialSpec
from .presets import SWEEP_PRESETS
from .results import sweep_columns
from .runner import rates_path, run_sweep

SUMMARY_COLUMNS = [
    "seed",
    "n_replaced",
    "p",
    "path_length",
    "clustering",
    "online_error_epoch1",
    "test_error",
    "spread",
    "seconds",
    "status",
]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m smallworld_eqp.sweep",
        description="Replacement-count study: one CSV row per (replacements, seed) trial.",
    )
    parser.add_argument(
        "--preset", choices=sorted(SWEEP_PRESETS), default="quick", help="starting configuration"
    )
    add_network_arguments(parser)
    grid = parser.add_argument_group("what to sweep (one of)").add_mutually_exclusive_group()
    grid.add_argument("--replacements", type=int_list, help="replacement counts, e.g. 0,1000,10000")
    grid.add_argument("--p", type=float_list, help="per-edge probabilities in [0, 1], e.g. 0,0.01,0.1")
    grid.add_argument(
        "--replacements-log",
        type=logspace_spec,
        metavar="START:STOP:NUM",
        help="0 plus NUM counts 10^START..10^STOP, rounded",
    )
    grid.add_argument(
        "--p-log", type=logspace_spec, metavar="START:STOP:NUM", help="0 plus NUM values 10^START..10^STOP"
    )
    parser.add_argument("--seeds", type=int_list, help="trial seeds, e.g. 0,1,2")
    add_data_arguments(parser)
    add_config_arguments(parser)
    run = parser.add_argument_group("running")
    run.add_argument("--out", default="data/results/sweep.csv", help="results CSV (appended; resumable)")
    run.add_argument("--workers", type=positive_int, default=1, help="local worker processes")
    run.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    run.add_argument("--threads", type=positive_int, help="numba threads per trial")
    run.add_argument(
        "--rate-every", type=positive_int, help="n of eq. 22: sum the per-pair rates every n batches"
    )
    run.add_argument(
        "--train-eval-n",
        type=positive_int,
        help="measure training error on the first N training examples (default 10000)",
    )
    run.add_argument("--retry-failed", action="store_true", help="run again trials recorded as failed")
    run.add_argument(
        "--plot",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the Fig. 4 PNG beside the CSV",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars or summary table")
    return parser


def grid_from_args(args: argparse.Namespace, preset: dict) -> tuple[str, list]:
    """``("n", counts)`` or ``("p", probabilities)``: the flag given, else the preset's."""
    if args.replacements is not None:
        return "n", args.replacements
    if args.p is not None:
        return "p", args.p
    if args.replacements_log is not None:
        return "n", sorted({0, *(round(v) for v in logspace_values(args.replacements_log))})
    if args.p_log is not None:
        return "p", [0.0, *logspace_values(args.p_log)]
    if "p" in preset:
        return "p", list(preset["p"])
    return "n", list(preset["replacements"])


def specs_from_args(args: argparse.Namespace) -> list[TrialSpec]:
    """Every trial the command asks for, validated."""
    preset = SWEEP_PRESETS[args.preset]
    kind, values = grid_from_args(args, preset)
    if kind == "p":
        bad = [v for v in values if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"--p values must lie in [0, 1], got {bad[0]}")
    common = {
        **spec_fields(args, preset, args.preset),
        "rate_every": args.rate_every or 1,
        "train_eval_n": args.train_eval_n or 10_000,
    }
    seeds = args.seeds if args.seeds is not None else list(preset["seeds"])
    return [TrialSpec(**common, seed=seed, **{kind: value}) for value in values for seed in seeds]


def check_feasible(specs: Sequence[TrialSpec]) -> None:
    """Fail fast on what would make every trial fail: data, shapes, graph sizes."""
    from .experiment import build_graph

    first = specs[0]
    data = datasets.load(first.dataset, data_dir=first.data_dir, n_train=first.n_train, n_test=first.n_test)
    if data.n_features != first.layers[0] or data.n_classes != first.layers[-1]:
        layers = ",".join(map(str, first.layers))
        raise ValueError(
            f"--layers {layers} does not fit {first.dataset}: the first layer must have "
            f"{data.n_features} neurons and the last {data.n_classes}"
        )
    largest = max(specs, key=lambda s: (s.n or 0, s.p or 0.0))
    build_graph(largest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(join_negative_values(argv, ("--p-log", "--replacements-log")))
    out = Path(args.out)
    try:
        specs = specs_from_args(args)
        if out.exists() and out.is_dir():
            raise ValueError(f"--out {out} is a folder; give a CSV file path")
        check_feasible(specs)
        columns = sweep_columns(len(specs[0].layers))
        frame = run_sweep(
            specs,
            out,
            columns,
            workers=args.workers,
            scheduler=args.scheduler,
            threads=args.threads,
            retry_failed=args.retry_failed,
            progress=not args.quiet,
        )
    except (ValueError, OSError) as exc:
        fail(parser, exc)
    if not args.quiet:
        print(frame[[c for c in SUMMARY_COLUMNS if c in frame]].to_string(index=False))
        print(f"results: {out}  per-batch rates: {rates_path(out)}")
    if args.plot and (frame["status"] == "ok").any():
        from .plots import fig4

        png = out.with_suffix(".png")
        fig4([out], png, x="p" if specs[0].requested == "p" else "n_replaced")
        if not args.quiet:
            print(f"figure: {png}")
    failed = int((frame["status"] != "ok").sum())
    if failed and not args.quiet:
        print(f"{failed} trial(s) did not finish ok; see status and error_message", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main(main)
