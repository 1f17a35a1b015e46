"""Numba kernels of equilibrium propagation: relaxation (eq. 9) and updates (eq. 7-8).

The kernels read an execution plan (:mod:`smallworld_eqp.plan`): dense blocks
multiplied with BLAS, a CSR for the rest, the clamped input's drive summed once per
phase. :func:`relax` is the one public entry of the relaxation: it lays a batch out in
chunks, limits BLAS to one thread and runs a solver's parallel driver. A solver is
one entry of :data:`SOLVERS`: what it compiles beyond the shared plan, its driver,
and the forms of the clamped step it implements.

States are kept per chunk of examples as (neurons, examples) arrays, so a neuron's
values for the examples of a chunk are contiguous; chunks are padded to a multiple
of ``_config.CHUNK_ALIGN`` examples. A batch is cut into ``_config.BATCH_CHUNKS``
chunks by its size alone, and one parallel task relaxes one chunk for all steps (one
parallel region per phase, never one per step), with single-threaded BLAS inside
(two thread pools on two cores fight). Each example's arithmetic does not depend on
the thread count, so neither do results.
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

from ._config import BATCH_CHUNKS, CHUNK_ALIGN, JIT, JIT_PARALLEL
from .plan import Plan, compile_coord_plan

# Forms of the weakly-clamped Euler step (EqPropConfig.nudge): the gradient of F at the
# pre-step state (eq. 5, 9), or the authors' code's free step, then the nudge from the
# post-step output, then the clip.
GRADIENT, AFTER_STEP = 0, 1
NUDGES = {"gradient": GRADIENT, "after-step": AFTER_STEP}
# Edges per task of the weight update (a constant, so sums never depend on threads).
UPDATE_BLOCK = 8192
# Neurons per block of the coordinate solver's Gauss-Seidel over a dense intra block.
COORD_BLOCK = 16


@numba.njit(**JIT_PARALLEL)
def _gather(weights, eid, pos, vals):
    for k in prange(pos.shape[0]):
        vals[pos[k]] = weights[eid[k]]


def gather(weights: np.ndarray, plan: NamedTuple) -> None:
    """Refresh a plan's values from the per-edge weights: ``vals[pos] = weights[eid]``.

    ``plan`` is a :class:`~smallworld_eqp.plan.Plan` or a solver's own part of it.
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


class Phase(NamedTuple):
    """One relaxation phase, as the drivers read it.

    ``eps``: Euler step size. ``kbeta``: nudge factor times the signed beta (0 in the
    free phase). ``nudge``: :data:`GRADIENT` or :data:`AFTER_STEP`. ``n_steps``: step
    (sweep) budget. ``tol``: stop an example once max |ds| < tol (< 0: never).
    """

    eps: float
    kbeta: float
    nudge: int
    n_steps: int
    tol: float


@numba.njit(**JIT_PARALLEL)
def _run_euler(S, Y, b, p, extra, phase, n_valid, steps):
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
        )


@numba.njit(**JIT_PARALLEL)
def _run_coordinate(S, Y, b, p, cp, phase, n_valid, steps):
    for c in prange(S.shape[0]):
        _coord_chunk(S[c], Y[c], b, p, cp, phase.kbeta, phase.n_steps, phase.tol, n_valid[c], steps[c])


class Solver(NamedTuple):
    """A relaxation solver, one entry of :data:`SOLVERS`.

    ``compile(graph, dtype)`` builds what the solver reads beyond the shared
    :class:`~smallworld_eqp.plan.Plan` (None: nothing; its values are refreshed by
    :func:`gather` like the plan's). ``run(S, Y, b, plan, extra, phase, n_valid,
    steps)`` is its parallel njit driver over the chunks. ``nudges``: the forms of
    the clamped step it implements (keys of :data:`NUDGES`).
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
    from threadpoolctl import ThreadpoolController

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
    # One thread pool: BLAS runs single-threaded inside numba's parallel chunks.
    with _threadpools().limit(limits=1, user_api="blas"):
        solver.run(S, Y, biases, plan, extra, phase, n_valid, steps)
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
