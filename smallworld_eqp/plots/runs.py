"""The paper's figures as image files, drawn from the result CSVs.

================  ===============================================================
``fig1``          topology of a small network (paper Fig. 1), from a Graph
``fig2``          online training (solid) and test (dotted) error per epoch of several runs
``fig3``          smoothed per-layer-pair training rates (eq. 20-21), one panel per run
``fig4``          one-epoch error against the number of replaced connections
``fig5``          mean weight change between every pair of layers, one panel per run
``fig_gradient``  the exact gradient beside EqProp's estimates per layer pair
================  ===============================================================

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, so
drawing them never changes the pyplot backend of an interactive session.

Command line::

    python -m smallworld_eqp.plots fig4 data/results/sweep.csv --out fig4.png [--x p]
    python -m smallworld_eqp.plots fig2 data/results/runs/basic data/results/runs/ours --out fig2.png
    python -m smallworld_eqp.plots fig3 data/results/runs/* --out fig3.png --window 25
    python -m smallworld_eqp.plots fig1 --layers 6,5,5,5,3 --intra --replacements 10 --seed 0 --out fig1.png
    python -m smallworld_eqp.plots fig5 data/runs/authors-code-mlff data/runs/authors-code-sw --out fig5.png
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import results, spread, topology
from ..owned import check_output
from ..resultlog import replace_atomically
from ..validate import check_int

PathLike = str | os.PathLike
Sources = Mapping[str, PathLike] | Iterable[PathLike] | PathLike

X_CHOICES = ("n_replaced", "p")
BANDS = ("minmax", "std")
X_LABELS = {
    "n_replaced": "replaced connections $n$",
    "p": "per-edge replacement probability $p$ (footnote 2)",
}
KIND_STYLE = {  # colour and label of each edge kind in Fig. 1
    topology.ADJACENT: ("0.6", "adjacent-layer"),
    topology.INTRA: ("tab:green", "intra-layer"),
    topology.SKIP: ("tab:blue", "layer-skipping"),
}
MAX_PANELS = 12
PANELS_PER_ROW = 4
MAX_FIG1_NEURONS = 300
MAX_POINTS = 2000  # per plotted line; longer smoothed traces are thinned
#: The ``Source`` text of every PNG this package writes (:func:`is_own_figure`).
FIGURE_SOURCE = "smallworld_eqp"


# ----------------------------------------------------------------- helpers


#: How Fig. 3 draws the per-edge RMS of the intra-layer and layer-skipping edges.
KIND_STYLES = {"intra": {"color": "0.55", "linestyle": ":"}, "skip": {"color": "black", "linestyle": "--"}}


def pair_labels(n_pairs: int) -> list[str]:
    """Names of the adjacent layer pairs, input pair first: ``Input-H1`` ... ``H3-Output``."""
    names = ["Input"] + [f"H{k}" for k in range(1, n_pairs)] + ["Output"]
    return [f"{a}-{b}" for a, b in zip(names[:-1], names[1:])]


def _pair_colors(n_pairs: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["plasma"]
    return [cmap(0.85 * k / max(n_pairs - 1, 1)) for k in range(n_pairs)]


def _run_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(k % 10) for k in range(n)]


def new_figure(width: float, height: float) -> Figure:
    """A figure (inches) with constrained layout on its own Agg canvas; pyplot is not involved."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out: PathLike, dpi: int = 150) -> Path:
    """Write ``fig`` to the PNG file ``out``, creating missing folders.

    The PNG carries the text ``Source: smallworld_eqp`` (:data:`FIGURE_SOURCE`), by
    which :func:`is_own_figure` knows it may be replaced; any other existing file,
    a folder or a name not ending in ``.png`` is refused (:func:`check_figure_path`).
    """
    out = check_figure_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Whole or not at all: a full disk leaves the old figure, never half a new one.
    replace_atomically(
        out, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png", metadata={"Source": FIGURE_SOURCE})
    )
    return out


def check_figure_path(out: PathLike, flag: str = "--out") -> Path:
    """``out`` if a figure may be written there: a ``.png`` path that is free or a
    figure of this package (:func:`smallworld_eqp.owned.check_output`; read only)."""
    return check_output(
        out,
        kind="a PNG",
        suffixes=(".png",),
        foreign=lambda p: None if is_own_figure(p) else "exists and is not a figure of this package",
        flag=flag,
    )


