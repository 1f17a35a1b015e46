"""Helpers shared by several test modules (test-only; no tests here).

Test modules import these from here, never from one another, so each test module
can be read, run and changed on its own.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine import spread
from smallworld_eqp.graph import rewiring
from smallworld_eqp.graph.layered import ADJACENT, INTRA, SKIP, Graph
from smallworld_eqp.study import schema
from smallworld_eqp.study.spec import TrialSpec
from smallworld_eqp.study.training_runs import run_training

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A chi-square p-value below this fails a distribution test.
ALPHA = 1e-3
# States: float64 exactly up to rounding, float32 within its precision (issue 11).
STATE_TOL = {"float64": 1e-10, "float32": 1e-5}

# ------------------------------------------------------- the tiny trial

# A trial small enough to train for a few epochs in seconds (digits, 40 edges replaced).
TINY_SPEC = TrialSpec(
    layers=(64, 12, 12, 10),
    n=40,
    seed=4,
    dataset="digits",
    n_train=100,
    n_test=50,
    epochs=3,
    config=EqPropConfig(
        n_free=10, n_clamped=3, learning_rate=0.05, persistent_particles=True, random_beta_sign=True
    ),  # fmt: skip
)


# The same trial with the authors' update rules (tests/test_fidelity.py checks them step by step).
AUTHORS_SPEC = dataclasses.replace(
    TINY_SPEC,
    reuse_removed=True,
    config=dataclasses.replace(
        TINY_SPEC.config, nudge="after-step", nudge_factor=2.0, batch_order="fixed", test_particles=True
    ),
)


def train_tiny(folder: Path, **changes) -> pd.DataFrame:
    """Train ``TINY_SPEC`` with ``changes`` into ``folder``; returns the epochs table."""
    return run_training(dataclasses.replace(TINY_SPEC, **changes), folder, progress=False)


# ------------------------------------------------------- synthetic results


def sweep_frame(
    n_values=(0, 10, 100, 1000),
    seeds=(0, 1, 2),
    layers="6-5-5-5-3",
    *,
    floor=0.1,
    err0=0.8,
    n0=100.0,
    noise=0.01,
    seed=0,
    status="ok",
):
    """Sweep rows whose one-epoch error decays as floor + (err0 - floor) exp(-n / n0)."""
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in layers.split("-")]
    n_layers = len(sizes)
    n_adjacent = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    n_intra = sum(s * (s - 1) // 2 for s in sizes[1:-1])
    n_edges = n_adjacent + n_intra
    rows = []
    for n in n_values:
        for s in seeds:
            decay = math.exp(-n / n0)
            err = floor + (err0 - floor) * decay + noise * rng.standard_normal()
            hops = [(n_layers - 1 - lay) * (0.5 + 0.5 * decay) for lay in range(n_layers)]
            rates = np.exp(-np.arange(n_layers - 1)[::-1] * (0.2 + 2 * decay)) * (1 + 0.05 * rng.random())
            row = {
                "trial_id": f"{layers}-n{n}-s{s}",
                "status": status,
                "error_message": "",
                "config_hash": "000123",  # all digits: must stay a string
                "seed": s,
                "preset": "test",
                "dataset": "digits",
                "n_train": 100,
                "n_test": 50,
                "epochs": 1,
                "layers": layers,
                "intra": True,
                "mode": "replace",
                "requested": "n",
                "n_replaced": n,
                "p": rewiring.replacements_to_p(n, n_edges),
                "error_measure": "misclassification",
                "n_neurons": sum(sizes),
                "n_edges": n_edges,
                "n_adjacent": n_adjacent - n,
                "n_intra": n_intra,
                "n_skip": n,
                "path_length": 2.0 + 0.5 * decay + 0.01 * rng.standard_normal(),
                "clustering": 0.3 + 0.2 * decay + 0.01 * rng.standard_normal(),
                **{f"hops_to_output_{lay}": h for lay, h in enumerate(hops)},
                "online_error_epoch1": err,
                "train_error": max(err - 0.05, 0.0),
                "test_error": err + 0.02,
                **spread.summarise(rates[None, :], 1),
                "free_steps": 20.0,
                "seconds": 1.5,
                "eps": 0.5,
                "beta": 1.0,
                "n_free": 20,
                "n_clamped": 4,
                "batch_size": 20,
                "learning_rate": "0.128,0.032",
                "skip_init": 0.05,
                "random_beta_sign": False,
                "persistent_particles": False,
                "nudge_factor": 1.0,
                "solver": "euler",
                "tol": 0.0,
                "dtype": "float64",
                "version": "0.1.0",
                "git_rev": "1234567",
                "started": "2024-01-01T00:00:00+00:00",
                "finished": "2024-01-01T00:00:02+00:00",
            }
            rows.append(row)
    return pd.DataFrame(rows, columns=schema.sweep_columns(n_layers))


def epochs_frame(n_epochs=5, *, start=0.6, rate=0.5):
    """Per-epoch errors falling geometrically."""
    e = np.arange(1, n_epochs + 1)
    err = start * rate ** (e - 1)
    return pd.DataFrame(
        {
            "epoch": e,
            "error_measure": "misclassification",
            "online_error": err * 1.1,
            "train_error": err,
            "test_error": err + 0.05,
            "seconds": 2.0,
            "n_edges": 100,
            "n_skip": 10,
        },
        columns=schema.EPOCHS_COLUMNS,
    )


def rates_frame(trial_id="run", n_epochs=2, n_batches=30, n_pairs=4, *, seed=0):
    """Long-format rates: deeper pairs train more slowly, with noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for epoch in range(1, n_epochs + 1):
        for batch in range(1, n_batches + 1):
            for pair in range(n_pairs):
                rms = 10.0 ** (-6 + pair) * (1 + 0.5 * rng.random()) / epoch
                rows.append((trial_id, epoch, batch, pair, rms))
    return pd.DataFrame(rows, columns=schema.RATES_COLUMNS)


