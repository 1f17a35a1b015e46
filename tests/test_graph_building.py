"""Tests of the layered graphs and the layer-skipping rewiring (graph/sizing.py, graph/layered.py, graph/rewiring.py, graph/recipes.py).

Invariants are checked on many seeded random graphs; distributions are checked
with chi-square tests over many seeded draws (deterministic, but able to fail).
"""

import math

import networkx as nx
import numpy as np
import pytest
from helpers import ALPHA, check_well_formed, edge_set
from scipy import stats

from smallworld_eqp.graph import layered, recipes, rewiring, sizing
from smallworld_eqp.graph.layered import ADJACENT, INTRA, SKIP, Graph
from smallworld_eqp.study import spec


def random_graph(seed: int) -> Graph:
    """A layered graph with 3-6 random-sized layers, intra-connected or not."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, size=rng.integers(3, 7)).tolist()
    g = layered.layered(sizes)
    return layered.connect_within_layers(g) if rng.random() < 0.5 else g


def rewire_cases():
    """(graph seed, n or p, mode, rewire seed) for the invariant tests."""
    cases = []
    for s in range(40):
        rng = np.random.default_rng(1000 + s)
        mode = "replace" if s % 2 == 0 else "add"
        by = "n" if s % 4 < 2 else "p"
        cases.append((s, by, mode, int(rng.integers(1 << 30))))
    return cases


def rewire_random(graph_seed, by, mode, seed):
    g = random_graph(graph_seed)
    rng = np.random.default_rng(graph_seed)
    limit = min(g.n_edges, rewiring.n_skip_candidates(g))
    if by == "n":
        kwargs = {"n": int(rng.integers(0, limit + 1))}
    else:
        # Small enough that a draw above the candidate count is essentially impossible.
        kwargs = {"p": float(rng.uniform(0, 0.5 * limit / g.n_edges))}
    return g, rewiring.rewire(g, mode=mode, seed=seed, **kwargs), kwargs


@pytest.mark.parametrize("graph_seed, by, mode, seed", rewire_cases())
def test_rewire_invariants(graph_seed, by, mode, seed):
    g, h, kwargs = rewire_random(graph_seed, by, mode, seed)
    check_well_formed(h)
    record = h.history[-1]
    n = record["n"]
    assert record["op"] == "rewire" and record["mode"] == mode and record["seed"] == seed
    assert record["requested"] == by
    if by == "n":
        assert n == kwargs["n"]
        assert record["p"] == pytest.approx(1 - ((g.n_edges - 1) / g.n_edges) ** n, rel=1e-9, abs=1e-15)
    else:
        assert record["p"] == kwargs["p"]
    old, new = edge_set(g), edge_set(h)
    added, removed = new - old, old - new
    assert len(added) == n
    assert all(h.layer_of[j] - h.layer_of[i] >= 2 for i, j in added)
    if mode == "replace":
        assert h.n_edges == g.n_edges
        assert len(removed) == n
    else:
        assert h.n_edges == g.n_edges + n
        assert not removed
    assert h.history[:-1] == g.history


@pytest.mark.parametrize("by, value", [("n", 20), ("p", 0.2)])
@pytest.mark.parametrize("mode", ["replace", "add"])
def test_rewire_seed_determines_graph(by, value, mode):
    g = layered.connect_within_layers(layered.layered([8, 6, 6, 6, 3]))
    a = rewiring.rewire(g, mode=mode, seed=5, **{by: value})
    b = rewiring.rewire(g, mode=mode, seed=5, **{by: value})
    c = rewiring.rewire(g, mode=mode, seed=6, **{by: value})
    assert a == b and a.history == b.history
    assert a != c


def test_rewire_accepts_generator():
    g = layered.layered([5, 4, 4, 3])
    a = rewiring.rewire(g, n=6, seed=np.random.default_rng(3))
    b = rewiring.rewire(g, n=6, seed=np.random.default_rng(3))
    assert a == b
    assert a.history[-1]["seed"] is None


def test_rewire_p_counts_replacements():
    g = layered.connect_within_layers(layered.layered([30, 20, 20, 5]))
    h = rewiring.rewire(g, p=0.1, seed=0)
    removed = edge_set(g) - edge_set(h)
    assert h.history[-1]["n"] == len(removed)
    # Binomial(E, 0.1): the count is within 5 standard deviations of its mean.
    mean, sd = 0.1 * g.n_edges, math.sqrt(0.1 * 0.9 * g.n_edges)
    assert abs(len(removed) - mean) < 5 * sd


def test_rewire_p_extremes():
    g = layered.layered([6, 2, 2, 6])
    assert rewiring.rewire(g, p=0.0, seed=0) == g
    h = rewiring.rewire(g, p=1.0, seed=0)
    assert h.history[-1]["n"] == g.n_edges
    assert not edge_set(g) & edge_set(h)
    assert h.kind_counts() == {"adjacent": 0, "intra": 0, "skip": g.n_edges}


def test_rewire_avoids_existing_skip_edges():
    g = rewiring.rewire(layered.layered([3, 2, 2, 3]), n=20, mode="add", seed=0)
    free = rewiring.n_skip_candidates(g)
    h = rewiring.rewire(g, n=free, mode="add", seed=1)
    check_well_formed(h)
    assert rewiring.n_skip_candidates(h) == 0
    assert h.kind_counts()["skip"] == 20 + free


@pytest.mark.parametrize("n_edges", [2, 3, 17, 1000, 1_271_250])
def test_replacements_and_p_round_trip(n_edges):
    for n in [0, 1, 2, 5, n_edges // 3, n_edges, 2 * n_edges]:
        p = rewiring.replacements_to_p(n, n_edges)
        # The direct power loses ~n ulps, hence the tolerance.
        assert p == pytest.approx(1 - ((n_edges - 1) / n_edges) ** n, rel=1e-9, abs=1e-15)
        assert rewiring.p_to_replacements(p, n_edges) == n


def test_replacements_to_p_single_edge():
    assert rewiring.replacements_to_p(0, 1) == 0.0
    assert rewiring.replacements_to_p(3, 1) == 1.0


def skip_pair_counts(sizes):
    """Candidate pairs of every layer pair (a, b), b >= a + 2, of layered(sizes)."""
    return {(a, b): sizes[a] * sizes[b] for a in range(len(sizes)) for b in range(a + 2, len(sizes))}


@pytest.mark.parametrize("intra, mode", [(False, "replace"), (True, "add")])
def test_new_edges_uniform_over_layer_pairs(intra, mode):
    sizes = [7, 3, 5, 2, 6, 4]
    g = layered.layered(sizes)
    g = layered.connect_within_layers(g) if intra else g
    expected = skip_pair_counts(sizes)
    keys = list(expected)
    observed = dict.fromkeys(keys, 0)
    for seed in range(300):
        h = rewiring.rewire(g, n=15, mode=mode, seed=seed)
        for i, j in h.edges[h.kinds == SKIP]:
            observed[(h.layer_of[i], h.layer_of[j])] += 1
    f_exp = np.array([expected[k] for k in keys], dtype=float)
    f_obs = np.array([observed[k] for k in keys], dtype=float)
    assert stats.chisquare(f_obs, f_exp / f_exp.sum() * f_obs.sum()).pvalue > ALPHA


def test_new_edges_uniform_over_free_pairs():
    # Some candidate pairs are already taken: the rest must be equally likely.
    g = rewiring.rewire(layered.layered([3, 2, 2, 3]), n=8, mode="add", seed=4)
    taken = edge_set(g)
    free = [
        (i, j)
        for i in range(g.n_neurons)
        for j in range(i + 1, g.n_neurons)
        if g.layer_of[j] - g.layer_of[i] >= 2 and (i, j) not in taken
    ]
    assert len(free) == rewiring.n_skip_candidates(g)
    counts = dict.fromkeys(free, 0)
    for seed in range(1500):
        h = rewiring.rewire(g, n=3, mode="add", seed=seed)
        for pair in edge_set(h) - taken:
            counts[pair] += 1
    assert sum(counts.values()) == 3 * 1500
    assert stats.chisquare(list(counts.values())).pvalue > ALPHA


def test_removal_uniform_across_kinds():
    g = layered.connect_within_layers(layered.layered([6, 5, 4, 5, 3]))
    g = rewiring.rewire(g, n=30, mode="add", seed=0)
    present = np.bincount(g.kinds, minlength=3).astype(float)
    removed = np.zeros(3)
    old = edge_set(g)
    kind_of = dict(zip(map(tuple, g.edges.tolist()), g.kinds.tolist()))
    for seed in range(300):
        h = rewiring.rewire(g, n=10, seed=seed)
        for pair in old - edge_set(h):
            removed[kind_of[pair]] += 1
    assert removed.sum() == 3000
    assert stats.chisquare(removed, present / present.sum() * removed.sum()).pvalue > ALPHA


def test_removal_uniform_over_edges():
    g = layered.connect_within_layers(layered.layered([3, 3, 3, 2]))
    index = {pair: k for k, pair in enumerate(map(tuple, g.edges.tolist()))}
    counts = np.zeros(g.n_edges)
    for seed in range(1000):
        h = rewiring.rewire(g, n=4, seed=seed)
        for pair in edge_set(g) - edge_set(h):
            counts[index[pair]] += 1
    assert counts.sum() == 4000
    assert stats.chisquare(counts).pvalue > ALPHA


def test_rewire_paper_network_at_scale():
    g = layered.connect_within_layers(layered.layered([784, 500, 500, 500, 10]))
    n = int(0.08 * g.n_edges)
    h = rewiring.rewire(g, n=n, seed=0)
    assert h.n_edges == g.n_edges == 784 * 500 + 2 * 500 * 500 + 500 * 10 + 3 * 500 * 499 // 2
    assert h.kind_counts()["skip"] == n
    key_g, key_h = (x.edges[:, 0].astype(np.int64) * x.n_neurons + x.edges[:, 1] for x in (g, h))
    assert np.count_nonzero(~np.isin(key_g, key_h)) == n


def test_rewire_huge_candidate_space():
    # 10^10 candidate pairs: a list of them would need 160 GB.
    g = layered.layered([100_000, 2, 2, 100_000])
    assert rewiring.n_skip_candidates(g) == 100_000 * 2 * 2 + 100_000**2
    h = rewiring.rewire(g, n=1000, seed=0)
    assert h.n_edges == g.n_edges and h.kind_counts()["skip"] == 1000
    check_well_formed(h)


# --- Graph API -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_layered_and_within_layer_counts(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 12, size=rng.integers(3, 8)).tolist()
    g = layered.layered(sizes)
    check_well_formed(g)
    assert g.n_neurons == sum(sizes)
    assert g.n_edges == sum(a * b for a, b in zip(sizes, sizes[1:]))
    assert g.kind_counts() == {"adjacent": g.n_edges, "intra": 0, "skip": 0}
    h = layered.connect_within_layers(g)
    check_well_formed(h)
    n_intra = sum(s * (s - 1) // 2 for s in sizes[1:-1])
    assert h.kind_counts() == {"adjacent": g.n_edges, "intra": n_intra, "skip": 0}
    assert h.history[-1] == {"op": "connect_within_layers", "added": n_intra}
    assert layered.connect_within_layers(h) == h
    assert (sizing.edge_count(sizes), sizing.edge_count(sizes, intra=True)) == (g.n_edges, h.n_edges)
    assert np.array_equal(g.offsets, np.cumsum([0] + sizes))
    assert np.array_equal(g.layer_of, np.repeat(np.arange(len(sizes)), sizes))


@pytest.mark.parametrize("graph_seed, by, mode, seed", rewire_cases()[:12])
def test_csr_matches_scipy_and_networkx(graph_seed, by, mode, seed):
    _, g, _ = rewire_random(graph_seed, by, mode, seed)
    dense = np.zeros((g.n_neurons, g.n_neurons))
    dense[g.edges[:, 0], g.edges[:, 1]] = dense[g.edges[:, 1], g.edges[:, 0]] = 1
    indptr, indices, edge_id = g.csr
    assert np.array_equal(g.to_scipy().toarray(), dense)
    G = g.to_networkx()
    assert np.array_equal(nx.to_numpy_array(G, nodelist=range(g.n_neurons)), dense)
    assert [G.nodes[v]["layer"] for v in range(g.n_neurons)] == g.layer_of.tolist()
    assert all(G.edges[i, j]["kind"] == layered.KIND_NAMES[k] for (i, j), k in zip(g.edges, g.kinds))
    rows = np.repeat(np.arange(g.n_neurons), np.diff(indptr))
    assert np.array_equal(dense[rows, indices], np.ones(indices.shape[0]))
    assert indices.shape[0] == 2 * g.n_edges
    for v in range(g.n_neurons):
        assert np.all(np.diff(indices[indptr[v] : indptr[v + 1]]) > 0)
    pairs = np.sort(np.stack([rows, indices], axis=1), axis=1)
    assert np.array_equal(pairs, g.edges[edge_id])
    assert np.array_equal(g.degrees, dense.sum(axis=1))
    i, j = g.edges[0]
    assert g.has_edge(i, j) and g.has_edge(j, i)
    assert g.has_edge(0, 1) == bool(dense[0, 1]) and not g.has_edge(0, 0)


def test_summary_counts():
    g = rewiring.rewire(layered.connect_within_layers(layered.layered([5, 4, 3, 2])), n=12, seed=2)
    df = g.summary()
    assert df["n_edges"].sum() == g.n_edges
    sizes = g.layer_sizes
    for row in df.itertuples():
        la, lb = g.edge_layers[:, 0], g.edge_layers[:, 1]
        assert row.n_edges == np.count_nonzero((la == row.layer_a) & (lb == row.layer_b))
        a, b = row.layer_a, row.layer_b
        assert row.possible == (sizes[a] * (sizes[a] - 1) // 2 if a == b else sizes[a] * sizes[b])
        assert row.kind == ("intra" if a == b else "adjacent" if b == a + 1 else "skip")
    assert df.groupby("kind")["n_edges"].sum().to_dict() == {k: v for k, v in g.kind_counts().items() if v}


def test_from_edges_sorts_and_infers_kinds():
    edges = np.array([[4, 0], [2, 1], [0, 2], [3, 0], [5, 3]])
    g = Graph.from_edges([2, 2, 2], edges)
    assert g.edges.tolist() == [[0, 2], [0, 3], [0, 4], [1, 2], [3, 5]]
    assert g.kinds.tolist() == [ADJACENT, ADJACENT, SKIP, ADJACENT, ADJACENT]
    assert Graph.from_edges([2, 2, 2], edges, kinds=[SKIP, ADJACENT, ADJACENT, ADJACENT, ADJACENT]) == g


@pytest.mark.parametrize(
    "edges, kinds, match",
    [
        ([[0, 6]], None, r"\[0, 6\), got range \[0, 6\]"),
        ([[-1, 2]], None, r"\[0, 6\), got range \[-1, 2\]"),
        ([[2, 2]], None, "self-loops"),
        ([[0, 2], [2, 0]], None, "duplicate"),
        ([[0, 2], [0, 2]], None, "duplicate"),
        ([[0, 1]], None, "inside the input or the output layer"),
        ([[4, 5]], None, "inside the input or the output layer"),
        ([[0, 2]], [SKIP], "disagree"),
    ],
)
def test_from_edges_rejects_bad_input(edges, kinds, match):
    with pytest.raises(ValueError, match=match):
        Graph.from_edges([2, 2, 2], np.array(edges), kinds=kinds)


def test_from_edges_keeps_hidden_intra_edges():
    g = Graph.from_edges([2, 2, 2], np.array([[2, 3]]))
    assert g.kinds.tolist() == [INTRA]


def test_without_kind():
    g = rewiring.rewire(
        layered.connect_within_layers(layered.layered([5, 4, 3, 2])), n=12, mode="add", seed=2
    )
    for kind, name in enumerate(layered.KIND_NAMES):
        for key in (kind, name):
            h = layered.without_kind(g, key)
            check_well_formed(h)
            assert edge_set(h) == {e for e, k in zip(map(tuple, g.edges.tolist()), g.kinds) if k != kind}
            assert h.history[-1] == {"op": "without_kind", "kind": name, "removed": g.kind_counts()[name]}
    assert layered.without_kind(g, "skip") == layered.connect_within_layers(layered.layered([5, 4, 3, 2]))
    with pytest.raises(ValueError, match="'shortcut'"):
        layered.without_kind(g, "shortcut")


def test_graph_is_immutable_and_repr():
    g = layered.connect_within_layers(layered.layered([3, 2, 2]))
    assert repr(g) == "Graph(layers=3-2-2, neurons=7, edges=11: adjacent=10, intra=1, skip=0)"
    with pytest.raises(ValueError):
        g.edges[0, 0] = 1
    with pytest.raises(ValueError):
        g.csr[1][0] = 0
    assert g != layered.layered([3, 2, 2]) and g == layered.connect_within_layers(layered.layered([3, 2, 2]))


# --- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "sizes, match",
    [
        ([], r"\[\] give 0 layers"),
        ([4, 3], r"\[4, 3\] give 2 layers"),
        ([4, 0, 3], r"\[4, 0, 3\]"),
        ([4, -2, 3], r"\[4, -2, 3\]"),
    ],
)
def test_layered_rejects_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        layered.layered(sizes)


@pytest.mark.parametrize(
    "sizes, match",
    [
        ("abc", "'abc'"),
        (None, "None"),
        ([4, 2.0, 3], r"2\.0 \(float\)"),
        ([4, float("nan"), 3], r"nan \(float\)"),
        ([4, True, 3], r"True \(bool\)"),
    ],
)
def test_layered_refuses_wrong_types(sizes, match):
    with pytest.raises(TypeError, match=match):
        layered.layered(sizes)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 5, "p": 0.1}, r"n=5 and p=0\.1"),
        ({}, "n=None and p=None"),
        ({"n": 3, "mode": "swap"}, "'swap'"),
        ({"n": -1}, "-1"),
        ({"p": -0.1}, r"-0\.1"),
        ({"p": 1.5}, r"1\.5"),
        ({"p": float("nan")}, "nan"),
        ({"n": 39}, "n=39 exceeds the 38 edges"),
        ({"n": 17}, "17 new layer-skipping edges requested but only 16"),
        ({"n": 17, "mode": "add"}, "17 new layer-skipping edges requested but only 16"),
    ],
)
def test_rewire_rejects_bad_input(kwargs, match):
    g = layered.connect_within_layers(layered.layered([4, 4, 4]))
    assert g.n_edges == 38 and rewiring.n_skip_candidates(g) == 16
    with pytest.raises(ValueError, match=match):
        rewiring.rewire(g, seed=0, **kwargs)


def test_reusing_removed_edges_needs_a_free_candidate_for_the_first_replacement():
    # Every pair two layers apart is connected: the first draw has an empty pool.
    full = layered.connect_layers(layered.layered([2, 2, 2]), 0, 2)
    assert rewiring.n_skip_candidates(full) == 0
    with pytest.raises(
        ValueError, match="replacing 1 edges with reuse_removed=True needs at least one unconnected"
    ):
        rewiring.rewire(full, n=1, reuse_removed=True, seed=0)
    assert rewiring.rewire(full, n=0, reuse_removed=True, seed=0) == full  # nothing to replace


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 2.5}, r"n must be an integer, got 2\.5 \(float\)"),
        ({"n": float("inf")}, r"n must be an integer, got inf \(float\)"),
        ({"n": True}, r"True \(bool\)"),
        ({"p": "0.1"}, r"p must be a real number, got '0\.1' \(str\)"),
        ({"n": 3, "reuse_removed": 1}, r"reuse_removed must be True or False, got 1 \(int\)"),
    ],
)
def test_rewire_refuses_wrong_types(kwargs, match):
    g = layered.layered([4, 4, 4])
    with pytest.raises(TypeError, match=match):
        rewiring.rewire(g, seed=0, **kwargs)


@pytest.mark.parametrize("edges", [[[0, 2.5]], [[0, np.nan]], [[0, np.inf]]])
def test_from_edges_refuses_non_integer_endpoints(edges):
    with pytest.raises(ValueError, match="edge endpoints must be integer neuron indices"):
        Graph.from_edges([2, 2, 2], np.array(edges))


def test_without_kind_refuses_unknown_kinds():
    g = layered.layered([3, 2, 2])
    with pytest.raises(ValueError, match=r"kind must be an integer in \[0, 2\], got 7"):
        layered.without_kind(g, 7)


def test_edge_count_checks_its_arguments():
    with pytest.raises(ValueError, match="at least 3"):
        sizing.edge_count([4, 2])
    with pytest.raises(TypeError, match="intra must be True or False"):
        sizing.edge_count([4, 3, 2], intra=1)


def test_check_recipe_checks_the_layer_sizes_once(monkeypatch):
    check, calls = sizing.check_layer_sizes, []

    def counted(sizes):
        calls.append(sizes)
        return check(sizes)

    monkeypatch.setattr(sizing, "check_layer_sizes", counted)
    monkeypatch.setitem(layered._STEP_CHECKS, "layered", counted)
    recipes.check_recipe([{"op": "layered", "sizes": [5, 4, 4, 2]}, {"op": "connect_within_layers"}])
    assert calls == [[5, 4, 4, 2]]


def test_build_applies_a_recipe_like_the_builders():
    recipe = [
        {"op": "layered", "sizes": [5, 4, 4, 2]},
        {"op": "connect_within_layers"},
        {"op": "rewire", "p": 0.3, "reuse_removed": True},
    ]
    g = recipes.build(recipe, seed=3)
    manual = rewiring.rewire(
        layered.connect_within_layers(layered.layered([5, 4, 4, 2])), p=0.3, reuse_removed=True, seed=3
    )
    assert g == manual and [h["op"] for h in g.history] == [r["op"] for r in recipe]
    with pytest.raises(
        ValueError, match="recipe step op must be one of connect_layers, connect_within_layers, layered"
    ):
        recipes.build([{"op": "grow"}])
    with pytest.raises(ValueError, match="recipe step 'rewire' takes no argument 'q'"):
        recipes.build([recipe[0], {"op": "rewire", "q": 1}])
    with pytest.raises(ValueError, match="'rewire' changes a graph: it cannot be the first step"):
        recipes.build([{"op": "rewire", "n": 1}])
    with pytest.raises(
        ValueError, match="'layered' makes a graph: it can only be the first step, got it as step 2"
    ):
        recipes.build([recipe[0], recipe[0]])


@pytest.mark.parametrize(
    "func, args, match",
    [
        (rewiring.replacements_to_p, (-1, 10), "-1"),
        (rewiring.replacements_to_p, (1, 0), "n_edges must be a positive integer, got 0"),
        (rewiring.p_to_replacements, (1.0, 10), r"1\.0"),
        (rewiring.p_to_replacements, (-0.5, 10), r"-0\.5"),
        (rewiring.p_to_replacements, (0.5, 1), "n_edges must be an integer >= 2, got 1"),
    ],
)
def test_conversions_reject_bad_input(func, args, match):
    with pytest.raises(ValueError, match=match):
        func(*args)


def test_connect_layers_adds_the_whole_block_once():
    g = rewiring.rewire(layered.layered([4, 3, 3, 3, 2]), n=6, mode="add", seed=1)
    h = layered.connect_layers(g, 1, 3)
    want = edge_set(g) | {(i, j) for i in range(4, 7) for j in range(10, 13)}
    assert edge_set(h) == want and h.history[-1]["added"] == len(want) - g.n_edges
    check_well_formed(h)
    with pytest.raises(ValueError, match="at least two apart"):
        layered.connect_layers(g, 1, 2)
    with pytest.raises(ValueError, match="layer b=7 does not exist"):
        layered.connect_layers(g, 1, 7)
    # A recipe step at once: usable from a spec, hashed and recorded.
    s = spec.TrialSpec(layers=(4, 3, 3, 3, 2), steps=({"op": "connect_layers", "a": 1, "b": 3},))
    assert spec.build_graph(s).kind_counts()["skip"] == 9 and "connect_layers" in s.columns()["steps"]
