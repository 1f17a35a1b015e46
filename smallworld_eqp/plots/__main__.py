"""``python -m smallworld_eqp.plots``: the figure library's command line.

Examples
--------
::

    python -m smallworld_eqp.plots fig1 --layers 6,5,5,5,3 --intra --replacements 10 --out fig1.png
    python -m smallworld_eqp.plots fig4 data/results/sweep.csv --test --out fig4.png
    python -m smallworld_eqp.plots fig4-epochs analysis/results/authors_code_sweep.csv \\
        analysis/results/authors_code_sweep_10ep.csv --out fig4_10ep.png
    python -m smallworld_eqp.plots fig5 data/runs/authors-code-mlff data/runs/authors-code-sw --out fig5.png
    python -m smallworld_eqp.plots gradient analysis/results/gradient_vs_eqprop.csv \\
        --setting 1:12 --setting 0.001:10000 --out gradient.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from smallworld_eqp.cli import OneLineParser, layer_list, nonneg_int, positive_int, run_main
from smallworld_eqp.plots import (
    BANDS,
    ESTIMATOR_STYLE,
    STUDY_Y,
    X_CHOICES,
    check_figure_path,
    fig1,
    fig2,
    fig3,
    fig4,
    fig4_epochs,
    fig5,
    fig_gradient,
    fig_studies,
)
from smallworld_eqp.study import spread_error
from smallworld_eqp.study.spec import TrialSpec, build_graph

# ----------------------------------------------------------------- command line


def setting(text: str) -> tuple[float, int]:
    """``BETA:STEPS`` (a positive beta and a positive count of clamped steps) as a tuple."""
    beta, _, steps = text.partition(":")
    try:
        value = (float(beta), int(steps))
    except ValueError:
        value = None
    if value is None or not value[0] > 0 or value[1] < 1:
        raise argparse.ArgumentTypeError(
            f"expected BETA:STEPS, a positive beta and clamped steps >= 1, like 1:12, got {text!r}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m smallworld_eqp.plots", description="Draw the paper's figures.")
    sub = parser.add_subparsers(
        dest="figure", required=True, metavar="{fig1,fig2,fig3,fig4,fig4-epochs,fig5,studies,gradient}"
    )
    p1 = sub.add_parser("fig1", help="topology of a small network (Fig. 1)")
    p1.add_argument("--layers", type=layer_list, default=[6, 5, 5, 5, 3], help="layer sizes, input first")
    p1.add_argument("--intra", action="store_true", help="connect every pair inside each hidden layer")
    p1.add_argument("--replacements", type=nonneg_int, default=0, help="edges to replace by skip edges")
    p1.add_argument("--mode", default="replace", help="replace or add")
    p1.add_argument("--seed", type=nonneg_int, default=0)
    p2 = sub.add_parser("fig2", help="error per epoch of several runs (Fig. 2)")
    p2.add_argument("runs", nargs="+", metavar="RUN_DIR_OR_CSV", help="run directories or epochs.csv files")
    p3 = sub.add_parser("fig3", help="smoothed per-pair training rates (Fig. 3)")
    p3.add_argument("runs", nargs="+", metavar="RUN_DIR_OR_CSV", help="run directories or rates CSVs")
    p3.add_argument("--window", type=nonneg_int, default=25, help="n of eq. 21 (window 2n+1 batches)")
    p3.add_argument("--run", action="append", dest="select", help="draw only this trial id (repeatable)")
    p4 = sub.add_parser("fig4", help="one-epoch error against replacements (Fig. 4)")
    p4.add_argument("sweeps", nargs="+", metavar="SWEEP_CSV")
    p4.add_argument("--x", choices=X_CHOICES, default="n_replaced", help="x axis")
    p4.add_argument("--band", choices=BANDS, default="minmax", help="band over seeds")
    p4.add_argument("--test", action="store_true", help="also draw the test error")
    p4.add_argument("--pairs", action="store_true", help="add a panel of per-pair totals (eq. 22)")
    p4e = sub.add_parser(
        "fig4-epochs", help="error after the last epoch and log-spread against p, sweeps of 1 and 10 epochs"
    )
    p4e.add_argument("sweeps", nargs="+", metavar="SWEEP_CSV", help="sweep CSVs of one network")
    p4e.add_argument("--x", choices=X_CHOICES, default="p", help="x axis")
    p4e.add_argument("--band", choices=BANDS, default="minmax", help="band over seeds")
    p4e.add_argument("--no-test", dest="test", action="store_false", help="leave out the test error")
    p4e.add_argument(
        "--r2-out", help="CSV of r^2 and Spearman rho (log-spread vs. online error; default: OUT_r2.csv)"
    )
    p5 = sub.add_parser("studies", help="outcomes of a few rewiring amounts per study, every seed a point")
    p5.add_argument("sweeps", nargs="+", metavar="SWEEP_CSV")
    p5.add_argument("--y", default="test_error,authors_spread", help=f"columns, from {', '.join(STUDY_Y)}")
    p6 = sub.add_parser("fig5", help="mean weight change between every pair of layers, runs side by side")
    p6.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="run folders (weight_change.csv or checkpoint)"
    )
    p6.add_argument("--epoch", type=positive_int, help="epoch to draw (default: each run's last)")
    p7 = sub.add_parser("gradient", help="the exact gradient beside EqProp's estimates per layer pair")
    p7.add_argument("csv", metavar="GRADIENT_CSV", help="output of python -m analysis.gradient_vs_eqprop")
    p7.add_argument(
        "--setting",
        action="append",
        type=setting,
        help="draw this BETA:STEPS (beta, clamped steps; repeatable; default every one in the file)",
    )
    p7.add_argument(
        "--estimators",
        default=",".join(ESTIMATOR_STYLE),
        help=f"comma-separated, from {', '.join(ESTIMATOR_STYLE)} (default all)",
    )
    for p in (p1, p2, p3, p4, p4e, p5, p6, p7):
        p.add_argument("--out", required=True, help="image file to write (PNG)")
        p.add_argument("--title", help="figure title")
    return parser


def _draw(args: argparse.Namespace) -> int:
    check_figure_path(args.out)  # before any work: a foreign file, a folder or another format is refused
    if args.figure == "fig1":
        spec = TrialSpec(
            layers=args.layers, intra=args.intra, n=args.replacements, mode=args.mode, seed=args.seed
        )
        graph = build_graph(spec)
        replaced = args.mode == "replace" and args.replacements > 0
        before = build_graph(spec.replace(n=None)) if replaced else None
        out = fig1(graph, args.out, before=before, title=args.title)
    elif args.figure == "fig2":
        out = fig2(args.runs, args.out, title=args.title)
    elif args.figure == "fig3":
        out = fig3(args.runs, args.out, window=args.window, runs=args.select, title=args.title)
    elif args.figure == "fig4":
        out = fig4(
            args.sweeps,
            args.out,
            x=args.x,
            test=args.test,
            pairs=args.pairs,
            band=args.band,
            title=args.title,
        )
    elif args.figure == "fig4-epochs":
        r2_out = args.r2_out or spread_error.table_path(args.out)
        out = fig4_epochs(
            args.sweeps, args.out, x=args.x, band=args.band, test=args.test, r2_out=r2_out, title=args.title
        )
        print(out, r2_out, *spread_error.describe(spread_error.read_table(r2_out)), sep="\n")
        return 0
    elif args.figure == "fig5":
        out = fig5(args.runs, args.out, epoch=args.epoch, title=args.title)
    elif args.figure == "gradient":
        out = fig_gradient(
            args.csv, args.out, settings=args.setting, estimators=args.estimators.split(","), title=args.title
        )
    else:
        out = fig_studies(args.sweeps, args.out, y=args.y.split(","), title=args.title)
    print(out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m smallworld_eqp.plots``; returns the exit code."""
    return run_main(build_parser, _draw, argv)


if __name__ == "__main__":
    sys.exit(main())