def is_own_figure(path: PathLike) -> bool:
    """Whether ``path`` is a PNG written by :func:`save_figure` (False for anything
    else: another PNG, another file, a folder, nothing)."""
    from PIL import Image  # matplotlib's own dependency

    try:
        with Image.open(path) as image:  # reads the header and text chunks only
            return image.format == "PNG" and image.info.get("Source") == FIGURE_SOURCE
    except (OSError, ValueError):  # missing, a folder, unreadable, or no image Pillow knows
        return False


def _labelled(sources: Sources, name: str) -> list[tuple[str, Path]]:
    """``(label, path)`` pairs from a mapping label -> path, a list of paths or one path."""
    if isinstance(sources, Mapping):
        pairs = [(str(k), Path(v)) for k, v in sources.items()]
    else:
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        pairs = [(results.run_name(p), Path(p)) for p in sources]
    if not pairs:
        raise ValueError(f"no {name} file given")
    return pairs


@dataclass
class ZeroLogAxes:
    """A log x-axis, with the points at x = 0 on a narrow linear axis to its left.

    A log axis cannot show x = 0 (no replaced connection), the reference point of
    the sweep; hiding it would be dishonest, so it gets its own axis labelled
    ``0``, separated from the log axis by a break mark. Either axis is None when no
    point needs it. The drawing methods send each point to the axis it belongs on.
    """

    zero: Axes | None
    log: Axes | None

    @property
    def axes(self) -> list[Axes]:
        return [a for a in (self.zero, self.log) if a is not None]

    def _split(self, x, *ys):
        x = np.asarray(x, dtype=float)
        for ax, mask in ((self.zero, x == 0), (self.log, x > 0)):
            if ax is not None and mask.any():
                yield ax, x[mask], [np.asarray(y, dtype=float)[mask] for y in ys]

    def plot(self, x, y, *args, label: str | None = None, **kwargs) -> None:
        """Line plot; the label goes on one axis only, so a legend lists it once."""
        for k, (ax, xs, (ys,)) in enumerate(self._split(x, y)):
            ax.plot(xs, ys, *args, label=label if k == 0 else None, **kwargs)

    def band(self, x, lo, hi, color, alpha: float = 0.2) -> None:
        """A shaded band between ``lo`` and ``hi`` (a bar where an axis has one x: at x = 0,
        or a study of one p > 0)."""
        for ax, xs, (los, his) in self._split(x, lo, hi):
            if ax is self.zero:
                ax.vlines(xs, los, his, color=color, alpha=alpha + 0.2, linewidth=6)
            elif len(xs) == 1:  # a line, not vlines: those leave a log axis no x range
                ax.plot([xs[0], xs[0]], [los[0], his[0]], color=color, alpha=alpha + 0.2, linewidth=6)
            else:
                ax.fill_between(xs, los, his, color=color, alpha=alpha, linewidth=0)

    def set_xlabel(self, text: str) -> None:
        (self.log or self.zero).set_xlabel(text)

    def set_ylabel(self, text: str) -> None:
        self.axes[0].set_ylabel(text)

    def set_yscale(self, scale: str) -> None:
        for ax in self.axes:
            ax.set_yscale(scale)

    def legend(self, *, below: bool = False, **kwargs) -> None:
        """One legend for the pair of axes: inside the wide one, or below the figure."""
        handles, labels = [], []
        for ax in self.axes:
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
        if below:
            self.axes[-1].figure.legend(handles, labels, loc="outside lower center", **kwargs)
        else:
            self.axes[-1].legend(handles, labels, **kwargs)


