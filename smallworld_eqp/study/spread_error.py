"""How closely the log-spread of the training rates tracks the training error, per sweep.

The journal's Fig. 4 sets the error of the 784-100x5-10 network after 10 epochs beside
the log-spread of its per-layer training rates (eq. 22-23) and reports the r^2 between
the two across trials. Here sweeps of one network are told apart by their number of
epochs (:func:`by_epochs`: "1 epoch", "10 epochs") and, within each, the squared Pearson
correlation of ``log_spread`` with the online error of the last epoch (what the
authors' logs call training error) is computed across the ok trials, beside Spearman's
rank correlation (:func:`correlate`); :func:`write_table` saves them as a small CSV.

Imports pandas, NumPy, SciPy and the results schema; never numba or the plots.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from smallworld_eqp.owned import check_output
from smallworld_eqp.study import studies
from smallworld_eqp.study.resultlog import read_header, replace_atomically

#: Columns of the table :func:`correlate` returns and :func:`write_table` writes.
TABLE_COLUMNS = [
    "sweep",
    "epochs",
    "n_trials",
    "pearson_r",
    "r2_log_spread_vs_online_error",
    "p_value",
    "spearman_rho",
    "spearman_p_value",
]
#: Fewer complete trials than this give no correlation (NaN).
MIN_TRIALS = 3


def epochs_label(epochs: int) -> str:
    """``"1 epoch"``, ``"10 epochs"``.

    >>> epochs_label(1), epochs_label(10)
    ('1 epoch', '10 epochs')
    """
    return f"{epochs} epoch" + ("" if epochs == 1 else "s")


def final_online_error(df: pd.DataFrame) -> pd.Series:
    """The online error of each trial's last epoch: ``online_error_final``, or in a
    one-epoch trial that lacks it (an older file) ``online_error_epoch1``, the same
    quantity."""
    final = pd.to_numeric(df["online_error_final"], errors="coerce")
    one_epoch = pd.to_numeric(df["epochs"], errors="coerce") == 1
    first = pd.to_numeric(df["online_error_epoch1"], errors="coerce")
    return final.where(final.notna() | ~one_epoch, first).rename("online_error_last")


def _network(rows: pd.DataFrame) -> str:
    return f"{rows['dataset'].iloc[0]}, {rows['layers'].iloc[0]}"


def by_epochs(df: pd.DataFrame) -> list[tuple[str, int, pd.DataFrame]]:
    """Sweep rows of one network split by their number of epochs, fewest first.

    Parameters
    ----------
    df : pandas.DataFrame
        Ok sweep rows (:func:`schema.load_sweep`), of one data set and layer sizes.

    Returns
    -------
    list of (label, epochs, rows)
        ``label`` is :func:`epochs_label`.

    Raises
    ------
    ValueError
        If the rows hold several networks (data set and layer sizes), or two studies
        (:func:`studies.by_configuration`) with the same number of epochs: an axis
        labelled by epochs would pool them.
    """
    if df.empty:
        raise ValueError("no ok trial to compare")
    networks = sorted({_network(rows) for _, rows in df.groupby(["dataset", "layers"], dropna=False)})
    if len(networks) > 1:
        raise ValueError(
            f"the sweeps hold {len(networks)} networks ({'; '.join(networks)}); compare the epochs of one network at a time"
        )
    if df["epochs"].isna().any():
        raise ValueError("some trials do not record their number of epochs")
    groups = studies.by_configuration(df)
    epochs_of = [(int(rows["epochs"].iloc[0]), label, rows) for label, rows in groups]
    counts = pd.Series([e for e, _, _ in epochs_of]).value_counts()
    doubled = sorted(int(e) for e in counts[counts > 1].index)
    if doubled:
        labels = [label for e, label, _ in epochs_of if e == doubled[0]]
        raise ValueError(
            f"{len(labels)} studies of {epochs_label(doubled[0])} differ in other settings "
            f"({'; '.join(labels)}); give one study per number of epochs"
        )
    return [(epochs_label(e), e, rows) for e, _, rows in sorted(epochs_of, key=lambda t: t[0])]


def _sources(rows: pd.DataFrame) -> str:
    if "source" not in rows or rows["source"].isna().all():
        return ""
    return "+".join(dict.fromkeys(str(s) for s in rows["source"].dropna()))


def correlate(df: pd.DataFrame) -> pd.DataFrame:
    """Per number of epochs (:func:`by_epochs`): r^2 and Spearman's rho of ``log_spread``
    with the online error of the last epoch (:func:`final_online_error`), across trials.

    Parameters
    ----------
    df : pandas.DataFrame
        Ok sweep rows of one network (:func:`schema.load_sweep`; with ``source=True``
        the ``sweep`` column names the files).

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`, one row per number of epochs, fewest first: ``sweep``
        (the source files, else the epochs label), ``n_trials`` (trials with both
        values), Pearson's r, its square and two-sided p-value, Spearman's rho and
        its p-value; NaN with fewer than :data:`MIN_TRIALS` trials or a constant column.

    Examples
    --------
    >>> df = pd.DataFrame({"dataset": "d", "layers": "4-3-2", "epochs": 10, "log_spread": [0.5, 0.7, 0.9, 1.0],
    ...                    "online_error_final": [0.2, 0.3, 0.5, 0.55], "online_error_epoch1": 0.8})
    >>> row = correlate(df).iloc[0]
    >>> row["sweep"], int(row["n_trials"]), round(float(row["r2_log_spread_vs_online_error"]), 3)
    ('10 epochs', 4, 0.979)
    """
    rows = []
    for label, epochs, part in by_epochs(df):
        x = pd.to_numeric(part["log_spread"], errors="coerce").to_numpy(dtype=float)
        y = final_online_error(part).to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        r = p = rho = p_rho = float("nan")
        if ok.sum() >= MIN_TRIALS and np.ptp(x) > 0 and np.ptp(y) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", stats.ConstantInputWarning)
                pearson = stats.pearsonr(x, y)
                spearman = stats.spearmanr(x, y)
            r, p = float(pearson.statistic), float(pearson.pvalue)
            rho, p_rho = float(spearman.statistic), float(spearman.pvalue)
        rows.append(
            {
                "sweep": _sources(part) or label,
                "epochs": epochs,
                "n_trials": int(ok.sum()),
                "pearson_r": r,
                "r2_log_spread_vs_online_error": r * r,
                "p_value": p,
                "spearman_rho": rho,
                "spearman_p_value": p_rho,
            }
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def describe(table: pd.DataFrame) -> list[str]:
    """One short line per row of :func:`correlate`'s table, for a figure or a terminal.

    >>> describe(pd.DataFrame([{"epochs": 10, "n_trials": 12, "r2_log_spread_vs_online_error": 0.81234,
    ...                         "spearman_rho": 0.9}]))
    ['10 epochs: r² = 0.81, ρ = 0.90 (n = 12)']
    """

    def num(v: float) -> str:
        return "n/a" if pd.isna(v) else f"{v:.2f}"

    return [
        f"{epochs_label(int(row.epochs))}: r² = {num(row.r2_log_spread_vs_online_error)}, "
        f"ρ = {num(row.spearman_rho)} (n = {int(row.n_trials)})"
        for row in table.itertuples(index=False)
    ]


def table_path(figure: str | os.PathLike) -> Path:
    """Where the table goes beside a figure: ``fig4_10ep.png`` -> ``fig4_10ep_r2.csv``."""
    figure = Path(figure)
    return figure.with_name(f"{figure.stem}_r2.csv")


def _foreign(path: Path) -> str | None:
    return None if read_header(path) == TABLE_COLUMNS else "exists and is not an r² table of this package"


def check_table_path(path: str | os.PathLike, flag: str = "--r2-out") -> Path:
    """``path`` if the table may be written there: a ``.csv`` path that is free or a
    table of this package (same header); read only."""
    return check_output(path, kind="a CSV", suffixes=(".csv",), foreign=_foreign, flag=flag)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table :func:`write_table` wrote."""
    table = pd.read_csv(path)
    missing = [c for c in TABLE_COLUMNS if c not in table]
    if missing:
        raise ValueError(f"{path}: not an r² table, missing columns: {', '.join(missing)}")
    return table


def write_table(table: pd.DataFrame, path: str | os.PathLike, flag: str = "--r2-out") -> Path:
    """Write :func:`correlate`'s table to ``path`` (whole or not at all); returns the path."""
    out = check_table_path(path, flag)
    out.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(out, lambda tmp: table[TABLE_COLUMNS].to_csv(tmp, index=False, float_format="%.6g"))
    return out
