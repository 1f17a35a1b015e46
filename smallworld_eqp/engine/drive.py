"""The drive of a relaxation phase, which every solver computes once per chunk.

The inputs are clamped, so their contribution to the net input stays constant over a
phase: :func:`_drive` sums the biases, the dense input block (one GEMM) and the static
CSR leaving the inputs, through :func:`_csr_add`, the CSR product over a chunk's
(neurons, examples) states, which the coordinate solver uses too. Both read a
:class:`~smallworld_eqp.engine.plan.Plan`.

This module may import numba, NumPy and :mod:`smallworld_eqp.numba_settings`; the
solvers' modules (:mod:`.euler`, :mod:`.coordinate`) import it. numba's cache checks
only the file that defines a compiled function, not the files of the functions it
calls: after editing a kernel here, clear the cache (``NUMBA_CACHE_DIR``, or the
``*.nbi`` and ``*.nbc`` files of ``engine/__pycache__``) so that the solvers' kernels
that call it compile again.
"""

from __future__ import annotations

import numba
import numpy as np

from smallworld_eqp.numba_settings import JIT


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
