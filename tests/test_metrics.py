"""Tests of the graph measures (metrics.py, to_output.py, measures.py) against networkx on random graphs."""

import naive
import networkx as nx
import numba
import numpy as np
import pytest

from smallworld_eqp import config
from smallworld_eqp.graph import layered, measures, metrics, rewiring, to_output
from smallworld_eqp.graph.layered import Graph


def rewired_graph(seed: int, max_size: int = 12) -> Graph:
    """A rewired layered graph: random sizes, with or without intra edges, replace or add."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, max_size + 1, size=rng.integers(3, 7)).tolist()
    g = layered.layered(sizes)
    if rng.random() < 0.5:
        g = layered.connect_within_layers(g)
    mode = "replace" if rng.random() < 0.6 else "add"
    n = int(rng.integers(1, min(g.n_edges // 5, rewiring.n_skip_candidates(g)) + 1))
    return rewiring.rewire(g, n=n, mode=mode, seed=seed)


def paper_like_graph(sizes: tuple[int, ...], intra: bool, mode: str, p: float) -> Graph:
    """The paper's construction on smaller layers, rewired with probability ``p``."""
    g = layered.layered(sizes)
    g = layered.connect_within_layers(g) if intra else g
    return rewiring.rewire(g, p=p, mode=mode, seed=sum(sizes))


def general_graph(seed: int, n_neurons: int, mean_degree: float, connected: bool = True) -> Graph:
    """Random edges among all pairs allowed in a layered graph (Erdos-Renyi style).

    With ``connected``, a random spanning tree is added: a random tree over the hidden
    neurons (any two of which may share an edge) and every other neuron joined to one.
    """
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, n_neurons), size=rng.integers(2, 5), replace=False))
    sizes = np.diff(np.concatenate([[0], cuts, [n_neurons]])).tolist()
    layer_of = np.repeat(np.arange(len(sizes)), sizes)
    i, j = np.triu_indices(n_neurons, k=1)
    io = (layer_of[i] == layer_of[j]) & ((layer_of[i] == 0) | (layer_of[i] == len(sizes) - 1))
    i, j = i[~io], j[~io]
    keep = rng.random(i.shape[0]) < mean_degree / (n_neurons - 1)
    edges = {(a, b) for a, b in zip(i[keep].tolist(), j[keep].tolist())}
    if connected:
        hidden = rng.permutation(np.arange(sizes[0], n_neurons - sizes[-1]))
        outer = np.setdiff1d(np.arange(n_neurons), hidden)
        tree = [(hidden[k], hidden[rng.integers(k)]) for k in range(1, hidden.shape[0])]
        tree += [(v, rng.choice(hidden)) for v in outer]
        edges |= {(min(a, b), max(a, b)) for a, b in np.array(tree).tolist()}
    return Graph.from_edges(sizes, np.array(sorted(edges)).reshape(-1, 2))


CASES = (
    [pytest.param(rewired_graph, (s,), id=f"rewired-{s}") for s in range(16)]
    + [pytest.param(general_graph, (s, int(20 + 15 * s), 8.0), id=f"general-{s}") for s in range(6)]
    + [
        # Several 64-source batches, the last one partial, and a two-word batch at 2 threads.
        pytest.param(paper_like_graph, ((150, 40, 40, 40, 10), True, "replace", 0.08), id="paper-like-280"),
        pytest.param(paper_like_graph, ((200, 60, 60, 10), False, "add", 0.05), id="paper-like-330"),
        pytest.param(
            paper_like_graph, ((100, 30, 30, 30, 30, 5), False, "replace", 0.1), id="paper-like-225"
        ),
        pytest.param(general_graph, (50, 300, 10.0), id="general-300"),
        pytest.param(general_graph, (51, 740, 6.0), id="general-740"),
    ]
)


@pytest.fixture(scope="module")
def cache():
    return {}


def graph_and_nx(cache, make, args):
    key = (make.__name__, args)
    if key not in cache:
        g = make(*args)
        cache[key] = (g, g.to_networkx())
    return cache[key]


