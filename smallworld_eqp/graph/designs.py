"""Graph designs: rewiring steps that place the new edges by design, and their registry.

:func:`rewire_span` (every new edge skips the same number of layers),
:func:`rewire_ends` (one end fixed: into the output, out of the input, or among the
hidden layers) and :func:`rewire_within_layers` (intra-layer edges) replace (or add)
``n`` edges as :func:`~smallworld_eqp.graph.rewiring.rewire` does, but draw the new
ones among chosen pairs only. Each is a recipe step
(:func:`~smallworld_eqp.graph.layered.graph_step`); :data:`DESIGNS` names the step of
each design (a trial's setting ``design``).

Imports: NumPy, :mod:`smallworld_eqp.validate`, :mod:`.layered` and :mod:`.rewiring`
only (no numba).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from smallworld_eqp.graph.layered import Graph, _combine, graph_step
from smallworld_eqp.graph.rewiring import MODES, _sample_new_skip_edges, n_skip_candidates, replacements_to_p
from smallworld_eqp.validate import check_choice, check_int, check_random_state

ENDS = ("output", "input", "hidden")


def _check_count(n: int | None = None, mode: str = "replace") -> int:
    check_choice("mode", mode, MODES)
    return check_int("n", n, low=0)


def _check_span(n: int | None = None, span: int | None = None, mode: str = "replace") -> None:
    _check_count(n, mode)
    check_int("span", span, low=2)


def _check_end(n: int | None = None, end: str | None = None, mode: str = "replace") -> None:
    _check_count(n, mode)
    check_choice("end", end, ENDS)


def _replace_or_add(
    graph: Graph,
    n: int,
    mode: str,
    seed: int | np.random.Generator | None,
    sample: Callable[[np.random.Generator], np.ndarray],
    record: dict[str, Any],
) -> Graph:
    """Remove ``n`` uniformly chosen edges (``mode="replace"``) and add the ``n`` new
    ones ``sample(rng)`` draws among the pairs unconnected in ``graph``, as
    :func:`~smallworld_eqp.graph.rewiring.rewire` does with ``n``; the history record says what was done."""
    n = _check_count(n, mode)
    rng = check_random_state(seed)
    keep = None
    if mode == "replace":
        if n > graph.n_edges:
            raise ValueError(f"n={n} exceeds the {graph.n_edges} edges of the graph that could be removed")
        keep = np.ones(graph.n_edges, dtype=bool)
        keep[rng.choice(graph.n_edges, size=n, replace=False)] = False
    new = sample(rng)
    record = {
        **record,
        "n": n,
        "p": replacements_to_p(n, graph.n_edges),
        "requested": "n",
        "mode": mode,
        "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
    }
    return _combine(graph, new, keep, record)


def _sample_skip_between(
    graph: Graph, n: int, pairs: frozenset[tuple[int, int]], what: str
) -> Callable[[np.random.Generator], np.ndarray]:
    """A sampler of ``n`` new layer-skipping edges between the layer ``pairs`` (for
    :func:`_replace_or_add`), refusing more than there are free candidates."""
    free = n_skip_candidates(graph, pairs)
    if n > free:
        raise ValueError(
            f"{n} new layer-skipping edges {what} requested but only {free} unconnected pairs exist"
        )
    return lambda rng: _sample_new_skip_edges(graph, n, rng, pairs)


@graph_step(check=_check_span)
def rewire_span(
    graph: Graph,
    *,
    n: int,
    span: int,
    mode: str = "replace",
    seed: int | np.random.Generator | None = None,
) -> Graph:
    """Rewiring whose new edges all skip the same number of layers: each joins a
    neuron of a layer ``a`` to one of layer ``a + span``.

    As :func:`~smallworld_eqp.graph.rewiring.rewire` with ``n``, but the new edges are drawn uniformly among the
    unconnected pairs ``span`` layers apart only. At equal count the spans separate
    the measures: span-2 edges close triangles (every neuron of the layer between is a
    common neighbour), so clustering rises; edges of odd span close none in a layered
    network without intra-layer or even-span edges (it stays bipartite between even and
    odd layers), so clustering stays 0 while the path length falls.

    Parameters
    ----------
    graph : Graph
    n : int
        Edges to replace (or add).
    span : int
        Layers each new edge spans, from 2 to ``n_layers - 1``.
    mode : {"replace", "add"}
        Remove ``n`` uniformly chosen edges first, or only add.
    seed : int, numpy.random.Generator or None

    Returns
    -------
    Graph
        History record ``{"op": "rewire_span", "span": ..., "n": ..., "p": ..., "mode": ..., "seed": ...}``.

    Examples
    --------
    >>> from smallworld_eqp.graph.layered import SKIP, layered
    >>> g = rewire_span(layered([6, 5, 5, 5, 2]), n=8, span=3, seed=0)
    >>> g.kind_counts()["skip"], set(np.diff(g.edge_layers[g.kinds == SKIP], axis=1).ravel().tolist())
    (8, {3})
    """
    _check_span(n, span, mode)
    if span >= graph.n_layers:
        raise ValueError(f"span={span} needs at least {span + 1} layers, the graph has {graph.n_layers}")
    pairs = frozenset((a, a + span) for a in range(graph.n_layers - span))
    sample = _sample_skip_between(graph, n, pairs, f"of span {span}")
    return _replace_or_add(graph, n, mode, seed, sample, {"op": "rewire_span", "span": span})


def end_pairs(n_layers: int, end: str) -> frozenset[tuple[int, int]]:
    """The layer pairs ``(a, b)``, ``a + 2 <= b``, that :func:`rewire_ends` joins.

    Examples
    --------
    >>> sorted(end_pairs(5, "output")), sorted(end_pairs(5, "hidden"))
    ([(0, 4), (1, 4), (2, 4)], [(1, 3)])
    """
    check_choice("end", end, ENDS)
    last = n_layers - 1
    keep = {
        "output": lambda a, b: b == last,
        "input": lambda a, b: a == 0,
        "hidden": lambda a, b: a >= 1 and b <= last - 1,
    }[end]
    return frozenset((a, b) for a in range(n_layers) for b in range(a + 2, n_layers) if keep(a, b))


@graph_step(check=_check_end)
def rewire_ends(
    graph: Graph,
    *,
    n: int,
    end: str,
    mode: str = "replace",
    seed: int | np.random.Generator | None = None,
) -> Graph:
    """Rewiring whose new edges all have one end fixed: all into the output layer, all
    out of the input layer, or all among the hidden layers.

    As :func:`~smallworld_eqp.graph.rewiring.rewire` with ``n``, but the new layer-skipping edges are drawn uniformly
    among the unconnected pairs of :func:`end_pairs` only. Edges into the output
    shorten every layer's way to the target; edges out of the input only the input's
    way in; edges among hidden layers neither end.

    Parameters
    ----------
    graph : Graph
    n : int
        Edges to replace (or add).
    end : {"output", "input", "hidden"}
        ``"output"``: pairs (a, last layer); ``"input"``: pairs (input, b); ``"hidden"``:
        pairs of hidden layers (needs at least 3 hidden layers).
    mode : {"replace", "add"}
    seed : int, numpy.random.Generator or None

    Returns
    -------
    Graph
        History record ``{"op": "rewire_ends", "end": ..., "n": ..., "p": ..., "mode": ..., "seed": ...}``.

    Examples
    --------
    >>> from smallworld_eqp.graph.layered import SKIP, layered
    >>> g = rewire_ends(layered([6, 5, 5, 5, 2]), n=8, end="output", seed=0)
    >>> set(g.edge_layers[g.kinds == SKIP][:, 1].tolist())
    {4}
    """
    _check_end(n, end, mode)
    pairs = end_pairs(graph.n_layers, end)
    if not pairs:
        raise ValueError(f"end={end!r} needs at least 3 hidden layers, the graph has {graph.n_layers - 2}")
    sample = _sample_skip_between(graph, n, pairs, f"with end={end!r}")
    return _replace_or_add(graph, n, mode, seed, sample, {"op": "rewire_ends", "end": end})


def _free_intra_pairs(graph: Graph) -> np.ndarray:
    """Every unconnected pair of neurons inside a hidden layer, (i, j) with i < j."""
    sizes, offsets = graph.layer_sizes, graph.offsets
    pairs = [
        np.stack(np.triu_indices(sizes[lay], k=1), axis=1).astype(np.int64) + offsets[lay]
        for lay in range(1, graph.n_layers - 1)
    ]
    every = np.concatenate(pairs)
    n = graph.n_neurons
    existing = graph.edges[:, 0].astype(np.int64) * n + graph.edges[:, 1]
    return every[~np.isin(every[:, 0] * n + every[:, 1], existing)]


@graph_step(check=_check_count)
def rewire_within_layers(
    graph: Graph, *, n: int, mode: str = "replace", seed: int | np.random.Generator | None = None
) -> Graph:
    """Replace (or add) ``n`` edges by intra-layer edges between random neurons of the
    same hidden layer: clustering rises at an almost fixed path length.

    Two neurons of a hidden layer share every neuron of the adjacent layers as a
    neighbour, so each new edge closes triangles with all of them; it shortens only
    its own pair's distance, from 2 to 1, so the characteristic path length falls by
    ``2 / (N (N - 1))`` per edge. The counterpart of :func:`rewire_span` with an odd
    span, which lowers the path length at clustering 0. The new edges are drawn
    uniformly among the unconnected pairs inside hidden layers; the input and output
    layers never get any.

    Parameters
    ----------
    graph : Graph
    n : int
        Edges to replace (or add).
    mode : {"replace", "add"}
    seed : int, numpy.random.Generator or None

    Returns
    -------
    Graph
        History record ``{"op": "rewire_within_layers", "n": ..., "p": ..., "mode": ..., "seed": ...}``.

    Examples
    --------
    >>> from smallworld_eqp.graph.layered import layered
    >>> g = rewire_within_layers(layered([6, 5, 5, 2]), n=6, mode="add", seed=0)
    >>> g.kind_counts()
    {'adjacent': 65, 'intra': 6, 'skip': 0}
    """
    _check_count(n, mode)
    free = _free_intra_pairs(graph)
    if n > free.shape[0]:
        raise ValueError(
            f"{n} new intra-layer edges requested but only {free.shape[0]} unconnected pairs inside hidden layers exist"
        )
    return _replace_or_add(
        graph,
        n,
        mode,
        seed,
        lambda rng: free[rng.choice(free.shape[0], size=n, replace=False)],
        {"op": "rewire_within_layers"},
    )


#: Named designs of the skip edges: the step that places the sweep's ``n`` edges
#: (with the trial's ``mode``), the setting ``design`` of a trial.
DESIGNS: dict[str, dict[str, Any]] = {
    "uniform": {"op": "rewire"},
    **{f"span-{k}": {"op": "rewire_span", "span": k} for k in range(2, 7)},
    "into-output": {"op": "rewire_ends", "end": "output"},
    "out-of-input": {"op": "rewire_ends", "end": "input"},
    "hidden-only": {"op": "rewire_ends", "end": "hidden"},
    "intra": {"op": "rewire_within_layers"},
}
