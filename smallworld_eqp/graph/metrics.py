"""Small-world metrics of layered networks (paper section 4.2, eq. 15-16).

The characteristic path length (eq. 15) and the clustering coefficient (eq. 16)
are computed over the whole undirected graph, input and output layers included,
by Numba kernels over the graph's symmetric CSR adjacency:

- path length by bit-parallel breadth-first search: 64 sources share one uint64
  word per neuron, so one pass over the CSR advances 64 searches by one level;
  batches of sources run in parallel and their integer sums are added after the
  loop, so the result is exact and does not depend on the thread count;
- clustering by triangle counting: with a bitset adjacency (one row of N/64 words
  per neuron) when it fits in memory, else by marking each neighbourhood in turn.

Both agree exactly with networkx's ``average_shortest_path_length`` and
``average_clustering``, at hundreds of times their speed.

Examples
--------
>>> from smallworld_eqp.graph import layered, metrics, rewiring
>>> g = rewiring.rewire(layered.connect_within_layers(layered.layered([6, 5, 5, 2])), n=10, seed=1)
>>> round(metrics.characteristic_path_length(g), 4), round(metrics.clustering_coefficient(g), 4)
(1.4575, 0.6569)
>>> metrics.hops_to_output(g).round(3)
array([1.667, 1.8  , 1.   , 0.   ])
"""

from __future__ import annotations

from collections.abc import Iterable

import numba
import numpy as np
from numba import prange
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh

from smallworld_eqp.graph.layered import SKIP, Graph, check_graph
from smallworld_eqp.numba_settings import JIT, JIT_PARALLEL
from smallworld_eqp.validate import check_real

# Above this the N x N/64 bitset adjacency is not built and clustering marks rows instead.
_BITSET_MAX_BYTES = 256 * 2**20
# At most this many 64-source words per breadth-first batch: more words reuse each
# pass over the CSR for more sources, fewer give the threads more batches to share.
_MAX_WORDS_PER_BATCH = 2


