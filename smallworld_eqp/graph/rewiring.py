"""Rewiring of layered graphs: replacing or adding random layer-skipping edges.

:func:`rewire` replaces (or adds) ``n`` edges by random layer-skipping ones, as in
the paper (sections 4.1-4.3, footnotes 2 and 3), a recipe step
(:func:`~smallworld_eqp.graph.layered.graph_step`); :func:`replacements_to_p` and
:func:`p_to_replacements` convert between a count and a per-edge probability;
:func:`n_skip_candidates` and the samplers of new layer-skipping edges serve the
designs of :mod:`smallworld_eqp.graph.designs` too; :func:`rewiring` reads what a
graph's last rewiring did.

Imports: NumPy, :mod:`smallworld_eqp.validate` and :mod:`.layered` only (no numba).
"""

from __future__ import annotations

import numpy as np

from smallworld_eqp.graph.layered import SKIP, Graph, _combine, graph_step
from smallworld_eqp.validate import check_bool, check_choice, check_int, check_random_state, check_real

MODES = ("replace", "add")


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
    check_reuse(mode, check_bool("reuse_removed", reuse_removed))
    if n is not None:
        return check_int("n", n, low=0), None
    return None, check_real("p", p, "[0, 1]")


def check_reuse(mode: str = "replace", reuse_removed: bool = False) -> None:
    """Refuse ``reuse_removed`` without removed edges to reuse (``mode`` other than
    ``"replace"``); each value is checked on its own first (:func:`check_rewire`)."""
    if reuse_removed and mode != "replace":
        raise ValueError(f"reuse_removed=True needs mode='replace' (edges to reuse), got mode={mode!r}")


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
    >>> from smallworld_eqp.graph.layered import connect_within_layers, layered
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


#: Graph steps that replace (or add) ``n`` edges and record it as :func:`rewire` does
#: (the others are the designs' steps, :mod:`smallworld_eqp.graph.designs`);
#: :func:`rewiring` reads the last of them.
REWIRING_STEPS = ("rewire", "rewire_span", "rewire_ends", "rewire_within_layers")


def rewiring(graph: Graph) -> dict[str, int | float]:
    """What the graph's last rewiring (:data:`REWIRING_STEPS`) did (its history record): ``n_replaced``,
    the edges replaced (or added), and ``p``, the per-edge probability asked for or
    equivalent to that count (footnote 2); 0 and 0.0 for a graph never rewired.

    Examples
    --------
    >>> from smallworld_eqp.graph.layered import layered
    >>> rewiring(rewire(layered([4, 3, 3, 2]), n=5, seed=0))["n_replaced"]
    5
    """
    done = [h for h in graph.history if h.get("op") in REWIRING_STEPS]
    return {"n_replaced": done[-1]["n"], "p": done[-1]["p"]} if done else {"n_replaced": 0, "p": 0.0}
