"""Benchmark graph building and the small-world metrics against networkx and scipy.

Graphs (both intra-connected as in the paper's topology):

- ``paper``: 784-500-500-500-10, 8% of its edges replaced (``n = int(0.08 E)``, seed 0);
  scipy is the baseline (networkx would take many minutes here);
- ``nx``: 784-100-100-100-100-100-10 rewired with ``p = 0.1`` (seed 0), small enough
  for networkx; all three implementations run on it.

Baselines: networkx ``average_shortest_path_length``, ``average_clustering`` and a
multi-source BFS (``bfs_layers``); scipy ``csgraph.shortest_path`` (unweighted
Dijkstra from every neuron, or from the output neurons for hops), and for clustering
the sparse product formula ``2 T_v = ((A @ A) * A).sum(1)_v``. Our times are the best
of ``--repeat`` runs after a warm-up on a small graph; baselines run once. "equal"
means bitwise-equal values.

The parallel-path measures (``log_paths_to_output``, ``log_walks_to_output``) have no
baseline fast enough for these graphs (networkx would enumerate 10^9 paths); they are
checked against networkx and dense NumPy in ``tests/test_metrics.py`` and only timed
here, on both graphs; ``--parallel-paths-only`` times just them.

Run from the repository root with the package importable (``pip install -e .`` or
``PYTHONPATH=.``)::

    python benchmarks/bench_graph.py [--out benchmarks/results/bench_graph.json] [--parallel-paths-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numba
import numpy as np
import scipy
from scipy.sparse import csgraph

from smallworld_eqp.graph import layered, metrics, rewiring, to_output

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ("graph", "metric", "ours_s", "networkx_s", "scipy_s", "x_networkx", "x_scipy", "equal", "value")

# Child process that times the first calls into the metrics with an empty numba cache.
_COLD_COMPILE = """
import time
from smallworld_eqp.graph import layered, metrics, rewiring, to_output
g = rewiring.rewire(layered.connect_within_layers(layered.layered([20, 10, 10, 5])), n=30, seed=0)
g.csr
t = time.perf_counter()
metrics.characteristic_path_length(g), metrics.clustering_coefficient(g), to_output.hops_to_output(g)
print(time.perf_counter() - t)
"""


def timed(func, *args, repeat: int = 1):
    """(best time over ``repeat`` calls, value of the last call)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        value = func(*args)
        best = min(best, time.perf_counter() - t)
    return best, value


