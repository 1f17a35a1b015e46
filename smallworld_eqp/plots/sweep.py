"""Figures of sweeps, drawn from their CSVs: Fig. 4 (one-epoch error against the
rewiring) and the per-study outcome figure.

Imports: :mod:`.style` and the results schema (:mod:`smallworld_eqp.study.schema`); never numba.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from smallworld_eqp.plots.style import (
    PathLike,
    error_axis,
    measures_of,
    new_figure,
    pair_colors,
    pair_labels,
    run_colors,
    save_figure,
    zero_log_axes,
)
from smallworld_eqp.study import schema

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
    :class:`ZeroLogAxes`). Trials of different configurations (depth, data set,
    ...) are drawn as separate series.

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
        Draw only the trials whose errors are of this kind (``error_measure``); one
        axis cannot hold a rate and a regression's cost.
    title : str, optional

    Returns
    -------
    pathlib.Path
    """
    if x not in X_CHOICES:
        raise ValueError(f"x must be one of {', '.join(X_CHOICES)}, got {x!r}")
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    paths = schema.as_paths(sweep_csvs)
    df = schema.load_sweep(paths, source=True)
    df = df[df[x].notna()]
    if measure is not None:
        df = df[df["error_measure"] == measure]
    if df.empty:
        what = f"{x}" if measure is None else f"{x} and error measure {measure!r}"
        raise ValueError(f"no ok trial with a value of {what} in {', '.join(map(str, paths))}")
    series = schema.by_configuration(df)
    scale, unit = error_axis([df])
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
    spread_text = "min-max" if band == "minmax" else "±1 std"
    subfigs = np.atleast_1d(fig.subfigures(nrows, ncols, squeeze=False)).ravel()
    for subfig, (family, members) in zip(subfigs, panels):
        part_x = pd.concat([rows[x] for _, rows in members]).to_numpy()
        rows_axes = zero_log_axes(subfig, part_x, nrows=2 if pairs else 1)
        top = rows_axes[0]
        counts = []
        for (name, part), color in zip(members, run_colors(len(members))):
            stats = _by_x(part, x, "online_error_epoch1", band)
            counts += stats["count"].tolist()
            top.band(stats[x], scale * stats["lo"], scale * stats["hi"], color)
            top.plot(stats[x], scale * stats["mean"], "o-", color=color, markersize=4, label=name)
            if test:
                st = _by_x(part, x, "test_error", band)
                top.plot(st[x], scale * st["mean"], "s--", color=color, markersize=3, label=f"{name}, test")
        seeds = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        top.set_ylabel(f"error after one epoch {unit}")
        top.legend(
            fontsize="x-small", title=f"mean, {spread_text} over {seeds} trials", title_fontsize="x-small"
        )
        # A panel title: an axes title would widen the narrow zero axis in the layout.
        subfig.suptitle(family, fontsize="medium")
        if pairs:
            bottom = rows_axes[1]
            dws = [c for c in df.columns if c.startswith("dw_") and df[c].notna().any()]
            for col, label, color in zip(dws, pair_labels(len(dws)), pair_colors(len(dws))):
                stats = _by_x(df, x, col, band)
                bottom.plot(stats[x], stats["mean"], "o-", color=color, markersize=3, label=label)
            bottom.set_yscale("log")
            bottom.set_ylabel(r"total correction $\Delta w^l$ (eq. 22)")
            bottom.legend(fontsize="x-small", ncol=2)
            bottom.set_xlabel(X_LABELS[x])
        else:
            top.set_xlabel(X_LABELS[x])
    fig.suptitle(title or "Online training error during the first epoch (Fig. 4), one panel per network")
    return save_figure(fig, out)


FIG4_PANELS_PER_ROW = 3


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
    """Studies (:func:`schema.by_configuration`) grouped by network: data set and layer sizes.

    Returns ``(family, [(name, rows), ...])`` in first-seen order; the family reads
    ``mnist, 784-100x5-10`` and each study's name is its label without the layer
    sizes (the preset, or what tells it from its kin), else its preset, else
    ``all trials``.
    """
    families: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for label, rows in series:
        layers = str(rows["layers"].iloc[0])
        family = f"{rows['dataset'].iloc[0]}, {short_layers(layers)}"
        preset = str(rows["preset"].iloc[0]) if "preset" in rows and pd.notna(rows["preset"].iloc[0]) else ""
        name = ", ".join(part for part in label.split(", ") if part != layers) or preset or "all trials"
        families.setdefault(family, []).append((name, rows))
    return list(families.items())


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

    One panel per column of ``y``; along x the studies (:func:`schema.by_configuration`:
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
    studies = schema.by_configuration(df)
    pools = sorted(set(_pool_key(df)), key=lambda k: (k != "none", k))
    colors = run_colors(len(pools))
    fig = new_figure(2.0 + 2.2 * len(studies), 2.6 * len(y) + 1.4)
    axes = fig.subplots(len(y), 1, sharex=True, squeeze=False)[:, 0]
    width = 0.8 / len(pools)
    for ax, column in zip(axes, y):
        for k, (_, part) in enumerate(studies):
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
    axes[-1].set_xticks(range(len(studies)), _study_ticks(studies), fontsize="small")
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
