"""Execution plans of the relaxation: a graph compiled into plain arrays for the kernels.

:func:`compile_plan` turns a :class:`~smallworld_eqp.graph.layered.Graph` into a
:class:`Plan`, a named tuple of plain arrays that every kernel reads:

- the edges between two layers (adjacent pair, intra-layer, or a layer-skipping
  pair) that are dense enough (``numba_settings.DENSE_MIN_DENSITY``) become a dense matrix
  (zeros where an edge is missing) multiplied with BLAS. The dense blocks feeding one
  layer are laid side by side over consecutive layers, so e.g. the net input of a
  layer with intra edges is one GEMM ``[W_(l-1,l)^T | W_(l,l) | W_(l,l+1)] @
  s[layers l-1..l+1]``;
- the remaining edges (sparse skip edges, sparse blocks) form a CSR matrix whose
  inner loop runs over the examples of a chunk;
- the input layer is clamped, so its drive (input->first-hidden block, skip edges
  leaving the input) and the biases are summed once per phase.

All plan values live in one flat buffer ``vals``; :func:`.kernels.gather` refreshes it
from the per-edge weights (one scatter per batch, ``vals[pos] = weights[eid]``). A
solver that needs more than the shared plan compiles its own part here too
(:func:`compile_coord_plan`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from smallworld_eqp.graph.layered import Graph
from smallworld_eqp.numba_settings import DENSE_MIN_DENSITY


class Plan(NamedTuple):
    """Execution plan of the relaxation; see the module docstring.

    ``runs`` are the dense GEMMs: run ``r`` adds ``vals[run_ptr[r]:...]`` reshaped
    to ``(n_l, run_c1[r] - run_c0[r])`` times ``s[run_c0[r]:run_c1[r]]`` to the net
    input of layer ``run_layer[r]``; ``run_first[r]`` marks the first run of a layer
    (it overwrites instead of adding). ``in_ptr`` is where the dense input block
    ``(n_1, n_0)`` starts in ``vals`` (-1: the input edges are in the static CSR).
    ``d_*`` is the CSR over non-input neurons used every step, ``s_*`` the static
    CSR from input neurons (both: rows of all neurons, values at ``vals[*_ptr:]``;
    column indices unsigned, which spares numba's wrap-around of negative indices in
    the kernels' scattered loops).
    ``pos``/``eid`` scatter per-edge weights into ``vals`` (:func:`kernels.gather`).
    """

    off: np.ndarray
    vals: np.ndarray
    run_layer: np.ndarray
    run_c0: np.ndarray
    run_c1: np.ndarray
    run_ptr: np.ndarray
    run_first: np.ndarray
    layer_has_run: np.ndarray
    in_ptr: int
    d_indptr: np.ndarray
    d_cols: np.ndarray
    d_ptr: int
    s_indptr: np.ndarray
    s_cols: np.ndarray
    s_ptr: int
    pos: np.ndarray
    eid: np.ndarray
    max_layer: int


class CoordPlan(NamedTuple):
    """What the coordinate solver adds to a :class:`Plan`: ``intra[l]`` tells whether
    layer ``l`` has intra-layer edges (its neurons then update one by one, through
    this symmetric CSR over non-input neighbours, values gathered like the plan's:
    ``vals[pos] = weights[eid]``); other layers update as a block through the plan's
    GEMMs."""

    intra: np.ndarray
    indptr: np.ndarray
    cols: np.ndarray
    eid: np.ndarray
    pos: np.ndarray
    vals: np.ndarray


def _sub_csr(graph: Graph, keep) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries of ``graph.csr`` for which ``keep(row, col, edge_id)`` holds, as a
    CSR over all rows: ``(indptr, cols, edge_id)``, int64."""
    indptr, cols, eid = graph.csr
    rows = np.repeat(np.arange(graph.n_neurons, dtype=np.int64), np.diff(indptr))
    mask = keep(rows, cols, eid)
    new_indptr = np.zeros(graph.n_neurons + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[mask], minlength=graph.n_neurons), out=new_indptr[1:])
    return new_indptr, cols[mask].astype(np.int64), eid[mask].astype(np.int64)