# ------------------------------------------------------- graphs and kernels


def edge_set(g: Graph) -> set[tuple[int, int]]:
    """The graph's edges as a set of (i, j) pairs."""
    return set(map(tuple, g.edges.tolist()))


def check_well_formed(g: Graph) -> None:
    """Edges i < j, sorted, distinct; kinds agree with layers; none inside input/output."""
    e = g.edges.astype(np.int64)
    assert np.all(e[:, 0] < e[:, 1])
    key = e[:, 0] * g.n_neurons + e[:, 1]
    assert np.all(np.diff(key) > 0)
    la, lb = g.layer_of[e[:, 0]], g.layer_of[e[:, 1]]
    gap = lb - la
    assert np.array_equal(g.kinds, np.where(gap == 0, INTRA, np.where(gap == 1, ADJACENT, SKIP)))
    inside_io = (gap == 0) & ((la == 0) | (la == g.n_layers - 1))
    assert not inside_io.any()


def assert_update(new, old, delta, rate):
    """``new == old + delta`` within 1e-4 of the largest correction, plus what the
    dtype allows: the rounding of ``new`` itself (a float32 weight cannot hold a
    correction below its spacing) and the states' own tolerance carried through eq. 7-8
    (a correction is ``rate`` times a difference of products of states in [0, 1])."""
    want = old.astype(float) + delta
    spacing = np.spacing(np.abs(want).astype(new.dtype)).astype(float)
    tol = 1e-4 * np.abs(delta).max() + spacing + 4 * rate * STATE_TOL[new.dtype.name]
    assert np.all(np.abs(new.astype(float) - want) <= tol)


# ------------------------------------------------------- figures and command lines


def assert_png(path):
    """A PNG file whose pixels are not all the same colour."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].var() > 1e-3


def run_module(module, *args):
    """``python -m module args`` from the repository root (so a stray ``analysis``
    folder in the caller's working directory cannot shadow the package)."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def assert_one_line_exit_2(call, capsys):
    """``call()`` exits with status 2 and one error line on stderr, no traceback; returns that line."""
    with pytest.raises(SystemExit) as info:
        call()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    return err
