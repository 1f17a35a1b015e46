"""``python -m smallworld_eqp.sweep``: the replacement-count study (paper 5.1.3, Fig. 4).

For every replacement count (or per-edge probability p), every combination of the
``--vary`` values and every seed: build the graph, measure it, train for
``--epochs``, evaluate, and append one row to the results CSV (and the per-batch
correction RMS to ``NAME_rates.csv``, each epoch's errors to ``NAME_epochs.csv``).
Rerunning the same command skips the trials already in the CSV.

Examples
--------
Offline quick study on scikit-learn's digits (the default preset)::

    python -m smallworld_eqp.sweep

The quick study at two learning rates, with and without the x2 nudge::

    python -m smallworld_eqp.sweep --vary learning_rate=0.05,0.1 --vary nudge_factor=1,2

The quick study with and without its skip edges removed after the rewiring (the
values of ``steps``, JSON, are separated by ``;``)::

    python -m smallworld_eqp.sweep --vary 'steps=[];[{"op": "without_kind", "kind": "skip"}]'

The authors' sweep on MNIST for three values of p, two worker processes::

    python -m smallworld_eqp.sweep --preset authors-code --p 0,0.001,0.1 --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from smallworld_eqp import plots
from smallworld_eqp.cli import (
    OneLineParser,
    add_spec_arguments,
    float_list,
    given_settings,
    int_list,
    join_negative_values,
    logspace_spec,
    logspace_values,
    positive_int,
    run_main,
)
from smallworld_eqp.numba_settings import deferred
from smallworld_eqp.owned import check_name
from smallworld_eqp.settings import argparse_type
from smallworld_eqp.study.grid import VARY_SEPS, expand, parse_vary
from smallworld_eqp.study.presets import SWEEP_PRESETS
from smallworld_eqp.study.spec import build_graph, check_fits, load_data

# Loads numba: imported when a sweep runs, after cli.run_main has checked the environment.
execution = deferred("smallworld_eqp.study.execution")

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
        description="Replacement-count study: one CSV row per (varied settings, replacements, seed) trial.",
    )
    parser.add_argument(
        "--preset", choices=sorted(SWEEP_PRESETS), default="quick", help="starting configuration"
    )
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
    parser.add_argument(
        "--vary",
        action="append",
        type=argparse_type(parse_vary),
        metavar="NAME=V1,V2",
        help="also sweep any setting (repeatable: the Cartesian product); a list value writes its items "
        "with '/', e.g. learning_rate=0.1/0.05/0.02,0.02; values holding commas are separated by "
        + ", ".join(f"{sep!r} ({name})" for name, sep in VARY_SEPS.items())
        + """, e.g. steps='[];[{"op": "without_kind", "kind": "skip"}]'""",
    )
    add_spec_arguments(parser)
    run = parser.add_argument_group("running")
    run.add_argument("--out", default="data/results/sweep.csv", help="results CSV (appended; resumable)")
    run.add_argument(
        "--workers", type=positive_int, default=1, help="trials at once, each in its own process"
    )
    run.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    run.add_argument("--threads", type=positive_int, help="numba threads per trial")
    run.add_argument("--retry-failed", action="store_true", help="run again trials recorded as failed")
    run.add_argument(
        "--plot",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the Fig. 4 PNG beside the CSV (NAME.png; an existing NAME.png must be a figure of this package)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars or summary table")
    return parser


def _grid(args: argparse.Namespace) -> dict:
    """The swept rewiring amounts the flags ask for, as settings (``n`` or ``p``)."""
    if args.replacements is not None:
        return {"n": args.replacements}
    if args.p is not None:
        return {"p": args.p}
    if args.replacements_log is not None:
        return {"n": sorted({0, *(round(v) for v in logspace_values(args.replacements_log))})}
    if args.p_log is not None:
        return {"p": [0.0, *logspace_values(args.p_log)]}
    return {}


def specs_from_args(args: argparse.Namespace) -> list:
    """Every trial the command asks for, validated."""
    settings = {**SWEEP_PRESETS[args.preset], **given_settings(args), "preset": args.preset}
    grid = _grid(args)
    if grid:
        settings = {k: v for k, v in settings.items() if k not in ("n", "p")} | grid
    if args.seeds is not None:
        settings["seed"] = args.seeds
    vary: dict = {}
    for name, values in args.vary or []:
        if name in vary:
            raise ValueError(f"--vary {name} is given twice; give all its values in one --vary")
        vary[name] = values
    return expand(settings, vary=vary, data_dir=args.data_dir)


def check_feasible(specs: Sequence) -> None:
    """Fail fast on what would make every trial fail: data, shapes, graph sizes."""
    for data_spec in {(s.dataset, s.n_train, s.n_test, s.layers): s for s in specs}.values():
        check_fits(data_spec, load_data(data_spec))
    graphs: dict = {}
    for s in specs:  # the largest rewiring of every distinct recipe
        key = (s.layers, s.intra, s.mode, s.reuse_removed, s.design, str(s.steps))
        if key not in graphs or (s.n or 0, s.p or 0.0) > (graphs[key].n or 0, graphs[key].p or 0.0):
            graphs[key] = s
    for s in graphs.values():
        build_graph(s)


def _sweep(args: argparse.Namespace) -> int:
    check_name(args.out)
    if args.out.endswith(("/", os.sep)) or Path(args.out).name in ("", ".."):
        raise ValueError(
            f"--out {args.out} names a folder; give a CSV file path like {os.path.join(args.out, 'sweep.csv')}"
        )
    out = Path(args.out)
    png = out.with_suffix(".png")
    if out.suffix.lower() in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
        raise ValueError(
            f"--out {out} names an image (the figure goes to NAME.png); give a CSV path like {png.with_suffix('.csv')}"
        )
    if args.plot and (png.exists() or png.is_symlink()):
        plots.check_figure_path(png, flag="--out (or pass --no-plot)")  # somebody's file is never replaced
    specs = specs_from_args(args)
    check_feasible(specs)
    frame = execution.run_sweep(
        specs,
        out,
        workers=args.workers,
        scheduler=args.scheduler,
        threads=args.threads,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(frame[[c for c in SUMMARY_COLUMNS if c in frame]].to_string(index=False))
        print(
            f"results: {out}  per-batch rates: {execution.rates_path(out)}  "
            f"per-epoch errors: {execution.epochs_path(out)}"
        )
    if args.plot and (frame["status"] == "ok").any():
        plots.fig4([out], png, x="p" if specs[0].requested == "p" else "n_replaced")
        if not args.quiet:
            print(f"figure: {png}")
    failed = int((frame["status"] != "ok").sum())
    if failed:
        print(
            f"{failed} of {len(frame)} trials did not finish ok; see status and error_message in {out}",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return run_main(build_parser, _sweep, join_negative_values(argv, ("--p-log", "--replacements-log")))


if __name__ == "__main__":
    sys.exit(main())
