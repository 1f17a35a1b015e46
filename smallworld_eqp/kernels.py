"""Numba kernels of equilibrium propagation: relaxation (eq. 9) and updates (eq. 7-8).

The graph stays an edge list (:class:`~smallworld_eqp.topology.Graph`). For the
relaxation :func:`compile_plan` turns it into an execution plan, a named tuple of
plain arrays that every kernel reads:

- every adjacent-layer pair and every intra-layer block that is dense enough
  (``_config.DENSE_MIN_DENSITY``) becomes a dense matrix (zeros where an edge is
  missing) multiplied with BLAS. The blocks feeding one layer are laid side by side
  over consecutive layers, so the net input of a layer with intra edges is one
  GEMM ``[W_(l-1,l)^T | W_(l,l) | W_(l,l+1)] @ s[layers l-1..l+1]``;
- the remaining edges (layer-skipping ones, sparse blocks) form a CSR matrix whose
  inner loop runs over the examples of the batch;
- the input layer is clamped, so its drive (input->first-hidden block, skip edges
  leaving the input) and the biases are summed once per phase into ``drive``.

All plan values live in one flat buffer ``vals``; :func:`gather` refreshes it from
the per-edge weights after each update (one scatter per batch, ``vals[pos] =
weights[eid]``).

States are kept per chunk of examples as (neurons, examples) arrays, so a neuron's
values for the examples of a chunk are contiguous. A batch is cut into
``_config.BATCH_CHUNKS`` chunks by its size alone, and one parallel task relaxes one
chunk for all steps (one parallel region per phase, never one per step). Each
example's arithmetic does not depend on the thread count, so neither do results.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

# numba's np.dot calls the BLAS of scipy.linalg.cython_blas, loaded lazily on the first
# call. Loading it now lets threadpoolctl see (and limit) it before any kernel runs.
import scipy.linalg.cython_blas  # noqa: F401
from numba import prange

from ._config import DENSE_MIN_DENSITY, JIT, JIT_PARALLEL
from .topology import ADJACENT, INTRA, Graph

EULER, COORDINATE = 0, 1


class Plan(NamedTuple):
    """Execution plan of the relaxation; see the module docstring.

    ``runs`` are the dense GEMMs: run ``r`` adds ``vals[run_ptr[r]:...]`` reshaped
    to ``(n_l, run_c1[r] - run_c0[r])`` times ``s[run_c0[r]:run_c1[r]]`` to the net
    input of layer ``run_layer[r]``; ``run_first[r]`` marks the first run of a layer
    (it overwrites instead of adding). ``in_ptr`` is where the dense input block
    ``(n_1, n_0)`` starts in ``vals`` (-1: the input edges are in the static CSR).
    ``d_*`` is the CSR over non-input neurons used every step, ``s_*`` the static
    CSR from input neurons (both: rows of all neurons, values at ``vals[*_ptr:]``).
    ``pos``/``eid`` scatter per-edge weights into ``vals``.
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
    """Full symmetric CSR for the coordinate solver: row ``i`` holds its non-input
    neighbours at ``start[i]:indptr[i + 1]`` with values ``vals`` (gathered from
    ``eid``); input neighbours act through the plan's drive."""

    indptr: np.ndarray
    start: np.ndarray
    cols: np.ndarray
    eid: np.ndarray
    vals: np.ndarray


def _csr(rows: np.ndarray, cols: np.ndarray, ids: np.ndarray, n: int):
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols[order].astype(np.int64), ids[order].astype(np.int64)


