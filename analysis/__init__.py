"""Analysis of the result CSVs written by ``smallworld_eqp.sweep`` and ``smallworld_eqp.train``.

Modules, each runnable as ``python -m analysis.<module> CSV... [--out DIR]``:

``correlations``
    Spearman correlations of graph metrics (path length, clustering, hops to the
    output) with the spread of training rates and the one-epoch error.
``decay_fit``
    Fit of the one-epoch error against the number of replaced connections to an
    exponential decay towards a floor (paper section 5.1.3).
``graph_designs``
    Predictive power of every registered graph measure for the spread and the
    one-epoch error within graph designs and leave-one-design-out, and a
    multivariate fit with partial effects.
``saturation``
    Per-layer saturation and input dependence of a trained run's free phase
    (``python -m analysis.saturation RUN_DIR``).
``gradient_vs_eqprop``
    Per layer pair, the RMS and cosine of the exact gradient of the cost and of
    EqProp's estimates of it (one-sided, symmetric, after-step) on the same examples
    (``python -m analysis.gradient_vs_eqprop --preset NAME | --run RUN_DIR``).
``report``
    Every figure and table from a results folder, for the reproduction write-up.

The CSV schema and loaders are in :mod:`smallworld_eqp.study.schema`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pandas as pd

from smallworld_eqp.owned import OutputError, check_output, first_line
from smallworld_eqp.study import studies
from smallworld_eqp.study.resultlog import replace_atomically

DEFAULT_OUT = "analysis/out"
T = TypeVar("T")


def markdown_path(path: Path, heading: str, flag: str = "--out") -> Path:
    """``path`` if a markdown file starting with ``heading`` may be written there (read only).

    An existing file may be replaced only if it is one of ours: its first line starts
    with the same ``heading`` (:func:`smallworld_eqp.owned.check_output`); anything
    else, or a path that is a folder or does not end in ``.md``, is refused in one line.
    """

    def foreign(p: Path) -> str | None:
        line = first_line(p)
        ours = line is not None and line.startswith(heading)
        return None if ours else "exists and is not a file of this package"

    return check_output(path, kind="a markdown", suffixes=(".md",), foreign=foreign, flag=flag)


def write_markdown(path: Path, text: str, heading: str, flag: str = "--out") -> Path:
    """Write ``text``, which starts with ``heading``, to ``path`` (:func:`markdown_path`)."""
    if not text.startswith(heading):
        raise ValueError(f"markdown for {path} must start with its heading {heading!r}")
    path = markdown_path(path, heading, flag)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda tmp: tmp.write_text(text))
    return path


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


def each_group(
    groups: Sequence[tuple[str, T]],
    make: Callable[[T, str], tuple[str, list[Path]]],
    heading: Callable[[int, str, T], str],
) -> tuple[str, list[Path]]:
    """Run ``make(group, suffix)`` on every ``(label, group)`` so that no output mixes groups.

    ``make`` returns markdown and the files it wrote, naming them with ``suffix``:
    ``""`` for one group, else ``"_"`` and the label made safe for a file name
    (``"_paper-784-500-500-500-10"``), which stays the same when groups are added.
    With several groups each part gets the heading ``### heading(k, label, group)``
    (``k`` from 1), and a group ``make`` rejects (ValueError, RuntimeError: too few
    trials, a fit that does not converge, no finished epoch) is listed with the
    reason; the error is raised only when every group fails. An output that is not
    ours (:class:`~smallworld_eqp.owned.OutputError`) stops at once.

    Examples
    --------
    >>> text, _ = each_group([("a", 1), ("b", 2)], lambda g, sfx: (f"{g}{sfx}", []), lambda k, lab, g: lab)
    >>> print(text)
    ### a
    <BLANKLINE>
    1_a
    <BLANKLINE>
    ### b
    <BLANKLINE>
    2_b
    """
    if len(groups) == 1:
        return make(groups[0][1], "")
    parts, files, errors = [], [], []
    for k, (label, group) in enumerate(groups, 1):
        try:
            text, made = make(group, _file_suffix(label))
            files += made
        except OutputError:  # a file that is not ours stops the command, it is no group's fault
            raise
        except (ValueError, RuntimeError) as exc:
            errors.append(exc)
            text = f"Skipped: {' '.join(str(exc).split())}."
        parts.append(f"### {heading(k, label, group)}\n\n{text.strip()}")
    if len(errors) == len(groups):
        raise errors[0]
    return "\n\n".join(parts), files


def _file_suffix(label: str, most: int = 80) -> str:
    """``"_"`` and ``label`` made safe for a file name; a label longer than ``most``
    is cut and ends in a short hash of the whole, so names stay distinct and short.

    >>> _file_suffix("paper, 784-500-500-500-10")
    '_paper-784-500-500-500-10'
    >>> len(_file_suffix("x=1, " * 100)) <= 90
    True
    """
    safe = re.sub(r"[^a-z0-9.]+", "-", label.lower()).strip("-")
    if len(safe) > most:
        safe = f"{safe[:most].rstrip('-')}-{hashlib.sha1(label.encode()).hexdigest()[:8]}"
    return "_" + safe


def each_study(
    df: pd.DataFrame, make: Callable[[pd.DataFrame, str], tuple[str, list[Path]]]
) -> tuple[str, list[Path]]:
    """:func:`each_group` over the studies of a sweep (:func:`studies.by_configuration`),
    headed ``Study k: label (n trials)``."""
    return each_group(
        studies.by_configuration(df), make, lambda k, label, rows: f"Study {k}: {label} ({len(rows)} trials)"
    )
