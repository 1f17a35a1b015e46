"""What a trial is: one owner for its settings, its graph recipe, its hash and its columns.

A :class:`TrialSpec` is a frozen, JSON-able value: the data, the graph (a recipe of
topology steps), the EqProp configuration, the epochs and the seed. Every setting is
declared once, as a field (:func:`smallworld_eqp.settings.setting`), and the rest
derives from the fields of :class:`TrialSpec` and
:class:`~smallworld_eqp.config.EqPropConfig`:

- the flat settings (:meth:`TrialSpec.settings`, :meth:`TrialSpec.from_settings`): one
  namespace for presets, ``--vary`` and the command-line flags;
- the trial hash (:attr:`TrialSpec.config_hash`) and id (:attr:`TrialSpec.trial_id`);
- the setting columns of the results (:func:`setting_columns`, :meth:`TrialSpec.columns`).

A trial's result depends only on its spec: the trial seed seeds the rewiring, the
initial weights and the shuffling through independent streams (:func:`derived_seed`),
so a sweep gives the same rows serially, in processes or on a Dask cluster.

Examples
--------
>>> from smallworld_eqp.study.spec import TrialSpec
>>> spec = TrialSpec(layers=(64, 16, 16, 10), n=20, seed=0, n_free=20, n_clamped=4)
>>> spec.config.n_free, spec.recipe[-1]
(20, {'op': 'rewire', 'n': 20, 'mode': 'replace', 'reuse_removed': False})
>>> spec.trial_id.endswith("-s0")
True
>>> from smallworld_eqp.study.grid import expand
>>> specs = expand({"layers": (64, 16, 10), "n": (0, 10)}, vary={"learning_rate": [0.05, 0.1]})
>>> [(s.n, s.config.learning_rate) for s in specs]
[(0, 0.05), (10, 0.05), (0, 0.1), (10, 0.1)]
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smallworld_eqp import datasets
from smallworld_eqp.config import EqPropConfig, pair_rates
from smallworld_eqp.graph import designs, layered, recipes, rewiring, sizing
from smallworld_eqp.settings import (
    BASE_VERSION,
    check_declared,
    declared,
    parse_ints,
    parse_optional_float,
    parse_optional_int,
    setting,
)
from smallworld_eqp.validate import (
    Boolean,
    Choices,
    InstanceOf,
    Interval,
    Nullable,
    Satisfies,
    Text,
)

#: A recipe step as JSON, for the messages.
_STEP_EXAMPLE = '[{"op": "without_kind", "kind": "skip"}]'
#: Most nested levels a steps value may have: a list of objects whose values are
#: numbers, strings or lists of them.
_MAX_STEPS_DEPTH = 4


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (a scalar 0, ``[]`` 1), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            todo.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_steps(text: str) -> tuple[dict, ...]:
    """Extra recipe steps as JSON: a list of ``{"op": ..., ...}`` objects."""
    try:
        steps = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"expected a JSON list of steps like {_STEP_EXAMPLE}, got {text!r:.80}") from None
    if not isinstance(steps, list) or _depth(steps) > _MAX_STEPS_DEPTH:
        raise ValueError(f"expected a JSON list of steps like {_STEP_EXAMPLE}, got {text!r:.80}")
    for k, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            raise ValueError(
                f"step {k} of {text!r:.80} is {json.dumps(step):.40}; each step is an object like {_STEP_EXAMPLE[1:-1]}"
            )
    return tuple(steps)


def _check_steps(steps: Any) -> tuple[dict, ...]:
    """Recipe steps as a tuple of dicts; what each step says is the recipe's check
    (:func:`recipes.check_recipe`)."""
    if isinstance(steps, (str, bytes, Mapping)) or not isinstance(steps, Sequence):
        raise TypeError(f"steps must be a list of recipe steps like {_STEP_EXAMPLE}, got {steps!r:.80}")
    for k, step in enumerate(steps, 1):
        if not isinstance(step, Mapping):
            raise TypeError(f"steps: step {k} must be a mapping like {_STEP_EXAMPLE[1:-1]}, got {step!r:.80}")
    return tuple(dict(s) for s in steps)


_POSITIVE_COUNT = Nullable(Interval(int, 1, None))


@dataclass(frozen=True)
class TrialSpec:
    """Everything that defines one trial. Keyword arguments naming an
    :class:`~smallworld_eqp.config.EqPropConfig` field set that field of ``config``.

    Parameters
    ----------
    layers : tuple of int
        Layer sizes, input first.
    intra : bool
        Connect every pair of neurons inside each hidden layer first (paper 4.3).
    n, p : int or float, optional
        Replacement count or per-edge probability for :func:`rewiring.rewire`; at
        most one. Neither (or 0) leaves the graph as built.
    mode : {"replace", "add"}
    reuse_removed : bool
        Removed edges become candidates for later replacements (the authors' code).
    design : str
        Where the new edges go, a name of :data:`designs.DESIGNS`: ``"uniform"`` (the
        paper's :func:`rewiring.rewire`) or a design that takes ``n`` only (no ``p``,
        no ``reuse_removed``), such as ``"span-3"``.
    steps : tuple of dict
        Further recipe steps after the rewiring (:data:`layered.GRAPH_STEPS`).
    seed : int
        Seeds the rewiring, the initial weights and the shuffling.
    dataset, n_train, n_test
        Passed to :func:`datasets.load`; ``data_dir`` is where the files are and
        does not enter the trial id.
    epochs : int
    config : EqPropConfig
        Its ``seed`` is replaced by one derived from ``seed``.
    preset : str
        A label recorded in the row.
    rate_every : int
        ``n`` of eq. 22: the per-pair totals sum every ``rate_every``-th batch.
    train_eval_n : int or None
        Training error after the epochs is measured on the first ``train_eval_n``
        training examples (None: all).
    """

    preset: str = setting("", "a label recorded in the row", flag=False, since="0.1", allowed=Text())
    dataset: str = setting("digits", "data set", since="0.1", allowed=Choices(datasets.DATASETS))
    n_train: int | None = setting(
        None,
        "use the first N training examples",
        parse=parse_optional_int,
        since="0.1",
        allowed=_POSITIVE_COUNT,
    )
    n_test: int | None = setting(
        None, "use the first N test examples", parse=parse_optional_int, since="0.1", allowed=_POSITIVE_COUNT
    )
    epochs: int = setting(1, "training epochs", since="0.1", allowed=Interval(int, 1, None))
    layers: tuple[int, ...] = setting(
        (64, 32, 32, 32, 32, 10),
        "layer sizes, input first, e.g. 784,500,500,500,10",
        parse=parse_ints,
        since="0.1",
        allowed=Satisfies(sizing.check_layer_sizes),
    )
    intra: bool = setting(
        False,
        "connect every pair of neurons inside each hidden layer (paper 4.3)",
        since="0.1",
        allowed=Boolean(),
    )
    n: int | None = setting(
        None,
        "number of edges to replace (or add)",
        parse=parse_optional_int,
        flag=False,
        since="0.1",
        allowed=Nullable(Interval(int, 0, None)),
    )
    p: float | None = setting(
        None,
        "per-edge replacement probability",
        parse=parse_optional_float,
        flag=False,
        since="0.1",
        allowed=Nullable(Interval(float, 0, 1, closed="both")),
    )
    mode: str = setting(
        "replace",
        "replace edges by skip edges, or add skip edges without removing",
        since="0.1",
        allowed=Choices(*rewiring.MODES),
    )
    reuse_removed: bool = setting(
        False,
        "removed edges become candidates for later replacements (the authors' code)",
        since="0.2",
        allowed=Boolean(),
    )
    design: str = setting(
        "uniform",
        "where the n new edges go (designs.DESIGNS): uniform, span-K (K = 2..6), into-output, "
        "out-of-input, hidden-only, intra",
        since="0.3",
        allowed=Choices(designs.DESIGNS),
    )
    steps: tuple[dict, ...] = setting(
        (),
        'further graph recipe steps, JSON, e.g. \'[{"op": "without_kind", "kind": "intra"}]\'',
        parse=parse_steps,
        since="0.2",
        allowed=Satisfies(_check_steps),
        vary_sep=";",  # a value is JSON, commas and all
    )
    seed: int = setting(
        0, "seeds rewiring, init and shuffling", flag=False, since="0.1", allowed=Interval(int, 0, None)
    )
    config: EqPropConfig = field(
        default_factory=EqPropConfig, metadata={"allowed": InstanceOf(EqPropConfig, "an EqPropConfig")}
    )
    rate_every: int = setting(
        1, "n of eq. 22: sum the per-pair rates every n batches", since="0.1", allowed=Interval(int, 1, None)
    )
    train_eval_n: int | None = setting(
        10_000,
        "measure the training error on the first N training examples",
        parse=parse_optional_int,
        since="0.1",
        allowed=_POSITIVE_COUNT,
    )
    data_dir: str | None = field(default=None, compare=False)

    def __init__(self, **kwargs: Any) -> None:
        own = {f.name for f in dataclasses.fields(self)}
        cfg = {k: kwargs.pop(k) for k in list(kwargs) if k not in own and k in _CONFIG_NAMES}
        unknown = sorted(set(kwargs) - own)
        if unknown:
            raise TypeError(f"unknown setting {unknown[0]!r}; allowed: {', '.join(SETTING_NAMES)}")
        if cfg and "config" not in kwargs:  # the configuration made once, with its own checks
            kwargs["config"] = EqPropConfig(**cfg)
        elif cfg and isinstance(kwargs["config"], EqPropConfig):
            kwargs["config"] = dataclasses.replace(kwargs["config"], **cfg)
        for f in dataclasses.fields(self):
            value = kwargs[f.name] if f.name in kwargs else _default(f)
            object.__setattr__(self, f.name, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        # Each value as its setting allows (settings.setting's allowed=), stored as the
        # check returns it, so equal specs hash alike; then what involves several.
        check_declared(self)
        if self.n is not None and self.p is not None:
            raise ValueError(f"give at most one of n and p, got n={self.n} and p={self.p}")
        if self.n is not None or self.p is not None:  # rewire's own check, also for 0
            rewiring.check_reuse(self.mode, self.reuse_removed)
        if self.design != "uniform" and (self.p is not None or self.reuse_removed):
            got = f"p={self.p}" if self.p is not None else "reuse_removed=True"
            raise ValueError(
                f"design {self.design!r} places a count n of edges without reusing removed ones; got {got} "
                "(p and reuse_removed apply to design 'uniform' only)"
            )
        recipes.check_recipe(self.recipe)
        pair_rates(self.config.learning_rate, self.layers)  # one rate per layer pair, if several

    # --- the graph -------------------------------------------------------------
    @property
    def recipe(self) -> list[dict]:
        """The graph's recipe: steps in the shape of ``Graph.history`` (:func:`recipes.build`)."""
        steps: list[dict] = [{"op": "layered", "sizes": list(self.layers)}]
        if self.intra:
            steps.append({"op": "connect_within_layers"})
        if self.design != "uniform" and self.n:
            steps.append({**designs.DESIGNS[self.design], "n": self.n, "mode": self.mode})
        elif self.n or self.p:
            amount = {"n": self.n} if self.n is not None else {"p": self.p}
            steps.append({"op": "rewire", **amount, "mode": self.mode, "reuse_removed": self.reuse_removed})
        return steps + [dict(s) for s in self.steps]

    @property
    def requested(self) -> str:
        """How the rewiring was asked for: ``"p"`` or ``"n"``."""
        return "p" if self.p is not None else "n"

    # --- flat settings ------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Every setting by name, the configuration's inlined (:data:`SETTING_NAMES`)."""
        own = {f.name: getattr(self, f.name) for f in declared(TrialSpec)}
        return {**own, **{f.name: getattr(self.config, f.name) for f in declared(EqPropConfig)}}

    @classmethod
    def from_settings(cls, values: Mapping[str, Any], data_dir: str | None = None) -> TrialSpec:
        """A spec from flat settings (:meth:`settings`); unknown names raise ValueError."""
        unknown = sorted(set(values) - set(SETTING_NAMES))
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; allowed: {', '.join(SETTING_NAMES)}")
        return cls(**values, data_dir=data_dir)

    def replace(self, **values: Any) -> TrialSpec:
        """A copy with some settings changed (configuration fields included)."""
        return TrialSpec.from_settings({**self.settings(), **values}, data_dir=self.data_dir)

    def to_dict(self) -> dict:
        """JSON-able dict: the spec's fields, ``config`` as a dict."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["layers"] = list(self.layers)
        d["steps"] = [dict(s) for s in self.steps]
        d["config"] = self.config.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialSpec:
        """Inverse of :meth:`to_dict` (also reads dicts written before 0.2)."""
        d = dict(d)
        config = EqPropConfig.from_dict(d.pop("config", {}))
        d["layers"] = tuple(d["layers"])
        return cls(**d, config=config)

    # --- identity -------------------------------------------------------------------
    @property
    def config_hash(self) -> str:
        """Hash of everything that defines the trial except the seed and data folder.

        A setting added after version 0.1 (``since`` of :func:`settings.setting`)
        enters the hash only when it differs from its default, so trials recorded
        before it existed keep their ids and a resumed sweep still finds them.
        """
        return self._hash()

    def _hash(self, drop: tuple[str, ...] = ()) -> str:
        d = self.to_dict()
        for key in ("seed", "data_dir", *drop):
            d.pop(key)
        d["config"].pop("seed")
        for where, cls in ((d, TrialSpec), (d["config"], EqPropConfig)):
            for f in declared(cls):
                owner = self if cls is TrialSpec else self.config
                if (
                    f.name in where
                    and f.metadata["since"] != BASE_VERSION
                    and getattr(owner, f.name) == f.default
                ):
                    del where[f.name]
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha1(blob).hexdigest()[:12]

    @property
    def trial_id(self) -> str:
        """``<config_hash>-s<seed>``: the trial's id in every results file."""
        return f"{self.config_hash}-s{self.seed}"

    @property
    def run_id(self) -> str:
        """The trial id without the epoch count: what a run folder's rates rows carry, so
        a long run extended to more epochs (``--resume --epochs``) keeps one id."""
        return f"{self._hash(drop=('epochs',))}-s{self.seed}"

    def columns(self) -> dict[str, Any]:
        """The setting columns of the trial's results row (:func:`setting_columns`)."""
        values = self.settings()
        return {name: _cell(values[name]) for name in setting_columns()}


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()


def _cell(value: Any) -> Any:
    """A setting as one CSV cell: sizes ``784-500-10``, rates comma-joined, steps JSON."""
    if isinstance(value, tuple) and value and isinstance(value[0], dict):
        return json.dumps(list(value), sort_keys=True)
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value) and value:
        return "-".join(map(str, value))
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else ""
    return value


