"""The paper's figures as image files, drawn from the result CSVs and run folders.

================  ===============================================================
``fig1``          topology of a small network (paper Fig. 1), from a Graph
``fig2``          online training (solid) and test (dotted) error per epoch of several runs
``fig3``          smoothed per-layer-pair training rates (eq. 20-21), one panel per run
``fig4``          one-epoch error against the number of replaced connections
``fig4_epochs``   error after the last epoch and log-spread against p, sweeps of 1 and 10 epochs
``fig5``          mean weight change between every pair of layers, one panel per run
``fig_gradient``  the exact gradient beside EqProp's estimates per layer pair
``fig_studies``   outcome per study and rewiring, every seed a dot
================  ===============================================================

One module per figure family: :mod:`.style` (what every figure shares), :mod:`.runs`
(Fig. 2, 3, 5 from run folders), :mod:`.sweep` (Fig. 4 and the studies from sweep
CSVs), :mod:`.gradient` and :mod:`.graph` (Fig. 1). This layer may import matplotlib,
pandas, the results schema (:mod:`smallworld_eqp.study.schema`), the graph builders and
the bottom layer; it never imports numba (Fig. 5 of a run without
``weight_change.csv`` loads its checkpoint through the engine, only then).

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, so
drawing them never changes the pyplot backend of an interactive session.

Command line::

    python -m smallworld_eqp.plots fig4 data/results/sweep.csv --out fig4.png [--x p]
    python -m smallworld_eqp.plots fig4-epochs sweep.csv sweep_10ep.csv --out fig4_10ep.png
    python -m smallworld_eqp.plots fig2 data/results/runs/basic data/results/runs/ours --out fig2.png
    python -m smallworld_eqp.plots fig3 data/results/runs/* --out fig3.png --window 25
    python -m smallworld_eqp.plots fig1 --layers 6,5,5,5,3 --intra --replacements 10 --seed 0 --out fig1.png
    python -m smallworld_eqp.plots fig5 data/runs/authors-code-mlff data/runs/authors-code-sw --out fig5.png
"""

from smallworld_eqp.plots.gradient import ESTIMATOR_STYLE, fig_gradient, gradient_panels
from smallworld_eqp.plots.graph import fig1
from smallworld_eqp.plots.runs import fig2, fig3, fig5, layer_names, weight_change_matrix
from smallworld_eqp.plots.style import (
    FIGURE_SOURCE,
    ZeroLogAxes,
    check_figure_path,
    is_own_figure,
    new_figure,
    pair_labels,
    save_figure,
    zero_log_axes,
)
from smallworld_eqp.plots.sweep import (
    BANDS,
    STUDY_Y,
    X_CHOICES,
    X_LABELS,
    fig4,
    fig4_epochs,
    fig_studies,
    network_families,
    short_layers,
)

__all__ = [
    "BANDS",
    "ESTIMATOR_STYLE",
    "FIGURE_SOURCE",
    "STUDY_Y",
    "X_CHOICES",
    "X_LABELS",
    "ZeroLogAxes",
    "check_figure_path",
    "fig1",
    "fig2",
    "fig3",
    "fig4",
    "fig4_epochs",
    "fig5",
    "fig_gradient",
    "fig_studies",
    "gradient_panels",
    "is_own_figure",
    "layer_names",
    "network_families",
    "new_figure",
    "pair_labels",
    "save_figure",
    "short_layers",
    "weight_change_matrix",
    "zero_log_axes",
]
