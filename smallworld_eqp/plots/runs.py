"""Figures of training runs, drawn from their run folders: Fig. 2 (error per epoch),
Fig. 3 (per-layer-pair training rates) and Fig. 5 (weight change between layers).

Imports: :mod:`.style`, the results schema (:mod:`smallworld_eqp.study.schema`) and
:mod:`smallworld_eqp.engine.spread` (NumPy only); numba only to read an old run's
checkpoint (:func:`fig5`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.lines import Line2D

from smallworld_eqp.engine import spread
from smallworld_eqp.numba_settings import deferred
from smallworld_eqp.plots.style import (
    MAX_PANELS,
    PANELS_PER_ROW,
    PathLike,
    Sources,
    error_axis,
    labelled_sources,
    new_figure,
    pair_colors,
    pair_labels,
    run_colors,
    save_figure,
)
from smallworld_eqp.study import schema
from smallworld_eqp.validate import check_int

# The engine (numba), which the plots never load otherwise: only for an old run that kept
# no weight_change.csv, to rebuild its initial weights from the checkpoint.
training_runs = deferred("smallworld_eqp.study.training_runs")

MAX_POINTS = 2000  # per plotted line; longer smoothed traces are thinned

#: How Fig. 3 draws the per-edge RMS of the intra-layer and layer-skipping edges.
KIND_STYLES = {"intra": {"color": "0.55", "linestyle": ":"}, "skip": {"color": "black", "linestyle": "--"}}


# ----------------------------------------------------------------- Fig. 2


def fig2(epochs_csvs: Sources, out: PathLike, *, title: str | None = None) -> Path:
    """Error curves of several training runs, like the paper's Fig. 2.

    The online training error solid (``online_error``: the mean over the epoch's
    batches, each seen before its update, what the authors' logs call training
    error), the test error dotted, one colour per run; errors in percent (a
    regression's: its cost C, eq. 4). The training error measured from zero after
    the epoch (``train_error``) is not drawn: it is another quantity (with persistent
    particles far above the test error) and may be measured only every few epochs.

    Parameters
    ----------
    epochs_csvs : mapping label -> path, or iterable of paths, or one path
        ``epochs.csv`` files or run directories holding one; without labels a run
        is named by :func:`smallworld_eqp.study.schema.run_name`.
    out : path-like
        Image file to write (format from its suffix, PNG by default).
    title : str, optional

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ValueError
        If no run has finished an epoch (runs without one are left out), or the runs
        mix classification and regression.
    """
    runs = [(label, schema.load_epochs([path])) for label, path in labelled_sources(epochs_csvs, "epochs")]
    # A run still in its first epoch has no rows yet: leave it out of the legend.
    runs = [(label, df) for label, df in runs if not df.empty]
    if not runs:
        raise ValueError("no finished epoch in the runs given")
    scale, unit = error_axis(df for _, df in runs)
    fig = new_figure(8.4, 4.0)
    ax = fig.add_subplot()
    for (label, df), color in zip(runs, run_colors(len(runs))):
        df = df.sort_values("epoch")
        marker = "o" if len(df) == 1 else None
        ax.plot(df["epoch"], scale * df["online_error"], "-", color=color, marker=marker, label=label)
        ax.plot(df["epoch"], scale * df["test_error"], ":", color=color, marker=marker, linewidth=1.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"online training error (solid), test error (dotted) {unit}")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.4)
    style = [
        Line2D([], [], color="k", linestyle="-", label="online training error"),
        Line2D([], [], color="k", linestyle=":", linewidth=1.6, label="test error"),
    ]
    handles, _ = ax.get_legend_handles_labels()
    # Outside the axes: inside, it hides the one-epoch runs' markers near chance.
    ax.legend(handles=handles + style, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set_title(
        title
        or "Online training error (solid, during the epoch, as the authors log it) and test error (dotted)",
        fontsize="medium",
    )
    return save_figure(fig, out)


# ----------------------------------------------------------------- Fig. 5


def layer_names(n_layers: int) -> list[str]:
    """Short names of the layers, input first: ``in``, ``h1`` ... ``out``."""
    return ["in"] + [f"h{k}" for k in range(1, n_layers - 1)] + ["out"]


def weight_change_matrix(changes: pd.DataFrame, n_layers: int) -> np.ndarray:
    """log10 of the mean absolute weight change of every pair of layers, (n_layers, n_layers).

    Symmetric (a pair's edges are undirected), NaN where the pair has no edge and
    -inf where its weights did not change at all.

    Parameters
    ----------
    changes : pandas.DataFrame
        Rows of one epoch of a run's weight-change CSV (``layer_a``, ``layer_b``,
        ``mean_abs_change``; :data:`smallworld_eqp.study.schema.WEIGHT_CHANGE_COLUMNS`).
    n_layers : int
    """
    matrix = np.full((n_layers, n_layers), np.nan)
    a = changes["layer_a"].to_numpy(dtype=int)
    b = changes["layer_b"].to_numpy(dtype=int)
    if np.any((a < 0) | (b >= n_layers) | (a > b)):
        raise ValueError(f"layer pairs must satisfy 0 <= layer_a <= layer_b < {n_layers}")
    with np.errstate(divide="ignore"):
        values = np.log10(changes["mean_abs_change"].to_numpy(dtype=float))
    matrix[a, b] = values
    matrix[b, a] = values
    return matrix


def _run_changes(run: Path, epoch: int | None) -> tuple[int, int, pd.DataFrame]:
    """A run's layer count, the epoch drawn (``epoch``, or the last recorded) and its rows:
    from ``weight_change.csv``, else computed from the run's checkpoint."""
    n_layers = len(schema.run_spec(run)["layers"])
    if (run / schema.WEIGHT_CHANGE_FILE).is_file():
        changes = schema.load_weight_changes([run])
    elif (run / "checkpoint.npz").is_file():
        try:
            changes = training_runs.checkpoint_weight_changes(run)
        except training_runs.RunStateError as exc:  # a damaged checkpoint is bad input here
            raise ValueError(str(exc)) from None
    else:
        raise ValueError(f"{run} holds neither {schema.WEIGHT_CHANGE_FILE} nor a checkpoint.npz")
    drawn = int(changes["epoch"].max()) if epoch is None else epoch
    if drawn not in set(changes["epoch"]):
        recorded = sorted(set(changes["epoch"]))
        raise ValueError(f"{run} has no weight change of epoch {drawn}; it has epochs {recorded}")
    return n_layers, drawn, changes[changes["epoch"] == drawn]


def fig5(
    run_dirs: PathLike | Iterable[PathLike],
    out: PathLike,
    *,
    epoch: int | None = None,
    title: str | None = None,
) -> Path:
    """The mean change of the weights between every pair of layers, one panel per run
    (the journal's Fig. 5).

    Each panel is the (layers x layers) matrix of log10 mean ``|W - W_initial|`` over
    the edges joining two layers (the diagonal: intra-layer edges), symmetric, empty
    where no edge joins them, every cell written out; the panels share one colour
    scale.

    Parameters
    ----------
    run_dirs : path-like or iterable of path-like
        Run folders of the train command: their ``weight_change.csv``, or, in a folder
        without one, the change of its checkpoint from the initial weights the seed
        gives (:func:`smallworld_eqp.study.training_runs.checkpoint_weight_changes`).
    out : path-like
    epoch : int, optional
        The epoch to draw (default: each run's last recorded); not from a checkpoint.
    title : str, optional

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        A folder without the data, without ``epoch``, or more than 12 runs.
    """
    runs = [Path(r) for r in schema.as_paths(run_dirs)]
    if len(runs) > MAX_PANELS:
        raise ValueError(f"{len(runs)} runs to draw, at most {MAX_PANELS}")
    if epoch is not None:
        epoch = check_int("epoch", epoch, low=1)
    panels = []
    for run in runs:
        n_layers, drawn, changes = _run_changes(run, epoch)
        panels.append((run.name, drawn, weight_change_matrix(changes, n_layers)))
    finite = np.concatenate([m[np.isfinite(m)] for _, _, m in panels])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 0.0)
    ncols = min(len(panels), PANELS_PER_ROW)
    nrows = -(-len(panels) // ncols)
    size = max(m.shape[0] for _, _, m in panels)
    side = 0.45 * size + 1.2
    fig = new_figure(side * ncols + 1.0, side * nrows + 0.8)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    cmap = colormaps["viridis"].with_extremes(bad="white")  # white: no edge between the two layers
    image = None
    for ax, (name, drawn, matrix) in zip(axes, panels):
        shown = np.where(np.isneginf(matrix), lo, matrix)  # no change at all: the scale's bottom
        image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=lo, vmax=hi)
        names = layer_names(matrix.shape[0])
        ax.set_xticks(range(len(names)), names, fontsize="small")
        ax.set_yticks(range(len(names)), names, fontsize="small")
        for (i, j), value in np.ndenumerate(matrix):
            if np.isnan(value):
                continue
            text = "0" if np.isneginf(value) else f"{value:.1f}"
            dark = hi - lo > 0 and (shown[i, j] - lo) / (hi - lo) < 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=6, color="white" if dark else "black")
        ax.set_title(f"{name}, epoch {drawn}", fontsize="medium")
    fig.colorbar(image, ax=list(axes[: len(panels)]), label=r"$\log_{10}$ mean $|W - W_{initial}|$")
    fig.suptitle(title or "Mean weight change between every pair of layers (empty: no edges)")
    return save_figure(fig, out)


