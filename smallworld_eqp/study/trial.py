"""One trial of a study: build the graph, measure it, train, record one results row.

What a trial is (:class:`~smallworld_eqp.study.spec.TrialSpec`), its random streams and its
columns are owned by :mod:`smallworld_eqp.study.spec`; this module runs it. A trial's row
holds exactly the columns of :func:`smallworld_eqp.study.schema.sweep_columns`.

Examples
--------
>>> from smallworld_eqp.study.trial import run_trial
>>> from smallworld_eqp.study.spec import TrialSpec
>>> spec = TrialSpec(layers=(64, 16, 16, 10), n=20, seed=0, n_free=20, n_clamped=4)
>>> row, rates, epochs = run_trial(spec)                            # doctest: +SKIP
>>> row["status"], row["online_error_epoch1"]                       # doctest: +SKIP
('ok', 0.41)
"""

from __future__ import annotations

import datetime as _dt
import subprocess
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from smallworld_eqp import __version__, datasets
from smallworld_eqp.config import pair_rates
from smallworld_eqp.engine import spread
from smallworld_eqp.engine.batch import BatchStats, DivergenceError
from smallworld_eqp.engine.network import EqPropNetwork
from smallworld_eqp.graph import layered, measures, rewiring
from smallworld_eqp.study import schema
from smallworld_eqp.study.spec import (
    TrialSpec,
    build_graph,
    check_fits,
    load_data,
    network_config,
    shuffle_seed,
)


@lru_cache(maxsize=1)
def git_revision() -> str:
    """The short git revision of the package's checkout, or "" outside one.

    Read once per process: the code a long run executes is the code it imported, even
    if the checkout moves on while it runs.
    """
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def evaluate_test(net: EqPropNetwork, data: datasets.Dataset) -> float:
    """The test error (or cost), from the test particles when the configuration asks for them."""
    return net.evaluate(data.x_test, data.y_test, particles=net.config.test_particles, task=data.task)


def evaluate_train(net: EqPropNetwork, data: datasets.Dataset, spec: TrialSpec) -> float:
    """The training error (or cost) on the first ``spec.train_eval_n`` training examples, from zero."""
    n = data.n_train if spec.train_eval_n is None else min(spec.train_eval_n, data.n_train)
    return net.evaluate(data.x_train[:n], data.y_train[:n], task=data.task)


def new_network(spec: TrialSpec, graph: layered.Graph) -> EqPropNetwork:
    """The trial's network on ``graph``, initialised from the trial seed."""
    return EqPropNetwork(graph, network_config(spec))


def edge_rates(stats: BatchStats, spec: TrialSpec) -> np.ndarray:
    """The authors' per-pair rates: RMS over each pair's existing edges of the correction
    before the learning rate (``rms_edges`` over the pair's rate), (n_batches, n_pairs)."""
    return np.asarray(stats.rms_edges, dtype=float) / pair_rates(spec.config.learning_rate, spec.layers)


def run_epoch(
    net: EqPropNetwork, data: datasets.Dataset, spec: TrialSpec, epoch: int, *, progress: bool = False
) -> tuple[BatchStats, float | None]:
    """Train epoch ``epoch`` (1-based) of a trial; with test particles, then evaluate the
    test split, as the authors' code does after every epoch (it moves the particles).

    Returns
    -------
    stats : BatchStats
        Stacked, one row per batch.
    test_error : float or None
        The evaluation after the epoch; None without test particles (nothing to do).
    """
    stats = net.train_epoch(data, progress=progress, shuffle_seed=shuffle_seed(spec, epoch))
    return stats, evaluate_test(net, data) if spec.config.test_particles else None


def equilibrium(stats: BatchStats) -> dict[str, float]:
    """How close the training relaxations of stacked batches came to a fixed point: the
    :data:`schema.EQUILIBRIUM_COLUMNS`, means over the examples and the largest
    residual (max |s_next - s| of the last free step)."""
    size = np.asarray(stats.size, dtype=float)
    return {
        "free_steps_mean": float(np.average(stats.free_steps_mean, weights=size)),
        "clamped_steps_mean": float(np.average(stats.clamped_steps_mean, weights=size)),
        "free_residual_mean": float(np.average(stats.free_residual_mean, weights=size)),
        "free_residual_max": float(np.max(stats.free_residual_max)),
    }


def weighted_error(stats: BatchStats) -> float:
    """Mean error over an epoch (a misclassification rate, or a regression's cost) from
    its per-batch means and batch sizes."""
    return float(np.sum(stats.error * stats.size) / np.sum(stats.size))


def _row(spec: TrialSpec, status: str = "ok", message: str = "") -> dict:
    """What a trial's row says before it runs."""
    return {
        "trial_id": spec.trial_id,
        "status": status,
        "error_message": message,
        "config_hash": spec.config_hash,
        "seed": spec.seed,
        **spec.columns(),
        "requested": spec.requested,
        "version": __version__,
        "git_rev": git_revision(),
        "started": _now(),
    }


