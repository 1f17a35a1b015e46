"""Long training runs of one configuration: per-epoch CSVs, checkpoints, resume.

A run lives in one folder: ``run.json`` (what it trains), ``epochs.csv`` (one row
per epoch), ``rates.csv`` (per-batch correction RMS per layer pair, long format) and
``checkpoint.npz`` with ``checkpoint.json`` (the last finished epoch). Resuming
continues from the checkpoint and gives the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd

from . import datasets
from .eqprop import EqPropNetwork
from .experiment import (
    TrialSpec,
    build_graph,
    long_rates,
    new_network,
    shuffle_seed,
    test_error,
    weighted_error,
)
from .results import EPOCHS_COLUMNS, RATES_COLUMNS
from .runner import ResultLog


def _atomic_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def run_training(
    spec: TrialSpec,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    remove_skip_after: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``spec`` for ``spec.epochs`` epochs, writing the run folder as it goes.

    Parameters
    ----------
    spec : TrialSpec
        What to train; ``spec.epochs`` is the total number of epochs.
    out_dir : path
        The run folder. A folder that already holds a run needs ``resume=True``.
    resume : bool
        Continue from the last checkpoint; the folder must hold the same run.
    remove_skip_after : int, optional
        Drop the layer-skipping edges after this epoch and keep training (paper
        section 6, future work).
    progress : bool
        tqdm bars over epochs and batches.

    Returns
    -------
    pandas.DataFrame
        ``epochs.csv`` as written.
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    run = {"spec": spec.to_dict(), "remove_skip_after": remove_skip_after}
    run["spec"].pop("epochs")
    run["spec"].pop("data_dir")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; --out takes a run folder")
    run_file, ckpt, ckpt_meta = out / "run.json", out / "checkpoint.npz", out / "checkpoint.json"
    if run_file.exists():
        if not resume:
            raise ValueError(
                f"{out} already holds a run; pass --resume to continue it or choose another --out"
            )
        if json.loads(run_file.read_text()) != json.loads(json.dumps(run, sort_keys=True, default=str)):
            raise ValueError(f"{out} holds a run of another configuration; choose another --out")
    elif resume and out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} has no run.json: it is not a run folder")
    out.mkdir(parents=True, exist_ok=True)
    _atomic_json(run_file, run)

    data = datasets.load(spec.dataset, data_dir=spec.data_dir, n_train=spec.n_train, n_test=spec.n_test)
    epochs_log = ResultLog(out / "epochs.csv", EPOCHS_COLUMNS)
    rates_log = ResultLog(out / "rates.csv", RATES_COLUMNS)
    done = 0
    have_ckpt = resume and ckpt.exists() and ckpt_meta.exists()
    if have_ckpt:
        done = int(json.loads(ckpt_meta.read_text())["epoch"])
        net = EqPropNetwork.load(ckpt)
    else:
        net = new_network(spec, build_graph(spec))
    # Rows written after the last checkpoint belong to an epoch that will be redone.
    epochs_log.keep_only("epoch", {str(e) for e in range(0 if have_ckpt else 1, done + 1)})
    rates_log.keep_only("epoch", {str(e) for e in range(1, done + 1)})

    n_eval = data.n_train if spec.train_eval_n is None else min(spec.train_eval_n, data.n_train)
    if spec.config.test_particles and not have_ckpt:
        # The authors' code evaluates before training: it starts the test particles.
        t0 = time.perf_counter()
        error0 = test_error(net, data)
        epochs_log.append([_epoch_row(net, 0, float("nan"), float("nan"), error0, t0)])
        _checkpoint(net, out, 0)
    for epoch in tqdm(
        range(done + 1, spec.epochs + 1), desc="epochs", disable=not progress, initial=done, total=spec.epochs
    ):
        t0 = time.perf_counter()
        rec = net.train_epoch(data, progress=progress, shuffle_seed=shuffle_seed(spec, epoch))
        train_error = net.evaluate(data.x_train[:n_eval], data.y_train[:n_eval])
        row = _epoch_row(net, epoch, weighted_error(rec), train_error, test_error(net, data), t0)
        rates_log.append(long_rates(out.name, [rec], first_epoch=epoch))
        epochs_log.append([row])
        if remove_skip_after is not None and epoch == remove_skip_after:
            net = net.without_kind("skip")
        _checkpoint(net, out, epoch)
    return epochs_log.read()


def _epoch_row(net: EqPropNetwork, epoch: int, online: float, train: float, test: float, t0: float) -> dict:
    return {
        "epoch": epoch,
        "online_error": online,
        "train_error": train,
        "test_error": test,
        "seconds": round(time.perf_counter() - t0, 3),
        "n_edges": net.graph.n_edges,
        "n_skip": net.graph.kind_counts()["skip"],
    }


def _checkpoint(net: EqPropNetwork, out: Path, epoch: int) -> None:
    tmp = out / "checkpoint.tmp.npz"
    net.save(tmp)
    os.replace(tmp, out / "checkpoint.npz")
    _atomic_json(out / "checkpoint.json", {"epoch": epoch})
