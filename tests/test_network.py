"""EqPropNetwork: updates against the dense reference, options, determinism, I/O, errors, learning."""

from __future__ import annotations

import dataclasses
import os
import pathlib

import naive
import numba
import numpy as np
import pytest

from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine import kernels, network_file
from smallworld_eqp.engine.batch import BatchStats, DivergenceError
from smallworld_eqp.engine.network import EqPropNetwork
from smallworld_eqp.graph import layered, rewiring
from smallworld_eqp.study import trial


def _graph():
    g = layered.connect_within_layers(layered.layered([6, 5, 4, 4, 3]))
    return rewiring.rewire(g, n=12, seed=3)


def _data(rng, graph, batch):
    x = rng.random((batch, graph.layer_sizes[0]))
    y = np.eye(graph.layer_sizes[-1])[rng.integers(0, graph.layer_sizes[-1], batch)]
    return x, y


def _reference_batch(graph, weights, biases, x, y, cfg, beta, start=None):
    """Free phase, clamped phase and update, all by the dense reference."""
    w = naive.dense_weights(graph, weights)
    start = np.zeros((x.shape[0], graph.n_neurons)) if start is None else start
    s0 = naive.euler(w, biases, x, start, cfg.eps, cfg.n_free)
    sb = naive.euler(w, biases, x, s0, cfg.eps, cfg.n_clamped, y, cfg.nudge_factor * beta)
    return s0, naive.update(graph, weights, biases, s0, sb, beta, cfg.learning_rate)


def _rms_reference(graph, dw):
    la = graph.edge_layers[:, 0]
    sizes = graph.layer_sizes
    adj = graph.kinds == layered.ADJACENT
    rms = [
        np.sqrt(np.sum(dw[adj & (la == p)] ** 2) / (sizes[p] * sizes[p + 1])) for p in range(len(sizes) - 1)
    ]
    rms_edges = [np.sqrt(np.mean(dw[adj & (la == p)] ** 2)) for p in range(len(sizes) - 1)]
    intra = np.sqrt(np.mean(dw[graph.kinds == layered.INTRA] ** 2))
    skip = np.sqrt(np.mean(dw[graph.kinds == layered.SKIP] ** 2))
    return rms, rms_edges, intra, skip