_CONFIG_NAMES = tuple(f.name for f in declared(EqPropConfig))
#: Every setting by name: the spec's, then the configuration's.
SETTING_NAMES = tuple(f.name for f in declared(TrialSpec)) + _CONFIG_NAMES
#: Settings whose values a sweep iterates over rather than taking as given.
GRID_NAMES = ("n", "p", "seed")


def setting_field(name: str) -> dataclasses.Field:
    """The declaration of setting ``name``."""
    for cls in (TrialSpec, EqPropConfig):
        for f in declared(cls):
            if f.name == name:
                return f
    raise ValueError(f"unknown setting {name!r}; allowed: {', '.join(SETTING_NAMES)}")


def setting_columns() -> list[str]:
    """Results columns holding the settings, in order: every setting but the rewiring
    amount (the rows record what was done: ``requested``, ``n_replaced``, ``p``) and
    the seed (it leads the row)."""
    return [name for name in SETTING_NAMES if name not in GRID_NAMES]


#: Settings added after 0.1, with their defaults: what rows written before them ran with.
LATER_DEFAULTS = {
    f.name: f.default
    for cls in (TrialSpec, EqPropConfig)
    for f in declared(cls)
    if f.metadata["since"] != BASE_VERSION
}
#: The same as results cells (an empty cell reads as NaN).
LATER_DEFAULT_CELLS = {
    name: np.nan if _cell(value) in (None, "") else _cell(value) for name, value in LATER_DEFAULTS.items()
}


