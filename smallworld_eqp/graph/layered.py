"""Layered graphs as explicit undirected edge lists, their builders, and the registry of recipe steps.

A :class:`Graph` holds every undirected edge once (``i < j``), its kind and the
layer of every neuron. Builders (:func:`layered`, :func:`connect_within_layers`,
:func:`connect_layers`, :func:`without_kind`, and the rewiring steps of
:mod:`smallworld_eqp.graph.rewiring` and :mod:`smallworld_eqp.graph.designs`) never
modify a graph: they return a new one. Each registers itself as a step of graph
recipes (:func:`graph_step`, :data:`GRAPH_STEPS`): a recipe is a list of
``{"op": name, **arguments}``, the shape of ``Graph.history``, that
:func:`smallworld_eqp.graph.recipes.build` follows.

Neurons are numbered layer by layer, input layer first, so layer ``l`` holds the
neurons ``offsets[l]:offsets[l + 1]``.

Imports: NumPy, SciPy, pandas, :mod:`smallworld_eqp.validate` and :mod:`.sizing` only
(no numba; networkx only in :meth:`Graph.to_networkx`).

Examples
--------
>>> from smallworld_eqp.graph import layered, rewiring
>>> g = layered.layered([4, 3, 3, 2])
>>> g = layered.connect_within_layers(g)
>>> g = rewiring.rewire(g, n=5, seed=0)
>>> g.n_edges, g.kind_counts()
(33, {'adjacent': 23, 'intra': 5, 'skip': 5})
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from smallworld_eqp.graph.sizing import _intra_edges, _layered_edges, check_layer_sizes, check_size
from smallworld_eqp.validate import check_choice, check_int

ADJACENT, INTRA, SKIP = 0, 1, 2
KIND_NAMES = ("adjacent", "intra", "skip")


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Graph:
    """An immutable layered network: undirected edges, their kinds, neuron layers.

    Parameters
    ----------
    layer_sizes : tuple of int
        Neurons per layer, input layer first.
    edges : ndarray of int32, shape (E, 2)
        Each undirected edge once, ``edges[:, 0] < edges[:, 1]``, sorted
        lexicographically.
    kinds : ndarray of int8, shape (E,)
        0 adjacent-layer, 1 intra-layer, 2 layer-skipping.
    history : tuple of dict
        How the graph was made, one record per builder call.

    Use the builders rather than this constructor; :meth:`from_edges` checks and
    sorts an arbitrary edge list.
    """

    layer_sizes: tuple[int, ...]
    edges: np.ndarray
    kinds: np.ndarray
    history: tuple[dict[str, Any], ...] = field(default=())

    @classmethod
    def from_edges(
        cls,
        layer_sizes: Sequence[int],
        edges: np.ndarray,
        kinds: np.ndarray | None = None,
        history: Sequence[dict[str, Any]] = (),
    ) -> Graph:
        """Build a graph from any undirected edge list, checking and sorting it.

        ``kinds`` is inferred from the layers when omitted; when given, it must agree
        with them.
        """
        sizes = check_layer_sizes(layer_sizes)
        n = sum(sizes)
        raw = np.asarray(edges)
        if raw.dtype.kind not in "iuf" or (raw.size and raw.shape[-1] != 2):
            raise ValueError(
                f"edges must be an (E, 2) array of neuron indices, got dtype {raw.dtype} and shape {raw.shape}"
            )
        if raw.dtype.kind == "f" and not np.all(np.isfinite(raw) & (raw == np.round(raw))):
            bad = raw[~(np.isfinite(raw) & (raw == np.round(raw)))].flat[0]
            raise ValueError(f"edge endpoints must be integer neuron indices, got {bad}")
        e = raw.astype(np.int64).reshape(-1, 2)
        if e.size and (e.min() < 0 or e.max() >= n):
            raise ValueError(f"edge endpoints must lie in [0, {n}), got range [{e.min()}, {e.max()}]")
        if np.any(e[:, 0] == e[:, 1]):
            raise ValueError("self-loops are not allowed")
        lo, hi = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
        key = lo * n + hi
        order = np.argsort(key, kind="stable")
        if np.any(np.diff(key[order]) == 0):
            raise ValueError("duplicate edges are not allowed")
        lo, hi = lo[order], hi[order]
        layer_of = np.repeat(np.arange(len(sizes)), sizes)
        inferred = _kinds_from_layers(layer_of[lo], layer_of[hi])
        if kinds is not None:
            k = np.asarray(kinds, dtype=np.int8)[order]
            if not np.array_equal(k, inferred):
                raise ValueError("edge kinds disagree with the layers of their endpoints")
        bad = (inferred == INTRA) & ((layer_of[lo] == 0) | (layer_of[lo] == len(sizes) - 1))
        if np.any(bad):
            raise ValueError("edges inside the input or the output layer are not allowed")
        out = np.stack([lo, hi], axis=1).astype(np.int32)
        return cls(sizes, _readonly(out), _readonly(inferred), tuple(history))

    # --- basic views -------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes)

    @property
    def n_neurons(self) -> int:
        return int(sum(self.layer_sizes))

    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    @functools.cached_property
    def offsets(self) -> np.ndarray:
        """Index of the first neuron of every layer, plus ``n_neurons`` at the end."""
        return _readonly(np.cumsum((0,) + self.layer_sizes).astype(np.int64))

    @functools.cached_property
    def layer_of(self) -> np.ndarray:
        """Layer index of every neuron, shape (n_neurons,)."""
        return _readonly(np.repeat(np.arange(self.n_layers, dtype=np.int32), self.layer_sizes))

    @functools.cached_property
    def edge_layers(self) -> np.ndarray:
        """Layers of both endpoints of every edge, shape (E, 2), first <= second."""
        return _readonly(self.layer_of[self.edges])

    @functools.cached_property
    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Symmetric CSR adjacency ``(indptr, indices, edge_id)``.

        ``edge_id[k]`` is the row of ``edges`` that CSR entry ``k`` stands for, so
        per-edge values gather into CSR order with ``values[edge_id]``. Column indices
        are sorted within each row.
        """
        n = self.n_neurons
        i = self.edges[:, 0].astype(np.int64)
        j = self.edges[:, 1].astype(np.int64)
        rows = np.concatenate([i, j])
        cols = np.concatenate([j, i])
        ids = np.concatenate([np.arange(self.n_edges), np.arange(self.n_edges)])
        order = np.lexsort((cols, rows))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return (
            _readonly(indptr),
            _readonly(cols[order].astype(np.int32)),
            _readonly(ids[order].astype(np.int64)),
        )

    @property
    def degrees(self) -> np.ndarray:
        """Number of neighbours of every neuron."""
        return np.diff(self.csr[0])

    def kind_counts(self) -> dict[str, int]:
        """Number of edges of each kind, e.g. ``{'adjacent': 34, 'intra': 6, 'skip': 5}``."""
        counts = np.bincount(self.kinds, minlength=3)
        return {name: int(c) for name, c in zip(KIND_NAMES, counts)}

    def summary(self):
        """Edge counts per layer pair and kind, as a :class:`pandas.DataFrame`.

        Columns: ``layer_a``, ``layer_b`` (``layer_a <= layer_b``), ``kind``,
        ``n_edges`` and ``possible`` (pairs of neurons between the two layers).
        """
        la, lb = self.edge_layers[:, 0], self.edge_layers[:, 1]
        key = la.astype(np.int64) * self.n_layers + lb
        uniq, counts = np.unique(key, return_counts=True)
        a, b = uniq // self.n_layers, uniq % self.n_layers
        sizes = np.asarray(self.layer_sizes, dtype=np.int64)
        possible = np.where(a == b, sizes[a] * (sizes[a] - 1) // 2, sizes[a] * sizes[b])
        return pd.DataFrame(
            {
                "layer_a": a,
                "layer_b": b,
                "kind": [KIND_NAMES[k] for k in _kinds_from_layers(a, b)],
                "n_edges": counts,
                "possible": possible,
            }
        )

    def to_scipy(self):
        """Symmetric adjacency as a ``scipy.sparse.csr_array`` of ones (float64)."""
        indptr, indices, _ = self.csr
        data = np.ones(indices.shape[0])
        return sparse.csr_array((data, indices, indptr), shape=(self.n_neurons, self.n_neurons))

    def to_networkx(self):
        """The graph as a :class:`networkx.Graph`.

        Nodes carry a ``layer`` attribute, edges a ``kind`` attribute (its name).
        """
        import networkx as nx  # about 0.5 s to import, for this hand-off only

        g = nx.Graph()
        g.add_nodes_from((int(v), {"layer": int(lay)}) for v, lay in enumerate(self.layer_of))
        g.add_edges_from(
            (int(i), int(j), {"kind": KIND_NAMES[k]}) for (i, j), k in zip(self.edges, self.kinds)
        )
        return g

    def has_edge(self, i: int, j: int) -> bool:
        """Whether neurons ``i`` and ``j`` share an edge."""
        indptr, indices, _ = self.csr
        row = indices[indptr[i] : indptr[i + 1]]
        k = np.searchsorted(row, j)
        return bool(k < row.shape[0] and row[k] == j)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.layer_sizes == other.layer_sizes and np.array_equal(self.edges, other.edges)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.kind_counts().items())
        sizes = "-".join(map(str, self.layer_sizes))
        return f"Graph(layers={sizes}, neurons={self.n_neurons}, edges={self.n_edges}: {counts})"