@pytest.mark.parametrize("lr", [0.05, (0.4, 0.2, 0.1, 0.05)])
@pytest.mark.parametrize("nudge", [1.0, 2.0])
def test_train_batch_matches_reference(lr, nudge):
    rng = np.random.default_rng(1)
    g = _graph()
    cfg = EqPropConfig(
        n_free=30, n_clamped=5, learning_rate=lr, nudge_factor=nudge, beta=0.7, dtype="float64"
    )
    net = EqPropNetwork(g, cfg)
    for _ in range(3):
        x, y = _data(rng, g, 5)
        w, b = net.weights.copy(), net.biases.copy()
        out = net.train_batch(x, y)
        s0, (w_ref, b_ref, dw) = _reference_batch(g, w, b, x, y, cfg, 0.7)
        np.testing.assert_allclose(net.weights, w_ref, rtol=0, atol=1e-10)
        np.testing.assert_allclose(net.biases, b_ref, rtol=0, atol=1e-10)
        assert net.biases[:6].tolist() == [0.0] * 6
        rms, rms_edges, intra, skip = _rms_reference(g, dw)
        np.testing.assert_allclose(out.rms, rms, rtol=1e-9)
        np.testing.assert_allclose(out.rms_edges, rms_edges, rtol=1e-9)
        np.testing.assert_allclose([out.rms_intra, out.rms_skip], [intra, skip], rtol=1e-9)
        y0 = s0[:, -3:]
        assert out.error == np.mean(y0.argmax(1) != y.argmax(1))
        assert out.cost == pytest.approx(np.mean(naive.cost(s0, y)), rel=1e-12)
        assert out.free_steps == 30 and out.beta == 0.7


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
@pytest.mark.parametrize("seed", range(6))
def test_symmetric_nudge_matches_reference(seed):
    # Random graphs and settings: one or per-pair rates, nudge factor, beta's sign drawn
    # per batch or not, persistent particles; three batches in a row.
    rng = np.random.default_rng(seed)
    g = naive.random_graph(rng)
    lr = 0.1 if seed % 2 else tuple(rng.uniform(0.02, 0.2, g.n_layers - 1))
    cfg = EqPropConfig(
        nudge="symmetric",
        n_free=int(rng.integers(5, 40)),
        n_clamped=int(rng.integers(1, 10)),
        learning_rate=lr,
        nudge_factor=float(rng.choice([1.0, 2.0])),
        beta=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 1.0)),
        random_beta_sign=bool(seed % 3 == 0),
        persistent_particles=bool(seed % 2),
        dtype="float64",
        seed=seed,
    )
    net = EqPropNetwork(g, cfg)
    n_in = g.layer_sizes[0]
    particles = {}
    for _ in range(3):
        x, y = _data(rng, g, int(rng.integers(1, 6)))
        idx = rng.choice(8, size=x.shape[0], replace=False)
        start = np.zeros((x.shape[0], g.n_neurons))
        if cfg.persistent_particles:
            for row, k in enumerate(idx):
                start[row, n_in:] = particles.get(k, 0.0)
        w, b = net.weights.copy(), net.biases.copy()
        out = net.train_batch(x, y, idx if cfg.persistent_particles else None)
        assert abs(out.beta) == abs(cfg.beta) and (cfg.random_beta_sign or out.beta == cfg.beta)
        s0, w_ref, b_ref, dw = naive.symmetric_train_batch(
            g, w, b, x, y, cfg.eps, out.beta, cfg.nudge_factor, cfg.n_free, cfg.n_clamped, lr, start
        )
        for row, k in enumerate(idx):
            particles[k] = s0[row, n_in:]
        np.testing.assert_allclose(net.weights, w_ref, rtol=0, atol=1e-10)
        np.testing.assert_allclose(net.biases, b_ref, rtol=0, atol=1e-10)
        rms, rms_edges, intra, skip = _rms_reference(g, dw)  # NaN where a kind has no edge
        np.testing.assert_allclose(out.rms, rms, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(out.rms_edges, rms_edges, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose([out.rms_intra, out.rms_skip], [intra, skip], rtol=1e-9, atol=1e-15)
        assert out.cost == pytest.approx(np.mean(naive.cost(s0, y)), rel=1e-12)


@pytest.mark.parametrize("nudge", ["gradient", "symmetric"])
def test_coordinate_training_matches_reference(nudge):
    rng = np.random.default_rng(8)
    g = _graph()
    cfg = EqPropConfig(
        n_free=12, n_clamped=3, solver="coordinate", beta=0.5, nudge_factor=2.0, nudge=nudge, dtype="float64"
    )
    net = EqPropNetwork(g, cfg)
    x, y = _data(rng, g, 7)
    w0, b0 = net.weights.copy(), net.biases.copy()
    net.train_batch(x, y)
    w = naive.dense_weights(g, w0)
    s0 = naive.coordinate(w, b0, x, np.zeros((7, g.n_neurons)), 12)
    sb = naive.coordinate(w, b0, x, s0, 3, y, 1.0)
    if nudge == "symmetric":  # from the -beta to the +beta phase, over 2 beta
        s0 = naive.coordinate(w, b0, x, s0, 3, y, -1.0)
    w_ref, b_ref, _ = naive.update(g, w0, b0, s0, sb, 0.5 if nudge == "gradient" else 1.0, cfg.learning_rate)
    np.testing.assert_allclose(net.weights, w_ref, atol=1e-10)
    np.testing.assert_allclose(net.biases, b_ref, atol=1e-10)


def test_tol_stops_early_and_is_reported():
    rng = np.random.default_rng(9)
    g = _graph()
    net = EqPropNetwork(g, EqPropConfig(n_free=5000, tol=1e-6, dtype="float64"))
    x, y = _data(rng, g, 6)
    out = net.train_batch(x, y)
    assert 1 < out.free_steps < 5000
    ref = EqPropNetwork(g, EqPropConfig(n_free=out.free_steps + 200, dtype="float64"))
    ref.weights[:] = net.weights
    ref.biases[:] = net.biases
    np.testing.assert_allclose(net.free_phase(x), ref.free_phase(x), atol=1e-5)


class _Arrays:
    """A minimal stand-in for datasets.Dataset (batches in stored order)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def n_batches(self, batch_size, *, fixed_groups=False):
        assert not fixed_groups
        return -(-self.x.shape[0] // batch_size)

    def batches(self, batch_size, *, shuffle_seed=None, fixed_groups=False):
        assert not fixed_groups
        order = np.arange(self.x.shape[0])
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed).permutation(order)
        for a in range(0, order.shape[0], batch_size):
            idx = order[a : a + batch_size]
            yield idx, self.x[idx], self.y[idx]


def test_train_epoch_evaluate_predict():
    rng = np.random.default_rng(10)
    g = _graph()
    x, y = _data(rng, g, 23)
    cfg = EqPropConfig(n_free=10, n_clamped=3, batch_size=5, persistent_particles=True)
    net, twin = EqPropNetwork(g, cfg), EqPropNetwork(g, cfg)
    rec = net.train_epoch(_Arrays(x, y), progress=False, shuffle_seed=1)
    assert rec.rms.shape == (5, 4) and rec.rms_edges.shape == (5, 4)
    for key in ("error", "cost", "rms_intra", "rms_skip", "free_steps", "beta"):
        assert getattr(rec, key).shape == (5,)
    # The same batches through train_batch give the same weights and records.
    for k, (idx, xb, yb) in enumerate(_Arrays(x, y).batches(5, shuffle_seed=1)):
        assert twin.train_batch(xb, yb, idx).error == rec.error[k]
    assert np.array_equal(net.weights, twin.weights)
    assert len(net.train_epoch(_Arrays(x, y), progress=False, max_batches=2).error) == 2
    pred = net.predict(x)
    assert pred.shape == (23,) and pred.dtype.kind == "i"
    assert np.array_equal(pred, net.free_phase(x)[:, -3:].argmax(axis=1))
    err = net.evaluate(x, y)
    assert err == np.mean(pred != y.argmax(axis=1))
    # Other batch sizes relax the same examples (up to rounding in differently
    # shaped GEMMs, which could flip a near-tie).
    assert abs(net.evaluate(x, y, batch_size=4) - err) <= 2 / 23


def test_init_bounds_and_seed():
    g = _graph()
    sizes = g.layer_sizes
    for skip_init in (0.05, 0.3, "mean-glorot"):
        w = EqPropNetwork(g, EqPropConfig(skip_init=skip_init, seed=4)).weights
        la = g.edge_layers[:, 0]
        glorot = [naive.glorot_bound(sizes[p], sizes[p + 1]) for p in range(len(sizes) - 1)]
        a = np.mean(glorot) if skip_init == "mean-glorot" else skip_init
        for p, bound in enumerate(glorot):
            sel = (g.kinds == layered.ADJACENT) & (la == p)
            assert np.all(np.abs(w[sel]) <= bound) and np.abs(w[sel]).max() > 0.7 * bound
        other = g.kinds != layered.ADJACENT
        assert np.all(np.abs(w[other]) <= a) and np.abs(w[other]).max() > 0.7 * a
    a, b, c = (EqPropNetwork(g, EqPropConfig(seed=s)).weights for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert (
        a.dtype == np.float32 and EqPropNetwork(g, EqPropConfig(dtype="float64")).biases.dtype == np.float64
    )
    assert not np.any(EqPropNetwork(g).biases)


def test_persistent_particles_start_from_last_free_state():
    rng = np.random.default_rng(2)
    g = _graph()
    cfg = EqPropConfig(n_free=20, n_clamped=4, persistent_particles=True, dtype="float64")
    net = EqPropNetwork(g, cfg)
    x, y = _data(rng, g, 6)
    with pytest.raises(ValueError, match="indices"):
        net.train_batch(x, y)
    idx = np.array([0, 7, 3, 2, 9, 4])
    w, b = net.weights.copy(), net.biases.copy()
    net.train_batch(x, y, idx)
    s0_first, _ = _reference_batch(g, w, b, x, y, cfg, 1.0)
    # Second pass over examples 7 and 3 (seen) and 11 (new, starts from zeros).
    sel, idx2 = [1, 2, 0], np.array([7, 3, 11])
    x2, y2 = x[sel].copy(), y[sel].copy()
    start = np.zeros((3, g.n_neurons))
    start[:2] = s0_first[[1, 2]]
    w, b = net.weights.copy(), net.biases.copy()
    net.train_batch(x2, y2, idx2)
    _, (w_ref, b_ref, _) = _reference_batch(g, w, b, x2, y2, cfg, 1.0, start=start)
    np.testing.assert_allclose(net.weights, w_ref, atol=1e-10)
    np.testing.assert_allclose(net.biases, b_ref, atol=1e-10)


def test_random_beta_sign_is_seeded_and_used():
    rng = np.random.default_rng(3)
    g = _graph()
    cfg = EqPropConfig(n_free=10, n_clamped=3, random_beta_sign=True, beta=0.5, dtype="float64", seed=5)
    nets = [EqPropNetwork(g, cfg), EqPropNetwork(g, cfg), EqPropNetwork(g, dataclasses.replace(cfg, seed=6))]
    betas = [[], [], []]
    for _ in range(30):
        x, y = _data(rng, g, 4)
        for k, net in enumerate(nets):
            w, b = net.weights.copy(), net.biases.copy()
            betas[k].append(net.train_batch(x, y).beta)
            if k == 0:
                _, (w_ref, _, _) = _reference_batch(g, w, b, x, y, cfg, betas[0][-1])
                np.testing.assert_allclose(net.weights, w_ref, atol=1e-10)
    assert set(betas[0]) == {0.5, -0.5}
    assert betas[0] == betas[1] and betas[0] != betas[2]
    assert np.array_equal(nets[0].weights, nets[1].weights)


def _train_a_little(threads):
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        # Enough edges for two update blocks; dense blocks, CSR skip edges and padding.
        g = rewiring.rewire(layered.connect_within_layers(layered.layered([100, 60, 60, 10])), n=300, seed=1)
        net = EqPropNetwork(g, EqPropConfig(n_free=40, n_clamped=6, batch_size=9, persistent_particles=True))
        assert g.n_edges > kernels.UPDATE_BLOCK and net._plan.d_indptr[-1] > 0
        for k in range(4):
            x, y = _data(rng, g, 9)
            net.train_batch(x, y, np.arange(9) + 9 * (k % 2))
        return net.weights.copy(), net.biases.copy(), net.free_phase(x)
    finally:
        numba.set_num_threads(old)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs at least 2 numba threads")
def test_results_do_not_depend_on_thread_count():
    one, two = _train_a_little(1), _train_a_little(2)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    g = _graph()
    cfg = EqPropConfig(
        n_free=15, n_clamped=3, persistent_particles=True, random_beta_sign=True, learning_rate=[0.1] * 4
    )
    net = EqPropNetwork(g, cfg)
    for k in range(3):
        x, y = _data(rng, g, 5)
        net.train_batch(x, y, np.arange(5) + k)
    network_file.save(net, tmp_path / "net.npz")
    back = network_file.load(tmp_path / "net.npz")
    assert back.config == net.config and back.graph == g and back.graph.history == g.history
    assert np.array_equal(back.weights, net.weights) and np.array_equal(back.biases, net.biases)
    x, y = _data(rng, g, 8)
    assert np.array_equal(back.predict(x), net.predict(x))
    # Training goes on identically (particles and beta-sign stream restored).
    a, b = net.train_batch(x[:5], y[:5], np.arange(5)), back.train_batch(x[:5], y[:5], np.arange(5))
    assert a.beta == b.beta and np.array_equal(net.weights, back.weights)


def test_set_parameters():
    g = _graph()
    net = EqPropNetwork(g, EqPropConfig(n_free=8, n_clamped=2))
    w = np.linspace(-0.5, 0.5, g.n_edges)
    b = np.linspace(-1, 1, g.n_neurons)
    net.set_parameters(w, b)
    assert net.weights.dtype == np.float32 and np.allclose(net.weights, w)
    assert not np.any(net.biases[:6]) and np.allclose(net.biases[6:], b[6:])
    x, _ = _data(np.random.default_rng(0), g, 3)
    ref = naive.euler(naive.dense_weights(g, net.weights), net.biases, x, np.zeros((3, g.n_neurons)), 0.5, 8)
    np.testing.assert_allclose(net.free_phase(x), ref, atol=1e-5)
    with pytest.raises(ValueError, match="shapes"):
        net.set_parameters(w[:-1], b)
    with pytest.raises(ValueError, match="finite"):
        net.set_parameters(w * np.nan, b)


def test_divergence_is_reported():
    rng = np.random.default_rng(5)
    g = _graph()
    x, y = _data(rng, g, 4)
    net = EqPropNetwork(g, EqPropConfig(n_free=10, n_clamped=2))
    net.weights[:] = np.inf  # set by hand: refused before relaxing, not a divergence
    for call in (lambda: net.train_batch(x, y), lambda: net.predict(x), lambda: net.evaluate(x, y)):
        with pytest.raises(ValueError, match="weights and biases must be finite to relax the network"):
            call()
    net = EqPropNetwork(g, EqPropConfig(n_free=10, n_clamped=2, learning_rate=1e40))
    with pytest.raises(DivergenceError, match="weights or biases"):
        for _ in range(20):
            net.train_batch(x, y)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("eps", 0.0, "eps"),
        ("eps", -1, "eps"),
        ("beta", 0.0, "beta"),
        ("beta", float("nan"), "beta"),
        ("n_free", -1, "n_free"),
        ("n_clamped", 0, "n_clamped"),
        ("learning_rate", -0.1, "learning_rate"),
        ("learning_rate", [0.1, -2.0], r"learning_rate\[1\]"),
        ("learning_rate", [], "learning_rate"),
        ("skip_init", -0.05, "skip_init"),
        ("skip_init", "glorot", "skip_init"),
        ("solver", "rk4", "solver"),
        ("dtype", "float16", "dtype"),
        ("tol", 0.0, "tol"),
        ("nudge_factor", 0, "nudge_factor"),
        ("seed", -3, "seed"),
    ],
)
def test_config_validation(field, value, match):
    with pytest.raises(ValueError, match=match) as info:
        EqPropConfig(**{field: value})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("batch_size", 2.5, r"batch_size must be an integer, got 2\.5 \(float\)"),
        ("n_free", True, r"n_free must be an integer, got True \(bool\)"),
        ("eps", "0.5", r"eps must be a real number, got '0\.5' \(str\)"),
        ("random_beta_sign", "yes", r"random_beta_sign must be True or False, got 'yes' \(str\)"),
        ("solver", 3, r"solver must be a string, one of euler, coordinate, got 3 \(int\)"),
    ],
)
def test_config_refuses_wrong_types(field, value, match):
    with pytest.raises(TypeError, match=match):
        EqPropConfig(**{field: value})


def test_config_round_trip_and_rate_count():
    cfg = EqPropConfig(learning_rate=[0.128, 0.032, 0.008, 0.002], skip_init="mean-glorot", tol=1e-5)
    assert cfg.learning_rate == (0.128, 0.032, 0.008, 0.002)
    assert EqPropConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        EqPropConfig.from_dict({"epsilon": 1})
    with pytest.raises(ValueError, match="3 rates but .* 4 layer pairs"):
        EqPropNetwork(_graph(), EqPropConfig(learning_rate=(0.1, 0.1, 0.1)))


def test_network_refuses_wrong_types_by_name():
    with pytest.raises(TypeError, match="graph must be a layered.Graph, got list"):
        EqPropNetwork([6, 4, 3], EqPropConfig())
    with pytest.raises(TypeError, match="config must be an EqPropConfig or None, got dict"):
        EqPropNetwork(_graph(), {"n_free": 5})


def test_one_rate_count_check_for_the_spec_and_the_authors_rates():
    from smallworld_eqp.config import pair_rates
    from smallworld_eqp.study.spec import TrialSpec

    with pytest.raises(ValueError, match=r"has 2 rates but the 6-4-4-3 network has 3 layer pairs"):
        pair_rates((0.1, 0.2), (6, 4, 4, 3))
    with pytest.raises(ValueError, match=r"has 3 rates but the 6-4-3 network has 2 layer pairs"):
        TrialSpec(layers=(6, 4, 3), learning_rate=(0.1, 0.2, 0.3))
    spec = TrialSpec(layers=(6, 4, 4, 3), learning_rate=(0.1, 0.2, 0.4))
    assert pair_rates(spec.config.learning_rate, spec.layers).tolist() == [0.1, 0.2, 0.4]
    assert pair_rates(0.5, spec.layers).tolist() == [0.5, 0.5, 0.5]
    one = dict(
        error=0.0,
        cost=0.0,
        rms=np.zeros(3),
        rms_intra=np.nan,
        rms_skip=np.nan,
        free_steps=1,
        free_steps_mean=1.0,
        clamped_steps_mean=1.0,
        free_residual_mean=0.0,
        free_residual_max=0.0,
        beta=1.0,
        size=1,
    )
    stats = BatchStats.stack([BatchStats(rms_edges=np.array([0.1, 0.4, 0.8]), **one)])
    np.testing.assert_allclose(trial.edge_rates(stats, spec), [[1.0, 2.0, 2.0]])


def test_bad_inputs():
    g = _graph()
    net = EqPropNetwork(g, EqPropConfig(n_free=5, n_clamped=2))
    x, y = _data(np.random.default_rng(0), g, 3)
    cases = [
        (lambda: net.train_batch(x[:, :5], y), r"x must have shape \(batch, 6\)"),
        (lambda: net.train_batch(x * 2, y), r"x values must lie in \[0, 1\]"),
        (lambda: net.train_batch(x, -y), r"y values must lie in \[0, 1\]"),
        (lambda: net.train_batch(x, y[:2]), "same number of rows"),
        (lambda: net.free_phase(np.full((2, 6), np.nan)), r"x values must lie in \[0, 1\], got range \[nan"),
        (lambda: net.clamped_phase(x, y, np.zeros((3, 5))), r"s0 must have shape"),
        (lambda: net.predict(x[0]), "x must have shape"),
        (lambda: net.evaluate(x, y, batch_size=0), "batch_size"),
    ]
    net2 = EqPropNetwork(g, EqPropConfig(n_free=5, n_clamped=2))
    net2.weights = net2.weights[:-1]
    cases.append((lambda: net2.predict(x), r"weights and biases must have shapes"))
    for call, match in cases:
        with pytest.raises(ValueError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


# --- learning -----------------------------------------------------------------


def test_learns_digits():
    # 64-48-48-10 with intra-layer edges and 10% of edges replaced by skip edges;
    # 60 free steps (not 500: these small nets settle fast), 8 clamped, eps 0.5,
    # beta 1, nudge factor 2, batch 20, per-pair rates (0.05, 0.025, 0.0125), 60
    # epochs over the 1,497 training digits (about 3 s). Seeds 0-4 gave 6-8% test error.
    from smallworld_eqp import datasets

    data = datasets.load("digits")
    g = layered.connect_within_layers(layered.layered([64, 48, 48, 10]))
    g = rewiring.rewire(g, n=int(0.1 * g.n_edges), seed=0)
    cfg = EqPropConfig(n_free=60, n_clamped=8, nudge_factor=2.0, learning_rate=(0.05, 0.025, 0.0125), seed=0)
    net = EqPropNetwork(g, cfg)
    for epoch in range(60):
        net.train_epoch(data, progress=False, shuffle_seed=epoch)
    assert net.evaluate(data.x_test, data.y_test) < 0.10


def _mnist_dir():
    root = os.environ.get("SMALLWORLD_EQP_DATA")
    if not root or not list((pathlib.Path(root) / "mnist").glob("train-images*")):
        return None
    return root


@pytest.mark.skipif(_mnist_dir() is None, reason="no MNIST IDX files under $SMALLWORLD_EQP_DATA/mnist")
def test_learns_mnist_subset():
    from smallworld_eqp import datasets

    data = datasets.load("mnist", data_dir=_mnist_dir(), n_train=5000, n_test=1000, download=False)
    # 40 free / 6 clamped steps, eps 0.5, beta 1, nudge factor 2, batch 20, rates
    # (0.2, 0.1): about 1 s; seeds 0-2 gave 10.5-12.8% test error.
    g = layered.layered([784, 100, 10])
    cfg = EqPropConfig(n_free=40, n_clamped=6, nudge_factor=2.0, learning_rate=(0.2, 0.1), seed=0)
    net = EqPropNetwork(g, cfg)
    for epoch in range(2):
        net.train_epoch(data, progress=False, shuffle_seed=epoch)
    assert net.evaluate(data.x_test, data.y_test) < 0.15


def test_regression_error_is_the_cost_of_the_dense_reference():
    rng = np.random.default_rng(8)
    g = rewiring.rewire(layered.layered([5, 6, 4, 2]), n=6, seed=3)
    cfg = EqPropConfig(n_free=25, n_clamped=5, batch_size=4, dtype="float64")
    net = EqPropNetwork(g, cfg)
    x, y = rng.random((4, 5)), rng.random((4, 2))  # real targets
    w, b = naive.dense_weights(g, net.weights), net.biases.copy()
    s0 = naive.euler(w, b, x, np.zeros((4, g.n_neurons)), 0.5, 25)
    cost = np.mean(naive.cost(s0, y))
    assert net.evaluate(x, y, task="regression") == pytest.approx(cost, rel=1e-12)
    out = net.train_batch(x, y, task="regression")
    assert out.error == pytest.approx(cost, rel=1e-12) and out.cost == out.error
    with pytest.raises(ValueError, match="y must be one-hot for a classification"):
        net.train_batch(x, y)
    with pytest.raises(ValueError, match="y must be one-hot for a classification"):
        net.evaluate(x, y)


def test_init_scale_scales_the_glorot_bounds():
    g = rewiring.rewire(layered.layered([6, 5, 4, 3]), n=5, seed=2)
    one = EqPropNetwork(g, EqPropConfig(dtype="float64", skip_init="mean-glorot"))
    two = EqPropNetwork(g, EqPropConfig(dtype="float64", skip_init="mean-glorot", init_scale=2.0))
    np.testing.assert_allclose(two.weights, 2 * one.weights, rtol=1e-12)  # the same draws, twice the bounds
    with pytest.raises(ValueError, match="init_scale must be finite and > 0, got 0"):
        EqPropConfig(init_scale=0)


def test_equilibrium_pools_the_batches_by_size():
    one = dict(error=0.0, cost=0.0, rms=np.zeros(2), rms_edges=np.zeros(2), rms_intra=np.nan, rms_skip=np.nan)
    batches = [
        BatchStats(**one, free_steps=9, free_steps_mean=6.0, clamped_steps_mean=2.0, free_residual_mean=0.1,
                   free_residual_max=0.4, beta=1.0, size=3),
        BatchStats(**one, free_steps=5, free_steps_mean=4.0, clamped_steps_mean=3.0, free_residual_mean=0.0,
                   free_residual_max=0.0, beta=-1.0, size=1),
    ]  # fmt: skip
    assert trial.equilibrium(BatchStats.stack(batches)) == pytest.approx(
        {
            "free_steps_mean": 5.5,
            "clamped_steps_mean": 2.25,
            "free_residual_mean": 0.075,
            "free_residual_max": 0.4,
        }
    )
