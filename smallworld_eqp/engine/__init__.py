"""The engine: the relaxation kernels (numba), the network that trains on a graph,
the exact gradient and the spread of the training rates.

:mod:`.plan` lays a graph out for the kernels, :mod:`.kernels` relaxes and updates
(``@njit``) with the solvers of :mod:`.euler` and :mod:`.coordinate`, which share
:mod:`.drive`; :mod:`.network` is the :class:`~smallworld_eqp.engine.network.EqPropNetwork`,
:mod:`.network_file` saves and loads it, :mod:`.batch` what a batch measures and keeps,
:mod:`.gradient` the exact gradient (SciPy), :mod:`.spread` the Spread measures (NumPy).
numba's cache (``cache=True``) checks only the file that defines a compiled function:
a compiled kernel's constants live in its own module, and a change to a kernel that
another module's kernels call (:mod:`.drive`) needs the cache cleared.
This layer may import the graph layer, the data sets and the bottom layer; never the
study, the plots or the command lines. Nothing is imported here: importing
:mod:`.spread` or :mod:`.batch` loads no numba.
"""
