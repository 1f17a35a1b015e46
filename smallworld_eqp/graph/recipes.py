"""Graph recipes: checking a recipe and building the graph it describes.

A recipe is a list of steps ``{"op": name, **arguments}``, the shape of
``Graph.history``: each names a builder registered as a recipe step
(:data:`~smallworld_eqp.graph.layered.GRAPH_STEPS`, by
:func:`~smallworld_eqp.graph.layered.graph_step`, in :mod:`.layered`, :mod:`.rewiring`
and :mod:`.designs`, all loaded with the package). :func:`check_recipe` refuses a
recipe that cannot be followed before anything is built; :func:`build` follows it.

Imports: NumPy, :mod:`smallworld_eqp.validate`, :mod:`.layered` and :mod:`.sizing` only
(no numba).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smallworld_eqp.graph.layered import _STEP_CHECKS, GRAPH_STEPS, Graph
from smallworld_eqp.graph.sizing import _intra_edges, _layered_edges, check_size
from smallworld_eqp.validate import check_choice, check_random_state


def check_recipe(recipe: Sequence[Mapping[str, Any]]) -> None:
    """Raise on a recipe that :func:`build` could not follow: an unknown step or
    argument, a step out of place, or a bad argument value (nothing is built)."""
    if not recipe:
        raise ValueError("a graph recipe needs at least one step (layered), got none")
    sizes: tuple[int, ...] = ()
    for k, step in enumerate(recipe):
        if not isinstance(step, Mapping):
            raise TypeError(f"a recipe step must be a mapping like {{'op': 'rewire', 'n': 10}}, got {step!r}")
        args = dict(step)
        op = check_choice("recipe step op", args.pop("op", None), sorted(GRAPH_STEPS))
        params = inspect.signature(GRAPH_STEPS[op]).parameters
        allowed = [p for p in params if p not in ("graph", "seed")]
        unknown = sorted(set(args) - set(allowed))
        if unknown:
            raise ValueError(
                f"recipe step {op!r} takes no argument {unknown[0]!r}; allowed: {', '.join(allowed)}"
            )
        first = "graph" not in params
        if first and k > 0:
            raise ValueError(
                f"recipe step {op!r} makes a graph: it can only be the first step, got it as step {k + 1}"
            )
        if not first and k == 0:
            raise ValueError(
                f"recipe step {op!r} changes a graph: it cannot be the first step (start with layered)"
            )
        if op in _STEP_CHECKS:
            checked = _STEP_CHECKS[op](**args)
            if k == 0:  # layered's check returns the sizes: checked once, here
                sizes = checked
    intra = any(step.get("op") == "connect_within_layers" for step in recipe)
    check_size(
        _layered_edges(sizes) + (_intra_edges(sizes) if intra else 0),
        f"the {'-'.join(map(str, sizes))} network",
    )


def build(
    recipe: Sequence[Mapping[str, Any]],
    seed: int | np.random.Generator | None = None,
    *,
    checked: bool = False,
) -> Graph:
    """Build a graph from a recipe: a list of steps ``{"op": name, **arguments}``.

    Parameters
    ----------
    recipe : sequence of mapping
        Steps in order, each naming a builder of :data:`GRAPH_STEPS`; the first
        one makes the graph (``layered``). Checked first (:func:`check_recipe`).
    seed : int, numpy.random.Generator or None
        One random stream, shared in order by the steps that take a ``seed``.
    checked : bool
        The recipe has passed :func:`check_recipe` already (a trial's, checked when
        its spec was made): not checked again. Each step still checks its own
        arguments.

    Examples
    --------
    >>> g = build([{"op": "layered", "sizes": [6, 5, 5, 2]}, {"op": "rewire", "n": 4}], seed=0)
    >>> g.kind_counts()
    {'adjacent': 61, 'intra': 0, 'skip': 4}
    """
    if not checked:
        check_recipe(recipe)
    rng = check_random_state(seed)
    graph = None
    for step in recipe:
        args = dict(step)
        builder = GRAPH_STEPS[args.pop("op")]
        if "seed" in inspect.signature(builder).parameters:
            args["seed"] = rng
        graph = builder(**args) if graph is None else builder(graph, **args)
    return graph