def _dense_blocks(sz: np.ndarray, la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """Which blocks of edges between layers ``(l, m)`` are dense enough for BLAS, from
    the layer sizes ``sz`` and the layers ``la``, ``lb`` of each edge's ends.

    Returns
    -------
    dense : (n_layers, n_layers) bool array, symmetric
    """
    count = np.zeros((sz.shape[0], sz.shape[0]), dtype=np.int64)
    np.add.at(count, (la, lb), 1)
    count = count + np.triu(count, 1).T
    possible = np.outer(sz, sz) - np.diag(sz * (sz + 1) // 2)
    return (count > 0) & (count >= DENSE_MIN_DENSITY * possible)


def _dense_runs(dense: np.ndarray, off: np.ndarray, sz: np.ndarray) -> tuple[list, dict, int, int]:
    """The dense column segments feeding each non-input layer, merged into runs over
    consecutive layers (one GEMM each), laid out in ``vals`` from 0.

    Returns
    -------
    runs : list of ``(layer, c0, c1, ptr)``
    seg_start : dict ``(layer l, source layer m) -> (run ptr, run c0, run width)``
    in_ptr : int
        Start of the dense input block (-1: none).
    ptr : int
        The first free position of ``vals`` after the dense blocks.
    """
    n_layers = dense.shape[0]
    runs = []
    ptr = 0
    seg_start = {}
    for lay in range(1, n_layers):
        segs = [m for m in range(1, n_layers) if dense[lay, m]]
        groups = []
        for m in segs:
            if groups and groups[-1][-1] == m - 1:
                groups[-1].append(m)
            else:
                groups.append([m])
        for grp in groups:
            c0, c1 = int(off[grp[0]]), int(off[grp[-1] + 1])
            runs.append((lay, c0, c1, ptr))
            for m in grp:
                seg_start[(lay, m)] = (ptr, c0, c1 - c0)
            ptr += int(sz[lay]) * (c1 - c0)
    in_ptr = -1
    if dense[0, 1]:
        in_ptr = ptr
        ptr += int(sz[1] * sz[0])
    return runs, seg_start, in_ptr, ptr


def _dense_positions(
    seg_start: dict,
    in_ptr: int,
    edges: np.ndarray,
    la: np.ndarray,
    lb: np.ndarray,
    off: np.ndarray,
    sz: np.ndarray,
) -> tuple[list, list, np.ndarray]:
    """Dense positions of each edge in a dense block: (row neuron, column neuron) in
    its block.

    Returns
    -------
    pos_list, eid_list : lists of int64 arrays
        Positions in ``vals`` and the edge ids placed there, block by block.
    dense_edge : (n_edges,) bool array
        The edges placed in a dense block.
    """
    e_ids = np.arange(edges.shape[0], dtype=np.int64)
    pos_list, eid_list = [], []
    dense_edge = np.zeros(edges.shape[0], dtype=bool)
    for (lay, m), (rptr, c0, width) in seg_start.items():
        # Edges with an endpoint in layer `lay` (row) and the other in layer `m` (column).
        for row_end, col_end in ((0, 1), (1, 0)):
            rl = la if row_end == 0 else lb
            cl = lb if row_end == 0 else la
            sel = (rl == lay) & (cl == m)
            if not np.any(sel):
                continue
            r = edges[sel, row_end] - off[lay]
            c = edges[sel, col_end] - c0
            pos_list.append(rptr + r * width + c)
            eid_list.append(e_ids[sel])
            dense_edge |= sel
    if in_ptr >= 0:
        sel = (la == 0) & (lb == 1)
        pos_list.append(in_ptr + (edges[sel, 1] - off[1]) * sz[0] + edges[sel, 0])
        eid_list.append(e_ids[sel])
        dense_edge |= sel
    return pos_list, eid_list, dense_edge


def _run_flags(runs: list, n_layers: int) -> tuple[np.ndarray, np.ndarray]:
    """``(run_first, layer_has_run)`` of :class:`Plan` for ``runs``."""
    layer_has_run = np.zeros(n_layers, dtype=np.bool_)
    run_first = np.zeros(len(runs), dtype=np.bool_)
    for r, (lay, _, _, _) in enumerate(runs):
        run_first[r] = not layer_has_run[lay]
        layer_has_run[lay] = True
    return run_first, layer_has_run


def compile_plan(graph: Graph, dtype: np.dtype | str = np.float32) -> Plan:
    """Compile ``graph`` into a relaxation :class:`Plan` (values zero until :func:`gather`).

    Parameters
    ----------
    graph : Graph
    dtype : numpy dtype of the values (the model's float type)
    """
    sizes = graph.layer_sizes
    off = graph.offsets.astype(np.int64)
    edges = graph.edges.astype(np.int64)
    la, lb = graph.edge_layers[:, 0].astype(np.int64), graph.edge_layers[:, 1].astype(np.int64)
    sz = np.asarray(sizes, dtype=np.int64)
    runs, seg_start, in_ptr, ptr = _dense_runs(_dense_blocks(sz, la, lb), off, sz)
    pos_list, eid_list, dense_edge = _dense_positions(seg_start, in_ptr, edges, la, lb, off, sz)

    # Everything else goes to the CSRs (subsets of the graph's symmetric CSR): rows of
    # state neurons, columns from the input (static) or of state neurons (every step).
    n_in = int(sizes[0])
    sparse = ~dense_edge
    s_indptr, s_cols, s_ids = _sub_csr(graph, lambda r, c, e: (r >= n_in) & (c < n_in) & sparse[e])
    d_indptr, d_cols, d_ids = _sub_csr(graph, lambda r, c, e: (r >= n_in) & (c >= n_in) & sparse[e])
    d_ptr = ptr
    ptr += d_ids.shape[0]
    s_ptr = ptr
    ptr += s_ids.shape[0]
    pos_list += [d_ptr + np.arange(d_ids.shape[0]), s_ptr + np.arange(s_ids.shape[0])]
    eid_list += [d_ids, s_ids]

    pos = np.concatenate(pos_list).astype(np.int64)
    eid = np.concatenate(eid_list).astype(np.int64)
    order = np.argsort(pos, kind="stable")
    run_first, layer_has_run = _run_flags(runs, graph.n_layers)
    run_arr = np.array(runs, dtype=np.int64).reshape(-1, 4)
    return Plan(
        off=off,
        vals=np.zeros(ptr, dtype=dtype),
        run_layer=run_arr[:, 0].copy(),
        run_c0=run_arr[:, 1].copy(),
        run_c1=run_arr[:, 2].copy(),
        run_ptr=run_arr[:, 3].copy(),
        run_first=run_first,
        layer_has_run=layer_has_run,
        in_ptr=in_ptr,
        d_indptr=d_indptr,
        d_cols=d_cols.astype(np.uint32),
        d_ptr=d_ptr,
        s_indptr=s_indptr,
        s_cols=s_cols.astype(np.uint32),
        s_ptr=s_ptr,
        pos=pos[order],
        eid=eid[order],
        max_layer=int(sz.max()),
    )


def compile_coord_plan(graph: Graph, dtype: np.dtype | str = np.float32) -> CoordPlan:
    """The coordinate solver's extra plan for ``graph`` (values zero until gathered)."""
    n_in = graph.layer_sizes[0]
    indptr, cols, eid = _sub_csr(graph, lambda r, c, e: (r >= n_in) & (c >= n_in))
    intra = np.zeros(graph.n_layers, dtype=np.bool_)
    intra[graph.edge_layers[graph.edge_layers[:, 0] == graph.edge_layers[:, 1], 0]] = True
    return CoordPlan(
        intra=intra,
        indptr=indptr,
        cols=cols,
        eid=eid,
        pos=np.arange(cols.shape[0], dtype=np.int64),
        vals=np.zeros(cols.shape[0], dtype=dtype),
    )
