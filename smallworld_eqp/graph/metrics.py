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
``average_clustering``, at hundreds of times their speed. The measures of each
layer's way to the output are in :mod:`smallworld_eqp.graph.to_output`; those of a
results row in :mod:`smallworld_eqp.graph.measures`.

Imports: NumPy, SciPy, numba, :mod:`smallworld_eqp.numba_settings` and
:mod:`.layered` only.

Examples
--------
>>> from smallworld_eqp.graph import layered, metrics, rewiring
>>> g = rewiring.rewire(layered.connect_within_layers(layered.layered([6, 5, 5, 2])), n=10, seed=1)
>>> round(metrics.characteristic_path_length(g), 4), round(metrics.clustering_coefficient(g), 4)
(1.4575, 0.6569)
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange
from scipy.sparse.csgraph import connected_components

from smallworld_eqp.graph.layered import Graph, check_graph
from smallworld_eqp.numba_settings import JIT, JIT_PARALLEL

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
