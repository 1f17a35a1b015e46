"""Do graph metrics track the spread of training rates and the one-epoch error?

The paper (section 2.3) reports that performance "does not track closely" with
the clustering coefficient or the characteristic path length, and (5.1.2) argues
that a layer's training rate depends on its path length to the output. This
module measures both claims on a sweep: Spearman rank correlations (monotone, not
only linear, relations) of

* predictors: every registered graph measure that the sweep holds
  (:func:`predictors`): the one-number measures of
  :data:`smallworld_eqp.config.GRAPH_MEASURES` (``path_length``, eq. 15,
  ``clustering``, eq. 16, the edge counts, ...), the mean hop distance to the
  output over the hidden layers (``hops_mean_hidden``, :func:`with_hops_mean`), and
  each layer's column of the per-layer measures of
  :data:`smallworld_eqp.config.LAYER_MEASURES` (``hops_to_output_<l>``, ...; the
  output layer's, always 0, is left out),
* with outcomes: ``spread`` (eq. 23), ``log_spread`` and ``online_error_epoch1``.

A measure registered later is a predictor without an edit here; one that a sweep's
files lack (written before it existed) is left out of its tables, and one that is
constant in a study shows as n/a.

Usage::

    python -m analysis.correlations data/results/sweep*.csv [--out analysis/out]

writes ``correlations.md`` (one markdown table per outcome: rho, p-value, n) and
``scatter_<outcome>.png`` (the outcome against path length, clustering and mean
hidden-layer hops) to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from scipy import stats

from analysis import DEFAULT_OUT, each_study, markdown_path, markdown_table, write_markdown
from smallworld_eqp.cli import OneLineParser, run_main
from smallworld_eqp.config import GRAPH_MEASURES, LAYER_MEASURES
from smallworld_eqp.owned import check_output_folder
from smallworld_eqp.plots import new_figure, save_figure
from smallworld_eqp.study import schema

OUTCOMES = {
    "spread": "Spread (eq. 23)",
    "log_spread": "log-spread (std of log10 mean pair rates)",
    "online_error_epoch1": "one-epoch online error",
}
MIN_ROWS = 3

#: The first line of ``correlations.md`` (how a later run knows the file is ours).
HEADING = "## Spearman correlations of graph metrics with training outcomes"


def with_hops_mean(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``hops_mean_hidden``: each row's mean hop distance over its hidden layers."""
    out = df.copy()
    depth = out["layers"].map(schema.n_layers_of)
    hops = out[[c for c in out.columns if c.startswith("hops_to_output_")]].to_numpy(dtype=float)
    layer = np.arange(hops.shape[1])[None, :]
    hidden = (layer >= 1) & (layer <= depth.to_numpy()[:, None] - 2)
    with np.errstate(invalid="ignore"):
        out["hops_mean_hidden"] = np.where(hidden, hops, 0.0).sum(axis=1) / hidden.sum(axis=1)
    return out


#: Measures derived from the registered ones here, after them in a table: the mean
#: hidden-layer hops (:func:`with_hops_mean`).
DERIVED_MEASURES = ("hops_mean_hidden",)


def one_number_measures() -> list[str]:
    """The graph measures with one number per graph: the registered ones
    (:data:`smallworld_eqp.config.GRAPH_MEASURES`), in registry order, then
    :data:`DERIVED_MEASURES`."""
    return [*GRAPH_MEASURES, *DERIVED_MEASURES]


def measure_columns(df: pd.DataFrame, first_layer: int = 0) -> list[str]:
    """The graph measures' columns of ``df`` that hold a value, in registry order.

    Parameters
    ----------
    df : pandas.DataFrame
        Sweep rows (:func:`smallworld_eqp.study.schema.load_sweep`), with
        ``hops_mean_hidden`` where :func:`with_hops_mean` added it.
    first_layer : int
        The first layer whose per-layer columns are taken (0 the input layer, 1 the
        first hidden layer).

    Returns
    -------
    list of str
        The one-number measures (:func:`one_number_measures`), then every per-layer
        measure's columns ``<name>_<layer>`` (:data:`smallworld_eqp.config.LAYER_MEASURES`)
        from ``first_layer`` to the last hidden layer of the deepest network (the output
        layer's is the same, 0, in every graph); of those, the ones in ``df`` with at
        least one value (a file written before a measure existed has none).

    Examples
    --------
    >>> df = pd.DataFrame({"layers": ["4-3-2"], "path_length": [2.0], "n_skip": [np.nan],
    ...                    "hops_to_output_0": [2.0], "hops_to_output_1": [1.0], "hops_to_output_2": [0.0]})
    >>> measure_columns(df), measure_columns(df, first_layer=1)
    (['path_length', 'hops_to_output_0', 'hops_to_output_1'], ['path_length', 'hops_to_output_1'])
    """
    deepest = max(df["layers"].map(schema.n_layers_of), default=3)
    per_layer = [f"{name}_{lay}" for name in LAYER_MEASURES for lay in range(first_layer, deepest - 1)]
    return [c for c in one_number_measures() + per_layer if c in df and df[c].notna().any()]