def compile_plan(graph: Graph, dtype: np.dtype | str = np.float32) -> Plan:
    """Compile ``graph`` into a relaxation :class:`Plan` (values zero until :func:`gather`).

    Parameters
    ----------
    graph : Graph
    dtype : numpy dtype of the values (the model's float type)
    """
    sizes = graph.layer_sizes
    n_layers, n = graph.n_layers, graph.n_neurons
    off = graph.offsets.astype(np.int64)
    edges = graph.edges.astype(np.int64)
    la, lb = graph.edge_layers[:, 0].astype(np.int64), graph.edge_layers[:, 1].astype(np.int64)
    kinds = graph.kinds
    e_ids = np.arange(graph.n_edges, dtype=np.int64)

    # Which blocks are dense: adjacent pair (l, l+1) -> adj_dense[l]; intra layer l.
    adj_count = np.bincount(la[kinds == ADJACENT], minlength=n_layers)
    intra_count = np.bincount(la[kinds == INTRA], minlength=n_layers)
    sz = np.asarray(sizes, dtype=np.int64)
    adj_dense = np.zeros(n_layers, dtype=bool)
    adj_dense[:-1] = adj_count[:-1] >= DENSE_MIN_DENSITY * sz[:-1] * sz[1:]
    intra_dense = (intra_count > 0) & (intra_count >= DENSE_MIN_DENSITY * sz * (sz - 1) / 2)

    # Dense column segments feeding each non-input layer, merged into runs.
    runs = []  # (layer, c0, c1, ptr)
    ptr = 0
    seg_start = {}  # (layer l, source layer m) -> (run ptr, run c0, run width)
    for lay in range(1, n_layers):
        segs = []
        if lay - 1 >= 1 and adj_dense[lay - 1]:
            segs.append(lay - 1)
        if intra_dense[lay]:
            segs.append(lay)
        if lay + 1 < n_layers and adj_dense[lay]:
            segs.append(lay + 1)
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
    if adj_dense[0]:
        in_ptr = ptr
        ptr += int(sz[1] * sz[0])

    # Dense positions of each edge: (row neuron, column neuron) in its block.
    pos_list, eid_list = [], []
    dense_edge = np.zeros(graph.n_edges, dtype=bool)
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

    # Everything else goes to the CSRs: from the input (static) or between state neurons.
    sparse = ~dense_edge
    from_input = sparse & (la == 0)
    between = sparse & (la > 0)
    i, j = edges[:, 0], edges[:, 1]
    s_indptr, s_cols, s_ids = _csr(j[from_input], i[from_input], e_ids[from_input], n)
    rows = np.concatenate([i[between], j[between]])
    cols = np.concatenate([j[between], i[between]])
    d_indptr, d_cols, d_ids = _csr(rows, cols, np.concatenate([e_ids[between]] * 2), n)
    d_ptr = ptr
    ptr += d_ids.shape[0]
    s_ptr = ptr
    ptr += s_ids.shape[0]
    pos_list += [d_ptr + np.arange(d_ids.shape[0]), s_ptr + np.arange(s_ids.shape[0])]
    eid_list += [d_ids, s_ids]

    pos = np.concatenate(pos_list).astype(np.int64)
    eid = np.concatenate(eid_list).astype(np.int64)
    order = np.argsort(pos, kind="stable")
    layer_has_run = np.zeros(n_layers, dtype=np.bool_)
    run_first = np.zeros(len(runs), dtype=np.bool_)
    for r, (lay, _, _, _) in enumerate(runs):
        run_first[r] = not layer_has_run[lay]
        layer_has_run[lay] = True
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
        d_cols=d_cols,
        d_ptr=d_ptr,
        s_indptr=s_indptr,
        s_cols=s_cols,
        s_ptr=s_ptr,
        pos=pos[order],
        eid=eid[order],
        max_layer=int(sz.max()),
    )


def compile_coord_plan(graph: Graph, dtype: np.dtype | str = np.float32) -> CoordPlan:
    """Full symmetric CSR of ``graph`` for the coordinate solver (values zero until gathered)."""
    indptr, indices, edge_id = graph.csr
    n_in = graph.layer_sizes[0]
    # Columns are sorted within a row and inputs come first: skip past them.
    rows = np.repeat(np.arange(graph.n_neurons), np.diff(indptr))
    start = indptr[:-1] + np.bincount(rows[indices < n_in], minlength=graph.n_neurons)
    return CoordPlan(
        indptr=indptr.astype(np.int64),
        start=start,
        cols=indices.astype(np.int64),
        eid=edge_id.astype(np.int64),
        vals=np.zeros(indices.shape[0], dtype=dtype),
    )


def empty_coord_plan(dtype: np.dtype | str = np.float32) -> CoordPlan:
    """A placeholder :class:`CoordPlan` for the Euler solver (same numba type)."""
    z = np.zeros(1, dtype=np.int64)
    return CoordPlan(z, z, z, z, np.zeros(1, dtype=dtype))


@numba.njit(**JIT_PARALLEL)
def gather(weights: np.ndarray, eid: np.ndarray, pos: np.ndarray, vals: np.ndarray) -> None:
    """``vals[pos] = weights[eid]``: refresh plan values from per-edge weights."""
    for k in prange(pos.shape[0]):
        vals[pos[k]] = weights[eid[k]]


