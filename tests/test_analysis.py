"""Tests for the analysis modules, run on synthetic result CSVs."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from helpers import assert_one_line_exit_2, assert_png, epochs_frame, rates_frame, run_module, sweep_frame

from analysis import correlations, decay_fit, markdown_table, report
from smallworld_eqp.config import GRAPH_MEASURES, LAYER_MEASURES

# A default output folder (analysis/out) lands in tmp_path.
pytestmark = pytest.mark.usefixtures("work_in_tmp")


@pytest.fixture
def sweep_csv(tmp_path):
    path = tmp_path / "sweep.csv"
    sweep_frame(n_values=(0, 10, 30, 100, 300, 1000), seeds=(0, 1, 2)).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------- markdown


def test_markdown_table():
    frame = pd.DataFrame(
        {"name": ["a|b", "c"], "n": [3, 4], "x": [0.000123456, float("nan")], "y": [2.0, 1e7]}
    )
    assert markdown_table(frame).splitlines() == [
        "| name | n | x | y |",
        "| --- | --- | --- | --- |",
        "| a\\|b | 3 | 0.000123 | 2 |",
        "| c | 4 | n/a | 1e+07 |",
    ]


# ---------------------------------------------------------------- correlations


def ranks_pearson(x, y):
    """Spearman's rho by its definition: Pearson's r of the (average) ranks."""
    keep = np.isfinite(x) & np.isfinite(y)
    rx = pd.Series(x[keep]).rank().to_numpy()
    ry = pd.Series(y[keep]).rank().to_numpy()
    return np.corrcoef(rx, ry)[0, 1], int(keep.sum())


def test_spearman_matches_rank_definition():
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.normal(size=15).round(1)  # ties included
        y = x + rng.normal(size=15)
        x[rng.integers(0, 15)] = np.nan
        rho, p, n = correlations.spearman(x, y)
        expected, n_expected = ranks_pearson(x, y)
        assert rho == pytest.approx(expected, abs=1e-12) and n == n_expected and 0 <= p <= 1


def test_spearman_degenerate():
    assert all(math.isnan(v) for v in correlations.spearman([1, 2, 3], [5, 5, 5])[:2])
    rho, p, n = correlations.spearman([1, 2, np.nan], [3, 4, 5])
    assert math.isnan(rho) and n == 2


def test_hops_mean_over_hidden_layers_of_each_depth():
    df = pd.DataFrame(
        {
            "layers": ["4-3-3-2", "4-3-3-3-2"],
            "hops_to_output_0": [3.0, 4.0],
            "hops_to_output_1": [2.0, 3.0],
            "hops_to_output_2": [1.0, 2.0],
            "hops_to_output_3": [0.0, 1.5],
            "hops_to_output_4": [np.nan, 0.0],
        }
    )
    with_mean = correlations.with_hops_mean(df)
    np.testing.assert_allclose(with_mean["hops_mean_hidden"], [1.5, 6.5 / 3])
    # the output layer's hops (always 0) is no predictor
    assert correlations.predictors(with_mean) == [
        "hops_mean_hidden",
        *[f"hops_to_output_{k}" for k in range(4)],
    ]


def registered_in(df):
    """The registered graph measures that ``df`` holds values of, in registry order."""
    held = {c for c in df if df[c].notna().any()}
    deepest = max(len(v.split("-")) for v in df["layers"])
    per_layer = [f"{m}_{k}" for m in LAYER_MEASURES for k in range(deepest - 1)]
    return [c for c in [*GRAPH_MEASURES, "hops_mean_hidden", *per_layer] if c in held]


def test_predictors_are_the_registered_measures_in_the_data(sweep_csv, monkeypatch):
    from smallworld_eqp.study import schema

    df = correlations.with_hops_mean(schema.load_sweep(sweep_csv))
    expected = registered_in(df)
    assert correlations.predictors(df) == expected
    # the synthetic sweep has the edge counts but not the measures added later (skip_span, ...)
    assert expected[:7] == [
        "n_neurons",
        "n_edges",
        "n_adjacent",
        "n_intra",
        "n_skip",
        "path_length",
        "clustering",
    ]
    assert "skip_span" not in expected and "hops_to_output_4" not in expected
    table = correlations.correlate(df)
    assert list(dict.fromkeys(table["metric"])) == expected
    # a measure registered later is a predictor without an edit of the analysis
    monkeypatch.setattr(correlations, "GRAPH_MEASURES", (*GRAPH_MEASURES, "new_measure"))
    at = expected.index("hops_mean_hidden")
    assert correlations.predictors(df.assign(new_measure=1.0)) == [
        *expected[:at],
        "new_measure",
        *expected[at:],
    ]


def test_correlate_signs(sweep_csv):
    from smallworld_eqp.study import schema

    table = correlations.correlate(schema.load_sweep(sweep_csv)).set_index(["outcome", "metric"])
    # the synthetic sweep: more replacements, shorter paths, smaller spread and error
    assert table.loc[("spread", "hops_mean_hidden"), "rho"] > 0.9
    assert table.loc[("online_error_epoch1", "path_length"), "rho"] > 0.8
    assert (table["n"] == 18).all()
    assert set(table.index.get_level_values("outcome")) == set(correlations.OUTCOMES)


def test_correlations_main(sweep_csv, tmp_path, capsys):
    out = tmp_path / "out"
    assert correlations.main([str(sweep_csv), "--out", str(out)]) == 0
    text = (out / "correlations.md").read_text()
    for outcome in correlations.OUTCOMES:
        assert f"(`{outcome}`)" in text
        assert_png(out / f"scatter_{outcome}.png")
    assert "| metric | rho | p_value | n |" in text
    few = tmp_path / "few.csv"
    sweep_frame(n_values=(0, 10), seeds=(0,)).to_csv(few, index=False)
    err = assert_one_line_exit_2(lambda: correlations.main([str(few), "--out", str(out)]), capsys)
    assert "need at least 3 ok trials to correlate, got 2" in err
    epochs = tmp_path / "epochs.csv"
    epochs_frame().to_csv(epochs, index=False)
    err = assert_one_line_exit_2(lambda: correlations.main([str(epochs)]), capsys)
    assert "not a sweep CSV" in err
    assert_one_line_exit_2(lambda: correlations.main([]), capsys)


def test_correlations_subprocess_exit_code(tmp_path):
    proc = run_module("analysis.correlations", tmp_path / "missing.csv", "--out", tmp_path)
    assert (
        proc.returncode == 2 and proc.stderr.count("\n") == 1 and "missing.csv: no such file" in proc.stderr
    )


# ---------------------------------------------------------------- decay fit


def test_fit_recovers_known_parameters_with_noise():
    rng = np.random.default_rng(0)
    truth = {"floor": 0.12, "err0": 0.85, "n0": 2500.0}
    x = np.repeat([0, 100, 300, 1000, 3000, 10_000, 30_000, 100_000], 5).astype(float)
    y = decay_fit.decay(x, **truth) + rng.normal(0.0, 0.005, x.shape)
    fit = decay_fit.fit_decay(x, y)
    for name, value in truth.items():
        estimate, se = getattr(fit, name), getattr(fit, f"se_{name}")
        assert abs(estimate - value) < 4 * se, (name, estimate, se)
        assert estimate == pytest.approx(value, rel=0.05)
    assert fit.r2 > 0.99 and fit.n_points == 40 and fit.n_x == 8 and not fit.n0_at_bound


def test_fit_is_exact_on_noise_free_data():
    rng = np.random.default_rng(1)
    for _ in range(10):
        floor, err0 = rng.uniform(0.0, 0.3), rng.uniform(0.5, 0.95)
        n0 = 10 ** rng.uniform(1, 4)
        x = np.concatenate([[0.0], np.geomspace(1, 1e5, 12)])
        fit = decay_fit.fit_decay(x, decay_fit.decay(x, floor, err0, n0))
        assert [fit.floor, fit.err0, fit.n0] == pytest.approx([floor, err0, n0], rel=1e-4, abs=1e-6)


def test_fit_rejects_too_little_data():
    with pytest.raises(ValueError, match="got 3 trials at 3 distinct x"):
        decay_fit.fit_decay([0, 1, 2], [1.0, 0.5, 0.2])
    with pytest.raises(ValueError, match="got 6 trials at 2 distinct x"):
        decay_fit.fit_decay([0, 0, 0, 5, 5, 5], [1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="x must be >= 0"):
        decay_fit.fit_decay([-1, 0, 1, 2], [1.0, 1.0, 0.5, 0.2])


def test_decay_fit_main(tmp_path, capsys):
    sweep = tmp_path / "sweep.csv"
    sweep_frame(n_values=(0, 10, 30, 100, 300, 1000, 3000), n0=200.0, noise=0.005).to_csv(sweep, index=False)
    out = tmp_path / "out"
    assert decay_fit.main([str(sweep), "--out", str(out)]) == 0
    text = (out / "decay_fit.md").read_text()
    assert "| parameter | value | std_error |" in text and "R^2 = " in text
    assert_png(out / "decay_fit.png")
    table = text.split("| --- | --- | --- |\n")[1].splitlines()[:3]
    n0 = float(table[2].split("|")[2])
    assert n0 == pytest.approx(200.0, rel=0.1)
    assert decay_fit.main([str(sweep), "--out", str(out), "--y", "test_error", "--x", "p"]) == 0
    err = assert_one_line_exit_2(lambda: decay_fit.main([str(sweep), "--y", "colour"]), capsys)
    assert "--y must be a column of the sweep CSV, got 'colour'" in err
    assert not (tmp_path / "analysis").exists()  # bad input creates no output folder
    few = tmp_path / "few.csv"
    sweep_frame(n_values=(0, 10), seeds=(0, 1)).to_csv(few, index=False)
    err = assert_one_line_exit_2(lambda: decay_fit.main([str(few), "--out", str(out)]), capsys)
    assert "need at least 4 trials at 3 or more distinct x" in err


def test_decay_fit_and_correlations_per_study(tmp_path):
    """Two network sizes with different decay scales are fitted apart, never pooled;
    a third study with too few trials is reported as skipped."""
    n_values = (0, 10, 30, 100, 300, 1000, 3000)
    sweep = pd.concat(
        [
            sweep_frame(n_values=n_values, layers="6-5-5-5-3", n0=50.0, noise=0.002, seed=1),
            sweep_frame(n_values=n_values, layers="6-4-3", n0=800.0, noise=0.002, seed=2),
            sweep_frame(n_values=(0, 10), seeds=(0,), layers="6-2-3"),
        ]
    )
    text, files = decay_fit.write(sweep, tmp_path)
    studies = text.split("### Study ")[1:]
    assert [s.split(" (")[0] for s in studies] == [
        "1: 6-2-3",
        "2: 6-4-3",
        "3: 6-5-5-5-3",
    ]
    assert "Skipped: need at least 4 trials" in studies[0]
    for study, n0 in zip(studies[1:], (800.0, 50.0)):
        row = next(line for line in study.splitlines() if line.startswith("| n0 |"))
        assert float(row.split("|")[2]) == pytest.approx(n0, rel=0.1)
    assert sorted(p.name for p in files) == [
        "decay_fit.md",
        "decay_fit_6-4-3.png",
        "decay_fit_6-5-5-5-3.png",
    ]
    text, files = correlations.write(sweep, tmp_path)
    assert text.count("### Study ") == 3 and "Skipped: need at least 3 ok trials to correlate, got 2" in text
    assert_png(tmp_path / "scatter_spread_6-5-5-5-3.png")
    assert not (tmp_path / "scatter_spread_6-2-3.png").exists()
    with pytest.raises(ValueError, match="need at least 4 trials"):
        decay_fit.write(sweep[sweep["layers"] == "6-2-3"], tmp_path)


def test_decay_fit_subprocess_exit_code(tmp_path):
    epochs = tmp_path / "epochs.csv"
    epochs_frame().to_csv(epochs, index=False)
    proc = run_module("analysis.decay_fit", epochs, "--out", tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a sweep CSV" in proc.stderr


# ---------------------------------------------------------------- report


def make_results(folder, n_values=(0, 10, 30, 100, 300, 1000)):
    folder.mkdir(parents=True, exist_ok=True)
    sweep_frame(n_values=n_values, seeds=(0, 1)).to_csv(folder / "sweep.csv", index=False)
    rates_frame("t0", n_epochs=1, n_batches=5).to_csv(folder / "sweep_rates.csv", index=False)
    for k, name in enumerate(("basic", "ours")):
        run = folder / "runs" / name
        run.mkdir(parents=True)
        epochs_frame(4, start=0.5 - 0.1 * k).to_csv(run / "epochs.csv", index=False)
        # One run's rates xz-compressed, as committed for long runs.
        rates = run / ("rates.csv.xz" if k else "rates.csv")
        rates_frame(name, n_epochs=2, n_batches=20, seed=k).to_csv(rates, index=False)
    saturation = pd.DataFrame(
        {"epoch": 4, "layer": [1, 2], "neurons": 5, "mean_state": 0.4, "frac_zero": [0.5, 0.68],
         "frac_one": [0.2, 0.32], "input_std": [0.2, 0.0], "frac_constant": [0.0, 1.0], "n": 1000}
    )  # fmt: skip
    saturation.to_csv(folder / "runs" / "basic" / "saturation.csv", index=False)


def test_report_builds_everything(tmp_path):
    make_results(tmp_path / "results")
    runs = tmp_path / "results" / "runs"
    assert report.find_results(tmp_path / "results")["rates"] == [
        runs / "basic" / "rates.csv",
        runs / "ours" / "rates.csv.xz",
    ]
    figures = tmp_path / "figures"
    assert report.main(["--results", str(tmp_path / "results"), "--figures", str(figures)]) == 0
    for name in ("fig2", "fig3", "fig4", "fig4_p", "studies", "decay_fit", "scatter_spread"):
        assert_png(figures / f"{name}.png")
    text = (figures / "report.md").read_text()
    for heading in (
        "## Training runs",
        "## Layer-pair training rates",
        "## Replacement sweep",
        "## Exponential decay",
    ):
        assert heading in text
    assert "## Not made" not in text  # sweep_rates.csv is not taken for a sweep table
    assert "| basic | 4 |" in text
    assert (
        "## Saturation of the free-phase states" in text
        and "| basic | 4 | 2 | 5 | 0.4 | 0.68 | 0.32 | 0 | 1 |" in text
    )
    assert (figures / "correlations.md").exists() and (figures / "decay_fit.md").exists()


def test_rates_table_sums_each_epoch(tmp_path):
    rates = pd.concat([rates_frame("a", n_epochs=3, n_batches=17, seed=1), rates_frame("b", seed=2)])
    # Random batches whose output pair (pair 3) got no correction.
    idle = (rates["pair"] == 3) & (np.random.default_rng(4).random(len(rates)) < 0.3)
    rates.loc[idle, "rms"] = 0.0
    rates = rates.sample(frac=1.0, random_state=0)  # order must not matter
    table = report.rates_table(rates)
    counted = (
        rates[rates["pair"] == 3]
        .groupby(["trial_id", "epoch"])
        .agg(batches=("batch", "nunique"), output_idle=("rms", lambda r: int((r == 0).sum())))
    )
    assert table["batches"].tolist() == counted["batches"].tolist()
    assert table["output_idle"].tolist() == counted["output_idle"].tolist() and table["output_idle"].sum() > 0
    sums = rates.groupby(["trial_id", "epoch", "pair"])["rms"].sum().unstack("pair")
    assert [(r, e) for r, e in zip(table["run"], table["epoch"])] == list(sums.index)
    np.testing.assert_allclose(
        table[["dw_0", "dw_1", "dw_2", "dw_3"]].to_numpy(), sums.to_numpy(), rtol=1e-12
    )
    # Spread with 4 pairs: the output pair left out, the largest of the other three
    # totals over the smallest (the median one is in neither half).
    t = sums.to_numpy()[:, :3]
    np.testing.assert_allclose(table["spread"], t.max(axis=1) / t.min(axis=1), rtol=1e-12)


def test_report_draws_each_network_apart(tmp_path):
    """Runs of two networks: Fig. 2 and Fig. 3 per network, named by its sizes."""
    make_results(tmp_path / "results")
    runs = tmp_path / "results" / "runs"
    for name, layers in (("basic", [6, 4, 3]), ("ours", [6, 4, 4, 3])):
        (runs / name / "run.json").write_text(json.dumps({"spec": {"layers": layers}}))
    assert [(label, [p.parent.name for p in files]) for label, files in report.by_network(
        sorted(runs.glob("*/epochs.csv")) + [tmp_path / "results" / "sweep.csv"]
    )] == [("6-4-3", ["basic"]), ("6-4-4-3", ["ours"]), ("other", ["results"])]  # fmt: skip
    figures = tmp_path / "figures"
    assert report.main(["--results", str(tmp_path / "results"), "--figures", str(figures)]) == 0
    for name in ("fig2_6-4-3", "fig2_6-4-4-3", "fig3_6-4-3", "fig3_6-4-4-3"):
        assert_png(figures / f"{name}.png")
    assert not (figures / "fig2.png").exists() and not (figures / "fig3.png").exists()
    text = (figures / "report.md").read_text()
    assert text.count("### 6-4-3") == 2 and text.count("### 6-4-4-3") == 2
    basic = text.index("### 6-4-3")
    assert "| basic | 4 |" in text[basic : text.index("### 6-4-4-3")]


def test_report_keeps_the_networks_it_can_draw(tmp_path):
    """A network whose only run has not finished an epoch is listed as skipped; the
    other network's Fig. 2 is still drawn (one bad group does not drop the section)."""
    make_results(tmp_path / "results")
    runs = tmp_path / "results" / "runs"
    for name, layers in (("basic", [6, 4, 3]), ("ours", [6, 4, 4, 3])):
        (runs / name / "run.json").write_text(json.dumps({"spec": {"layers": layers}}))
    epochs_frame(4).head(0).to_csv(runs / "ours" / "epochs.csv", index=False)
    figures = tmp_path / "figures"
    assert report.main(["--results", str(tmp_path / "results"), "--figures", str(figures)]) == 0
    assert_png(figures / "fig2_6-4-3.png")
    assert not (figures / "fig2_6-4-4-3.png").exists()
    text = (figures / "report.md").read_text()
    fig2 = text[text.index("## Training runs (Fig. 2)") : text.index("## Layer-pair")]
    assert "### 6-4-3" in fig2 and "![fig2](fig2_6-4-3.png)" in fig2
    assert "### 6-4-4-3\n\nSkipped: " in fig2 and "finished" in fig2


