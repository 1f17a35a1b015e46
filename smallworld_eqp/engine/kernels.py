"""The engine's kernel entries: relax a batch (eq. 9), refresh the plan's weights, and
update the weights (eq. 7-8).

The kernels read an execution plan (:mod:`smallworld_eqp.engine.plan`): dense blocks
multiplied with BLAS, a CSR for the rest, the clamped input's drive summed once per
phase (:mod:`.drive`). :func:`relax` is the one public entry of the relaxation: it lays
a batch out in chunks, limits BLAS to one thread and runs a solver's parallel driver. A
solver is one entry of :data:`SOLVERS`: what it compiles beyond the shared plan, its
driver, and the forms of the clamped step it implements; each solver's kernels live in
a module of their own (:mod:`.euler`, :mod:`.coordinate`).

States are kept per chunk of examples as (neurons, examples) arrays, so a neuron's
values for the examples of a chunk are contiguous; chunks are padded to a multiple
of ``numba_settings.CHUNK_ALIGN`` examples. A batch is cut into ``numba_settings.BATCH_CHUNKS``
chunks by its size alone, and one parallel task relaxes one chunk for all steps (one
parallel region per phase, never one per step), with single-threaded BLAS inside
(two thread pools on two cores fight). Each example's arithmetic does not depend on
the thread count, so neither do results.

This module may import the plan, the solvers' modules, numba, NumPy, SciPy's BLAS,
threadpoolctl and :mod:`smallworld_eqp.numba_settings`; the network imports it.
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

from smallworld_eqp.engine.coordinate import _run_coordinate
from smallworld_eqp.engine.euler import AFTER_STEP, GRADIENT, _run_euler
from smallworld_eqp.engine.plan import Plan, compile_coord_plan
from smallworld_eqp.numba_settings import BATCH_CHUNKS, CHUNK_ALIGN, JIT_PARALLEL

# The forms of the weakly-clamped step by name (EqPropConfig.step_form), as the drivers
# read them (:mod:`.euler`).
NUDGES = {"gradient": GRADIENT, "after-step": AFTER_STEP}
# Edges per task of the weight update (a constant, so sums never depend on threads).
UPDATE_BLOCK = 8192


@numba.njit(**JIT_PARALLEL)
def _gather(weights, eid, pos, vals):
    for k in prange(pos.shape[0]):
        vals[pos[k]] = weights[eid[k]]


def gather(weights: np.ndarray, plan: NamedTuple) -> None:
    """Refresh a plan's values from the per-edge weights: ``vals[pos] = weights[eid]``.

    ``plan`` is a :class:`~smallworld_eqp.engine.plan.Plan` or a solver's own part of it.
    """
    _gather(weights, plan.eid, plan.pos, plan.vals)


class Phase(NamedTuple):
    """One relaxation phase, as the drivers read it.

    ``eps``: Euler step size. ``kbeta``: nudge factor times the signed beta (0 in the
    free phase). ``nudge``: a value of :data:`NUDGES`. ``n_steps``: step
    (sweep) budget; the Euler solver stops an example earlier at an exact fixed point
    (a step that moved nothing), which changes no result. ``tol``: stop an example
    once max |ds| < tol (< 0: never).
    """

    eps: float
    kbeta: float
    nudge: int
    n_steps: int
    tol: float


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
