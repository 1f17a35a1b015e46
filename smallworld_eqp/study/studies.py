"""Which trials form one study, and the columns that tell studies apart.

A results row holds a trial's settings and its graph measures as columns of one
namespace: :func:`study_columns` are the settings that make two trials the same study
(so their outcomes may be pooled or fitted together), a measure named like a setting is
refused on import (:func:`check_measures_apart_from_settings`), and
:func:`by_configuration` splits sweep rows into studies with short labels. Imports the
spec and the numba-free configuration only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from smallworld_eqp.config import GRAPH_MEASURES, LAYER_MEASURES
from smallworld_eqp.study.spec import SETTING_NAMES, setting_columns


def study_columns() -> list[str]:
    """What makes two trials the same study, so that their outcomes may be pooled or
    fitted together: every setting but the rewiring amount and the seed
    (:func:`smallworld_eqp.study.spec.setting_columns`)."""
    return setting_columns()


def measures_named_like_settings(
    settings: Iterable[str], graph_measures: Iterable[str], layer_measures: Iterable[str]
) -> list[str]:
    """The settings that a graph measure's column would overwrite in a results row.

    A setting clashes with a graph measure of the same name, and with the columns
    ``<name>_<layer>`` of a per-layer measure (or that measure's own name).

    Parameters
    ----------
    settings : iterable of str
        Setting names (:data:`smallworld_eqp.study.spec.SETTING_NAMES`).
    graph_measures, layer_measures : iterable of str
        The registered measures (:data:`smallworld_eqp.config.GRAPH_MEASURES`,
        :data:`smallworld_eqp.config.LAYER_MEASURES`).

    Returns
    -------
    list of str
        The clashing names, sorted; empty when none clashes.

    Examples
    --------
    >>> measures_named_like_settings(["eps", "depth", "hops_2"], ["depth"], ["hops"])
    ['depth', 'hops_2']
    """
    graph_measures, layer_measures = set(graph_measures), set(layer_measures)

    def per_layer(name: str) -> bool:
        stem, _, layer = name.rpartition("_")
        return name in layer_measures or (stem in layer_measures and layer.isdigit())

    return sorted({name for name in settings if name in graph_measures or per_layer(name)})


def check_measures_apart_from_settings(
    settings: Iterable[str], graph_measures: Iterable[str], layer_measures: Iterable[str]
) -> None:
    """Refuse graph measures named like settings (:func:`measures_named_like_settings`).

    A row holds both as columns of one namespace, so a measure named like a setting
    would silently overwrite the setting's value; this module calls the check on import
    with the registered settings and measures, so such a name stops every command.

    Raises
    ------
    ValueError
        Naming the clashing names.
    """
    clash = measures_named_like_settings(settings, graph_measures, layer_measures)
    if clash:
        raise ValueError(
            f"graph measures named like settings: {', '.join(clash)}; a results row holds both as "
            "columns, so rename the measure (config.GRAPH_MEASURES or LAYER_MEASURES and graph.metrics)"
        )


check_measures_apart_from_settings(SETTING_NAMES, GRAPH_MEASURES, LAYER_MEASURES)


def by_configuration(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Sweep trials split into studies: equal :func:`study_columns`, any rewiring and seed.

    Fits and correlations over replacement counts only make sense within one
    study; pooling, say, two network sizes would relate the size to the outcome.

    Parameters
    ----------
    df : pandas.DataFrame
        Sweep rows (:func:`load_sweep`).

    Returns
    -------
    list of (str, pandas.DataFrame)
        ``(label, rows)`` in sorted order. A label is short: the preset (when
        presets differ) and the layer sizes, then ``name=value`` for each setting
        that differs between the studies sharing that preset and those sizes; with
        one study it is its layer sizes.

    Examples
    --------
    >>> df = pd.DataFrame({"preset": ["quick", "paper", "paper"], "layers": ["64-10", "784-10", "784-10"],
    ...                    "n_train": [1000.0, 50000.0, 60000.0], "eps": [0.5, 0.5, 0.5]})
    >>> [label for label, rows in by_configuration(df)]
    ['paper, 784-10, n_train=50000', 'paper, 784-10, n_train=60000', 'quick, 64-10']
    """
    # As Python strings: NaN (no tol, say) is a value "nan", not a missing key, and
    # 0.5 equals "0.5" after a CSV round trip.
    keys = df[[c for c in study_columns() if c in df]].map(str).reset_index(drop=True)
    varying = [c for c in keys if keys[c].nunique() > 1]
    if not varying:
        return [(str(df["layers"].iloc[0]) if len(df) else "", df)]
    base = ["preset", "layers"] if "preset" in varying else ["layers"]
    out = []
    for _, study in keys.groupby(varying, sort=True):
        value = study.iloc[0]
        kin = keys[(keys[base] == value[base]).all(axis=1)]  # the studies of the same preset and sizes
        named = [c for c in varying if c not in base and kin[c].nunique() > 1]
        rows = df.iloc[study.index]
        label = ", ".join([*value[base], *_arm_names(named, value, rows, df.iloc[kin.index])])
        out.append((label, rows))
    return out


#: At most this many ``name=value`` settings name a study among its kin; beyond, its file does.
MAX_NAMED = 2


def _arm_names(named: list[str], value: pd.Series, rows: pd.DataFrame, kin: pd.DataFrame) -> list[str]:
    """What tells a study from the others of its preset and sizes: the settings that
    differ, or, when more than :data:`MAX_NAMED` differ, the file it came from (the
    ``source`` column of :func:`load_sweep`) where that tells it apart, else the first
    settings and how many more differ."""
    if len(named) <= MAX_NAMED:
        return [f"{c}={_plain(value[c])}" for c in named]
    sources = set(rows["source"]) if "source" in rows else set()
    if len(sources) == 1 and len(set(kin["source"])) > 1:
        return [f"from {Path(sources.pop()).stem.removesuffix('_sweep')}"]
    shown = [f"{c}={_plain(value[c])}" for c in named[:MAX_NAMED]]
    return [*shown, f"+{len(named) - MAX_NAMED} more settings"]


def _plain(value: str) -> str:
    """A setting's value as a label shows it: ``"60000.0"`` (a count read back as a
    float next to NaN) as ``"60000"``, anything else as it is."""
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() and "e" not in value.lower() else value
