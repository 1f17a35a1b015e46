"""The event-driven Euler solver (issue 14) against the dense references of tests/naive.py.

The solver keeps each neuron's net input and updates it with the changes of the neurons
that moved, recomputing it every ``euler.RELAX_RECOMPUTE`` steps. Phases here run several
times that many steps, so both the difference path and the recompute are exercised, on
random graphs of every kind (dense blocks, CSR, skip and intra-layer edges; all blocks
dense or all in the CSR), in float64 and float32, with both forms of the clamped step.
"""

from __future__ import annotations

import naive
import numba
import numpy as np
import pytest
from helpers import STATE_TOL, assert_update
from hypothesis import given, settings
from hypothesis import strategies as st

from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine import euler, kernels, plan
from smallworld_eqp.engine.network import EqPropNetwork

N_STEPS = 3 * euler.RELAX_RECOMPUTE + 17
# Plan variants: the default threshold, every block dense, every edge in the CSR.
DENSITIES = (None, 0.0, 1.01)

seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from(sorted(STATE_TOL))
densities = st.sampled_from(DENSITIES)


def _network(rng, dtype, density, **cfg):
    """A random graph and network: weights U[-0.6, 0.6], hidden and output biases
    U[-0.3, 0.3] (the dynamics then settle, so float32 stays within its tolerance)."""
    with pytest.MonkeyPatch.context() as mp:
        if density is not None:
            mp.setattr(plan, "DENSE_MIN_DENSITY", density)
        g = naive.random_graph(rng)
        net = EqPropNetwork(g, EqPropConfig(dtype=dtype, **cfg))
    n_in = g.layer_sizes[0]
    biases = np.concatenate([np.zeros(n_in), rng.uniform(-0.3, 0.3, g.n_neurons - n_in)])
    net.set_parameters(rng.uniform(-0.6, 0.6, g.n_edges), biases)
    return net


def _batch(rng, graph, batch):
    x = rng.random((batch, graph.layer_sizes[0]))
    y = np.eye(graph.layer_sizes[-1])[rng.integers(0, graph.layer_sizes[-1], batch)]
    start = rng.random((batch, graph.n_neurons))
    return x, y, start


def _relax(net, x, start, n_steps, y=None, kbeta=0.0, trace=None, residual=None):
    net._refresh()
    dt = net.weights.dtype
    phase = kernels.Phase(net.config.eps, kbeta, kernels.NUDGES[net.config.nudge], n_steps, -1.0)
    return kernels.relax(
        net._solver,
        net._plan,
        net._extra,
        net.biases,
        x.astype(dt),
        None if start is None else start.astype(dt),
        None if y is None else y.astype(dt),
        phase,
        trace,
        residual,
    )


def _dense(net):
    return naive.dense_weights(net.graph, net.weights.astype(float)), net.biases.astype(float)


@settings(max_examples=40)
@given(seed=seeds, dtype=dtypes, density=densities)
def test_long_gradient_phases_match_dense_reference(seed, dtype, density):
    rng = np.random.default_rng(seed)
    net = _network(rng, dtype, density, eps=float(rng.uniform(0.2, 1.0)))
    g, eps, tol = net.graph, net.config.eps, STATE_TOL[dtype]
    w, b = _dense(net)
    x, y, start = _batch(rng, g, int(rng.integers(1, 12)))
    for s_init in (np.zeros_like(start), start):
        s0 = naive.euler(w, b, x, s_init, eps, N_STEPS)
        np.testing.assert_allclose(_relax(net, x, s_init, N_STEPS)[0], s0, rtol=0, atol=tol)
    for kbeta in (1.0, -0.7):
        want = naive.euler(w, b, x, s0, eps, N_STEPS, y, kbeta)
        got = _relax(net, x, s0, N_STEPS, y, kbeta)[0]
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)


