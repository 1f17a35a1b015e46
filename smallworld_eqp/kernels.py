"""Numba kernels of equilibrium propagation: relaxation (eq. 9) and updates (eq. 7-8).

The graph stays an edge list (:class:`~smallworld_eqp.topology.Graph`). For the
relaxation :func:`compile_plan` turns it into an execution plan, a named tuple of
plain arrays that every kernel reads:

- the edges between two layers (adjacent pair, intra-layer, or a layer-skipping
  pair) that are dense enough (``_config.DENSE_MIN_DENSITY``) become a dense matrix
  (zeros where an edge is missing) multiplied with BLAS. The dense blocks feeding one
  layer are laid side by side over consecutive layers, so e.g. the net input of a
  layer with intra edges is one GEMM ``[W_(l-1,l)^T | W_(l,l) | W_(l,l+1)] @
  s[layers l-1..l+1]``;
- the remaining edges (sparse skip edges, sparse blocks) form a CSR matrix whose
  inner loop runs over the examples of a chunk;
- the input layer is clamped, so its drive (input->first-hidden block, skip edges
  leaving the input) and the biases are summed once per phase into ``drive``.

All plan values live in one flat buffer ``vals``; :func:`gather` refreshes it from
the per-edge weights (one scatter per batch, ``vals[pos] = weights[eid]``).

States are kept per chunk of examples as (neurons, examples) arrays, so a neuron's
values for the examples of a chunk are contiguous; chunks are padded to a multiple
of ``_config.CHUNK_ALIGN`` examples. A batch is cut into ``_config.BATCH_CHUNKS``
chunks by its size alone, and one parallel task relaxes one chunk for all steps (one
parallel region per phase, never one per step), with single-threaded BLAS inside
(the caller limits BLAS threads; two thread pools on two cores fight). Each
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
from .topology import Graph

EULER, COORDINATE = 0, 1
# Forms of the weakly-clamped Euler step (EqPropConfig.nudge): the gradient of F at the
# pre-step state (eq. 5, 9), or the authors' code's free step, then the nudge from the
# post-step output, then the clip.
GRADIENT, AFTER_STEP = 0, 1
# Edges per task of the weight update (a constant, so sums never depend on threads).
UPDATE_BLOCK = 8192
# Neurons per block of the coordinate solver's Gauss-Seidel over a dense intra block.
COORD_BLOCK = 16


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
    """What the coordinate solver adds to a :class:`Plan`: ``intra[l]`` tells whether
    layer ``l`` has intra-layer edges (its neurons then update one by one, through
    this symmetric CSR over non-input neighbours, values gathered from ``eid``);
    other layers update as a block through the plan's GEMMs."""

    intra: np.ndarray
    indptr: np.ndarray
    cols: np.ndarray
    eid: np.ndarray
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