def cold_compile_seconds() -> float:
    """First-call time of the three metrics in a fresh process with an empty numba cache."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        out = subprocess.run(
            [sys.executable, "-c", _COLD_COMPILE], env=env, check=True, capture_output=True, text=True
        )
    return float(out.stdout.split()[-1])


# --- baselines ----------------------------------------------------------------------


def nx_hops(g: layered.Graph, G: nx.Graph) -> np.ndarray:
    dist = np.empty(g.n_neurons)
    for depth, layer in enumerate(nx.bfs_layers(G, range(g.offsets[-2], g.offsets[-1]))):
        dist[layer] = depth
    return np.bincount(g.layer_of, weights=dist) / np.asarray(g.layer_sizes)


def scipy_path_length(g: layered.Graph) -> float:
    dist = csgraph.shortest_path(g.to_scipy(), method="D", directed=False, unweighted=True)
    return float(dist.sum()) / (g.n_neurons * (g.n_neurons - 1))


def scipy_clustering(g: layered.Graph) -> float:
    a = g.to_scipy()
    twice = np.asarray((a @ a).multiply(a).sum(axis=1)).ravel()
    degree = np.diff(g.csr[0])
    local = np.divide(twice, degree * (degree - 1.0), out=np.zeros(g.n_neurons), where=twice > 0)
    return sum(local.tolist()) / g.n_neurons


def scipy_hops(g: layered.Graph) -> np.ndarray:
    outputs = np.arange(g.offsets[-2], g.offsets[-1])
    dist = csgraph.shortest_path(g.to_scipy(), method="D", directed=False, unweighted=True, indices=outputs)
    return np.bincount(g.layer_of, weights=dist.min(axis=0)) / np.asarray(g.layer_sizes)


# --- rows -----------------------------------------------------------------------------


def row(graph, metric, ours, value=None, networkx=None, scipy_s=None, equal=None) -> dict:
    return {
        "graph": graph,
        "metric": metric,
        "ours_s": ours,
        "networkx_s": networkx,
        "scipy_s": scipy_s,
        "x_networkx": networkx / ours if networkx is not None else None,
        "x_scipy": scipy_s / ours if scipy_s is not None else None,
        "equal": equal,
        "value": value,
    }


def same(*values) -> bool:
    return all(np.array_equal(np.asarray(values[0]), np.asarray(v)) for v in values[1:])


def short(value) -> str:
    if isinstance(value, np.ndarray):
        return "[" + " ".join(f"{x:.4g}" for x in value) + "]"
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def compare(name: str, g: layered.Graph, repeat: int, with_networkx: bool, with_scipy: bool) -> list[dict]:
    """Rows for clustering, path length and hops_to_output on one graph."""
    cases = [
        ("clustering", metrics.clustering_coefficient, nx.average_clustering, scipy_clustering),
        (
            "path_length",
            metrics.characteristic_path_length,
            nx.average_shortest_path_length,
            scipy_path_length,
        ),
        ("hops_to_output", to_output.hops_to_output, None, scipy_hops),
    ]
    G = g.to_networkx() if with_networkx else None
    rows = []
    for metric, ours, nx_func, sp_func in cases:
        t_ours, value = timed(ours, g, repeat=repeat)
        values, t_nx, t_sp = [value], None, None
        if with_networkx:
            t_nx, v = timed(nx_func, G) if nx_func else timed(nx_hops, g, G)
            values.append(v)
        if with_scipy:
            t_sp, v = timed(sp_func, g)
            values.append(v)
        equal = "yes" if same(*values) else "NO"
        rows.append(row(name, metric, t_ours, short(value), t_nx, t_sp, equal if len(values) > 1 else None))
        print(f"  {name} {metric}: done", flush=True)
    return rows


def parallel_paths(name: str, g: layered.Graph, repeat: int) -> list[dict]:
    """Rows timing the parallel-path measures on one graph (no baseline)."""
    rows = []
    for measure in (to_output.log_paths_to_output, to_output.log_walks_to_output):
        t, value = timed(measure, g, repeat=repeat)
        rows.append(row(name, measure.__name__, t, short(value)))
    return rows


def fmt(value, spec: str) -> str:
    width = int(spec.split(".")[0])
    return f"{'-':>{width}}" if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    header = f"{'graph':<6} {'metric':<22} {'ours_s':>9} {'networkx_s':>10} {'scipy_s':>9} {'x_nx':>8} {'x_scipy':>8} {'equal':>5}  value"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['graph']:<6} {r['metric']:<22} {fmt(r['ours_s'], '9.4f')} {fmt(r['networkx_s'], '10.3f')} "
            f"{fmt(r['scipy_s'], '9.3f')} {fmt(r['x_networkx'], '8.0f')} {fmt(r['x_scipy'], '8.0f')} "
            f"{r['equal'] or '-':>5}  {r['value'] or ''}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_graph.json", help="JSON file to write")
    parser.add_argument("--repeat", type=int, default=5, help="runs of our functions (best is kept)")
    parser.add_argument(
        "--parallel-paths-only", action="store_true", help="time only the parallel-path measures"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    if args.parallel_paths_only:
        to_output.log_paths_to_output(layered.layered([3, 3, 3]))  # compiled outside the timed calls
        sizes = [784, 500, 500, 500, 10]
        base = layered.connect_within_layers(layered.layered(sizes))
        paper = rewiring.rewire(base, n=int(0.08 * base.n_edges), seed=0)
        _ = paper.csr
        rows = parallel_paths("paper", paper, args.repeat)
        print(f"paper: {paper}")
        print_table(rows)
        return

    rows = []
    print("timing first calls with an empty numba cache (child process) ...", flush=True)
    rows.append(row("small", "compile (empty cache)", cold_compile_seconds()))
    small = rewiring.rewire(layered.connect_within_layers(layered.layered([20, 10, 10, 5])), n=30, seed=0)
    _ = small.csr  # built outside the timed calls
    t, _ = timed(lambda: (metrics.characteristic_path_length(small), metrics.clustering_coefficient(small)))
    t_hops, _ = timed(to_output.hops_to_output, small)
    rows.append(row("small", "first call (this run)", t + t_hops))

    print("building the paper network ...", flush=True)
    sizes = [784, 500, 500, 500, 10]
    t_build, base = timed(lambda: layered.connect_within_layers(layered.layered(sizes)), repeat=args.repeat)
    n = int(0.08 * base.n_edges)
    t_rewire, paper = timed(lambda: rewiring.rewire(base, n=n, seed=0), repeat=args.repeat)
    t_csr, _ = timed(
        lambda: layered.Graph(paper.layer_sizes, paper.edges, paper.kinds).csr, repeat=args.repeat
    )
    _ = paper.csr
    rows.append(row("paper", "build (layered+intra)", t_build, f"E={base.n_edges}"))
    rows.append(row("paper", "rewire (8% replaced)", t_rewire, f"n={n}"))
    rows.append(row("paper", "csr (cached per graph)", t_csr, f"nnz={2 * paper.n_edges}"))
    rows.append(row("paper", "total build", t_build + t_rewire + t_csr))
    rows += compare("paper", paper, args.repeat, with_networkx=False, with_scipy=True)
    rows += parallel_paths("paper", paper, args.repeat)

    print("networkx comparison graph ...", flush=True)
    small_sizes = [784, 100, 100, 100, 100, 100, 10]
    g = rewiring.rewire(layered.connect_within_layers(layered.layered(small_sizes)), p=0.1, seed=0)
    _ = g.csr
    rows += compare("nx", g, args.repeat, with_networkx=True, with_scipy=True)
    rows += parallel_paths("nx", g, args.repeat)

    print()
    print(f"paper: {paper}")
    print(f"nx:    {g}")
    print(f"numba threads: {numba.get_num_threads()}, CPUs: {os.cpu_count()}")
    print_table(rows)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "graphs": {"paper": repr(paper), "nx": repr(g)},
        "numba_threads": numba.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {
            "numba": numba.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "networkx": nx.__version__,
        },
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.write_text(json.dumps({"meta": meta, "columns": COLUMNS, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
