"""Relaxation kernels against the dense reference (tests/naive.py) and eq. 3-9 properties."""

from __future__ import annotations

import dataclasses

import naive
import numpy as np
import pytest

from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine import coordinate, plan
from smallworld_eqp.engine.network import EqPropNetwork
from smallworld_eqp.graph import layered, rewiring

SEEDS = range(12)


def _network(graph, rng, *, solver="euler", weight_scale=1.0, **cfg):
    config = EqPropConfig(dtype="float64", solver=solver, **cfg)
    net = EqPropNetwork(graph, config)
    net.weights[:] = rng.uniform(-weight_scale, weight_scale, graph.n_edges)
    net.biases[graph.layer_sizes[0] :] = rng.uniform(-0.5, 0.5, graph.n_neurons - graph.layer_sizes[0])
    return net


def _relax(net, x, start, n_steps, y=None, kbeta=0.0):
    net._refresh()
    return net._relax(x, y, start, kbeta, n_steps)[0]


def _inputs(rng, graph, batch):
    x = rng.random((batch, graph.layer_sizes[0]))
    y = np.eye(graph.layer_sizes[-1])[rng.integers(0, graph.layer_sizes[-1], batch)]
    start = rng.random((batch, graph.n_neurons))
    return x, y, start


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("solver", ["euler", "coordinate"])
def test_phases_match_dense_reference(seed, solver):
    rng = np.random.default_rng(seed)
    g = naive.random_graph(rng)
    net = _network(g, rng, solver=solver, eps=float(rng.uniform(0.1, 1.0)))
    w, b = naive.dense_weights(g, net.weights), net.biases
    batch = int(rng.integers(1, 8))
    x, y, start = _inputs(rng, g, batch)
    n = 30
    ref = naive.euler if solver == "euler" else naive.coordinate
    args = (net.config.eps,) if solver == "euler" else ()
    # Free phase from zeros and from a persistent start state.
    for s_init in (np.zeros_like(start), start):
        got = _relax(net, x, s_init, n)
        np.testing.assert_allclose(got, ref(w, b, x, s_init, *args, n), rtol=0, atol=1e-10)
    # Clamped phase with both nudge factors, and a negative beta.
    for kbeta in (1.0, 2.0, -0.7):
        got = _relax(net, x, start, n, y, kbeta)
        np.testing.assert_allclose(got, ref(w, b, x, start, *args, n, y, kbeta), rtol=0, atol=1e-10)


@pytest.mark.parametrize("mode", ["replace", "add"])
def test_coordinate_blocked_gauss_seidel_on_wide_layers(mode):
    # Hidden layers wider than coordinate.COORD_BLOCK, so a layer spans several blocks.
    rng = np.random.default_rng(21)
    g = layered.connect_within_layers(layered.layered([9, 37, 40, 5]))
    g = rewiring.rewire(g, n=150, mode=mode, seed=4)
    assert min(g.layer_sizes[1:-1]) > 2 * coordinate.COORD_BLOCK
    net = _network(g, rng, solver="coordinate", weight_scale=0.3)
    w, b = naive.dense_weights(g, net.weights), net.biases
    x, y, start = _inputs(rng, g, 6)
    np.testing.assert_allclose(_relax(net, x, start, 7), naive.coordinate(w, b, x, start, 7), atol=1e-10)
    got = _relax(net, x, start, 5, y, 1.5)
    np.testing.assert_allclose(got, naive.coordinate(w, b, x, start, 5, y, 1.5), atol=1e-10)


@pytest.mark.parametrize("density", [0.0, 1.01])
@pytest.mark.parametrize("seed", range(4))
def test_dense_and_csr_paths_agree(monkeypatch, density, seed):
    # All blocks dense (threshold 0) or all edges in the CSR (threshold > 1).
    monkeypatch.setattr(plan, "DENSE_MIN_DENSITY", density)
    rng = np.random.default_rng(100 + seed)
    g = naive.random_graph(rng)
    net = _network(g, rng)
    x, y, start = _inputs(rng, g, 5)
    w = naive.dense_weights(g, net.weights)
    got = _relax(net, x, start, 25, y, 1.0)
    np.testing.assert_allclose(got, naive.euler(w, net.biases, x, start, 0.5, 25, y, 1.0), rtol=0, atol=1e-10)


