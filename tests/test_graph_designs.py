"""Tests of analysis.graph_designs on synthetic sweeps whose answer is known, and of
its fits against plain NumPy ones."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import assert_png, run_module, sweep_frame
from scipy import stats

from analysis import graph_designs
from smallworld_eqp.study import schema

DESIGNS = ("uniform", "span-2", "span-3", "into-output")


def design_sweep(seed: int = 0) -> pd.DataFrame:
    """Four designs x 5 counts x 3 seeds in which the outcomes depend on the mean
    hidden-layer hops only. Path length follows the hops inside each design but with
    an offset per design (it ranks the trials of a design, and transfers badly);
    clustering is noise; the edge counts follow n, independent of the hops."""
    rng = np.random.default_rng(seed)
    frames = []
    for k, design in enumerate(DESIGNS):
        f = sweep_frame(n_values=(100, 300, 1000, 3000, 10000), seeds=(0, 1, 2), layers="6-5-5-5-3", seed=k)
        h = rng.uniform(1.0, 3.0, len(f))
        f["trial_id"] = f["trial_id"] + f"-{design}"
        f["design"] = design
        for lay in (1, 2, 3):
            f[f"hops_to_output_{lay}"] = h
        f["hops_to_output_0"] = h + 1.0
        f["path_length"] = 0.5 * h + 1.5 * k
        f["clustering"] = rng.uniform(0.0, 0.2, len(f))
        f["skip_span"] = 2.0 * h + 1.0  # a copy of the hops under another name
        f["online_error_epoch1"] = 0.9 - 0.2 * h + 0.005 * rng.standard_normal(len(f))
        f["spread"] = 10 ** (0.3 * h + 0.01 * rng.standard_normal(len(f)))
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def table():
    return graph_designs.predictors(design_sweep())


def pick(table, measure, target):
    (row,) = table[(table["measure"] == measure) & (table["target"] == target)].to_dict("records")
    return row


@pytest.mark.parametrize("target", list(graph_designs.TARGETS))
def test_the_driving_measure_transfers_across_designs(table, target):
    hops = pick(table, "hops_mean_hidden", target)
    assert hops["r2_within"] > 0.95 and hops["r2_leave_one_design_out"] > 0.95
    assert hops["n"] == 60 and hops["n_designs"] == 4


@pytest.mark.parametrize("target", list(graph_designs.TARGETS))
def test_a_measure_that_only_tracks_within_designs_does_not_transfer(table, target):
    path = pick(table, "path_length", target)
    assert path["r2_within"] > 0.95
    assert path["r2_leave_one_design_out"] < 0.3
    noise = pick(table, "clustering", target)
    assert noise["r2_within"] < 0.3 and noise["r2_leave_one_design_out"] < 0.1


def test_measures_come_from_the_registry_and_constant_ones_are_left_out(table):
    got = set(table["measure"])
    # The hidden layers' per-layer columns and the one-number measures that vary.
    assert {"hops_to_output_1", "hops_to_output_3", "path_length", "n_skip", "hops_mean_hidden"} <= got
    assert (
        not {"n_neurons", "n_intra", "hops_to_output_0", "hops_to_output_4"} & got
    )  # constant or not hidden
    assert not {"log_paths_hidden", "log_walks_to_output_2"} & got  # empty in this sweep
    assert list(table.columns) == graph_designs.COLUMNS


@pytest.mark.parametrize("target, sign", [("online_error_epoch1", -1), ("spread", 1)])
def test_multivariate_fit_keeps_one_of_the_duplicates_and_finds_its_effect(table, target, sign):
    rows = table[(table["target"] == target) & table["in_model"]]
    # Only one-number measures are candidates; of hops_mean_hidden and skip_span, the same
    # column here, one enters.
    assert set(rows["measure"]) <= set(graph_designs.one_number_measures())
    hops_like = rows[rows["measure"].isin(["hops_mean_hidden", "skip_span"])]
    assert len(hops_like) == 1
    (effect,) = hops_like.to_dict("records")
    assert sign * effect["partial_ci_low"] > 0 and sign * effect["partial_ci_high"] > 0
    assert effect["partial_ci_low"] < effect["partial_effect"] < effect["partial_ci_high"]
    # The effect of one standard deviation: the slope times the measure's standard deviation.
    df = graph_designs.with_hops_mean(design_sweep())
    sd = df[effect["measure"]].std(ddof=0)
    assert effect["partial_effect"] == pytest.approx(effect["slope"] * sd, rel=0.05)
    assert rows["model_r2"].iloc[0] > 0.95 and rows["model_r2_leave_one_design_out"].iloc[0] > 0.9
    assert len(rows) <= 60 // graph_designs.ROWS_PER_MEASURE


@pytest.mark.parametrize("seed", range(5))
def test_r2_match_plain_numpy_fits(seed):
    rng = np.random.default_rng(seed)
    n = 40
    design = rng.choice(["a", "b", "c", "d"], n)
    x = rng.normal(size=n) + (design == "b")
    y = 0.5 * x + rng.normal(size=n) + 2.0 * (design == "c")
    within = np.mean([np.corrcoef(x[design == d], y[design == d])[0, 1] ** 2 for d in "abcd"])
    assert graph_designs.r2_within(x, y, design) == pytest.approx(within, rel=1e-9)
    predicted = np.empty(n)
    for d in "abcd":
        slope, intercept = np.polyfit(x[design != d], y[design != d], 1)
        predicted[design == d] = slope * x[design == d] + intercept
    lodo = 1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2)
    assert graph_designs.r2_leave_one_design_out(x, y, design) == pytest.approx(lodo, rel=1e-9)


def test_design_labels_and_refusals():
    df = design_sweep()
    df.loc[:14, "mode"] = "add"
    assert graph_designs.design_labels(df).iloc[0] == "uniform-add+intra"  # sweep_frame: intra=True
    other = df.assign(eps=np.where(df.index < 10, 0.25, 0.5))
    with pytest.raises(ValueError, match="the trials differ in eps: compare designs within one study"):
        graph_designs.predictors(other)
    with pytest.raises(ValueError, match="at least 2 designs"):
        graph_designs.predictors(df[df["design"] == "span-2"])


def test_cli_writes_the_table_and_the_figure(tmp_path):
    csv = tmp_path / "graph_designs.csv"
    design_sweep().to_csv(csv, index=False)
    out = tmp_path / "out"
    done = run_module("analysis.graph_designs", csv, "--out", out)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "graph_designs_predictors.csv")
    assert list(table.columns) == graph_designs.COLUMNS
    assert set(table["target"]) == set(graph_designs.TARGETS)
    assert_png(out / "graph_designs_predictors.png")
    # It reads back through the package's loader, and a rerun replaces its own files.
    assert len(schema.load_sweep(csv)) == 60
    assert run_module("analysis.graph_designs", csv, "--out", out).returncode == 0


def test_cli_never_overwrites_a_foreign_file(tmp_path):
    csv = tmp_path / "graph_designs.csv"
    design_sweep().to_csv(csv, index=False)
    foreign = tmp_path / "graph_designs_predictors.csv"
    foreign.write_text("a,b\n1,2\n")
    done = run_module("analysis.graph_designs", csv, "--out", tmp_path)
    assert done.returncode == 2
    assert "is not a graph_designs_predictors table of this module" in done.stderr
    assert "Traceback" not in done.stderr
    assert foreign.read_text() == "a,b\n1,2\n"


def test_a_foreign_add_vs_replace_file_stops_the_run_before_anything_is_written(tmp_path):
    csv = tmp_path / "graph_designs.csv"
    design_sweep().to_csv(csv, index=False)
    foreign = tmp_path / "graph_designs_add_vs_replace.csv"
    foreign.write_text("a,b\n1,2\n")
    done = run_module("analysis.graph_designs", csv, "--out", tmp_path)
    assert done.returncode == 2 and "graph_designs_add_vs_replace table" in done.stderr
    assert foreign.read_text() == "a,b\n1,2\n"
    assert not (tmp_path / "graph_designs_predictors.csv").exists()


def modes_sweep(seed: int = 0) -> pd.DataFrame:
    """The design sweep twice, replacing and adding, with random outcomes; two add
    trials lack their replace twin (unpaired, left out)."""
    rng = np.random.default_rng(seed)
    replace = design_sweep(seed).assign(mode="replace")
    add = design_sweep(seed).assign(mode="add")
    for f in (replace, add):
        f["online_error_epoch1"] = rng.uniform(0.2, 0.9, len(f))
        f["spread"] = 10 ** rng.uniform(0.0, 1.5, len(f))
    add["trial_id"] = add["trial_id"] + "-add"
    return pd.concat([replace.iloc[2:], add], ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_add_vs_replace_pairs_equal_design_count_and_seed(seed):
    df = modes_sweep(seed)
    table = graph_designs.add_vs_replace(df).set_index(["design", "target"])
    assert list(graph_designs.add_vs_replace(df).columns) == graph_designs.ADD_VS_REPLACE_COLUMNS
    assert set(table.index.get_level_values(0)) == {*DESIGNS, "all"}
    for design in (*DESIGNS, "all"):
        pick = df if design == "all" else df[df["design"] == design]
        for target, log in (("online_error_epoch1", False), ("spread", True)):
            r = pick[pick["mode"] == "replace"].set_index(["design", "n_replaced", "seed"])[target]
            a = pick[pick["mode"] == "add"].set_index(["design", "n_replaced", "seed"])[target]
            both = r.index.intersection(a.index)
            r, a = r.loc[both].to_numpy(), a.loc[both].to_numpy()
            if log:
                r, a = np.log10(r), np.log10(a)
            test = stats.ttest_rel(a, r)
            ci = test.confidence_interval(0.95)
            row = table.loc[(design, target)]
            assert row["n_pairs"] == len(both)
            assert row["mean_difference"] == pytest.approx(np.mean(a - r), rel=1e-12)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
            assert row["p_value"] == pytest.approx(test.pvalue, rel=1e-9)
    assert table.loc[("all", "spread"), "n_pairs"] == len(df[df["mode"] == "add"]) - 2


def test_committed_tables_regenerate_from_the_committed_study():
    """graph_designs_predictors.csv and graph_designs_add_vs_replace.csv are what the
    analysis computes from the committed graph_designs.csv, read as its command reads it."""
    results = Path(__file__).resolve().parents[1] / "analysis" / "results"
    df = schema.load_sweep(results / "graph_designs.csv")
    for computed, name in (
        (graph_designs.predictors(df), "graph_designs_predictors.csv"),
        (graph_designs.add_vs_replace(df), "graph_designs_add_vs_replace.csv"),
    ):
        committed = pd.read_csv(results / name)
        pd.testing.assert_frame_equal(
            computed.reset_index(drop=True), committed, check_dtype=False, rtol=1e-5, atol=1e-9
        )