def zero_log_axes(fig: Figure, x: np.ndarray, nrows: int = 1) -> list[ZeroLogAxes]:
    """Rows of axes for data with x >= 0 on a log scale: see :class:`ZeroLogAxes`.

    The rows share their x axes; only the bottom row has x tick labels.

    Parameters
    ----------
    fig : Figure
        An empty figure to fill.
    x : array_like
        The x values to be drawn (decides which of the two columns of axes exist).
    nrows : int

    Returns
    -------
    list of ZeroLogAxes
        One per row, top first.
    """
    x = np.asarray(x, dtype=float)
    has_zero, has_pos = bool((x == 0).any()), bool((x > 0).any())
    if not (has_zero or has_pos):
        raise ValueError("no x value >= 0 to plot")
    both = has_zero and has_pos
    grid = fig.add_gridspec(nrows, 2 if both else 1, width_ratios=[1, 9] if both else None, wspace=0.02)
    rows: list[ZeroLogAxes] = []
    for r in range(nrows):
        above = rows[0] if rows else None
        zero = log = None
        if has_zero:
            zero = fig.add_subplot(grid[r, 0], sharex=above.zero if above else None)
            zero.set_xlim(-1.0, 1.0)
            zero.set_xticks([0.0], ["0"])
        if has_pos:
            log = fig.add_subplot(grid[r, -1], sharex=above.log if above else None, sharey=zero)
            log.set_xscale("log")
        row = ZeroLogAxes(zero, log)
        for ax in row.axes:
            ax.grid(True, which="major", alpha=0.4)
            if r < nrows - 1:
                ax.tick_params(axis="x", labelbottom=False)
        if both:
            zero.spines["right"].set_visible(False)
            log.spines["left"].set_visible(False)
            log.tick_params(axis="y", which="both", left=False, labelleft=False)
            # The usual broken-axis mark: short slanted strokes on the facing edges.
            mark = {
                "marker": [(-1, -1.6), (1, 1.6)],
                "markersize": 9,
                "linestyle": "none",
                "color": "k",
                "mew": 1,
            }
            zero.plot([1, 1], [0, 1], transform=zero.transAxes, clip_on=False, **mark)
            log.plot([0, 0], [0, 1], transform=log.transAxes, clip_on=False, **mark)
        rows.append(row)
    return rows


def _measures(frame: pd.DataFrame) -> set[str]:
    """What the error columns of ``frame`` hold (``error_measure``; files that do not
    record it are misclassification)."""
    return set(frame.get("error_measure", pd.Series(["misclassification"])).dropna())


