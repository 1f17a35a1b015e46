"""What training measures on a batch (:class:`BatchStats`), the states it keeps between
batches (:class:`Particles`) and the error of a diverged training (:class:`DivergenceError`).

NumPy only (no numba): the study layer and the command lines name these without
loading the kernels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


class DivergenceError(FloatingPointError):
    """States, weights or biases became NaN or infinite during training."""


@dataclass(frozen=True)
class BatchStats:
    """What training measured on one batch, or on many stacked (:meth:`stack`: every
    field then an array whose first axis is the batch).

    Attributes
    ----------
    error : online error, free-phase argmax against target argmax, before the update.
    cost : mean C (eq. 4) at the free state.
    rms : eq. 20 per adjacent pair (sum of squared corrections of the pair's existing
        edges over ``N_l N_(l+1)``), shape (n_pairs,).
    rms_edges : the same over the number of existing edges, (n_pairs,).
    rms_intra, rms_skip : over the intra-layer / layer-skipping edges (NaN if none).
    free_steps : most free-phase steps any example used.
    free_steps_mean, clamped_steps_mean : mean steps (sweeps) the examples used in the
        free and the clamped phase (fewer than the budget where an example reached a
        fixed point, or ``tol``).
    free_residual_mean, free_residual_max : mean and largest over the examples of max
        |s_next - s| in the last free step: how far from a fixed point the free phase
        ended (0 at an exact one).
    beta : the signed beta used.
    size : examples in the batch.
    """

    error: float | np.ndarray
    cost: float | np.ndarray
    rms: np.ndarray
    rms_edges: np.ndarray
    rms_intra: float | np.ndarray
    rms_skip: float | np.ndarray
    free_steps: int | np.ndarray
    free_steps_mean: float | np.ndarray
    clamped_steps_mean: float | np.ndarray
    free_residual_mean: float | np.ndarray
    free_residual_max: float | np.ndarray
    beta: float | np.ndarray
    size: int | np.ndarray

    @classmethod
    def stack(cls, batches: list[BatchStats]) -> BatchStats:
        """The batches' measurements as arrays, one row per batch."""
        return cls(
            **{f.name: np.asarray([getattr(b, f.name) for b in batches]) for f in dataclasses.fields(cls)}
        )

    @classmethod
    def concat(cls, stacks: list[BatchStats]) -> BatchStats:
        """Stacked measurements one after the other (the epochs of a run, say)."""
        return cls(
            **{f.name: np.concatenate([getattr(s, f.name) for s in stacks]) for f in dataclasses.fields(cls)}
        )


class Particles:
    """The last free state of every example seen, keyed by example index ("persistent
    particles"); an example not seen yet starts from zeros. Grows on demand.

    Parameters
    ----------
    width : int
        State neurons per example (all but the inputs).
    dtype : numpy dtype
    """

    def __init__(self, width: int, dtype: np.dtype) -> None:
        self.states = np.zeros((0, width), dtype=dtype)
        self.seen = np.zeros(0, dtype=bool)

    def _reserve(self, idx: np.ndarray) -> None:
        need = int(idx.max()) + 1 if idx.size else 0
        if need > self.seen.shape[0]:
            grow = max(need, 2 * self.seen.shape[0])
            states = np.zeros((grow, self.states.shape[1]), dtype=self.states.dtype)
            states[: self.states.shape[0]] = self.states
            seen = np.zeros(grow, dtype=bool)
            seen[: self.seen.shape[0]] = self.seen
            self.states, self.seen = states, seen

    def start(self, idx: np.ndarray) -> np.ndarray:
        """Start states (len(idx), width) of the examples ``idx``."""
        self._reserve(idx)
        return np.where(self.seen[idx, None], self.states[idx], 0)

    def store(self, idx: np.ndarray, states: np.ndarray) -> None:
        """Keep ``states`` (len(idx), width) as the examples' particles."""
        self._reserve(idx)
        self.states[idx] = states
        self.seen[idx] = True

    def copy(self) -> Particles:
        out = Particles(self.states.shape[1], self.states.dtype)
        out.states, out.seen = self.states.copy(), self.seen.copy()
        return out