@numba.njit(**JIT)
def _csr_add(indptr, cols, vals, s, out, r0, r1):
    """``out[i] += sum_k vals[k] s[cols[k]]`` for rows ``r0 <= i < r1`` (all examples)."""
    cs = s.shape[1]
    for i in range(r0, r1):
        for k in range(indptr[i], indptr[i + 1]):
            w = vals[k]
            c = cols[k]
            for j in range(cs):
                out[i, j] += w * s[c, j]


@numba.njit(**JIT)
def _drive(s, drive, tmp, b, p):
    """Bias plus the clamped input layer's contribution, constant over a phase."""
    n, cs = s.shape
    n0 = p.off[1]
    for i in range(n0, n):
        for j in range(cs):
            drive[i, j] = b[i]
    if p.in_ptr >= 0:
        n1 = p.off[2] - n0
        m = p.vals[p.in_ptr : p.in_ptr + n1 * n0].reshape(n1, n0)
        np.dot(m, s[:n0], tmp[:n1])
        for i in range(n1):
            for j in range(cs):
                drive[n0 + i, j] += tmp[i, j]
    nnz = p.s_indptr[n]
    _csr_add(p.s_indptr, p.s_cols, p.vals[p.s_ptr : p.s_ptr + nnz], s, drive, n0, n)


@numba.njit(**JIT)
def _net(s, net, tmp, p):
    """``net[i] = sum_j W_ij s_j`` over non-input neurons ``j``, for non-input ``i``."""
    n, cs = s.shape
    off = p.off
    for lay in range(1, off.shape[0] - 1):
        if not p.layer_has_run[lay]:
            for i in range(off[lay], off[lay + 1]):
                for j in range(cs):
                    net[i, j] = 0.0
    for r in range(p.run_layer.shape[0]):
        lay = p.run_layer[r]
        a, z = off[lay], off[lay + 1]
        c0, c1 = p.run_c0[r], p.run_c1[r]
        m = p.vals[p.run_ptr[r] : p.run_ptr[r] + (z - a) * (c1 - c0)].reshape(z - a, c1 - c0)
        if p.run_first[r]:
            np.dot(m, s[c0:c1], net[a:z])
        else:
            np.dot(m, s[c0:c1], tmp[: z - a])
            for i in range(z - a):
                for j in range(cs):
                    net[a + i, j] += tmp[i, j]
    nnz = p.d_indptr[n]
    _csr_add(p.d_indptr, p.d_cols, p.vals[p.d_ptr : p.d_ptr + nnz], s, net, off[1], n)


@numba.njit(**JIT)
def _clip01(v):
    # Written with comparisons (not min/max) so that NaN passes through.
    if v < 0.0:
        return 0.0
    if v > 1.0:
        return 1.0
    return v


@numba.njit(**JIT)
def _euler_chunk(s, y, b, p, eps, kbeta, n_steps, tol, n_valid, steps):
    """Euler steps of eq. 9 on one chunk; example ``j`` stops once max|ds| < tol."""
    n, cs = s.shape
    n0, o0 = p.off[1], p.off[p.off.shape[0] - 2]
    net = np.empty_like(s)
    drive = np.empty_like(s)
    tmp = np.empty((p.max_layer, cs), dtype=s.dtype)
    _drive(s, drive, tmp, b, p)
    active = np.zeros(cs, dtype=np.bool_)
    dmax = np.zeros(cs, dtype=s.dtype)
    n_active = 0
    for j in range(cs):
        steps[j] = 0
        active[j] = j < n_valid
        n_active += active[j]
    for t in range(n_steps):
        if n_active == 0:
            break
        _net(s, net, tmp, p)
        for j in range(cs):
            dmax[j] = 0.0
        for i in range(n0, n):
            for j in range(cs):
                v = s[i, j]
                g = v - net[i, j] - drive[i, j]
                if i >= o0:
                    g += kbeta * (v - y[i - o0, j])
                nv = _clip01(v - eps * g)
                d = abs(nv - v)
                dmax[j] = max(dmax[j], d)
                s[i, j] = nv if active[j] else v
        n_active = 0
        for j in range(cs):
            if active[j]:
                steps[j] = t + 1
                if dmax[j] < tol:
                    active[j] = False
                else:
                    n_active += 1