def _error_axis(frames: Iterable[pd.DataFrame]) -> tuple[float, str]:
    """Scale and unit of the error columns of ``frames``: misclassification in percent,
    a regression's cost C (eq. 4) as it is; one axis cannot hold both."""
    measures = set().union(*map(_measures, frames))
    if len(measures) > 1:
        raise ValueError(
            f"the results mix error measures ({', '.join(sorted(measures))}); draw each data set on its own"
        )
    return (1.0, "cost C (eq. 4)") if measures == {"cost"} else (100.0, "(%)")


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
        is named by :func:`smallworld_eqp.results.run_name`.
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
    runs = [(label, results.load_epochs([path])) for label, path in _labelled(epochs_csvs, "epochs")]
    # A run still in its first epoch has no rows yet: leave it out of the legend.
    runs = [(label, df) for label, df in runs if not df.empty]
    if not runs:
        raise ValueError("no finished epoch in the runs given")
    scale, unit = _error_axis(df for _, df in runs)
    fig = new_figure(8.4, 4.0)
    ax = fig.add_subplot()
    for (label, df), color in zip(runs, _run_colors(len(runs))):
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
        ``mean_abs_change``; :data:`smallworld_eqp.results.WEIGHT_CHANGE_COLUMNS`).
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
    n_layers = len(results.run_spec(run)["layers"])
    if (run / results.WEIGHT_CHANGE_FILE).is_file():
        changes = results.load_weight_changes([run])
    elif (run / "checkpoint.npz").is_file():
        from ..runs import RunStateError, checkpoint_weight_changes  # numba: only for a checkpoint

        try:
            changes = checkpoint_weight_changes(run)
        except RunStateError as exc:  # a damaged checkpoint is bad input here
            raise ValueError(str(exc)) from None
    else:
        raise ValueError(f"{run} holds neither {results.WEIGHT_CHANGE_FILE} nor a checkpoint.npz")
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
        gives (:func:`smallworld_eqp.runs.checkpoint_weight_changes`).
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
    runs = [Path(r) for r in results.as_paths(run_dirs)]
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
    from matplotlib import colormaps

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
    for label, path in _labelled(sources, "rates"):
        df = results.load_rates([path])
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
    wide = results.pivot_rates(df, ["epoch", "batch"])
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
        (name, _wide_rates(df), results.pivot_rates(df, ["epoch", "batch"], kinds=True))
        for name, df in panels
    ]
    n_pairs = {wide.shape[1] for _, (wide, _), _ in drawn}
    for ax, (name, (wide, x), kinds) in zip(axes, drawn):
        smooth = spread.moving_average(wide.to_numpy(dtype=float), window)
        smooth[smooth <= 0] = np.nan  # nothing to show on a log axis
        step = max(1, smooth.shape[0] // MAX_POINTS)
        labels = pair_labels(smooth.shape[1])
        for pair, color in enumerate(_pair_colors(smooth.shape[1])):
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


# ----------------------------------------------------------------- gradient vs EqProp

#: Colour and label of each estimator in :func:`fig_gradient`.
ESTIMATOR_STYLE = {
    "one_sided": ("tab:blue", "one-sided"),
    "symmetric": ("tab:green", "symmetric"),
    "after_step": ("tab:red", "after-step (authors')"),
}
#: Line styles of the (beta, clamped steps) settings in :func:`fig_gradient`, in the order drawn.
SETTING_LINESTYLES = ("-", "--", ":", "-.")


def _pair_rows(part: pd.DataFrame) -> pd.DataFrame:
    """The adjacent layer pairs' rows (groups ``a-b``) of one measurement, input pair first."""
    pairs = part[part["group"].str.fullmatch(r"\d+-\d+")]
    first = pairs["group"].str.split("-").str[0].astype(int)
    return pairs.assign(_first=first).sort_values("_first").drop(columns="_first")


def gradient_panels(
    frame: pd.DataFrame, settings: Sequence[tuple[float, int]] | None = None
) -> list[tuple[str, dict[tuple[float, int], pd.DataFrame]]]:
    """The panels of :func:`fig_gradient`: per network (source, seed, epoch, in the order
    of the file) its adjacent pairs' rows per (beta, clamped steps) setting.

    Raises
    ------
    ValueError
        If a setting asked for is in no panel, or a panel holds several measurements of
        one setting (other ``n`` or free steps: draw them from separate files).
    """
    keys = list(dict.fromkeys(zip(frame["source"], frame["seed"], frame["epoch"])))
    chosen = None if settings is None else [(float(b), int(c)) for b, c in settings]
    panels = []
    for source, seed, epoch in keys:
        part = frame[(frame["source"] == source) & (frame["seed"] == seed) & (frame["epoch"] == epoch)]
        found = list(dict.fromkeys(zip(part["beta"].astype(float), part["n_clamped"].astype(int))))
        drawn = {}
        for setting in found if chosen is None else [s for s in chosen if s in found]:
            rows = part[(part["beta"] == setting[0]) & (part["n_clamped"] == setting[1])]
            if rows["measurement"].nunique() > 1:
                raise ValueError(
                    f"{source} (seed {seed}, epoch {epoch}) at beta {setting[0]:g}, {setting[1]} clamped "
                    f"steps has {rows['measurement'].nunique()} measurements: "
                    + ", ".join(rows["measurement"].unique())
                )
            drawn[setting] = _pair_rows(rows)
        if drawn:
            panels.append((f"{source}, seed {seed}, epoch {epoch}", drawn))
    missing = [s for s in chosen or [] if not any(s in d for _, d in panels)]
    if missing or not panels:
        what = ", ".join(f"beta {b:g} x {c} steps" for b, c in missing) or "adjacent-pair rows"
        raise ValueError(f"no {what} in the gradient comparison")
    return panels


def fig_gradient(
    csv: PathLike,
    out: PathLike,
    *,
    settings: Sequence[tuple[float, int]] | None = None,
    estimators: Sequence[str] = tuple(results.GRADIENT_ESTIMATORS),
    title: str | None = None,
) -> Path:
    """The exact gradient beside EqProp's estimates of it per layer pair, Fig. 3-style.

    From a gradient comparison CSV (``python -m analysis.gradient_vs_eqprop``): one
    column of panels per network (source, seed, epoch). Top row, on a log axis, the
    median over the examples of one example's RMS over the pair's edges of the exact
    gradient dC/dW at the free fixed point (eq. 4, black) and of each estimator's
    update in gradient units (``med_rms_*``); bottom row, the median cosine between
    each estimate and the exact gradient (``med_cos_*``). Layer pairs along x, input
    pair first; colour the estimator, line style the (beta, clamped steps) setting.

    Parameters
    ----------
    csv : path-like
    out : path-like
        Image file to write; an existing file is replaced only if it is a figure of this
        package (:func:`check_figure_path`).
    settings : sequence of (beta, clamped steps), optional
        The settings to draw (default every one in the file), at most
        ``len(SETTING_LINESTYLES)``.
    estimators : sequence of str
        Some of ``one_sided``, ``symmetric``, ``after_step``.
    title : str, optional

    Returns
    -------
    pathlib.Path
    """
    bad = [e for e in estimators if e not in ESTIMATOR_STYLE]
    if not estimators or bad:
        raise ValueError(f"estimators must name some of {', '.join(ESTIMATOR_STYLE)}, got {list(estimators)}")
    out = check_figure_path(out)
    panels = gradient_panels(results.load_gradient_comparison(csv), settings)
    used = list(dict.fromkeys(s for _, drawn in panels for s in drawn))
    if len(used) > len(SETTING_LINESTYLES):
        raise ValueError(
            f"{len(used)} (beta, clamped steps) settings to draw, at most {len(SETTING_LINESTYLES)}: "
            "choose some with settings=/--setting"
        )
    style = dict(zip(used, SETTING_LINESTYLES))
    fig = new_figure(1.0 + 4.2 * len(panels), 7.4)
    axes = fig.subplots(2, len(panels), sharex="col", sharey="row", squeeze=False)
    for col, (name, drawn) in enumerate(panels):
        top, bottom = axes[:, col]
        exact = next(iter(drawn.values()))
        x = np.arange(len(exact))
        top.plot(x, exact["med_rms_exact"], "o-", color="black", linewidth=2.2, label="exact gradient")
        for setting, rows in drawn.items():
            for est in estimators:
                color, _ = ESTIMATOR_STYLE[est]
                kw = {"color": color, "linestyle": style[setting], "marker": ".", "linewidth": 1.3}
                top.plot(x, rows[f"med_rms_{est}"], **kw)
                bottom.plot(x, rows[f"med_cos_{est}"], **kw)
        top.set_yscale("log")
        top.set_title(name, fontsize="medium")
        bottom.set_xticks(x, pair_labels(len(x)), rotation=30, fontsize="small")
        bottom.set_xlabel("layer pair")
        for ax in (top, bottom):
            ax.grid(True, which="major", alpha=0.4)
    axes[0, 0].set_ylabel("median RMS per example, gradient units")
    axes[1, 0].set_ylabel("median cosine to the exact gradient")
    axes[1, 0].set_ylim(min(0.0, axes[1, 0].get_ylim()[0]), 1.05)
    handles = [Line2D([], [], color="black", marker="o", linewidth=2.2, label="exact gradient")]
    handles += [Line2D([], [], color=ESTIMATOR_STYLE[e][0], label=ESTIMATOR_STYLE[e][1]) for e in estimators]
    handles += [
        Line2D([], [], color="0.3", linestyle=ls, label=rf"$\beta$ = {b:g}, {c} clamped steps")
        for (b, c), ls in style.items()
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize="small")
    fig.suptitle(
        title or "The exact gradient at the free fixed point beside EqProp's estimates, per layer pair"
    )
    return save_figure(fig, out)


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
    paths = results.as_paths(sweep_csvs)
    df = results.load_sweep(paths, source=True)
    df = df[df[x].notna()]
    if measure is not None:
        df = df[df["error_measure"] == measure]
    if df.empty:
        what = f"{x}" if measure is None else f"{x} and error measure {measure!r}"
        raise ValueError(f"no ok trial with a value of {what} in {', '.join(map(str, paths))}")
    series = results.by_configuration(df)
    scale, unit = _error_axis([df])
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
        for (name, part), color in zip(members, _run_colors(len(members))):
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
            for col, label, color in zip(dws, pair_labels(len(dws)), _pair_colors(len(dws))):
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
    """Studies (:func:`results.by_configuration`) grouped by network: data set and layer sizes.

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


# ----------------------------------------------------------------- Fig. 1


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

    One panel per column of ``y``; along x the studies (:func:`results.by_configuration`:
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
    paths = results.as_paths(sweep_csvs)
    df = results.load_sweep(paths)
    if df.empty:
        raise ValueError(f"no ok trial in {', '.join(map(str, paths))}")
    studies = results.by_configuration(df)
    pools = sorted(set(_pool_key(df)), key=lambda k: (k != "none", k))
    colors = _run_colors(len(pools))
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
        label.replace(", ", "\n") + ("\n(errors: cost C)" if "cost" in _measures(part) else "")
        for label, part in studies
    ]


def _curves(p0: np.ndarray, p1: np.ndarray, bend: np.ndarray, n: int = 16) -> np.ndarray:
    """Quadratic Bezier curves from ``p0`` to ``p1`` bowed sideways by ``bend`` x length."""
    d = p1 - p0
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    ctrl = (p0 + p1) / 2 + bend[:, None] * normal
    t = np.linspace(0.0, 1.0, n)[None, :, None]
    return (1 - t) ** 2 * p0[:, None] + 2 * (1 - t) * t * ctrl[:, None] + t**2 * p1[:, None]


def fig1(
    graph: topology.Graph,
    out: PathLike,
    *,
    before: topology.Graph | None = None,
    title: str | None = None,
) -> Path:
    """Drawing of a small network's topology, like the paper's Fig. 1.

    Neurons in columns by layer (input left); adjacent-layer edges grey,
    intra-layer green, layer-skipping blue (both drawn as arcs so they do not
    hide behind other edges). With ``before`` (the graph before rewiring), the
    edges it has and ``graph`` lacks are drawn red and dashed, as in Fig. 1b.

    Parameters
    ----------
    graph : smallworld_eqp.topology.Graph
        At most 300 neurons.
    out : path-like
    before : Graph, optional
        Same layer sizes as ``graph``.
    title : str, optional

    Returns
    -------
    pathlib.Path
    """
    if graph.n_neurons > MAX_FIG1_NEURONS:
        raise ValueError(
            f"fig1 draws small networks of at most {MAX_FIG1_NEURONS} neurons, got {graph.n_neurons}"
        )
    if before is not None and before.layer_sizes != graph.layer_sizes:
        raise ValueError(f"before has layers {before.layer_sizes}, graph has {graph.layer_sizes}")
    sizes = np.asarray(graph.layer_sizes)
    within = np.arange(graph.n_neurons) - graph.offsets[graph.layer_of]
    # Columns 3 units apart, neurons 1 unit apart, each column centred on y = 0.
    pos = np.stack([3.0 * graph.layer_of, within - (sizes[graph.layer_of] - 1) / 2], axis=1).astype(float)
    fig = new_figure(1.0 + 1.6 * graph.n_layers, 2.0 + 0.4 * sizes.max())
    ax = fig.add_subplot()
    handles = []

    def draw(edges, kinds, color, **style):
        p0, p1 = pos[edges[:, 0]], pos[edges[:, 1]]
        straight = kinds == topology.ADJACENT
        # Intra edges bow out so they do not lie on their column; skip edges bow a little.
        bend = np.where(kinds == topology.INTRA, 0.3, 0.1)[~straight]
        segs = list(np.stack([p0[straight], p1[straight]], axis=1)) + list(
            _curves(p0[~straight], p1[~straight], bend)
        )
        ax.add_collection(LineCollection(segs, colors=color, **style))

    for kind, (color, name) in KIND_STYLE.items():
        mask = graph.kinds == kind
        adjacent = kind == topology.ADJACENT
        style = {
            "linewidths": 0.5 if adjacent else 0.9,
            "alpha": 0.5 if adjacent else 0.85,
            "zorder": 1 + kind,
        }
        draw(graph.edges[mask], graph.kinds[mask], color, **style)
        handles.append(Line2D([], [], color=color, label=f"{name} ({int(mask.sum())})"))
    if before is not None:
        n = graph.n_neurons
        now = graph.edges[:, 0].astype(np.int64) * n + graph.edges[:, 1]
        gone = ~np.isin(before.edges[:, 0].astype(np.int64) * n + before.edges[:, 1], now)
        draw(before.edges[gone], before.kinds[gone], "tab:red", linewidths=1.0, linestyles="--", zorder=5)
        handles.append(Line2D([], [], color="tab:red", linestyle="--", label=f"removed ({int(gone.sum())})"))
    ax.scatter(pos[:, 0], pos[:, 1], s=40, c="white", edgecolors="k", linewidths=0.8, zorder=10)
    names = ["input"] + [f"hidden {k}" for k in range(1, graph.n_layers - 1)] + ["output"]
    bottom = pos[:, 1].min() - 0.7
    for lay, (name, size) in enumerate(zip(names, sizes)):
        ax.text(3.0 * lay, bottom, f"{name}\n({size})", ha="center", va="top", fontsize="small")
    ax.set_xlim(-1.2, 3.0 * (graph.n_layers - 1) + 1.2)
    ax.set_ylim(bottom - 1.3, pos[:, 1].max() + 0.6)
    ax.set_axis_off()
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="small")
    default = f"{'-'.join(map(str, graph.layer_sizes))} network, {graph.n_edges} edges"
    skip = graph.kind_counts()["skip"]
    if skip:
        default += f", {skip} of them layer-skipping"
    fig.suptitle(title or default)
    return save_figure(fig, out)
