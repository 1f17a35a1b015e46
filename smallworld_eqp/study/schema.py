"""The result-CSV schema and its loaders.

Plain CSV files (comma-separated, one header line, no index column,
no multi-line cells), readable with ``pandas.read_csv(path)`` directly:

sweep CSV (``data/results/sweep.csv``)
    One row per trial, columns :func:`sweep_columns`. The layer-dependent columns
    (``hops_to_output_<layer>``, one per layer; ``dw_<pair>``, one per layer pair)
    vary with depth, so a CSV mixing depths is written with the columns of the
    deepest network and holds NaN (an empty cell) in the missing ones. The error
    columns hold what ``error_measure`` names (:data:`ERROR_MEASURES`): the
    misclassification rate, a fraction in [0, 1], or for a regression the mean cost
    C of eq. 4 (``cost``), which is not a rate. ``learning_rate`` is a string,
    comma-joined when there is one rate per layer pair.
rates CSV (``sweep_rates.csv``, ``runs/<name>/rates.csv``)
    Long format, :data:`RATES_COLUMNS`: one row per (trial, epoch, batch, pair)
    holding the correction RMS of eq. 20. ``epoch`` and ``batch`` (within the
    epoch) are 1-based, like the batch numbers of eq. 22; pair 0 joins the input
    and the first hidden layer. Pairs ``intra`` and ``skip`` (:data:`KIND_PAIRS`),
    where the graph has such edges, hold the RMS correction over all its
    intra-layer or layer-skipping edges (sum of squares over their number).
sweep epochs CSV (``sweep_epochs.csv``, beside a sweep CSV as its rates are; since 0.3)
    Long format, :data:`SWEEP_EPOCHS_COLUMNS`: one row per (trial, epoch) of every
    ``ok`` trial (a failed or diverged trial has none, as it has no rates),
    ``epoch`` 1-based. ``online_error`` is the epoch's mean error over its training
    batches (the sweep row's ``online_error_epoch1`` in epoch 1, its
    ``online_error_final`` in the last), and the equilibrium columns are those of the
    sweep row (:data:`EQUILIBRIUM_COLUMNS`) over that epoch's batches alone.
    ``test_error`` is what the trial evaluated after the epoch: the row's
    ``test_error`` in the last epoch, and in the others only with ``test_particles``
    (the authors' code evaluates after every epoch); empty where nothing was
    evaluated. Read it with :func:`load_sweep_epochs`.
epochs CSV (``runs/<name>/epochs.csv``)
    One row per epoch of a long training run, :data:`EPOCHS_COLUMNS`;
    ``online_error`` is the mean error over the epoch's training batches, seen
    before each batch's update. As in a sweep CSV, ``error_measure`` says whether
    the error columns are misclassification rates or a regression's cost;
    ``version`` and ``git_rev`` name the code that trained the epoch (empty in rows
    written before 0.2.0 recorded it: a resumed run may mix versions).
    ``train_error`` is empty in the epochs a run with ``--train-eval-every`` did not
    evaluate.
weight-change CSV (``runs/<name>/weight_change.csv``, since 0.3)
    Long format, :data:`WEIGHT_CHANGE_COLUMNS`: after every epoch of a run, per pair
    of layers holding edges (``layer_a <= layer_b``, 0 the input layer; equal for
    intra-layer edges), the number of edges and the mean of ``|w - w_initial|`` over
    them (the paper's Fig. 5).

A gradient comparison CSV (``analysis/results/gradient_vs_eqprop.csv``, written by
``python -m analysis.gradient_vs_eqprop``) is read by :func:`load_gradient_comparison`.

Examples
--------
>>> [c for c in sweep_columns(4) if c.startswith(("hops", "dw"))]
['hops_to_output_0', 'hops_to_output_1', 'hops_to_output_2', 'hops_to_output_3', 'dw_0', 'dw_1', 'dw_2']
>>> df = load_sweep(["data/results/sweep.csv"])                     # doctest: +SKIP
>>> df.groupby("n_replaced")["online_error_epoch1"].mean()           # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from smallworld_eqp.config import summary_columns
from smallworld_eqp.engine import spread
from smallworld_eqp.study import studies
from smallworld_eqp.study.resultlog import cut_line, scan
from smallworld_eqp.study.spec import LATER_DEFAULT_CELLS, setting_field
from smallworld_eqp.validate import check_int

PathLike = str | os.PathLike
STATUSES = ("ok", "failed", "diverged")

#: Sweep columns before the settings: the trial's identity and outcome status.
_HEAD = ["trial_id", "status", "error_message", "config_hash", "seed"]
#: After the settings: how the graph was rewired (what was asked, what was done).
_REWIRED = ["requested", "n_replaced", "p"]
#: After the graph measures: the training outcome; ``error_measure`` says what the
#: error columns hold (:data:`ERROR_MEASURES`).
_ERRORS = ["error_measure", "online_error_epoch1", "online_error_final", "train_error", "test_error"]
#: What an error column holds, by task: the misclassification rate, or the mean cost
#: C (eq. 4) of a regression.
ERROR_MEASURES = {"classification": "misclassification", "regression": "cost"}
#: How close to equilibrium the training relaxations came (``study.trial.equilibrium``):
#: mean steps of the free and clamped phases, and the mean and largest max |ds| of the
#: last free step; empty in rows written before they were recorded.
EQUILIBRIUM_COLUMNS = ["free_steps_mean", "clamped_steps_mean", "free_residual_mean", "free_residual_max"]
#: After the rate summaries.
_TAIL = ["free_steps", *EQUILIBRIUM_COLUMNS, "seconds", "version", "git_rev", "started", "finished"]
#: Columns a CSV must have for :func:`load_sweep` to accept it as a sweep CSV.
SWEEP_REQUIRED_COLUMNS = [
    "trial_id",
    "status",
    "seed",
    "layers",
    "n_replaced",
    "p",
    "online_error_epoch1",
    "train_error",
    "test_error",
]
RATES_COLUMNS = ["trial_id", "epoch", "batch", "pair", "rms"]
#: Named pairs of the rates CSV beside the adjacent layer pairs 0, 1, ...
KIND_PAIRS = ("intra", "skip")
#: A sweep's per-epoch errors and equilibrium, one row per (trial, epoch).
SWEEP_EPOCHS_COLUMNS = [
    "trial_id",
    "epoch",
    "error_measure",
    "online_error",
    "test_error",
    *EQUILIBRIUM_COLUMNS,
]
EPOCHS_COLUMNS = [
    "epoch",
    "error_measure",
    "online_error",
    "train_error",
    "test_error",
    *EQUILIBRIUM_COLUMNS,
    "seconds",
    "n_edges",
    "n_skip",
    "version",
    "git_rev",
]
#: A run folder's per-epoch weight change per pair of layers (Fig. 5), and its columns.
WEIGHT_CHANGE_FILE = "weight_change.csv"
WEIGHT_CHANGE_COLUMNS = ["epoch", "layer_a", "layer_b", "n_edges", "mean_abs_change"]
#: Cell types (:data:`smallworld_eqp.study.resultlog.CELL_TYPES`) every row of a results
#: file is checked against when it is read or resumed; a row that fails is named.
SWEEP_TYPES = {"seed": "count"} | dict.fromkeys(
    ["n_replaced", "p", "online_error_epoch1", "train_error", "test_error"], "number"
)
RATES_TYPES = {"epoch": "count", "batch": "count", "rms": "number"}
SWEEP_EPOCHS_TYPES = {"epoch": "count"} | dict.fromkeys(
    ["online_error", "test_error", *EQUILIBRIUM_COLUMNS], "number"
)
#: The long tables a sweep writes beside its CSV ``NAME.csv``, as ``NAME_<key>.csv``:
#: their columns and cell types.
SWEEP_TABLES = {
    "rates": (RATES_COLUMNS, RATES_TYPES),
    "epochs": (SWEEP_EPOCHS_COLUMNS, SWEEP_EPOCHS_TYPES),
}
WEIGHT_CHANGE_TYPES = dict.fromkeys(["epoch", "layer_a", "layer_b", "n_edges"], "count") | {
    "mean_abs_change": "number"
}
EPOCHS_TYPES = {"epoch": "count"} | dict.fromkeys(
    ["online_error", "train_error", "test_error", *EQUILIBRIUM_COLUMNS, "seconds", "n_edges", "n_skip"],
    "number",
)
#: What files written before a column existed held in it (every run before 0.2 classified).
OLD_DEFAULTS = {"error_measure": "misclassification"}
#: Epoch rows written before runs recorded their code (or their equilibrium): unknown.
UNRECORDED = {"version": "", "git_rev": ""} | dict.fromkeys(EQUILIBRIUM_COLUMNS, float("nan"))


def sweep_columns(n_layers: int) -> list[str]:
    """All sweep columns, in order, for networks of ``n_layers`` layers.

    The trial's id and status, its settings (:func:`studies.study_columns`), the rewiring
    done, the graph measures (:func:`smallworld_eqp.config.summary_columns`), the
    errors, the rate summaries (:func:`smallworld_eqp.engine.spread.summary_columns`),
    timings and provenance. Each part comes from its owner, so a new setting or
    measure becomes a column without an edit here; a measure named like a setting is
    refused when :mod:`.studies` is imported.

    Parameters
    ----------
    n_layers : int
        Number of layers, input and output included (5 for 784-500-500-500-10);
        for a sweep mixing depths, the largest.

    Examples
    --------
    >>> cols = sweep_columns(3)
    >>> cols[cols.index("skip_span") :][:6]
    ['skip_span', 'log_paths_hidden', 'log_walks_hidden', 'hops_to_output_0', 'hops_to_output_1', 'hops_to_output_2']
    >>> [c for c in cols if c.startswith("dw_")]
    ['dw_0', 'dw_1']
    """
    check_int("n_layers", n_layers, low=3)
    return (
        _HEAD
        + studies.study_columns()
        + _REWIRED
        + summary_columns(n_layers)
        + _ERRORS
        + spread.summary_columns(n_layers - 1)
        + _TAIL
    )


def string_columns() -> list[str]:
    """Sweep columns read as strings whatever they look like (a hash may be all digits;
    layer sizes, per-pair rates and recipe steps are text)."""
    text = [
        c
        for c in studies.study_columns()
        if isinstance(setting_field(c).default, (str, tuple)) or c == "learning_rate"
    ]
    return [
        "trial_id",
        "status",
        "error_message",
        "config_hash",
        *text,
        "requested",
        "version",
        "git_rev",
        "started",
        "finished",
    ]


def n_layers_of(layers: str) -> int:
    """Number of layers in a ``layers`` cell such as ``"784-500-500-500-10"``."""
    return len(str(layers).split("-"))


def as_paths(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    """One path or several as a list of paths; none at all is refused.

    Examples
    --------
    >>> as_paths("a.csv"), as_paths(["a.csv", Path("b.csv")])
    ([PosixPath('a.csv')], [PosixPath('a.csv'), PosixPath('b.csv')])
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths) if isinstance(paths, Iterable) else paths
    if not isinstance(paths, list) or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise TypeError(f"paths must be a path or a list of paths to CSV files, got {paths!r:.80}")
    out = [Path(p) for p in paths]
    if not out:
        raise ValueError("no CSV file given")
    return out


