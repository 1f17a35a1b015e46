"""How much of the input survives each layer of a trained network's free phase.

A deep layered network can fail to learn without any bug: when a hidden layer's
states sit clipped at 0 or 1 whatever the input, the layers above it see a
constant, the output cannot depend on the input, and the clamped phase has no
way to move such neurons (their nudged net input stays outside [0, 1]). This
module measures that per layer on a run folder of ``smallworld_eqp.train``:
for the free-phase equilibria (from zero states, the model's own step budget)
of the first ``n`` training examples,

* ``frac_zero``, ``frac_one``: fraction of (example, neuron) states clipped at 0 / 1;
* ``input_std``: the standard deviation over examples, averaged over the layer's
  neurons: 0 when the layer no longer depends on the input;
* ``frac_constant``: fraction of the layer's neurons whose state is the same for
  every example.

Usage::

    python -m analysis.saturation analysis/results/runs/authors-mlff [--n 1000]

reads the run's last checkpoint and ``run.json`` (for the data set) and writes
``saturation.csv`` into the run folder (columns :data:`COLUMNS`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import markdown_table
from smallworld_eqp import datasets
from smallworld_eqp.cli import OneLineParser, positive_int, run_main
from smallworld_eqp.numba_settings import deferred
from smallworld_eqp.owned import check_name, check_output
from smallworld_eqp.study import schema
from smallworld_eqp.study.resultlog import read_header, replace_atomically

# Loads numba: imported to read the checkpoint, after cli.run_main has checked the environment.
training_runs = deferred("smallworld_eqp.study.training_runs")

COLUMNS = [
    "epoch",
    "layer",
    "neurons",
    "mean_state",
    "frac_zero",
    "frac_one",
    "input_std",
    "frac_constant",
    "n",
]


def layer_saturation(states: np.ndarray, offsets: Sequence[int]) -> pd.DataFrame:
    """Per non-input layer: the statistics of the module docstring.

    Parameters
    ----------
    states : (examples, neurons) array
        Free-phase states (:meth:`EqPropNetwork.free_phase`).
    offsets : sequence of int
        First neuron of each layer and the neuron count (``Graph.offsets``).

    Returns
    -------
    pandas.DataFrame
        Columns ``layer`` (1 = first hidden) to ``frac_constant`` of :data:`COLUMNS`.

    Examples
    --------
    >>> s = np.array([[0.2, 0.0, 1.0], [0.7, 0.0, 1.0]])
    >>> layer_saturation(s, [0, 1, 3])[["layer", "frac_zero", "frac_one", "frac_constant"]]
       layer  frac_zero  frac_one  frac_constant
    0      1        0.5       0.5            1.0
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[0] < 2:
        raise ValueError(f"states must be (examples >= 2, neurons), got shape {states.shape}")
    rows = []
    for layer in range(1, len(offsets) - 1):
        block = states[:, offsets[layer] : offsets[layer + 1]]
        spread = block.std(axis=0)
        rows.append(
            {
                "layer": layer,
                "neurons": block.shape[1],
                "mean_state": block.mean(),
                "frac_zero": np.mean(block == 0.0),
                "frac_one": np.mean(block == 1.0),
                "input_std": spread.mean(),
                "frac_constant": np.mean(np.ptp(block, axis=0) == 0.0),
            }
        )
    return pd.DataFrame(rows)


def run_saturation(run_dir: Path, n: int = 1000, data_dir: str | None = None) -> pd.DataFrame:
    """:func:`layer_saturation` of a run folder's last checkpoint on its first ``n``
    training examples; writes and returns ``saturation.csv``."""
    run_dir = Path(run_dir)
    for f in (run_dir / "run.json", run_dir / "checkpoint.npz"):
        if not f.is_file():
            raise FileNotFoundError(f"{run_dir}: not a run folder with a checkpoint (missing {f.name})")
    out = check_output(
        run_dir / "saturation.csv",
        kind="a CSV",
        suffixes=(".csv",),
        foreign=lambda p: (
            None if read_header(p) == COLUMNS else "exists and is not a saturation table of this package"
        ),
        flag="RUN_DIR",
    )
    data = datasets.load(schema.run_spec(run_dir)["dataset"], data_dir=data_dir, n_train=n, n_test=1)
    net, epoch = training_runs.load_checkpoint(run_dir)
    table = layer_saturation(net.free_phase(data.x_train), net.graph.offsets)
    table.insert(0, "epoch", epoch)
    table["n"] = data.n_train
    table = table[COLUMNS]
    replace_atomically(out, lambda tmp: table.to_csv(tmp, index=False))
    return table


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m analysis.saturation",
        description="Per-layer saturation and input dependence of a trained run's free-phase states.",
    )
    parser.add_argument("run", help="run folder of smallworld_eqp.train (holds checkpoint.npz)")
    parser.add_argument(
        "--n", type=positive_int, default=1000, help="first N training examples (default 1000)"
    )
    parser.add_argument(
        "--data-dir", help="folder holding mnist/ (default: $SMALLWORLD_EQP_DATA, else ./data)"
    )
    return parser


def _saturation(args: argparse.Namespace) -> None:
    print(markdown_table(run_saturation(check_name(args.run, "RUN_DIR"), args.n, args.data_dir)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (bad input exits 2 with one line on stderr)."""
    # RuntimeError: a checkpoint that cannot be read (runs.RunStateError).
    return run_main(build_parser, _saturation, argv, bad_input=(ValueError, TypeError, OSError, RuntimeError))


if __name__ == "__main__":
    sys.exit(main())
