"""Slow, obviously-correct dense NumPy references for the engine (test-only).

Everything works on a dense symmetric (N, N) weight matrix over all neurons, input
layer included, and on states of shape (batch, N); written for clarity, not speed.
"""

from __future__ import annotations

import numpy as np


def rho(u):
    """Hard sigmoid, eq. 1 / 17."""
    return np.clip(u, 0.0, 1.0)


def dense_weights(graph, weights):
    """Symmetric (N, N) matrix with ``W[i, j] = W[j, i] = weights[e]`` for edge e = (i, j)."""
    n = graph.n_neurons
    w = np.zeros((n, n))
    for (i, j), v in zip(graph.edges, weights):
        w[i, j] = v
        w[j, i] = v
    return w


def energy(w, b, u):
    """Eq. 3 for every row of ``u``: 1/2 sum u^2 - 1/2 sum_{i!=j} W rho rho - sum b rho."""
    r = rho(u)
    return 0.5 * np.sum(u**2, axis=1) - 0.5 * np.einsum("bi,ij,bj->b", r, w, r) - r @ b


def cost(u, y_d):
    """Eq. 4 for every row: 1/2 ||y - y_d||^2 over the output neurons (the last columns)."""
    y = u[:, u.shape[1] - y_d.shape[1] :]
    return 0.5 * np.sum((y - y_d) ** 2, axis=1)


def total_energy(w, b, u, y_d, kbeta):
    """Eq. 5 with the nudge factor folded in: E + k beta C."""
    return energy(w, b, u) + kbeta * cost(u, y_d)


def euler(w, b, x, start, eps, n_steps, y_d=None, kbeta=0.0):
    """Eq. 9: ``n_steps`` synchronous steps s <- clip(s - eps dF/ds), inputs clamped to ``x``."""
    n_in = x.shape[1]
    s = np.array(start, dtype=float)
    s[:, :n_in] = x
    for _ in range(n_steps):
        grad = s - (rho(s) @ w + b)
        if y_d is not None:
            grad[:, -y_d.shape[1] :] += kbeta * (s[:, -y_d.shape[1] :] - y_d)
        s = rho(s - eps * grad)
        s[:, :n_in] = x
    return s


def coordinate(w, b, x, start, n_sweeps, y_d=None, kbeta=0.0):
    """Sweeps setting each state neuron, in index order, to the minimiser of F in its coordinate."""
    n_in = x.shape[1]
    s = np.array(start, dtype=float)
    s[:, :n_in] = x
    n = s.shape[1]
    n_out = 0 if y_d is None else y_d.shape[1]
    for _ in range(n_sweeps):
        for i in range(n_in, n):
            net = rho(s) @ w[:, i] + b[i]
            if i >= n - n_out and kbeta != 0.0:
                # min over [0, 1] of (1 + kbeta)/2 y^2 - (net + kbeta y_d) y: try the
                # stationary point and both ends.
                yd = y_d[:, i - (n - n_out)]
                a, c = 1.0 + kbeta, net + kbeta * yd
                cands = [np.zeros_like(net), np.ones_like(net)]
                if a > 0:
                    cands.append(np.clip(c / a, 0.0, 1.0))
                vals = [0.5 * a * v**2 - c * v for v in cands]
                s[:, i] = np.choose(np.argmin(np.stack(vals), axis=0), cands)
            else:
                s[:, i] = rho(net)
    return s


def glorot_bound(n_a, n_b):
    """Eq. 19: sqrt(6 / (n_a + n_b))."""
    return np.sqrt(6.0 / (n_a + n_b))


def learning_rates(graph, lr):
    """Per-edge and per-neuron rates: an edge joining layers a <= b (and a bias in layer
    b) uses pair (b - 1, b)'s rate; input biases get 0."""
    layer = graph.layer_of
    rates = [lr] * (graph.n_layers - 1) if np.isscalar(lr) else list(lr)
    lr_edge = np.array([rates[max(layer[i], layer[j]) - 1] for i, j in graph.edges])
    lr_bias = np.array([0.0 if lay == 0 else rates[lay - 1] for lay in layer])
    return lr_edge, lr_bias


def update(graph, weights, biases, s0, sb, beta, lr):
    """Eq. 7-8 averaged over the batch; returns new weights, new biases and dW per edge."""
    lr_edge, lr_bias = learning_rates(graph, lr)
    r0, rb = rho(s0), rho(sb)
    outer = (rb.T @ rb - r0.T @ r0) / s0.shape[0]
    dw = np.array([lr_e / beta * outer[i, j] for (i, j), lr_e in zip(graph.edges, lr_edge)])
    db = lr_bias / beta * np.mean(rb - r0, axis=0)
    return weights + dw, biases + db, dw


def random_graph(rng, *, max_layers=5, max_size=7):
    """A random layered graph for tests: random sizes, maybe intra-layer edges, rewired
    in replace or add mode (so blocks range from dense to sparse)."""
    from smallworld_eqp import topology

    n_layers = int(rng.integers(3, max_layers + 1))
    sizes = [int(v) for v in rng.integers(2, max_size + 1, n_layers)]
    g = topology.layered(sizes)
    if rng.random() < 0.7:
        g = topology.connect_within_layers(g)
    mode = "replace" if rng.random() < 0.5 else "add"
    n_max = min(g.n_edges, topology.n_skip_candidates(g))
    if n_max > 0:
        g = topology.rewire(g, n=int(rng.integers(0, n_max + 1)), mode=mode, seed=rng)
    return g
