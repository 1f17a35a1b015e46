"""The exact gradient (smallworld_eqp.engine.gradient) against finite differences, and EqProp's
estimates converging to it as beta shrinks."""

from __future__ import annotations

import dataclasses

import naive
import numpy as np
import pytest

from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine.gradient import cost_gradient, eqprop_estimate, fixed_point_residual
from smallworld_eqp.engine.network import EqPropNetwork
from smallworld_eqp.graph import layered

SEEDS = range(8)


def _setup(seed, batch=3, **cfg):
    """A random graph (naive.random_graph: adjacent, intra-layer and skip edges, dense to
    sparse blocks), float64, random weights and biases, and a free phase relaxed to a
    true fixed point (tol 1e-15)."""
    rng = np.random.default_rng(seed)
    g = naive.random_graph(rng)
    config = EqPropConfig(dtype="float64", n_free=20_000, n_clamped=20_000, tol=1e-15, **cfg)
    net = EqPropNetwork(g, config)
    n_in = g.layer_sizes[0]
    net.weights[:] = rng.uniform(-0.5, 0.5, g.n_edges)
    net.biases[n_in:] = rng.uniform(-0.3, 0.8, g.n_neurons - n_in)
    x = rng.random((batch, n_in))
    y = np.eye(g.layer_sizes[-1])[rng.integers(0, g.layer_sizes[-1], batch)]
    s = net.free_phase(x)
    assert fixed_point_residual(g, net.weights, net.biases, s).max() < 1e-13
    return g, net, x, y, s


def test_random_graphs_hold_every_kind_and_clipped_neurons():
    # What the tests below cover: every edge kind, and fixed points with clipped and
    # unclipped state neurons, outputs included.
    kinds = np.zeros(3, dtype=int)
    clipped, interior_out = 0, 0
    for seed in SEEDS:
        g, _, _, _, s = _setup(seed)
        kinds += np.bincount(g.kinds, minlength=3)
        state = s[:, g.layer_sizes[0] :]
        clipped += np.sum((state == 0) | (state == 1))
        out = s[:, -g.layer_sizes[-1] :]
        interior_out += np.sum((out > 0) & (out < 1))
    assert kinds.min() > 0 and clipped > 0 and interior_out > 0


def test_fixed_point_residual_matches_dense_reference():
    g, net, x, _, s = _setup(0)
    w = naive.dense_weights(g, net.weights)
    start = np.zeros_like(s)
    for n_steps in (3, 10):
        u = naive.euler(w, net.biases, x, start, 0.5, n_steps)
        ref = np.abs(u - naive.rho(naive.rho(u) @ w + net.biases))[:, g.layer_sizes[0] :].max(axis=1)
        np.testing.assert_allclose(fixed_point_residual(g, net.weights, net.biases, u), ref, atol=1e-14)


@pytest.mark.parametrize("seed", SEEDS)
def test_exact_gradient_matches_finite_differences(seed):
    g, net, x, y, s = _setup(seed)
    dw, db = cost_gradient(g, net.weights, net.biases, s, y)

    def cost(weights, biases):
        net.set_parameters(weights, biases)
        return naive.cost(net.free_phase(x), y)

    w0, b0 = net.weights.copy(), net.biases.copy()
    h = 1e-6
    fd_w = np.empty_like(dw)
    for e in range(g.n_edges):
        wp, wm = w0.copy(), w0.copy()
        wp[e] += h
        wm[e] -= h
        fd_w[:, e] = (cost(wp, b0) - cost(wm, b0)) / (2 * h)
    n_in = g.layer_sizes[0]
    fd_b = np.zeros_like(db)
    for k in range(n_in, g.n_neurons):
        bp, bm = b0.copy(), b0.copy()
        bp[k] += h
        bm[k] -= h
        fd_b[:, k] = (cost(w0, bp) - cost(w0, bm)) / (2 * h)
    exact = np.concatenate([dw, db], axis=1)
    fd = np.concatenate([fd_w, fd_b], axis=1)
    norm = np.linalg.norm(exact, axis=1)
    for k in range(x.shape[0]):
        if norm[k] > 0:
            assert np.linalg.norm(fd[k] - exact[k]) < 1e-4 * norm[k], k
        else:  # every output clipped: C does not move
            assert np.abs(fd[k]).max() < 1e-8, k
    assert np.all(db[:, :n_in] == 0)