def _read(
    path: Path, required: Sequence[str], kind: str, types: dict[str, str], dtype: dict | None = None
) -> pd.DataFrame:
    """One results CSV, every row checked first (:func:`resultlog.scan`: its width,
    the ``types`` of its cells, no NUL byte, no second header); a cut last line (no
    newline: a writer stopped mid-row) is left out with a warning naming it."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give {kind} CSV file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    rows = scan(path, types)
    header = next(rows, (0, None))[1]
    if header is None:
        raise ValueError(f"{path}: not {kind} CSV (no header line)")
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path}: not {kind} CSV, missing columns: {', '.join(missing)}")
    n_rows = sum(1 for _ in rows)
    cut = cut_line(path)
    if cut is not None and cut > 1:
        warnings.warn(
            f"{path}, line {cut}: a cut last row (no newline: its writer stopped); left out", stacklevel=3
        )
    try:
        return pd.read_csv(path, dtype=dtype, nrows=n_rows, encoding="utf-8-sig")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not {kind} CSV ({' '.join(str(exc).split())})") from None


def load_sweep(
    paths: PathLike | Iterable[PathLike], *, status: str | None = "ok", source: bool = False
) -> pd.DataFrame:
    """Concatenate sweep CSVs into one DataFrame.

    Parameters
    ----------
    paths : path-like or iterable of path-like
        Any number of sweep CSVs, read in order.
    status : {"ok", "failed", "diverged"} or None
        Keep only the trials with this status; None keeps all.
    source : bool
        Add a last column ``source``, the name of the file each row was read from
        (:func:`by_configuration` names studies by it where many settings differ).

    Returns
    -------
    pandas.DataFrame
        Columns in :func:`sweep_columns` order for the deepest network present
        (schema columns missing from every file are added as NaN), then any
        unknown columns. Duplicate ``trial_id`` rows (a resumed or re-run sweep)
        keep the last one read. The index is a fresh ``RangeIndex``.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        If no file is given, if a file is not a sweep CSV (it lacks one of
        :data:`SWEEP_REQUIRED_COLUMNS`), or if ``status`` is not a known status.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)} or None, got {status!r}")
    dtype = dict.fromkeys(string_columns(), "str")
    paths = as_paths(paths)
    frames = [_read(p, SWEEP_REQUIRED_COLUMNS, "a sweep", SWEEP_TYPES, dtype) for p in paths]
    # A file written before a setting existed ran every trial with its default.
    old = LATER_DEFAULT_CELLS | OLD_DEFAULTS
    frames = [f.assign(**{k: v for k, v in old.items() if k not in f}) for f in frames]
    if source:
        frames = [f.assign(source=p.name) for f, p in zip(frames, paths)]
    df = pd.concat(frames, ignore_index=True, sort=False)
    df = df.drop_duplicates("trial_id", keep="last")
    # The schema of the deepest network read, filtered out or not, so the columns
    # do not depend on ``status``.
    depths = [n_layers_of(v) for v in df["layers"].dropna()]
    schema = sweep_columns(max(depths, default=3))
    if status is not None:
        df = df[df["status"] == status]
    extra = [c for c in df.columns if c not in schema]
    return df.reindex(columns=schema + extra).reset_index(drop=True)


