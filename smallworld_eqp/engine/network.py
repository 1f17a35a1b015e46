"""Equilibrium propagation on layered graphs (paper sections 2.1 and 4.1-4.4).

A :class:`EqPropNetwork` holds one weight per undirected edge of a
:class:`~smallworld_eqp.graph.layered.Graph` (in ``graph.edges`` order) and one bias per
neuron. Training a batch runs

1. the free phase: ``n_free`` steps of eq. 9 on F = E (eq. 3) with the inputs
   clamped, from zeros or from the example's persistent particle, giving ``s0``;
2. the weakly-clamped phase: ``n_clamped`` steps on F = E + beta C (eq. 4-5) from
   ``s0``, giving ``s_beta``;
3. the updates eq. 7-8, averaged over the batch, on existing edges only.

With ``nudge="symmetric"`` step 2 runs twice, at +beta and -beta, and step 3 takes
the difference of the two clamped states over 2 beta.
:mod:`.network_file` saves a network with all its training state and loads it back.

Examples
--------
>>> from smallworld_eqp.graph import layered, rewiring
>>> from smallworld_eqp.engine.network import EqPropConfig, EqPropNetwork
>>> g = layered.layered([4, 3, 2])
>>> net = EqPropNetwork(g, EqPropConfig(n_free=20, n_clamped=4, batch_size=2))
>>> x = np.array([[0.0, 1.0, 0.5, 0.2], [1.0, 0.0, 0.3, 0.9]])
>>> y = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> net.train_batch(x, y).rms.shape
(2,)
>>> net.predict(x).shape
(2,)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from smallworld_eqp.config import EqPropConfig, pair_rates
from smallworld_eqp.datasets import TASKS
from smallworld_eqp.engine import kernels
from smallworld_eqp.engine.batch import BatchStats, DivergenceError, Particles
from smallworld_eqp.engine.plan import compile_plan
from smallworld_eqp.graph.layered import ADJACENT, INTRA, KIND_NAMES, Graph, without_kind
from smallworld_eqp.validate import check_choice, check_int

_EVAL_BATCH = 1000


class EqPropNetwork:
    """A continuous Hopfield network on a layered graph trained by equilibrium propagation.

    Parameters
    ----------
    graph : Graph
    config : EqPropConfig

    Attributes
    ----------
    weights : ndarray, shape (E,)
        One weight per edge, in ``graph.edges`` order (Glorot init eq. 19 for
        adjacent-layer edges, U[-a, a] for intra-layer and skip edges).
    biases : ndarray, shape (N,)
        Zero at start; input biases stay zero (inputs are clamped).

    Notes
    -----
    Per-pair learning rates (``config.learning_rate`` a tuple of ``n_pairs`` rates,
    input to output): an edge joining layers ``a <= b`` uses the rate of pair
    ``(b - 1, b)``, the pair nearest the output among the layers it spans; so an
    adjacent edge uses its own pair's rate, an intra-layer edge in layer ``l`` and
    the bias of a neuron in layer ``l`` use the rate of pair ``(l - 1, l)`` (the
    neuron's input weights, paper 4.1), and a skip edge uses the rate of the pair
    that ends at its upper layer.

    The weights and biases may be modified in place between calls; every public
    method refreshes the relaxation plan from them first.
    """

    def __init__(self, graph: Graph, config: EqPropConfig | None = None) -> None:
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a layered.Graph, got {type(graph).__name__}")
        config = EqPropConfig() if config is None else config
        if not isinstance(config, EqPropConfig):
            raise TypeError(f"config must be an EqPropConfig or None, got {type(config).__name__}")
        self.graph = graph
        self.config = config
        self._dtype = np.dtype(config.dtype)
        sizes = np.asarray(graph.layer_sizes, dtype=np.int64)
        n_pairs = graph.n_layers - 1
        rates = pair_rates(config.learning_rate, graph.layer_sizes)
        la = graph.edge_layers[:, 0].astype(np.int64)
        lb = graph.edge_layers[:, 1].astype(np.int64)
        self._lr_edge = rates[lb - 1].copy()
        layer_of = graph.layer_of.astype(np.int64)
        bias_rates = rates[np.maximum(layer_of - 1, 0)]
        if config.bias_learning_rate is not None:
            bias_rates = np.full(graph.n_neurons, config.bias_learning_rate)
        self._lr_bias = np.where(layer_of > 0, bias_rates, 0.0)

        # Init (eq. 19): Glorot bound for adjacent pairs, `a` for intra and skip edges.
        glorot = config.init_scale * np.sqrt(6.0 / (sizes[:-1] + sizes[1:]))
        a = float(glorot.mean()) if config.skip_init == "mean-glorot" else float(config.skip_init)
        bound = np.where(graph.kinds == ADJACENT, glorot[np.minimum(la, n_pairs - 1)], a)
        init_seq, beta_seq = np.random.SeedSequence(config.seed).spawn(2)
        u = np.random.default_rng(init_seq).uniform(-1.0, 1.0, graph.n_edges)
        self.weights = (u * bound).astype(self._dtype)
        self.biases = np.zeros(graph.n_neurons, dtype=self._dtype)
        self._beta_rng = np.random.default_rng(beta_seq)

        # rms groups: adjacent pair l -> l, intra -> n_pairs, skip -> n_pairs + 1.
        self._group = np.where(
            graph.kinds == ADJACENT, la, np.where(graph.kinds == INTRA, n_pairs, n_pairs + 1)
        ).astype(np.int64)
        self._group_count = np.bincount(self._group, minlength=n_pairs + 2)
        self._pair_size = (sizes[:-1] * sizes[1:]).astype(np.float64)
        self._solver = kernels.SOLVERS[config.solver]
        self._plan = compile_plan(graph, self._dtype)
        self._extra = None if self._solver.compile is None else self._solver.compile(graph, self._dtype)
        self._edges = np.ascontiguousarray(graph.edges)
        width = graph.n_neurons - graph.layer_sizes[0]
        self._particles = Particles(width, self._dtype)
        self._test_particles = Particles(width, self._dtype)
        self.n_batches_trained = 0

    # --- small views ---------------------------------------------------------
    @property
    def n_pairs(self) -> int:
        """Number of adjacent layer pairs, ``n_layers - 1``."""
        return self.graph.n_layers - 1

    @property
    def _n_in(self) -> int:
        return self.graph.layer_sizes[0]

    @property
    def _n_out(self) -> int:
        return self.graph.layer_sizes[-1]

    def __repr__(self) -> str:
        return f"EqPropNetwork({self.graph!r}, solver={self.config.solver}, dtype={self.config.dtype})"

    def set_parameters(self, weights: Any, biases: Any) -> None:
        """Replace the weights (E,) and biases (N,) by copies in the model's dtype.

        Input biases are kept at zero (inputs are clamped).
        """
        w = np.array(weights, dtype=self._dtype).reshape(-1)
        b = np.array(biases, dtype=self._dtype).reshape(-1)
        if w.shape != (self.graph.n_edges,) or b.shape != (self.graph.n_neurons,):
            raise ValueError(
                f"weights and biases must have shapes ({self.graph.n_edges},) and ({self.graph.n_neurons},), got {np.shape(weights)} and {np.shape(biases)}"
            )
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError("weights and biases must be finite, got NaN or inf")
        b[: self._n_in] = 0
        self.weights, self.biases = w, b

    def without_kind(self, kind: int | str) -> EqPropNetwork:
        """This network with every edge of one kind removed, all other state kept.

        The remaining weights, the biases, the persistent particles, the beta-sign
        generator and the batch count carry over, so training continues as if the
        edges had been cut (paper section 6: drop the layer-skipping edges after
        some epochs).
        """
        kind = KIND_NAMES.index(kind) if isinstance(kind, str) and kind in KIND_NAMES else kind
        net = EqPropNetwork(without_kind(self.graph, kind), self.config)
        net.set_parameters(self.weights[self.graph.kinds != kind], self.biases)
        net._particles, net._test_particles = self._particles.copy(), self._test_particles.copy()
        net._beta_rng.bit_generator.state = self._beta_rng.bit_generator.state
        net.n_batches_trained = self.n_batches_trained
        return net

    # --- input checks --------------------------------------------------------
    def _check_array(self, name: str, a: Any, width: int) -> np.ndarray:
        a = np.asarray(a)
        if a.ndim != 2 or a.shape[1] != width or a.shape[0] == 0:
            raise ValueError(f"{name} must have shape (batch, {width}) with batch >= 1, got shape {a.shape}")
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
        a = np.ascontiguousarray(a, dtype=self._dtype)
        lo, hi = float(a.min()), float(a.max())
        if not (lo >= 0.0 and hi <= 1.0):
            raise ValueError(f"{name} values must lie in [0, 1], got range [{lo}, {hi}]")
        return a

    def _check_xy(self, x: Any, y: Any, task: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and targets as arrays; a classification's targets must be one-hot."""
        x = self._check_array("x", x, self._n_in)
        y = self._check_array("y", y, self._n_out)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
        if (
            task is not None
            and check_choice("task", task, TASKS) == "classification"
            and not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1))
        ):
            raise ValueError(
                "y must be one-hot for a classification (each row one 1, otherwise 0); pass task='regression' for real targets"
            )
        return x, y

    def _errors(self, states: np.ndarray, y: np.ndarray, task: str) -> np.ndarray:
        """Per example: misclassified (0/1) or the cost C of eq. 4 (a regression)."""
        out = states[:, -self._n_out :].astype(np.float64)
        if task == "regression":
            return 0.5 * np.sum((out - y) ** 2, axis=1)
        return (out.argmax(axis=1) != y.argmax(axis=1)).astype(np.float64)

    # --- relaxation ----------------------------------------------------------
    def _refresh(self) -> None:
        """Scatter the per-edge weights into the plan (one gather)."""
        self.weights = np.ascontiguousarray(self.weights, dtype=self._dtype)
        self.biases = np.ascontiguousarray(self.biases, dtype=self._dtype)
        if self.weights.shape != (self.graph.n_edges,) or self.biases.shape != (self.graph.n_neurons,):
            raise ValueError(
                f"weights and biases must have shapes ({self.graph.n_edges},) and ({self.graph.n_neurons},), got {self.weights.shape} and {self.biases.shape}"
            )
        if not (np.isfinite(self.weights).all() and np.isfinite(self.biases).all()):
            raise ValueError("weights and biases must be finite to relax the network, got NaN or inf")
        kernels.gather(self.weights, self._plan)
        if self._extra is not None:
            kernels.gather(self.weights, self._extra)

    def _relax(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        start: np.ndarray | None,
        kbeta: float,
        n_steps: int,
        residual: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Relax a batch (:func:`kernels.relax`); returns states (batch, N) and steps used,
        and fills ``residual`` (batch,) if given."""
        cfg = self.config
        tol = -1.0 if cfg.tol is None else float(cfg.tol)
        phase = kernels.Phase(cfg.eps, kbeta, kernels.NUDGES[cfg.step_form], n_steps, tol)
        return kernels.relax(
            self._solver, self._plan, self._extra, self.biases, x, start, y, phase, residual=residual
        )

    def free_phase(self, x: Any) -> np.ndarray:
        """Free phase (eq. 9 on E, ``n_free`` steps from zeros).

        Parameters
        ----------
        x : array (batch, n_in) in [0, 1]

        Returns
        -------
        ndarray (batch, N)
            States of all neurons (input columns hold ``x``).
        """
        x = self._check_array("x", x, self._n_in)
        self._refresh()
        return self._relax(x, None, None, 0.0, self.config.n_free)[0]

    def clamped_phase(self, x: Any, y: Any, s0: Any) -> np.ndarray:
        """Weakly-clamped phase (eq. 9 on F = E + beta C, ``n_clamped`` steps from ``s0``).

        With ``nudge="symmetric"``, the +beta phase (gradient form); a configuration
        with beta negated gives the other.

        Parameters
        ----------
        x : array (batch, n_in) in [0, 1]
        y : array (batch, n_out) in [0, 1], the targets y_d
        s0 : array (batch, N) in [0, 1], usually the free-phase states

        Returns
        -------
        ndarray (batch, N)
        """
        x, y = self._check_xy(x, y)
        s0 = self._check_array("s0", s0, self.graph.n_neurons)
        if s0.shape[0] != x.shape[0]:
            raise ValueError(f"s0 must have {x.shape[0]} rows like x, got {s0.shape[0]}")
        self._refresh()
        kbeta = self.config.nudge_factor * self.config.beta
        return self._relax(x, y, s0, kbeta, self.config.n_clamped)[0]

    # --- training ------------------------------------------------------------
    def _start_states(self, indices: Any, n_batch: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not self.config.persistent_particles:
            return None, None
        if indices is None:
            raise ValueError("indices (example ids) are required when persistent_particles=True, got None")
        idx = np.asarray(indices)
        if idx.shape != (n_batch,) or idx.dtype.kind not in "iu" or (n_batch and idx.min() < 0):
            raise ValueError(f"indices must be {n_batch} non-negative integers, got {indices!r}")
        idx = idx.astype(np.int64)
        start = np.zeros((n_batch, self.graph.n_neurons), dtype=self._dtype)
        start[:, self._n_in :] = self._particles.start(idx)
        return start, idx

    def _diverged(self, what: str) -> DivergenceError:
        return DivergenceError(
            f"batch {self.n_batches_trained}: {what} became non-finite (NaN or inf); lower eps or the learning rate"
        )

    def train_batch(self, x: Any, y: Any, indices: Any = None, *, task: str = "classification") -> BatchStats:
        """One EqProp step on a batch: free phase, clamped phase (two with
        ``nudge="symmetric"``), updates (eq. 7-8).

        Parameters
        ----------
        x : array (batch, n_in) in [0, 1]
        y : array (batch, n_out) in [0, 1]
            One-hot targets, or real targets with ``task="regression"``.
        indices : array of int (batch,), optional
            Example ids, required with ``persistent_particles``.
        task : {"classification", "regression"}
            What the online ``error`` is: the misclassification rate, or the mean
            cost C (eq. 4) of the free state.

        Returns
        -------
        BatchStats
        """
        x, y = self._check_xy(x, y, task)
        n_batch, n_in = x.shape[0], self._n_in
        start, idx = self._start_states(indices, n_batch)
        beta = float(self.config.beta)
        if self.config.random_beta_sign and self._beta_rng.random() < 0.5:
            beta = -beta
        self._refresh()
        residual = np.empty(n_batch)
        s0, steps = self._relax(x, None, start, 0.0, self.config.n_free, residual)
        if not np.isfinite(s0).all():
            raise self._diverged("free-phase states")
        error = float(np.mean(self._errors(s0, y, task)))
        cost = float(np.mean(self._errors(s0, y, "regression")))
        kbeta = self.config.nudge_factor * beta
        sb, clamped_steps = self._relax(x, y, s0, kbeta, self.config.n_clamped)
        if not np.isfinite(sb).all():
            raise self._diverged("clamped-phase states")
        # Eq. 7-8 from the free and the clamped state, or (symmetric) from the -beta
        # and the +beta clamped states over 2 beta.
        base, span = s0, beta
        if self.config.nudge == "symmetric":
            base, _ = self._relax(x, y, s0, -kbeta, self.config.n_clamped)
            if not np.isfinite(base).all():
                raise self._diverged("clamped-phase states")
            span = 2.0 * beta

        # Batch-averaged, with per-parameter rates.
        at, bt = np.ascontiguousarray(base.T), np.ascontiguousarray(sb.T)
        dw = np.empty_like(self.weights)
        sums = kernels.update_weights(
            self._edges,
            at,
            bt,
            self._lr_edge / (span * n_batch),
            self._group,
            self.n_pairs + 2,
            self.weights,
            dw,
        )
        diff = bt[n_in:].astype(np.float64) - at[n_in:]
        with np.errstate(over="ignore"):  # overflow is reported as divergence just below
            self.biases[n_in:] += (self._lr_bias[n_in:] / span * diff.mean(axis=1)).astype(self._dtype)
        if not (np.isfinite(self.weights).all() and np.isfinite(self.biases).all()):
            raise self._diverged("weights or biases")
        if idx is not None:
            self._particles.store(idx, s0[:, n_in:])
        self.n_batches_trained += 1

        return self._batch_stats(sums, error, cost, steps, clamped_steps, residual, beta, n_batch)

    def _batch_stats(
        self,
        sums: np.ndarray,
        error: float,
        cost: float,
        steps: np.ndarray,
        clamped_steps: np.ndarray,
        residual: np.ndarray,
        beta: float,
        n_batch: int,
    ) -> BatchStats:
        """What :meth:`train_batch` reports of its batch: the update's per-group sums of
        squares ``sums`` (``kernels.update_weights``) as RMS values, the online error and
        cost, the relaxations' step counts and free-phase residuals, the signed ``beta``."""
        counts = self._group_count
        with np.errstate(invalid="ignore", divide="ignore"):
            rms_edges = np.where(
                counts[: self.n_pairs] > 0, np.sqrt(sums[: self.n_pairs] / counts[: self.n_pairs]), np.nan
            )
            extra = np.where(
                counts[self.n_pairs :] > 0, np.sqrt(sums[self.n_pairs :] / counts[self.n_pairs :]), np.nan
            )
        return BatchStats(
            error=error,
            cost=cost,
            rms=np.sqrt(sums[: self.n_pairs] / self._pair_size),
            rms_edges=rms_edges,
            rms_intra=float(extra[0]),
            rms_skip=float(extra[1]),
            free_steps=int(steps.max()),
            free_steps_mean=float(steps.mean()),
            clamped_steps_mean=float(clamped_steps.mean()),
            free_residual_mean=float(residual.mean()),
            free_residual_max=float(residual.max()),
            beta=beta,
            size=n_batch,
        )

    def train_epoch(
        self,
        dataset: Any,
        *,
        progress: bool = True,
        shuffle_seed: int | np.random.Generator | None = None,
        max_batches: int | None = None,
    ) -> BatchStats:
        """Train on every batch of ``dataset``'s training split once.

        Parameters
        ----------
        dataset : datasets.Dataset
            Anything with ``batches(batch_size, shuffle_seed=..., fixed_groups=...)``
            yielding ``(indices, x, y)`` and ``n_batches(batch_size, fixed_groups=...)``.
        progress : bool
            Show a tqdm bar (``leave=False``) with the running online error.
        shuffle_seed : int or Generator, optional
            Passed to ``dataset.batches`` (``None``: stored order). With
            ``batch_order="fixed"`` pass the same seed every epoch.
        max_batches : int, optional
            Stop after this many batches.

        Returns
        -------
        BatchStats
            Stacked: one row per batch (:meth:`BatchStats.stack`).
        """
        if not (hasattr(dataset, "batches") and hasattr(dataset, "n_batches")):
            raise TypeError(
                f"dataset must be a datasets.Dataset (datasets.load), got {type(dataset).__name__}"
            )
        bs = self.config.batch_size
        fixed = self.config.batch_order == "fixed"
        task = getattr(dataset, "task", "classification")
        total = dataset.n_batches(bs, fixed_groups=fixed)
        if max_batches is not None:
            total = min(total, check_int("max_batches", max_batches, low=1))
        records: list[BatchStats] = []
        errors = 0.0
        with tqdm(total=total, leave=False, disable=not progress, desc="train", unit="batch") as bar:
            for indices, x, y in dataset.batches(bs, shuffle_seed=shuffle_seed, fixed_groups=fixed):
                if len(records) == total:
                    break
                rec = self.train_batch(x, y, indices, task=task)
                records.append(rec)
                errors += rec.error
                bar.update(1)
                bar.set_postfix(error=f"{errors / len(records):.4f}", refresh=False)
        if not records:
            raise ValueError(f"{dataset!r} has no whole batch of {bs} training examples")
        return BatchStats.stack(records)

    # --- inference -----------------------------------------------------------
    def predict(self, x: Any) -> np.ndarray:
        """Class labels (argmax of the free-phase output), shape (batch,)."""
        return self.free_phase(x)[:, -self._n_out :].argmax(axis=1)

    def evaluate(
        self,
        X: Any,
        Y: Any,
        batch_size: int | None = None,
        *,
        particles: bool = False,
        task: str = "classification",
    ) -> float:
        """Error rate in [0, 1] of the free-phase predictions on ``X`` against ``Y``'s
        argmax, or with ``task="regression"`` the mean cost C (eq. 4) of the free states.

        ``batch_size`` (default 1000) only changes how many examples relax together.
        With ``particles`` (the authors' test evaluation, ``config.test_particles``)
        each example's free phase starts from its test particle, its last free state
        of an earlier call (zeros at first; rows of ``X`` are the keys, so pass the
        same ``X`` every time), and updates it; only the whole groups of
        ``config.batch_size`` rows are evaluated, as the authors' code evaluates
        whole batches only.
        """
        X, Y = self._check_xy(X, Y, task)
        bs = _EVAL_BATCH if batch_size is None else check_int("batch_size", batch_size, low=1)
        n = X.shape[0]
        if particles:
            n -= n % self.config.batch_size
            if n == 0:
                raise ValueError(
                    f"particles=True evaluates whole groups of batch_size={self.config.batch_size} rows, got {X.shape[0]} rows"
                )
        self._refresh()
        n_in = self._n_in
        total = 0.0
        for a in range(0, n, bs):
            b = min(a + bs, n)
            start = None
            if particles:
                idx = np.arange(a, b, dtype=np.int64)
                start = np.zeros((b - a, self.graph.n_neurons), dtype=self._dtype)
                start[:, n_in:] = self._test_particles.start(idx)
            s, _ = self._relax(X[a:b], None, start, 0.0, self.config.n_free)
            if particles:
                self._test_particles.store(idx, s[:, n_in:])
            total += float(np.sum(self._errors(s, Y[a:b], task)))
        return total / n
