"""Numba settings and engine constants, in one place.

``FASTMATH`` names the LLVM fast-math flags the kernels may use. It deliberately
leaves out ``nnan`` and ``ninf`` (which ``fastmath=True`` would add) so that NaN
and infinity survive arithmetic and comparisons, and divergence stays detectable.
"""

from __future__ import annotations

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

# Keyword arguments of every serial kernel and of every parallel one.
JIT = {"cache": True, "fastmath": set(FASTMATH)}
JIT_PARALLEL = {"cache": True, "fastmath": set(FASTMATH), "parallel": True}

# A batch is relaxed as this many equal chunks of examples (the last padded), one
# parallel task each. The split depends on the batch size only, never on the thread
# count, so results are bitwise identical with 1 or many numba threads.
BATCH_CHUNKS = 2

# A block of edges (adjacent-layer pair or intra-layer) is kept as a dense matrix
# multiplied by BLAS when at least this fraction of its possible edges exists;
# sparser blocks go to the CSR kernel.
DENSE_MIN_DENSITY = 0.25