def predictors(df: pd.DataFrame) -> list[str]:
    """The predictor columns of ``df``, in display order: every registered graph
    measure it holds (:func:`measure_columns`), each layer's from the input layer on."""
    return measure_columns(df, first_layer=0)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """Spearman's rho, its two-sided p-value and the number of complete pairs.

    NaN rho and p when fewer than 3 complete pairs remain or either side is constant.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < MIN_ROWS or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan"), float("nan"), n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        res = stats.spearmanr(x[ok], y[ok])
    return float(res.statistic), float(res.pvalue), n


def correlate(df: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlations of every predictor with every outcome.

    Parameters
    ----------
    df : pandas.DataFrame
        Sweep rows (:func:`smallworld_eqp.study.schema.load_sweep`).

    Returns
    -------
    pandas.DataFrame
        Columns ``outcome``, ``metric``, ``rho``, ``p_value``, ``n``.

    Raises
    ------
    ValueError
        With fewer than 3 trials.
    """
    if len(df) < MIN_ROWS:
        raise ValueError(f"need at least {MIN_ROWS} ok trials to correlate, got {len(df)}")
    df = with_hops_mean(df)
    rows = []
    for outcome in OUTCOMES:
        for metric in predictors(df):
            rho, p, n = spearman(df[metric], df[outcome])
            rows.append({"outcome": outcome, "metric": metric, "rho": rho, "p_value": p, "n": n})
    return pd.DataFrame(rows)


SCATTER_METRICS = ("path_length", "clustering", "hops_mean_hidden")


def scatter(df: pd.DataFrame, outcome: str, out: Path) -> Path:
    """The outcome against path length, clustering and mean hidden-layer hops.

    One panel per metric (the per-layer hop counts are in the tables only),
    points coloured by the number of replaced connections.
    """
    df = with_hops_mean(df)
    fig = new_figure(3.2 * len(SCATTER_METRICS) + 0.8, 3.2)
    axes = fig.subplots(1, len(SCATTER_METRICS), sharey=True)
    color = np.log10(1.0 + df["n_replaced"].to_numpy(dtype=float))
    y = df[outcome].to_numpy(dtype=float)
    log_y = outcome == "spread" and bool(np.all(y[np.isfinite(y)] > 0))
    for ax, metric in zip(axes, SCATTER_METRICS):
        rho, p, n = spearman(df[metric], df[outcome])
        points = ax.scatter(df[metric], y, c=color, cmap="viridis", s=14, edgecolors="none")
        ax.set_xlabel(metric)
        ax.set_title(f"rho = {rho:.2f}, p = {p:.2g}, n = {n}", fontsize="small")
        if log_y:
            # Spread spans a decade or two: label 1-2-5 steps in plain numbers.
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, alpha=0.4)
    axes[0].set_ylabel(OUTCOMES[outcome])
    fig.colorbar(points, ax=list(axes), label="log10(1 + replaced connections)")
    fig.suptitle(f"{OUTCOMES[outcome]} against graph metrics (Spearman rho)")
    return save_figure(fig, out)


def _correlate_study(df: pd.DataFrame, out_dir: Path, suffix: str) -> tuple[str, list[Path]]:
    """One study's tables and ``scatter_<outcome><suffix>.png``; return markdown and files."""
    table = correlate(df)
    lines, files = [f"{len(df)} ok trials."], []
    for outcome, label in OUTCOMES.items():
        part = table[table["outcome"] == outcome].drop(columns="outcome")
        png = scatter(df, outcome, out_dir / f"scatter_{outcome}{suffix}.png")
        files.append(png)
        lines += [
            "",
            f"#### {label} (`{outcome}`)",
            "",
            markdown_table(part),
            "",
            f"![{outcome}]({png.name})",
        ]
    return "\n".join(lines), files


def write(df: pd.DataFrame, out_dir: Path, sources: Sequence[str] = ()) -> tuple[str, list[Path]]:
    """Correlate within each study of the sweep (:func:`analysis.each_study`: across
    network sizes or settings a correlation would mostly measure those), write
    ``correlations.md`` and the scatter plots; return the markdown and the files."""
    out_dir = Path(out_dir)
    body, files = each_study(df, lambda rows, suffix: _correlate_study(rows, out_dir, suffix))
    lines = [
        HEADING,
        "",
        (f"Trials from {', '.join(map(str, sources))}. " if sources else "")
        + "n/a: fewer than 3 trials with both values, or a constant column.",
        "",
        body,
    ]
    text = "\n".join(lines) + "\n"
    md = write_markdown(out_dir / "correlations.md", text, HEADING)
    return text, [md, *files]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m analysis.correlations",
        description="Spearman correlations of graph metrics with spread and one-epoch error.",
    )
    parser.add_argument("csvs", nargs="+", metavar="SWEEP_CSV", help="sweep CSVs (ok trials are used)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    return parser


def _correlations(args: argparse.Namespace) -> None:
    out = check_output_folder(args.out)
    markdown_path(
        out / "correlations.md", HEADING
    )  # a file that is not ours stops the command before any work
    _, files = write(schema.load_sweep(args.csvs), out, args.csvs)
    print("\n".join(map(str, files)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (bad input exits 2 with one line on stderr)."""
    return run_main(build_parser, _correlations, argv)


if __name__ == "__main__":
    sys.exit(main())