def _complete(row: dict, spec: TrialSpec) -> dict:
    """The row with every column of the schema, in order; the unfilled ones empty."""
    columns = schema.sweep_columns(len(spec.layers))
    unknown = sorted(set(row) - set(columns))
    if unknown:  # a measure added without its column: never write a row that drops it
        raise RuntimeError(f"run_trial made columns {unknown} that schema.sweep_columns does not declare")
    row.setdefault("finished", _now())
    return {c: row.get(c) for c in columns}


def _no_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-batch rates and per-epoch rows of a trial that did not finish: none."""
    return pd.DataFrame(columns=schema.RATES_COLUMNS), pd.DataFrame(columns=schema.SWEEP_EPOCHS_COLUMNS)


def failed_trial(spec: TrialSpec, message: str) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The row of a trial that failed outside :func:`run_trial` (e.g. its worker died)."""
    return _complete(_row(spec, "failed", message), spec), *_no_tables()


def run_trial(spec: TrialSpec, *, progress: bool = False) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Run one trial and return its results row, its long-format per-batch rates
    (:func:`long_rates`) and its per-epoch rows (:func:`long_epochs`).

    Never raises for a failing or diverging trial: the row's ``status`` is
    ``"failed"`` or ``"diverged"`` and ``error_message`` says why, so a sweep keeps
    going; the columns it could not fill are empty, and it has no rates and no
    epoch rows (not even of the epochs it finished).
    """
    t0 = time.perf_counter()
    row = _row(spec)
    rates, per_epoch = _no_tables()
    try:
        graph = build_graph(spec)
        row.update(rewiring.rewiring(graph))
        row.update(measures.small_world_summary(graph))
        data = load_data(spec)
        check_fits(spec, data)
        row["error_measure"] = schema.ERROR_MEASURES[data.task]
        net = new_network(spec, graph)
        if spec.config.test_particles:
            evaluate_test(net, data)  # the authors' code evaluates first: it starts the test particles
        epochs, tests = [], []
        for epoch in range(1, spec.epochs + 1):
            stats, test = run_epoch(net, data, spec, epoch, progress=progress)
            epochs.append(stats)
            tests.append(test)
        row["online_error_epoch1"] = weighted_error(epochs[0])
        row["online_error_final"] = weighted_error(epochs[-1])  # what the authors' logs call training error
        row["train_error"] = evaluate_train(net, data, spec)
        row["test_error"] = evaluate_test(net, data) if test is None else test
        stacked = BatchStats.concat(epochs)  # every batch of every epoch
        row.update(spread.summarise(stacked.rms, spec.rate_every, edge_rates=edge_rates(stacked, spec)))
        row["free_steps"] = float(np.mean(stacked.free_steps))
        row.update(equilibrium(stacked))
        tests[-1] = row["test_error"]
        rates, per_epoch = (
            long_rates(spec.trial_id, epochs),
            long_epochs(spec.trial_id, row["error_measure"], epochs, tests),
        )
    except DivergenceError as exc:
        row["status"], row["error_message"] = "diverged", _one_line(exc)
    except Exception as exc:  # a failing trial is recorded, never fatal to the sweep
        row["status"] = "failed"
        row["error_message"] = _one_line(exc)
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return _complete(row, spec), rates, per_epoch


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def long_rates(trial_id: str, epochs: list[BatchStats], first_epoch: int = 1) -> pd.DataFrame:
    """Per-batch RMS of every layer pair in long format (:data:`schema.RATES_COLUMNS`),
    then of the ``intra`` and ``skip`` edges where the graph has them."""
    frames = []
    for epoch, stats in enumerate(epochs, start=first_epoch):
        rms = np.asarray(stats.rms, dtype=float)
        n_batches, n_pairs = rms.shape
        names = [str(p) for p in range(n_pairs)]
        for kind in schema.KIND_PAIRS:
            extra = np.asarray(getattr(stats, f"rms_{kind}"), dtype=float)
            if not np.isnan(extra).all():
                rms = np.column_stack([rms, extra])
                names.append(kind)
        frames.append(
            pd.DataFrame(
                {
                    "trial_id": trial_id,
                    "epoch": epoch,
                    "batch": np.repeat(np.arange(1, n_batches + 1), len(names)),
                    "pair": np.tile(names, n_batches),
                    "rms": rms.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def long_epochs(
    trial_id: str, error_measure: str, epochs: list[BatchStats], tests: list[float | None]
) -> pd.DataFrame:
    """One row per epoch (:data:`schema.SWEEP_EPOCHS_COLUMNS`): its online error
    (:func:`weighted_error`), the test error evaluated after it (``tests``, None where
    nothing was: an empty cell) and its :func:`equilibrium`."""
    rows = [
        {
            "trial_id": trial_id,
            "epoch": epoch,
            "error_measure": error_measure,
            "online_error": weighted_error(stats),
            "test_error": np.nan if test is None else float(test),
            **equilibrium(stats),
        }
        for epoch, (stats, test) in enumerate(zip(epochs, tests, strict=True), start=1)
    ]
    return pd.DataFrame(rows, columns=schema.SWEEP_EPOCHS_COLUMNS)
