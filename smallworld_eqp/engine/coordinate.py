"""The coordinate-descent solver: the ``coordinate`` entry of :data:`.kernels.SOLVERS`.

Each sweep sets every state neuron, in index order, to the exact minimiser of F in its
coordinate: ``clip(sum_j W_ij rho(s_j) + b_i)`` for a hidden neuron, the nudged
minimiser for an output (:func:`_coord_output`); the clamped step takes the gradient
form only. From the same start it may settle in another fixed point than the Euler
solver (E has many minima): an alternative dynamics, not a faster route to Euler's.
Beyond the shared plan it reads its own part,
:class:`~smallworld_eqp.engine.plan.CoordPlan`.

:func:`_run_coordinate` is the solver's parallel driver (one task per chunk of examples,
laid out by :func:`.kernels.relax`). This module may import numba, NumPy, :mod:`.drive`
and :mod:`smallworld_eqp.numba_settings`.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from smallworld_eqp.engine.drive import _csr_add, _drive
from smallworld_eqp.numba_settings import JIT, JIT_PARALLEL

# Neurons per block of the coordinate solver's Gauss-Seidel over a dense intra block.
COORD_BLOCK = 16


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