@settings(max_examples=40)
@given(seed=seeds, dtype=dtypes, density=densities)
def test_long_after_step_phases_match_the_authors_steps(seed, dtype, density):
    rng = np.random.default_rng(seed)
    net = _network(rng, dtype, density, nudge="after-step", nudge_factor=2.0)
    g, n_in, tol = net.graph, net.graph.layer_sizes[0], STATE_TOL[dtype]
    w, b = _dense(net)
    x, y, start = _batch(rng, g, int(rng.integers(1, 12)))
    s = start.copy()
    s[:, :n_in] = x
    for _ in range(N_STEPS):
        s = naive.authors_step_free(s, w, b, 0.5, n_in)
    np.testing.assert_allclose(_relax(net, x, start, N_STEPS)[0], s, rtol=0, atol=tol)
    for beta in (1.0, -1.0):
        sb = s.copy()
        for _ in range(N_STEPS):
            sb = naive.authors_step_weakly_clamped(sb, w, b, 0.5, beta, y, n_in)
        got = _relax(net, x, s, N_STEPS, y, 2.0 * beta)[0]
        np.testing.assert_allclose(got, sb, rtol=0, atol=tol)


@settings(max_examples=25)
@given(seed=seeds, dtype=dtypes, density=densities, nudge=st.sampled_from(sorted(kernels.NUDGES)))
def test_updates_after_long_phases_match_reference(seed, dtype, density, nudge):
    rng = np.random.default_rng(seed)
    factor = 2.0 if nudge == "after-step" else 1.0
    cfg = {"n_free": N_STEPS, "n_clamped": euler.RELAX_RECOMPUTE + 9, "learning_rate": 0.05}
    net = _network(rng, dtype, density, nudge=nudge, nudge_factor=factor, **cfg)
    g, n_in = net.graph, net.graph.layer_sizes[0]
    w0, b0 = net.weights.astype(float), net.biases.astype(float)
    w = naive.dense_weights(g, w0)
    x, y, _ = _batch(rng, g, int(rng.integers(1, 9)))
    net.train_batch(x.astype(dtype), y.astype(dtype))
    if nudge == "gradient":
        s0 = naive.euler(w, b0, x, np.zeros((x.shape[0], g.n_neurons)), 0.5, cfg["n_free"])
        sb = naive.euler(w, b0, x, s0, 0.5, cfg["n_clamped"], y, 1.0)
        _, b1, dw = naive.update(g, w0, b0, s0, sb, 1.0, 0.05)
    else:
        particle = np.zeros((x.shape[0], g.n_neurons - n_in))
        steps = (cfg["n_free"], cfg["n_clamped"])
        w1, b1, *_ = naive.authors_train_batch(
            w, naive.dense_mask(g), b0, particle, x, y, 0.5, 1.0, False, *steps, 0.05, g.layer_sizes
        )
        dw = np.array([w1[i, j] - w[i, j] for i, j in g.edges])
    assert_update(net.weights, w0, dw, 0.05)
    assert_update(net.biases, b0, b1 - b0, 0.05)


def _freezing_network(dtype, **cfg):
    """Biases far above any net input: every state neuron clips at 1 within a few steps."""
    rng = np.random.default_rng(5)
    net = _network(rng, dtype, None, **cfg)
    net.biases[net.graph.layer_sizes[0] :] = 50.0
    return net, rng


@pytest.mark.parametrize("dtype", sorted(STATE_TOL))
def test_a_frozen_network_stops_at_its_fixed_point(dtype):
    net, rng = _freezing_network(dtype)
    g = net.graph
    w, b = _dense(net)
    x, y, start = _batch(rng, g, 11)
    s, steps = _relax(net, x, start, 1000)
    # A step that moved nothing from a fresh net input ends the phase: a few steps, not 1000.
    assert np.all(steps < 10) and np.all(steps >= 2)
    np.testing.assert_allclose(s, naive.euler(w, b, x, start, 0.5, 1000), rtol=0, atol=STATE_TOL[dtype])
    assert np.all(s[:, g.layer_sizes[0] :] == 1.0)
    sb, steps_b = _relax(net, x, s, 1000, y, -0.5)
    assert np.all(steps_b < 10)
    np.testing.assert_allclose(sb, naive.euler(w, b, x, s, 0.5, 1000, y, -0.5), rtol=0, atol=STATE_TOL[dtype])


