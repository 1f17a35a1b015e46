"""Named configurations for the sweep and train CLIs, each with its source.

A preset is a mapping of settings (:data:`smallworld_eqp.study.spec.SETTING_NAMES`: the
trial's and the EqProp configuration's, one namespace), the shape
:func:`smallworld_eqp.study.grid.expand` takes; flags given on the command line override
it. In a sweep preset ``n`` (or ``p``) and ``seed`` hold the values swept.

Sources
-------
- ``paper*``: Gammell & McCaughan (2020), sections 4.1-4.3 and Table 1
  (784-500-500-500-10, eps 0.5, beta 1, 500/8 steps, batch 20, 50,000 / 10,000
  MNIST examples; lr 0.02, or .128/.032/.008/.002 input->output; small-world: hidden
  layers intra-connected and ~8% of edges replaced).
- ``authors-code*``: the authors' released code (github.com/jgammell/
  equilibrium_propagation, ``trials/run_trials.py`` and ``run_trials_sweep.py``): no
  intra-layer edges, each edge rewired with probability p with the removed edges
  reused as candidates, skip weights U[-a, a] with the code's literal ``bypass mag``
  (the mean Glorot bound rounded), the after-step clamped nudge with factor 2, a
  random beta sign, persistent particles, fixed batches of 20 in a once-shuffled
  order, test evaluation from persistent test particles, all 60,000 training
  examples. 784-100x5-10 (their sweep and ``mnist_5layer_*``): lr 0.015, 1000/12
  steps; 784-500x3-10 (``mnist_3layer_*``): lr 0.02 or .128/.032/.008/.002 with the
  biases at rate 1 (the code's slicing bug), 500/8 steps. Epoch counts as the code's.
- ``authors-diabetes-*``, ``authors-wine-*``: the authors' small experiments
  (``run_trials.py``: ``diabetes_5layer_*`` ... ``wine_8layer_*``), offline on
  scikit-learn's data sets: 5 or 8 hidden layers of 10, without skip edges (p = 0)
  and with p = 0.1, lr 0.01, batch 5, 1000/12 steps (5 hidden layers) or 5000/18
  (8), the code's ``bypass mag``, 10 epochs, seeds 0-4; the rest as ``authors-code``.
- ``graph-designs``: ours; the ``authors-code`` network and settings for one epoch,
  with the paper's count-based rewiring (no reuse of removed edges, which only the
  ``uniform`` design allows) at 300-10,000 edges and seeds 0-2, for the designs of
  :data:`smallworld_eqp.graph.designs.DESIGNS` given with ``--vary design=...``.
- ``quick``: ours; a deep narrow network on scikit-learn's 8x8 digits that runs
  offline in a few minutes on 2 cores and already shows the effect.
"""

from __future__ import annotations

import numpy as np

from smallworld_eqp.graph.sizing import edge_count

PAPER_LAYERS = (784, 500, 500, 500, 10)
AUTHORS_LAYERS = (784, 100, 100, 100, 100, 100, 10)

_PAPER_EDGES = edge_count(PAPER_LAYERS, intra=True)
# Paper section 4.3: "around 8% of a network's connections" replaced.
PAPER_SW_REPLACEMENTS = round(0.08 * _PAPER_EDGES)

_PAPER_CONFIG = {"eps": 0.5, "beta": 1.0, "n_free": 500, "n_clamped": 8, "batch_size": 20}
_PAPER_NET = {"layers": PAPER_LAYERS, "learning_rate": 0.02, **_PAPER_CONFIG}
_PAPER_DATA = {"dataset": "mnist", "n_train": 50_000, "n_test": 10_000}
# What every run of the authors' code shares (eqp.py: step_weakly_clamped, train_batch;
# datasets.py: the batch list; run_trials.py: calculate_test_error every epoch).
_AUTHORS_DYNAMICS = {
    "eps": 0.5,
    "beta": 1.0,
    "batch_size": 20,
    "nudge": "after-step",
    "nudge_factor": 2.0,
    "random_beta_sign": True,
    "persistent_particles": True,
    "batch_order": "fixed",
    "test_particles": True,
}
# 784-100x5-10 (mnist_5layer_mlff / _swni and the sweep): bypass mag .168.
_AUTHORS_CONFIG = {
    **_AUTHORS_DYNAMICS,
    "n_free": 1000,
    "n_clamped": 12,
    "learning_rate": 0.015,
    "skip_init": 0.168,
}
# 784-500x3-10 (mnist_3layer_mlff / _mlffpl / _swni): bypass mag .0829.
_AUTHORS_500X3_CONFIG = {
    **_AUTHORS_DYNAMICS,
    "n_free": 500,
    "n_clamped": 8,
    "learning_rate": 0.02,
    "skip_init": 0.0829,
}
_AUTHORS_DATA = {"dataset": "mnist", "n_train": 60_000, "n_test": 10_000}
_AUTHORS_GRAPH = {"intra": False, "reuse_removed": True}


