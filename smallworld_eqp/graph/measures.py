"""The graph measures of a results row: their registry and the row.

:data:`SUMMARY` (one number per graph) and :data:`PER_LAYER` (one per layer) name
each measure and compute it, from :mod:`smallworld_eqp.graph.metrics` and
:mod:`smallworld_eqp.graph.to_output`; :func:`small_world_summary` is one CSV row's
worth of them, :func:`summary_depth` the depth a row's columns were made for.

Imports: NumPy, :mod:`.layered`, :mod:`.metrics` and :mod:`.to_output` only (numba
through the last two).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from smallworld_eqp.graph.layered import SKIP, Graph, check_graph
from smallworld_eqp.graph.metrics import characteristic_path_length, clustering_coefficient
from smallworld_eqp.graph.to_output import hops_to_output, log_paths_to_output, log_walks_to_output


def _hidden_mean(per_layer: np.ndarray) -> float:
    """The mean over the hidden layers (all but the first and the last) of a per-layer value."""
    return float(np.mean(per_layer[1:-1]))


#: The graph measures of a results row, each a function of the graph: name -> number.
#: Their names, in this order, are declared in :data:`smallworld_eqp.config.GRAPH_MEASURES`
#: (and :data:`PER_LAYER`'s in ``LAYER_MEASURES``), where the results read them without
#: numba; ``tests/test_config.py`` checks that the two agree.
SUMMARY = {
    "n_neurons": lambda g: g.n_neurons,
    "n_edges": lambda g: g.n_edges,
    "n_adjacent": lambda g: g.kind_counts()["adjacent"],
    "n_intra": lambda g: g.kind_counts()["intra"],
    "n_skip": lambda g: g.kind_counts()["skip"],
    "path_length": lambda g: characteristic_path_length(g),
    "clustering": lambda g: clustering_coefficient(g),
    # layers a layer-skipping edge spans, on average (2 = it skips one layer; 0 without any)
    "skip_span": lambda g: (
        float(np.mean(np.diff(g.edge_layers[g.kinds == SKIP], axis=1))) if g.kind_counts()["skip"] else 0.0
    ),
    # the parallel-path measures of every hidden layer, averaged over the hidden layers
    "log_paths_hidden": lambda g: _hidden_mean(log_paths_to_output(g)),
    "log_walks_hidden": lambda g: _hidden_mean(log_walks_to_output(g)),
}
#: Measures with one value per layer (input first): columns ``<name>_<layer>``.
PER_LAYER = {
    "hops_to_output": lambda g: hops_to_output(g),
    "log_paths_to_output": lambda g: log_paths_to_output(g),
    "log_walks_to_output": lambda g: log_walks_to_output(g),
}


def summary_depth(columns: Iterable[str]) -> int:
    """The number of layers whose :data:`PER_LAYER` columns ``columns`` holds (0: none)."""
    columns = list(columns)
    return max(
        (
            sum(c.startswith(f"{name}_") and c[len(name) + 1 :].isdigit() for c in columns)
            for name in PER_LAYER
        ),
        default=0,
    )


def small_world_summary(graph: Graph) -> dict[str, float | int]:
    """Graph size and small-world metrics as a flat dict, one CSV row's worth.

    One entry per measure of :data:`SUMMARY` (``n_neurons``, ``n_edges``, the edges
    of each kind, ``path_length`` (eq. 15), ``clustering`` (eq. 16)) and per layer of
    :data:`PER_LAYER` (``hops_to_output_0`` ... ``hops_to_output_{L-1}``, input
    first): add a measure there and its name to :mod:`smallworld_eqp.config`, and it
    becomes a column of every results row.

    Raises
    ------
    ValueError
        If the graph is disconnected.

    Examples
    --------
    >>> from smallworld_eqp.graph import layered, rewiring
    >>> row = small_world_summary(layered.layered([2, 3, 2]))
    >>> row["n_edges"], row["hops_to_output_0"]
    (12, 2.0)
    >>> from smallworld_eqp.config import summary_columns
    >>> list(row) == summary_columns(3)
    True
    """
    check_graph(graph)
    row: dict[str, float | int] = {name: measure(graph) for name, measure in SUMMARY.items()}
    for name, measure in PER_LAYER.items():
        row.update({f"{name}_{lay}": float(v) for lay, v in enumerate(measure(graph))})
    return row
