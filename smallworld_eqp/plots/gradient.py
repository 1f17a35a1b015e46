"""The exact gradient beside EqProp's estimates per layer pair (:func:`fig_gradient`).

Imports: :mod:`.style` and the results schema; never numba.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from smallworld_eqp.plots.style import PathLike, check_figure_path, new_figure, pair_labels, save_figure
from smallworld_eqp.study import schema

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
    estimators: Sequence[str] = tuple(schema.GRADIENT_ESTIMATORS),
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
    panels = gradient_panels(schema.load_gradient_comparison(csv), settings)
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
