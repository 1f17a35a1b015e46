"""Which graph measure predicts training across graph designs?

In one family of graphs every measure moves with the skip count, so each correlates
with the outcome and none is singled out. Across designs that decouple them
(:data:`smallworld_eqp.graph.designs.DESIGNS`: one span, one end fixed, intra-layer
edges, added or replacing), a measure that carries the effect predicts a design it
was not fitted on. For every registered graph measure
(:data:`smallworld_eqp.config.GRAPH_MEASURES`, the hidden layers' columns of
:data:`smallworld_eqp.config.LAYER_MEASURES`, and the mean hidden-layer hops of
:func:`analysis.correlations.with_hops_mean`) and every target (the spread,
eq. 23, as log10, and the one-epoch online error), this module computes

``r2_within``
    the mean over designs of the R^2 of a straight-line fit inside each design (with
    at least 3 trials and the measure not constant there): how well it orders the
    trials of one design;
``r2_pooled``
    the R^2 of one straight-line fit over all trials, with its slope and 95% CI;
``r2_leave_one_design_out``
    ``1 - SSE / SST`` over all trials, each predicted by the straight-line fit on the
    *other* designs (SST about the mean of all trials): 1 is perfect transfer,
    0 no better than the overall mean, negative worse;
``partial_*``
    for the measures in the multivariate fit, the partial effect of one standard
    deviation of the measure with the others held fixed (ordinary least squares on
    z-scored measures, statsmodels, HC3 heteroscedasticity-robust 95% CIs). The
    candidates are the one-number measures (not the per-layer columns, which would
    crowd the fit with near-copies); they enter in order of their
    ``r2_leave_one_design_out``, skipping one that the measures already in explain
    to R^2 > 0.9 (a variance inflation factor above 10: a near-duplicate, such as
    one edge count among the others), at most one per 10 trials. ``model_r2`` and
    ``model_r2_leave_one_design_out`` are the whole fit's.

A design is the trial's ``design`` setting, with ``-add`` for ``mode="add"`` and
``+intra`` for intra-connected hidden layers. All trials must otherwise be of one
study (same settings but the design, the mode, the intra-layer edges, the rewiring
amount and the seed).

Usage::

    python -m analysis.graph_designs analysis/results/graph_designs.csv --out analysis/results

writes ``graph_designs_predictors.csv`` (one row per measure and target),
``graph_designs_predictors.png`` (each target against each one-number measure,
coloured by design) and ``graph_designs_add_vs_replace.csv`` to ``--out``.

The last answers the paper's future work "add connections instead of replacing
them" at equal skip count: trials of ``mode="add"`` and ``mode="replace"`` with the
same design, skip count and seed are paired, and for each design (and all designs
together) it gives the mean paired difference add - replace of each target (the
spread as log10) with its 95% t interval and the paired t-test's p-value
(:data:`ADD_VS_REPLACE_COLUMNS`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from matplotlib import colormaps
from scipy import stats

from analysis import DEFAULT_OUT
from analysis.correlations import measure_columns, one_number_measures, with_hops_mean
from smallworld_eqp.cli import OneLineParser, run_main
from smallworld_eqp.plots import is_own_figure, new_figure, save_figure
from smallworld_eqp.study import schema, studies
from smallworld_eqp.study.resultlog import read_header

#: Targets: label, and the transform applied before fitting.
TARGETS = {
    "spread": ("log10 spread (eq. 23)", np.log10),
    "online_error_epoch1": ("one-epoch online error", lambda y: y),
}
#: Settings that make the design (the rest must be one study).
DESIGN_SETTINGS = ("design", "mode", "intra", "steps")
MIN_ROWS = 3
# A measure the ones already in the multivariate fit explain to this R^2 stays out.
MAX_SHARED_R2 = 0.9
# At most one measure in the multivariate fit per this many trials.
ROWS_PER_MEASURE = 10
# Panels in a row of the figure.
PANELS_PER_ROW = 5
COLUMNS = [
    "measure",
    "target",
    "transform",
    "n",
    "n_designs",
    "r2_within",
    "r2_pooled",
    "r2_leave_one_design_out",
    "slope",
    "slope_ci_low",
    "slope_ci_high",
    "in_model",
    "partial_effect",
    "partial_ci_low",
    "partial_ci_high",
    "partial_p_value",
    "model_r2",
    "model_r2_leave_one_design_out",
]


def design_labels(df: pd.DataFrame) -> pd.Series:
    """Each trial's design: ``design``, ``-add`` for ``mode="add"``, ``+intra`` with
    intra-layer edges.

    Examples
    --------
    >>> design_labels(pd.DataFrame({"design": ["span-2", "uniform"], "mode": ["add", "replace"],
    ...                             "intra": [False, True]})).tolist()
    ['span-2-add', 'uniform+intra']
    """
    label = df["design"].astype(str)
    if "mode" in df:
        label = label + np.where(df["mode"].astype(str) == "add", "-add", "")
    if "intra" in df:
        label = label + np.where(df["intra"].astype(str).isin(["True", "true", "1", "1.0"]), "+intra", "")
    return label


def check_one_study(df: pd.DataFrame) -> None:
    """Raise when the trials differ in a setting other than the design ones."""
    keys = df[[c for c in studies.study_columns() if c in df and c not in DESIGN_SETTINGS]].map(str)
    varying = [c for c in keys if keys[c].nunique() > 1]
    if varying:
        raise ValueError(
            f"the trials differ in {', '.join(varying)}: compare designs within one study "
            f"(only {', '.join(DESIGN_SETTINGS)}, the rewiring amount and the seed may differ)"
        )


def measures(df: pd.DataFrame) -> list[str]:
    """The registered graph measures in ``df`` that vary: the one-number ones
    (:func:`one_number_measures`), then the hidden layers' per-layer columns
    (:func:`analysis.correlations.measure_columns`, the predictors of the correlations)."""
    out = []
    for name in measure_columns(df, first_layer=1):
        x = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
        if np.isfinite(x).sum() >= MIN_ROWS and np.ptp(x[np.isfinite(x)]) > 0:
            out.append(name)
    return out


def _fit(x: np.ndarray, y: np.ndarray):
    """Ordinary least squares of ``y`` on the columns of ``x`` and a constant."""
    return sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()


def r2_within(x: np.ndarray, y: np.ndarray, design: np.ndarray) -> float:
    """Mean over designs of the in-sample R^2 of a straight line through the design's
    trials; NaN when no design has 3 trials with ``x`` and ``y`` not constant."""
    r2 = []
    for d in np.unique(design):
        xs, ys = x[design == d], y[design == d]
        if xs.shape[0] >= MIN_ROWS and np.ptp(xs) > 0 and np.ptp(ys) > 0:
            r2.append(_fit(xs, ys).rsquared)
    return float(np.mean(r2)) if r2 else float("nan")


def r2_leave_one_design_out(x: np.ndarray, y: np.ndarray, design: np.ndarray) -> float:
    """``1 - SSE / SST`` of predicting every design from a fit on the other designs.

    ``x`` is (n,) or (n, k). NaN with fewer than 2 designs, or when a fit's measures
    are constant over the other designs (nothing to fit).
    """
    x = x.reshape(len(y), -1)
    predicted = np.empty_like(y)
    designs = np.unique(design)
    if designs.shape[0] < 2:
        return float("nan")
    for d in designs:
        held = design == d
        if np.any(np.ptp(x[~held], axis=0) == 0):
            return float("nan")
        fit = _fit(x[~held], y[~held])
        predicted[held] = fit.predict(sm.add_constant(x[held], has_constant="add"))
    return float(1.0 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2))


def _zscores(frame: pd.DataFrame) -> np.ndarray:
    x = frame.to_numpy(dtype=float)
    return (x - x.mean(axis=0)) / x.std(axis=0)


def multivariate(
    df: pd.DataFrame, y: np.ndarray, design: np.ndarray, ranked: Sequence[str]
) -> tuple[list[str], object, float]:
    """The multivariate fit of ``y`` on z-scored measures (see the module docstring).

    Returns
    -------
    chosen : list of str
        The measures in the fit, in order of entry.
    fit : statsmodels RegressionResults
        With HC3 covariance.
    r2_lodo : float
        Its leave-one-design-out R^2.
    """
    most = max(1, len(y) // ROWS_PER_MEASURE)
    chosen: list[str] = []
    for name in ranked:
        if len(chosen) == most:
            break
        x = _zscores(df[[name]]).ravel()
        if chosen and _fit(_zscores(df[chosen]), x).rsquared > MAX_SHARED_R2:
            continue
        chosen.append(name)
    x = _zscores(df[chosen])
    fit = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit(cov_type="HC3")
    return chosen, fit, r2_leave_one_design_out(x, y, design)


def _measure_row(
    name: str, target: str, x_all: np.ndarray, y_all: np.ndarray, design_all: np.ndarray
) -> dict:
    """The one-measure columns of the predictor table for measure ``name`` (values
    ``x_all``) and ``target`` (values ``y_all``), over the trials where both are finite."""
    ok = np.isfinite(x_all) & np.isfinite(y_all)
    x, y, design = x_all[ok], y_all[ok], design_all[ok]
    row = {
        "measure": name,
        "target": target,
        "transform": "log10" if target == "spread" else "none",
        "n": int(ok.sum()),
        "n_designs": int(np.unique(design).shape[0]),
        "r2_within": r2_within(x, y, design),
    }
    if row["n"] >= MIN_ROWS and np.ptp(x) > 0:
        fit = _fit(x, y)
        low, high = fit.conf_int()[1]
        row |= {
            "r2_pooled": fit.rsquared,
            "r2_leave_one_design_out": r2_leave_one_design_out(x, y, design),
            "slope": fit.params[1],
            "slope_ci_low": low,
            "slope_ci_high": high,
        }
    return row


def _add_model(
    table: pd.DataFrame, df: pd.DataFrame, names: Sequence[str], y_all: np.ndarray, design_all: np.ndarray
) -> None:
    """Fill the multivariate columns (``in_model``, ``partial_*``, ``model_*``) of one
    target's ``table`` in place: the fit (:func:`multivariate`) over the trials where the
    target and all measures ``names`` are finite, candidates ranked by the table."""
    complete = np.isfinite(y_all) & np.isfinite(df[names].to_numpy(dtype=float)).all(axis=1)
    ranked = (
        table.dropna(subset=["r2_leave_one_design_out"])
        .sort_values("r2_leave_one_design_out", ascending=False)["measure"]
        .tolist()
    )
    ranked = [
        m
        for m in ranked
        if m in one_number_measures() and np.ptp(df.loc[complete, m].to_numpy(dtype=float)) > 0
    ]
    table["in_model"] = False
    if ranked and complete.sum() > MIN_ROWS:
        chosen, fit, lodo = multivariate(df[complete], y_all[complete], design_all[complete], ranked)
        ci = fit.conf_int()
        for k, name in enumerate(chosen, start=1):
            at = table["measure"] == name
            table.loc[at, "in_model"] = True
            table.loc[at, ["partial_effect", "partial_ci_low", "partial_ci_high", "partial_p_value"]] = [
                fit.params[k],
                ci[k, 0],
                ci[k, 1],
                fit.pvalues[k],
            ]
        table["model_r2"] = fit.rsquared
        table["model_r2_leave_one_design_out"] = lodo


def predictors(df: pd.DataFrame) -> pd.DataFrame:
    """The predictor table, one row per measure and target (columns :data:`COLUMNS`).

    Parameters
    ----------
    df : pandas.DataFrame
        Sweep rows of one study (:func:`schema.load_sweep`) with a ``design`` column.

    Raises
    ------
    ValueError
        With fewer than 3 trials, one design only, or trials of several studies.
    """
    if len(df) < MIN_ROWS:
        raise ValueError(f"need at least {MIN_ROWS} ok trials, got {len(df)}")
    check_one_study(df)
    df = with_hops_mean(df).reset_index(drop=True)
    design_all = design_labels(df).to_numpy()
    if np.unique(design_all).shape[0] < 2:
        raise ValueError(f"need trials of at least 2 designs to compare them, got only {design_all[0]!r}")
    names = measures(df)
    rows = []
    for target, (_, transform) in TARGETS.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            y_all = transform(pd.to_numeric(df[target], errors="coerce").to_numpy(dtype=float))
        per_measure = [
            _measure_row(name, target, df[name].to_numpy(dtype=float), y_all, design_all) for name in names
        ]
        table = pd.DataFrame(per_measure).reindex(columns=COLUMNS)
        _add_model(table, df, names, y_all, design_all)
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def figure(df: pd.DataFrame, out: Path) -> Path:
    """Each target against each one-number measure that varies, one colour per design:
    a block of panels per target, :data:`PANELS_PER_ROW` to a row."""
    df = with_hops_mean(df).reset_index(drop=True)
    design = design_labels(df)
    shown = [m for m in measures(df) if m in one_number_measures()]
    n_cols = min(PANELS_PER_ROW, len(shown))
    block = -(-len(shown) // n_cols)  # rows per target
    fig = new_figure(2.6 * n_cols + 1.8, 2.4 * block * len(TARGETS))
    axes = fig.subplots(block * len(TARGETS), n_cols, squeeze=False)
    cmap = colormaps["tab20"]  # pairs of a dark and a light shade: a design and its -add
    for t, (target, (label, transform)) in enumerate(TARGETS.items()):
        with np.errstate(divide="ignore", invalid="ignore"):
            y = transform(pd.to_numeric(df[target], errors="coerce").to_numpy(dtype=float))
        for k, name in enumerate(shown):
            ax = axes[t * block + k // n_cols, k % n_cols]
            for c, d in enumerate(sorted(design.unique())):
                at = (design == d).to_numpy()
                ax.scatter(df.loc[at, name], y[at], s=12, color=cmap(c % 20), label=d, edgecolors="none")
            ax.set_xlabel(name)
            ax.grid(True, alpha=0.4)
            if k % n_cols == 0:
                ax.set_ylabel(label)
        for k in range(len(shown), block * n_cols):
            axes[t * block + k // n_cols, k % n_cols].set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", title="design", fontsize="small")
    fig.suptitle("Training outcomes against graph measures, by graph design")
    return save_figure(fig, out)


#: Columns of the add-versus-replace table.
ADD_VS_REPLACE_COLUMNS = [
    "design",
    "target",
    "n_pairs",
    "mean_replace",
    "mean_add",
    "mean_difference",
    "ci_low",
    "ci_high",
    "p_value",
]
#: What pairs an added-edges trial with a replaced-edges one.
PAIR_KEYS = ["design", "n_replaced", "seed"]


def add_vs_replace(df: pd.DataFrame) -> pd.DataFrame:
    """Paired differences add - replace at equal design, skip count and seed, per design
    and over all designs (``design == "all"``); targets transformed as in :data:`TARGETS`.

    Examples
    --------
    >>> df = pd.DataFrame({"design": ["uniform"] * 4, "mode": ["replace", "add"] * 2,
    ...                    "n_replaced": [300, 300, 1000, 1000], "seed": 0,
    ...                    "spread": [10.0, 1.0, 10.0, 1.0],
    ...                    "online_error_epoch1": [0.5, 0.4, 0.3, 0.3]})
    >>> add_vs_replace(df).set_index(["design", "target"])["mean_difference"].round(3).tolist()
    [-1.0, -0.05, -1.0, -0.05]
    """
    if "mode" not in df:
        return pd.DataFrame(columns=ADD_VS_REPLACE_COLUMNS)
    pairs = df[df["mode"] == "replace"].merge(df[df["mode"] == "add"], on=PAIR_KEYS, suffixes=("_r", "_a"))
    rows = []
    for design, group in [*pairs.groupby("design", sort=True), ("all", pairs)]:
        for target, (_, transform) in TARGETS.items():
            r = transform(group[f"{target}_r"].to_numpy(float))
            a = transform(group[f"{target}_a"].to_numpy(float))
            d = a - r
            n = len(d)
            if n >= 2:
                half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)
                p = stats.ttest_rel(a, r).pvalue if d.std(ddof=1) > 0 else float("nan")
            else:
                half, p = float("nan"), float("nan")
            mean = d.mean() if n else float("nan")
            rows.append(
                [
                    design,
                    target,
                    n,
                    r.mean() if n else np.nan,
                    a.mean() if n else np.nan,
                    mean,
                    mean - half,
                    mean + half,
                    p,
                ]
            )
    return pd.DataFrame(rows, columns=ADD_VS_REPLACE_COLUMNS)


def _check_table_path(path: Path, columns: list[str]) -> None:
    """Refuse an existing file that is not this module's table of ``columns``."""
    if path.exists() and read_header(path) != columns:
        raise ValueError(
            f"{path} exists and is not a {path.stem} table of this module; move it or choose --out"
        )


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write a table of this module (the predictors or add versus replace); an existing
    file is replaced only if it holds the same columns."""
    path = Path(path)
    _check_table_path(path, list(table.columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format="%.6g")
    return path


def write(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``graph_designs_predictors.csv`` and ``.png`` and ``graph_designs_add_vs_replace.csv``
    in ``out_dir``; return their paths. Every path is checked before any is written."""
    out_dir = Path(out_dir)
    png = out_dir / "graph_designs_predictors.png"
    if png.exists() and not is_own_figure(png):
        raise ValueError(f"{png} exists and is not a figure of this package; move it or choose --out")
    tables = {
        out_dir / "graph_designs_predictors.csv": predictors(df),
        out_dir / "graph_designs_add_vs_replace.csv": add_vs_replace(df),
    }
    for path, table in tables.items():
        _check_table_path(path, list(table.columns))
    written = [write_csv(table, path) for path, table in tables.items()]
    return [written[0], figure(df, png), written[1]]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m analysis.graph_designs",
        description="Predictive power of each graph measure for spread and one-epoch error, "
        "within graph designs and leave-one-design-out.",
    )
    parser.add_argument("csvs", nargs="+", metavar="SWEEP_CSV", help="sweep CSVs of one study (ok trials)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    return parser


def _graph_designs(args: argparse.Namespace) -> None:
    files = write(schema.load_sweep(args.csvs), Path(args.out))
    print("\n".join(map(str, files)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (bad input exits 2 with one line on stderr)."""
    return run_main(build_parser(), _graph_designs, argv)


if __name__ == "__main__":
    sys.exit(main())
