"""Exponential decay of the one-epoch error with the number of replaced connections.

The paper (section 5.1.3, Fig. 4) finds that "the error rate decays approximately
exponentially" as connections are replaced, quickly at first and more gradually
after about 25,000 replacements. This module fits

.. math:: \\mathrm{err}(n) = \\mathrm{floor} + (\\mathrm{err}_0 - \\mathrm{floor})\\, e^{-n / n_0}

to every ok trial of a sweep (each seed a point, not the means) by least squares
(:func:`scipy.optimize.curve_fit`), and reports the parameters with standard
errors from the covariance, and R^2.

Usage::

    python -m analysis.decay_fit data/results/sweep*.csv [--y online_error_epoch1] [--x n_replaced] [--out DIR]

writes ``decay_fit.md`` and ``decay_fit.png`` (data, means and the fit) to ``--out``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize

from analysis import DEFAULT_OUT, each_study, markdown_path, markdown_table, write_markdown
from smallworld_eqp.cli import OneLineParser, run_main
from smallworld_eqp.owned import check_output_folder
from smallworld_eqp.plots import X_CHOICES, X_LABELS, new_figure, save_figure, zero_log_axes
from smallworld_eqp.study import schema

MIN_POINTS, MIN_DISTINCT_X = 4, 3

#: How ``decay_fit.md`` starts (how a later run knows the file is ours).
HEADING = "## Exponential decay of"


def decay(n: np.ndarray, floor: float, err0: float, n0: float) -> np.ndarray:
    """``floor + (err0 - floor) * exp(-n / n0)``: ``err0`` at n = 0, ``floor`` as n grows."""
    return floor + (err0 - floor) * np.exp(-np.asarray(n, dtype=float) / n0)


@dataclass(frozen=True)
class DecayFit:
    """Fitted parameters of :func:`decay`, their standard errors and the fit quality.

    ``n0_at_bound`` is True when ``n0`` ended on an edge of its search range
    (1/100 of the smallest positive x to 100 times the largest): the data then do
    not pin down the scale of the decay and its standard error means little.
    """

    floor: float
    err0: float
    n0: float
    se_floor: float
    se_err0: float
    se_n0: float
    r2: float
    n_points: int
    n_x: int
    n0_at_bound: bool

    def predict(self, x: np.ndarray) -> np.ndarray:
        return decay(x, self.floor, self.err0, self.n0)

    def table(self) -> pd.DataFrame:
        """Parameters as rows: ``parameter``, ``value``, ``std_error``."""
        return pd.DataFrame(
            {
                "parameter": ["floor", "err0", "n0"],
                "value": [self.floor, self.err0, self.n0],
                "std_error": [self.se_floor, self.se_err0, self.se_n0],
            }
        )


def _initial_guess(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> tuple[float, float, float]:
    """Best (floor, err0, n0) over a log grid of n0; for a fixed n0 the model is linear."""
    best = (math.inf, 0.0, 0.0, 1.0)
    for n0 in np.geomspace(lo, hi, 80):
        e = np.exp(-x / n0)
        design = np.stack([1.0 - e, e], axis=1)
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        sse = float(np.sum((design @ coef - y) ** 2))
        if sse < best[0]:
            best = (sse, float(coef[0]), float(coef[1]), float(n0))
    return best[1:]


def fit_decay(x: np.ndarray, y: np.ndarray) -> DecayFit:
    """Least-squares fit of :func:`decay` to points ``(x, y)``.

    Parameters
    ----------
    x : array_like
        Replacement counts (or probabilities), ``>= 0``.
    y : array_like
        The error of each trial.

    Returns
    -------
    DecayFit

    Raises
    ------
    ValueError
        With a negative x, or fewer than 4 finite points at 3 distinct x (three
        parameters need at least that).

    Examples
    --------
    >>> x = np.array([0, 0, 10, 100, 1000, 1000])
    >>> fit = fit_decay(x, decay(x, 0.1, 0.9, 50.0))
    >>> round(fit.floor, 3), round(fit.err0, 3), round(fit.n0, 1)
    (0.1, 0.9, 50.0)
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if np.any(x < 0):
        raise ValueError(f"x must be >= 0, got minimum {x.min()}")
    n_x = len(np.unique(x))
    if len(x) < MIN_POINTS or n_x < MIN_DISTINCT_X:
        raise ValueError(
            f"need at least {MIN_POINTS} trials at {MIN_DISTINCT_X} or more distinct x to fit "
            f"3 parameters, got {len(x)} trials at {n_x} distinct x"
        )
    positive = x[x > 0]
    lo, hi = positive.min() / 100.0, x.max() * 100.0
    p0 = _initial_guess(x, y, lo, hi)
    p0 = (p0[0], p0[1], float(np.clip(p0[2], lo, hi)))
    params, cov = optimize.curve_fit(
        decay, x, y, p0=p0, bounds=([-np.inf, -np.inf, lo], [np.inf, np.inf, hi]), maxfev=20_000
    )
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.diag(cov))
    residual = y - decay(x, *params)
    total = np.sum((y - y.mean()) ** 2)
    r2 = float(1.0 - np.sum(residual**2) / total) if total > 0 else float("nan")
    at_bound = bool(np.isclose(params[2], lo, rtol=1e-3) or np.isclose(params[2], hi, rtol=1e-3))
    return DecayFit(*map(float, params), *map(float, se), r2, len(x), n_x, at_bound)


