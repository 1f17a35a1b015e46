"""Tests for smallworld_eqp.plots: every figure renders a real image; the CLI fails cleanly."""

from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from helpers import (
    REPO,
    assert_one_line_exit_2,
    assert_png,
    epochs_frame,
    rates_frame,
    run_module,
    sweep_frame,
    train_tiny,
)
from matplotlib.figure import Figure

from smallworld_eqp import plots
from smallworld_eqp.graph import layered, rewiring
from smallworld_eqp.plots.__main__ import main as plots_main
from smallworld_eqp.study import schema, spread_error, studies

# Relative output paths of the CLI tests land in tmp_path.
pytestmark = pytest.mark.usefixtures("work_in_tmp")


@pytest.fixture
def results_dir(tmp_path):
    """A small results folder: a sweep CSV and two training runs."""
    sweep_frame(n_values=(0, 10, 100, 1000), seeds=(0, 1, 2)).to_csv(tmp_path / "sweep.csv", index=False)
    for k, name in enumerate(("basic", "ours")):
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        epochs_frame(6, start=0.5 - 0.1 * k).to_csv(run / "epochs.csv", index=False)
        rates_frame(name, n_epochs=2, n_batches=40, seed=k).to_csv(run / "rates.csv", index=False)
    return tmp_path


def run_cli(*args):
    return run_module("smallworld_eqp.plots", *args)


# ---------------------------------------------------------------- helpers


def test_pair_labels():
    assert plots.pair_labels(4) == ["Input-H1", "H1-H2", "H2-H3", "H3-Output"]
    assert plots.pair_labels(1) == ["Input-Output"]


