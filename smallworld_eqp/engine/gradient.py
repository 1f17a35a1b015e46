"""The exact gradient of the cost at the free fixed point, beside EqProp's estimate of it.

EqProp's update (eq. 7-8) estimates the gradient of the cost C (eq. 4) at the free
fixed point, with a bias at finite beta. This module computes that gradient exactly,
per example, by implicit differentiation, whatever solver found the fixed point.

At a fixed point ``s`` of the free phase (eq. 9 on F = E, inputs clamped) every state
neuron is ``s_i = rho(h_i)`` with ``h = W s + b`` (the states lie in [0, 1], so
``rho(s) = s``). Let F be the unclipped state neurons, ``0 < s_i < 1``: there

.. math:: s_F = (W s + b)_F.

A clipped neuron's net input lies strictly outside [0, 1], so it stays clipped under a
small change of the parameters: its derivative is 0. Differentiating the equation of
the unclipped neurons with respect to a parameter theta,

.. math:: (I - W_{FF}) \\, \\partial s_F = (\\partial W \\, s + \\partial b)_F,

and with ``g = dC/ds_F`` (``s_o - y_o`` on the unclipped outputs, 0 elsewhere) the
adjoint ``lambda_F = (I - W_FF)^{-T} g`` (one sparse solve; W is symmetric), zero
off F, gives

.. math::

    \\frac{dC}{dW_{ij}} = \\lambda_i s_j + \\lambda_j s_i, \\qquad
    \\frac{dC}{db_i} = \\lambda_i.

Sign and scale against EqProp: the clamped phase runs with ``k beta`` (``k`` the
nudge factor); at its fixed point ``ds/d(beta) = -k lambda`` as beta -> 0, so

.. math:: \\frac{\\rho(s^\\beta_i)\\rho(s^\\beta_j) - \\rho(s_i)\\rho(s_j)}{\\beta}
          \\to -k \\frac{dC}{dW_{ij}},

and the update of eq. 7 with rate ``lr``, ``dW = lr / beta (...)``, tends to
``-lr k dC/dW``: ``-lr * grad`` is comparable to ``dW / nudge_factor`` (likewise for
the biases, eq. 8). :func:`eqprop_estimate` puts an EqProp correction in the units
and sign of the gradient.

Examples
--------
>>> from smallworld_eqp.graph import layered, rewiring
>>> from smallworld_eqp.engine.network import EqPropConfig, EqPropNetwork
>>> g = layered.layered([3, 4, 2])
>>> net = EqPropNetwork(g, EqPropConfig(n_free=200, dtype="float64"))
>>> net.biases[3:] = 0.4
>>> x, y = np.array([[0.2, 0.9, 0.5]]), np.array([[1.0, 0.0]])
>>> dw, db = cost_gradient(g, net.weights, net.biases, net.free_phase(x), y)
>>> dw.shape, db.shape
((1, 20), (1, 9))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse import linalg

from smallworld_eqp.graph.layered import Graph


def _check(graph: Graph, weights: Any, biases: Any, states: Any) -> tuple[np.ndarray, ...]:
    """Weights, biases and states as float64 arrays of the graph's shapes."""
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a layered.Graph, got {type(graph).__name__}")
    w = np.asarray(weights, dtype=np.float64)
    b = np.asarray(biases, dtype=np.float64)
    s = np.asarray(states, dtype=np.float64)
    if w.shape != (graph.n_edges,) or b.shape != (graph.n_neurons,):
        raise ValueError(
            f"weights and biases must have shapes ({graph.n_edges},) and ({graph.n_neurons},), got {w.shape} and {b.shape}"
        )
    if s.ndim != 2 or s.shape[1] != graph.n_neurons:
        raise ValueError(f"states must have shape (batch, {graph.n_neurons}), got shape {s.shape}")
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise ValueError("weights and biases must be finite, got NaN or inf")
    if s.size and not (s.min() >= 0.0 and s.max() <= 1.0):
        raise ValueError(f"states must lie in [0, 1], got range [{s.min()}, {s.max()}]")
    return w, b, s


def _weight_matrix(graph: Graph, weights: np.ndarray) -> sparse.csr_array:
    """The symmetric (N, N) weight matrix."""
    indptr, indices, edge_id = graph.csr
    n = graph.n_neurons
    return sparse.csr_array((weights[edge_id], indices, indptr), shape=(n, n))


