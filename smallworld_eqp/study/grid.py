"""A sweep's grid: the ``--vary`` values of a setting, and the trials of a study.

:func:`parse_vary` reads ``NAME=V1,V2,...`` for any declared setting; :func:`expand`
crosses the varied settings with the swept rewiring amounts and seeds into
:class:`~smallworld_eqp.study.spec.TrialSpec` objects. Imports the spec and the
settings' parsers only (no numba).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.settings import declared, parse_floats, parse_items, parse_value
from smallworld_eqp.study.spec import GRID_NAMES, TrialSpec, setting_field


def parse_vary(text: str) -> tuple[str, list]:
    """``NAME=V1,V2,...`` -> ``(NAME, [values])``; a list value writes its items with ``/``.

    A setting whose values hold commas separates them by its own ``vary_sep``
    (:func:`settings.setting`): the recipe ``steps``, JSON, by ``;``.

    Examples
    --------
    >>> parse_vary("learning_rate=0.1/0.05/0.02,0.02")
    ('learning_rate', [(0.1, 0.05, 0.02), 0.02])
    >>> parse_vary("nudge_factor=1,2")
    ('nudge_factor', [1.0, 2.0])
    >>> parse_vary('steps=[];[{"op": "without_kind", "kind": "skip"}]')
    ('steps', [(), ({'op': 'without_kind', 'kind': 'skip'},)])
    """
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not values.strip():
        raise ValueError(f"expected NAME=VALUE,VALUE,... like learning_rate=0.05,0.1, got {text!r}")
    if name in GRID_NAMES:
        raise ValueError(f"{name} is swept by its own flag (--seeds, --replacements, --p), not by --vary")
    f = setting_field(name)
    parsed = list(
        parse_items(values, lambda v: parse_value(f, v, sep="/"), f.metadata["vary_sep"], f"values of {name}")
    )
    if f.metadata["parse"] is parse_floats:  # one-item lists are plain numbers
        parsed = [v[0] if isinstance(v, tuple) and len(v) == 1 else v for v in parsed]
    return name, parsed


#: Settings whose ``--vary`` values are not separated by ``,``, with their separator.
VARY_SEPS = {
    f.name: f.metadata["vary_sep"]
    for cls in (TrialSpec, EqPropConfig)
    for f in declared(cls)
    if f.metadata["vary_sep"] != ","
}


def expand(
    settings: Mapping[str, Any],
    *,
    vary: Mapping[str, Sequence[Any]] | None = None,
    data_dir: str | None = None,
) -> list[TrialSpec]:
    """The trials of a study: ``settings`` with every combination of the ``vary``
    values, crossed with the swept grid values (a sequence given for ``n``, ``p`` or
    ``seed``), in that order: varied settings outermost, then the rewiring amount,
    then the seed.

    Parameters
    ----------
    settings : mapping
        Flat settings (:data:`SETTING_NAMES`); ``n``, ``p`` and ``seed`` may be
        sequences of values to sweep.
    vary : mapping name -> values, optional
        Further settings to sweep (any setting but the grid ones).
    data_dir : str, optional
    """
    base = dict(settings)
    vary = dict(vary or {})
    bad = [name for name in vary if name in GRID_NAMES]
    if bad:
        raise ValueError(f"{bad[0]} is swept by its own flag, not by vary")
    grids = {name: list(base.pop(name)) for name in GRID_NAMES if _is_sequence(base.get(name))}
    names = list(vary) + list(grids)
    specs = []
    for combo in itertools.product(*(list(vary[k]) for k in vary), *(grids[k] for k in grids)):
        specs.append(TrialSpec.from_settings({**base, **dict(zip(names, combo))}, data_dir=data_dir))
    return specs


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple, range, np.ndarray))
