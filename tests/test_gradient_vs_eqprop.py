"""Tests for analysis.gradient_vs_eqprop: its statistics against plain per-group loops
on states from the dense reference, and its command line on a small trained run."""

from __future__ import annotations

import naive
import numpy as np
import pandas as pd
import pytest
from helpers import assert_one_line_exit_2, train_tiny

from analysis import gradient_vs_eqprop as gve
from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine import network_file
from smallworld_eqp.engine.gradient import cost_gradient
from smallworld_eqp.engine.network import EqPropNetwork


def _reference(g, net, x, y, beta, n_clamped):
    """Every column of :func:`gve.compare`, group by group with plain NumPy, from
    states relaxed by the dense reference (naive.euler and the authors' after-step)."""
    cfg = net.config
    w = naive.dense_weights(g, net.weights)
    b = net.biases
    n_in = g.layer_sizes[0]
    s0 = naive.euler(w, b, x, np.zeros((x.shape[0], g.n_neurons)), cfg.eps, cfg.n_free)
    kb = cfg.nudge_factor * beta
    plus = naive.euler(w, b, x, s0, cfg.eps, n_clamped, y, kb)
    minus = naive.euler(w, b, x, s0, cfg.eps, n_clamped, y, -kb)
    after = s0.copy()
    for _ in range(n_clamped):  # factor 2 built in: the test network's nudge factor is 2
        after = naive.authors_step_weakly_clamped(after, w, b, cfg.eps, beta, y, n_in)
    i, j = g.edges[:, 0], g.edges[:, 1]

    def edge(s):
        return s[:, i] * s[:, j]

    vals = {
        "exact": cost_gradient(g, net.weights, b, s0, y)[0],
        "one_sided": -(edge(plus) - edge(s0)) / kb,
        "symmetric": -(edge(plus) - edge(minus)) / (2 * kb),
        "after_step": -(edge(after) - edge(s0)) / kb,
    }
    names, group = gve.edge_groups(g)
    rows = []
    for k, name in enumerate(names):
        m = group == k
        row = {"group": name, "edges": int(m.sum())}
        ex = vals["exact"][:, m]
        row["examples_nonzero"] = int(np.sum(np.any(ex != 0, axis=1)))
        moved = np.linalg.norm(ex, axis=1) > 0
        for key, v in vals.items():
            row[f"rms_{key}"] = np.sqrt(np.mean(v[:, m] ** 2))
            row[f"rms_mean_{key}"] = np.sqrt(np.mean(v[:, m].mean(axis=0) ** 2))
            per_example = [np.sqrt(np.mean(e**2)) for e in v[moved][:, m]]
            row[f"med_rms_{key}"] = np.median(per_example) if per_example else np.nan
        for key in gve.ESTIMATORS:
            est = vals[key][:, m]
            cos = [
                e @ r / (np.linalg.norm(e) * np.linalg.norm(r)) if np.linalg.norm(e) else 0.0
                for e, r in zip(est[moved], ex[moved])
            ]
            ratio = [np.linalg.norm(e) / np.linalg.norm(r) for e, r in zip(est[moved], ex[moved])]
            row[f"cos_{key}"] = np.mean(cos) if cos else np.nan
            row[f"med_cos_{key}"] = np.median(cos) if cos else np.nan
            row[f"med_ratio_{key}"] = np.median(ratio) if cos else np.nan
            me, mr = est.mean(axis=0), ex.mean(axis=0)
            with np.errstate(invalid="ignore"):  # NaN where the mean gradient is 0
                row[f"cos_mean_{key}"] = me @ mr / (np.linalg.norm(me) * np.linalg.norm(mr))
        rows.append(row)
    return pd.DataFrame(rows), s0


@pytest.mark.parametrize("seed", range(5))
def test_compare_matches_plain_loops(seed, monkeypatch):
    monkeypatch.setattr(gve, "CHUNK", 3)  # several chunks and a partial one
    rng = np.random.default_rng(seed)
    g = naive.random_graph(rng)
    cfg = EqPropConfig(n_free=60, n_clamped=5, nudge_factor=2.0, eps=0.5, dtype="float32")
    net = EqPropNetwork(g, cfg)
    n_in = g.layer_sizes[0]
    net.set_parameters(
        rng.uniform(-0.6, 0.6, g.n_edges), np.r_[np.zeros(n_in), rng.uniform(-0.2, 0.7, g.n_neurons - n_in)]
    )
    x = rng.random((8, n_in))
    y = np.eye(g.layer_sizes[-1])[rng.integers(0, g.layer_sizes[-1], 8)]
    beta, n_clamped = float(rng.uniform(0.05, 1.0)), int(rng.integers(2, 9))
    ref, s0_ref = _reference(g, net, x, y, beta, n_clamped)
    s0 = gve.free_states(net, x)
    np.testing.assert_allclose(s0, s0_ref, atol=1e-12)
    got = gve.compare(net, x, y, s0, beta, n_clamped)
    assert list(got.columns) == gve.COLUMNS[gve.COLUMNS.index("max_residual") :]
    pd.testing.assert_frame_equal(got[ref.columns], ref, check_dtype=False, rtol=1e-9, atol=1e-14)
    clipped = np.mean((s0_ref[:, n_in:] == 0) | (s0_ref[:, n_in:] == 1))
    assert got["frac_clipped"].iloc[0] == pytest.approx(clipped)
    assert (got["max_residual"] >= got["mean_residual"]).all()


