"""Layered network topologies as explicit undirected edge lists.

A :class:`Graph` holds every undirected edge once (``i < j``), its kind and the
layer of every neuron. Builders (:func:`layered`, :func:`connect_within_layers`,
:func:`rewire`, :func:`without_kind`) never modify a graph: they return a new one.
They are the steps of graph recipes (:data:`GRAPH_STEPS`, :func:`build`): a recipe
is a list of ``{"op": name, **arguments}``, the shape of ``Graph.history``.

Neurons are numbered layer by layer, input layer first, so layer ``l`` holds the
neurons ``offsets[l]:offsets[l + 1]``.

Examples
--------
>>> from smallworld_eqp import topology
>>> g = topology.layered([4, 3, 3, 2])
>>> g = topology.connect_within_layers(g)
>>> g = topology.rewire(g, n=5, seed=0)
>>> g.n_edges, g.kind_counts()
(33, {'adjacent': 23, 'intra': 5, 'skip': 5})
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .validate import check_bool, check_choice, check_int, check_random_state, check_real

ADJACENT, INTRA, SKIP = 0, 1, 2
KIND_NAMES = ("adjacent", "intra", "skip")
MODES = ("replace", "add")


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# Bytes an edge costs, peak, from building the graph to training on it (pairs, sort
# keys, kinds, CSR in both directions, weights, plan values): a refusal threshold only.
_BYTES_PER_EDGE = 100


def _memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_size(n_edges: int, what: str) -> None:
    """Refuse a graph of ``n_edges`` edges that would not fit in this machine's memory,
    with the estimate, before anything is allocated."""
    need = n_edges * _BYTES_PER_EDGE
    if need > _memory():
        raise ValueError(
            f"{what} has {n_edges:.3g} edges: about {need / 2**30:.3g} GiB to build and train, "
            f"more than this machine's {_memory() / 2**30:.3g} GiB of memory"
        )


def check_layer_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """Layer sizes as a tuple of ints: at least 3 layers, all positive."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
        raise TypeError(f"layer sizes must be a sequence of positive integers, got {sizes!r}")
    sizes = tuple(check_int("a layer size", s) for s in sizes)
    if len(sizes) < 3:
        raise ValueError(
            f"layer sizes {list(sizes)} give {len(sizes)} layers; at least 3 (input, hidden, output) are needed"
        )
    if any(s <= 0 for s in sizes):
        raise ValueError(f"layer sizes must be positive integers, got {list(sizes)}")
    return sizes


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
        import pandas as pd

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
        from scipy import sparse

        indptr, indices, _ = self.csr
        data = np.ones(indices.shape[0])
        return sparse.csr_array((data, indices, indptr), shape=(self.n_neurons, self.n_neurons))

    def to_networkx(self):
        """The graph as a :class:`networkx.Graph`.

        Nodes carry a ``layer`` attribute, edges a ``kind`` attribute (its name).
        """
        import networkx as nx

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
            f"{name} must be a topology.Graph (from topology.layered, say), got {type(graph).__name__}"
        )
    return graph


def _takes_a_graph(builder: Callable[..., Graph]) -> Callable[..., Graph]:
    """``builder`` checking its first argument with :func:`check_graph` first."""

    @functools.wraps(builder)
    def checked(graph: Graph, *args: Any, **kwargs: Any) -> Graph:
        return builder(check_graph(graph), *args, **kwargs)

    return checked


def graph_step(builder: Callable[..., Graph] | None = None, *, check: Callable[..., Any] | None = None):
    """Register ``builder`` as a recipe step named after it (:func:`build`).

    The first step of a recipe makes the graph (it takes no graph); every later one
    takes the graph built so far as its first argument. A builder taking ``seed``
    gets the recipe's random stream. ``check``, given the step's other arguments,
    raises on a bad value before anything is built (:func:`check_recipe`).
    """

    def register(b: Callable[..., Graph]) -> Callable[..., Graph]:
        if next(iter(inspect.signature(b).parameters), None) == "graph":
            b = _takes_a_graph(b)
        GRAPH_STEPS[b.__name__] = b
        if check is not None:
            _STEP_CHECKS[b.__name__] = check
        return b

    return register if builder is None else register(builder)


