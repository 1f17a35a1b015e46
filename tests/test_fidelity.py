"""The authors'-code variant against a literal transcription of their code (tests/naive.py).

``nudge="after-step"`` with ``nudge_factor=2``, ``bias_learning_rate``, ``batch_order="fixed"``
and ``test_particles`` reproduce github.com/jgammell/equilibrium_propagation step by step; the
engine's own random draws (batch order, beta signs) are fed to the transcription.
"""

from __future__ import annotations

import naive
import numpy as np
import pytest
from helpers import STATE_TOL, assert_update

from smallworld_eqp import datasets
from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine.network import EqPropNetwork
from smallworld_eqp.graph import layered, rewiring

AUTHORS = {"nudge": "after-step", "nudge_factor": 2.0, "eps": 0.5}


def _network(graph, rng, dtype="float64", **cfg):
    net = EqPropNetwork(graph, EqPropConfig(dtype=dtype, **{**AUTHORS, **cfg}))
    net.set_parameters(
        rng.uniform(-0.6, 0.6, graph.n_edges),
        np.concatenate(
            [np.zeros(graph.layer_sizes[0]), rng.uniform(-0.3, 0.3, graph.n_neurons - graph.layer_sizes[0])]
        ),
    )
    return net


def _batch(rng, graph, batch):
    x = rng.random((batch, graph.layer_sizes[0]))
    y = np.eye(graph.layer_sizes[-1])[rng.integers(0, graph.layer_sizes[-1], batch)]
    return x, y


def _skip_graph(rng):
    """A random layered graph with layer-skipping edges (and maybe intra-layer ones)."""
    while True:
        g = naive.random_graph(rng)
        if g.kind_counts()["skip"]:
            return g


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", range(8))
def test_phases_match_the_authors_steps(seed, dtype):
    rng = np.random.default_rng(seed)
    g = _skip_graph(rng)
    n_in = g.layer_sizes[0]
    net = _network(g, rng, dtype)
    W, B = naive.dense_weights(g, net.weights.astype(float)), net.biases.astype(float)
    x, y = _batch(rng, g, int(rng.integers(1, 9)))
    s = np.zeros((x.shape[0], g.n_neurons))
    s[:, n_in:] = rng.random((x.shape[0], g.n_neurons - n_in))
    s[:, :n_in] = x
    start = s.copy()
    for _ in range(40):
        s = naive.authors_step_free(s, W, B, 0.5, n_in)
    net._refresh()
    s0 = net._relax(x.astype(dtype), None, start.astype(dtype), 0.0, 40)[0]
    np.testing.assert_allclose(s0, s, rtol=0, atol=STATE_TOL[dtype])
    for beta in (1.0, -1.0, 0.7):
        sb = s.copy()
        for _ in range(12):
            sb = naive.authors_step_weakly_clamped(sb, W, B, 0.5, beta, y, n_in)
        got = net._relax(x.astype(dtype), y.astype(dtype), s.astype(dtype), 2.0 * beta, 12)[0]
        np.testing.assert_allclose(got, sb, rtol=0, atol=STATE_TOL[dtype])


def test_one_authors_step_puts_the_outputs_on_their_targets():
    # eps 0.5, beta +1, factor 2: u + 2 * 0.5 * (y - u) = y whatever the free step gave.
    rng = np.random.default_rng(3)
    g = rewiring.rewire(layered.layered([5, 4, 4, 3]), p=0.3, seed=1)
    net = _network(g, rng, beta=1.0)
    x, y = _batch(rng, g, 6)
    s0 = net.free_phase(x)
    sb = net._relax(x, y, s0, 2.0, 1)[0]
    np.testing.assert_allclose(sb[:, -3:], y, atol=1e-12)
    gradient = EqPropNetwork(g, EqPropConfig(dtype="float64", nudge_factor=2.0))
    gradient.set_parameters(net.weights, net.biases)
    gradient._refresh()
    assert np.abs(gradient._relax(x, y, s0, 2.0, 1)[0][:, -3:] - y).max() > 0.1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", range(6))