def test_report_keeps_studies_apart(tmp_path):
    make_results(tmp_path / "results")
    other = sweep_frame(n_values=(0, 10, 30, 100, 300, 1000), seeds=(0,), layers="6-4-3", n0=400.0)
    other.assign(preset="other").to_csv(tmp_path / "results" / "other_sweep.csv", index=False)
    figures = tmp_path / "figures"
    assert report.main(["--results", str(tmp_path / "results"), "--figures", str(figures)]) == 0
    text = (figures / "report.md").read_text()
    assert "| other, 6-4-3 | 0 | 1 |" in text and "| test, 6-5-5-5-3 | 0 | 2 |" in text
    assert (
        "### Study 1: other, 6-4-3 (6 trials)" in text and "### Study 2: test, 6-5-5-5-3 (12 trials)" in text
    )
    for name in ("fig4", "decay_fit_other-6-4-3", "decay_fit_test-6-5-5-5-3", "scatter_spread_other-6-4-3"):
        assert_png(figures / f"{name}.png")
    assert "## Not made" not in text


def test_report_draws_a_regression_sweep_beside_a_classification_one(tmp_path):
    make_results(tmp_path / "results")
    cost = sweep_frame(n_values=(0, 10, 30, 100, 300, 1000), seeds=(0,), layers="6-4-1", n0=400.0)
    cost.assign(preset="regression", error_measure="cost").to_csv(
        tmp_path / "results" / "regression_sweep.csv", index=False
    )
    figures = tmp_path / "figures"
    assert report.main(["--results", str(tmp_path / "results"), "--figures", str(figures)]) == 0
    text = (figures / "report.md").read_text()
    for name in ("fig4", "fig4_p", "fig4_cost", "fig4_p_cost", "studies"):
        assert_png(figures / f"{name}.png")
        assert f"({name}.png)" in text
    assert "## Not made" not in text


def test_report_notes_what_it_cannot_make(tmp_path, capsys):
    make_results(tmp_path / "results", n_values=(0,))
    figures = tmp_path / "figures"
    assert report.main(["--results", str(tmp_path / "results"), "--figures", str(figures)]) == 0
    text = (figures / "report.md").read_text()
    assert "- decay fit: skipped (need at least 4 trials" in text
    assert "- correlations: skipped (need at least 3 ok trials" in text
    (tmp_path / "empty").mkdir()
    err = assert_one_line_exit_2(
        lambda: report.main(["--results", str(tmp_path / "empty"), "--figures", "x"]), capsys
    )
    assert "no result CSVs found" in err
    assert_one_line_exit_2(lambda: report.main(["--results", str(tmp_path / "results")]), capsys)


def test_report_subprocess_exit_code(tmp_path):
    proc = run_module("analysis.report", "--results", tmp_path / "nowhere", "--figures", tmp_path / "f")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "nowhere: no such folder" in proc.stderr