def check_recipe(recipe: Sequence[Mapping[str, Any]]) -> None:
    """Raise on a recipe that :func:`build` could not follow: an unknown step or
    argument, a step out of place, or a bad argument value (nothing is built)."""
    if not recipe:
        raise ValueError("a graph recipe needs at least one step (layered), got none")
    sizes: tuple[int, ...] = ()
    for k, step in enumerate(recipe):
        if not isinstance(step, Mapping):
            raise TypeError(f"a recipe step must be a mapping like {{'op': 'rewire', 'n': 10}}, got {step!r}")
        args = dict(step)
        op = check_choice("recipe step op", args.pop("op", None), sorted(GRAPH_STEPS))
        params = inspect.signature(GRAPH_STEPS[op]).parameters
        allowed = [p for p in params if p not in ("graph", "seed")]
        unknown = sorted(set(args) - set(allowed))
        if unknown:
            raise ValueError(
                f"recipe step {op!r} takes no argument {unknown[0]!r}; allowed: {', '.join(allowed)}"
            )
        first = "graph" not in params
        if first and k > 0:
            raise ValueError(
                f"recipe step {op!r} makes a graph: it can only be the first step, got it as step {k + 1}"
            )
        if not first and k == 0:
            raise ValueError(
                f"recipe step {op!r} changes a graph: it cannot be the first step (start with layered)"
            )
        if op in _STEP_CHECKS:
            checked = _STEP_CHECKS[op](**args)
            if k == 0:  # layered's check returns the sizes: checked once, here
                sizes = checked
    intra = any(step.get("op") == "connect_within_layers" for step in recipe)
    check_size(
        _layered_edges(sizes) + (_intra_edges(sizes) if intra else 0),
        f"the {'-'.join(map(str, sizes))} network",
    )


def build(recipe: Sequence[Mapping[str, Any]], seed: int | np.random.Generator | None = None) -> Graph:
    """Build a graph from a recipe: a list of steps ``{"op": name, **arguments}``.

    Parameters
    ----------
    recipe : sequence of mapping
        Steps in order, each naming a builder of :data:`GRAPH_STEPS`; the first
        one makes the graph (``layered``). Checked first (:func:`check_recipe`).
    seed : int, numpy.random.Generator or None
        One random stream, shared in order by the steps that take a ``seed``.

    Examples
    --------
    >>> g = build([{"op": "layered", "sizes": [6, 5, 5, 2]}, {"op": "rewire", "n": 4}], seed=0)
    >>> g.kind_counts()
    {'adjacent': 61, 'intra': 0, 'skip': 4}
    """
    check_recipe(recipe)
    rng = check_random_state(seed)
    graph = None
    for step in recipe:
        args = dict(step)
        builder = GRAPH_STEPS[args.pop("op")]
        if "seed" in inspect.signature(builder).parameters:
            args["seed"] = rng
        graph = builder(**args) if graph is None else builder(graph, **args)
    return graph


def _layered_edges(sizes: tuple[int, ...]) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _intra_edges(sizes: tuple[int, ...]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes[1:-1])


def edge_count(sizes: Sequence[int], intra: bool = False) -> int:
    """Edges of :func:`layered` ``(sizes)``, with every hidden layer intra-connected
    (:func:`connect_within_layers`) if ``intra``; computed, nothing is built.

    Examples
    --------
    >>> edge_count([784, 500, 500, 500, 10], intra=True)
    1271250
    """
    sizes = check_layer_sizes(sizes)
    return _layered_edges(sizes) + (_intra_edges(sizes) if check_bool("intra", intra) else 0)


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


def replacements_to_p(n: int, n_edges: int) -> float:
    """Per-edge Watts-Strogatz probability equivalent to ``n`` replacements (footnote 2).

    ``p = 1 - ((E - 1) / E) ** n`` for a graph with ``E`` edges.

    Examples
    --------
    >>> round(replacements_to_p(1000, 10_000), 4)
    0.0952
    """
    n, n_edges = check_int("n", n, low=0), check_int("n_edges", n_edges, low=1)
    return float(-np.expm1(n * np.log1p(-1.0 / n_edges))) if n_edges > 1 else float(n > 0)


