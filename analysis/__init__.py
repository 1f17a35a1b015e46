"""Analysis of the result CSVs written by ``smallworld_eqp.sweep`` and ``smallworld_eqp.train``.

Modules, each runnable as ``python -m analysis.<module> CSV... [--out DIR]``:

``correlations``
    Spearman correlations of graph metrics (path length, clustering, hops to the
    output) with the spread of training rates and the one-epoch error.
``decay_fit``
    Fit of the one-epoch error against the number of replaced connections to an
    exponential decay towards a floor (paper section 5.1.3).
``saturation``
    Per-layer saturation and input dependence of a trained run's free phase
    (``python -m analysis.saturation RUN_DIR``).
``report``
    Every figure and table from a results folder, for the reproduction write-up.

The CSV schema and loaders are in :mod:`smallworld_eqp.results`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from smallworld_eqp import results

DEFAULT_OUT = "analysis/out"


def format_value(value: object, digits: int = 3) -> str:
    """One table cell: floats to ``digits`` significant digits, NaN as ``n/a``."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return "n/a"
    if isinstance(value, (bool, int)):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, digits: int = 3, columns: Sequence[str] | None = None) -> str:
    """A DataFrame as a GitHub-flavoured markdown table (no index).

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"a": [1, 2], "b": [0.12345, float("nan")]})))
    | a | b |
    | --- | --- |
    | 1 | 0.123 |
    | 2 | n/a |
    """
    frame = frame if columns is None else frame[list(columns)]
    lines = [
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "| " + " | ".join("---" for _ in frame.columns) + " |",
    ]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(format_value(_py(v), digits) for v in row) + " |")
    return "\n".join(lines)


def _py(value: object) -> object:
    """numpy scalars as Python ones, so formatting sees int / float / bool."""
    return value.item() if hasattr(value, "item") else value


def each_study(
    df: pd.DataFrame, make: Callable[[pd.DataFrame, str], tuple[str, list[Path]]]
) -> tuple[str, list[Path]]:
    """Run ``make(rows, suffix)`` on every study of a sweep (:func:`results.by_configuration`).

    ``make`` returns markdown and the files it wrote, naming them with ``suffix``:
    ``""`` for a sweep of one study, else ``"_"`` and the study's label made safe
    for a file name (``"_paper-784-500-500-500-10"``), which stays the same when
    studies are added. With several
    studies each part gets a heading, and a study ``make`` rejects (ValueError,
    RuntimeError: too few trials, a fit that does not converge) is listed with the
    reason; the error is raised only when every study fails.
    """
    studies = results.by_configuration(df)
    if len(studies) == 1:
        return make(studies[0][1], "")
    parts, files, errors = [], [], []
    for k, (label, rows) in enumerate(studies, 1):
        try:
            text, made = make(rows, "_" + re.sub(r"[^a-z0-9.]+", "-", label.lower()).strip("-"))
            files += made
        except (ValueError, RuntimeError) as exc:
            errors.append(exc)
            text = f"Skipped: {' '.join(str(exc).split())}."
        parts.append(f"### Study {k}: {label} ({len(rows)} trials)\n\n{text.strip()}")
    if len(errors) == len(studies):
        raise errors[0]
    return "\n\n".join(parts), files
