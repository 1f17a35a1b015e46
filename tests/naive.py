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


def symmetric_train_batch(graph, weights, biases, x, y, eps, beta, k, n_free, n_clamped, lr, start=None):
    """A training step with the symmetric nudge (Laborieux et al. 2021): free phase, two
    gradient-form clamped phases from the free state at +k beta and -k beta, then
    dW = lr / (2 beta) mean_b (rho(s+) rho(s+)^T - rho(s-) rho(s-)^T) on existing edges and
    db = lr / (2 beta) mean_b (rho(s+) - rho(s-)). Returns (s0, weights, biases, dW)."""
    w = dense_weights(graph, weights)
    start = np.zeros((x.shape[0], graph.n_neurons)) if start is None else start
    s0 = euler(w, biases, x, start, eps, n_free)
    s_plus = euler(w, biases, x, s0, eps, n_clamped, y, k * beta)
    s_minus = euler(w, biases, x, s0, eps, n_clamped, y, -k * beta)
    lr_edge, lr_bias = learning_rates(graph, lr)
    rp, rm = rho(s_plus), rho(s_minus)
    outer = (rp.T @ rp - rm.T @ rm) / x.shape[0]
    dw = np.array([lr_e / (2 * beta) * outer[i, j] for (i, j), lr_e in zip(graph.edges, lr_edge)])
    db = lr_bias / (2 * beta) * np.mean(rp - rm, axis=0)
    return s0, weights + dw, biases + db, dw


def random_graph(rng, *, max_layers=5, max_size=7):
    """A random layered graph for tests: random sizes, maybe intra-layer edges, rewired
    in replace or add mode (so blocks range from dense to sparse)."""
    from smallworld_eqp.graph import layered, rewiring

    n_layers = int(rng.integers(3, max_layers + 1))
    sizes = [int(v) for v in rng.integers(2, max_size + 1, n_layers)]
    g = layered.layered(sizes)
    if rng.random() < 0.7:
        g = layered.connect_within_layers(g)
    mode = "replace" if rng.random() < 0.5 else "add"
    n_max = min(g.n_edges, rewiring.n_skip_candidates(g))
    if n_max > 0:
        g = rewiring.rewire(g, n=int(rng.integers(0, n_max + 1)), mode=mode, seed=rng)
    return g


# --- The authors' released code, transcribed literally -----------------------------
# github.com/jgammell/equilibrium_propagation, framework/eqp.py (class Network) and
# framework/datasets.py (class Dataset), step by step and in the same order, in NumPy
# instead of PyTorch: one dense symmetric (N, N) matrix ``W`` over all neurons with a
# 0/1 ``mask`` of the existing edges, states ``s`` of shape (batch, N), the biases ``B``
# of every neuron (input biases 0). Random draws (batch order, beta flips) are taken as
# arguments, so the engine's own draws can be fed in.


def authors_step_free(s, W, B, eps, n_in):
    """``Network.step_free``: s += eps (rho(s) W + B - rho(s)) off the inputs, then clamp."""
    Rs = rho(s) @ W
    dEds = eps * (Rs + B - rho(s))
    dEds[:, :n_in] = 0
    s = s + dEds
    return np.clip(s, 0, 1)


def authors_step_weakly_clamped(s, W, B, eps, beta, y, n_in):
    """``Network.step_weakly_clamped``: the free step without the clamp, then the
    outputs nudged from their post-step value by 2 eps beta (y - s_y), then clamp."""
    n_out = y.shape[1]
    Rs = rho(s) @ W
    dEds = eps * (Rs + B - rho(s))
    dEds[:, :n_in] = 0
    s = s + dEds
    dCds = eps * beta * (y - s[:, -n_out:])
    s[:, -n_out:] += 2 * dCds
    return np.clip(s, 0, 1)


def authors_update(W, mask, B, s_free, s_clamped, beta, lr, layer_sizes, n_in):
    """``calculate_weight_update``, ``calculate_bias_update`` and the update in
    ``train_batch``: dW = mean_b (rho rho^T clamped - free) / beta on existing edges,
    dB = mean_b (rho clamped - rho free) / beta with input biases 0. One rate: W += lr
    dW, B += lr dB. Per-pair rates (a list): only the adjacent-pair blocks of dW are
    scaled (other edges keep rate 1), and the biases keep rate 1: the code scales
    ``dBlr[i:j]`` of a (1, N) tensor, an empty slice (the slicing bug)."""
    term1 = np.einsum("bi,bj->bij", rho(s_clamped), rho(s_clamped))
    term2 = np.einsum("bi,bj->bij", rho(s_free), rho(s_free))
    dW = (1 / beta) * (term1 - term2)
    dW = dW * mask
    dW = dW.mean(axis=0)
    dB = (1 / beta) * (rho(s_clamped) - rho(s_free))
    dB[:, :n_in] = 0
    dB = dB.mean(axis=0)
    if np.isscalar(lr):
        return W + lr * dW, B + lr * dB, dW
    idx = np.cumsum([0, *layer_sizes])
    dWlr = dW.copy()
    for rate, i, j, k in zip(lr, idx[:-2], idx[1:-1], idx[2:]):
        conn = np.zeros_like(dW, dtype=bool)
        conn[j:k, i:j] = True
        conn[i:j, j:k] = True
        dWlr[conn] *= rate
    dWlr = np.tril(dWlr, -1) + np.tril(dWlr, -1).T
    return W + dWlr, B + dB, dW