def test_wide_rates_positions_in_epochs():
    df = rates_frame("r", n_epochs=2, n_batches=4, n_pairs=2)
    rates, x = plots.runs._wide_rates(df.iloc[::-1])  # row order must not matter
    assert rates.shape == (8, 2)
    np.testing.assert_allclose(x, [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    first = df[(df["epoch"] == 1) & (df["batch"] == 1)].sort_values("pair")["rms"]
    np.testing.assert_allclose(rates.to_numpy()[0], first)
    zero_based = df.assign(batch=df["batch"] - 1)
    np.testing.assert_allclose(plots.runs._wide_rates(zero_based)[1], x)


def test_by_x_pools_seeds_by_what_they_fixed():
    """Seeds at one p replace different counts: one point per p, at the mean count;
    trials requested by count pool by count; every zero-replacement trial pools together."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "requested": ["p"] * 7 + ["n"] * 3,
            "p": [0, 0, 0.1, 0.1, 0.1, 0.01, 0.01, 0, 0.2, 0.2],
            "n_replaced": [0, 0, 118, 121, 125, 12, 11, 0, 240, 240],
            "err": rng.random(10),
        }
    )
    stats = plots.sweep._by_x(df, "n_replaced", "err", "minmax")
    np.testing.assert_allclose(stats["n_replaced"], [0, 11.5, 121 + 1 / 3, 240])
    np.testing.assert_array_equal(stats["count"], [3, 2, 3, 2])
    for lo, hi, rows in zip(stats["lo"], stats["hi"], ([0, 1, 7], [5, 6], [2, 3, 4], [8, 9])):
        assert (lo, hi) == (df["err"][rows].min(), df["err"][rows].max())
    np.testing.assert_allclose(stats["mean"][2], df["err"][[2, 3, 4]].mean())
    by_p = plots.sweep._by_x(df, "p", "err", "std")
    np.testing.assert_allclose(by_p["p"], [0, 0.01, 0.1, 0.2])
    np.testing.assert_allclose(by_p["hi"][1] - by_p["mean"][1], df["err"][[5, 6]].std(ddof=1))


def test_zero_log_axes_route_points():
    fig = Figure()
    (row,) = plots.zero_log_axes(fig, [0, 1, 10])
    row.plot([0, 1, 10], [5.0, 4.0, 3.0], "o-", label="a")

    def data_lines(ax):  # leaves out the break marks, drawn in axes coordinates
        return [ln for ln in ax.get_lines() if ln.get_transform() is not ax.transAxes]

    (zero_line,) = data_lines(row.zero)
    (log_line,) = data_lines(row.log)
    np.testing.assert_array_equal(zero_line.get_xdata(), [0.0])
    np.testing.assert_array_equal(log_line.get_xdata(), [1.0, 10.0])
    assert row.log.get_xscale() == "log" and row.zero.get_xscale() == "linear"
    # the label is given once, so a legend lists the series once
    labels = [
        ln.get_label() for ax in row.axes for ln in ax.get_lines() if not ln.get_label().startswith("_")
    ]
    assert labels == ["a"]
    (only_pos,) = plots.zero_log_axes(Figure(), [1, 10])
    assert only_pos.zero is None and only_pos.log.get_xscale() == "log"
    (only_zero,) = plots.zero_log_axes(Figure(), [0, 0])
    assert only_zero.log is None
    with pytest.raises(ValueError, match="no x value >= 0"):
        plots.zero_log_axes(Figure(), [])


# ---------------------------------------------------------------- figures


def test_fig1(tmp_path):
    base = layered.connect_within_layers(layered.layered([6, 5, 5, 5, 3]))
    g = rewiring.rewire(base, n=10, seed=0)
    assert_png(plots.fig1(g, tmp_path / "a.png", before=base))
    assert_png(plots.fig1(layered.layered([3, 4, 2]), tmp_path / "b.png"))
    with pytest.raises(ValueError, match="at most 300 neurons, got 1294"):
        plots.fig1(layered.layered([784, 500, 10]), tmp_path / "c.png")
    with pytest.raises(ValueError, match="before has layers"):
        plots.fig1(g, tmp_path / "d.png", before=layered.layered([6, 5, 3]))


def test_fig2(results_dir, tmp_path):
    runs = results_dir / "runs"
    assert_png(plots.fig2([runs / "basic", runs / "ours" / "epochs.csv"], tmp_path / "a.png"))
    out = plots.fig2({"one learning rate": runs / "basic"}, tmp_path / "sub" / "b.png", title="t")
    assert_png(out)
    with pytest.raises(ValueError, match="not an epochs CSV"):
        plots.fig2([results_dir / "sweep.csv"], tmp_path / "c.png")
    with pytest.raises(ValueError, match="no epochs file given"):
        plots.fig2([], tmp_path / "d.png")


def test_a_regression_cost_is_drawn_as_it_is_and_never_beside_a_rate(results_dir, tmp_path, monkeypatch):
    reg = tmp_path / "reg"
    reg.mkdir()
    epochs_frame(3).assign(error_measure="cost").to_csv(reg / "epochs.csv", index=False)
    runs = [results_dir / "runs" / "basic", reg]
    assert plots.style.error_axis([pd.read_csv(reg / "epochs.csv")]) == (1.0, "cost C (eq. 4)")
    assert plots.style.error_axis([pd.read_csv(runs[0] / "epochs.csv")]) == (100.0, "(%)")
    assert_png(plots.fig2([reg], tmp_path / "a.png"))
    with pytest.raises(ValueError, match="mix error measures \\(cost, misclassification\\)"):
        plots.fig2(runs, tmp_path / "b.png")
    mixed = tmp_path / "mixed.csv"
    frame = sweep_frame(n_values=(0, 5), seeds=(0,)).assign(error_measure="misclassification")
    regression = frame.assign(error_measure="cost", dataset="diabetes", trial_id=frame["trial_id"] + "-d")
    pd.concat([frame, regression]).to_csv(mixed, index=False)
    # Fig. 4 draws each data set in its own panel, each with its unit.
    figures = drawn_figure(monkeypatch)
    assert_png(plots.fig4(mixed, tmp_path / "c.png"))
    ylabels = sorted(ax.get_ylabel() for sub in figures[0].subfigs for ax in sub.axes if ax.get_ylabel())
    assert ylabels == ["error after one epoch (%)", "error after one epoch cost C (eq. 4)"]


def test_fig2_leaves_out_runs_without_a_finished_epoch(results_dir, tmp_path):
    started = results_dir / "runs" / "started"
    started.mkdir()
    epochs_frame(1).iloc[:0].to_csv(started / "epochs.csv", index=False)
    fig = plots.fig2([results_dir / "runs" / n for n in ("basic", "started")], tmp_path / "a.png")
    assert_png(fig)
    with pytest.raises(ValueError, match="no finished epoch"):
        plots.fig2([started], tmp_path / "b.png")


def test_fig3(results_dir, tmp_path):
    runs = results_dir / "runs"
    assert_png(plots.fig3([runs / "basic", runs / "ours"], tmp_path / "a.png", window=3))
    # one file holding several trials, of different depths, one selected or all
    mixed = tmp_path / "sweep_rates.csv"
    pd.concat([rates_frame("t1", 1, 20, 4), rates_frame("t2", 1, 20, 3)]).to_csv(mixed, index=False)
    assert_png(plots.fig3([mixed], tmp_path / "b.png", window=0))
    assert_png(plots.fig3({"deep": mixed}, tmp_path / "c.png", runs=["t1"]))
    with pytest.raises(ValueError, match="none of the runs t9"):
        plots.fig3([mixed], tmp_path / "d.png", runs=["t9"])
    with pytest.raises(ValueError, match="window must be a non-negative integer, got -1"):
        plots.fig3([mixed], tmp_path / "e.png", window=-1)
    with pytest.raises(TypeError, match=r"window must be an integer, got 2\.5 \(float\)"):
        plots.fig3([mixed], tmp_path / "e.png", window=2.5)
    many = tmp_path / "many.csv"
    pd.concat([rates_frame(f"t{k}", 1, 3, 2) for k in range(13)]).to_csv(many, index=False)
    with pytest.raises(ValueError, match="13 runs to draw, at most 12"):
        plots.fig3([many], tmp_path / "f.png")


def test_fig4(results_dir, tmp_path):
    sweep = results_dir / "sweep.csv"
    assert_png(plots.fig4(sweep, tmp_path / "a.png"))
    assert_png(plots.fig4([sweep], tmp_path / "b.png", x="p", test=True, pairs=True, band="std"))
    shallow = tmp_path / "shallow.csv"
    sweep_frame(n_values=(0, 5, 50), seeds=(0, 1), layers="6-5-5-3").to_csv(shallow, index=False)
    assert_png(plots.fig4([sweep, shallow], tmp_path / "c.png", test=True))
    with pytest.raises(ValueError, match="pairs=True needs the trials of one configuration, got 2"):
        plots.fig4([sweep, shallow], tmp_path / "d.png", pairs=True)
    with pytest.raises(ValueError, match="x must be one of n_replaced, p, got 'seed'"):
        plots.fig4(sweep, tmp_path / "e.png", x="seed")
    with pytest.raises(ValueError, match="band must be one of minmax, std"):
        plots.fig4(sweep, tmp_path / "e.png", band="iqr")
    failed = tmp_path / "failed.csv"
    sweep_frame(seeds=(0,), status="failed").to_csv(failed, index=False)
    with pytest.raises(ValueError, match="no ok trial with a value of n_replaced"):
        plots.fig4(failed, tmp_path / "f.png")


def test_figures_leave_the_pyplot_backend_alone(results_dir, tmp_path):
    before = matplotlib.rcParams._get_backend_or_none()
    plots.fig4(results_dir / "sweep.csv", tmp_path / "a.png")
    assert matplotlib.rcParams._get_backend_or_none() == before


def test_our_figures_are_known_by_their_source_text(results_dir, tmp_path):
    ours = plots.fig4(results_dir / "sweep.csv", tmp_path / "ours.png")
    assert plots.is_own_figure(ours)
    foreign = Figure()  # plain matplotlib, without our Source text
    foreign.add_subplot().plot([0, 1])
    foreign.savefig(tmp_path / "foreign.png")
    (tmp_path / "text.png").write_text("not an image")
    for path in ("foreign.png", "text.png", "missing.png", "."):
        assert not plots.is_own_figure(tmp_path / path), path


# ---------------------------------------------------------------- command line


def test_cli_in_process(results_dir, tmp_path, capsys):
    runs = results_dir / "runs"
    assert (
        plots_main(["fig2", str(runs / "basic"), str(runs / "ours"), "--out", str(tmp_path / "2.png")]) == 0
    )
    assert plots_main(["fig3", str(runs / "basic"), "--window", "2", "--out", str(tmp_path / "3.png")]) == 0
    args = ["fig1", "--layers", "6,5,5,3", "--intra", "--replacements", "4", "--out", str(tmp_path / "1.png")]
    assert plots_main(args) == 0
    for name in ("1", "2", "3"):
        assert_png(tmp_path / f"{name}.png")
    for bad in (
        ["fig1", "--layers", "6,x,3", "--out", "o.png"],
        ["fig1", "--layers", "6,5", "--out", "o.png"],
        ["fig1", "--layers", "4,3,2", "--replacements", "1000", "--out", "o.png"],
        ["fig3", str(runs / "basic"), "--window", "-2", "--out", "o.png"],
        ["fig2", str(results_dir / "nope"), "--out", "o.png"],
        ["fig4", str(results_dir / "sweep.csv")],
    ):
        with pytest.raises(SystemExit) as exit_info:
            plots_main(bad)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err


def test_cli_subprocess_good_input(results_dir, tmp_path):
    out = tmp_path / "fig4.png"
    proc = run_cli("fig4", results_dir / "sweep.csv", "--x", "p", "--test", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert_png(out)


@pytest.mark.parametrize(
    "args, message",
    [
        (("fig4", "missing.csv"), "missing.csv: no such file"),
        (("fig4", "runs/basic/epochs.csv"), "not a sweep CSV, missing columns: trial_id"),
        (("fig4", "sweep.csv", "--x", "q"), "invalid choice: 'q'"),
        (("fig4-epochs", "sweep.csv", "missing.csv"), "missing.csv: no such file"),
    ],
)
def test_cli_subprocess_bad_input(results_dir, tmp_path, args, message):
    args = [results_dir / a if a.endswith(".csv") else a for a in args]
    proc = run_cli(*args, "--out", tmp_path / "x.png")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_fig_studies_draws_every_seed_of_every_pool(tmp_path):
    a = sweep_frame(n_values=(0, 10), seeds=(0, 1, 2), layers="6-5-5-5-3")
    b = sweep_frame(n_values=(0, 10), seeds=(0, 1), layers="6-5-5-3", seed=1)
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    out = plots.fig_studies(
        [tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "s.png", y=["test_error", "spread"]
    )
    assert_png(out)
    with pytest.raises(ValueError, match="y must name some of test_error"):
        plots.fig_studies([tmp_path / "a.csv"], tmp_path / "t.png", y=["bogus"])
    assert plots_main(["studies", str(tmp_path / "a.csv"), "--out", str(tmp_path / "c.png")]) == 0
    assert_png(tmp_path / "c.png")


def test_study_ticks_mark_the_studies_whose_errors_are_a_cost():
    digits = sweep_frame(n_values=(0, 10), seeds=(0,), layers="6-5-5-3")
    diabetes = sweep_frame(n_values=(0, 10), seeds=(0,), layers="6-5-5-1", seed=1).assign(
        error_measure="cost"
    )
    groups = studies.by_configuration(pd.concat([digits, diabetes], ignore_index=True))
    ticks = dict(zip((label for label, _ in groups), plots.sweep._study_ticks(groups)))
    assert len(ticks) == 2
    for label, tick in ticks.items():
        cost = "6-5-5-1" in label
        assert tick.startswith(label.replace(", ", "\n")) and tick.endswith("(errors: cost C)") == cost


# ----------------------------------------------------------------- Fig. 5


def test_weight_change_matrix_is_symmetric_and_empty_without_edges():
    rng = np.random.default_rng(0)
    rows = [(a, b) for a in range(7) for b in range(a, 7) if rng.random() < 0.6] + [(0, 6)]
    frame = pd.DataFrame(rows, columns=["layer_a", "layer_b"])
    frame["mean_abs_change"] = 10.0 ** rng.uniform(-6, 0, len(frame))
    frame.loc[len(frame) - 1, "mean_abs_change"] = 0.0  # never changed
    matrix = plots.weight_change_matrix(frame, 7)
    for a in range(7):
        for b in range(7):
            hit = frame[(frame["layer_a"] == min(a, b)) & (frame["layer_b"] == max(a, b))]
            if hit.empty:
                assert np.isnan(matrix[a, b])
            elif hit["mean_abs_change"].iloc[0] == 0:
                assert np.isneginf(matrix[a, b])
            else:
                assert matrix[a, b] == pytest.approx(np.log10(hit["mean_abs_change"].iloc[0]))
    with pytest.raises(ValueError, match="0 <= layer_a <= layer_b < 3"):
        plots.weight_change_matrix(frame, 3)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A run that kept weight_change.csv and one (the other seed) with only its checkpoint."""
    root = tmp_path_factory.mktemp("runs")
    train_tiny(root / "kept", epochs=2)
    train_tiny(root / "checkpoint", epochs=2, seed=5)
    (root / "checkpoint" / schema.WEIGHT_CHANGE_FILE).unlink()
    return root


def test_fig5_draws_runs_side_by_side_from_csv_or_checkpoint(two_runs, tmp_path):
    out = plots.fig5([two_runs / "kept", two_runs / "checkpoint"], tmp_path / "fig5.png")
    assert_png(out)
    assert plots.is_own_figure(out)
    n, epoch, rows = plots.runs._run_changes(two_runs / "checkpoint", None)
    assert (n, epoch) == (4, 2) and len(rows) > 3  # 3 adjacent pairs and some skip pairs
    assert_png(plots.fig5(two_runs / "kept", tmp_path / "one.png", epoch=1))
    with pytest.raises(ValueError, match="no weight change of epoch 7; it has epochs \\[1, 2\\]"):
        plots.fig5(two_runs / "kept", tmp_path / "x.png", epoch=7)


def test_fig5_cli(two_runs, tmp_path):
    out = tmp_path / "f5.png"
    proc = run_cli("fig5", two_runs / "kept", two_runs / "checkpoint", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert_png(out)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "run.json").write_text((two_runs / "kept" / "run.json").read_text())
    for args, message in (
        ((empty,), "holds neither weight_change.csv nor a checkpoint.npz"),
        ((two_runs / "kept", "--epoch", "0"), "--epoch: expected a positive integer, got '0'"),
        ((tmp_path / "nope",), "run.json"),
    ):
        proc = run_cli("fig5", *args, "--out", tmp_path / "x.png")
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()


# ----------------------------------------------------------------- names and panels


@pytest.mark.parametrize("seed", range(5))
def test_short_layers_expands_back_to_the_sizes(seed):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 900))] + [int(s) for s in rng.choice([10, 100, 500], rng.integers(1, 9))]
    sizes.append(int(rng.integers(1, 20)))
    short = plots.short_layers("-".join(map(str, sizes)))
    expanded = []
    for part in short.split("-"):
        size, _, times = part.partition("x")
        expanded += [int(size)] * int(times or 1)
    assert expanded == sizes
    assert short.count("-") <= len(sizes) - 1
    assert plots.short_layers("784-100-100-100-100-100-10") == "784-100x5-10"
    assert plots.short_layers("10-10-10-1") == "10-10x2-1"  # the input is not a hidden layer