@pytest.mark.parametrize("make, args", CASES)
def test_path_length_matches_networkx(cache, make, args):
    g, G = graph_and_nx(cache, make, args)
    assert nx.is_connected(G)
    assert metrics.characteristic_path_length(g) == pytest.approx(
        nx.average_shortest_path_length(G), rel=1e-12, abs=1e-12
    )


@pytest.mark.parametrize("make, args", CASES)
def test_clustering_matches_networkx(cache, make, args, monkeypatch):
    g, G = graph_and_nx(cache, make, args)
    expected = nx.average_clustering(G)
    assert metrics.clustering_coefficient(g) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # The fallback for graphs too large for a bitset adjacency.
    monkeypatch.setattr(metrics, "_BITSET_MAX_BYTES", 0)
    assert metrics.clustering_coefficient(g) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def reference_hops(g: Graph, G: nx.Graph) -> np.ndarray:
    outputs = range(g.offsets[-2], g.offsets[-1])
    dist = np.full(g.n_neurons, -1.0)
    for depth, layer in enumerate(nx.bfs_layers(G, outputs)):
        dist[layer] = depth
    assert np.all(dist >= 0)
    return np.array([dist[g.offsets[lay] : g.offsets[lay + 1]].mean() for lay in range(g.n_layers)])


@pytest.mark.parametrize("make, args", CASES)
def test_hops_to_output_matches_networkx(cache, make, args):
    g, G = graph_and_nx(cache, make, args)
    hops = to_output.hops_to_output(g)
    assert hops.dtype == np.float64 and hops.shape == (g.n_layers,)
    np.testing.assert_allclose(hops, reference_hops(g, G), rtol=1e-12, atol=0)
    assert hops[-1] == 0.0


def test_hops_to_output_of_plain_layers():
    g = layered.layered([3, 4, 5, 2, 3])
    np.testing.assert_array_equal(to_output.hops_to_output(g), [4.0, 3.0, 2.0, 1.0, 0.0])


@pytest.mark.parametrize("n_words", [1, 2, 3, 5])
def test_distance_sums_independent_of_batching(cache, n_words):
    g, G = graph_and_nx(cache, general_graph, (51, 740, 6.0))
    total = sum(sum(d.values()) for _, d in nx.all_pairs_shortest_path_length(G))
    indptr, indices, _ = g.csr
    totals, reached = metrics._distance_sums(indptr, indices, n_words)
    assert (totals.sum(), reached.sum()) == (total, g.n_neurons * (g.n_neurons - 1))


def test_results_independent_of_thread_count(cache):
    g, _ = graph_and_nx(cache, paper_like_graph, ((150, 40, 40, 40, 10), True, "replace", 0.08))
    expected = (metrics.characteristic_path_length(g), metrics.clustering_coefficient(g))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert (metrics.characteristic_path_length(g), metrics.clustering_coefficient(g)) == expected
    finally:
        numba.set_num_threads(before)


def test_disconnected_graph():
    # Components {0, 2}, {1, 3, 4}, {5}: neuron 5 of the output layer is isolated.
    g = Graph.from_edges([2, 2, 2], np.array([[0, 2], [1, 3], [3, 4]]))
    G = g.to_networkx()
    assert nx.number_connected_components(G) == 3
    with pytest.raises(ValueError, match="3 connected components"):
        metrics.characteristic_path_length(g)
    with pytest.raises(ValueError, match="3 connected components"):
        measures.small_world_summary(g)
    # Neuron 0 reaches no output neuron; clustering stays defined.
    with pytest.raises(ValueError, match=r"neuron 0 \(layer 0\) cannot reach the output layer"):
        to_output.hops_to_output(g)
    assert metrics.clustering_coefficient(g) == nx.average_clustering(G) == 0.0


@pytest.mark.parametrize("seed", range(4))
def test_clustering_of_disconnected_graphs(seed):
    g = general_graph(200 + seed, 60, 1.5, connected=False)
    G = g.to_networkx()
    assert not nx.is_connected(G)
    assert metrics.clustering_coefficient(g) == pytest.approx(nx.average_clustering(G), rel=1e-12, abs=1e-12)
    with pytest.raises(ValueError, match=f"{nx.number_connected_components(G)} connected components"):
        metrics.characteristic_path_length(g)