def p_to_replacements(p: float, n_edges: int) -> int:
    """Number of replacements equivalent to a per-edge probability ``p`` (footnote 2).

    The inverse of :func:`replacements_to_p`, rounded to the nearest integer.

    Examples
    --------
    >>> p_to_replacements(0.0952, 10_000)
    1000
    """
    p, n_edges = check_real("p", p, "[0, 1)"), check_int("n_edges", n_edges, low=2)
    return round(float(np.log1p(-p) / np.log1p(-1.0 / n_edges)))


def _skip_blocks(graph: Graph, pairs: frozenset[tuple[int, int]] | None = None) -> list[tuple[int, int, int]]:
    """Layer pairs (a, b), b >= a + 2, with the first linear candidate index of each;
    only the pairs in ``pairs`` when given."""
    blocks, start = [], 0
    sizes = graph.layer_sizes
    for a in range(graph.n_layers):
        for b in range(a + 2, graph.n_layers):
            if pairs is None or (a, b) in pairs:
                blocks.append((a, b, start))
                start += sizes[a] * sizes[b]
    return blocks


def _skip_edges_in(graph: Graph, pairs: frozenset[tuple[int, int]] | None) -> np.ndarray:
    """The graph's layer-skipping edges, only those between the layer ``pairs`` when given."""
    skip = graph.kinds == SKIP
    if pairs is not None:
        allowed = np.zeros((graph.n_layers, graph.n_layers), dtype=bool)
        for a, b in pairs:
            allowed[a, b] = True
        skip &= allowed[graph.edge_layers[:, 0], graph.edge_layers[:, 1]]
    return graph.edges[skip]


def n_skip_candidates(graph: Graph, pairs: frozenset[tuple[int, int]] | None = None) -> int:
    """How many unconnected pairs of neurons a new layer-skipping edge may join; only
    between the layer pairs ``(a, b)``, ``a + 2 <= b``, of ``pairs`` when given."""
    sizes = graph.layer_sizes
    total = sum(sizes[a] * sizes[b] for a, b, _ in _skip_blocks(graph, pairs))
    return total - int(_skip_edges_in(graph, pairs).shape[0])


def _skip_index(
    graph: Graph, edges: np.ndarray, pairs: frozenset[tuple[int, int]] | None = None
) -> np.ndarray:
    """Linear index of layer-skipping edges (all between ``pairs``) in the candidate space."""
    sizes, offsets = graph.layer_sizes, graph.offsets
    la, lb = graph.layer_of[edges[:, 0]], graph.layer_of[edges[:, 1]]
    start = np.zeros((graph.n_layers, graph.n_layers), dtype=np.int64)
    for a, b, s in _skip_blocks(graph, pairs):
        start[a, b] = s
    ia = edges[:, 0].astype(np.int64) - offsets[la]
    jb = edges[:, 1].astype(np.int64) - offsets[lb]
    return start[la, lb] + ia * np.asarray(sizes, dtype=np.int64)[lb] + jb


