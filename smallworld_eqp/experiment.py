"""One trial of the replacement-count study: build a graph, measure it, train, record.

A trial is described by a :class:`TrialSpec`, a frozen, JSON-able value. Its result
depends only on the spec (the trial seed seeds the rewiring, the initial weights and
the shuffling, through independent streams), never on which process runs it or on
how many threads that process has, so a sweep gives the same rows whether it runs
serially, in worker processes or on a Dask cluster.

Examples
--------
>>> from smallworld_eqp.experiment import TrialSpec, run_trial
>>> from smallworld_eqp.eqprop import EqPropConfig
>>> spec = TrialSpec(layers=(64, 16, 16, 10), n=20, seed=0, dataset="digits",
...                  config=EqPropConfig(n_free=20, n_clamped=4))
>>> row, rates = run_trial(spec)                                    # doctest: +SKIP
>>> row["status"], row["online_error_epoch1"]                       # doctest: +SKIP
('ok', 0.41)
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, datasets, metrics, results, spread, topology
from .eqprop import DivergenceError, EqPropConfig, EqPropNetwork

#: Settings added after version 0.1, with their defaults (see ``TrialSpec.config_hash``).
LATER_DEFAULTS = {
    "spec": {"reuse_removed": False},
    "config": {
        "nudge": "gradient",
        "bias_learning_rate": None,
        "batch_order": "reshuffle",
        "test_particles": False,
    },
}


@dataclass(frozen=True)
class TrialSpec:
    """Everything that defines one trial.

    Parameters
    ----------
    layers : tuple of int
        Layer sizes, input first.
    intra : bool
        Connect every pair of neurons inside each hidden layer first (paper 4.3).
    n, p : int or float, optional
        Replacement count or per-edge probability for :func:`topology.rewire`; at
        most one. Neither (or ``n=0``) leaves the graph as built.
    mode : {"replace", "add"}
    reuse_removed : bool
        Removed edges become candidates for later replacements (the authors' code;
        see :func:`topology.rewire`).
    seed : int
        Seeds the rewiring, the initial weights and the shuffling.
    dataset, n_train, n_test, data_dir
        Passed to :func:`datasets.load`; ``data_dir`` does not enter the trial id.
    epochs : int
    config : EqPropConfig
        Its ``seed`` is replaced by one derived from ``seed``.
    preset : str
        A label recorded in the row.
    rate_every : int
        ``n`` of eq. 22: the per-pair totals sum every ``rate_every``-th batch.
    train_eval_n : int or None
        Training error after the epochs is measured on the first ``train_eval_n``
        training examples (None: all).
    """

    layers: tuple[int, ...]
    intra: bool = False
    n: int | None = None
    p: float | None = None
    mode: str = "replace"
    reuse_removed: bool = False
    seed: int = 0
    dataset: str = "digits"
    n_train: int | None = None
    n_test: int | None = None
    epochs: int = 1
    config: EqPropConfig = field(default_factory=EqPropConfig)
    preset: str = ""
    rate_every: int = 1
    train_eval_n: int | None = 10_000
    data_dir: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(s) for s in self.layers))
        if self.n is not None and self.p is not None:
            raise ValueError(f"give at most one of n and p, got n={self.n} and p={self.p}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        lr = self.config.learning_rate
        if isinstance(lr, tuple) and len(lr) != len(self.layers) - 1:
            raise ValueError(
                f"learning_rate has {len(lr)} rates but the {'-'.join(map(str, self.layers))} network "
                f"has {len(self.layers) - 1} layer pairs"
            )
        if self.rate_every < 1:
            raise ValueError(f"rate_every must be >= 1, got {self.rate_every}")

    @property
    def requested(self) -> str:
        """How the rewiring was asked for: ``"p"`` or ``"n"``."""
        return "p" if self.p is not None else "n"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["layers"] = list(self.layers)
        d["config"] = self.config.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrialSpec:
        d = dict(d)
        d["config"] = EqPropConfig.from_dict(d["config"])
        d["layers"] = tuple(d["layers"])
        return cls(**d)

    @property
    def config_hash(self) -> str:
        """Hash of everything that defines the trial except the seed and data folder.

        A setting added after version 0.1 enters the hash only when it differs from
        its default (:data:`LATER_DEFAULTS`), so trials recorded before it existed
        keep their ids and a resumed sweep still finds them.
        """
        d = self.to_dict()
        for key in ("seed", "data_dir"):
            d.pop(key)
        d["config"].pop("seed", None)
        for where, defaults in ((d, LATER_DEFAULTS["spec"]), (d["config"], LATER_DEFAULTS["config"])):
            for key, default in defaults.items():
                if where[key] == default:
                    del where[key]
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha1(blob).hexdigest()[:12]

    @property
    def trial_id(self) -> str:
        return f"{self.config_hash}-s{self.seed}"


def derived_seed(seed: int, stream: int) -> int:
    """An independent 32-bit seed for one purpose (stream) of a trial seed."""
    return int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1)[0])


_GRAPH, _INIT, _SHUFFLE = 0, 1, 2


def shuffle_seed(spec: TrialSpec, epoch: int) -> int:
    """Seed of the example order of ``epoch`` (1-based) of a trial; with
    ``batch_order="fixed"`` the order of the fixed batches, the same every epoch."""
    if spec.config.batch_order == "fixed":
        return derived_seed(spec.seed, _SHUFFLE)
    return derived_seed(spec.seed, _SHUFFLE + epoch - 1)


def test_error(net: EqPropNetwork, data: datasets.Dataset) -> float:
    """The test error, from the test particles when the configuration asks for them."""
    return net.evaluate(data.x_test, data.y_test, particles=net.config.test_particles)


def new_network(spec: TrialSpec, graph: topology.Graph) -> EqPropNetwork:
    """The trial's network on ``graph``, initialised from the trial seed."""
    return EqPropNetwork(graph, dataclasses.replace(spec.config, seed=derived_seed(spec.seed, _INIT)))