def test_hops_defined_when_every_neuron_reaches_the_output():
    # Two components, each holding an output neuron.
    g = Graph.from_edges([2, 2, 2], np.array([[0, 2], [2, 4], [1, 3], [3, 5]]))
    np.testing.assert_array_equal(to_output.hops_to_output(g), [2.0, 1.0, 0.0])


def test_summary(cache):
    g, G = graph_and_nx(cache, paper_like_graph, ((200, 60, 60, 10), False, "add", 0.05))
    row = measures.small_world_summary(g)
    hops = [f"hops_to_output_{lay}" for lay in range(g.n_layers)]
    assert list(row) == config.summary_columns(g.n_layers)
    assert list(row)[:7] == [
        "n_neurons",
        "n_edges",
        "n_adjacent",
        "n_intra",
        "n_skip",
        "path_length",
        "clustering",
    ]
    per_layer = [f"{name}_{lay}" for name in measures.PER_LAYER for lay in range(g.n_layers)]
    assert list(row)[-len(per_layer) :] == per_layer and per_layer[: len(hops)] == hops
    counts = g.kind_counts()
    assert row["n_neurons"] == G.number_of_nodes() and row["n_edges"] == G.number_of_edges()
    assert (row["n_adjacent"], row["n_intra"], row["n_skip"]) == (
        counts["adjacent"],
        counts["intra"],
        counts["skip"],
    )
    assert row["path_length"] == metrics.characteristic_path_length(g)
    assert row["clustering"] == metrics.clustering_coefficient(g)
    assert [row[k] for k in hops] == to_output.hops_to_output(g).tolist()
    paths, walks = to_output.log_paths_to_output(g), to_output.log_walks_to_output(g)
    assert [row[f"log_paths_to_output_{lay}"] for lay in range(g.n_layers)] == paths.tolist()
    assert row["log_paths_hidden"] == pytest.approx(paths[1:-1].mean(), rel=1e-15)
    assert row["log_walks_hidden"] == pytest.approx(walks[1:-1].mean(), rel=1e-12)
    assert all(type(v) in (int, float) for v in row.values())


@pytest.mark.parametrize("seed", range(6))
def test_skip_span_is_the_mean_layer_gap_of_the_skip_edges(seed):
    rng = np.random.default_rng(seed)
    g = naive.random_graph(rng)
    gaps = [abs(int(g.layer_of[j]) - int(g.layer_of[i])) for i, j in g.edges.tolist()]
    skips = [gap for gap in gaps if gap >= 2]
    want = sum(skips) / len(skips) if skips else 0.0
    assert measures.small_world_summary(g)["skip_span"] == pytest.approx(want, rel=1e-12)


# --- parallel-path measures ---------------------------------------------------------------