def test_fig4_draws_one_panel_per_network_with_short_names(tmp_path, monkeypatch):
    mnist = sweep_frame(layers="6-5-5-5-3").assign(dataset="mnist", preset="paper")
    wine = sweep_frame(layers="6-4-3", seed=1).assign(
        dataset="wine", preset="wine-5", trial_id=lambda f: f["trial_id"] + "-w"
    )
    pd.concat([mnist, wine]).to_csv(tmp_path / "both.csv", index=False)
    families = plots.network_families(studies.by_configuration(schema.load_sweep(tmp_path / "both.csv")))
    assert [(family, [name for name, _ in members]) for family, members in families] == [
        ("mnist, 6-5x3-3", ["paper"]),
        ("wine, 6-4-3", ["wine-5"]),
    ]
    drawn = []
    patch_save_figure(monkeypatch, lambda fig, out: drawn.append(fig) or Path(out))
    plots.fig4(tmp_path / "both.csv", tmp_path / "f.png")
    (fig,) = drawn
    titles = [sub.get_suptitle() for sub in fig.subfigs]
    assert titles == ["mnist, 6-5x3-3", "wine, 6-4-3"]
    legends = [ax.get_legend() for sub in fig.subfigs for ax in sub.axes if ax.get_legend()]
    assert [[t.get_text() for t in legend.get_texts()] for legend in legends] == [["paper"], ["wine-5"]]


