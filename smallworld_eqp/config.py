"""The configuration of equilibrium propagation, without the engine: no numba here.

:class:`EqPropConfig` (the hyper-parameters of a network and its training),
:func:`pair_rates`, and the names of what the engine implements, declared as plain
values so that everything that only describes, plans or reads trials
(:mod:`.study.spec`, :mod:`.study.schema`, the command lines' parsers) imports no
numba. The engine is checked against these names by ``tests/test_config.py``:
:mod:`.engine.kernels` implements the solvers and clamped-step forms named here,
:mod:`.graph.metrics` the graph measures.

This module is the bottom layer: it may import :mod:`.settings`, :mod:`.validate`,
numpy and the standard library only. (:mod:`.numba_settings` is the other
configuration: numba's flags and the kernels' constants.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from smallworld_eqp.settings import (
    check_declared,
    parse_floats,
    parse_number_or,
    parse_optional_float,
    setting,
)
from smallworld_eqp.validate import (
    Boolean,
    Choices,
    Interval,
    NonZero,
    Nullable,
    NumberOr,
    OneOrPerItem,
)

#: The relaxation solvers (:data:`kernels.SOLVERS`), each with the forms of the clamped
#: step it implements (keys of :data:`kernels.NUDGES`).
SOLVER_STEP_FORMS = {"euler": ("gradient", "after-step"), "coordinate": ("gradient",)}
SOLVERS = tuple(SOLVER_STEP_FORMS)
#: The kernels' forms of the weakly-clamped step (:data:`kernels.NUDGES`).
STEP_FORMS = ("gradient", "after-step")
DTYPES = ("float32", "float64")
# The forms of a training step's clamped phase: the kernels' clamped steps, and the
# symmetric form, two gradient-form phases at +beta and -beta.
NUDGES = (*STEP_FORMS, "symmetric")
BATCH_ORDERS = ("reshuffle", "fixed")
# Step and batch counts above this are typing errors, not experiments (and overflow int32).
MAX_COUNT = 1_000_000_000
_COUNT = Interval(int, 1, MAX_COUNT)
_POSITIVE = Interval(float, 0, None, closed="neither")

#: The graph measures of a results row, in column order (:data:`measures.SUMMARY`
#: computes them).
GRAPH_MEASURES = (
    "n_neurons",
    "n_edges",
    "n_adjacent",
    "n_intra",
    "n_skip",
    "path_length",
    "clustering",
    "skip_span",
    "log_paths_hidden",
    "log_walks_hidden",
)
#: The graph measures with one value per layer, input first: columns ``<name>_<layer>``
#: (:data:`measures.PER_LAYER` computes them).
LAYER_MEASURES = ("hops_to_output", "log_paths_to_output", "log_walks_to_output")


def summary_columns(n_layers: int) -> list[str]:
    """The graph measures' columns (:func:`measures.small_world_summary`) for a network of
    ``n_layers`` layers.

    Examples
    --------
    >>> summary_columns(3)[-3:]
    ['log_walks_to_output_0', 'log_walks_to_output_1', 'log_walks_to_output_2']
    """
    return list(GRAPH_MEASURES) + [f"{name}_{lay}" for name in LAYER_MEASURES for lay in range(n_layers)]


def pair_rates(learning_rate: float | Sequence[float], layer_sizes: Sequence[int]) -> np.ndarray:
    """The learning rate of every adjacent layer pair of a network, input pair first.

    Parameters
    ----------
    learning_rate : float or sequence of float
        One rate for every pair, or one per pair (``EqPropConfig.learning_rate``).
    layer_sizes : sequence of int
        The network's layer sizes, input first.

    Returns
    -------
    ndarray of float64, shape (len(layer_sizes) - 1,), read-only

    Raises
    ------
    ValueError
        If a sequence of rates does not hold one rate per layer pair.

    Examples
    --------
    >>> pair_rates(0.02, (4, 3, 2)).tolist()
    [0.02, 0.02]
    >>> pair_rates((0.1, 0.2, 0.3), (4, 3, 2))
    Traceback (most recent call last):
    ...
    ValueError: learning_rate has 3 rates but the 4-3-2 network has 2 layer pairs
    """
    n_pairs = len(layer_sizes) - 1
    rates = np.asarray(learning_rate, dtype=np.float64)
    if rates.ndim == 1 and rates.shape[0] != n_pairs:
        raise ValueError(
            f"learning_rate has {rates.shape[0]} rates but the {'-'.join(map(str, layer_sizes))} network "
            f"has {n_pairs} layer pairs"
        )
    return np.broadcast_to(rates, (n_pairs,))


@dataclass(frozen=True)
class EqPropConfig:
    """Hyper-parameters of equilibrium propagation (defaults: paper Table 1, section 4.3).

    Every field but ``seed`` is a setting (:mod:`smallworld_eqp.settings`): a flag of
    the sweep and train commands, a column of the results and part of the trial hash.

    Parameters
    ----------
    eps : float
        Step size of eq. 9 (> 0).
    beta : float
        Clamping factor of eq. 5 (non-zero; its sign is flipped per batch when
        ``random_beta_sign``).
    n_free, n_clamped : int
        Steps (Euler) or sweeps (coordinate) of the free and weakly-clamped phases.
    batch_size : int
        Examples per batch in :meth:`EqPropNetwork.train_epoch`.
    learning_rate : float or tuple of float
        One rate for every parameter, or one per adjacent layer pair ordered input
        to output (paper Table 1 lists them deepest first, i.e. the paper's
        784-500-500-500-10 network uses ``(0.128, 0.032, 0.008, 0.002)``). See
        :class:`EqPropNetwork` for which rate an intra-layer or skip edge uses.
    skip_init : float or "mean-glorot"
        Half-width ``a`` of U[-a, a] for intra-layer and layer-skipping weights
        (paper 4.3: 0.05), or the mean Glorot bound (eq. 19) over adjacent pairs.
    init_scale : float
        Factor on the Glorot bounds of eq. 19 (and so on "mean-glorot"): the paper
        notes that replaced connections make a network more forgiving of a poor
        initialisation (5.1.3); 1 is eq. 19.
    random_beta_sign : bool
        Draw beta's sign per batch (seeded), as the authors' code does.
    persistent_particles : bool
        Start each example's free phase from its last free state (authors' code).
    nudge_factor : float
        ``k``, the factor on the cost's pull: in dF/dy = dE/dy + k beta (y - y_d) with
        ``nudge="gradient"`` (1 is eq. 5), on the after-step nudge with
        ``nudge="after-step"`` (the authors' code uses 2).
    nudge : {"gradient", "after-step", "symmetric"}
        Form of the weakly-clamped phase. ``"gradient"`` (eq. 5, 9): each Euler step
        along -dF/ds at the pre-step state, ``y <- clip(y - eps (y - h + k beta (y -
        y_d)))``. ``"after-step"`` (the authors' code, Euler only): the free step
        without clipping, ``u = y + eps (h - y)``, then the nudge from that post-step
        value, ``u <- u + eps k beta (y_d - u)``, then the clip; with eps 0.5, beta 1
        and k 2 it puts the outputs on their targets. Hidden neurons take the free
        step in both. ``"symmetric"`` (Laborieux et al. 2021): two gradient-form
        phases from the free state, ``s+`` at +beta and ``s-`` at -beta, and eq. 7-8
        from their difference, ``dW_ij = lr / (2 beta) (rho(s+_i) rho(s+_j) -
        rho(s-_i) rho(s-_j))``, ``db_i = lr / (2 beta) (rho(s+_i) - rho(s-_i))``: the
        estimator's O(beta) bias cancels (:mod:`smallworld_eqp.engine.gradient`).
        :meth:`EqPropNetwork.clamped_phase` runs the +beta phase.
    bias_learning_rate : float or None
        ``None``: a bias uses the rate of its neuron's input weights (paper 4.1). A
        number: every bias uses it (the authors' code updates the biases with rate
        1.0 when it is given per-pair rates, a slicing bug reproduced by its preset).
    batch_order : {"reshuffle", "fixed"}
        ``"reshuffle"``: every epoch visits the training examples in a new random
        order, the last batch holding the remainder. ``"fixed"`` (the authors' code):
        batches are fixed groups of ``batch_size`` consecutive examples (the
        remainder dropped), visited in one random order drawn once and kept for
        every epoch.
    test_particles : bool
        Evaluate the test split as the authors' code does: in fixed groups of
        ``batch_size`` examples, each group's free phase starting from its own
        particle (its last test free state) and updating it; a run then evaluates
        once before the first epoch, which initialises them.
    solver : {"euler", "coordinate"}
        Euler steps of eq. 9, or sweeps of exact per-neuron minimisation of F
        (:data:`SOLVERS`).
    tol : float or None
        Stop an example's relaxation once max |ds| of a step is below ``tol``
        (never beyond the step budget); ``None`` runs every step. Either way the
        Euler solver may stop an example early at an exact fixed point (a step that
        moved no neuron, every later step would repeat it): the results are the
        same, only the steps counted (``BatchStats.free_steps``) are fewer.
    dtype : {"float32", "float64"}
    seed : int
        Seeds the weight initialisation and the beta signs (a trial derives it
        from its own seed).
    """

    eps: float = setting(
        0.5, "Euler step size eps (eq. 9)", since="0.1", allowed=Interval(float, 0, None, closed="neither")
    )
    beta: float = setting(1.0, "clamping factor beta (eq. 5)", since="0.1", allowed=NonZero())
    n_free: int = setting(500, "free-phase steps", since="0.1", allowed=_COUNT)
    n_clamped: int = setting(8, "weakly-clamped-phase steps", since="0.1", allowed=_COUNT)
    batch_size: int = setting(20, "examples per batch", since="0.1", allowed=_COUNT)
    learning_rate: float | tuple[float, ...] = setting(
        0.02,
        "one rate, or one per adjacent layer pair input->output",
        parse=parse_floats,
        since="0.1",
        allowed=OneOrPerItem(_POSITIVE, "a positive number"),
    )
    skip_init: float | str = setting(
        0.05,
        "half-width of U[-a, a] for intra and skip weights, or mean-glorot",
        parse=parse_number_or("mean-glorot"),
        since="0.1",
        allowed=NumberOr(Interval(float, 0, None, closed="left"), "mean-glorot", "a number >= 0"),
    )
    init_scale: float = setting(
        1.0, "factor on the Glorot bounds of the initial weights (eq. 19)", since="0.2", allowed=_POSITIVE
    )
    random_beta_sign: bool = setting(
        False, "flip the sign of beta at random every batch", since="0.1", allowed=Boolean()
    )
    persistent_particles: bool = setting(
        False, "start each example's free phase from its last free state", since="0.1", allowed=Boolean()
    )
    nudge_factor: float = setting(
        1.0, "factor on the cost's pull (1: eq. 5; 2: the authors' code)", since="0.1", allowed=_POSITIVE
    )
    nudge: str = setting(
        "gradient",
        "clamped phase: gradient (eq. 5, 9), after-step (the authors' code) or symmetric (+beta and -beta)",
        since="0.2",
        allowed=Choices(*NUDGES),
    )
    bias_learning_rate: float | None = setting(
        None,
        "one rate for every bias (default: its input weights' rate)",
        parse=parse_optional_float,
        since="0.2",
        allowed=Nullable(_POSITIVE),
    )
    batch_order: str = setting(
        "reshuffle",
        "reshuffle (new order every epoch) or fixed (the authors' code)",
        since="0.2",
        allowed=Choices(*BATCH_ORDERS),
    )
    test_particles: bool = setting(
        False,
        "evaluate the test split from its own persistent particles (the authors' code)",
        since="0.2",
        allowed=Boolean(),
    )
    solver: str = setting(
        "euler", "relaxation: euler (eq. 9) or coordinate", since="0.1", allowed=Choices(*SOLVERS)
    )
    tol: float | None = setting(
        None,
        "stop a phase early when max|ds| < TOL",
        parse=parse_optional_float,
        since="0.1",
        allowed=Nullable(_POSITIVE),
    )
    dtype: str = setting("float32", "float32 or float64", since="0.1", allowed=Choices(*DTYPES))
    # Not a setting (a trial derives it from its own seed), but checked alike.
    seed: int = dataclasses.field(default=0, metadata={"allowed": Interval(int, 0, None)})

    def __post_init__(self) -> None:
        # Each value as its setting allows (settings.setting's allowed=), stored as the
        # check returns it; then what involves several settings.
        check_declared(self)
        if self.step_form not in SOLVER_STEP_FORMS[self.solver]:
            able = [name for name, forms in SOLVER_STEP_FORMS.items() if self.step_form in forms]
            raise ValueError(
                f"nudge={self.nudge!r} is a form of the {' or '.join(able)} step; it needs solver={able[0]!r}, got solver={self.solver!r}"
            )

    @property
    def step_form(self) -> str:
        """The kernels' clamped step (one of :data:`STEP_FORMS`) of ``nudge``."""
        return "gradient" if self.nudge == "symmetric" else self.nudge

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the fields (tuples become lists)."""
        d = dataclasses.asdict(self)
        if isinstance(d["learning_rate"], tuple):
            d["learning_rate"] = list(d["learning_rate"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EqPropConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown EqPropConfig fields {unknown}; allowed: {sorted(names)}")
        return cls(**d)