def fixed_point_residual(graph: Graph, weights: Any, biases: Any, states: Any) -> np.ndarray:
    """How far states are from a free fixed point: ``max_i |s_i - rho((W s + b)_i)|``
    over the state neurons, per example.

    Parameters
    ----------
    graph : Graph
    weights : array (E,), in ``graph.edges`` order
    biases : array (N,)
    states : array (batch, N)
        All neurons' states, input columns holding the inputs
        (:meth:`EqPropNetwork.free_phase`).

    Returns
    -------
    ndarray of float64, shape (batch,)
    """
    w, b, s = _check(graph, weights, biases, states)
    n_in = graph.layer_sizes[0]
    h = (_weight_matrix(graph, w) @ s.T).T + b
    return np.abs(s[:, n_in:] - np.clip(h[:, n_in:], 0.0, 1.0)).max(axis=1)


def cost_gradient(
    graph: Graph, weights: Any, biases: Any, states: Any, y: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The exact gradient of C (eq. 4) at free fixed points, per example (module docstring).

    Parameters
    ----------
    graph : Graph
    weights : array (E,), in ``graph.edges`` order
    biases : array (N,)
    states : array (batch, N)
        Free fixed points, input columns holding the inputs (e.g.
        :meth:`EqPropNetwork.free_phase` relaxed to convergence;
        :func:`fixed_point_residual` says how close they are). Neurons at exactly 0
        or 1 are taken as clipped.
    y : array (batch, n_out)
        The targets y_d.

    Returns
    -------
    dw : ndarray of float64, shape (batch, E)
        ``dC/dW_e = lambda_i s_j + lambda_j s_i`` for edge e = (i, j).
    db : ndarray of float64, shape (batch, N)
        ``dC/db_i = lambda_i`` (0 for inputs and clipped neurons).

    Raises
    ------
    ValueError
        On bad shapes or values, or where ``I - W_FF`` is singular (a degenerate
        fixed point, at which C is not differentiable).
    """
    w, b, s = _check(graph, weights, biases, states)
    y = np.asarray(y, dtype=np.float64)
    n_in, n_out = graph.layer_sizes[0], graph.layer_sizes[-1]
    if y.shape != (s.shape[0], n_out):
        raise ValueError(f"y must have shape ({s.shape[0]}, {n_out}) like states, got shape {y.shape}")
    mat = _weight_matrix(graph, w)
    n = graph.n_neurons
    lam = np.zeros_like(s)
    for k in range(s.shape[0]):
        free = np.flatnonzero((s[k] > 0.0) & (s[k] < 1.0))
        free = free[free >= n_in]
        g = np.zeros(n)
        g[n - n_out :] = s[k, n - n_out :] - y[k]
        g = g[free]
        if not g.any():
            continue  # every output clipped (or on target): C is flat here
        a = sparse.identity(free.size, format="csc") - mat[free][:, free].tocsc()
        try:
            lam[k, free] = linalg.splu(a).solve(g)
        except RuntimeError as exc:  # SuperLU: "Factor is exactly singular"
            raise ValueError(
                f"example {k}: I - W_FF is singular, not a regular fixed point ({exc})"
            ) from None
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    return lam[:, i] * s[:, j] + lam[:, j] * s[:, i], lam


def eqprop_estimate(graph: Graph, s_from: Any, s_to: Any, kbeta: float) -> tuple[np.ndarray, np.ndarray]:
    """An EqProp correction (eq. 7-8) per example, in the sign and units of the gradient.

    ``-(rho(b_i) rho(b_j) - rho(a_i) rho(a_j)) / kbeta`` per edge and
    ``-(rho(b_i) - rho(a_i)) / kbeta`` per neuron, with ``a = s_from``, ``b = s_to``:
    it tends to :func:`cost_gradient` as beta -> 0 (module docstring).

    Parameters
    ----------
    graph : Graph
    s_from, s_to : array (batch, N)
        One-sided: the free and the clamped states. Symmetric: the ``-beta`` and the
        ``+beta`` clamped states.
    kbeta : float
        The nudge between them: ``k beta`` one-sided, ``2 k beta`` symmetric (``k``
        the nudge factor, beta signed).

    Returns
    -------
    dw : ndarray of float64 (batch, E); db : ndarray of float64 (batch, N)
    """
    a = np.clip(np.asarray(s_from, dtype=np.float64), 0.0, 1.0)
    b = np.clip(np.asarray(s_to, dtype=np.float64), 0.0, 1.0)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != graph.n_neurons:
        raise ValueError(
            f"s_from and s_to must both have shape (batch, {graph.n_neurons}), got {a.shape} and {b.shape}"
        )
    if kbeta == 0 or not np.isfinite(kbeta):
        raise ValueError(f"kbeta must be finite and non-zero, got {kbeta}")
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    return -(b[:, i] * b[:, j] - a[:, i] * a[:, j]) / kbeta, -(b - a) / kbeta
