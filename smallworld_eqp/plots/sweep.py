"""Figures of sweeps, drawn from their CSVs: Fig. 4 (one-epoch error against the
rewiring), the journal's Fig. 4 after several epochs (error and log-spread of sweeps of
different lengths side by side) and the per-study outcome figure.

Imports: :mod:`.style`, the results schema (:mod:`smallworld_eqp.study.schema`) and
:mod:`smallworld_eqp.study.spread_error`; never numba.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from smallworld_eqp.plots.style import (
    PathLike,
    check_figure_path,
    error_axis,
    measures_of,
    new_figure,
    pair_colors,
    pair_labels,
    run_colors,
    save_figure,
    zero_log_axes,
)
from smallworld_eqp.study import schema, spread_error, studies

X_CHOICES = ("n_replaced", "p")
BANDS = ("minmax", "std")
X_LABELS = {
    "n_replaced": "replaced connections $n$",
    "p": "per-edge replacement probability $p$ (footnote 2)",
}

# ----------------------------------------------------------------- Fig. 4


def _pool_key(df: pd.DataFrame) -> pd.Series:
    """What each trial fixed: its p, or its count where the count was requested.

    Seeds drawn at one p replace different numbers of edges; pooling them by p keeps
    one point per p instead of one per seed.
    """
    by_p = df["requested"].eq("p") if "requested" in df else pd.Series(False, index=df.index)
    key = ("p=" + df["p"].map(repr)).where(by_p, "n=" + df["n_replaced"].map(repr))
    return key.where(df["n_replaced"] != 0, "none").rename("pool")


def _by_x(df: pd.DataFrame, x: str, y: str, band: str) -> pd.DataFrame:
    """Mean and band of ``y`` per pooled trial group, drawn at the group's mean ``x``."""
    pools = df.groupby(_pool_key(df))
    g = pools[y]
    stats = pd.DataFrame({x: pools[x].mean(), "mean": g.mean(), "count": g.count()})
    if band == "minmax":
        stats["lo"], stats["hi"] = g.min(), g.max()
    else:
        sd = g.std(ddof=1).fillna(0.0)
        stats["lo"], stats["hi"] = stats["mean"] - sd, stats["mean"] + sd
    return stats.sort_values(x).reset_index(drop=True)


def _check_choices(x: str, band: str) -> None:
    """Raise unless ``x`` and ``band`` name an x axis and a band of the Fig. 4 figures."""
    if x not in X_CHOICES:
        raise ValueError(f"x must be one of {', '.join(X_CHOICES)}, got {x!r}")
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")


def _load_trials(
    sweep_csvs: PathLike | Iterable[PathLike], x: str, measure: str | None = None
) -> pd.DataFrame:
    """The ok trials of ``sweep_csvs`` with a value of ``x`` (and errors of kind
    ``measure``, if given), with their source; raise if there is none."""
    paths = schema.as_paths(sweep_csvs)
    df = schema.load_sweep(paths, source=True)
    df = df[df[x].notna()]
    if measure is not None:
        df = df[df["error_measure"] == measure]
    if df.empty:
        what = f"{x}" if measure is None else f"{x} and error measure {measure!r}"
        raise ValueError(f"no ok trial with a value of {what} in {', '.join(map(str, paths))}")
    return df


def _spread_text(band: str) -> str:
    """How a legend or title names ``band``."""
    return "min-max" if band == "minmax" else "±1 std"


def _fig4_errors(
    top, members: list[tuple[str, pd.DataFrame]], x: str, band: str, test: bool, scale: float
) -> list:
    """Draw each study of a :func:`fig4` panel on its upper axes ``top``: mean and band
    of the one-epoch error, and the test error if ``test``.

    Returns
    -------
    list of int
        The number of trials behind each point.
    """
    counts = []
    for (name, part), color in zip(members, run_colors(len(members))):
        stats = _by_x(part, x, "online_error_epoch1", band)
        counts += stats["count"].tolist()
        top.band(stats[x], scale * stats["lo"], scale * stats["hi"], color)
        top.plot(stats[x], scale * stats["mean"], "o-", color=color, markersize=4, label=name)
        if test:
            st = _by_x(part, x, "test_error", band)
            top.plot(st[x], scale * st["mean"], "s--", color=color, markersize=3)
    return counts