@numba.njit(**JIT)
def _coord_output(v, yd, kbeta):
    """Minimiser over [0, 1] of (1 + kbeta)/2 y^2 - (v + kbeta yd) y (nudged output)."""
    a = 1.0 + kbeta
    c = v + kbeta * yd
    if a > 0.0:
        return _clip01(c / a)
    return 1.0 if 0.5 * a - c < 0.0 else 0.0


@numba.njit(**JIT)
def _coord_chunk(s, y, b, p, cp, kbeta, n_sweeps, tol, n_valid, steps):
    """Coordinate-descent sweeps: each neuron in index order set to its exact minimiser."""
    n, cs = s.shape
    n0, o0 = p.off[1], p.off[p.off.shape[0] - 2]
    drive = np.empty_like(s)
    tmp = np.empty((p.max_layer, cs), dtype=s.dtype)
    _drive(s, drive, tmp, b, p)
    v = np.empty(cs, dtype=s.dtype)
    active = np.zeros(cs, dtype=np.bool_)
    dmax = np.zeros(cs, dtype=s.dtype)
    n_active = 0
    for j in range(cs):
        steps[j] = 0
        active[j] = j < n_valid
        n_active += active[j]
    for t in range(n_sweeps):
        if n_active == 0:
            break
        for j in range(cs):
            dmax[j] = 0.0
        for i in range(n0, n):
            for j in range(cs):
                v[j] = drive[i, j]
            for k in range(cp.start[i], cp.indptr[i + 1]):
                w = cp.vals[k]
                c = cp.cols[k]
                for j in range(cs):
                    v[j] += w * s[c, j]
            for j in range(cs):
                if i >= o0:
                    nv = _coord_output(v[j], y[i - o0, j], kbeta)
                else:
                    nv = _clip01(v[j])
                dmax[j] = max(dmax[j], abs(nv - s[i, j]))
                if active[j]:
                    s[i, j] = nv
        n_active = 0
        for j in range(cs):
            if active[j]:
                steps[j] = t + 1
                if dmax[j] < tol:
                    active[j] = False
                else:
                    n_active += 1


@numba.njit(**JIT_PARALLEL)
def relax(S, Y, b, p, cp, solver, eps, kbeta, n_steps, tol, n_valid, steps):
    """Relax every chunk ``S[c]`` (neurons, examples) in place, one parallel task each.

    Parameters
    ----------
    S : (chunks, N, cs) states; input rows hold the clamped inputs.
    Y : (chunks, n_out, cs) targets (read only when ``kbeta != 0``).
    b : (N,) biases. p, cp : :class:`Plan`, :class:`CoordPlan`.
    solver : EULER or COORDINATE. eps : step size (Euler).
    kbeta : nudge_factor * beta (0 in the free phase).
    n_steps : step (sweep) budget. tol : stop an example once max|ds| < tol (< 0: never).
    n_valid : (chunks,) real examples per chunk (the rest is padding, left untouched).
    steps : (chunks, cs) output, steps used per example.
    """
    for c in prange(S.shape[0]):
        if solver == EULER:
            _euler_chunk(S[c], Y[c], b, p, eps, kbeta, n_steps, tol, n_valid[c], steps[c])
        else:
            _coord_chunk(S[c], Y[c], b, p, cp, kbeta, n_steps, tol, n_valid[c], steps[c])


@numba.njit(**JIT_PARALLEL)
def update_weights(edges, s0, sb, scale, weights, dw):
    """Eq. 7 averaged over the batch: ``dw[e] = scale[e] * sum_k (sb_i sb_j - s0_i s0_j)``.

    ``s0``, ``sb``: (N, batch) free and clamped states; ``scale[e] = lr_e / (beta *
    batch)``. Adds ``dw`` to ``weights``. Each edge sums its batch in a fixed order.
    """
    nb = s0.shape[1]
    for e in prange(edges.shape[0]):
        i, j = edges[e, 0], edges[e, 1]
        acc = 0.0
        for k in range(nb):
            acc += np.float64(sb[i, k]) * sb[j, k] - np.float64(s0[i, k]) * s0[j, k]
        dw[e] = scale[e] * acc
        weights[e] += dw[e]


@numba.njit(**JIT)
def group_sum_squares(values, group, n_groups):
    """Sum of ``values**2`` per group, in float64 and in edge order (deterministic)."""
    out = np.zeros(n_groups, dtype=np.float64)
    for e in range(values.shape[0]):
        v = np.float64(values[e])
        out[group[e]] += v * v
    return out
