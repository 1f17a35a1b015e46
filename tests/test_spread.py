"""Tests for smallworld_eqp.engine.spread (eq. 20-23): hand-computed cases and properties."""

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from smallworld_eqp.engine import spread as sp

# ---------------------------------------------------------------- references


def moving_average_loop(rates, n):
    """Eq. 21 written as a plain loop, window truncated at the ends."""
    r = np.asarray(rates, dtype=float)
    out = np.empty_like(r)
    for b in range(r.shape[0]):
        lo, hi = max(b - n, 0), min(b + n, r.shape[0] - 1)
        out[b] = sum(r[k] for k in range(lo, hi + 1)) / (hi - lo + 1)
    return out


def totals_loop(rates, every):
    """Eq. 22 with 1-based batch numbers b = 1 .. floor(N / n)."""
    r = np.asarray(rates, dtype=float)
    out = np.zeros(r.shape[1])
    for b in range(1, r.shape[0] // every + 1):
        out += r[every * b - 1]
    return out


def eq23_literal(totals):
    """Eq. 23 as printed, for 2L+1 pairs: ranks L+1..2L over ranks 1..L."""
    t = sorted(totals)
    L = (len(t) - 1) // 2
    return sum(t[L : 2 * L]) / sum(t[:L])


positive = st.floats(min_value=1e-9, max_value=1e3, allow_nan=False)


# ---------------------------------------------------------------- eq. 21


def test_moving_average_hand_computed():
    r = [1.0, 2.0, 3.0, 4.0, 5.0]
    np.testing.assert_allclose(sp.moving_average(r, 1), [1.5, 2.0, 3.0, 4.0, 4.5])
    # n = 2: ends average 3 then 4 existing batches
    np.testing.assert_allclose(sp.moving_average(r, 2), [2.0, 2.5, 3.0, 3.5, 4.0])
    # window wider than the series: every point averages what exists
    np.testing.assert_allclose(sp.moving_average([1.0, 3.0], 5), [2.0, 2.0])
    np.testing.assert_allclose(sp.moving_average(r, 0), r)


def test_moving_average_2d_is_per_column():
    r = np.array([[1.0, 10.0], [2.0, 20.0], [6.0, 60.0]])
    np.testing.assert_allclose(sp.moving_average(r, 1), [[1.5, 15.0], [3.0, 30.0], [4.0, 40.0]])


def test_moving_average_nan_stays_local():
    r = np.array([1.0, 1.0, np.nan, 1.0, 1.0, 1.0, 1.0])
    out = sp.moving_average(r, 1)
    assert np.isnan(out[1:4]).all()
    np.testing.assert_allclose(out[[0, 4, 5, 6]], 1.0)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 4)), elements=positive),
    st.integers(0, 8),
)
def test_moving_average_matches_loop(rates, n):
    np.testing.assert_allclose(sp.moving_average(rates, n), moving_average_loop(rates, n), rtol=1e-12)
    np.testing.assert_allclose(
        sp.moving_average(rates[:, 0], n), moving_average_loop(rates[:, 0], n), rtol=1e-12
    )


@settings(max_examples=30, deadline=None)
@given(positive, st.integers(1, 40), st.integers(0, 10))
def test_moving_average_of_constant_is_constant(c, size, n):
    np.testing.assert_allclose(sp.moving_average(np.full((size, 3), c), n), c, rtol=1e-12)


def test_moving_average_precision_across_magnitudes():
    # rates falling over 8 decades: a cumulative-sum implementation would lose the tail
    r = np.logspace(-3, -11, 2000)
    np.testing.assert_allclose(sp.moving_average(r, 5), moving_average_loop(r, 5), rtol=1e-12)


def test_moving_average_rejects_bad_n():
    with pytest.raises(ValueError, match="n must be a non-negative integer, got -1"):
        sp.moving_average([1.0, 2.0], -1)