def test_fig2_draws_the_online_error_solid_and_the_test_error_dotted(results_dir, monkeypatch):
    drawn = []
    patch_save_figure(monkeypatch, lambda fig, out: drawn.append(fig) or Path(out))
    plots.fig2([results_dir / "runs" / "basic"], "f.png")
    epochs = pd.read_csv(results_dir / "runs" / "basic" / "epochs.csv")
    (ax,) = drawn[0].axes
    solid, dotted = [line for line in ax.get_lines() if len(line.get_xdata())]
    assert solid.get_linestyle() == "-" and dotted.get_linestyle() == ":"
    np.testing.assert_allclose(solid.get_ydata(), 100 * epochs["online_error"])
    np.testing.assert_allclose(dotted.get_ydata(), 100 * epochs["test_error"])
    assert "online training error" in ax.get_ylabel()


def test_a_single_study_is_named_by_its_preset(tmp_path):
    sweep_frame().to_csv(tmp_path / "one.csv", index=False)
    families = plots.network_families(studies.by_configuration(schema.load_sweep(tmp_path / "one.csv")))
    assert [(family, [name for name, _ in members]) for family, members in families] == [
        ("digits, 6-5x3-3", ["test"])
    ]


def test_a_band_at_a_single_x_is_a_bar_on_either_axis():
    from matplotlib.collections import LineCollection, PolyCollection

    (row,) = plots.zero_log_axes(Figure(), [0, 0.1])
    row.band([0, 0.1], [1.0, 2.0], [3.0, 5.0], "C0")
    (bar,) = [c for c in row.zero.collections if isinstance(c, LineCollection)]
    (segment,) = bar.get_segments()
    np.testing.assert_allclose(segment[:, 1], [1.0, 3.0])
    (line,) = [ln for ln in row.log.get_lines() if ln.get_transform() is not row.log.transAxes]
    np.testing.assert_allclose(line.get_xydata(), [[0.1, 2.0], [0.1, 5.0]])
    (row,) = plots.zero_log_axes(Figure(), [0.1, 0.2])
    row.band([0.1, 0.2], [1.0, 2.0], [3.0, 5.0], "C0")
    assert any(isinstance(c, PolyCollection) for c in row.log.collections)  # two x: a shaded area


