"""Measures of each layer's way to the output layer (the paper's hypotheses, section 5.1.2).

Per layer, input first: :func:`hops_to_output`, the mean hop distance to the nearest
output neuron; :func:`log_paths_to_output`, the log number of shortest paths to the
output layer; :func:`log_walks_to_output`, the log attenuation-weighted number of
walks of every length to it. The first two come from one multi-source breadth-first
search from the output layer (a Numba kernel), the third from sparse products with
the adjacency matrix.

Imports: NumPy, SciPy, numba, :mod:`smallworld_eqp.numba_settings`,
:mod:`smallworld_eqp.validate`, :mod:`.layered` and :mod:`.metrics` only.

Examples
--------
>>> from smallworld_eqp.graph import layered, rewiring, to_output
>>> g = rewiring.rewire(layered.connect_within_layers(layered.layered([6, 5, 5, 2])), n=10, seed=1)
>>> to_output.hops_to_output(g).round(3)
array([1.667, 1.8  , 1.   , 0.   ])
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.sparse.linalg import eigsh

from smallworld_eqp.graph.layered import Graph, check_graph
from smallworld_eqp.graph.metrics import _n_components
from smallworld_eqp.numba_settings import JIT
from smallworld_eqp.validate import check_real


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