# --- the trial's random streams and objects --------------------------------------------

_GRAPH, _INIT, _SHUFFLE = 0, 1, 2


def derived_seed(seed: int, stream: int) -> int:
    """An independent 32-bit seed for one purpose (stream) of a trial seed."""
    return int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1)[0])


def shuffle_seed(spec: TrialSpec, epoch: int) -> int:
    """Seed of the example order of ``epoch`` (1-based) of a trial; with
    ``batch_order="fixed"`` the order of the fixed batches, the same every epoch."""
    if spec.config.batch_order == "fixed":
        return derived_seed(spec.seed, _SHUFFLE)
    return derived_seed(spec.seed, _SHUFFLE + epoch - 1)


def build_graph(spec: TrialSpec) -> layered.Graph:
    """The trial's graph: its recipe built with the trial's graph stream (the recipe
    was checked when the spec was made, :meth:`TrialSpec.__post_init__`)."""
    return recipes.build(spec.recipe, seed=derived_seed(spec.seed, _GRAPH), checked=True)


def network_config(spec: TrialSpec) -> EqPropConfig:
    """The configuration of the trial's network: its own, seeded from the trial seed.

    A copy with only the seed changed, to a derived one (an int in ``[0, 2**32)``): the
    spec's configuration is checked already, once, so the copy is not checked again.
    """
    config = copy.copy(spec.config)
    object.__setattr__(config, "seed", derived_seed(spec.seed, _INIT))
    return config


def load_data(spec: TrialSpec) -> datasets.Dataset:
    """The trial's data set (its first ``n_train`` / ``n_test`` examples)."""
    return datasets.load(spec.dataset, data_dir=spec.data_dir, n_train=spec.n_train, n_test=spec.n_test)


def check_fits(spec: TrialSpec, data: datasets.Dataset) -> None:
    """Raise when the network's first and last layers do not fit the data set."""
    if data.n_features != spec.layers[0] or data.n_outputs != spec.layers[-1]:
        layers = ",".join(map(str, spec.layers))
        raise ValueError(
            f"--layers {layers} does not fit {spec.dataset}: the first layer must have "
            f"{data.n_features} neurons and the last {data.n_outputs}"
        )