def _kinds_from_layers(la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    gap = np.abs(np.asarray(lb, dtype=np.int64) - np.asarray(la, dtype=np.int64))
    return np.where(gap == 0, INTRA, np.where(gap == 1, ADJACENT, SKIP)).astype(np.int8)


def _block_pairs(lo_start: int, lo_size: int, hi_start: int, hi_size: int) -> np.ndarray:
    """All pairs (i, j) with i in one block of neurons and j in a later one."""
    i = np.repeat(np.arange(lo_start, lo_start + lo_size, dtype=np.int64), hi_size)
    j = np.tile(np.arange(hi_start, hi_start + hi_size, dtype=np.int64), lo_size)
    return np.stack([i, j], axis=1)


def _combine(graph: Graph, new_edges: np.ndarray, keep: np.ndarray | None, record: dict) -> Graph:
    old = graph.edges if keep is None else graph.edges[keep]
    edges = np.concatenate([old.astype(np.int64), new_edges.astype(np.int64)])
    return Graph.from_edges(graph.layer_sizes, edges, history=graph.history + (record,))


#: Builders usable as recipe steps, by name (:func:`graph_step`).
GRAPH_STEPS: dict[str, Callable[..., Graph]] = {}
# Argument checks of the steps that have one, by name: they raise on a bad value.
_STEP_CHECKS: dict[str, Callable[..., Any]] = {}


def check_graph(graph: Any, name: str = "graph") -> Graph:
    """``graph`` if it is a :class:`Graph`; else a one-line TypeError naming what it got."""
    if not isinstance(graph, Graph):
        raise TypeError(
            f"{name} must be a layered.Graph (from smallworld_eqp.graph.layered.layered, say), got {type(graph).__name__}"
        )
    return graph


def _takes_a_graph(builder: Callable[..., Graph]) -> Callable[..., Graph]:
    """``builder`` checking its first argument with :func:`check_graph` first."""

    @functools.wraps(builder)
    def checked(graph: Graph, *args: Any, **kwargs: Any) -> Graph:
        return builder(check_graph(graph), *args, **kwargs)

    return checked


def graph_step(builder: Callable[..., Graph] | None = None, *, check: Callable[..., Any] | None = None):
    """Register ``builder`` as a recipe step named after it
    (:func:`smallworld_eqp.graph.recipes.build`).

    The first step of a recipe makes the graph (it takes no graph); every later one
    takes the graph built so far as its first argument. A builder taking ``seed``
    gets the recipe's random stream. ``check``, given the step's other arguments,
    raises on a bad value before anything is built
    (:func:`smallworld_eqp.graph.recipes.check_recipe`).
    """

    def register(b: Callable[..., Graph]) -> Callable[..., Graph]:
        if next(iter(inspect.signature(b).parameters), None) == "graph":
            b = _takes_a_graph(b)
        GRAPH_STEPS[b.__name__] = b
        if check is not None:
            _STEP_CHECKS[b.__name__] = check
        return b

    return register if builder is None else register(builder)


@graph_step(check=check_layer_sizes)
def layered(sizes: Sequence[int]) -> Graph:
    """The basic multilayer topology: adjacent layers fully connected (paper Fig. 1a).

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first; at least 3 layers, all positive.

    Returns
    -------
    Graph

    Examples
    --------
    >>> layered([784, 500, 10])
    Graph(layers=784-500-10, neurons=1294, edges=397000: adjacent=397000, intra=0, skip=0)
    """
    sizes = check_layer_sizes(sizes)
    check_size(_layered_edges(sizes), f"the {'-'.join(map(str, sizes))} network")
    offsets = np.cumsum((0,) + sizes)
    blocks = [_block_pairs(offsets[a], sizes[a], offsets[a + 1], sizes[a + 1]) for a in range(len(sizes) - 1)]
    edges = np.concatenate(blocks)
    return Graph(
        sizes,
        _readonly(edges.astype(np.int32)),
        _readonly(np.zeros(edges.shape[0], dtype=np.int8)),
        ({"op": "layered", "sizes": list(sizes)},),
    )


@graph_step
def connect_within_layers(graph: Graph) -> Graph:
    """Connect every pair of neurons inside each hidden layer (paper section 4.3).

    The input and output layers stay without intra-layer edges. Pairs that are
    already connected are kept as they are.

    Examples
    --------
    >>> connect_within_layers(layered([2, 3, 2])).kind_counts()
    {'adjacent': 12, 'intra': 3, 'skip': 0}
    """
    sizes, offsets = graph.layer_sizes, graph.offsets
    check_size(
        graph.n_edges + _intra_edges(sizes), f"the {'-'.join(map(str, sizes))} network with intra-layer edges"
    )
    pairs = []
    for lay in range(1, graph.n_layers - 1):
        i, j = np.triu_indices(sizes[lay], k=1)
        pairs.append(np.stack([i, j], axis=1).astype(np.int64) + offsets[lay])
    new = np.concatenate(pairs)
    n = graph.n_neurons
    existing = graph.edges[:, 0].astype(np.int64) * n + graph.edges[:, 1]
    new = new[~np.isin(new[:, 0] * n + new[:, 1], existing)]
    return _combine(graph, new, None, {"op": "connect_within_layers", "added": int(new.shape[0])})


def _check_layer_pair(a: int, b: int) -> None:
    check_int("a", a, low=0)
    if check_int("b", b, low=0) < a + 2:
        raise ValueError(f"connect_layers joins layers at least two apart (a + 2 <= b), got a={a} and b={b}")


@graph_step(check=_check_layer_pair)
def connect_layers(graph: Graph, a: int, b: int) -> Graph:
    """Connect every neuron of layer ``a`` to every neuron of layer ``b >= a + 2``: a
    whole block of layer-skipping edges, the structured counterpart of :func:`rewire`.

    Pairs that are already connected are kept as they are.

    Examples
    --------
    >>> connect_layers(layered([3, 2, 2, 2]), 0, 2).kind_counts()
    {'adjacent': 14, 'intra': 0, 'skip': 6}
    """
    _check_layer_pair(a, b)
    if b >= graph.n_layers:
        raise ValueError(f"layer b={b} does not exist in a {graph.n_layers}-layer graph")
    off, sizes = graph.offsets, graph.layer_sizes
    new = _block_pairs(off[a], sizes[a], off[b], sizes[b])
    n = graph.n_neurons
    existing = graph.edges[:, 0].astype(np.int64) * n + graph.edges[:, 1]
    new = new[~np.isin(new[:, 0] * n + new[:, 1], existing)]
    return _combine(graph, new, None, {"op": "connect_layers", "a": a, "b": b, "added": int(new.shape[0])})


def _check_kind(kind: int | str) -> int:
    if isinstance(kind, str):
        return KIND_NAMES.index(check_choice("kind", kind, KIND_NAMES))
    return check_int("kind", kind, low=0, high=len(KIND_NAMES) - 1)


@graph_step(check=_check_kind)
def without_kind(graph: Graph, kind: int | str) -> Graph:
    """A copy of ``graph`` with every edge of one kind removed.

    Used to drop the layer-skipping edges part-way through training (the paper's
    section 6 future work).

    Examples
    --------
    >>> from smallworld_eqp.graph.rewiring import rewire
    >>> g = rewire(layered([6, 5, 5, 2]), n=4, mode="add", seed=0)
    >>> without_kind(g, "skip") == layered([6, 5, 5, 2])
    True
    """
    kind = _check_kind(kind)
    keep = graph.kinds != kind
    return _combine(
        graph,
        np.empty((0, 2), dtype=np.int64),
        keep,
        {"op": "without_kind", "kind": KIND_NAMES[kind], "removed": int((~keep).sum())},
    )