def authors_train_batch(W, mask, B, particle, x, y, eps, beta, flip, n_free, n_clamped, lr, layer_sizes):
    """``Network.train_batch`` on one batch: load the particle, set the inputs, free
    phase, keep the free state as the new particle, the online error and cost from it,
    flip beta's sign if ``flip`` (the code's ``np.random.randint(0, 2)``), clamped phase
    from the free state, update. Returns (W, B, particle, beta, n_correct, cost, dW)."""
    n_in = layer_sizes[0]
    s = np.zeros((x.shape[0], W.shape[0]))
    s[:, n_in:] = particle
    s[:, :n_in] = x
    for _ in range(n_free):
        s = authors_step_free(s, W, B, eps, n_in)
    s_free = s.copy()
    particle = s[:, n_in:].copy()
    n_out = y.shape[1]
    n_correct = int(np.sum(s[:, -n_out:].argmax(axis=1) == y.argmax(axis=1)))
    cost = float(np.mean(0.5 * np.sum((s[:, -n_out:] - y) ** 2, axis=1)))
    if flip:
        beta *= -1
    for _ in range(n_clamped):
        s = authors_step_weakly_clamped(s, W, B, eps, beta, y, n_in)
    W, B, dW = authors_update(W, mask, B, s_free, s, beta, lr, layer_sizes, n_in)
    return W, B, particle, beta, n_correct, cost, dW


def authors_test_error(W, B, particles, x_batches, y_batches, eps, n_free, n_in, n_trainb):
    """``Network.calculate_test_error``: every test batch in turn loads its particle
    (``next_test_batch`` returns the index n_trainb + (k + 1) mod n_testb for batch k),
    relaxes, stores the free state back and counts the correct predictions."""
    n_testb = len(x_batches)
    correct = 0
    for k, (x, y) in enumerate(zip(x_batches, y_batches)):
        index = n_trainb + (k + 1) % n_testb
        s = np.zeros((x.shape[0], W.shape[0]))
        s[:, :n_in] = x
        s[:, n_in:] = particles[index]
        for _ in range(n_free):
            s = authors_step_free(s, W, B, eps, n_in)
        particles[index] = s[:, n_in:].copy()
        correct += int(np.sum(s[:, -y.shape[1] :].argmax(axis=1) == y.argmax(axis=1)))
    return 1 - correct / (n_testb * x_batches[0].shape[0])


def authors_run(W, mask, B, train, test, flips, *, epochs, eps, beta, n_free, n_clamped, lr, layer_sizes):
    """The trial loop of ``trials/run_trials.py``: one test evaluation before training,
    then per epoch ``train_epoch`` (every training batch in the stored list order, batch
    k using particle (k + 1) mod n_trainb; ``training_error`` the online error) and
    ``calculate_test_error``. ``train``/``test``: lists of (x, y) batches in the code's
    (once-shuffled) order; ``flips``: one bool per training batch, in order.
    Returns (W, B, online errors, test errors (epoch 0 first), betas used)."""
    n_in = layer_sizes[0]
    n_trainb, n_testb = len(train), len(test)
    width = W.shape[0] - n_in
    bs = train[0][0].shape[0]
    particles = [np.zeros((bs, width)) for _ in range(n_trainb + n_testb)]
    tx, ty = [x for x, _ in test], [y for _, y in test]
    test_errors = [authors_test_error(W, B, particles, tx, ty, eps, n_free, n_in, n_trainb)]
    online, betas = [], []
    flips = iter(flips)
    for _ in range(epochs):
        wrong = 0
        for k, (x, y) in enumerate(train):
            index = (k + 1) % n_trainb
            W, B, particles[index], beta, n_correct, _, _ = authors_train_batch(
                W, mask, B, particles[index], x, y, eps, beta, next(flips), n_free, n_clamped, lr, layer_sizes
            )
            betas.append(beta)
            wrong += bs - n_correct
        online.append(wrong / (n_trainb * bs))
        test_errors.append(authors_test_error(W, B, particles, tx, ty, eps, n_free, n_in, n_trainb))
    return W, B, online, test_errors, betas


def dense_mask(graph):
    """0/1 (N, N) matrix of the existing edges (``W_mask`` of the code)."""
    return (dense_weights(graph, np.ones(graph.n_edges)) != 0).astype(float)


def authors_rewire(layer_sizes, p, rng):
    """``Network.initialize_weight_matrices`` for the 'SW_no_intra' topology, the mask
    part: adjacent layers connected; the candidates are all pairs at least two layers
    apart (listed layer by layer); each existing edge, lower triangle row by row, is
    with probability p removed and replaced by a candidate drawn uniformly, the removed
    edge then joining the candidates. ``rng`` is a numpy RandomState (the code's).
    Returns the set of edges (i < j)."""
    idx = np.cumsum([0, *layer_sizes])
    n = idx[-1]
    mask = np.zeros((n, n), dtype=np.int32)
    for i, j, k in zip(idx[:-2], idx[1:-1], idx[2:]):
        mask[j:k, i:j] = 1
        mask[i:j, j:k] = 1
    potential = []
    for i in range(2, len(idx) - 1):
        for row in range(idx[i], idx[-1]):
            for col in range(idx[i - 2], idx[i - 1]):
                potential.append([row, col])
    existing = [[row, col] for row in range(1, n) for col in range(row) if mask[row, col] != 0]
    for conn in existing:
        if rng.uniform(0, 1) < p:
            k = rng.randint(len(potential))
            new = potential[k]
            mask[conn[0], conn[1]] = mask[conn[1], conn[0]] = 0
            mask[new[0], new[1]] = mask[new[1], new[0]] = 1
            potential.append(conn)
            del potential[k]
    return {(int(min(r, c)), int(max(r, c))) for r, c in zip(*np.nonzero(np.tril(mask, -1)))}