def test_public_phases_match_reference():
    rng = np.random.default_rng(7)
    g = rewiring.rewire(layered.connect_within_layers(layered.layered([6, 5, 5, 3])), n=9, seed=1)
    net = _network(g, rng, n_free=40, n_clamped=6, nudge_factor=2.0, beta=0.5)
    x, y, _ = _inputs(rng, g, 7)
    w, b = naive.dense_weights(g, net.weights), net.biases
    s0 = net.free_phase(x)
    np.testing.assert_allclose(s0, naive.euler(w, b, x, np.zeros_like(s0), 0.5, 40), atol=1e-10)
    sb = net.clamped_phase(x, y, s0)
    np.testing.assert_allclose(sb, naive.euler(w, b, x, s0, 0.5, 6, y, 1.0), atol=1e-10)


def _contractive(net, graph, rng, norm=0.9):
    """Scale the state-to-state weights so that ||W_ss||_2 = norm < 1: then I - W_ss is
    positive definite, the gradient of E is (1 + norm)-Lipschitz and eq. 9 with eps <= 1
    is projected gradient descent with a step below 2 / L, which cannot increase E."""
    w = naive.dense_weights(graph, net.weights)
    n_in = graph.layer_sizes[0]
    scale = norm / max(np.linalg.norm(w[n_in:, n_in:], 2), 1e-12)
    state_edge = graph.edges[:, 0] >= n_in
    net.weights[state_edge] *= scale


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("solver", ["euler", "coordinate"])
def test_energy_never_increases(seed, solver):
    rng = np.random.default_rng(200 + seed)
    g = naive.random_graph(rng)
    eps = float(rng.uniform(0.05, 1.0))
    net = _network(g, rng, solver=solver, eps=eps, weight_scale=2.0)
    if solver == "euler":
        _contractive(net, g, rng)
    w, b = naive.dense_weights(g, net.weights), net.biases
    x, y, start = _inputs(rng, g, 4)
    for kbeta, y_d, s_init in ((0.0, None, np.zeros_like(start)), (1.0, y, start)):
        yy = np.zeros_like(y) if y_d is None else y_d
        prev = naive.total_energy(w, b, _relax(net, x, s_init, 0, y_d, kbeta), yy, kbeta)
        for t in range(1, 25):
            cur = naive.total_energy(w, b, _relax(net, x, s_init, t, y_d, kbeta), yy, kbeta)
            assert np.all(cur <= prev + 1e-12), (t, cur - prev)
            prev = cur


def test_tol_stops_each_example_at_its_fixed_point():
    rng = np.random.default_rng(3)
    g = layered.connect_within_layers(layered.layered([5, 6, 6, 3]))
    net = _network(g, rng, tol=1e-9)
    _contractive(net, g, rng, norm=0.5)
    x, _, _ = _inputs(rng, g, 5)
    net._refresh()
    s, steps = net._relax(x, None, None, 0.0, 10_000)
    assert np.all(steps < 10_000) and np.all(steps > 1)
    w = naive.dense_weights(g, net.weights)
    for k in range(5):
        # Each example equals the reference run for exactly its own number of steps.
        ref = naive.euler(w, net.biases, x[k : k + 1], np.zeros((1, g.n_neurons)), 0.5, int(steps[k]))
        np.testing.assert_allclose(s[k : k + 1], ref, atol=1e-12)
        ref_more = naive.euler(
            w, net.biases, x[k : k + 1], np.zeros((1, g.n_neurons)), 0.5, int(steps[k]) + 50
        )
        assert np.abs(ref_more - ref).max() < 1e-7


