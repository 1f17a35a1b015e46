"""Sizing a layered network: its layer sizes checked, its edges counted, the memory it needs guarded.

:func:`check_layer_sizes` checks a network's layer sizes; :func:`edge_count` counts
the edges of :func:`~smallworld_eqp.graph.layered.layered` (and
:func:`~smallworld_eqp.graph.layered.connect_within_layers`) without building
anything; :func:`check_size` refuses a graph too big for this machine's memory before
anything is allocated.

Imports: NumPy and :mod:`smallworld_eqp.validate` only (no numba).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from smallworld_eqp.validate import check_bool, check_int

# Bytes an edge costs, peak, from building the graph to training on it (pairs, sort
# keys, kinds, CSR in both directions, weights, plan values): a refusal threshold only.
_BYTES_PER_EDGE = 100


def _memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_size(n_edges: int, what: str) -> None:
    """Refuse a graph of ``n_edges`` edges that would not fit in this machine's memory,
    with the estimate, before anything is allocated."""
    need = n_edges * _BYTES_PER_EDGE
    if need > _memory():
        raise ValueError(
            f"{what} has {n_edges:.3g} edges: about {need / 2**30:.3g} GiB to build and train, "
            f"more than this machine's {_memory() / 2**30:.3g} GiB of memory"
        )


def check_layer_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """Layer sizes as a tuple of ints: at least 3 layers, all positive."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
        raise TypeError(f"layer sizes must be a sequence of positive integers, got {sizes!r}")
    sizes = tuple(check_int("a layer size", s) for s in sizes)
    if len(sizes) < 3:
        raise ValueError(
            f"layer sizes {list(sizes)} give {len(sizes)} layers; at least 3 (input, hidden, output) are needed"
        )
    if any(s <= 0 for s in sizes):
        raise ValueError(f"layer sizes must be positive integers, got {list(sizes)}")
    return sizes


def _layered_edges(sizes: tuple[int, ...]) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _intra_edges(sizes: tuple[int, ...]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes[1:-1])


def edge_count(sizes: Sequence[int], intra: bool = False) -> int:
    """Edges of :func:`~smallworld_eqp.graph.layered.layered` ``(sizes)``, with every
    hidden layer intra-connected (:func:`~smallworld_eqp.graph.layered.connect_within_layers`)
    if ``intra``; computed, nothing is built.

    Examples
    --------
    >>> edge_count([784, 500, 500, 500, 10], intra=True)
    1271250
    """
    sizes = check_layer_sizes(sizes)
    return _layered_edges(sizes) + (_intra_edges(sizes) if check_bool("intra", intra) else 0)