def build_graph(spec: TrialSpec) -> topology.Graph:
    """The trial's graph: layered, optionally intra-connected, then rewired."""
    g = topology.layered(spec.layers)
    if spec.intra:
        g = topology.connect_within_layers(g)
    if spec.n or spec.p:
        g = topology.rewire(
            g,
            n=spec.n,
            p=spec.p,
            mode=spec.mode,
            reuse_removed=spec.reuse_removed,
            seed=derived_seed(spec.seed, _GRAPH),
        )
    return g


@lru_cache(maxsize=1)
def git_revision() -> str:
    """The short git revision of the package's checkout, or "" outside one."""
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


def _config_columns(config: EqPropConfig) -> dict:
    d = config.to_dict()
    d.pop("seed", None)
    lr = d["learning_rate"]
    d["learning_rate"] = ",".join(map(str, lr)) if isinstance(lr, (list, tuple)) else lr
    return d


def weighted_error(record: dict) -> float:
    """Error rate over an epoch from its per-batch error rates and batch sizes."""
    return float(np.sum(record["error"] * record["size"]) / np.sum(record["size"]))


def run_trial(spec: TrialSpec, *, progress: bool = False) -> tuple[dict, pd.DataFrame]:
    """Run one trial and return its CSV row and its long-format per-batch rates.

    Never raises for a failing or diverging trial: the row's ``status`` is
    ``"failed"`` or ``"diverged"`` and ``error_message`` says why, so a sweep keeps
    going. Columns are those of :func:`smallworld_eqp.results.sweep_columns`.
    """
    started, t0 = _now(), time.perf_counter()
    row: dict = {
        "trial_id": spec.trial_id,
        "status": "ok",
        "error_message": "",
        "config_hash": spec.config_hash,
        "seed": spec.seed,
        "preset": spec.preset,
        "dataset": spec.dataset,
        "n_train": spec.n_train,
        "n_test": spec.n_test,
        "epochs": spec.epochs,
        "layers": "-".join(map(str, spec.layers)),
        "intra": spec.intra,
        "mode": spec.mode,
        "reuse_removed": spec.reuse_removed,
        "requested": spec.requested,
        **_config_columns(spec.config),
        "version": __version__,
        "git_rev": git_revision(),
    }
    rates = pd.DataFrame(columns=["trial_id", "epoch", "batch", "pair", "rms"])
    try:
        graph = build_graph(spec)
        rewired = [h for h in graph.history if h["op"] == "rewire"]
        row["n_replaced"] = rewired[-1]["n"] if rewired else 0
        row["p"] = rewired[-1]["p"] if rewired else 0.0
        row.update(metrics.small_world_summary(graph))
        data = datasets.load(spec.dataset, data_dir=spec.data_dir, n_train=spec.n_train, n_test=spec.n_test)
        if data.n_features != spec.layers[0] or data.n_classes != spec.layers[-1]:
            raise ValueError(
                f"layers {row['layers']} do not fit {spec.dataset}: it needs "
                f"{data.n_features} inputs and {data.n_classes} outputs"
            )
        net = new_network(spec, graph)
        if spec.config.test_particles:
            test_error(net, data)  # the authors' code evaluates first: it starts the test particles
        records = [
            net.train_epoch(data, progress=progress, shuffle_seed=shuffle_seed(spec, epoch))
            for epoch in range(1, spec.epochs + 1)
        ]
        row["online_error_epoch1"] = weighted_error(records[0])
        all_rms = np.concatenate([r["rms"] for r in records])
        row.update(spread.summarise(all_rms, spec.rate_every))
        row["free_steps"] = float(np.mean(np.concatenate([r["free_steps"] for r in records])))
        n_eval = data.n_train if spec.train_eval_n is None else min(spec.train_eval_n, data.n_train)
        row["train_error"] = net.evaluate(data.x_train[:n_eval], data.y_train[:n_eval])
        row["test_error"] = test_error(net, data)
        rates = long_rates(spec.trial_id, records)
    except DivergenceError as exc:
        row["status"], row["error_message"] = "diverged", _one_line(exc)
    except Exception as exc:  # a failing trial is recorded, never fatal to the sweep
        row["status"] = "failed"
        row["error_message"] = _one_line(exc) or traceback.format_exc(limit=1).strip().splitlines()[-1]
    row["seconds"] = round(time.perf_counter() - t0, 3)
    row["started"], row["finished"] = started, _now()
    return row, rates


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def long_rates(trial_id: str, records: list[dict], first_epoch: int = 1) -> pd.DataFrame:
    """Per-batch RMS of every layer pair in long format (:data:`results.RATES_COLUMNS`),
    then of the ``intra`` and ``skip`` edges where the graph has them."""
    frames = []
    for epoch, rec in enumerate(records, start=first_epoch):
        rms = np.asarray(rec["rms"], dtype=float)
        n_batches, n_pairs = rms.shape
        names = [str(p) for p in range(n_pairs)]
        for kind in results.KIND_PAIRS:
            extra = np.asarray(rec[f"rms_{kind}"], dtype=float)
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
