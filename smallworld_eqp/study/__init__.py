"""The study layer: trials declared as one spec, run in series, in processes or on
Dask, and their results written to and read from locked CSV logs.

:mod:`.spec` (a trial's settings and graph recipe), :mod:`.grid` (a sweep's ``--vary``
values and the trials of a study), :mod:`.presets` (named studies),
:mod:`.trial` (one trial on the engine), :mod:`.execution` (a sweep of trials),
:mod:`.training_runs` (one long training run in a folder), :mod:`.resultlog`
(append-only CSV logs), :mod:`.schema` (the results' columns and their loaders),
:mod:`.studies` (which rows form one study, settings apart from measures) and
:mod:`.spread_error` (how the log-spread tracks the error, per number of epochs).
This layer may import the engine, the graph layer, the data sets and the bottom
layer; never the plots or the command lines. :mod:`.spec`, :mod:`.grid`, :mod:`.presets`,
:mod:`.resultlog`, :mod:`.schema`, :mod:`.studies` and :mod:`.spread_error` import no numba: reading
results and planning a sweep never load the kernels. Nothing is imported here.
"""