def _fig4_legend(top, n_members: int, counts: list, band: str, test: bool) -> None:
    """The legend of a :func:`fig4` panel: one entry per study (its colour) and, with
    the test error, one per line style; titled with the band and the trial counts."""
    seeds = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
    style = []
    if test:
        style = [
            Line2D([], [], color="k", marker="o", markersize=4, label="online error"),
            Line2D([], [], color="k", marker="s", linestyle="--", markersize=3, label="test error"),
        ]
    top.legend(
        extra=style,
        below=n_members + len(style) > LEGEND_INSIDE,
        fontsize="x-small",
        title=f"mean, {_spread_text(band)} over {seeds} trials",
        title_fontsize="x-small",
    )


def _fig4_pairs(bottom, df: pd.DataFrame, x: str, band: str) -> None:
    """The lower panel of ``fig4(pairs=True)``: the per-pair totals of eq. 22, log-log."""
    dws = [c for c in df.columns if c.startswith("dw_") and df[c].notna().any()]
    for col, label, color in zip(dws, pair_labels(len(dws)), pair_colors(len(dws))):
        stats = _by_x(df, x, col, band)
        bottom.plot(stats[x], stats["mean"], "o-", color=color, markersize=3, label=label)
    bottom.set_yscale("log")
    bottom.set_ylabel(r"total correction $\Delta w^l$ (eq. 22)")
    bottom.legend(fontsize="x-small", ncol=2)
    bottom.set_xlabel(X_LABELS[x])