def compile_plan(graph: Graph, dtype: np.dtype | str = np.float32) -> Plan:
    """Compile ``graph`` into a relaxation :class:`Plan` (values zero until :func:`gather`).

    Parameters
    ----------
    graph : Graph
    dtype : numpy dtype of the values (the model's float type)
    """
    sizes = graph.layer_sizes
    n_layers = graph.n_layers
    off = graph.offsets.astype(np.int64)
    edges = graph.edges.astype(np.int64)
    la, lb = graph.edge_layers[:, 0].astype(np.int64), graph.edge_layers[:, 1].astype(np.int64)
    e_ids = np.arange(graph.n_edges, dtype=np.int64)

    # Which blocks of edges between layers (l, m) are dense enough for BLAS.
    sz = np.asarray(sizes, dtype=np.int64)
    count = np.zeros((n_layers, n_layers), dtype=np.int64)
    np.add.at(count, (la, lb), 1)
    count = count + np.triu(count, 1).T
    possible = np.outer(sz, sz) - np.diag(sz * (sz + 1) // 2)
    dense = (count > 0) & (count >= DENSE_MIN_DENSITY * possible)

    # Dense column segments feeding each non-input layer, merged into runs over
    # consecutive layers (one GEMM each).
    runs = []  # (layer, c0, c1, ptr)
    ptr = 0
    seg_start = {}  # (layer l, source layer m) -> (run ptr, run c0, run width)
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
    """The coordinate solver's extra plan for ``graph`` (values zero until gathered)."""
    n_in = graph.layer_sizes[0]
    indptr, cols, eid = _sub_csr(graph, lambda r, c, e: (r >= n_in) & (c >= n_in))
    intra = np.zeros(graph.n_layers, dtype=np.bool_)
    intra[graph.edge_layers[graph.edge_layers[:, 0] == graph.edge_layers[:, 1], 0]] = True
    return CoordPlan(
        intra=intra, indptr=indptr, cols=cols, eid=eid, vals=np.zeros(cols.shape[0], dtype=dtype)
    )


def empty_coord_plan(dtype: np.dtype | str = np.float32) -> CoordPlan:
    """A placeholder :class:`CoordPlan` for the Euler solver (same numba type)."""
    z = np.zeros(1, dtype=np.int64)
    return CoordPlan(np.zeros(1, dtype=np.bool_), z, z, z, np.zeros(1, dtype=dtype))


@numba.njit(**JIT_PARALLEL)
def gather(weights: np.ndarray, eid: np.ndarray, pos: np.ndarray, vals: np.ndarray) -> None:
    """``vals[pos] = weights[eid]``: refresh plan values from per-edge weights."""
    for k in prange(pos.shape[0]):
        vals[pos[k]] = weights[eid[k]]


@numba.njit(**JIT)
def _csr_add(indptr, cols, vals, s, out, r0, r1):
    """``out[i] += sum_k vals[k] s[cols[k]]`` for rows ``r0 <= i < r1`` (all examples).

    The inner loop runs over the examples of the chunk; with their number padded to a
    multiple of 8 LLVM vectorises it (measured: 4 cycles per entry and 8 examples on
    16 examples, against 56 unpadded on 10).
    """
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
def _net_layer(s, net, tmp, p, lay):
    """``net[i] = sum_j W_ij s_j`` over non-input neurons ``j``, for ``i`` in layer ``lay``."""
    cs = s.shape[1]
    off = p.off
    a, z = off[lay], off[lay + 1]
    if not p.layer_has_run[lay]:
        for i in range(a, z):
            for j in range(cs):
                net[i, j] = 0.0
    for r in range(p.run_layer.shape[0]):
        if p.run_layer[r] != lay:
            continue
        c0, c1 = p.run_c0[r], p.run_c1[r]
        m = p.vals[p.run_ptr[r] : p.run_ptr[r] + (z - a) * (c1 - c0)].reshape(z - a, c1 - c0)
        if p.run_first[r]:
            np.dot(m, s[c0:c1], net[a:z])
        else:
            np.dot(m, s[c0:c1], tmp[: z - a])
            for i in range(z - a):
                for j in range(cs):
                    net[a + i, j] += tmp[i, j]
    nnz = p.d_indptr[s.shape[0]]
    _csr_add(p.d_indptr, p.d_cols, p.vals[p.d_ptr : p.d_ptr + nnz], s, net, a, z)


@numba.njit(**JIT)
def _net(s, net, tmp, p):
    """``net[i] = sum_j W_ij s_j`` over non-input neurons ``j``, for non-input ``i``."""
    for lay in range(1, p.off.shape[0] - 1):
        _net_layer(s, net, tmp, p, lay)


@numba.njit(**JIT)
def _clip01(v):
    # Written with comparisons (not min/max) so that NaN passes through.
    if v < 0.0:
        return 0.0
    if v > 1.0:
        return 1.0
    return v


@numba.njit(**JIT)
def _euler_flat(s, net, drive, eps):
    """One Euler step of eq. 9 on flat arrays: ``s <- clip(s - eps (s - net - drive))``.

    Written as 0-based loops with a select-style clip so LLVM vectorises it.
    """
    e = s.dtype.type(eps)
    for q in range(s.shape[0]):
        v = s[q]
        u = v - e * (v - net[q] - drive[q])
        u = s.dtype.type(0) if u < 0 else u
        s[q] = s.dtype.type(1) if u > 1 else u


@numba.njit(**JIT)
def _euler_flat_nudged(s, net, drive, y, eps, kbeta):
    """As :func:`_euler_flat` with the cost's pull ``kbeta (s - y)`` (output neurons)."""
    e = s.dtype.type(eps)
    kb = s.dtype.type(kbeta)
    for q in range(s.shape[0]):
        v = s[q]
        u = v - e * (v - net[q] - drive[q] + kb * (v - y[q]))
        u = s.dtype.type(0) if u < 0 else u
        s[q] = s.dtype.type(1) if u > 1 else u


@numba.njit(**JIT)
def _euler_flat_after_step(s, net, drive, y, eps, kbeta):
    """The authors' clamped step on output neurons: the free step without clipping,
    then ``u += eps kbeta (y - u)`` from that post-step ``u``, then the clip."""
    e = s.dtype.type(eps)
    kb = s.dtype.type(kbeta)
    for q in range(s.shape[0]):
        v = s[q]
        u = v - e * (v - net[q] - drive[q])
        u = u + e * kb * (y[q] - u)
        u = s.dtype.type(0) if u < 0 else u
        s[q] = s.dtype.type(1) if u > 1 else u


@numba.njit(**JIT)
def _start_active(active, steps, n_valid):
    """Mark the first ``n_valid`` examples of a chunk active (the rest is padding)."""
    for j in range(active.shape[0]):
        steps[j] = 0
        active[j] = j < n_valid
    return min(n_valid, active.shape[0])


@numba.njit(**JIT)
def _retire_settled(active, dmax, steps, t, tol):
    """Count step ``t`` for active examples, retire those that moved less than ``tol``."""
    n_active = 0
    for j in range(active.shape[0]):
        if active[j]:
            steps[j] = t + 1
            if dmax[j] < tol:
                active[j] = False
            else:
                n_active += 1
    return n_active


@numba.njit(**JIT)
def _euler_chunk(s, y, b, p, eps, kbeta, nudge, n_steps, tol, n_valid, steps):
    """Euler steps of eq. 9 on one chunk; example ``j`` stops once max|ds| < tol."""
    n, cs = s.shape
    n0, o0 = p.off[1], p.off[p.off.shape[0] - 2]
    net = np.empty_like(s)
    drive = np.empty_like(s)
    tmp = np.empty((p.max_layer, cs), dtype=s.dtype)
    _drive(s, drive, tmp, b, p)
    active = np.zeros(cs, dtype=np.bool_)
    dmax = np.zeros(cs, dtype=s.dtype)
    n_active = _start_active(active, steps, n_valid)
    if tol < 0.0:
        # Fixed step count: one flat, vectorisable pass per step (padding columns
        # relax too, harmlessly: they are never read back).
        for _ in range(n_steps):
            _net(s, net, tmp, p)
            sf, nf, df = s.reshape(-1), net.reshape(-1), drive.reshape(-1)
            _euler_flat(sf[n0 * cs : o0 * cs], nf[n0 * cs : o0 * cs], df[n0 * cs : o0 * cs], eps)
            if nudge == AFTER_STEP:
                _euler_flat_after_step(sf[o0 * cs :], nf[o0 * cs :], df[o0 * cs :], y.reshape(-1), eps, kbeta)
            else:
                _euler_flat_nudged(sf[o0 * cs :], nf[o0 * cs :], df[o0 * cs :], y.reshape(-1), eps, kbeta)
        for j in range(n_valid):
            steps[j] = n_steps
        return
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
                if i >= o0 and nudge == AFTER_STEP:
                    u = v - eps * g
                    nv = _clip01(u + eps * kbeta * (y[i - o0, j] - u))
                else:
                    if i >= o0:
                        g += kbeta * (v - y[i - o0, j])
                    nv = _clip01(v - eps * g)
                d = abs(nv - v)
                dmax[j] = max(dmax[j], d)
                s[i, j] = nv if active[j] else v
        n_active = _retire_settled(active, dmax, steps, t, tol)


@numba.njit(**JIT)
def _coord_output(v, yd, kbeta):
    """Minimiser over [0, 1] of (1 + kbeta)/2 y^2 - (v + kbeta yd) y (nudged output)."""
    a = 1.0 + kbeta
    c = v + kbeta * yd
    if a > 0.0:
        return _clip01(c / a)
    return 1.0 if 0.5 * a - c < 0.0 else 0.0


@numba.njit(**JIT)
def _coord_set(s, net, drive, y, kbeta, i, o0, active, dmax):
    """Set neuron ``i`` (all examples) to its minimiser given its net input."""
    for j in range(s.shape[1]):
        v = net[i, j] + drive[i, j]
        nv = _coord_output(v, y[i - o0, j], kbeta) if i >= o0 else _clip01(v)
        dmax[j] = max(dmax[j], abs(nv - s[i, j]))
        if active[j]:
            s[i, j] = nv


@numba.njit(**JIT)
def _intra_run(p, lay):
    """The run whose columns hold layer ``lay``'s own (dense intra-layer) block, or -1."""
    for r in range(p.run_layer.shape[0]):
        if p.run_layer[r] == lay and p.run_c0[r] <= p.off[lay] and p.off[lay + 1] <= p.run_c1[r]:
            return r
    return -1


@numba.njit(**JIT)
def _coord_layer_blocked(s, net, drive, y, kbeta, p, lay, r, o0, active, dmax, buf, delta, tmp):
    """Gauss-Seidel over a layer with a dense intra-layer block, exactly neuron by
    neuron but with most of the work in GEMMs: ``net`` holds the layer's net input from
    the states at the start of the layer; after each neuron changes by ``delta`` the
    rest of its block is corrected at once, and after each block of ``COORD_BLOCK``
    neurons the rest of the layer by one GEMM."""
    off = p.off
    a, z = off[lay], off[lay + 1]
    n_l, cs = z - a, s.shape[1]
    w = p.run_c1[r] - p.run_c0[r]
    q = a - p.run_c0[r]
    m = p.vals[p.run_ptr[r] : p.run_ptr[r] + n_l * w].reshape(n_l, w)
    for b0 in range(0, n_l, COORD_BLOCK):
        b1 = min(b0 + COORD_BLOCK, n_l)
        nb = b1 - b0
        for ii in range(b0, b1):
            i = a + ii
            for j in range(cs):
                delta[ii - b0, j] = -s[i, j]
            _coord_set(s, net, drive, y, kbeta, i, o0, active, dmax)
            for j in range(cs):
                # Inactive (converged or padding) examples are left unchanged: delta 0.
                delta[ii - b0, j] += s[i, j]
            for kk in range(ii + 1, b1):
                wv = m[kk, q + ii]
                for j in range(cs):
                    net[a + kk, j] += wv * delta[ii - b0, j]
        rest = n_l - b1
        if rest > 0:
            blk = buf[: rest * nb].reshape(rest, nb)
            for kk in range(rest):
                for t in range(nb):
                    blk[kk, t] = m[b1 + kk, q + b0 + t]
            np.dot(blk, delta[:nb], tmp[:rest])
            for kk in range(rest):
                for j in range(cs):
                    net[a + b1 + kk, j] += tmp[kk, j]


@numba.njit(**JIT)
def _coord_chunk(s, y, b, p, cp, kbeta, n_sweeps, tol, n_valid, steps):
    """Coordinate-descent sweeps: each neuron in index order set to its exact minimiser.

    A layer without intra-layer edges updates as a block (its neurons do not interact,
    so this equals updating them one by one) from one GEMM; a layer with a dense
    intra-layer block by :func:`_coord_layer_blocked`; a layer with sparse intra-layer
    edges neuron by neuron through the CSR.
    """
    n, cs = s.shape
    off = p.off
    o0 = off[off.shape[0] - 2]
    net = np.zeros_like(s)
    drive = np.empty_like(s)
    tmp = np.empty((p.max_layer, cs), dtype=s.dtype)
    _drive(s, drive, tmp, b, p)
    buf = np.empty(p.max_layer * COORD_BLOCK, dtype=s.dtype)
    delta = np.empty((COORD_BLOCK, cs), dtype=s.dtype)
    active = np.zeros(cs, dtype=np.bool_)
    dmax = np.zeros(cs, dtype=s.dtype)
    n_active = _start_active(active, steps, n_valid)
    for t in range(n_sweeps):
        if n_active == 0:
            break
        for j in range(cs):
            dmax[j] = 0.0
        for lay in range(1, off.shape[0] - 1):
            r = _intra_run(p, lay)
            if r >= 0:
                _net_layer(s, net, tmp, p, lay)
                _coord_layer_blocked(s, net, drive, y, kbeta, p, lay, r, o0, active, dmax, buf, delta, tmp)
            elif cp.intra[lay]:
                for i in range(off[lay], off[lay + 1]):
                    for j in range(cs):
                        net[i, j] = 0.0
                    _csr_add(cp.indptr, cp.cols, cp.vals, s, net, i, i + 1)
                    _coord_set(s, net, drive, y, kbeta, i, o0, active, dmax)
            else:
                _net_layer(s, net, tmp, p, lay)
                for i in range(off[lay], off[lay + 1]):
                    _coord_set(s, net, drive, y, kbeta, i, o0, active, dmax)
        n_active = _retire_settled(active, dmax, steps, t, tol)


@numba.njit(**JIT_PARALLEL)
def relax(S, Y, b, p, cp, solver, eps, kbeta, nudge, n_steps, tol, n_valid, steps):
    """Relax every chunk ``S[c]`` (neurons, examples) in place, one parallel task each.

    Parameters
    ----------
    S : (chunks, N, cs) states; input rows hold the clamped inputs.
    Y : (chunks, n_out, cs) targets (read only when ``kbeta != 0``).
    b : (N,) biases. p, cp : :class:`Plan`, :class:`CoordPlan`.
    solver : EULER or COORDINATE. eps : step size (Euler).
    kbeta : nudge_factor * beta (0 in the free phase).
    nudge : GRADIENT or AFTER_STEP, the form of the clamped Euler step (COORDINATE: GRADIENT).
    n_steps : step (sweep) budget. tol : stop an example once max|ds| < tol (< 0: never).
    n_valid : (chunks,) real examples per chunk (the rest is padding, left untouched).
    steps : (chunks, cs) output, steps used per example.
    """
    for c in prange(S.shape[0]):
        if solver == EULER:
            _euler_chunk(S[c], Y[c], b, p, eps, kbeta, nudge, n_steps, tol, n_valid[c], steps[c])
        else:
            _coord_chunk(S[c], Y[c], b, p, cp, kbeta, n_steps, tol, n_valid[c], steps[c])


@numba.njit(**JIT_PARALLEL)
def update_weights(edges, s0, sb, scale, group, n_groups, weights, dw):
    """Eq. 7 averaged over the batch: ``dw[e] = scale[e] * sum_k (sb_i sb_j - s0_i s0_j)``.

    ``s0``, ``sb``: (N, batch) free and clamped states; ``scale[e] = lr_e / (beta *
    batch)``. Adds ``dw`` to ``weights`` and returns the sum of ``dw**2`` per
    ``group[e]`` (float64). Each edge sums its batch in a fixed order, and the squares
    are summed over fixed blocks of edges, then over blocks in order: the result does
    not depend on the thread count.
    """
    n_edges, nb = edges.shape[0], s0.shape[1]
    n_blocks = (n_edges + UPDATE_BLOCK - 1) // UPDATE_BLOCK
    part = np.zeros((n_blocks, n_groups), dtype=np.float64)
    for blk in prange(n_blocks):
        for e in range(blk * UPDATE_BLOCK, min(n_edges, (blk + 1) * UPDATE_BLOCK)):
            i, j = edges[e, 0], edges[e, 1]
            acc = 0.0
            for k in range(nb):
                acc += np.float64(sb[i, k]) * sb[j, k] - np.float64(s0[i, k]) * s0[j, k]
            dw[e] = scale[e] * acc
            weights[e] += dw[e]
            v = np.float64(dw[e])
            part[blk, group[e]] += v * v
    sums = np.zeros(n_groups, dtype=np.float64)
    for blk in range(n_blocks):
        for g in range(n_groups):
            sums[g] += part[blk, g]
    return sums
