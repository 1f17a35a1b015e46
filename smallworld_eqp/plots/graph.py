"""Fig. 1: the topology of a small network, drawn from a :class:`~smallworld_eqp.graph.layered.Graph`.

Imports: :mod:`.style` and :mod:`smallworld_eqp.graph.layered`; never numba.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from smallworld_eqp.graph import layered
from smallworld_eqp.plots.style import PathLike, new_figure, save_figure

KIND_STYLE = {  # colour and label of each edge kind in Fig. 1
    layered.ADJACENT: ("0.6", "adjacent-layer"),
    layered.INTRA: ("tab:green", "intra-layer"),
    layered.SKIP: ("tab:blue", "layer-skipping"),
}
MAX_FIG1_NEURONS = 300


def _curves(p0: np.ndarray, p1: np.ndarray, bend: np.ndarray, n: int = 16) -> np.ndarray:
    """Quadratic Bezier curves from ``p0`` to ``p1`` bowed sideways by ``bend`` x length."""
    d = p1 - p0
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    ctrl = (p0 + p1) / 2 + bend[:, None] * normal
    t = np.linspace(0.0, 1.0, n)[None, :, None]
    return (1 - t) ** 2 * p0[:, None] + 2 * (1 - t) * t * ctrl[:, None] + t**2 * p1[:, None]


def fig1(
    graph: layered.Graph,
    out: PathLike,
    *,
    before: layered.Graph | None = None,
    title: str | None = None,
) -> Path:
    """Drawing of a small network's topology, like the paper's Fig. 1.

    Neurons in columns by layer (input left); adjacent-layer edges grey,
    intra-layer green, layer-skipping blue (both drawn as arcs so they do not
    hide behind other edges). With ``before`` (the graph before rewiring), the
    edges it has and ``graph`` lacks are drawn red and dashed, as in Fig. 1b.

    Parameters
    ----------
    graph : smallworld_eqp.graph.layered.Graph
        At most 300 neurons.
    out : path-like
    before : Graph, optional
        Same layer sizes as ``graph``.
    title : str, optional

    Returns
    -------
    pathlib.Path
    """
    if graph.n_neurons > MAX_FIG1_NEURONS:
        raise ValueError(
            f"fig1 draws small networks of at most {MAX_FIG1_NEURONS} neurons, got {graph.n_neurons}"
        )
    if before is not None and before.layer_sizes != graph.layer_sizes:
        raise ValueError(f"before has layers {before.layer_sizes}, graph has {graph.layer_sizes}")
    sizes = np.asarray(graph.layer_sizes)
    within = np.arange(graph.n_neurons) - graph.offsets[graph.layer_of]
    # Columns 3 units apart, neurons 1 unit apart, each column centred on y = 0.
    pos = np.stack([3.0 * graph.layer_of, within - (sizes[graph.layer_of] - 1) / 2], axis=1).astype(float)
    fig = new_figure(1.0 + 1.6 * graph.n_layers, 2.0 + 0.4 * sizes.max())
    ax = fig.add_subplot()
    handles = []

    def draw(edges, kinds, color, **style):
        p0, p1 = pos[edges[:, 0]], pos[edges[:, 1]]
        straight = kinds == layered.ADJACENT
        # Intra edges bow out so they do not lie on their column; skip edges bow a little.
        bend = np.where(kinds == layered.INTRA, 0.3, 0.1)[~straight]
        segs = list(np.stack([p0[straight], p1[straight]], axis=1)) + list(
            _curves(p0[~straight], p1[~straight], bend)
        )
        ax.add_collection(LineCollection(segs, colors=color, **style))

    for kind, (color, name) in KIND_STYLE.items():
        mask = graph.kinds == kind
        adjacent = kind == layered.ADJACENT
        style = {
            "linewidths": 0.5 if adjacent else 0.9,
            "alpha": 0.5 if adjacent else 0.85,
            "zorder": 1 + kind,
        }
        draw(graph.edges[mask], graph.kinds[mask], color, **style)
        handles.append(Line2D([], [], color=color, label=f"{name} ({int(mask.sum())})"))
    if before is not None:
        n = graph.n_neurons
        now = graph.edges[:, 0].astype(np.int64) * n + graph.edges[:, 1]
        gone = ~np.isin(before.edges[:, 0].astype(np.int64) * n + before.edges[:, 1], now)
        draw(before.edges[gone], before.kinds[gone], "tab:red", linewidths=1.0, linestyles="--", zorder=5)
        handles.append(Line2D([], [], color="tab:red", linestyle="--", label=f"removed ({int(gone.sum())})"))
    ax.scatter(pos[:, 0], pos[:, 1], s=40, c="white", edgecolors="k", linewidths=0.8, zorder=10)
    names = ["input"] + [f"hidden {k}" for k in range(1, graph.n_layers - 1)] + ["output"]
    bottom = pos[:, 1].min() - 0.7
    for lay, (name, size) in enumerate(zip(names, sizes)):
        ax.text(3.0 * lay, bottom, f"{name}\n({size})", ha="center", va="top", fontsize="small")
    ax.set_xlim(-1.2, 3.0 * (graph.n_layers - 1) + 1.2)
    ax.set_ylim(bottom - 1.3, pos[:, 1].max() + 0.6)
    ax.set_axis_off()
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="small")
    default = f"{'-'.join(map(str, graph.layer_sizes))} network, {graph.n_edges} edges"
    skip = graph.kind_counts()["skip"]
    if skip:
        default += f", {skip} of them layer-skipping"
    fig.suptitle(title or default)
    return save_figure(fig, out)