def fig4(
    sweep_csvs: PathLike | Iterable[PathLike],
    out: PathLike,
    *,
    x: str = "n_replaced",
    test: bool = False,
    pairs: bool = False,
    band: str = "minmax",
    measure: str | None = None,
    title: str | None = None,
) -> Path:
    """One-epoch error against the number of replaced connections, like Fig. 4.

    The mean over seeds of ``online_error_epoch1`` (the training error during the
    first epoch, each batch seen before its update) with a band over seeds, on a
    log x axis; the trials without replacement sit on a separate axis at 0 (see
    :class:`ZeroLogAxes`). Each network (data set and layer sizes) gets its own
    panel and error unit (:func:`network_families`); its studies are series named
    by what tells them apart, the test error one line style for all.

    Parameters
    ----------
    sweep_csvs : path-like or iterable of path-like
        Sweep CSVs; only ``status == "ok"`` trials are drawn.
    out : path-like
    x : {"n_replaced", "p"}
        Replacement count or the equivalent per-edge probability (footnote 2).
        Trials are pooled by what they fixed (p, or the count) and drawn at the
        mean x of the pool, so seeds at one p make one point.
    test : bool
        Also draw the test error after training (dashed).
    pairs : bool
        Add a lower panel with the per-pair totals of eq. 22 (``dw_*``) during the
        trial, log-log, as in the authors' released figure; needs a single series.
    band : {"minmax", "std"}
        Band over seeds: min to max, or mean +- one standard deviation.
    measure : {"misclassification", "cost"}, optional
        Draw only the trials whose errors are of this kind (``error_measure``);
        without it, each network's panel has its own unit (a rate in percent, a
        regression's cost C).
    title : str, optional

    Returns
    -------
    pathlib.Path
    """
    _check_choices(x, band)
    df = _load_trials(sweep_csvs, x, measure)
    series = studies.by_configuration(df)
    if pairs and len(series) > 1:
        raise ValueError(
            f"pairs=True needs the trials of one configuration, got {len(series)}: "
            + "; ".join(name for name, _ in series)
        )
    panels = network_families(series)
    ncols = min(len(panels), FIG4_PANELS_PER_ROW)
    nrows = -(-len(panels) // ncols)
    width, height = (6.4, 6.4) if pairs else (5.6, 4.2)
    fig = new_figure(width * ncols, height * nrows + 0.3)
    subfigs = np.atleast_1d(fig.subfigures(nrows, ncols, squeeze=False)).ravel()
    for subfig, (family, members) in zip(subfigs, panels):
        part_x = pd.concat([rows[x] for _, rows in members]).to_numpy()
        # Each network its own unit: a classifier's rate beside a regression's cost C.
        scale, unit = error_axis(rows for _, rows in members)
        rows_axes = zero_log_axes(subfig, part_x, nrows=2 if pairs else 1)
        top = rows_axes[0]
        counts = _fig4_errors(top, members, x, band, test, scale)
        top.set_ylabel(f"error after one epoch {unit}")
        _fig4_legend(top, len(members), counts, band, test)
        # A panel title: an axes title would widen the narrow zero axis in the layout.
        subfig.suptitle(family, fontsize="medium")
        if pairs:
            _fig4_pairs(rows_axes[1], df, x, band)
        else:
            top.set_xlabel(X_LABELS[x])
    fig.suptitle(title or "Fig. 4: online error during the first epoch")
    return save_figure(fig, out)


# ----------------------------------------------------------------- Fig. 4 after several epochs

#: Line styles of the sweeps in :func:`fig4_epochs`, the longest first.
EPOCHS_STYLES = ("-", "--", ":", "-.")


def _draw_epochs_sweeps(
    err_ax, spread_ax, df: pd.DataFrame, sweeps: list, x: str, band: str, test: bool, scale: float
) -> None:
    """Draw each sweep of :func:`fig4_epochs` (``spread_error.by_epochs``), the longest
    solid: its errors on ``err_ax`` and its log-spread on ``spread_ax``."""
    online_color, test_color, spread_color = run_colors(3)
    # The longest sweep solid, the others dashed, dotted, ...
    styles = dict(zip(sorted({e for _, e, _ in sweeps}, reverse=True), EPOCHS_STYLES * len(sweeps)))
    for label, epochs, part in reversed(sweeps):  # the longest first in the legends
        part = df.loc[part.index]
        ls = styles[epochs]
        stats = _by_x(part, x, "online_error_last", band)
        err_ax.band(stats[x], scale * stats["lo"], scale * stats["hi"], online_color, alpha=0.12)
        err_ax.plot(
            stats[x], scale * stats["mean"], marker="o", linestyle=ls, color=online_color,
            markersize=4, label=f"online error, {label}",
        )  # fmt: skip
        if test:
            st = _by_x(part, x, "test_error", band)
            err_ax.plot(
                st[x], scale * st["mean"], marker="s", linestyle=ls, color=test_color,
                markersize=3, label=f"test error, {label}",
            )  # fmt: skip
        sp = _by_x(part, x, "log_spread", band)
        spread_ax.band(sp[x], sp["lo"], sp["hi"], spread_color, alpha=0.12)
        spread_ax.plot(
            sp[x], sp["mean"], marker="o", linestyle=ls, color=spread_color, markersize=4, label=label
        )


def _label_epochs_axes(err_ax, spread_ax, x: str, unit: str, table: pd.DataFrame) -> None:
    """Labels and legends of :func:`fig4_epochs`' two panels, and the correlations
    ``table`` beside the spread."""
    err_ax.set_ylabel(f"error after the last epoch {unit}")
    err_ax.set_xlabel(X_LABELS[x])
    err_ax.legend(fontsize="x-small")
    spread_ax.set_ylabel("log-spread of the layer training rates (eq. 22-23)")
    spread_ax.set_xlabel(X_LABELS[x])
    spread_ax.legend(fontsize="x-small", loc="upper right")
    # r^2 and rho in the lower left corner of the log axis (the spread falls with p).
    (spread_ax.log or spread_ax.zero).text(
        0.03, 0.03, "log-spread vs. online error:\n" + "\n".join(spread_error.describe(table)),
        transform=(spread_ax.log or spread_ax.zero).transAxes, fontsize="x-small", va="bottom",
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "edgecolor": "0.7"},
    )  # fmt: skip


