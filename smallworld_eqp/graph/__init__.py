"""The graph layer: layered edge lists, their builders and rewiring, and their measures.

:mod:`.layered` holds the :class:`~smallworld_eqp.graph.layered.Graph` and the
builders of layered graphs and recipes; :mod:`.rewiring` the rewiring steps and
designs; :mod:`.metrics` path length, clustering and the other graph measures (numba
kernels). This layer may import NumPy, SciPy, numba (metrics only) and the bottom
layer (:mod:`smallworld_eqp.validate`, :mod:`smallworld_eqp.numba_settings`,
:mod:`smallworld_eqp.config`); never the engine, the study or the plots.

Both builder modules are loaded with the package, so that every recipe step is
registered (:data:`~smallworld_eqp.graph.layered.GRAPH_STEPS`) whichever is imported first.
"""

from smallworld_eqp.graph import layered, rewiring  # noqa: F401  (the recipe steps register on import)