@pytest.mark.parametrize("n", [1.5, True, "2"])
def test_moving_average_refuses_wrong_types(n):
    with pytest.raises(TypeError, match="n must be an integer"):
        sp.moving_average([1.0, 2.0], n)


def test_a_window_wider_than_the_rates_is_the_whole_mean():
    # As eq. 21 with the window cut to what exists: no padding the size of the window.
    r = np.arange(6.0)
    np.testing.assert_array_equal(sp.moving_average(r, 10**9), np.full(6, 2.5))
    np.testing.assert_array_equal(sp.moving_average(r, 10**9), moving_average_loop(r, 5))


def test_moving_average_rejects_3d():
    with pytest.raises(ValueError, match="1-D or 2-D"):
        sp.moving_average(np.zeros((2, 2, 2)), 1)


# ---------------------------------------------------------------- eq. 22


def test_totals_hand_computed():
    r = [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0], [5.0, 50.0]]
    np.testing.assert_allclose(sp.totals(r, 1), [15.0, 150.0])
    np.testing.assert_allclose(sp.totals(r, 2), [6.0, 60.0])  # batches 2 and 4
    np.testing.assert_allclose(sp.totals(r, 3), [3.0, 30.0])  # batch 3 only
    np.testing.assert_allclose(sp.totals(r, 6), [0.0, 0.0])  # floor(5/6) = 0 terms


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(0, 30), st.integers(1, 5)), elements=positive),
    st.integers(1, 12),
)
def test_totals_matches_loop(rates, every):
    np.testing.assert_allclose(sp.totals(rates, every), totals_loop(rates, every), rtol=1e-12)


def test_totals_rejects_bad_input():
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        sp.totals([[1.0]], 0)
    with pytest.raises(ValueError, match="2-D array"):
        sp.totals([1.0, 2.0], 1)


# ---------------------------------------------------------------- eq. 23


def test_spread_hand_computed():
    # 5 layers, 4 pairs: output pair (100) dropped, median (2) in neither sum -> 3 / 1
    assert sp.spread([3.0, 1.0, 2.0, 100.0]) == 3.0
    # 6 layers (L = 2): (4 + 8) / (1 + 2)
    assert sp.spread([8.0, 4.0, 2.0, 1.0, 50.0]) == 4.0
    # 8 layers (L = 3): (4 + 5 + 6) / (1 + 2 + 3)
    assert sp.spread([6.0, 1.0, 5.0, 2.0, 4.0, 3.0, 1000.0]) == 2.5
    # 4 layers, 3 pairs: the two deeper pairs
    assert sp.spread([2.0, 8.0, 0.5]) == 4.0


def test_spread_drop_output_vs_largest():
    # the output pair (5) is not the fastest here
    assert sp.spread([10.0, 1.0, 2.0, 3.0, 5.0]) == pytest.approx(13.0 / 3.0)
    assert sp.spread([10.0, 1.0, 2.0, 3.0, 5.0], drop="largest") == pytest.approx(8.0 / 3.0)
    with pytest.raises(ValueError, match="drop must be one of output, largest, got 'first'"):
        sp.spread([1.0, 2.0, 3.0], drop="first")


def test_spread_degenerate():
    assert math.isnan(sp.spread([1.0, 2.0]))  # 3 layers: one pair left
    assert math.isnan(sp.spread([1.0]))
    assert math.isnan(sp.spread([1.0, np.nan, 2.0, 3.0]))
    assert sp.spread([0.0, 0.0, 1.0, 5.0]) == math.inf
    assert math.isnan(sp.spread([0.0, 0.0, 0.0, 5.0]))
    with pytest.raises(ValueError, match="1-D array"):
        sp.spread([[1.0, 2.0]])


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5).flatmap(lambda L: st.lists(positive, min_size=2 * L, max_size=2 * L)))
def test_spread_equals_eq23_when_output_pair_is_fastest(deep):
    totals = deep + [max(deep) * 10.0]  # 2L + 2 layers, output pair last and fastest
    assert sp.spread(totals) == pytest.approx(eq23_literal(totals), rel=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5).flatmap(lambda L: st.lists(positive, min_size=2 * L + 1, max_size=2 * L + 1)))