def fig4_epochs(
    sweep_csvs: PathLike | Iterable[PathLike],
    out: PathLike,
    *,
    x: str = "p",
    band: str = "minmax",
    test: bool = True,
    r2_out: PathLike | None = None,
    title: str | None = None,
) -> Path:
    """The journal's Fig. 4: error after the last epoch and log-spread against the
    rewiring, for sweeps of one network that differ in their number of epochs.

    Left panel: the online error of each trial's last epoch (``online_error_final``,
    what the authors' logs call training error; the first epoch's in a one-epoch
    sweep) with a band over seeds, and the test error (squares); right panel: the
    log-spread of the per-layer training rates (``log_spread``, eq. 22-23). The
    sweep of most epochs is drawn solid, the others dashed (then dotted). p = 0 sits
    on its own axis at the left (:class:`ZeroLogAxes`). Beside the spread: r^2
    (squared Pearson) and Spearman's rho between log-spread and the final online
    error across each sweep's trials (:func:`smallworld_eqp.study.spread_error.correlate`).

    Parameters
    ----------
    sweep_csvs : path-like or iterable of path-like
        Sweep CSVs of one network (data set and layer sizes); their ok trials are
        grouped by ``epochs`` (:func:`smallworld_eqp.study.spread_error.by_epochs`).
    out : path-like
        The PNG to write.
    x : {"p", "n_replaced"}
    band : {"minmax", "std"}
    test : bool
        Draw the test error too.
    r2_out : path-like, optional
        Also write the correlations there as CSV
        (:data:`smallworld_eqp.study.spread_error.TABLE_COLUMNS`).
    title : str, optional

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        No ok trial, several networks, two studies of the same number of epochs, or
        mixed error measures.
    """
    _check_choices(x, band)
    check_figure_path(out)
    if r2_out is not None:
        spread_error.check_table_path(r2_out)
    df = _load_trials(sweep_csvs, x)
    sweeps = spread_error.by_epochs(df)
    table = spread_error.correlate(df)
    scale, unit = error_axis([df])
    df = df.assign(online_error_last=spread_error.final_online_error(df))
    fig = new_figure(11.0, 4.4)
    left, right = fig.subfigures(1, 2, wspace=0.02)
    (err_ax,) = zero_log_axes(left, df[x].to_numpy())
    (spread_ax,) = zero_log_axes(right, df[x].to_numpy())
    _draw_epochs_sweeps(err_ax, spread_ax, df, sweeps, x, band, test, scale)
    _label_epochs_axes(err_ax, spread_ax, x, unit, table)
    left.suptitle(f"error (mean, {_spread_text(band)} over seeds)", fontsize="medium")
    right.suptitle("log-spread", fontsize="medium")
    family = network_families(studies.by_configuration(df))[0][0]
    fig.suptitle(title or f"Fig. 4, {family}: {' and '.join(label for label, _, _ in sweeps)}")
    written = save_figure(fig, out)
    if r2_out is not None:
        spread_error.write_table(table, r2_out)
    return written


FIG4_PANELS_PER_ROW = 3
#: A legend of more entries goes below its panel, where it cannot outgrow the plot.
LEGEND_INSIDE = 6


def short_layers(layers: str) -> str:
    """Layer sizes with runs of equal hidden sizes written once: ``784-100x5-10``.

    >>> short_layers("784-100-100-100-100-100-10"), short_layers("64-32-10")
    ('784-100x5-10', '64-32-10')
    """
    sizes = str(layers).split("-")
    out: list[str] = []
    k = 0
    while k < len(sizes):
        run = 1
        while 0 < k and k + run < len(sizes) - 1 and sizes[k + run] == sizes[k]:
            run += 1
        out.append(sizes[k] if run == 1 else f"{sizes[k]}x{run}")
        k += run
    return "-".join(out)


