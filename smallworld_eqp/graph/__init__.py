"""The graph layer: layered edge lists, their builders, rewiring and designs, recipes, and their measures.

:mod:`.sizing` checks layer sizes, counts their edges and guards memory;
:mod:`.layered` holds the :class:`~smallworld_eqp.graph.layered.Graph`, the builders
of layered graphs and the registry of recipe steps (``graph_step``);
:mod:`.rewiring` the Watts-Strogatz-style rewiring (``rewire``); :mod:`.designs` the
rewiring steps that place the new edges by design (``DESIGNS``); :mod:`.recipes`
checks and follows recipes (``build``). :mod:`.metrics` computes path length and
clustering, :mod:`.to_output` each layer's hops, shortest paths and walks to the
output (both with numba kernels), and :mod:`.measures` registers the measures of a
results row (``SUMMARY``, ``PER_LAYER``). This layer may import NumPy, SciPy, pandas,
numba (metrics and to_output only) and the bottom layer (:mod:`smallworld_eqp.validate`,
:mod:`smallworld_eqp.numba_settings`, :mod:`smallworld_eqp.config`); never the
engine, the study or the plots.

The builder modules are loaded with the package, so that every recipe step is
registered (:data:`~smallworld_eqp.graph.layered.GRAPH_STEPS`) whichever is imported first.
"""

from smallworld_eqp.graph import designs, layered, rewiring  # noqa: F401  (the recipe steps register on import)
