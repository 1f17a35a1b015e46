"""Tests of the graph designs that decouple the measures (designs.rewire_span,
rewire_ends, rewire_within_layers, DESIGNS) and of the trial setting ``design``.

Invariants are checked on seeded random graphs against a brute-force listing of the
candidate pairs; uniformity with a chi-square test over many seeded draws.
"""

import itertools

import networkx as nx
import numpy as np
import pytest
from helpers import ALPHA, check_well_formed, edge_set
from scipy import stats

from smallworld_eqp.graph import designs, layered, metrics, recipes, rewiring
from smallworld_eqp.graph.layered import INTRA, SKIP
from smallworld_eqp.study import spec


def random_layers(seed: int, min_layers: int = 3) -> layered.Graph:
    """A layered graph of ``min_layers``-7 random-sized layers, intra-connected or not,
    maybe already rewired (so some candidates are taken)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, size=rng.integers(min_layers, 8)).tolist()
    g = layered.layered(sizes)
    if rng.random() < 0.4:
        g = layered.connect_within_layers(g)
    if rng.random() < 0.5:
        g = rewiring.rewire(
            g, n=int(rng.integers(0, min(g.n_edges, rewiring.n_skip_candidates(g)) + 1)), seed=seed
        )
    return g


def allowed(op: str, arg, la: int, lb: int, n_layers: int) -> bool:
    """Brute force: whether a new edge between layers la <= lb is one the step may add."""
    if op == "rewire_span":
        return lb - la == arg
    if op == "rewire_ends":
        if lb - la < 2:
            return False
        return {"output": lb == n_layers - 1, "input": la == 0, "hidden": la >= 1 and lb <= n_layers - 2}[arg]
    return la == lb and 0 < la < n_layers - 1  # rewire_within_layers


def free_pairs(g: layered.Graph, op: str, arg) -> set[tuple[int, int]]:
    """Brute force: every unconnected pair of neurons the step may join."""
    taken = edge_set(g)
    lay = g.layer_of.tolist()
    return {
        (i, j)
        for i, j in itertools.combinations(range(g.n_neurons), 2)
        if (i, j) not in taken and allowed(op, arg, lay[i], lay[j], g.n_layers)
    }


def step_cases():
    cases = []
    for s in range(36):
        op = ("rewire_span", "rewire_ends", "rewire_within_layers")[s % 3]
        mode = ("replace", "add")[(s // 3) % 2]
        cases.append((s, op, mode))
    return cases


def call(op: str, g: layered.Graph, arg, **kwargs) -> layered.Graph:
    key = {"rewire_span": "span", "rewire_ends": "end"}.get(op)
    return layered.GRAPH_STEPS[op](g, **({key: arg} if key else {}), **kwargs)


def pick_arg(op: str, g: layered.Graph, rng: np.random.Generator):
    if op == "rewire_span":
        return int(rng.integers(2, g.n_layers))
    if op == "rewire_ends":
        ends = ["output", "input"] + (["hidden"] if g.n_layers >= 5 else [])
        return ends[int(rng.integers(len(ends)))]
    return None


@pytest.mark.parametrize("graph_seed, op, mode", step_cases())
def test_design_step_invariants(graph_seed, op, mode):
    g = random_layers(graph_seed)
    rng = np.random.default_rng(graph_seed + 100)
    arg = pick_arg(op, g, rng)
    free = free_pairs(g, op, arg)
    limit = len(free) if mode == "add" else min(len(free), g.n_edges)
    n = int(rng.integers(0, limit + 1))
    h = call(op, g, arg, n=n, mode=mode, seed=graph_seed)
    check_well_formed(h)
    old, new = edge_set(g), edge_set(h)
    added, removed = new - old, old - new
    # Every new edge is a free candidate of the design: its span, its end, inside a hidden layer.
    assert added <= free and len(added) == n
    assert len(removed) == (n if mode == "replace" else 0)
    assert h.n_edges == g.n_edges + (0 if mode == "replace" else n)
    assert len(h.edges) == len(new)  # no duplicate edges
    assert np.all(h.edges[:, 0] != h.edges[:, 1])  # no self-loops
    record = h.history[-1]
    assert record["op"] == op and record["n"] == n and record["mode"] == mode and record["seed"] == graph_seed
    assert rewiring.rewiring(h) == {"n_replaced": n, "p": rewiring.replacements_to_p(n, g.n_edges)}
    # The same seed gives the same graph.
    assert call(op, g, arg, n=n, mode=mode, seed=graph_seed) == h


@pytest.mark.parametrize("op", ["rewire_span", "rewire_ends", "rewire_within_layers"])
def test_design_step_counts_its_candidates_like_brute_force(op):
    for seed in range(20):
        g = random_layers(seed, min_layers=5)
        arg = pick_arg(op, g, np.random.default_rng(seed))
        free = free_pairs(g, op, arg)
        if op == "rewire_within_layers":
            assert len(designs._free_intra_pairs(g)) == len(free)
            continue
        pairs = (
            designs.end_pairs(g.n_layers, arg)
            if op == "rewire_ends"
            else frozenset((a, a + arg) for a in range(g.n_layers - arg))
        )
        assert rewiring.n_skip_candidates(g, pairs) == len(free)
        # All of them can be added, one more cannot.
        h = call(op, g, arg, n=len(free), mode="add", seed=seed)
        assert edge_set(h) - edge_set(g) == free
        with pytest.raises(ValueError, match="only .* unconnected pairs exist"):
            call(op, g, arg, n=len(free) + 1, mode="add", seed=seed)


@pytest.mark.parametrize(
    "op, arg", [("rewire_span", 3), ("rewire_ends", "hidden"), ("rewire_within_layers", None)]
)
def test_design_step_draws_uniformly_among_its_candidates(op, arg):
    g = rewiring.rewire(layered.layered([2, 3, 2, 3, 2, 2]), n=3, seed=5)
    free = sorted(free_pairs(g, op, arg))
    index = {pair: k for k, pair in enumerate(free)}
    counts = np.zeros(len(free))
    draws = 60 * len(free)
    for seed in range(draws):
        (pair,) = edge_set(call(op, g, arg, n=1, mode="add", seed=seed)) - edge_set(g)
        counts[index[pair]] += 1
    assert stats.chisquare(counts).pvalue > ALPHA


def test_design_steps_differ_by_seed_and_accept_a_generator():
    g = layered.layered([8, 8, 8, 8, 8])
    a = designs.rewire_span(g, n=10, span=2, seed=0)
    assert a != designs.rewire_span(g, n=10, span=2, seed=1)
    b = designs.rewire_span(g, n=10, span=2, seed=np.random.default_rng(0))
    assert b == designs.rewire_span(g, n=10, span=2, seed=np.random.default_rng(0))
    assert b.history[-1]["seed"] is None


def test_odd_spans_keep_clustering_zero_and_intra_edges_keep_path_length():
    """The decoupling the designs exist for, checked with networkx: at one count, odd
    spans lower the path length at clustering 0; added intra-layer edges raise the
    clustering and shorten only their own pairs (L falls by 2 / (N (N - 1)) per edge)."""
    g = layered.layered([6, 5, 5, 5, 5, 5, 3])
    n_pairs = g.n_neurons * (g.n_neurons - 1)
    base_l = nx.average_shortest_path_length(g.to_networkx())
    for span in (3, 5):
        h = designs.rewire_span(g, n=20, span=span, mode="add", seed=span)
        assert nx.average_clustering(h.to_networkx()) == 0.0
        assert nx.average_shortest_path_length(h.to_networkx()) < base_l
    h = designs.rewire_within_layers(g, n=20, mode="add", seed=0)
    assert nx.average_clustering(h.to_networkx()) > 0.1
    assert nx.average_shortest_path_length(h.to_networkx()) == pytest.approx(base_l - 2 * 20 / n_pairs)
    assert metrics.clustering_coefficient(designs.rewire_span(g, n=20, span=2, seed=0)) > 0


@pytest.mark.parametrize(
    "op, kwargs, match",
    [
        ("rewire_span", {"n": 3, "span": 1}, "span must be an integer >= 2, got 1"),
        ("rewire_span", {"n": 3, "span": 4}, "span=4 needs at least 5 layers"),
        ("rewire_span", {"n": -1, "span": 2}, "n must be a non-negative integer, got -1"),
        ("rewire_span", {"n": 3, "span": 2, "mode": "swap"}, "mode must be one of replace, add"),
        ("rewire_ends", {"n": 3, "end": "middle"}, "end must be one of output, input, hidden"),
        ("rewire_ends", {"n": 3, "end": "hidden"}, "needs at least 3 hidden layers"),
        (
            "rewire_within_layers",
            {"n": 10**6, "mode": "add"},
            "only 6 unconnected pairs inside hidden layers",
        ),
        ("rewire_ends", {"n": 15, "end": "output", "sizes": [1, 1, 1, 10]}, "n=15 exceeds the 12 edges"),
    ],
)
def test_design_steps_reject_bad_input(op, kwargs, match):
    kwargs = dict(kwargs)
    g = layered.layered(kwargs.pop("sizes", [3, 3, 3, 3]))
    with pytest.raises(ValueError, match=match):
        layered.GRAPH_STEPS[op](g, **kwargs)


def test_design_steps_in_recipes():
    recipe = [{"op": "layered", "sizes": [4, 3, 3, 3, 2]}, {"op": "rewire_ends", "n": 4, "end": "output"}]
    g = recipes.build(recipe, seed=0)
    assert set(g.edge_layers[g.kinds == SKIP][:, 1].tolist()) == {4}
    with pytest.raises(TypeError, match="n must be an integer, got None"):
        recipes.check_recipe([recipe[0], {"op": "rewire_span", "span": 2}])
    with pytest.raises(ValueError, match="takes no argument 'p'"):
        recipes.check_recipe([recipe[0], {"op": "rewire_span", "span": 2, "p": 0.1}])


@pytest.mark.parametrize("design", sorted(designs.DESIGNS))
def test_trial_design_places_the_sweeps_edges(design):
    layers = (6, 5, 5, 5, 5, 5, 3)
    s = spec.TrialSpec(layers=layers, n=12, design=design, seed=3, mode="add")
    g = spec.build_graph(s)
    step = designs.DESIGNS[design]
    assert g.history[-1]["op"] == step["op"] and g.history[-1]["n"] == 12
    assert s.columns()["design"] == design
    counts = g.kind_counts()
    assert counts["intra" if design == "intra" else "skip"] == 12
    if design.startswith("span-"):
        assert set(np.diff(g.edge_layers[g.kinds == SKIP], axis=1).ravel().tolist()) == {int(design[5:])}
    if design == "intra":
        assert np.all(g.kinds != SKIP) and np.count_nonzero(g.kinds == INTRA) == 12


def test_uniform_design_is_the_old_rewiring_with_the_old_trial_id():
    old = spec.TrialSpec(layers=(64, 32, 10), n=20)
    assert old.design == "uniform"
    # The trial id of this spec before the setting existed (version 0.2.0).
    assert old.trial_id == "7a9b983ad485-s0"
    assert spec.build_graph(old) == rewiring.rewire(
        layered.layered([64, 32, 10]), n=20, seed=spec.derived_seed(0, 0)
    )
    other = old.replace(design="span-2")
    assert other.trial_id != old.trial_id


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"design": "span-9"}, "design must be one of uniform, span-2"),
        (
            {"design": "span-2", "p": 0.1, "n": None},
            "got p=0.1 .p and reuse_removed apply to design 'uniform' only",
        ),
        ({"design": "intra", "reuse_removed": True}, "got reuse_removed=True"),
    ],
)
def test_trial_design_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spec.TrialSpec(layers=(6, 5, 5, 5, 3), **{"n": 4, **kwargs})


def test_sweep_varies_the_design_and_records_it(tmp_path):
    from smallworld_eqp import sweep
    from smallworld_eqp.study import schema

    out = tmp_path / "designs.csv"
    args = [
        "--dataset", "digits", "--layers", "64,8,8,8,10", "--n-train", "60", "--n-test", "30",
        "--n-free", "8", "--n-clamped", "2", "--replacements", "0,6", "--seeds", "0",
        "--vary", "design=uniform,span-3,into-output,intra", "--vary", "mode=replace,add",
        "--no-plot", "--quiet", "--out", str(out),
    ]  # fmt: skip
    assert sweep.main(args) == 0
    df = schema.load_sweep(out).set_index(["design", "mode", "n_replaced"])
    assert len(df) == 16 and set(df.index.get_level_values("design")) == {
        "uniform",
        "span-3",
        "into-output",
        "intra",
    }
    for mode in ("replace", "add"):
        assert df.loc[("intra", mode, 6), ["n_intra", "n_skip"]].tolist() == [6, 0]
        assert df.loc[("span-3", mode, 6), ["n_skip", "skip_span"]].tolist() == [6, 3.0]
        assert (
            df.loc[("into-output", mode, 6), "hops_to_output_0"]
            < df.loc[("uniform", mode, 0), "hops_to_output_0"]
        )
        # No new edges: every design's trial is the plain network.
        assert df.loc[("span-3", mode, 0), "n_edges"] == df.loc[("uniform", "replace", 0), "n_edges"]
    assert df.loc[("span-3", "add", 6), "n_edges"] == df.loc[("span-3", "replace", 6), "n_edges"] + 6