def run_file(path: PathLike, name: str) -> Path:
    """A run directory stands for its ``name`` file (``epochs.csv`` or ``rates.csv``),
    or for that file xz-compressed (``rates.csv.xz``) when only that exists."""
    path = Path(path)
    if not path.is_dir():
        return path
    plain, packed = path / name, path / f"{name}.xz"
    return packed if packed.is_file() and not plain.exists() else plain


def load_rates(paths: PathLike | Iterable[PathLike]) -> pd.DataFrame:
    """Concatenate long-format rates CSVs (:data:`RATES_COLUMNS`).

    A directory stands for the ``rates.csv`` inside it (a run directory of the
    train CLI), or ``rates.csv.xz`` when only that exists (:func:`run_file`); a
    compressed file is read decompressed. Rows keep their file order; ``pair`` is
    read as text (``"0"``, ``"1"``, ..., ``"intra"``, ``"skip"``). A ``run`` column
    comes first: the run folder's name for a run's ``rates.csv``, else each row's
    ``trial_id`` (a sweep's ``NAME_rates.csv``).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_sweep`, for a missing file or one lacking a rates column.
    """
    frames = []
    for p in as_paths(paths):
        path = run_file(p, "rates.csv")
        frame = _read(path, RATES_COLUMNS, "a rates", RATES_TYPES, {"trial_id": "str", "pair": "str"})
        of_a_run = path.name in ("rates.csv", "rates.csv.xz")  # a run folder's: one run
        frame.insert(0, "run", run_name(path) if of_a_run else frame["trial_id"])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True, sort=False)