def test_examples_stop_on_their_own():
    # One example starts at its fixed point (1 step), the others need a few; each stops
    # alone, with the state the full run of steps gives.
    net, rng = _freezing_network("float64")
    g = net.graph
    w, b = _dense(net)
    x, _, start = _batch(rng, g, 6)
    start[0, g.layer_sizes[0] :] = 1.0
    s, steps = _relax(net, x, start, 500)
    assert steps[0] == 1 and np.all(steps[1:] > 1)
    np.testing.assert_allclose(s, naive.euler(w, b, x, start, 0.5, 500), rtol=0, atol=1e-12)


def test_float32_examples_reach_their_fixed_point():
    # The net inputs are kept in float64: a float32 example settles exactly (a step
    # from a fresh net input moves nothing) instead of moving by an ulp forever, and
    # lands closer to the float64 fixed point. Kept in float32, 18 of these 240
    # examples never stopped and the states lay up to 4.3e-6 from float64's.
    n_steps, settled, far = 3000, [], 0.0
    for seed in range(30):
        net32 = _network(np.random.default_rng(seed), "float32", None, eps=0.5)
        rng = np.random.default_rng(seed)
        net64 = _network(rng, "float64", None, eps=0.5)
        x, _, start = _batch(rng, net32.graph, 8)
        s32, steps = _relax(net32, x, start, n_steps)
        s64, _ = _relax(net64, x, start, n_steps)
        settled.append(steps < n_steps)
        far = max(far, float(np.abs(s32 - s64).max()))
    assert np.all(np.concatenate(settled))
    assert far < 2e-6


def test_train_batch_reports_the_steps_used():
    net, rng = _freezing_network("float64", n_free=400, n_clamped=30)
    x, y, _ = _batch(rng, net.graph, 5)
    assert net.train_batch(x, y).free_steps < 10


def _row_lengths(p):
    """Multiply-adds one moved neuron costs: its dense rows and its CSR row."""
    off = p.off
    n = int(off[-1])
    rows = np.diff(p.d_indptr).astype(np.int64)
    for lay, c0, c1 in zip(p.run_layer, p.run_c0, p.run_c1):
        rows[off[lay] : off[lay + 1]] += c1 - c0
    rows[: off[1]] = 0
    return rows[:n]


@pytest.mark.parametrize("density", DENSITIES)
def test_trace_counts_the_moves_and_the_work(density):
    rng = np.random.default_rng(17)
    net = _network(rng, "float64", density)
    g, n_in = net.graph, net.graph.layer_sizes[0]
    x, _, start = _batch(rng, g, 5)
    start[:, n_in:] *= rng.random(start[:, n_in:].shape) < 0.5  # zero states: skipped in recomputes
    n = euler.RELAX_RECOMPUTE + 5
    trace = np.zeros((5, n, 2), dtype=np.int64)
    _relax(net, x, start, n, trace=trace)
    # A run of t steps is the first t steps of a longer one, bit for bit.
    states = [np.concatenate([x, start[:, n_in:]], axis=1)]
    states += [_relax(net, x, start, t)[0] for t in range(1, n + 1)]
    moved = np.stack([(b != a)[:, n_in:] for a, b in zip(states[:-1], states[1:])], axis=1)
    np.testing.assert_array_equal(trace[:, :, 0], moved.sum(axis=2))
    rows = _row_lengths(net._plan)[n_in:]
    work = moved @ rows
    work[:, 0] += rows.sum()  # the net input at the start: a full product
    work[:, euler.RELAX_RECOMPUTE] += (states[euler.RELAX_RECOMPUTE][:, n_in:] != 0) @ rows
    np.testing.assert_array_equal(trace[:, :, 1], work)


