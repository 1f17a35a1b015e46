"""Long training runs of one configuration: a run folder with per-epoch CSVs, checkpoints, resume.

A run lives in one folder: ``run.json`` (what it trains), ``epochs.csv`` (one row per
epoch), ``rates.csv`` (per-batch correction RMS per layer pair, long format),
``weight_change.csv`` (after every epoch, the mean absolute change of the weights
since their initial values per pair of layers: Fig. 5 without the checkpoint) and
``checkpoint.npz`` (the network and the last finished epoch, written as one file and
renamed into place, so a crash leaves the old checkpoint or the new one, never a
mix). Resuming continues from the checkpoint and gives the same numbers as an
uninterrupted run. A folder is only written if it is empty or a run folder of the
same run; it is locked while a run writes it.
"""

from __future__ import annotations

import functools
import json
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from smallworld_eqp import __version__, machine
from smallworld_eqp.datasets import Dataset
from smallworld_eqp.engine import network_file
from smallworld_eqp.engine.batch import BatchStats
from smallworld_eqp.engine.network import EqPropNetwork
from smallworld_eqp.graph import layered
from smallworld_eqp.graph.layered import Graph
from smallworld_eqp.study import schema
from smallworld_eqp.study.resultlog import ResultLog, replace_atomically
from smallworld_eqp.study.spec import TrialSpec, build_graph, load_data
from smallworld_eqp.study.trial import (
    equilibrium,
    evaluate_test,
    evaluate_train,
    git_revision,
    long_rates,
    new_network,
    run_epoch,
    weighted_error,
)
from smallworld_eqp.validate import check_int


class RunStateError(RuntimeError):
    """A run folder whose saved state cannot be continued (missing or damaged checkpoint)."""


#: What a run folder's ``run.json`` records beside the spec, with the value a run.json
#: written before the option existed stands for.
RUN_OPTIONS = {"remove_skip_after": None, "train_eval_every": 1}


def _run_record(spec: TrialSpec, options: dict, machines: list) -> dict:
    """What ``run.json`` holds: the spec without its epoch count (a run may be extended)
    and data folder, the run's options (:data:`RUN_OPTIONS`) and the machines that
    trained it (:func:`smallworld_eqp.machine.describe`, one entry per distinct machine,
    in the order they first worked on it)."""
    d = spec.to_dict()
    d.pop("epochs")
    d.pop("data_dir")
    return {"spec": d, **options, "machines": machines}


def _machines(out: Path) -> list:
    """The machines of the folder's ``run.json`` (none before runs recorded them), this
    one appended if new."""
    run_file = out / "run.json"
    held = json.loads(run_file.read_text()).get("machines", []) if run_file.exists() else []
    here = json.loads(json.dumps(machine.describe()))
    return held if here in held else [*held, here]


def recorded_options(recorded: dict) -> dict:
    """The run options of a ``run.json``'s contents, an option it lacks at its old value."""
    return {name: recorded.get(name, default) for name, default in RUN_OPTIONS.items()}


def _same_spec(recorded: object, spec: TrialSpec) -> bool:
    if not isinstance(recorded, dict) or not isinstance(recorded.get("spec"), dict):
        return False
    try:  # run.json of any version: compare what the run is, not how it was written
        other = TrialSpec.from_dict({**recorded["spec"], "epochs": spec.epochs})
    except (TypeError, ValueError, KeyError):
        return False
    return other.trial_id == spec.trial_id