def _authors_small(dataset: str, n_in: int, n_out: int, hidden: int, skip_init: float) -> dict:
    """One family of the authors' small experiments: no skip edges and p = 0.1, 5 seeds."""
    steps = {5: (1000, 12), 8: (5000, 18)}[hidden]
    return {
        **_AUTHORS_GRAPH,
        **_AUTHORS_DYNAMICS,
        "dataset": dataset,
        "layers": (n_in, *[10] * hidden, n_out),
        "p": (0.0, 0.1),
        "seed": (0, 1, 2, 3, 4),
        "epochs": 10,
        "batch_size": 5,
        "learning_rate": 0.01,
        "n_free": steps[0],
        "n_clamped": steps[1],
        "skip_init": skip_init,
    }


SWEEP_PRESETS: dict[str, dict] = {
    "quick": {
        "dataset": "digits",
        "layers": (64, 32, 32, 32, 32, 10),
        "intra": False,
        "n": (0, 30, 100, 300, 1_000, 2_000, 3_000, 5_000),
        "seed": (0, 1, 2),
        "epochs": 2,
        "eps": 0.5,
        "beta": 1.0,
        "n_free": 60,
        "n_clamped": 8,
        "batch_size": 20,
        "learning_rate": 0.1,
    },
    "paper": {
        **_PAPER_DATA,
        **_PAPER_NET,
        "intra": True,
        "n": (0, 1_000, 3_000, 10_000, 30_000, PAPER_SW_REPLACEMENTS),
        "seed": (0,),
        "epochs": 1,
    },
    "authors-code": {
        **_AUTHORS_DATA,
        **_AUTHORS_GRAPH,
        **_AUTHORS_CONFIG,
        "layers": AUTHORS_LAYERS,
        "p": (0.0, *np.logspace(-4, 0, 30).tolist()),
        "seed": (0,),
        "epochs": 1,
    },
    # Crossed with --vary design=... (and mode=replace,add): docs/REPRODUCTION.md, "Graph designs".
    "graph-designs": {
        **_AUTHORS_DATA,
        **_AUTHORS_CONFIG,
        "intra": False,
        "reuse_removed": False,
        "layers": AUTHORS_LAYERS,
        "n": (300, 1_000, 3_000, 10_000),
        "seed": (0, 1, 2),
        "epochs": 1,
    },
    # run_trials.py: diabetes_5layer_*, diabetes_8layer_*, wine_5layer_*, wine_8layer_*.
    "authors-diabetes-5": _authors_small("diabetes", 10, 1, 5, 0.579),
    "authors-diabetes-8": _authors_small("diabetes", 10, 1, 8, 0.569),
    "authors-wine-5": _authors_small("wine", 13, 3, 5, 0.563),
    "authors-wine-8": _authors_small("wine", 13, 3, 8, 0.558),
}

TRAIN_PRESETS: dict[str, dict] = {
    "paper-basic": {**_PAPER_DATA, **_PAPER_NET, "intra": False, "epochs": 250},
    "paper-per-layer": {
        **_PAPER_DATA,
        **_PAPER_NET,
        "intra": False,
        "epochs": 250,
        "learning_rate": (0.128, 0.032, 0.008, 0.002),
    },
    "paper-smallworld": {
        **_PAPER_DATA,
        **_PAPER_NET,
        "intra": True,
        "n": PAPER_SW_REPLACEMENTS,
        "epochs": 250,
    },
    "authors-code-mlff": {
        **_AUTHORS_DATA,
        **_AUTHORS_GRAPH,
        **_AUTHORS_CONFIG,
        "layers": AUTHORS_LAYERS,
        "epochs": 100,
    },
    "authors-code-sw": {
        **_AUTHORS_DATA,
        **_AUTHORS_GRAPH,
        **_AUTHORS_CONFIG,
        "layers": AUTHORS_LAYERS,
        "p": 0.1,
        "epochs": 100,
    },
    "authors-code-500x3-mlff": {
        **_AUTHORS_DATA,
        **_AUTHORS_GRAPH,
        **_AUTHORS_500X3_CONFIG,
        "layers": PAPER_LAYERS,
        "epochs": 100,
    },
    "authors-code-500x3-per-layer": {
        **_AUTHORS_DATA,
        **_AUTHORS_GRAPH,
        **_AUTHORS_500X3_CONFIG,
        "layers": PAPER_LAYERS,
        "epochs": 100,
        "learning_rate": (0.128, 0.032, 0.008, 0.002),
        "bias_learning_rate": 1.0,
    },
    "authors-code-500x3-sw": {
        **_AUTHORS_DATA,
        **_AUTHORS_GRAPH,
        **_AUTHORS_500X3_CONFIG,
        "layers": PAPER_LAYERS,
        "p": 0.1,
        "epochs": 200,
    },
}