# ---------------------------------------------------------------- gradient vs EqProp


def gradient_frame(rng, sources=("net-a", "net-b"), settings=((1.0, 12), (0.001, 10000)), n_pairs=11):
    """A random gradient comparison CSV's rows: every source at every setting, its groups
    (the adjacent pairs and ``skip``) in a shuffled order."""
    groups = [f"{a}-{a + 1}" for a in range(n_pairs)] + ["skip"]
    rows = []
    for source in sources:
        for beta, steps in settings:
            for group in rng.permutation(groups):
                row = {"measurement": f"{source}/seed0/epoch0/beta{beta:g}/clamped{steps}", "source": source}
                row |= {"seed": 0, "epoch": 0, "beta": beta, "n_clamped": steps, "group": group}
                row |= {c: rng.lognormal(-3, 1) for c in schema.GRADIENT_COLUMNS if c.startswith("med_rms")}
                row |= {c: rng.uniform(-0.2, 1) for c in schema.GRADIENT_COLUMNS if c.startswith("med_cos")}
                rows.append(row)
    return pd.DataFrame(rows)


def patch_save_figure(monkeypatch, save):
    """Replace :func:`plots.save_figure` where every figure family calls it."""
    for family in (plots.runs, plots.sweep, plots.gradient, plots.graph):
        monkeypatch.setattr(family, "save_figure", save)