@pytest.mark.parametrize("seed", range(1, 5))  # seed 0's outputs are all clipped: gradient 0
@pytest.mark.parametrize("nudge", ["gradient", "after-step"])
def test_eqprop_estimates_converge_to_the_exact_gradient(seed, nudge):
    # One-sided estimate: bias O(beta); symmetric (+beta and -beta): O(beta^2). The
    # clamped phases run to their fixed points; the nudge factor 2 is divided out.
    g, net, x, y, s = _setup(seed, batch=4, nudge=nudge, nudge_factor=2.0)
    exact = np.concatenate(cost_gradient(g, net.weights, net.biases, s, y), axis=1)

    def clamped(beta):
        twin = EqPropNetwork(g, dataclasses.replace(net.config, beta=beta))
        twin.set_parameters(net.weights, net.biases)
        return twin.clamped_phase(x, y, s)

    one_sided, symmetric = [], []
    for beta in (1e-2, 1e-3, 1e-4):
        plus, minus = clamped(beta), clamped(-beta)
        for errors, est in (
            (one_sided, eqprop_estimate(g, s, plus, 2.0 * beta)),
            (symmetric, eqprop_estimate(g, minus, plus, 4.0 * beta)),
        ):
            errors.append(np.linalg.norm(np.concatenate(est, axis=1) - exact) / np.linalg.norm(exact))
    for e0, e1 in zip(one_sided, one_sided[1:]):
        assert e1 < 0.2 * e0
    for e0, e1 in zip(symmetric, symmetric[1:]):
        assert e1 < 0.05 * e0
    assert one_sided[-1] < 1e-2 and symmetric[-1] < 1e-5 and symmetric[-1] < one_sided[-1]


def test_estimate_is_eq_7_8_in_gradient_units():
    # Against naive.update (eq. 7-8, rate 1, batch of one): dW = -kbeta/beta * estimate.
    g, net, x, y, s = _setup(1, batch=1)
    sb = net.clamped_phase(x, y, s)
    _, _, dw = naive.update(g, net.weights, net.biases, s, sb, 0.3, 1.0)
    est_w, est_b = eqprop_estimate(g, s, sb, 0.3)
    np.testing.assert_allclose(est_w[0], -dw, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(est_b[0], -(sb[0] - s[0]) / 0.3, rtol=1e-12)


def test_zero_gradient_where_the_outputs_sit_on_their_targets():
    g, net, x, _, s = _setup(2, batch=2)
    dw, db = cost_gradient(g, net.weights, net.biases, s, s[:, -g.layer_sizes[-1] :])
    assert not dw.any() and not db.any()


def test_singular_fixed_point_and_bad_inputs_are_refused():
    g = layered.layered([1, 1, 1])
    w, b = np.array([0.3, 1.0]), np.array([0.0, 0.2, 0.0])
    # Hidden 0.5 and output 0.5 unclipped: I - W_FF = [[1, -1], [-1, 1]] is singular.
    s = np.array([[1.0, 0.5, 0.5]])
    with pytest.raises(ValueError, match="example 0: I - W_FF is singular"):
        cost_gradient(g, w, b, s, np.array([[1.0]]))
    with pytest.raises(ValueError, match=r"states must have shape \(batch, 3\), got shape \(3,\)"):
        cost_gradient(g, w, b, s[0], np.array([[1.0]]))
    with pytest.raises(ValueError, match=r"y must have shape \(1, 1\) like states, got shape \(1, 2\)"):
        cost_gradient(g, w, b, s, np.array([[1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"states must lie in \[0, 1\], got range \[1.5, 2.0\]"):
        cost_gradient(g, w, b, s + 1, np.array([[1.0]]))
    with pytest.raises(ValueError, match="weights and biases must be finite, got NaN or inf"):
        cost_gradient(g, np.array([np.nan, 1.0]), b, s, np.array([[1.0]]))
    with pytest.raises(ValueError, match=r"weights and biases must have shapes \(2,\) and \(3,\)"):
        fixed_point_residual(g, w[:1], b, s)
    with pytest.raises(TypeError, match="graph must be a layered.Graph, got str"):
        fixed_point_residual("g", w, b, s)
    with pytest.raises(ValueError, match="kbeta must be finite and non-zero, got 0"):
        eqprop_estimate(g, s, s, 0)
