"""The Euler solver of eq. 9, event-driven: the ``euler`` entry of :data:`.kernels.SOLVERS`.

The Euler solver is event-driven (:func:`_euler_example`): it relaxes one example at
a time, keeps its net input and updates it with the changes of the neurons that moved
in a step only. After the first tens of steps most neurons sit clipped at 0 or 1 and
do not move (measured at initialisation: ~20% of them move in a step), so most of
the work of a full product disappears, exactly. The net inputs are kept in float64
whatever the states' dtype (a float32 step reads them rounded to float32): kept in
float32, adding each step's changes rounds them by an ulp of the net input, which
keeps a few neurons moving by an ulp, and most examples of a trained float32 network
never reach their fixed point.

:func:`_run_euler` is the solver's parallel driver (one task per chunk of examples, laid
out by :func:`.kernels.relax`); :data:`GRADIENT` and :data:`AFTER_STEP` are the forms
of its clamped step (:data:`.kernels.NUDGES` names them). This module may import numba,
NumPy, :mod:`.drive` and :mod:`smallworld_eqp.numba_settings`.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from smallworld_eqp.engine.drive import _drive
from smallworld_eqp.numba_settings import JIT, JIT_PARALLEL

# Forms of the weakly-clamped Euler step (EqPropConfig.nudge): the gradient of F at the
# pre-step state (eq. 5, 9), or the authors' code's free step, then the nudge from the
# post-step output, then the clip.
GRADIENT, AFTER_STEP = 0, 1
# The Euler solver updates each neuron's net input with the changes of the neurons that
# moved, and recomputes it in full every this many steps to bound the rounding the
# differences carry. Measured when the net inputs were float32 (500 steps, paper-size
# networks, against a float64 reference): 16 and 64 give the full-recompute engine's
# error, never recomputing 2-4x more; a recompute costs about one step. The net inputs
# are float64 now and drift far less; the recompute stays, cheap, as the bound.
# (Kernel constants live in the module of the kernels that read them: numba's cache
# keys compiled code on that file, so a change elsewhere would go unseen.)
RELAX_RECOMPUTE = 64


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