def drawn_figure(monkeypatch):
    """Make :func:`plots.save_figure` keep the figures it writes; returns their list."""
    figures, save = [], plots.save_figure
    patch_save_figure(monkeypatch, lambda fig, out: (figures.append(fig), save(fig, out))[1])
    return figures


def by_pair(rows, column, n_pairs):
    """``column`` of ``rows`` for the adjacent pairs ``0-1`` ... in order."""
    return [rows.loc[rows["group"] == f"{a}-{a + 1}", column].item() for a in range(n_pairs)]


REAL_GRADIENT_CSV = REPO / "analysis" / "results" / "gradient_vs_eqprop.csv"


@pytest.mark.parametrize("source", ["random", "committed"])
def test_fig_gradient_draws_the_csvs_medians_per_pair_input_first(tmp_path, monkeypatch, source):
    if source == "random":
        csv = tmp_path / "g.csv"
        gradient_frame(np.random.default_rng(3)).to_csv(csv, index=False)
    else:
        csv = REAL_GRADIENT_CSV
    df = pd.read_csv(csv, dtype={"group": str})
    figures = drawn_figure(monkeypatch)
    out = plots.fig_gradient(csv, tmp_path / "g.png")
    assert_png(out)
    assert plots.is_own_figure(out)
    (fig,) = figures
    keys = list(dict.fromkeys(zip(df["source"], df["seed"], df["epoch"])))
    settings = list(dict.fromkeys(zip(df["beta"], df["n_clamped"])))
    axes = np.array(fig.axes).reshape(2, len(keys))
    for col, (src, seed, epoch) in enumerate(keys):
        top, bottom = axes[:, col]
        assert top.get_title() == f"{src}, seed {seed}, epoch {epoch}"
        mine = df[(df["source"] == src) & (df["seed"] == seed) & (df["epoch"] == epoch)]
        n_pairs = int(mine["group"].str.fullmatch(r"\d+-\d+").sum() / len(settings))
        labels = [t.get_text() for t in bottom.get_xticklabels()]
        assert labels == plots.pair_labels(n_pairs)
        lines_top, lines_bottom = iter(top.get_lines()), iter(bottom.get_lines())
        first = mine[(mine["beta"] == settings[0][0]) & (mine["n_clamped"] == settings[0][1])]
        np.testing.assert_array_equal(next(lines_top).get_ydata(), by_pair(first, "med_rms_exact", n_pairs))
        for beta, steps in settings:
            rows = mine[(mine["beta"] == beta) & (mine["n_clamped"] == steps)]
            for est in schema.GRADIENT_ESTIMATORS:
                np.testing.assert_array_equal(
                    next(lines_top).get_ydata(), by_pair(rows, f"med_rms_{est}", n_pairs)
                )
                np.testing.assert_array_equal(
                    next(lines_bottom).get_ydata(), by_pair(rows, f"med_cos_{est}", n_pairs)
                )
        assert next(lines_top, None) is None and next(lines_bottom, None) is None


def test_fig_gradient_draws_the_settings_and_estimators_asked_for(tmp_path, monkeypatch):
    csv = tmp_path / "g.csv"
    df = gradient_frame(np.random.default_rng(4), settings=((1.0, 12), (1.0, 10000), (0.001, 12)), n_pairs=3)
    df.to_csv(csv, index=False)
    figures = drawn_figure(monkeypatch)
    plots.fig_gradient(csv, tmp_path / "g.png", settings=[(0.001, 12)], estimators=["after_step"])
    top = figures[0].axes[0]
    assert len(top.get_lines()) == 2  # the exact gradient and one estimate
    rows = df[(df["source"] == "net-a") & (df["beta"] == 0.001)].set_index("group")
    np.testing.assert_array_equal(
        top.get_lines()[1].get_ydata(), rows.loc[["0-1", "1-2", "2-3"], "med_rms_after_step"]
    )
    with pytest.raises(ValueError, match="no beta 0.5 x 12 steps"):
        plots.fig_gradient(csv, tmp_path / "g.png", settings=[(0.5, 12)])
    with pytest.raises(ValueError, match="estimators must name some of"):
        plots.fig_gradient(csv, tmp_path / "g.png", estimators=["two_sided"])