# ----------------------------------------------------------------- Fig. 3


def _rates_panels(sources: Sources, runs: Sequence[str] | None) -> list[tuple[str, pd.DataFrame]]:
    panels = []
    for label, path in labelled_sources(sources, "rates"):
        df = schema.load_rates([path])
        ids = list(dict.fromkeys(df["trial_id"]))
        for trial in ids:
            if runs is not None and trial not in runs and label not in runs:
                continue
            name = label if len(ids) == 1 else trial
            panels.append((name, df[df["trial_id"] == trial]))
    if not panels:
        raise ValueError(f"none of the runs {', '.join(runs or [])} is in the rates files given")
    if len(panels) > MAX_PANELS:
        raise ValueError(f"{len(panels)} runs to draw, at most {MAX_PANELS}: choose some with runs=/--run")
    return panels


def _wide_rates(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Rates as (n_batches, n_pairs), batches in order, and their x position in epochs.

    Batch ``b`` of epoch ``e`` sits at ``e - 1 + b / B`` (``B`` batches per epoch),
    so epoch ``e`` ends at x = e whether batches are counted from 0 or from 1.
    """
    wide = schema.pivot_rates(df, ["epoch", "batch"])
    epoch = wide.index.get_level_values("epoch").to_numpy(dtype=float)
    batch = wide.index.get_level_values("batch").to_numpy(dtype=float)
    first = batch.min()
    per_epoch = batch.max() - first + 1
    x = epoch - 1 + (batch - first + 1) / per_epoch
    return wide, x


def fig3(
    rates_csvs: Sources,
    out: PathLike,
    *,
    window: int = 25,
    runs: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Smoothed training rate of every adjacent layer pair, like the paper's Fig. 3.

    One panel per run (trial), up to 4 in a row, sharing a log y axis: the RMS
    correction of eq. 20, averaged over ``2 * window + 1`` batches by eq. 21,
    against the epoch. Where a run has intra-layer or layer-skipping edges, their
    RMS correction per edge is drawn too (dashed), to show how much of the
    correction the skip edges carry beside the deep pairs.

    Parameters
    ----------
    rates_csvs : mapping label -> path, or iterable of paths, or one path
        Long-format rates CSVs (or run directories holding ``rates.csv``). A file
        holding several trials (``sweep_rates.csv``) gives one panel per trial.
    out : path-like
    window : int
        ``n`` of eq. 21.
    runs : sequence of str, optional
        Draw only these trial ids (or labels); at most 12 panels.
    title : str, optional

    Returns
    -------
    pathlib.Path
    """
    window = check_int("window", window, low=0)
    panels = _rates_panels(rates_csvs, runs)
    ncols = min(len(panels), PANELS_PER_ROW)
    nrows = -(-len(panels) // ncols)
    fig = new_figure(3.6 * ncols + 0.6, 3.2 * nrows + 1.0)
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    drawn = [
        (name, _wide_rates(df), schema.pivot_rates(df, ["epoch", "batch"], kinds=True)) for name, df in panels
    ]
    n_pairs = {wide.shape[1] for _, (wide, _), _ in drawn}
    for ax, (name, (wide, x), kinds) in zip(axes, drawn):
        smooth = spread.moving_average(wide.to_numpy(dtype=float), window)
        smooth[smooth <= 0] = np.nan  # nothing to show on a log axis
        step = max(1, smooth.shape[0] // MAX_POINTS)
        labels = pair_labels(smooth.shape[1])
        for pair, color in enumerate(pair_colors(smooth.shape[1])):
            ax.plot(x[::step], smooth[::step, pair], color=color, linewidth=1.2, label=labels[pair])
        for kind in kinds.columns:
            extra = spread.moving_average(kinds[kind].reindex(wide.index).to_numpy(dtype=float), window)
            extra[extra <= 0] = np.nan
            style = KIND_STYLES[kind]
            ax.plot(x[::step], extra[::step], linewidth=1.0, label=f"{kind} edges", **style)
        ax.set_yscale("log")
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.grid(True, which="major", alpha=0.4)
        if len(n_pairs) > 1:
            ax.legend(fontsize="x-small", loc="best")
    for ax in axes[::ncols]:
        ax.set_ylabel(rf"training rate $\Delta\hat w^l(b)$, $n={window}$")
    if len(n_pairs) == 1:
        legend = {}
        for ax in axes:  # the kinds' lines may be in some panels only
            for handle, label in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(label, handle)
        fig.legend(
            legend.values(), legend.keys(), loc="outside lower center", ncol=len(legend), fontsize="small"
        )
    fig.suptitle(title or "RMS correction per adjacent layer pair (eq. 20), moving average (eq. 21)")
    return save_figure(fig, out)
