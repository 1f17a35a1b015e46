"""Numba kernels of equilibrium propagation: relaxation (eq. 9) and updates (eq. 7-8).

The kernels read an execution plan (:mod:`smallworld_eqp.engine.plan`): dense blocks
multiplied with BLAS, a CSR for the rest, the clamped input's drive summed once per
phase. :func:`relax` is the one public entry of the relaxation: it lays a batch out in
chunks, limits BLAS to one thread and runs a solver's parallel driver. A solver is
one entry of :data:`SOLVERS`: what it compiles beyond the shared plan, its driver,
and the forms of the clamped step it implements.

States are kept per chunk of examples as (neurons, examples) arrays, so a neuron's
values for the examples of a chunk are contiguous; chunks are padded to a multiple
of ``numba_settings.CHUNK_ALIGN`` examples. A batch is cut into ``numba_settings.BATCH_CHUNKS``
chunks by its size alone, and one parallel task relaxes one chunk for all steps (one
parallel region per phase, never one per step), with single-threaded BLAS inside
(two thread pools on two cores fight). Each example's arithmetic does not depend on
the thread count, so neither do results.

The Euler solver is event-driven (:func:`_euler_example`): it relaxes one example at
a time, keeps its net input and updates it with the changes of the neurons that moved
in a step only. After the first tens of steps most neurons sit clipped at 0 or 1 and
do not move (measured at initialisation: ~20% of them move in a step), so most of
the work of a full product disappears, exactly. The net inputs are kept in float64
whatever the states' dtype (a float32 step reads them rounded to float32): kept in
float32, adding each step's changes rounds them by an ulp of the net input, which
keeps a few neurons moving by an ulp, and most examples of a trained float32 network
never reach their fixed point.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np

# numba's np.dot calls the BLAS of scipy.linalg.cython_blas, loaded lazily on the first
# call. Loading it now lets threadpoolctl see (and limit) it before any kernel runs.
import scipy.linalg.cython_blas  # noqa: F401
from numba import prange
from threadpoolctl import ThreadpoolController

from smallworld_eqp.engine.plan import Plan, compile_coord_plan
from smallworld_eqp.numba_settings import BATCH_CHUNKS, CHUNK_ALIGN, JIT, JIT_PARALLEL

# Forms of the weakly-clamped Euler step (EqPropConfig.nudge): the gradient of F at the
# pre-step state (eq. 5, 9), or the authors' code's free step, then the nudge from the
# post-step output, then the clip.
GRADIENT, AFTER_STEP = 0, 1
NUDGES = {"gradient": GRADIENT, "after-step": AFTER_STEP}
# Edges per task of the weight update (a constant, so sums never depend on threads).
UPDATE_BLOCK = 8192
# Neurons per block of the coordinate solver's Gauss-Seidel over a dense intra block.
COORD_BLOCK = 16
# The Euler solver updates each neuron's net input with the changes of the neurons that
# moved, and recomputes it in full every this many steps to bound the rounding the
# differences carry. Measured when the net inputs were float32 (500 steps, paper-size
# networks, against a float64 reference): 16 and 64 give the full-recompute engine's
# error, never recomputing 2-4x more; a recompute costs about one step. The net inputs
# are float64 now and drift far less; the recompute stays, cheap, as the bound.
# (Kernel constants live here, not in _config: numba's cache keys compiled code on this
# file, so a change elsewhere would go unseen.)
RELAX_RECOMPUTE = 64


@numba.njit(**JIT_PARALLEL)
def _gather(weights, eid, pos, vals):
    for k in prange(pos.shape[0]):
        vals[pos[k]] = weights[eid[k]]


def gather(weights: np.ndarray, plan: NamedTuple) -> None:
    """Refresh a plan's values from the per-edge weights: ``vals[pos] = weights[eid]``.

    ``plan`` is a :class:`~smallworld_eqp.engine.plan.Plan` or a solver's own part of it.
    """
    _gather(weights, plan.eid, plan.pos, plan.vals)


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
def _clip01(v):
    # Written with comparisons (not min/max) so that NaN passes through.
    if v < 0.0:
        return 0.0
    if v > 1.0:
        return 1.0
    return v


@numba.njit(**JIT)
def _euler_flat(s, h, drive, ds, eps):
    """One Euler step of eq. 9 on flat arrays, ``s <- clip(s - eps (s - h - drive))``;
    ``ds`` receives the changes. 0-based loops with a select-style clip (NaN passes
    through) so that LLVM vectorises them."""
    e = s.dtype.type(eps)
    for q in range(s.shape[0]):
        v = s[q]
        u = v - e * (v - s.dtype.type(h[q]) - drive[q])
        u = s.dtype.type(0) if u < 0 else u
        u = s.dtype.type(1) if u > 1 else u
        ds[q] = u - v
        s[q] = u


@numba.njit(**JIT)
def _euler_flat_clamped(s, h, drive, ds, y, eps, kbeta, nudge):
    """As :func:`_euler_flat` for output neurons, with the clamped step ``nudge``: the
    cost's pull ``kbeta (s - y)`` in the gradient, or (the authors' code) the free step,
    then ``u += eps kbeta (y - u)`` from that post-step ``u``, then the clip."""
    e = s.dtype.type(eps)
    kb = s.dtype.type(kbeta)
    for q in range(s.shape[0]):
        v = s[q]
        if nudge == AFTER_STEP:
            u = v - e * (v - s.dtype.type(h[q]) - drive[q])
            u = u + e * kb * (y[q] - u)
        else:
            u = v - e * (v - s.dtype.type(h[q]) - drive[q] + kb * (v - y[q]))
        u = s.dtype.type(0) if u < 0 else u
        u = s.dtype.type(1) if u > 1 else u
        ds[q] = u - v
        s[q] = u


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
def _rows_add(m, a, idx, k0, k1, val, out):
    """``out += sum_k val[c] m[c - a]`` over the neurons ``c = idx[k]``, ``k0 <= k < k1``.

    Eight rows per pass over ``out``: one load and store of ``out`` per eight
    multiply-adds, so the loop runs at the rate of the loads of ``m`` (measured: about
    half the rate of a 16-column GEMM, against a third one row at a time; 15-20
    GMAC/s here, streaming rows from L2 or L3). The values are promoted to ``out``'s
    dtype first, so float32 rows sum exactly into a float64 ``out``.
    """
    w = out.shape[0]
    o = out.dtype.type
    k = k0
    while k + 8 <= k1:
        c0, c1, c2, c3 = idx[k], idx[k + 1], idx[k + 2], idx[k + 3]
        c4, c5, c6, c7 = idx[k + 4], idx[k + 5], idx[k + 6], idx[k + 7]
        r0, r1, r2, r3 = m[c0 - a], m[c1 - a], m[c2 - a], m[c3 - a]
        r4, r5, r6, r7 = m[c4 - a], m[c5 - a], m[c6 - a], m[c7 - a]
        v0, v1, v2, v3 = o(val[c0]), o(val[c1]), o(val[c2]), o(val[c3])
        v4, v5, v6, v7 = o(val[c4]), o(val[c5]), o(val[c6]), o(val[c7])
        for t in range(w):
            out[t] += (v0 * r0[t] + v1 * r1[t] + v2 * r2[t] + v3 * r3[t]) + (
                v4 * r4[t] + v5 * r5[t] + v6 * r6[t] + v7 * r7[t]
            )
        k += 8
    # The remaining 0-7 rows: four, two, then one at a time.
    if k + 4 <= k1:
        c0, c1, c2, c3 = idx[k], idx[k + 1], idx[k + 2], idx[k + 3]
        r0, r1, r2, r3 = m[c0 - a], m[c1 - a], m[c2 - a], m[c3 - a]
        v0, v1, v2, v3 = o(val[c0]), o(val[c1]), o(val[c2]), o(val[c3])
        for t in range(w):
            out[t] += (v0 * r0[t] + v1 * r1[t]) + (v2 * r2[t] + v3 * r3[t])
        k += 4
    if k + 2 <= k1:
        c0, c1 = idx[k], idx[k + 1]
        r0, r1 = m[c0 - a], m[c1 - a]
        v0, v1 = o(val[c0]), o(val[c1])
        for t in range(w):
            out[t] += v0 * r0[t] + v1 * r1[t]
        k += 2
    if k < k1:
        c0 = idx[k]
        r0 = m[c0 - a]
        v0 = o(val[c0])
        for t in range(w):
            out[t] += v0 * r0[t]


@numba.njit(**JIT)
def _dense_add(p, val, idx, lstart, out):
    """``out[t] += sum_c W_tc val[c]`` over the dense blocks, for the state neurons ``c``
    listed in ``idx`` (layer ``m``'s at ``idx[lstart[m]:lstart[m + 1]]``); returns the
    multiply-adds done.

    W is symmetric: the row of ``c`` in its own layer's runs holds its weights to every
    neuron those runs read (their columns), so its contribution is a few rows.
    """
    off = p.off
    macs = 0
    for r in range(p.run_layer.shape[0]):
        lay = p.run_layer[r]
        k0, k1 = lstart[lay], lstart[lay + 1]
        if k0 == k1:
            continue
        a, z = off[lay], off[lay + 1]
        c0, c1 = p.run_c0[r], p.run_c1[r]
        m = p.vals[p.run_ptr[r] : p.run_ptr[r] + (z - a) * (c1 - c0)].reshape(z - a, c1 - c0)
        _rows_add(m, a, idx, k0, k1, val, out[c0:c1])
        macs += (k1 - k0) * (c1 - c0)
    return macs


@numba.njit(**JIT)
def _sparse_add(p, val, idx, lstart, out):
    """As :func:`_dense_add` over the state CSR, which is symmetric: row ``c`` lists the
    neurons ``c`` feeds. Each row is read through 0-based views (measured: 0.7-1.4 ns
    an entry, against 1-1.6 indexing the whole arrays)."""
    d_vals = p.vals[p.d_ptr : p.d_ptr + p.d_indptr[out.shape[0]]]
    macs = 0
    for k in range(lstart[1], lstart[p.off.shape[0] - 1]):
        c = idx[k]
        v = out.dtype.type(val[c])
        q0, q1 = p.d_indptr[c], p.d_indptr[c + 1]
        cols, w = p.d_cols[q0:q1], d_vals[q0:q1]
        for q in range(q1 - q0):
            out[cols[q]] += w[q] * v
        macs += q1 - q0
    return macs


@numba.njit(**JIT)
def _list_nonzero(v, off, idx, lstart):
    """List the state neurons with ``v != 0`` in ``idx``, by layer (``lstart``); returns
    how many. A branch-free compaction (NaN counts as non-zero); loops run over 0-based
    views, as numba's wrap-around of negative indices otherwise stops LLVM optimising
    them."""
    k = np.uint64(0)  # unsigned: no wrap-around of a negative index in idx[k]
    lstart[0] = lstart[1] = 0
    for lay in range(1, off.shape[0] - 1):
        a = off[lay]
        vl = v[a : off[lay + 1]]
        for q in range(vl.shape[0]):
            idx[k] = a + q
            k += np.uint64(vl[q] != 0.0)
        lstart[lay + 1] = k
    return np.int64(k)


@numba.njit(**JIT)
def _max_abs(v):
    """max |v| (NaN ignored, as by ``max``)."""
    m = v.dtype.type(0)
    for q in range(v.shape[0]):
        m = max(m, abs(v[q]))
    return m


@numba.njit(**JIT)
def _net_input(p, s, h, idx, lstart, include_zeros):
    """``h = W s`` over the state neurons for one example; returns the multiply-adds.

    ``include_zeros``: multiply the zero states too, as a dense product does (at the
    start of a phase: an infinite weight times 0 is NaN, so divergence shows in the
    states); else skip them (a recompute within a phase, after that check).
    """
    off = p.off
    for i in range(off[1], s.shape[0]):
        h[i] = 0.0
    if include_zeros:
        lstart[0] = 0
        for lay in range(1, off.shape[0]):
            lstart[lay] = off[lay] - off[1]
        for k in range(s.shape[0] - off[1]):
            idx[k] = off[1] + k
    else:
        _list_nonzero(s, off, idx, lstart)
    return _dense_add(p, s, idx, lstart, h) + _sparse_add(p, s, idx, lstart, h)


@numba.njit(**JIT)
def _add_clear(h, dh):
    """``h += dh``, then ``dh = 0``."""
    for q in range(h.shape[0]):
        h[q] += dh[q]
        dh[q] = 0.0


@numba.njit(**JIT)
def _euler_example(p, s, drive, y, h, dh, ds, idx, lstart, eps, kbeta, nudge, n_steps, tol, trace):
    """Euler steps of eq. 9 for one example, event-driven; returns the steps used and
    the residual, max |ds| over the state neurons in the last step (0 at a fixed point).

    The net input ``h = W s`` is computed at the start (a full product), then updated
    with the changes only, ``h += W ds`` over the neurons that moved (a neuron clipped
    at 0 or 1 that stays clipped costs nothing). A step's changes are summed in ``dh``
    and added to ``h`` once, and ``h`` is recomputed every ``RELAX_RECOMPUTE`` steps
    (zero states skipped), to bound the rounding the differences carry.

    ``h`` is float64 for every dtype of the states (``dh``, a step's changes, is in
    the states' dtype: its rounding is relative to the changes, not to ``h``), and a
    float32 step reads ``h`` rounded to float32, so the step is the float32 arithmetic
    of eq. 9 on a net input closer to the exact ``W s``. Measured on
    ``authors-code-sw`` after 300 batches (400 examples, 1,000 free steps, from the
    states 1,000 steps reached): with a float32 ``h`` the rounding of every addition
    (and every recompute) moves a few neurons by an ulp, 61% of the examples never
    stop, and the phase uses 505 steps on average; with a float64 ``h`` every
    example settles, in 34 steps on average.

    Stops once max |ds| < ``tol``, or at a fixed point: a step in which nothing moved
    from a freshly recomputed ``h``, after which every further step would repeat it
    exactly. ``trace`` (``(n_steps, 2)`` or empty): per step, the neurons that moved
    and the multiply-adds done.
    """
    off = p.off
    n0, o0 = off[1], off[off.shape[0] - 2]
    macs = _net_input(p, s, h, idx, lstart, True)
    fresh = True  # h computed from s, no differences added since
    since = 0
    for t in range(n_steps):
        if since == RELAX_RECOMPUTE:
            macs += _net_input(p, s, h, idx, lstart, False)
            fresh = True
            since = 0
        _euler_flat(s[n0:o0], h[n0:o0], drive[n0:o0], ds[n0:o0], eps)
        _euler_flat_clamped(s[o0:], h[o0:], drive[o0:], ds[o0:], y, eps, kbeta, nudge)
        moved = _list_nonzero(ds, off, idx, lstart)
        since += 1
        if moved > 0:
            fresh = False
            macs += _dense_add(p, ds, idx, lstart, dh) + _sparse_add(p, ds, idx, lstart, dh)
            _add_clear(h[n0:], dh[n0:])
        if trace.shape[0] > 0:
            trace[t, 0] = moved
            trace[t, 1] = macs
        macs = 0
        if (tol >= 0.0 and _max_abs(ds[n0:]) < tol) or (moved == 0 and fresh):
            return t + 1, _max_abs(ds[n0:])
        if moved == 0:
            # Nothing moved, but h carries the rounding of the differences: recompute
            # it first; if still nothing moves, this is a fixed point.
            since = RELAX_RECOMPUTE
    return n_steps, _max_abs(ds[n0:])


@numba.njit(**JIT)
def _euler_chunk(S, Y, b, p, eps, kbeta, nudge, n_steps, tol, n_valid, steps, residual, trace):
    """Relax the valid examples of one chunk one after the other, each for all its
    steps (:func:`_euler_example`): an example's vectors stay in cache, and its
    arithmetic never depends on another example's."""
    n, cs = S.shape
    drive = np.empty_like(S)
    tmp = np.empty((p.max_layer, cs), dtype=S.dtype)
    _drive(S, drive, tmp, b, p)
    s, d = np.empty(n, dtype=S.dtype), np.empty(n, dtype=S.dtype)
    h, dh, ds = np.zeros(n, dtype=np.float64), np.zeros(n, dtype=S.dtype), np.zeros(n, dtype=S.dtype)
    y = np.empty(Y.shape[0], dtype=S.dtype)
    idx = np.empty(n, dtype=np.int64)
    lstart = np.zeros(p.off.shape[0], dtype=np.int64)
    for j in range(n_valid):
        for i in range(n):
            s[i] = S[i, j]
            d[i] = drive[i, j]
        for i in range(Y.shape[0]):
            y[i] = Y[i, j]
        steps[j], residual[j] = _euler_example(
            p, s, d, y, h, dh, ds, idx, lstart, eps, kbeta, nudge, n_steps, tol, trace[j]
        )
        for i in range(n):
            S[i, j] = s[i]


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
def _coord_work(p, cp):
    """Multiply-adds of one sweep of :func:`_coord_chunk` for one example."""
    off = p.off
    macs = 0
    for lay in range(1, off.shape[0] - 1):
        a, z = off[lay], off[lay + 1]
        blocked = _intra_run(p, lay) >= 0
        if cp.intra[lay] and not blocked:
            macs += cp.indptr[z] - cp.indptr[a]
            continue
        for r in range(p.run_layer.shape[0]):
            if p.run_layer[r] == lay:
                macs += (z - a) * (p.run_c1[r] - p.run_c0[r])
        macs += p.d_indptr[z] - p.d_indptr[a]
        if blocked:
            # The corrections inside each block, then the rest of the layer's.
            for b0 in range(0, z - a, COORD_BLOCK):
                nb = min(COORD_BLOCK, z - a - b0)
                macs += nb * (nb - 1) // 2 + (z - a - b0 - nb) * nb
    return macs


@numba.njit(**JIT)
def _coord_chunk(s, y, b, p, cp, kbeta, n_sweeps, tol, n_valid, steps, residual, trace):
    """Coordinate-descent sweeps: each neuron in index order set to its exact minimiser.

    A layer without intra-layer edges updates as a block (its neurons do not interact,
    so this equals updating them one by one) from one GEMM; a layer with a dense
    intra-layer block by :func:`_coord_layer_blocked`; a layer with sparse intra-layer
    edges neuron by neuron through the CSR. ``residual``: per example, the largest
    change of its last sweep. ``trace`` (``(examples, n_sweeps, 2)`` or with no
    sweeps): per example and sweep, neurons changed and multiply-adds done.
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
    tracing = trace.shape[1] > 0
    work = _coord_work(p, cp)
    before = np.empty_like(s) if tracing else np.empty((0, cs), dtype=s.dtype)
    for t in range(n_sweeps):
        if n_active == 0:
            break
        for j in range(cs):
            dmax[j] = 0.0
        if tracing:
            before[:] = s
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
        if tracing:
            for j in range(cs):
                if active[j]:
                    moved = 0
                    for i in range(off[1], n):
                        moved += s[i, j] != before[i, j]
                    trace[j, t, 0] = moved
                    trace[j, t, 1] = work
        for j in range(cs):
            if active[j]:
                residual[j] = dmax[j]
        n_active = _retire_settled(active, dmax, steps, t, tol)


class Phase(NamedTuple):
    """One relaxation phase, as the drivers read it.

    ``eps``: Euler step size. ``kbeta``: nudge factor times the signed beta (0 in the
    free phase). ``nudge``: :data:`GRADIENT` or :data:`AFTER_STEP`. ``n_steps``: step
    (sweep) budget; the Euler solver stops an example earlier at an exact fixed point
    (a step that moved nothing), which changes no result. ``tol``: stop an example
    once max |ds| < tol (< 0: never).
    """

    eps: float
    kbeta: float
    nudge: int
    n_steps: int
    tol: float


@numba.njit(**JIT_PARALLEL)
def _run_euler(S, Y, b, p, extra, phase, n_valid, steps, residual, trace):
    for c in prange(S.shape[0]):
        _euler_chunk(
            S[c],
            Y[c],
            b,
            p,
            phase.eps,
            phase.kbeta,
            phase.nudge,
            phase.n_steps,
            phase.tol,
            n_valid[c],
            steps[c],
            residual[c],
            trace[c],
        )


@numba.njit(**JIT_PARALLEL)
def _run_coordinate(S, Y, b, p, cp, phase, n_valid, steps, residual, trace):
    for c in prange(S.shape[0]):
        _coord_chunk(
            S[c],
            Y[c],
            b,
            p,
            cp,
            phase.kbeta,
            phase.n_steps,
            phase.tol,
            n_valid[c],
            steps[c],
            residual[c],
            trace[c],
        )


class Solver(NamedTuple):
    """A relaxation solver, one entry of :data:`SOLVERS`.

    ``compile(graph, dtype)`` builds what the solver reads beyond the shared
    :class:`~smallworld_eqp.engine.plan.Plan` (None: nothing; its values are refreshed by
    :func:`gather` like the plan's). ``run(S, Y, b, plan, extra, phase, n_valid,
    steps, residual, trace)`` is its parallel njit driver over the chunks; it writes the
    steps (sweeps) each example used to ``steps``, the largest state change of its last
    step (sweep) to ``residual`` and, when ``trace`` (chunks, examples, steps, 2) has
    steps, per example and step the state neurons that moved and the multiply-adds
    done. ``nudges``: the forms of the clamped step it implements (keys
    of :data:`NUDGES`).
    """

    compile: Callable | None
    run: Callable
    nudges: tuple[str, ...]


SOLVERS = {
    "euler": Solver(None, _run_euler, ("gradient", "after-step")),
    "coordinate": Solver(compile_coord_plan, _run_coordinate, ("gradient",)),
}


@functools.lru_cache(maxsize=1)
def _threadpools():
    return ThreadpoolController()  # scans the loaded libraries: once, on first use


def relax(
    solver: Solver,
    plan: Plan,
    extra: NamedTuple | None,
    biases: np.ndarray,
    x: np.ndarray,
    start: np.ndarray | None,
    y: np.ndarray | None,
    phase: Phase,
    trace: np.ndarray | None = None,
    residual: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Relax a batch: inputs clamped to ``x``, from ``start`` (None: zeros).

    Parameters
    ----------
    solver : Solver
        An entry of :data:`SOLVERS`; ``extra`` its compiled part (or None).
    plan : Plan
        The graph's plan, values gathered from the current weights.
    biases : ndarray (N,), the plan's dtype
    x : ndarray (batch, n_in); start : ndarray (batch, N) or None
        Input rows and start states (their input columns are ignored).
    y : ndarray (batch, n_out) or None
        Targets, read when ``phase.kbeta != 0``.
    phase : Phase
    trace : ndarray of int64 (batch, phase.n_steps, 2), optional
        Filled with, per example and step (sweep), the number of state neurons that
        moved and the multiply-adds the solver did; zeros after an example stopped.
    residual : ndarray of float64 (batch,), optional
        Filled with, per example, max |ds| over the state neurons in its last step
        (sweep): how far from a fixed point the phase ended (0 at an exact one).

    Returns
    -------
    states : ndarray (batch, N)
    steps : ndarray of int64 (batch,), steps (sweeps) each example used.
    """
    n_batch, n = x.shape[0], int(plan.off[-1])
    n_in, n_out = int(plan.off[1]), int(plan.off[-1] - plan.off[-2])
    dtype = plan.vals.dtype
    n_chunks = min(n_batch, BATCH_CHUNKS)
    cs = -(-n_batch // n_chunks)
    n_chunks = -(-n_batch // cs)
    # Each chunk is padded to a multiple of CHUNK_ALIGN examples (vector width).
    width = -(-cs // CHUNK_ALIGN) * CHUNK_ALIGN
    S = np.zeros((n_chunks, n, width), dtype=dtype)
    Y = np.zeros((n_chunks, n_out, width), dtype=dtype)
    n_valid = np.minimum(cs, n_batch - cs * np.arange(n_chunks)).astype(np.int64)
    for c in range(n_chunks):
        lo, hi = c * cs, c * cs + n_valid[c]
        S[c, :n_in, : n_valid[c]] = x[lo:hi].T
        if start is not None:
            S[c, n_in:, : n_valid[c]] = start[lo:hi, n_in:].T
        if y is not None:
            Y[c, :, : n_valid[c]] = y[lo:hi].T
    steps = np.zeros((n_chunks, width), dtype=np.int64)
    resid = np.zeros((n_chunks, width), dtype=np.float64)
    traced = np.zeros((n_chunks, width, phase.n_steps if trace is not None else 0, 2), dtype=np.int64)
    # One thread pool: BLAS runs single-threaded inside numba's parallel chunks.
    with _threadpools().limit(limits=1, user_api="blas"):
        solver.run(S, Y, biases, plan, extra, phase, n_valid, steps, resid, traced)
    if trace is not None:
        trace[...] = np.concatenate([traced[c, : n_valid[c]] for c in range(n_chunks)])
    if residual is not None:
        residual[...] = np.concatenate([resid[c, : n_valid[c]] for c in range(n_chunks)])
    states = np.concatenate([S[c, :, : n_valid[c]].T for c in range(n_chunks)])
    return states, np.concatenate([steps[c, : n_valid[c]] for c in range(n_chunks)])


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