@numba.njit(inline="always", **JIT)
def _popcount(x):
    """Set bits of a uint64 (SWAR; LLVM turns it into a popcnt instruction)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(**JIT)
def _bfs_batch(indptr, indices, first, last, n_words):
    """Total hop distance from sources ``first:last`` to all neurons, and pairs reached.

    Bit ``k`` of ``visited[w, v]`` says whether source ``first + 64 w + k`` has
    reached neuron ``v``. Each level either pushes from the frontier along its edges
    or pulls into every unfinished neuron from its neighbours, whichever touches
    fewer CSR entries (direction-optimising search).
    """
    n = indptr.shape[0] - 1
    one = np.uint64(1)
    full = np.zeros(n_words, dtype=np.uint64)
    visited = np.zeros((n_words, n), dtype=np.uint64)
    frontier = np.zeros((n_words, n), dtype=np.uint64)
    nxt = np.zeros((n_words, n), dtype=np.uint64)
    push_cost = 0
    for s in range(first, last):
        w, bit = (s - first) >> 6, one << np.uint64((s - first) & 63)
        full[w] |= bit
        visited[w, s] |= bit
        frontier[w, s] |= bit
        push_cost += indptr[s + 1] - indptr[s]
    pull_cost = indptr[n]
    total = 0
    reached = 0
    depth = 0
    while True:
        depth += 1
        if push_cost < pull_cost:
            nxt[:] = 0
            for u in range(n):
                for w in range(n_words):
                    f = frontier[w, u]
                    if f != 0:
                        for k in range(indptr[u], indptr[u + 1]):
                            nxt[w, indices[k]] |= f
        else:
            for w in range(n_words):
                for v in range(n):
                    acc = np.uint64(0)
                    if visited[w, v] != full[w]:
                        for k in range(indptr[v], indptr[v + 1]):
                            acc |= frontier[w, indices[k]]
                    nxt[w, v] = acc
        new = 0
        push_cost = 0
        pull_cost = 0
        for v in range(n):
            grew = False
            done = True
            for w in range(n_words):
                x = nxt[w, v] & ~visited[w, v]
                frontier[w, v] = x
                if x != 0:
                    visited[w, v] |= x
                    new += _popcount(x)
                    grew = True
                if visited[w, v] != full[w]:
                    done = False
            degree = indptr[v + 1] - indptr[v]
            if grew:
                push_cost += degree
            if not done:
                pull_cost += degree
        if new == 0:
            return total, reached
        total += new * depth
        reached += new


@numba.njit(**JIT_PARALLEL)
def _distance_sums(indptr, indices, n_words):
    """Per batch of ``64 n_words`` sources: sum of hop distances and pairs reached.

    The only array work is inside the ``prange`` loop: every other array operation
    of a parallel function would launch a parallel region of its own.
    """
    n = indptr.shape[0] - 1
    per_batch = 64 * n_words
    n_batches = (n + per_batch - 1) // per_batch
    totals = np.empty(n_batches, dtype=np.int64)
    reached = np.empty(n_batches, dtype=np.int64)
    for b in prange(n_batches):
        first = b * per_batch
        last = min(n, first + per_batch)
        totals[b], reached[b] = _bfs_batch(indptr, indices, first, last, (last - first + 63) >> 6)
    return totals, reached


@numba.njit(**JIT)
def _bitset_rows(indptr, indices):
    """Adjacency as rows of bits, and the range of words each row has set."""
    n = indptr.shape[0] - 1
    rows = np.zeros((n, (n + 63) >> 6), dtype=np.uint64)
    # Columns are sorted, so a row's set words lie between its first and last neighbour.
    lo = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    for v in range(n):
        for k in range(indptr[v], indptr[v + 1]):
            u = indices[k]
            rows[v, u >> 6] |= np.uint64(1) << np.uint64(u & 63)
        if indptr[v + 1] > indptr[v]:
            lo[v] = indices[indptr[v]] >> 6
            hi[v] = (indices[indptr[v + 1] - 1] >> 6) + 1
    return rows, lo, hi


@numba.njit(**JIT_PARALLEL)
def _triangles_bitset(indptr, indices, rows, lo, hi):
    """Twice the number of triangles at every neuron, from a bitset adjacency."""
    n = indptr.shape[0] - 1
    twice = np.empty(n, dtype=np.int64)
    for v in prange(n):
        s = 0
        for k in range(indptr[v], indptr[v + 1]):
            u = indices[k]
            for w in range(max(lo[v], lo[u]), min(hi[v], hi[u])):
                s += _popcount(rows[v, w] & rows[u, w])
        twice[v] = s
    return twice


@numba.njit(**JIT_PARALLEL)
def _triangles_marked(indptr, indices, n_chunks):
    """Twice the number of triangles at every neuron, marking one neighbourhood at a time.

    Each chunk of neurons owns an N-byte marker array, so memory stays O(N) per thread.
    """
    n = indptr.shape[0] - 1
    twice = np.empty(n, dtype=np.int64)
    size = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        mark = np.zeros(n, dtype=np.uint8)
        for v in range(c * size, min(n, (c + 1) * size)):
            for k in range(indptr[v], indptr[v + 1]):
                mark[indices[k]] = 1
            s = np.int64(0)  # an int64 sum in plain Python too (an int plus a uint8 stays uint8)
            for k in range(indptr[v], indptr[v + 1]):
                u = indices[k]
                for m in range(indptr[u], indptr[u + 1]):
                    s += mark[indices[m]]
            for k in range(indptr[v], indptr[v + 1]):
                mark[indices[k]] = 0
            twice[v] = s
    return twice


@numba.njit(**JIT)
def _multi_source_bfs(indptr, indices, sources):
    """Hop distance of every neuron to the nearest source (-1 where none is reachable)
    and the number of shortest paths from it to the sources.

    Breadth-first, so every neuron at distance d is taken from the queue before any at
    d + 1 and its count is final by then: a neuron's count is the sum of the counts of
    its neighbours one hop nearer (Brandes 2001). Counts are float64: they multiply
    along the layers (10^9 on the paper's network) and are only used as logarithms.
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.float64)
    queue = np.empty(n, dtype=np.int64)
    tail = 0
    for s in sources:
        dist[s] = 0
        count[s] = 1.0
        queue[tail] = s
        tail += 1
    head = 0
    while head < tail:
        u = queue[head]
        head += 1
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            if dist[v] < 0:
                dist[v] = dist[u] + 1
                queue[tail] = v
                tail += 1
            if dist[v] == dist[u] + 1:
                count[v] += count[u]
    return dist, count


def _n_components(graph: Graph) -> int:
    return int(connected_components(graph.to_scipy(), directed=False)[0])


