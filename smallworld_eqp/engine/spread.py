"""Per-layer-pair training rates and their spread (paper section 4.4-4.5, eq. 20-23).

The inputs are per-batch correction RMS values ``rates`` of shape
``(n_batches, n_pairs)``: ``rates[b, l]`` is :math:`\\Delta w^l(b+1)` of eq. 20, the
root-mean-square correction of the adjacent-layer weights between layers ``l`` and
``l + 1`` after batch ``b + 1``. Pair 0 joins the input and the first hidden layer,
the last pair joins the last hidden layer and the output layer.

Examples
--------
>>> import numpy as np
>>> rates = np.array([[1.0, 2.0, 4.0, 9.0], [1.0, 2.0, 4.0, 9.0]])
>>> totals(rates, every=1)
array([ 2.,  4.,  8., 18.])
>>> float(spread(totals(rates, every=1)))
4.0
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from smallworld_eqp.validate import check_int

DROP = ("output", "largest")


def _as_rates(rates: np.ndarray) -> np.ndarray:
    r = np.asarray(rates, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"rates must be a 2-D array (n_batches, n_pairs), got shape {r.shape}")
    if r.shape[1] < 1:
        raise ValueError(f"rates must have at least one layer pair (column), got shape {r.shape}")
    return r


def moving_average(rates: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over ``2n + 1`` batches (eq. 21).

    ``out[b] = mean(rates[b - n : b + n + 1])`` along axis 0. Near the ends, where
    part of the window lies before the first or after the last batch, the average
    is taken over the part of the window that exists (so the output has as many
    rows as the input, and the first value averages ``n + 1`` batches). A NaN
    affects only the windows that contain it.

    Parameters
    ----------
    rates : array_like, shape (n_batches,) or (n_batches, n_pairs)
    n : int
        Half-width of the window, ``n >= 0``; ``n = 0`` returns a copy.

    Returns
    -------
    ndarray of float64, same shape as ``rates``

    Examples
    --------
    >>> moving_average([1.0, 2.0, 3.0, 4.0, 5.0], 1)
    array([1.5, 2. , 3. , 4. , 4.5])
    """
    n = check_int("n", n, low=0)
    r = np.asarray(rates, dtype=np.float64)
    if r.ndim not in (1, 2):
        raise ValueError(f"rates must be 1-D or 2-D, got shape {r.shape}")
    size = r.shape[0]
    if size == 0:
        return r.copy()
    n = min(n, size - 1)  # a wider window covers the same batches: the same averages
    pad = [(n, n)] + [(0, 0)] * (r.ndim - 1)
    # A direct window sum (not a cumulative sum) keeps full precision for rates
    # spanning many orders of magnitude and keeps a NaN local to its windows.
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(r, pad), 2 * n + 1, axis=0)
    sums = windows.sum(axis=-1)
    b = np.arange(size)
    counts = np.minimum(b + n, size - 1) - np.maximum(b - n, 0) + 1
    return sums / counts.reshape((-1,) + (1,) * (r.ndim - 1))


def totals(rates: np.ndarray, every: int) -> np.ndarray:
    """Total correction of each layer pair over training (eq. 22).

    :math:`\\Delta w^l = \\sum_{b=1}^{\\lfloor N/n \\rfloor} \\Delta w^l(n b)` with
    1-based batch numbers, so the 0-based rows ``every - 1, 2 * every - 1, ...`` of
    ``rates`` are summed (``every = 1`` sums every batch). With fewer than ``every``
    batches nothing is summed and every total is 0. A NaN rate in a summed row
    makes that pair's total NaN.

    Parameters
    ----------
    rates : array_like, shape (n_batches, n_pairs)
    every : int
        ``n`` of eq. 22, ``every >= 1``.

    Returns
    -------
    ndarray of float64, shape (n_pairs,)

    Examples
    --------
    >>> totals([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]], every=2)
    array([ 2., 20.])
    """
    every = check_int("every", every, low=1)
    r = _as_rates(rates)
    return r[every - 1 :: every].sum(axis=0)