def test_spread_largest_is_eq23_literally(totals):
    assert sp.spread(totals, drop="largest") == pytest.approx(eq23_literal(totals), rel=1e-12)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(positive, min_size=3, max_size=12),
    st.floats(min_value=1e-6, max_value=1e6),
    st.randoms(use_true_random=False),
)
def test_spread_properties(totals, scale, rnd):
    s = sp.spread(totals)
    assert s >= 1.0
    deep = totals[:-1]
    rnd.shuffle(deep)
    assert sp.spread(deep + totals[-1:]) == pytest.approx(s, rel=1e-12)
    assert sp.spread([scale * t for t in totals]) == pytest.approx(s, rel=1e-9)


# ---------------------------------------------------------------- log-spread


def test_log_spread_hand_computed():
    assert sp.log_spread([[1.0, 100.0], [1.0, 100.0]]) == pytest.approx(1.0)
    # pair means 2 and 505: half the log10 distance between them
    assert sp.log_spread([[1.0, 10.0], [3.0, 1000.0]]) == pytest.approx(math.log10(505 / 2) / 2)
    # logs 0, 1, 2: population std sqrt(2/3)
    assert sp.log_spread([[1.0, 10.0, 100.0]]) == pytest.approx(math.sqrt(2.0 / 3.0))
    assert sp.log_spread([[3.0]]) == 0.0


def test_log_spread_degenerate():
    assert math.isnan(sp.log_spread([[0.0, 1.0]]))
    assert math.isnan(sp.log_spread([[np.nan, 1.0]]))
    assert math.isnan(sp.log_spread(np.empty((0, 3))))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(1, 6)), elements=positive),
    st.floats(min_value=1e-6, max_value=1e6),
)
def test_log_spread_matches_reference_and_is_scale_free(rates, scale):
    means = [statistics.fmean(rates[:, k]) for k in range(rates.shape[1])]
    expected = statistics.pstdev([math.log10(m) for m in means])
    assert sp.log_spread(rates) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert sp.log_spread(scale * rates) == pytest.approx(expected, rel=1e-6, abs=1e-9)


# ---------------------------------------------------------------- summary row


def test_summarise_row():
    rates = np.array([[1.0, 2.0, 4.0, 90.0], [5.0, 6.0, 8.0, 10.0], [1.0, 2.0, 4.0, 90.0]])
    row = sp.summarise(rates, every=2)  # batch 2 only
    assert list(row) == ["dw_0", "dw_1", "dw_2", "dw_3", "spread", "log_spread", "authors_spread"]
    assert list(row) == sp.summary_columns(4)
    assert [row[f"dw_{k}"] for k in range(4)] == [5.0, 6.0, 8.0, 10.0]
    assert row["spread"] == 8.0 / 5.0
    assert row["log_spread"] == pytest.approx(sp.log_spread(rates))
    assert np.isnan(row["authors_spread"])  # no per-edge rates given
    assert all(isinstance(v, float) for v in row.values())


def test_authors_spread_is_their_log_spread_of_per_edge_rates():
    # Their code: per batch and pair, norm(dW * conn) / sqrt(norm(W_mask * conn, p=1)) (dW before
    # the learning rate); then np.std(np.log10(mean over batches)) (population std).
    rng = np.random.default_rng(3)
    edge_rates = rng.uniform(1e-5, 1e-1, (50, 6))
    means = [np.mean(edge_rates[:, k]) for k in range(6)]
    expected = float(np.sqrt(np.mean((np.log10(means) - np.mean(np.log10(means))) ** 2)))
    row = sp.summarise(rng.random((50, 6)), 1, edge_rates=edge_rates)
    assert row["authors_spread"] == pytest.approx(expected, rel=1e-12)