def small_design_graph(seed: int) -> Graph:
    """A small layered graph (3-6 layers of 1-5 neurons, maybe intra-connected) with
    edges placed by a random design step, so that paths can be listed one by one."""
    rng = np.random.default_rng(seed)
    g = layered.layered(rng.integers(1, 6, size=rng.integers(3, 7)).tolist())
    if rng.random() < 0.3:
        g = layered.connect_within_layers(g)
    op = ["rewire", "rewire_span", "rewire_ends", "rewire_within_layers"][seed % 4]
    extra = {"rewire_span": {"span": int(rng.integers(2, g.n_layers))}, "rewire_ends": {"end": "output"}}
    extra.setdefault(op, {})
    free = len(naive_free_pairs(g, op, extra[op]))
    n = int(rng.integers(0, min(free, g.n_edges // 4) + 1))
    mode = ["replace", "add"][int(rng.integers(2))]
    return layered.GRAPH_STEPS[op](g, n=n, mode=mode, seed=seed, **extra[op])


def naive_free_pairs(g: Graph, op: str, extra: dict) -> list:
    """The unconnected pairs a design step may join, listed one by one."""
    lay = g.layer_of
    taken = set(map(tuple, g.edges.tolist()))
    out = []
    for i in range(g.n_neurons):
        for j in range(i + 1, g.n_neurons):
            gap = lay[j] - lay[i]
            ok = {
                "rewire": gap >= 2,
                "rewire_span": gap == extra.get("span"),
                "rewire_ends": gap >= 2 and lay[j] == g.n_layers - 1,
                "rewire_within_layers": gap == 0 and 0 < lay[i] < g.n_layers - 1,
            }[op]
            if ok and (i, j) not in taken:
                out.append((i, j))
    return out


def reference_paths(g: Graph) -> np.ndarray:
    """Per-layer mean log10 shortest-path count to the output, by networkx listing every
    shortest path to a sink joined to all output neurons (one hop longer each)."""
    G = g.to_networkx()
    G.add_edges_from(("sink", v) for v in range(g.offsets[-2], g.offsets[-1]))
    counts = [sum(1 for _ in nx.all_shortest_paths(G, v, "sink")) for v in range(g.n_neurons)]
    return np.array(
        [np.log10(counts[g.offsets[lay] : g.offsets[lay + 1]]).mean() for lay in range(g.n_layers)]
    )


def reference_walks(g: Graph, decay: float = to_output.WALK_DECAY) -> np.ndarray:
    """Per-layer mean log10 of ``sum_k a^k A^k 1_out`` in closed form, dense:
    ``(I - a A)^-1 1_out - 1_out`` with ``a = decay / lambda_max`` from a dense eigensolver."""
    A = naive.dense_weights(g, np.ones(g.n_edges))
    a = decay / np.linalg.eigvalsh(A)[-1]
    out = np.zeros(g.n_neurons)
    out[g.offsets[-2] :] = 1.0
    w = np.linalg.solve(np.eye(g.n_neurons) - a * A, out) - out
    return np.array([np.log10(w[g.offsets[lay] : g.offsets[lay + 1]]).mean() for lay in range(g.n_layers)])


@pytest.mark.parametrize("seed", range(24))
def test_log_paths_to_output_matches_networkx(seed):
    g = small_design_graph(seed)
    if not nx.is_connected(g.to_networkx()):
        pytest.skip("a disconnected draw")  # the refusal is tested on its own
    np.testing.assert_allclose(to_output.log_paths_to_output(g), reference_paths(g), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make, args", CASES)
def test_log_walks_to_output_matches_dense_closed_form(cache, make, args):
    g, _ = graph_and_nx(cache, make, args)
    np.testing.assert_allclose(to_output.log_walks_to_output(g), reference_walks(g), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("decay", [0.1, 0.9])
def test_log_walks_to_output_on_small_graphs(seed, decay):
    g = small_design_graph(seed)
    if not nx.is_connected(g.to_networkx()):
        pytest.skip("a disconnected draw")
    got = to_output.log_walks_to_output(g, decay=decay)
    np.testing.assert_allclose(got, reference_walks(g, decay), rtol=1e-9, atol=1e-9)


def test_log_paths_of_plain_layers_multiply_the_layer_sizes():
    sizes = [7, 4, 6, 3, 5]
    want = [np.log10(np.prod(sizes[lay + 1 :])) for lay in range(len(sizes) - 1)] + [0.0]
    np.testing.assert_allclose(to_output.log_paths_to_output(layered.layered(sizes)), want, rtol=1e-12)


def test_parallel_path_measures_refuse_a_neuron_cut_off_from_the_output():
    g = Graph.from_edges([2, 2, 2], np.array([[0, 2], [1, 3], [3, 4]]))
    for measure in (to_output.log_paths_to_output, to_output.log_walks_to_output):
        with pytest.raises(ValueError, match=r"neuron 0 \(layer 0\) cannot reach the output layer"):
            measure(g)
    with pytest.raises(ValueError, match=r"decay must lie in \(0, 1\), got 1.0"):
        to_output.log_walks_to_output(layered.layered([2, 2, 2]), decay=1.0)


def test_log_walks_to_output_stops_a_series_that_does_not_converge(monkeypatch):
    monkeypatch.setattr(to_output, "_MAX_WALK_TERMS", 3)
    with pytest.raises(RuntimeError, match="did not converge in 3 terms"):
        to_output.log_walks_to_output(layered.layered([4, 3, 3, 2]))