def load_sweep_epochs(paths: PathLike | Iterable[PathLike]) -> pd.DataFrame:
    """Concatenate sweep epochs CSVs (``NAME_epochs.csv``, :data:`SWEEP_EPOCHS_COLUMNS`).

    Rows keep their file order; ``trial_id`` and ``error_measure`` are read as text,
    so the rows join those of :func:`load_sweep` on ``trial_id``.

    Examples
    --------
    >>> epochs = load_sweep_epochs("data/results/sweep_epochs.csv")            # doctest: +SKIP
    >>> epochs.pivot(index="trial_id", columns="epoch", values="online_error")  # doctest: +SKIP

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_sweep`, for a missing file or one lacking a column.
    """
    text = {"trial_id": "str", "error_measure": "str"}
    frames = [
        _read(p, SWEEP_EPOCHS_COLUMNS, "a sweep epochs", SWEEP_EPOCHS_TYPES, text)[SWEEP_EPOCHS_COLUMNS]
        for p in as_paths(paths)
    ]
    return pd.concat(frames, ignore_index=True, sort=False)


def run_spec(path: PathLike) -> dict:
    """What a run trains: the ``spec`` of the ``run.json`` of a run folder, or of the
    folder holding ``path`` when it is a file (``runs/basic/epochs.csv``).

    Raises
    ------
    FileNotFoundError
        When the folder has no ``run.json``.
    ValueError
        When ``run.json`` is not JSON or has no ``spec``.
    """
    path = Path(path)
    run = (path if path.is_dir() else path.parent) / "run.json"
    try:
        data = json.loads(run.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{run} is not JSON: {exc}") from None
    spec = data.get("spec") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        raise ValueError(f"{run} has no 'spec' object; is it a run.json of the train CLI?")
    return spec


def pivot_rates(
    rates: pd.DataFrame, index: str | list[str] = "batch", *, kinds: bool = False
) -> pd.DataFrame:
    """Long rates (:data:`RATES_COLUMNS`) as one row per ``index`` value, sorted, and
    one column per adjacent layer pair (int, input pair first), holding the mean
    ``rms`` of eq. 20 over repeated rows; with ``kinds``, the :data:`KIND_PAIRS`
    columns instead (those present)."""
    pair = rates["pair"].astype(str)
    named = pair.isin(KIND_PAIRS)
    part = rates[named] if kinds else rates[~named].assign(pair=pair[~named].astype(int))
    wide = part.pivot_table(index=index, columns="pair", values="rms", aggfunc="mean")
    return wide.sort_index().sort_index(axis=1)


def run_name(path: PathLike) -> str:
    """Name of a run from its path: the directory of an ``epochs.csv``, ``rates.csv``
    (or ``rates.csv.xz``) or ``saturation.csv``, else the file's stem (``runs/basic/epochs.csv`` -> ``basic``)."""
    path = Path(path)
    if path.is_dir():
        return path.name
    own = ("epochs.csv", "rates.csv", "rates.csv.xz", "saturation.csv", WEIGHT_CHANGE_FILE)
    if path.name in own and path.parent.name:
        return path.parent.name
    return path.stem


#: Estimators of the gradient comparison (``analysis.gradient_vs_eqprop``), in its columns' spelling.
GRADIENT_ESTIMATORS = ("one_sided", "symmetric", "after_step")
#: The columns of a gradient comparison CSV that :func:`load_gradient_comparison` needs.
GRADIENT_COLUMNS = [
    "measurement", "source", "seed", "epoch", "beta", "n_clamped", "group", "med_rms_exact",
    *(f"med_{stat}_{k}" for stat in ("rms", "cos") for k in GRADIENT_ESTIMATORS),
]  # fmt: skip


#: Cell types of a gradient comparison CSV, checked on read (:data:`SWEEP_TYPES`).
GRADIENT_TYPES = dict.fromkeys(["seed", "epoch", "n", "n_free", "n_clamped"], "count") | {"beta": "number"}


def load_gradient_comparison(path: PathLike) -> pd.DataFrame:
    """The per-group rows of a gradient comparison CSV (``python -m analysis.gradient_vs_eqprop``).

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing file, or one lacking a column of :data:`GRADIENT_COLUMNS` (any
        other results file).
    """
    return _read(
        Path(path),
        GRADIENT_COLUMNS,
        "a gradient comparison",
        GRADIENT_TYPES,
        {"group": "str", "source": "str"},
    )


def load_epochs(paths: PathLike | Iterable[PathLike]) -> pd.DataFrame:
    """Concatenate per-epoch CSVs (:data:`EPOCHS_COLUMNS`) with a ``run`` column first.

    A directory stands for the ``epochs.csv`` inside it; ``run`` is
    :func:`run_name` of each path.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_sweep`, for a missing file or one lacking an epochs column.
    """
    defaults = OLD_DEFAULTS | UNRECORDED
    required = [c for c in EPOCHS_COLUMNS if c not in defaults]
    # as in a sweep CSV: a revision such as 24124e5 or a version 0.2 is text, not a number
    text = dict.fromkeys([c for c in EPOCHS_COLUMNS if c in string_columns()], "str")
    frames = []
    for p in as_paths(paths):
        frame = _read(run_file(p, "epochs.csv"), required, "an epochs", EPOCHS_TYPES, text)
        frame = frame.assign(**{k: v for k, v in defaults.items() if k not in frame})[EPOCHS_COLUMNS]
        frame.insert(0, "run", run_name(p))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True, sort=False)


def load_weight_changes(paths: PathLike | Iterable[PathLike]) -> pd.DataFrame:
    """Concatenate weight-change CSVs (:data:`WEIGHT_CHANGE_COLUMNS`) with a ``run``
    column first; a directory stands for the ``weight_change.csv`` inside it.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_sweep`, for a missing file or one lacking a column.
    """
    frames = []
    for p in as_paths(paths):
        frame = _read(
            run_file(p, WEIGHT_CHANGE_FILE), WEIGHT_CHANGE_COLUMNS, "a weight-change", WEIGHT_CHANGE_TYPES
        )
        frame = frame[WEIGHT_CHANGE_COLUMNS]
        frame.insert(0, "run", run_name(p))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True, sort=False)