def network_families(
    series: Sequence[tuple[str, pd.DataFrame]],
) -> list[tuple[str, list[tuple[str, pd.DataFrame]]]]:
    """Studies (:func:`studies.by_configuration`) grouped by network: data set and layer sizes.

    Returns ``(family, [(name, rows), ...])`` in first-seen order; the family reads
    ``mnist, 784-100x5-10`` and each study's name is what tells it from the other
    studies of its network: its label without the layer sizes and without the parts
    all of them share (the preset, say); a network's only study is named by its
    label without the layer sizes, else its preset, else ``all trials``.
    """
    families: dict[str, list[tuple[list[str], str, pd.DataFrame]]] = {}
    for label, rows in series:
        layers = str(rows["layers"].iloc[0])
        family = f"{rows['dataset'].iloc[0]}, {short_layers(layers)}"
        preset = str(rows["preset"].iloc[0]) if "preset" in rows and pd.notna(rows["preset"].iloc[0]) else ""
        parts = [part for part in label.split(", ") if part != layers]
        families.setdefault(family, []).append((parts, preset, rows))
    out = []
    for family, members in families.items():
        shared = set.intersection(*(set(parts) for parts, _, _ in members)) if len(members) > 1 else set()
        named = [
            (
                ", ".join(p for p in parts if p not in shared) or ", ".join(parts) or preset or "all trials",
                rows,
            )
            for parts, preset, rows in members
        ]
        out.append((family, named))
    return out


#: Columns :func:`fig_studies` can draw, with their axis labels.
STUDY_Y = {
    "test_error": "test error",
    "train_error": "training error",
    "online_error_final": "online error, last epoch",
    "online_error_epoch1": "online error, first epoch",
    "spread": "Spread (eq. 23)",
    "log_spread": "log-spread",
    "authors_spread": "authors' spread",
}


def fig_studies(
    sweep_csvs: PathLike | Iterable[PathLike],
    out: PathLike,
    *,
    y: Sequence[str] = ("test_error", "authors_spread"),
    title: str | None = None,
) -> Path:
    """Outcomes of a few rewiring amounts in each study, every seed a point.

    One panel per column of ``y``; along x the studies (:func:`studies.by_configuration`:
    data set, depth, ...), within each the trials pooled by what they fixed (p, or
    the count; "none" without rewiring), each seed a dot and the mean a bar. For
    sweeps of two or three amounts (no skip edges against p = 0.1, say), where
    Fig. 4's curve says little. An error column of a regression is its cost C
    (``error_measure``).

    Returns
    -------
    pathlib.Path
    """
    bad = [c for c in y if c not in STUDY_Y]
    if not y or bad:
        raise ValueError(f"y must name some of {', '.join(STUDY_Y)}, got {list(y)}")
    paths = schema.as_paths(sweep_csvs)
    df = schema.load_sweep(paths)
    if df.empty:
        raise ValueError(f"no ok trial in {', '.join(map(str, paths))}")
    groups = studies.by_configuration(df)
    pools = sorted(set(_pool_key(df)), key=lambda k: (k != "none", k))
    colors = run_colors(len(pools))
    fig = new_figure(2.0 + 2.2 * len(groups), 2.6 * len(y) + 1.4)
    axes = fig.subplots(len(y), 1, sharex=True, squeeze=False)[:, 0]
    width = 0.8 / len(pools)
    for ax, column in zip(axes, y):
        for k, (_, part) in enumerate(groups):
            keys = _pool_key(part)
            for j, pool in enumerate(pools):
                values = part.loc[keys == pool, column].to_numpy(dtype=float)
                values = values[np.isfinite(values)]
                if values.size == 0:
                    continue
                at = k - 0.4 + width * (j + 0.5)
                ax.bar(at, values.mean(), width * 0.9, color=colors[j], alpha=0.35)
                ax.plot(np.full(values.size, at), values, "o", color=colors[j], markersize=3.5)
        ax.set_ylabel(STUDY_Y[column])
        ax.grid(True, axis="y", alpha=0.4)
    axes[-1].set_xticks(range(len(groups)), _study_ticks(groups), fontsize="small")
    handles = [
        Line2D([], [], color=c, marker="o", linestyle="", label=pool) for c, pool in zip(colors, pools)
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(pools), fontsize="small")
    fig.suptitle(title or "Outcome per study and rewiring: every seed a dot, the mean a bar")
    return save_figure(fig, out)


def _study_ticks(studies: list[tuple[str, pd.DataFrame]]) -> list[str]:
    """Tick labels of :func:`fig_studies`: each study's label a part per line, and a
    note where its error columns hold a regression's cost C (eq. 4), not percent."""
    return [
        label.replace(", ", "\n") + ("\n(errors: cost C)" if "cost" in measures_of(part) else "")
        for label, part in studies
    ]