def _skip_pairs(
    graph: Graph, index: np.ndarray, pairs: frozenset[tuple[int, int]] | None = None
) -> np.ndarray:
    """Neuron pairs of the given linear candidate indices (inverse of `_skip_index`)."""
    sizes, offsets = graph.layer_sizes, graph.offsets
    blocks = _skip_blocks(graph, pairs)
    starts = np.array([s for _, _, s in blocks], dtype=np.int64)
    which = np.searchsorted(starts, index, side="right") - 1
    a = np.array([b[0] for b in blocks])[which]
    b = np.array([b[1] for b in blocks])[which]
    local = index - starts[which]
    size_b = np.asarray(sizes, dtype=np.int64)[b]
    return np.stack([offsets[a] + local // size_b, offsets[b] + local % size_b], axis=1)


def _sample_new_skip_edges(
    graph: Graph, k: int, rng: np.random.Generator, pairs: frozenset[tuple[int, int]] | None = None
) -> np.ndarray:
    """``k`` distinct unconnected layer-skipping pairs, uniformly without replacement;
    only between the layer ``pairs`` when given.

    Samples ranks among the free candidates and maps each rank to its linear index
    past the taken ones, so no list of all candidates is ever built.
    """
    taken = np.sort(_skip_index(graph, _skip_edges_in(graph, pairs), pairs))
    ranks = rng.choice(n_skip_candidates(graph, pairs), size=k, replace=False)
    # The r-th free index is r plus the number of taken indices t_m with t_m - m <= r.
    shifted = taken - np.arange(taken.shape[0], dtype=np.int64)
    index = ranks + np.searchsorted(shifted, ranks, side="right")
    return _skip_pairs(graph, index, pairs)


def _sample_reusing_removed(
    graph: Graph, removed: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """The new edges of the authors' code's rewiring, and how many of them restore a
    removed edge.

    The removed edges are visited in the code's order (lower triangle, row by row:
    by higher endpoint, then lower). Each is replaced by a pair drawn uniformly from a
    pool that starts as the unconnected layer-skipping pairs; a pair drawn leaves the
    pool, and the removed edge joins it after its own draw, so a later draw may
    restore it. The pool is a virtual array with swap-removal: O(1) per draw.
    """
    edges = graph.edges[removed].astype(np.int64)
    order = np.lexsort((edges[:, 0], edges[:, 1]))
    n_free = n_skip_candidates(graph)
    if n_free == 0 and edges.shape[0]:  # the first draw would have an empty pool
        raise ValueError(
            f"replacing {edges.shape[0]} edges with reuse_removed=True needs at least one unconnected "
            "layer-skipping candidate pair for the first replacement, but every pair of neurons two or "
            "more layers apart is already connected"
        )
    moved: dict[int, int] = {}  # virtual array of free-candidate ranks: position -> rank
    back: list[int] = []  # removed edges in the pool (rows of `edges`)
    ranks, restored = [], []
    for k in order:
        pick = int(rng.integers(n_free + len(back)))
        if pick < n_free:
            ranks.append(moved.get(pick, pick))
            n_free -= 1
            moved[pick] = moved.get(n_free, n_free)
        else:
            slot = pick - n_free
            restored.append(back[slot])
            back[slot] = back[-1]
            back.pop()
        back.append(int(k))
    taken = np.sort(_skip_index(graph, graph.edges[graph.kinds == SKIP]))
    r = np.asarray(ranks, dtype=np.int64)
    shifted = taken - np.arange(taken.shape[0], dtype=np.int64)
    new = _skip_pairs(graph, r + np.searchsorted(shifted, r, side="right"))
    return np.concatenate([new, edges[restored].reshape(-1, 2)]), len(restored)


def check_rewire(
    n: int | None = None, p: float | None = None, mode: str = "replace", reuse_removed: bool = False
) -> tuple[int | None, float | None]:
    """:func:`rewire`'s arguments checked: exactly one of ``n`` and ``p``; returns them
    as an int and a float (the other None)."""
    if (n is None) == (p is None):
        raise ValueError(f"give exactly one of n and p, got n={n!r} and p={p!r}")
    check_choice("mode", mode, MODES)
    check_bool("reuse_removed", reuse_removed)
    if reuse_removed and mode != "replace":
        raise ValueError(f"reuse_removed=True needs mode='replace' (edges to reuse), got mode={mode!r}")
    if n is not None:
        return check_int("n", n, low=0), None
    return None, check_real("p", p, "[0, 1]")


@graph_step(check=check_rewire)
def rewire(
    graph: Graph,
    *,
    n: int | None = None,
    p: float | None = None,
    mode: str = "replace",
    reuse_removed: bool = False,
    seed: int | np.random.Generator | None = None,
) -> Graph:
    """Watts-Strogatz-style rewiring with layer-skipping edges (paper 2.3, 4.3).

    With ``n`` (the paper's algorithm, footnote 2) exactly ``n`` distinct edges of
    ``graph`` are removed, chosen uniformly, and ``n`` distinct new edges added,
    chosen uniformly among the candidate pairs. With ``p`` (the original
    Watts-Strogatz algorithm, as in the authors' released code) every edge is
    replaced independently with probability ``p``. ``mode="add"`` adds the new
    edges without removing any (footnote 3): ``n`` of them, or Binomial(E, p).

    A candidate pair joins two neurons whose layers differ by at least 2 and that
    share no edge in ``graph``: so never a pair inside the input or the output
    layer, never a self-loop, never a duplicate. With ``reuse_removed`` (the
    authors' code) the removed edges are replaced one at a time, in the code's order,
    and each removed edge becomes a candidate for the later replacements, so some
    replacements restore a removed (e.g. adjacent-layer) edge.

    Parameters
    ----------
    graph : Graph
    n : int, optional
        Number of edges to replace (or add). Exactly one of ``n`` and ``p``.
    p : float, optional
        Per-edge probability in [0, 1].
    mode : {"replace", "add"}
    reuse_removed : bool
        Removed edges join the candidates (``mode="replace"`` only).
    seed : int, numpy.random.Generator or None
        The same seed gives the same graph.

    Returns
    -------
    Graph
        A new graph whose ``history`` ends with
        ``{"op": "rewire", "n": ..., "p": ..., "mode": ..., "seed": ...}``; ``n`` is
        the number of edges actually replaced (or added); with ``reuse_removed`` also
        ``"restored"``, how many replacements restored a removed edge.

    Examples
    --------
    >>> g = rewire(connect_within_layers(layered([6, 5, 5, 2])), n=10, seed=1)
    >>> g.kind_counts()["skip"], g.history[-1]["n"]
    (10, 10)
    """
    n, p = check_rewire(n, p, mode, reuse_removed)
    rng = check_random_state(seed)
    n_edges, n_candidates = graph.n_edges, n_skip_candidates(graph)
    remove = None
    if n is not None:
        if mode == "replace" and n > n_edges:
            raise ValueError(f"n={n} exceeds the {n_edges} edges of the graph that could be removed")
        if mode == "replace":
            remove = rng.choice(n_edges, size=n, replace=False)
    else:
        if mode == "replace":
            remove = np.flatnonzero(rng.random(n_edges) < p)
            n = int(remove.shape[0])
        else:
            n = int(rng.binomial(n_edges, p))
    restored = 0
    if reuse_removed:
        new, restored = _sample_reusing_removed(graph, remove, rng)
    elif n > n_candidates:
        raise ValueError(
            f"{n} new layer-skipping edges requested but only {n_candidates} unconnected candidate pairs exist"
        )
    else:
        new = _sample_new_skip_edges(graph, n, rng)
    keep = None
    if remove is not None:
        keep = np.ones(n_edges, dtype=bool)
        keep[remove] = False
    requested = "n" if p is None else "p"
    record = {
        "op": "rewire",
        "n": n,
        "p": replacements_to_p(n, n_edges) if p is None else p,
        "requested": requested,
        "mode": mode,
        "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
    }
    if reuse_removed:
        record["restored"] = restored
    return _combine(graph, new, keep, record)


#: Graph steps that replace (or add) ``n`` edges and record it as :func:`rewire` does;
#: :func:`rewiring` reads the last of them.
REWIRING_STEPS = ("rewire", "rewire_span", "rewire_ends", "rewire_within_layers")
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
    :func:`rewire` does with ``n``; the history record says what was done."""
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

    As :func:`rewire` with ``n``, but the new edges are drawn uniformly among the
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

    As :func:`rewire` with ``n``, but the new layer-skipping edges are drawn uniformly
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


def _check_kind(kind: int | str) -> int:
    if isinstance(kind, str):
        return KIND_NAMES.index(check_choice("kind", kind, KIND_NAMES))
    return check_int("kind", kind, low=0, high=len(KIND_NAMES) - 1)


def rewiring(graph: Graph) -> dict[str, int | float]:
    """What the graph's last rewiring (:data:`REWIRING_STEPS`) did (its history record): ``n_replaced``,
    the edges replaced (or added), and ``p``, the per-edge probability asked for or
    equivalent to that count (footnote 2); 0 and 0.0 for a graph never rewired.

    Examples
    --------
    >>> rewiring(rewire(layered([4, 3, 3, 2]), n=5, seed=0))["n_replaced"]
    5
    """
    done = [h for h in graph.history if h.get("op") in REWIRING_STEPS]
    return {"n_replaced": done[-1]["n"], "p": done[-1]["p"]} if done else {"n_replaced": 0, "p": 0.0}


@graph_step(check=_check_kind)
def without_kind(graph: Graph, kind: int | str) -> Graph:
    """A copy of ``graph`` with every edge of one kind removed.

    Used to drop the layer-skipping edges part-way through training (the paper's
    section 6 future work).

    Examples
    --------
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