def test_fig_gradient_refuses_foreign_files(results_dir, tmp_path):
    csv = tmp_path / "g.csv"
    gradient_frame(np.random.default_rng(5), n_pairs=3).to_csv(csv, index=False)
    foreign = Figure()  # somebody's PNG at the output path: left as it is
    foreign.add_subplot().plot([0, 1])
    foreign.savefig(tmp_path / "theirs.png")
    before = (tmp_path / "theirs.png").read_bytes()
    with pytest.raises(ValueError, match="theirs.png exists and is not a figure of this package"):
        plots.fig_gradient(csv, tmp_path / "theirs.png")
    assert (tmp_path / "theirs.png").read_bytes() == before
    ours = plots.fig_gradient(csv, tmp_path / "ours.png")
    assert plots.fig_gradient(csv, ours) == ours  # its own figure is replaced
    with pytest.raises(
        ValueError, match="sweep.csv: not a gradient comparison CSV, missing columns: measurement"
    ):
        plots.fig_gradient(results_dir / "sweep.csv", tmp_path / "x.png")
    twice = pd.concat(
        [pd.read_csv(csv), pd.read_csv(csv).assign(measurement=lambda d: d["measurement"] + "/n5")]
    )
    twice.to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(ValueError, match="at beta 1, 12 clamped steps has 2 measurements"):
        plots.fig_gradient(tmp_path / "twice.csv", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_cli_gradient(tmp_path, capsys):
    csv = tmp_path / "g.csv"
    gradient_frame(np.random.default_rng(6), n_pairs=4).to_csv(csv, index=False)
    args = ["gradient", str(csv), "--setting", "1:12", "--estimators", "after_step,symmetric"]
    assert plots_main([*args, "--out", str(tmp_path / "g.png")]) == 0
    assert_png(tmp_path / "g.png")
    for bad in (["--setting", "1"], ["--setting", "-1:12"], ["--setting", "1:0"], ["--estimators", "x"]):
        with pytest.raises(SystemExit) as exit_info:
            plots_main(["gradient", str(csv), *bad, "--out", "o.png"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err


# ---------------------------------------------------------------- Fig. 4 after several epochs


def two_sweeps(folder, layers="6-5-5-5-3", dataset="digits"):
    """A one-epoch sweep (no ``online_error_final``, as in older files) and a 10-epoch
    sweep of the same network, as CSVs in ``folder``; returns their paths."""
    one = sweep_frame(n_values=(0, 10, 100, 1000), seeds=(0, 1, 2), layers=layers, seed=1)
    one = one.assign(dataset=dataset, epochs=1, online_error_final=np.nan)
    ten = sweep_frame(n_values=(0, 10, 100, 1000), seeds=(0, 1), layers=layers, floor=0.02, seed=2)
    rng = np.random.default_rng(3)
    ten = ten.assign(
        dataset=dataset,
        epochs=10,
        trial_id=ten["trial_id"] + "-10ep",
        online_error_final=ten["online_error_epoch1"] / 3 + 0.02 * rng.random(len(ten)),
        log_spread=ten["log_spread"] * 0.8 + 0.05 * rng.random(len(ten)),
    )
    paths = folder / f"{dataset}_1ep.csv", folder / f"{dataset}_10ep.csv"
    one.to_csv(paths[0], index=False)
    ten.to_csv(paths[1], index=False)
    return paths


def legend_texts(fig):
    """Every legend label of the figure, its subfigures and axes."""
    legends = [*fig.legends]
    for sub in getattr(fig, "subfigs", []):
        legends += sub.legends
    legends += [ax.get_legend() for ax in fig.get_axes() if ax.get_legend()]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def test_fig4_epochs_draws_both_sweeps_and_writes_their_r2(tmp_path, monkeypatch):
    one, ten = two_sweeps(tmp_path)
    figures = drawn_figure(monkeypatch)
    out = plots.fig4_epochs([one, ten], tmp_path / "f.png", r2_out=tmp_path / "f_r2.csv")
    assert_png(out)
    table = pd.read_csv(tmp_path / "f_r2.csv")
    assert list(table.columns) == spread_error.TABLE_COLUMNS
    assert table["epochs"].tolist() == [1, 10]
    assert table["sweep"].tolist() == [one.name, ten.name]
    for path, row in zip((one, ten), table.itertuples()):
        raw = pd.read_csv(path)
        error = raw["online_error_final"].fillna(raw["online_error_epoch1"])  # one epoch: the same error
        r = np.corrcoef(raw["log_spread"], error)[0, 1]
        rho = np.corrcoef(raw["log_spread"].rank(), error.rank())[0, 1]
        assert row.n_trials == len(raw)
        assert row.r2_log_spread_vs_online_error == pytest.approx(r**2, rel=1e-5)
        assert row.spearman_rho == pytest.approx(rho, rel=1e-5)
        assert 0 <= row.p_value < 0.05
    (fig,) = figures
    labels = legend_texts(fig)
    assert labels and max(map(len, labels)) <= 40, labels
    assert {"1 epoch", "10 epochs", "online error, 10 epochs", "test error, 1 epoch"} <= set(labels)
    texts = [t.get_text() for ax in fig.get_axes() for t in ax.texts]
    assert any("10 epochs: r² = " in t for t in texts)
    # The 10-epoch sweep solid, the one-epoch sweep dashed.
    styles = {
        line.get_label(): line.get_linestyle()
        for ax in fig.get_axes()
        for line in ax.get_lines()
        if "error," in line.get_label()
    }
    assert styles["online error, 10 epochs"] == "-" and styles["online error, 1 epoch"] == "--"


def test_fig4_epochs_refuses_two_networks_or_two_studies_of_one_length(tmp_path):
    digits = two_sweeps(tmp_path)
    wine = two_sweeps(tmp_path, layers="6-4-3", dataset="wine")
    with pytest.raises(ValueError, match=r"the sweeps hold 2 networks \(digits, 6-5-5-5-3; wine, 6-4-3\)"):
        plots.fig4_epochs([*digits, *wine], tmp_path / "f.png")
    other = tmp_path / "other.csv"
    pd.read_csv(digits[1]).assign(eps=0.25, trial_id=lambda f: f["trial_id"] + "-eps").to_csv(
        other, index=False
    )
    with pytest.raises(ValueError, match="2 studies of 10 epochs differ in other settings"):
        plots.fig4_epochs([*digits, other], tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()


def test_fig4_epochs_cli(tmp_path, capsys):
    one, ten = two_sweeps(tmp_path)
    out = tmp_path / "figs" / "fig4_10ep.png"
    assert plots_main(["fig4-epochs", str(one), str(ten), "--out", str(out)]) == 0
    assert_png(out)
    table = out.with_name("fig4_10ep_r2.csv")
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [str(out), str(table)]
    assert lines[2].startswith("1 epoch: r² = ") and lines[3].startswith("10 epochs: r² = ")
    assert len(pd.read_csv(table)) == 2
    # Run again: the figure and the table are ours and are replaced.
    assert plots_main(["fig4-epochs", str(one), str(ten), "--out", str(out), "--x", "n_replaced"]) == 0
    capsys.readouterr()
    err = assert_one_line_exit_2(
        lambda: plots_main(["fig4-epochs", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "n.png")]),
        capsys,
    )
    assert "nope.csv: no such file" in err
    notes = tmp_path / "notes_r2.csv"
    notes.write_text("my,notes\n1,2\n")
    err = assert_one_line_exit_2(
        lambda: plots_main(["fig4-epochs", str(one), str(ten), "--out", str(tmp_path / "notes.png")]), capsys
    )
    assert "notes_r2.csv exists and is not an r² table of this package" in err
    assert not (tmp_path / "notes.png").exists() and notes.read_text() == "my,notes\n1,2\n"


def test_cli_subprocess_fig4_epochs(tmp_path):
    one, ten = two_sweeps(tmp_path)
    proc = run_cli("fig4-epochs", one, ten, "--out", tmp_path / "f.png", "--r2-out", tmp_path / "r2.csv")
    assert proc.returncode == 0, proc.stderr
    assert_png(tmp_path / "f.png")
    assert pd.read_csv(tmp_path / "r2.csv")["epochs"].tolist() == [1, 10]


def test_fig4_legend_names_only_what_differs_and_stays_short(tmp_path, monkeypatch):
    base = sweep_frame(layers="6-5-5-5-3").assign(dataset="mnist", preset="paper")
    other = base.assign(
        nudge_factor=2.0, batch_order="fixed", eps=0.25, trial_id=lambda f: f["trial_id"] + "-b"
    )
    base.to_csv(tmp_path / "paper_sweep.csv", index=False)
    other.to_csv(tmp_path / "paper_authors_dynamics_sweep.csv", index=False)
    figures = drawn_figure(monkeypatch)
    plots.fig4(
        [tmp_path / "paper_sweep.csv", tmp_path / "paper_authors_dynamics_sweep.csv"],
        tmp_path / "f.png",
        test=True,
    )
    labels = legend_texts(figures[0])
    # The preset both share is left out; the test error is one style entry, not one per study.
    assert sorted(labels[:2]) == ["from paper", "from paper_authors_dynamics"]
    assert labels[2:] == ["online error", "test error"]
    assert max(map(len, labels)) <= 40