def test_train_batch_matches_the_authors_update(seed, dtype):
    rng = np.random.default_rng(50 + seed)
    cfg = {"n_free": 40, "n_clamped": 8, "persistent_particles": True, "random_beta_sign": True}
    if seed % 2:  # their per-pair rates run: no skip edges, biases at rate 1 (the slicing bug)
        g = layered.layered([int(v) for v in rng.integers(2, 7, int(rng.integers(3, 6)))])
        lr = tuple(float(v) for v in rng.uniform(0.01, 0.2, g.n_layers - 1))
        net = _network(g, rng, dtype, learning_rate=lr, bias_learning_rate=1.0, **cfg)
    else:
        g = _skip_graph(rng)
        lr = 0.05
        net = _network(g, rng, dtype, learning_rate=lr, **cfg)
    n_in = g.layer_sizes[0]
    x, y = _batch(rng, g, int(rng.integers(1, 7)))
    idx = np.arange(x.shape[0])
    particle = rng.random((x.shape[0], g.n_neurons - n_in))
    net._particles.store(idx, particle.astype(dtype))
    w0, b0 = net.weights.astype(float), net.biases.astype(float)
    W = naive.dense_weights(g, w0)
    for _ in range(3):  # a few batches, so both signs of beta come up
        out = net.train_batch(x.astype(dtype), y.astype(dtype), idx)
        W1, B1, particle, beta, n_correct, _, _ = naive.authors_train_batch(
            W, naive.dense_mask(g), b0, particle, x, y, 0.5, 1.0, out.beta < 0, 40, 8, lr, g.layer_sizes
        )
        assert beta == out.beta
        np.testing.assert_allclose(net._particles.states[idx], particle, rtol=0, atol=STATE_TOL[dtype])
        assert out.error * x.shape[0] == pytest.approx(x.shape[0] - n_correct)
        assert_update(net.weights, w0, np.array([W1[i, j] - W[i, j] for i, j in g.edges]), np.max(lr))
        assert_update(net.biases, b0, B1 - b0, 1.0)
        assert np.all(net.biases[:n_in] == 0)
        # Go on from the engine's parameters, so each batch is compared on its own.
        w0, b0 = net.weights.astype(float), net.biases.astype(float)
        W = naive.dense_weights(g, w0)
        particle = net._particles.states[idx].astype(float)


def _toy_data(rng, n_train, n_test, n_in, n_out):
    def split(n):
        return rng.random((n, n_in)), np.eye(n_out)[rng.integers(0, n_out, n)]

    return datasets.Dataset("toy", *split(n_train), *split(n_test))