def test_coordinate_trace_counts_the_changes():
    rng = np.random.default_rng(23)
    net = _network(rng, "float64", None, solver="coordinate")
    g, n_in = net.graph, net.graph.layer_sizes[0]
    x, _, start = _batch(rng, g, 4)
    trace = np.zeros((4, 6, 2), dtype=np.int64)
    _relax(net, x, start, 6, trace=trace)
    states = [np.concatenate([x, start[:, n_in:]], axis=1)]
    states += [_relax(net, x, start, t)[0] for t in range(1, 7)]
    moved = [((b != a)[:, n_in:]).sum(axis=1) for a, b in zip(states[:-1], states[1:])]
    np.testing.assert_array_equal(trace[:, :, 0], np.stack(moved, axis=1))
    assert np.all(trace[:, :, 1] == trace[0, 0, 1]) and trace[0, 0, 1] > 0


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs at least 2 numba threads")
@pytest.mark.parametrize("dtype", sorted(STATE_TOL))
def test_long_phases_do_not_depend_on_thread_count(dtype):
    rng = np.random.default_rng(29)
    net = _network(rng, dtype, None)
    x, y, start = _batch(rng, net.graph, 13)
    old = numba.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            trace = np.zeros((13, N_STEPS, 2), dtype=np.int64)
            s0, steps = _relax(net, x, start, N_STEPS, trace=trace)
            runs.append((s0, steps, trace, _relax(net, x, s0, N_STEPS, y, 1.0)[0]))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=20)
@given(seed=seeds, dtype=dtypes, density=densities, solver=st.sampled_from(["euler", "coordinate"]))
def test_residual_is_the_last_steps_largest_change(seed, dtype, density, solver):
    # The residual equals max |s_n - s_(n-1)| over the state neurons of the dense
    # reference's last two steps (sweeps), the measure of how far from a fixed point a
    # phase ended; for the coordinate solver, against its own runs of n - 1 and n sweeps.
    rng = np.random.default_rng(seed)
    net = _network(rng, dtype, density, solver=solver)
    g, n_in = net.graph, net.graph.layer_sizes[0]
    x, _, start = _batch(rng, g, 7)
    n = int(rng.integers(2, N_STEPS))
    residual = np.full(7, np.nan)
    _relax(net, x, start, n, residual=residual)
    if solver == "euler":
        w, b = _dense(net)
        before, last = naive.euler(w, b, x, start, 0.5, n - 1), naive.euler(w, b, x, start, 0.5, n)
    else:
        before, last = _relax(net, x, start, n - 1)[0], _relax(net, x, start, n)[0]
    expected = np.abs(last - before)[:, n_in:].max(axis=1)
    np.testing.assert_allclose(residual, expected, rtol=0, atol=10 * STATE_TOL[dtype])


def test_residual_is_zero_at_a_fixed_point():
    net, rng = _freezing_network("float32")
    x, _, start = _batch(rng, net.graph, 4)
    residual = np.full(4, np.nan)
    _, steps = _relax(net, x, start, 1000, residual=residual)
    assert np.all(steps < 10) and np.all(residual == 0.0)
    _relax(net, x, start, 1, residual=residual)  # one step from a random start: far from it
    assert np.all(residual > 0.01)


def test_train_batch_reports_the_equilibrium_reached():
    rng = np.random.default_rng(31)
    net = _network(rng, "float64", None, n_free=300, n_clamped=7)
    x, y, _ = _batch(rng, net.graph, 6)
    stats = net.train_batch(x, y)
    assert stats.free_steps_mean <= stats.free_steps <= 300 and stats.clamped_steps_mean <= 7
    assert 0.0 <= stats.free_residual_mean <= stats.free_residual_max
    frozen, rng = _freezing_network("float64", n_free=400, n_clamped=30)
    x, y, _ = _batch(rng, frozen.graph, 5)
    stats = frozen.train_batch(x, y)
    assert stats.free_steps_mean < 10 and stats.free_residual_max == 0.0