def test_estimates_approach_the_exact_gradient_with_a_long_small_nudge():
    # The analysis, end to end: with beta small and the clamped phase run to its fixed
    # point, every estimator's cosine to the exact gradient is ~1 and the RMS agrees.
    rng = np.random.default_rng(3)
    g = naive.random_graph(rng)
    net = EqPropNetwork(g, EqPropConfig(n_free=4000, nudge_factor=2.0, dtype="float64"))
    n_in = g.layer_sizes[0]
    net.set_parameters(
        rng.uniform(-0.5, 0.5, g.n_edges), np.r_[np.zeros(n_in), rng.uniform(-0.3, 0.8, g.n_neurons - n_in)]
    )
    x = rng.random((6, n_in))
    y = np.eye(g.layer_sizes[-1])[rng.integers(0, g.layer_sizes[-1], 6)]
    s0 = gve.free_states(net, x)
    table = gve.compare(net, x, y, s0, 1e-5, 4000)
    assert table["max_residual"].max() < 1e-12
    for key in gve.ESTIMATORS:
        ok = table["examples_nonzero"] > 0
        assert (table.loc[ok, f"cos_{key}"] > 0.999).all(), key
        assert (table.loc[ok, f"med_cos_{key}"] > 0.999).all(), key
        np.testing.assert_allclose(table.loc[ok, f"med_ratio_{key}"], 1.0, rtol=1e-2)
        np.testing.assert_allclose(table.loc[ok, f"rms_{key}"], table.loc[ok, "rms_exact"], rtol=1e-2)


def test_edge_groups_name_the_pairs_and_kinds_present():
    g = naive.random_graph(np.random.default_rng(0))
    names, group = gve.edge_groups(g)
    la, lb = g.edge_layers[:, 0], g.edge_layers[:, 1]
    expected = ["intra" if a == b else f"{a}-{b}" if b == a + 1 else "skip" for a, b in zip(la, lb)]
    assert [names[k] for k in group] == expected
    assert len(set(names)) == len(names)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train_tiny(out, epochs=1)
    return out


def test_cli_appends_skips_and_refuses(run_dir, tmp_path, capsys):
    csv = tmp_path / "out" / "gve.csv"
    argv = ["--run", str(run_dir), "--n", "20", "--beta", "0.5,0.1", "--n-clamped", "3", "--out", str(csv)]
    assert gve.main(argv) == 0
    table = pd.read_csv(csv)
    assert list(table.columns) == gve.COLUMNS
    n_groups = len(gve.edge_groups(network_file.load(run_dir / "checkpoint.npz").graph)[0])
    assert len(table) == 2 * n_groups and set(table["beta"]) == {0.5, 0.1}
    assert set(table["epoch"]) == {1} and set(table["n"]) == {20} and set(table["n_clamped"]) == {3}
    assert "| source | epoch |" in capsys.readouterr().out
    # A rerun skips what is there and adds what is not.
    assert gve.main([*argv[:-4], "--beta", "0.5,0.2", "--n-clamped", "3", "--out", str(csv)]) == 0
    assert "already in" in capsys.readouterr().out
    table = pd.read_csv(csv)
    assert len(table) == 3 * n_groups and table["measurement"].nunique() == 3

    foreign = tmp_path / "notes.csv"
    foreign.write_text("a,b\n1,2\n")
    err = assert_one_line_exit_2(lambda: gve.main(["--run", str(run_dir), "--out", str(foreign)]), capsys)
    assert "holds other results" in err and foreign.read_text() == "a,b\n1,2\n"
    err = assert_one_line_exit_2(lambda: gve.main(["--out", str(csv)]), capsys)
    assert "give at least one --preset NAME or --run RUN_DIR" in err
    err = assert_one_line_exit_2(
        lambda: gve.main(["--run", str(run_dir), "--beta", "-1", "--out", str(csv)]), capsys
    )
    assert "--beta" in err
    err = assert_one_line_exit_2(lambda: gve.main(["--run", str(tmp_path), "--out", str(csv)]), capsys)
    assert "run.json" in err