def test_two_epochs_match_the_authors_trial_loop():
    # Fixed batches in a once-shuffled order, per-batch particles, a persisting sign
    # flip, test particles evaluated before training and after every epoch.
    rng = np.random.default_rng(11)
    g = rewiring.rewire(layered.layered([6, 5, 5, 5, 3]), p=0.2, seed=4)
    data = _toy_data(rng, 23, 11, 6, 3)  # remainders dropped: 4 batches of 5, 2 test batches
    cfg = dict(
        batch_size=5,
        n_free=30,
        n_clamped=6,
        learning_rate=0.05,
        random_beta_sign=True,
        persistent_particles=True,
        batch_order="fixed",
        test_particles=True,
    )
    net = _network(g, rng, **cfg)
    W, B = naive.dense_weights(g, net.weights), net.biases.copy()
    order = [int(i[0]) // 5 for i, _, _ in data.batches(5, shuffle_seed=9, fixed_groups=True)]
    assert sorted(order) == [0, 1, 2, 3]
    test_errors = [net.evaluate(data.x_test, data.y_test, particles=True)]
    online, betas = [], []
    for _ in range(2):
        rec = net.train_epoch(data, progress=False, shuffle_seed=9)
        online.append(float(np.mean(rec.error)))
        betas += list(rec.beta)
        test_errors.append(net.evaluate(data.x_test, data.y_test, particles=True))
    signs = np.sign(betas)
    flips = signs != np.concatenate([[1.0], signs[:-1]])

    def groups(x, y, which):
        return [(x[k * 5 : k * 5 + 5].astype(float), y[k * 5 : k * 5 + 5].astype(float)) for k in which]

    W2, B2, want_online, want_test, want_betas = naive.authors_run(
        W,
        naive.dense_mask(g),
        B,
        groups(data.x_train, data.y_train, order),
        groups(data.x_test, data.y_test, [0, 1]),
        flips,
        epochs=2,
        eps=0.5,
        beta=1.0,
        n_free=30,
        n_clamped=6,
        lr=0.05,
        layer_sizes=g.layer_sizes,
    )
    np.testing.assert_array_equal(betas, want_betas)
    np.testing.assert_allclose(online, want_online, atol=1e-12)
    np.testing.assert_allclose(test_errors, want_test, atol=1e-12)
    np.testing.assert_allclose(net.weights, [W2[i, j] for i, j in g.edges], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.biases, B2, rtol=1e-9, atol=1e-12)


def test_after_step_nudge_needs_the_euler_solver():
    with pytest.raises(
        ValueError, match="nudge='after-step' is a form of the euler step; it needs solver='euler'"
    ):
        EqPropConfig(nudge="after-step", solver="coordinate")
    with pytest.raises(ValueError, match="nudge must be one of gradient, after-step, symmetric, got 'late'"):
        EqPropConfig(nudge="late")


def _block_counts(edges, layer_of, n_layers):
    counts = np.zeros((n_layers, n_layers))
    for i, j in edges:
        counts[layer_of[i], layer_of[j]] += 1
    return counts


def test_rewiring_that_reuses_removed_edges_has_the_authors_law():
    # The same law as the code's loop, not the same random stream: compare the mean
    # number of edges of every block of layers over many seeds within 5 standard
    # errors; the adjacent blocks count the kept and the restored edges.
    sizes, p, runs = [3, 3, 3, 2], 0.4, 1500
    base = layered.layered(sizes)
    layer_of, n_layers = base.layer_of, base.n_layers
    ours, plain, theirs, restored = [], [], [], []
    for seed in range(runs):
        g = rewiring.rewire(base, p=p, reuse_removed=True, seed=seed)
        assert g.n_edges == base.n_edges
        ours.append(_block_counts(g.edges.tolist(), layer_of, n_layers))
        restored.append(g.history[-1]["restored"])
        plain.append(_block_counts(rewiring.rewire(base, p=p, seed=seed).edges.tolist(), layer_of, n_layers))
        edges = naive.authors_rewire(sizes, p, np.random.RandomState(seed))
        assert len(edges) == base.n_edges
        theirs.append(_block_counts(edges, layer_of, n_layers))
    ours, plain, theirs = np.array(ours), np.array(plain), np.array(theirs)
    se = np.sqrt((ours.var(axis=0) + theirs.var(axis=0)) / runs) + 1e-12
    assert np.all(np.abs(ours.mean(axis=0) - theirs.mean(axis=0)) <= 5 * se)
    # Without reuse no removed edge comes back: fewer adjacent edges, by the restored ones.
    pairs = (np.arange(n_layers - 1), np.arange(1, n_layers))
    gained = ours[:, pairs[0], pairs[1]].sum(axis=1).mean() - plain[:, pairs[0], pairs[1]].sum(axis=1).mean()
    assert np.mean(restored) > 1.0
    assert gained == pytest.approx(np.mean(restored), rel=0.1)


def test_every_authors_preset_uses_the_authors_dynamics():
    from smallworld_eqp.study.grid import expand
    from smallworld_eqp.study.presets import SWEEP_PRESETS, TRAIN_PRESETS

    presets = {**SWEEP_PRESETS, **TRAIN_PRESETS}
    names = [name for name in presets if name.startswith("authors-")]
    assert len(names) == 10
    for name in names:
        preset = presets[name]
        assert preset["intra"] is False and preset["reuse_removed"] is True, name
        cfg = expand(preset)[0].config
        assert (cfg.nudge, cfg.nudge_factor, cfg.eps, cfg.beta) == ("after-step", 2.0, 0.5, 1.0), name
        assert cfg.batch_size == (20 if preset["dataset"] == "mnist" else 5), name
        assert cfg.random_beta_sign and cfg.persistent_particles and cfg.test_particles, name
        assert cfg.batch_order == "fixed", name
        if preset["dataset"] == "mnist":  # all of it; the small sets are split as the code splits them
            assert (preset["n_train"], preset["n_test"]) == (60_000, 10_000), name
        # The code's literal 'bypass mag': the mean Glorot bound to three digits (.579 is truncated).
        sizes = np.array(preset["layers"])
        mean_glorot = np.mean(naive.glorot_bound(sizes[:-1], sizes[1:]))
        assert cfg.skip_init == pytest.approx(mean_glorot, abs=1e-3), name
    per_layer = expand(presets["authors-code-500x3-per-layer"])[0].config
    assert per_layer.learning_rate == (0.128, 0.032, 0.008, 0.002) and per_layer.bias_learning_rate == 1.0