def spread(totals: np.ndarray, *, drop: str = "output") -> float:
    """Spread of the training rates of the layer pairs (eq. 23, generalised).

    Eq. 23 is written for a network of :math:`2L+2` layers, i.e. :math:`2L+1` layer
    pairs: with :math:`l_{min}(i)` the pair with the :math:`i`-th smallest total,

    .. math:: \\mathrm{Spread} = \\frac{\\sum_{i=L+1}^{2L} \\Delta w^{l_{min}(i)}}
              {\\sum_{i=1}^{L} \\Delta w^{l_{min}(i)}},

    so one pair, the one ranked :math:`2L+1` (the fastest), is left out: the paper
    means the pair touching the output layer, which trains about an order of
    magnitude faster than the others whatever the number of replaced connections
    (section 4.5). That form does not fit the paper's own 5-layer network (4 pairs).
    We generalise it to any depth:

    1. leave out the pair touching the output layer (the last pair);
    2. sort the remaining :math:`m` totals;
    3. Spread = (sum of the :math:`\\lfloor m/2 \\rfloor` largest) /
       (sum of the :math:`\\lfloor m/2 \\rfloor` smallest); with an odd :math:`m`
       the median pair is in neither sum.

    For :math:`2L+2` layers, :math:`m = 2L` and the two sums are exactly the
    :math:`L` smallest (:math:`i = 1..L`) and the :math:`L` next
    (:math:`i = L+1..2L`) of eq. 23, whenever the output pair is the fastest (as
    the paper assumes). ``drop="largest"`` leaves out the fastest pair instead of
    the output pair, which is eq. 23 taken literally for every ordering.
    For the paper's 784-500-500-500-10 network (3 pairs without the output pair)
    Spread is the largest over the smallest of the three deeper totals.

    Parameters
    ----------
    totals : array_like, shape (n_pairs,)
        Per-pair totals from :func:`totals`, input pair first.
    drop : {"output", "largest"}
        Which pair to leave out.

    Returns
    -------
    float
        ``>= 1`` for non-negative totals. NaN when fewer than 2 pairs remain (a
        3-layer network has no spread to measure), when a total is NaN, or when
        both sums are 0; ``inf`` when only the smaller sum is 0.

    Examples
    --------
    Six layers (:math:`L = 2`): the output pair (50) is left out, the two smallest
    of the rest sum to 1 + 2 and the two largest to 4 + 8:

    >>> spread([8.0, 4.0, 2.0, 1.0, 50.0])
    4.0
    """
    if drop not in DROP:
        raise ValueError(f"drop must be one of {', '.join(DROP)}, got {drop!r}")
    t = np.asarray(totals, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"totals must be a 1-D array (n_pairs,), got shape {t.shape}")
    if np.any(np.isnan(t)):
        return float("nan")
    rest = np.sort(t[:-1] if drop == "output" else np.sort(t)[:-1])
    half = rest.shape[0] // 2
    if half < 1:
        return float("nan")
    small, large = rest[:half].sum(), rest[-half:].sum()
    if small == 0.0:
        return float("inf") if large > 0.0 else float("nan")
    return float(large / small)


def log_spread(rates: np.ndarray) -> float:
    """Standard deviation of log10 of the mean per-pair rates, over all pairs.

    The scalar the authors' released code printed after a run (their
    ``np.std(np.log10(rates_mean))``): ``std_l log10(mean_b rates[b, l])`` with the
    population standard deviation (``ddof=0``), the output pair included. Given
    eq. 20's rates it is our ``log_spread``; given the code's own per-pair rates (RMS
    over existing edges, before the learning rate) it is their spread,
    ``authors_spread``: the two differ when rewiring removed edges of a pair or the
    pairs have different learning rates. 0 when
    every pair trains at the same mean rate; each factor of 10 between pairs adds
    about 0.5 for two pairs. NaN when a mean rate is NaN, zero or negative (no
    logarithm), or when ``rates`` has no rows.

    Parameters
    ----------
    rates : array_like, shape (n_batches, n_pairs)

    Returns
    -------
    float

    Examples
    --------
    >>> log_spread([[1.0, 100.0], [1.0, 100.0]])
    1.0
    """
    r = _as_rates(rates)
    if r.shape[0] == 0:
        return float("nan")
    means = r.mean(axis=0)
    if not np.all(np.isfinite(means)) or np.any(means <= 0.0):
        return float("nan")
    return float(np.std(np.log10(means)))


class Rates(NamedTuple):
    """What the summaries of a trial's training rates read: the per-batch rates of
    eq. 20 (n_batches, n_pairs), their per-pair totals (eq. 22), and the authors' code's
    per-pair rates (RMS over each pair's existing edges, before the learning rate;
    None when not measured)."""

    rates: np.ndarray
    totals: np.ndarray
    edge_rates: np.ndarray | None


#: The scalar summaries of a trial's training rates in a results row, each a function
#: of :class:`Rates`: add one here and it becomes a column.
SUMMARY = {
    "spread": lambda r: spread(r.totals),
    "log_spread": lambda r: log_spread(r.rates),
    "authors_spread": lambda r: float("nan") if r.edge_rates is None else log_spread(r.edge_rates),
}


def summary_columns(n_pairs: int) -> list[str]:
    """The columns of :func:`summarise` for ``n_pairs`` layer pairs."""
    return [f"dw_{pair}" for pair in range(n_pairs)] + list(SUMMARY)


def summarise(rates: np.ndarray, every: int, *, edge_rates: np.ndarray | None = None) -> dict[str, float]:
    """Per-pair totals (eq. 22) and every summary of :data:`SUMMARY` as one CSV row's worth.

    Parameters
    ----------
    rates : array_like (n_batches, n_pairs)
        Eq. 20 per batch.
    every : int
        ``n`` of eq. 22.
    edge_rates : array_like (n_batches, n_pairs), optional
        The authors' per-pair rates of the same batches (``authors_spread``).

    Returns
    -------
    dict
        ``dw_0`` ... ``dw_{P-1}`` (totals, input pair first), then ``spread`` (eq. 23),
        ``log_spread`` and ``authors_spread`` (NaN without ``edge_rates``).

    Examples
    --------
    >>> row = summarise([[1.0, 2.0, 4.0, 9.0]], every=1)
    >>> list(row)
    ['dw_0', 'dw_1', 'dw_2', 'dw_3', 'spread', 'log_spread', 'authors_spread']
    >>> row["spread"], round(row["log_spread"], 3)
    (4.0, 0.354)
    """
    r = _as_rates(rates)
    edges = None if edge_rates is None else _as_rates(edge_rates)
    t = totals(r, every)
    row = {f"dw_{pair}": float(v) for pair, v in enumerate(t)}
    row.update({name: float(f(Rates(r, t, edges))) for name, f in SUMMARY.items()})
    return row
