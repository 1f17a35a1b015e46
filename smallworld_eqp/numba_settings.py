"""Numba settings and engine constants, in one place, and the deferred import of the
modules that load numba.

``FASTMATH`` names the LLVM fast-math flags the kernels may use. It deliberately
leaves out ``nnan`` and ``ninf`` (which ``fastmath=True`` would add) so that NaN
and infinity survive arithmetic and comparisons, and divergence stays detectable.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

# Keyword arguments of every serial kernel and of every parallel one.
JIT = {"cache": True, "fastmath": set(FASTMATH)}
JIT_PARALLEL = {"cache": True, "fastmath": set(FASTMATH), "parallel": True}

# A batch is relaxed as this many equal chunks of examples (the last padded), one
# parallel task each. The split depends on the batch size only, never on the thread
# count, so results are bitwise identical with 1 or many numba threads.
BATCH_CHUNKS = 2
# Chunks are padded to a multiple of this many examples: BLAS runs markedly faster on
# 16 columns than on 10, and the CSR kernel works on 8 examples per vector register.
CHUNK_ALIGN = 8

# The edges between two layers (adjacent, intra-layer or skipping) form a dense matrix
# multiplied by BLAS when at least this fraction of their possible pairs are edges,
# else they go to the CSR kernel. Measured here (16 examples per chunk): a CSR entry
# costs about as much as 9 dense-block entries; 10% dense skip blocks ran equally fast
# either way on 784-500x3-10, 3% and 3.5% dense ones 20-25% faster in the CSR. The
# event-driven Euler solver reads the same plan row by row, one example at a time: a
# CSR entry then costs 10-15 dense-row entries, and the balance is the same (all skip
# blocks dense: 6% faster on 784-500x3-10 with 8% replaced, 15% slower on 784-100x5-10
# with p = 0.1).
DENSE_MIN_DENSITY = 0.1


def numba_environment_error() -> str | None:
    """Why numba would refuse to start in this environment, or None.

    numba's import raises (a traceback) on ``NUMBA_NUM_THREADS`` set to an integer
    below 1 (it ignores a value that is no integer at all); the command lines check
    this first and say it in one line.
    """
    text = os.environ.get("NUMBA_NUM_THREADS")
    try:
        value = int(text) if text is not None else 1
    except ValueError:
        return None
    if value >= 1:
        return None
    return f"NUMBA_NUM_THREADS={text!r} in the environment: numba needs 1 or more threads; unset it or set it to 1 or more"


def deferred(name: str) -> types.ModuleType:
    """Module ``name``, executed at its first attribute access instead of now.

    The command lines and the plots name the numba-loading modules they use this way
    (the lazy import of the :mod:`importlib.util.LazyLoader` documentation): importing
    them loads no numba, so ``--help``, a bad flag or a bad ``NUMBA_NUM_THREADS``
    (:func:`numba_environment_error`, checked first by ``cli.run_main``) never do.

    Examples
    --------
    >>> execution = deferred("smallworld_eqp.study.execution")
    >>> callable(execution.run_sweep)  # imported here
    True
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
