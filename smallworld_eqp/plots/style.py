"""What every figure shares: the Agg figure, saving (and what may be replaced), colours,
labels and the zero-friendly log axes.

Imports: matplotlib, pandas, NumPy and the bottom layer (:mod:`smallworld_eqp.owned`,
:mod:`smallworld_eqp.validate`, :mod:`smallworld_eqp.study.resultlog`); never numba.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from smallworld_eqp.owned import check_output
from smallworld_eqp.study import schema
from smallworld_eqp.study.resultlog import replace_atomically

PathLike = str | os.PathLike
Sources = Mapping[str, PathLike] | Iterable[PathLike] | PathLike

MAX_PANELS = 12
PANELS_PER_ROW = 4
#: The ``Source`` text of every PNG this package writes (:func:`is_own_figure`).
FIGURE_SOURCE = "smallworld_eqp"


def pair_labels(n_pairs: int) -> list[str]:
    """Names of the adjacent layer pairs, input pair first: ``Input-H1`` ... ``H3-Output``."""
    names = ["Input"] + [f"H{k}" for k in range(1, n_pairs)] + ["Output"]
    return [f"{a}-{b}" for a, b in zip(names[:-1], names[1:])]


def pair_colors(n_pairs: int) -> list:
    cmap = colormaps["plasma"]
    return [cmap(0.85 * k / max(n_pairs - 1, 1)) for k in range(n_pairs)]


def run_colors(n: int) -> list:
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
    try:
        with Image.open(path) as image:  # reads the header and text chunks only
            return image.format == "PNG" and image.info.get("Source") == FIGURE_SOURCE
    except (OSError, ValueError):  # missing, a folder, unreadable, or no image Pillow knows
        return False


def labelled_sources(sources: Sources, name: str) -> list[tuple[str, Path]]:
    """``(label, path)`` pairs from a mapping label -> path, a list of paths or one path."""
    if isinstance(sources, Mapping):
        pairs = [(str(k), Path(v)) for k, v in sources.items()]
    else:
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        pairs = [(schema.run_name(p), Path(p)) for p in sources]
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

    def legend(self, *, below: bool = False, extra: Iterable = (), **kwargs) -> None:
        """One legend for the pair of axes: inside the wide one, or below the figure
        (the subfigure holding the axes); ``extra`` handles (with their labels) follow
        the drawn lines'."""
        handles, labels = [], []
        for ax in self.axes:
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
        for h in extra:
            handles.append(h)
            labels.append(h.get_label())
        if below:
            kwargs.setdefault("ncol", 2)
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


def measures_of(frame: pd.DataFrame) -> set[str]:
    """What the error columns of ``frame`` hold (``error_measure``; files that do not
    record it are misclassification)."""
    return set(frame.get("error_measure", pd.Series(["misclassification"])).dropna())


def error_axis(frames: Iterable[pd.DataFrame]) -> tuple[float, str]:
    """Scale and unit of the error columns of ``frames``: misclassification in percent,
    a regression's cost C (eq. 4) as it is; one axis cannot hold both."""
    measures = set().union(*map(measures_of, frames))
    if len(measures) > 1:
        raise ValueError(
            f"the results mix error measures ({', '.join(sorted(measures))}); draw each data set on its own"
        )
    return (1.0, "cost C (eq. 4)") if measures == {"cost"} else (100.0, "(%)")