def _fixed_point(w, b, x, y=None, beta=0.0):
    s = naive.euler(w, b, x, np.zeros((x.shape[0], w.shape[0])), 1.0, 400, y, beta)
    step = naive.euler(w, b, x, s, 1.0, 1, y, beta)
    assert np.abs(step - s).max() < 1e-14
    return s


@pytest.mark.parametrize("regression", [False, True], ids=["one-hot", "regression"])
def test_eqprop_theorem_gradient_matches_finite_differences(regression):
    # Tiny net, small weights (||W|| < 1: E strictly convex, unique fixed point) and
    # biases near 1/2 (states interior), so s*(W) is smooth and C(s*(W)) differentiable.
    # Real-valued targets (a regression's cost) as well as one-hot ones.
    rng = np.random.default_rng(11)
    g = rewiring.rewire(layered.connect_within_layers(layered.layered([3, 4, 3, 2])), n=4, mode="add", seed=2)
    net = _network(g, rng, weight_scale=0.25, n_free=3000, n_clamped=3000, tol=1e-15, eps=1.0, beta=1e-6)
    net.biases[3:] = rng.uniform(0.3, 0.7, g.n_neurons - 3)
    x, y, _ = _inputs(rng, g, 1)
    if regression:
        y = rng.random(y.shape)
    s0 = net.free_phase(x)
    sb = net.clamped_phase(x, y, s0)
    assert np.all((s0[0, 3:] > 0.01) & (s0[0, 3:] < 0.99))
    i, j = g.edges[:, 0], g.edges[:, 1]
    beta = net.config.beta
    eqprop_w = (sb[0, i] * sb[0, j] - s0[0, i] * s0[0, j]) / beta
    eqprop_b = (sb[0] - s0[0]) / beta

    def c_of(weights, biases):
        w = naive.dense_weights(g, weights)
        return naive.cost(_fixed_point(w, biases, x), y)[0]

    h = 1e-6
    grad_w = np.empty(g.n_edges)
    for e in range(g.n_edges):
        wp, wm = net.weights.copy(), net.weights.copy()
        wp[e] += h
        wm[e] -= h
        grad_w[e] = (c_of(wp, net.biases) - c_of(wm, net.biases)) / (2 * h)
    grad_b = np.empty(g.n_neurons - 3)
    for k in range(3, g.n_neurons):
        bp, bm = net.biases.copy(), net.biases.copy()
        bp[k] += h
        bm[k] -= h
        grad_b[k - 3] = (c_of(net.weights, bp) - c_of(net.weights, bm)) / (2 * h)
    assert np.linalg.norm(eqprop_w + grad_w) < 1e-3 * np.linalg.norm(grad_w)
    assert np.linalg.norm(eqprop_b[3:] + grad_b) < 1e-3 * np.linalg.norm(grad_b)


def test_plan_holds_every_edge_in_both_directions():
    # The plan applied to unit vectors reproduces the dense matrix column by column.
    rng = np.random.default_rng(5)
    g = naive.random_graph(rng, max_layers=5, max_size=6)
    net = _network(g, rng)
    net.biases[:] = 0
    w = naive.dense_weights(g, net.weights)
    n_in = g.layer_sizes[0]
    # One Euler step with eps = 1 from s = e_k (k a state neuron) gives clip(W[k] + x W_in).
    cfg = dataclasses.replace(net.config, eps=1.0)
    net2 = EqPropNetwork(g, cfg)
    net2.weights[:] = net.weights
    x = np.zeros((g.n_neurons - n_in, n_in))
    start = np.zeros((g.n_neurons - n_in, g.n_neurons))
    start[:, n_in:] = np.eye(g.n_neurons - n_in) * 1e-3
    got = _relax(net2, x, start, 1)
    np.testing.assert_allclose(got[:, n_in:], np.clip(1e-3 * w[n_in:, n_in:], 0, 1), atol=1e-15)