def characteristic_path_length(graph: Graph) -> float:
    """Characteristic path length L, the mean hop distance between neurons (eq. 15).

    ``L = 1 / (N (N - 1)) * sum_{i != j} l_ij`` over all ordered pairs of distinct
    neurons, where ``l_ij`` is the fewest edges joining ``i`` and ``j``. Equal to
    ``networkx.average_shortest_path_length(graph.to_networkx())``.

    Parameters
    ----------
    graph : Graph

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the graph is disconnected (some ``l_ij`` is infinite).

    Examples
    --------
    >>> from smallworld_eqp.graph import layered, rewiring
    >>> characteristic_path_length(layered.layered([2, 3, 2]))
    1.4285714285714286
    """
    check_graph(graph)
    indptr, indices, _ = graph.csr
    n = graph.n_neurons
    n_words = max(1, min(_MAX_WORDS_PER_BATCH, -(-n // 64) // (2 * numba.get_num_threads())))
    totals, reached = _distance_sums(indptr, indices, n_words)
    if reached.sum() != n * (n - 1):
        raise ValueError(
            f"the path length of a disconnected graph is infinite: this graph has {_n_components(graph)} connected components"
        )
    return int(totals.sum()) / (n * (n - 1))


def clustering_coefficient(graph: Graph) -> float:
    """Clustering coefficient C, the mean local clustering of the neurons (eq. 16).

    A neuron's local clustering is the fraction of pairs of its neighbours that
    share an edge, ``2 T_v / (d_v (d_v - 1))`` with ``T_v`` triangles at ``v`` and
    ``d_v`` neighbours; a neuron with fewer than two neighbours counts as 0. This is
    Watts and Strogatz's definition and equals
    ``networkx.average_clustering(graph.to_networkx())``; eq. 16 as printed divides
    by ``N_i`` instead of ``N_i (N_i - 1)``, which is not a fraction. Defined for
    disconnected graphs too.

    Parameters
    ----------
    graph : Graph

    Returns
    -------
    float

    Examples
    --------
    >>> from smallworld_eqp.graph import layered, rewiring
    >>> clustering_coefficient(layered.layered([2, 3, 2]))
    0.0
    >>> round(clustering_coefficient(layered.connect_within_layers(layered.layered([2, 3, 2]))), 4)
    0.8286
    """
    check_graph(graph)
    indptr, indices, _ = graph.csr
    n = graph.n_neurons
    if n * (-(-n // 64)) * 8 <= _BITSET_MAX_BYTES:
        twice = _triangles_bitset(indptr, indices, *_bitset_rows(indptr, indices))
    else:
        twice = _triangles_marked(indptr, indices, 8 * numba.get_num_threads())
    pairs = np.diff(indptr) * (np.diff(indptr) - 1)
    local = np.divide(twice, pairs, out=np.zeros(n), where=twice > 0)
    # Python's sum in neuron order, as networkx, so that the two agree to the last bit.
    return sum(local.tolist()) / n


def _to_output(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Every neuron's hop distance to the nearest output neuron and its number of
    shortest paths to the output layer; raises if some neuron cannot reach it."""
    indptr, indices, _ = graph.csr
    dist, count = _multi_source_bfs(indptr, indices, np.arange(graph.offsets[-2], graph.offsets[-1]))
    if np.any(dist < 0):
        v = int(np.argmax(dist < 0))
        raise ValueError(
            f"neuron {v} (layer {graph.layer_of[v]}) cannot reach the output layer: "
            f"this graph has {_n_components(graph)} connected components"
        )
    return dist, count


def _layer_means(graph: Graph, per_neuron: np.ndarray) -> np.ndarray:
    """The mean of a per-neuron value over each layer, input first."""
    return np.bincount(graph.layer_of, weights=per_neuron, minlength=graph.n_layers) / np.asarray(
        graph.layer_sizes
    )


def _hidden_mean(per_layer: np.ndarray) -> float:
    """The mean over the hidden layers (all but the first and the last) of a per-layer value."""
    return float(np.mean(per_layer[1:-1]))


def hops_to_output(graph: Graph) -> np.ndarray:
    """Mean hop distance of each layer's neurons to the nearest output neuron.

    The paper (section 5.1.2) argues that a layer's training rate depends on its
    path length to the output; layer-skipping edges shorten it.

    Parameters
    ----------
    graph : Graph

    Returns
    -------
    ndarray of float, shape (n_layers,)
        Input layer first; the output layer's entry is 0.

    Raises
    ------
    ValueError
        If some neuron cannot reach the output layer.

    Examples
    --------
    >>> from smallworld_eqp.graph import layered, rewiring
    >>> hops_to_output(layered.layered([2, 3, 3, 2]))
    array([3., 2., 1., 0.])
    """
    check_graph(graph)
    return _layer_means(graph, _to_output(graph)[0].astype(float))


def log_paths_to_output(graph: Graph) -> np.ndarray:
    """Mean over each layer's neurons of log10 of its number of shortest paths to the
    output layer: the parallel paths of the paper's second hypothesis (section 5.1.2).

    A neuron's count is that of the paths of the fewest hops from it to any output
    neuron (all of them when several output neurons are equally near); an output
    neuron has one, the empty path. In the plain layered network a neuron of layer l
    has ``prod(sizes[l + 1 : -1]) * sizes[-1]`` of them; a skip edge into a layer
    nearer the output shortens its neurons' paths, and leaves them fewer.

    Parameters
    ----------
    graph : Graph

    Returns
    -------
    ndarray of float, shape (n_layers,)
        Input layer first; the output layer's entry is 0.

    Raises
    ------
    ValueError
        If some neuron cannot reach the output layer.

    Examples
    --------
    >>> from smallworld_eqp.graph import layered, rewiring
    >>> log_paths_to_output(layered.layered([2, 3, 4, 10])).round(4)
    array([2.0792, 1.6021, 1.    , 0.    ])
    """
    check_graph(graph)
    return _layer_means(graph, np.log10(_to_output(graph)[1]))


#: Walks of length k count with weight (WALK_DECAY / lambda_max)^k (:func:`log_walks_to_output`).
WALK_DECAY = 0.5
_MAX_WALK_TERMS = 100_000


def log_walks_to_output(graph: Graph, decay: float = WALK_DECAY) -> np.ndarray:
    """Mean over each layer's neurons of log10 of its attenuation-weighted count of
    walks to the output layer, ``w = sum_{k >= 1} a^k A^k 1_out`` (Katz 1953).

    ``A`` is the adjacency matrix, ``1_out`` the indicator of the output neurons, so
    ``(A^k 1_out)_v`` counts the walks of ``k`` edges from ``v`` to an output neuron,
    and ``a = decay / lambda_max(A)`` is the per-hop attenuation. Walk counts grow
    like ``lambda_max^k``, so the series converges for ``decay < 1`` on any graph, and
    a walk one hop longer weighs ``decay`` times as much relative to that growth: the
    count rewards many parallel routes, long ones included, where
    :func:`log_paths_to_output` counts only the shortest. The sum is taken term by
    term until a term adds less than 1e-13 of the total (about 45 sparse products
    with the default decay 0.5).

    Parameters
    ----------
    graph : Graph
    decay : float
        In (0, 1); default :data:`WALK_DECAY`.

    Returns
    -------
    ndarray of float, shape (n_layers,)
        Input layer first.

    Raises
    ------
    ValueError
        If some neuron cannot reach the output layer (its count would be 0).

    Examples
    --------
    >>> from smallworld_eqp.graph import layered, rewiring
    >>> log_walks_to_output(layered.layered([2, 3, 3, 2])).round(3)
    array([-1.434, -0.97 , -0.54 , -1.005])
    """
    check_graph(graph)
    decay = check_real("decay", decay, "(0, 1)")
    _to_output(graph)  # refuses a neuron that cannot reach the output (it has no walks)
    adjacency = graph.to_scipy()
    # The largest eigenvalue, from a fixed positive start (it overlaps the Perron vector): reproducible.
    start = np.ones(graph.n_neurons)
    if graph.n_neurons > 2:
        lam = float(eigsh(adjacency, k=1, which="LA", v0=start, tol=1e-12)[0][0])
    else:  # ARPACK needs k < N: two neurons joined by one edge
        lam = float(np.linalg.eigvalsh(adjacency.toarray())[-1])
    a = decay / lam
    term = np.zeros(graph.n_neurons)
    term[graph.offsets[-2] :] = 1.0
    total = np.zeros(graph.n_neurons)
    # Terms shrink by about ``decay`` per product; the cap only guards against a wrong eigenvalue.
    for _ in range(_MAX_WALK_TERMS):
        term = a * (adjacency @ term)
        total += term
        if term.max() <= 1e-13 * total.min():
            return _layer_means(graph, np.log10(total))
    raise RuntimeError(
        f"the walk series did not converge in {_MAX_WALK_TERMS} terms (lambda_max = {lam:.6g} may be wrong)"
    )


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
