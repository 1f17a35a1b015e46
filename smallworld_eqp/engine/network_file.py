"""The network file: an :class:`~smallworld_eqp.engine.network.EqPropNetwork` saved to one
``.npz`` and loaded back with all its training state.

:func:`save` writes the weights, biases, configuration, graph, particles and beta-sign
generator of a network (and any extra arrays a caller adds); :func:`load` makes the
network again, and refuses any other file in one line. This module may import the
network (:mod:`.network`), the graph layer and the bottom layer (:mod:`smallworld_eqp.owned`,
:mod:`smallworld_eqp.config`); the study, the tests and the benchmarks import it.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from smallworld_eqp.engine import network_file
>>> from smallworld_eqp.engine.network import EqPropNetwork
>>> from smallworld_eqp.graph import layered
>>> net = EqPropNetwork(layered.layered([4, 3, 2]))
>>> with tempfile.TemporaryDirectory() as tmp:
...     network_file.save(net, Path(tmp) / "net.npz")
...     back = network_file.load(Path(tmp) / "net.npz")
>>> bool((back.weights == net.weights).all())
True
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine.network import EqPropNetwork
from smallworld_eqp.graph.layered import Graph
from smallworld_eqp.owned import check_output, npz_holding

#: Why an existing file is not a network file of :func:`save` (None: it is one).
_FOREIGN_NETWORK = npz_holding(("weights", "biases", "config", "layer_sizes", "edges"), "a network file")


def save(net: EqPropNetwork, path: str | os.PathLike, **extra: Any) -> None:
    """Save ``net`` to an ``.npz`` file: a path ending in ``.npz``, absent, empty or a
    network file of this package (else one line, nothing written: :mod:`.owned`).

    Holds the weights, biases, config (JSON), graph (layer sizes, edges, history
    JSON), persistent training and test particles and the beta-sign generator
    state, plus any ``extra`` arrays (a run's epoch count, say) in the same file.
    """
    np.savez(
        check_output(path, kind="an .npz", suffixes=(".npz",), foreign=_FOREIGN_NETWORK, flag="save path"),
        **extra,
        weights=net.weights,
        biases=net.biases,
        config=np.array(json.dumps(net.config.to_dict())),
        layer_sizes=np.asarray(net.graph.layer_sizes, dtype=np.int64),
        edges=net.graph.edges,
        history=np.array(json.dumps(list(net.graph.history))),
        particles=net._particles.states,
        particles_seen=net._particles.seen,
        test_particles=net._test_particles.states,
        test_particles_seen=net._test_particles.seen,
        beta_rng=np.array(json.dumps(net._beta_rng.bit_generator.state)),
        n_batches_trained=np.array(net.n_batches_trained),
    )


def load(path: str | os.PathLike) -> EqPropNetwork:
    """Load a network written by :func:`save`; anything else is refused in one line."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path to an .npz file, got {type(path).__name__}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{os.fspath(path)}: no such file")
    if _FOREIGN_NETWORK(path):
        raise ValueError(f"{os.fspath(path)} is not a network file of this package (an .npz from save)")
    with np.load(path, allow_pickle=False) as f:
        config = EqPropConfig.from_dict(json.loads(str(f["config"])))
        graph = Graph.from_edges(f["layer_sizes"], f["edges"], history=json.loads(str(f["history"])))
        net = EqPropNetwork(graph, config)
        net.weights = np.array(f["weights"], dtype=net._dtype)
        net.biases = np.array(f["biases"], dtype=net._dtype)
        for name, store in (("particles", net._particles), ("test_particles", net._test_particles)):
            if name in f:  # checkpoints before test particles existed have none
                store.states = np.array(f[name], dtype=net._dtype)
                store.seen = np.array(f[f"{name}_seen"], dtype=bool)
        net._beta_rng.bit_generator.state = json.loads(str(f["beta_rng"]))
        net.n_batches_trained = int(f["n_batches_trained"])
    return net