def _check_folder(out: Path, spec: TrialSpec, resume: bool, options: dict) -> bool:
    """Raise unless ``out`` may take this run; True if it holds it already (read only)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; --out takes a run folder")
    run_file = out / "run.json"
    if run_file.exists():
        try:
            recorded = json.loads(run_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{run_file} is not a run.json of ours ({exc}); choose another --out") from None
        if not _same_spec(recorded, spec):
            raise ValueError(f"{out} holds a run of another configuration; choose another --out")
        held_options = recorded_options(recorded)
        if held_options != options:
            name = next(k for k in options if options[k] != held_options[k])
            raise ValueError(
                f"{out} holds this run with {name}={held_options[name]}, not {options[name]}; "
                "pass the same option or choose another --out"
            )
        if not resume:
            raise ValueError(
                f"{out} already holds a run; pass --resume to continue it or choose another --out"
            )
        return True
    if out.exists() and any(out.iterdir()):
        raise ValueError(
            f"{out} is not empty and holds no run.json, so it is not a run folder; choose another --out"
        )
    if resume:
        raise ValueError(f"{out} holds no run to resume; drop --resume to start one there")
    return False


def load_checkpoint(out: str | os.PathLike) -> tuple[EqPropNetwork, int]:
    """The network of a run folder's checkpoint and the epoch it finished.

    Raises
    ------
    RunStateError
        The checkpoint is missing or cannot be read (one line naming the file).
    """
    out = Path(out)
    ckpt = out / "checkpoint.npz"
    try:
        with np.load(ckpt, allow_pickle=False) as f:
            # Before 0.2 the epoch was in checkpoint.json beside the network.
            epoch = (
                int(f["epoch"])
                if "epoch" in f
                else int(json.loads((out / "checkpoint.json").read_text())["epoch"])
            )
        return network_file.load(ckpt), epoch
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise RunStateError(
            f"{ckpt} cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())}); "
            "the run cannot continue from it: start it again in another --out"
        ) from None


def weight_changes(
    initial_graph: Graph, initial_weights: np.ndarray, graph: Graph, weights: np.ndarray
) -> pd.DataFrame:
    """Mean absolute change of the weights since their initial values, per pair of layers (Fig. 5).

    Parameters
    ----------
    initial_graph, initial_weights
        The network as initialised: its graph and one weight per edge.
    graph, weights
        The network now; its edges must be edges of ``initial_graph`` (a run that
        dropped its skip edges has a subset of them).

    Returns
    -------
    pandas.DataFrame
        One row per pair of layers holding edges now, :data:`schema.WEIGHT_CHANGE_COLUMNS`
        but ``epoch``: ``layer_a <= layer_b`` (equal for intra-layer edges),
        ``n_edges``, and ``mean_abs_change``, the mean over those edges of
        ``|w - w_initial|``.

    Raises
    ------
    ValueError
        The graphs have different layers, or ``graph`` has an edge ``initial_graph`` lacks.
    """
    if graph.layer_sizes != initial_graph.layer_sizes:
        raise ValueError(
            f"the networks have different layers: {graph.layer_sizes} and {initial_graph.layer_sizes}"
        )
    n = graph.n_neurons
    # Edges are sorted (lo, hi) pairs, so their keys are sorted too.
    key0 = initial_graph.edges[:, 0].astype(np.int64) * n + initial_graph.edges[:, 1]
    key = graph.edges[:, 0].astype(np.int64) * n + graph.edges[:, 1]
    at = np.minimum(np.searchsorted(key0, key), max(len(key0) - 1, 0))
    if len(key) and (len(key0) == 0 or np.any(key0[at] != key)):
        raise ValueError("the network has edges its initial network lacks; is it the same run?")
    change = np.abs(np.asarray(weights, dtype=np.float64) - np.asarray(initial_weights, np.float64)[at])
    pairs = graph.edge_layers[:, 0].astype(np.int64) * graph.n_layers + graph.edge_layers[:, 1]
    ids, where = np.unique(pairs, return_inverse=True)
    counts = np.bincount(where, minlength=len(ids))
    return pd.DataFrame(
        {
            "layer_a": ids // graph.n_layers,
            "layer_b": ids % graph.n_layers,
            "n_edges": counts,
            "mean_abs_change": np.bincount(where, weights=change, minlength=len(ids)) / counts,
        }
    )[schema.WEIGHT_CHANGE_COLUMNS[1:]]


def checkpoint_weight_changes(out: str | os.PathLike) -> pd.DataFrame:
    """:func:`weight_changes` of a run folder's checkpoint against the run's initial
    weights (rebuilt from ``run.json``'s spec and seed), with its ``epoch``: Fig. 5
    for a run written before runs kept ``weight_change.csv``.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`schema.run_spec` for the folder's ``run.json``.
    RunStateError
        The checkpoint is missing or unreadable.
    """
    spec = TrialSpec.from_dict({**schema.run_spec(out), "epochs": 1})  # the epochs change no weight
    initial = new_network(spec, build_graph(spec))
    net, epoch = load_checkpoint(out)
    frame = weight_changes(initial.graph, initial.weights, net.graph, net.weights)
    return frame.assign(epoch=epoch)[schema.WEIGHT_CHANGE_COLUMNS]


def _checkpoint(net: EqPropNetwork, out: Path, epoch: int) -> None:
    replace_atomically(out / "checkpoint.npz", lambda tmp: network_file.save(net, tmp, epoch=epoch))


def _check_network(net: EqPropNetwork, ckpt: Path, spec: TrialSpec, graph: Graph) -> None:
    """Raise unless the checkpoint's network is the one ``run.json`` describes: its
    layers, its edges (``graph``, the run's graph at the checkpoint's epoch) and its
    settings (the trial's :class:`EqPropConfig`)."""
    differs = []
    if net.graph.layer_sizes != graph.layer_sizes:
        sizes = ("-".join(map(str, g.layer_sizes)) for g in (net.graph, graph))
        differs.append("layers {}, not {}".format(*sizes))
    elif not np.array_equal(net.graph.edges, graph.edges):
        extra = {tuple(e) for e in net.graph.edges.tolist()} - {tuple(e) for e in graph.edges.tolist()}
        differs.append(
            f"{len(extra)} of its {net.graph.n_edges} edges are not in the graph its recipe builds"
        )
    found = net.config.to_dict()
    for name, value in new_network(spec, graph).config.to_dict().items():
        if json.dumps(found.get(name), default=str) != json.dumps(value, default=str):  # NaN equals NaN here
            differs.append(f"{name}={found.get(name)!r}, not {value!r}")
    if differs:
        raise RunStateError(
            f"{ckpt} holds another network than {ckpt.parent / 'run.json'} describes ({'; '.join(differs[:3])}); "
            "the run cannot continue from it: start it again in another --out"
        )


def _recorded_epochs(epochs_log: ResultLog) -> set[int]:
    """The epochs ``epochs.csv`` records, every row checked (a damaged one is named)."""
    return {int(e) for e in epochs_log.values("epoch")} if epochs_log.path.is_file() else set()


def _resume_point(
    out: Path,
    spec: TrialSpec,
    remove_skip_after: int | None,
    epochs_log: ResultLog,
    trial_graph: Callable[[], Graph],
) -> tuple[EqPropNetwork | None, int]:
    """The network to continue from (None: a new one) and the last finished epoch of
    a held run folder, everything read checked against ``run.json`` (read only);
    ``trial_graph()`` is the run's graph (built once per run)."""
    recorded = _recorded_epochs(epochs_log)
    ckpt = out / "checkpoint.npz"
    if ckpt.exists():
        net, done = load_checkpoint(out)
        graph = trial_graph()
        if remove_skip_after is not None and done >= remove_skip_after:
            graph = layered.without_kind(graph, "skip")
        _check_network(net, ckpt, spec, graph)
        # Our writers append an epoch's row before its checkpoint: a finished epoch without one was lost.
        missing = sorted(set(range(0 if spec.config.test_particles else 1, done + 1)) - recorded)
        if missing:
            raise RunStateError(
                f"{epochs_log.path} has no row for epoch {', '.join(map(str, missing[:5]))}, which {ckpt} "
                "has finished; the run cannot continue: start it again in another --out"
            )
        return net, done
    # No checkpoint: start again if the rows stop at the first checkpoint's epoch,
    # whose checkpoint a crash can have cut off; later rows mean a checkpoint was lost.
    if recorded - {0 if spec.config.test_particles else 1}:
        raise RunStateError(
            f"{ckpt} is missing but {epochs_log.path} records epochs up to {max(recorded)}; "
            "the run cannot continue: start it again in another --out"
        )
    return None, -1


def _epoch_row(
    net: EqPropNetwork,
    data: Dataset,
    epoch: int,
    stats: BatchStats | None,
    train: float,
    test: float,
    t0: float,
) -> dict:
    """Epoch ``epoch``'s row; ``stats`` its training batches (None: the evaluation before
    training, which has no online error and no training relaxations)."""
    trained = dict.fromkeys(schema.EQUILIBRIUM_COLUMNS, float("nan")) if stats is None else equilibrium(stats)
    return {
        "epoch": epoch,
        "error_measure": schema.ERROR_MEASURES[data.task],
        "online_error": float("nan") if stats is None else weighted_error(stats),
        "train_error": train,
        "test_error": test,
        **trained,
        "seconds": round(time.perf_counter() - t0, 3),
        "n_edges": net.graph.n_edges,
        "n_skip": net.graph.kind_counts()["skip"],
        "version": __version__,
        "git_rev": git_revision(),
    }


def _open_logs(out: Path) -> tuple[ResultLog, ResultLog, ResultLog]:
    """The run folder's logs (not yet opened): ``epochs.csv``, ``rates.csv`` and the
    weight changes (:data:`schema.WEIGHT_CHANGE_FILE`)."""
    epochs_log = ResultLog(
        out / "epochs.csv",
        schema.EPOCHS_COLUMNS,
        fill=schema.OLD_DEFAULTS | schema.UNRECORDED,
        types=schema.EPOCHS_TYPES,
    )
    rates_log = ResultLog(out / "rates.csv", schema.RATES_COLUMNS, types=schema.RATES_TYPES)
    change_log = ResultLog(
        out / schema.WEIGHT_CHANGE_FILE, schema.WEIGHT_CHANGE_COLUMNS, types=schema.WEIGHT_CHANGE_TYPES
    )
    return epochs_log, rates_log, change_log


def _train_epoch(
    net: EqPropNetwork,
    data: Dataset,
    spec: TrialSpec,
    epoch: int,
    start: tuple[Graph, np.ndarray],
    logs: tuple[ResultLog, ResultLog, ResultLog],
    evaluated: bool,
    progress: bool,
) -> None:
    """Train ``net`` for epoch ``epoch`` and append its rows to ``logs`` (:func:`_open_logs`):
    the weight changes are measured from ``start`` (the initial graph and weights), the
    training error only if ``evaluated``."""
    epochs_log, rates_log, change_log = logs
    t0 = time.perf_counter()
    stats, test = run_epoch(net, data, spec, epoch, progress=progress)
    row = _epoch_row(
        net,
        data,
        epoch,
        stats,
        evaluate_train(net, data, spec) if evaluated else float("nan"),
        evaluate_test(net, data) if test is None else test,
        t0,
    )
    rates_log.append(long_rates(spec.run_id, [stats], first_epoch=epoch))
    changes = weight_changes(*start, net.graph, net.weights).assign(epoch=epoch)
    change_log.append(changes[schema.WEIGHT_CHANGE_COLUMNS])
    epochs_log.append([row])


def run_training(
    spec: TrialSpec,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    remove_skip_after: int | None = None,
    train_eval_every: int = 1,
    progress: bool = True,
    graph: Graph | None = None,
) -> pd.DataFrame:
    """Train ``spec`` for ``spec.epochs`` epochs, writing the run folder as it goes.

    Parameters
    ----------
    spec : TrialSpec
        What to train; ``spec.epochs`` is the total number of epochs.
    out_dir : path
        The run folder: empty, absent, or holding this run (with ``resume``).
    resume : bool
        Continue from the last checkpoint; the folder must hold the same run.
    remove_skip_after : int, optional
        Drop the layer-skipping edges after this epoch and keep training (paper
        section 6, future work).
    train_eval_every : int
        Measure the training error from zero (``train_error``, the slowest part of an
        epoch after training) only every this many epochs and after the last one;
        the other rows leave it empty. Training is the same whatever the value.
    progress : bool
        tqdm bars over epochs and batches.
    graph : Graph, optional
        The run's graph, ``build_graph(spec)``, if the caller has built it already
        (the train command, which builds it first to fail fast); else built here,
        once.

    Returns
    -------
    pandas.DataFrame
        ``epochs.csv`` as written (:func:`schema.load_epochs`).

    Raises
    ------
    ValueError
        The folder is not free for this run (one line saying why; nothing written).
    RunStateError
        ``resume`` with finished epochs recorded but no readable checkpoint.
    """
    train_eval_every = check_int("train_eval_every", train_eval_every, low=1)
    # Built when first needed, once (a graph is immutable: the resume check and the run share it).
    trial_graph = functools.cache(lambda: build_graph(spec) if graph is None else graph)
    options = {"remove_skip_after": remove_skip_after, "train_eval_every": train_eval_every}
    out = Path(out_dir)
    held = _check_folder(out, spec, resume, options)
    data = load_data(spec)
    logs = _open_logs(out)
    epochs_log, rates_log, change_log = logs
    if held:  # what the folder holds is checked before anything in it changes
        _resume_point(out, spec, remove_skip_after, epochs_log, trial_graph)
    with epochs_log, rates_log, change_log:
        if (out / "run.json").exists():  # again, under the lock: another run may have started here
            held = _check_folder(out, spec, resume or held, options)
        net, done = (
            _resume_point(out, spec, remove_skip_after, epochs_log, trial_graph) if held else (None, -1)
        )
        record = json.dumps(_run_record(spec, options, _machines(out)), indent=2, sort_keys=True, default=str)
        replace_atomically(out / "run.json", lambda tmp: tmp.write_text(record))
        # The initial weights follow from the seed: rebuilt, not stored.
        initial = new_network(spec, trial_graph())
        start = (initial.graph, initial.weights.copy())
        if net is None:
            net = initial
        del initial  # resumed, only its weights are needed: free its particles
        # Rows written after the last checkpoint belong to an epoch that will be redone.
        epochs_log.keep_only("epoch", {str(e) for e in range(0, done + 1)})
        rates_log.keep_only("epoch", {str(e) for e in range(1, done + 1)})
        change_log.keep_only("epoch", {str(e) for e in range(1, done + 1)})
        if spec.config.test_particles and done < 0:
            # The authors' code evaluates before training: it starts the test particles.
            t0 = time.perf_counter()
            epochs_log.append([_epoch_row(net, data, 0, None, float("nan"), evaluate_test(net, data), t0)])
            _checkpoint(net, out, 0)
        first = max(done, 0) + 1
        bar = tqdm(
            range(first, spec.epochs + 1),
            desc="epochs",
            disable=not progress,
            initial=first - 1,
            total=spec.epochs,
        )
        for epoch in bar:
            evaluated = epoch % train_eval_every == 0 or epoch == spec.epochs
            _train_epoch(net, data, spec, epoch, start, logs, evaluated, progress)
            if remove_skip_after is not None and epoch == remove_skip_after:
                net = net.without_kind("skip")
            _checkpoint(net, out, epoch)
    return schema.load_epochs([out]).drop(columns="run")