def plot(df: pd.DataFrame, fit: DecayFit, x: str, y: str, out: Path) -> Path:
    """Every trial, the mean per x and the fitted curve, on a log x axis with 0 shown apart."""
    fig = new_figure(6.4, 4.2)
    (axes,) = zero_log_axes(fig, df[x].to_numpy())
    axes.plot(df[x], df[y], "o", color="0.55", markersize=3, label="trials")
    means = df.groupby(x)[y].mean()
    axes.plot(means.index, means.to_numpy(), "o", color="tab:blue", markersize=6, label="mean over seeds")
    positive = df.loc[df[x] > 0, x]
    grid = np.geomspace(positive.min() / 2, positive.max() * 1.5, 300)
    label = (
        f"fit: {fit.floor:.3g} + ({fit.err0:.3g} - {fit.floor:.3g}) exp(-x / {fit.n0:.3g}), R² = {fit.r2:.3f}"
    )
    axes.plot(grid, fit.predict(grid), "-", color="tab:red", label=label)
    # At x = 0 the fit is one value: a dash, not a line.
    axes.plot([0.0], fit.predict([0.0]), "_", color="tab:red", markersize=16, markeredgewidth=2)
    axes.set_xlabel(X_LABELS.get(x, x))
    axes.set_ylabel(y)
    axes.legend(fontsize="small", loc="best")
    fig.suptitle(f"{y} against {x}: exponential decay fit")
    return save_figure(fig, out)


def _fit_study(df: pd.DataFrame, out_dir: Path, x: str, y: str, suffix: str) -> tuple[str, list[Path]]:
    """Fit one study's trials; write ``decay_fit<suffix>.png``; return markdown and the file."""
    data = df[[x, y]].apply(pd.to_numeric, errors="coerce").dropna()
    fit = fit_decay(data[x], data[y])
    png = plot(data, fit, x, y, out_dir / f"decay_fit{suffix}.png")
    lines = [
        f"Least squares over {fit.n_points} trials at {fit.n_x} distinct x.",
        "",
        markdown_table(fit.table(), digits=4),
        "",
        f"R^2 = {fit.r2:.4f}",
    ]
    if fit.n0_at_bound:
        lines += [
            "",
            "Warning: n0 ended at the edge of its range; the data do not determine the decay scale.",
        ]
    lines += ["", f"![decay fit]({png.name})"]
    return "\n".join(lines), [png]


def write(
    df: pd.DataFrame,
    out_dir: Path,
    *,
    x: str = "n_replaced",
    y: str = "online_error_epoch1",
    sources: Sequence[str] = (),
) -> tuple[str, list[Path]]:
    """Fit each study of the sweep (:func:`analysis.each_study`: one fit per
    configuration, never across network sizes or settings), then write
    ``decay_fit.md`` and the plots; return the markdown and the files."""
    if y not in df.columns:
        raise ValueError(f"--y must be a column of the sweep CSV, got {y!r}")
    if not pd.api.types.is_numeric_dtype(df[y]) or pd.api.types.is_bool_dtype(df[y]):
        raise ValueError(
            f"--y {y} is not a numeric column; give one such as online_error_epoch1, test_error or spread"
        )
    out_dir = Path(out_dir)
    body, files = each_study(df, lambda rows, suffix: _fit_study(rows, out_dir, x, y, suffix))
    lines = [
        f"{HEADING} `{y}` with `{x}`",
        "",
        "err(x) = floor + (err0 - floor) exp(-x / n0), each trial a point"
        + (f"; trials from {', '.join(map(str, sources))}" if sources else "")
        + ".",
        "",
        body,
    ]
    text = "\n".join(lines) + "\n"
    md = write_markdown(out_dir / "decay_fit.md", text, HEADING)
    return text, [md, *files]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m analysis.decay_fit",
        description="Fit the one-epoch error against replacements to an exponential decay towards a floor.",
    )
    parser.add_argument("csvs", nargs="+", metavar="SWEEP_CSV", help="sweep CSVs (ok trials are used)")
    parser.add_argument("--x", choices=X_CHOICES, default="n_replaced", help="x variable")
    parser.add_argument(
        "--y", default="online_error_epoch1", help="column to fit (default online_error_epoch1)"
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    return parser


def _fit(args: argparse.Namespace) -> None:
    out = check_output_folder(args.out)
    markdown_path(out / "decay_fit.md", HEADING)  # a file that is not ours stops the command before any work
    text, files = write(schema.load_sweep(args.csvs), out, x=args.x, y=args.y, sources=args.csvs)
    print(text, end="")
    print("\n".join(map(str, files)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (bad input exits 2 with one line on stderr)."""
    # RuntimeError: curve_fit did not converge.
    return run_main(build_parser, _fit, argv, bad_input=(ValueError, TypeError, OSError, RuntimeError))


if __name__ == "__main__":
    sys.exit(main())
