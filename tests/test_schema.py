"""Tests for smallworld_eqp.study.schema: the CSV schema and its loaders (on the synthetic
results of tests/helpers.py)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import epochs_frame, rates_frame, sweep_frame

from smallworld_eqp.config import GRAPH_MEASURES, LAYER_MEASURES
from smallworld_eqp.engine import spread
from smallworld_eqp.graph import layered, measures, rewiring
from smallworld_eqp.study import schema, spec, studies

# ------------------------------------------------------- schema


@pytest.mark.parametrize("n_layers", [3, 5, 8])
def test_sweep_columns_layout(n_layers):
    cols = schema.sweep_columns(n_layers)
    assert len(cols) == len(set(cols))
    hops = [f"hops_to_output_{lay}" for lay in range(n_layers)]
    dws = [f"dw_{pair}" for pair in range(n_layers - 1)]
    # every setting but the swept ones is a column, right after the trial's identity
    assert cols[5 : 5 + len(spec.setting_columns())] == spec.setting_columns()
    # n is recorded as what was done (n_replaced); p as done too (asked, or footnote 2's)
    assert set(spec.SETTING_NAMES) - set(cols) == {"n"} and {"seed", "p", "n_replaced"} <= set(cols)
    # the per-layer blocks sit after the graph metrics and after the errors
    i = cols.index(list(measures.SUMMARY)[-1])
    assert cols[i + 1 : i + 1 + n_layers] == hops
    j = cols.index("test_error")
    assert cols[j + 1 : j + n_layers] == dws
    assert cols[j + n_layers] == "spread"
    assert set(schema.SWEEP_REQUIRED_COLUMNS) <= set(cols)
    assert cols[0] == "trial_id" and cols[-1] == "finished"


@pytest.mark.parametrize("bad", [2, 0])
def test_sweep_columns_rejects_bad_depth(bad):
    with pytest.raises(ValueError, match="n_layers must be an integer >= 3"):
        schema.sweep_columns(bad)


@pytest.mark.parametrize("bad", [True, 4.0, "5"])
def test_sweep_columns_refuses_wrong_types(bad):
    with pytest.raises(TypeError, match="n_layers must be an integer"):
        schema.sweep_columns(bad)


def test_schema_holds_what_the_writers_produce():
    g = rewiring.rewire(layered.connect_within_layers(layered.layered([6, 5, 5, 3])), n=4, seed=0)
    cols = set(schema.sweep_columns(g.n_layers))
    assert set(spread.summarise(np.ones((3, g.n_layers - 1)), 1)) <= cols
    assert set(measures.small_world_summary(g)) <= cols


def test_config_columns_match_engine_config():
    eqprop = pytest.importorskip("smallworld_eqp.engine.network")
    fields = set(eqprop.EqPropConfig().to_dict()) - {"seed"}
    assert fields <= set(studies.study_columns())


def test_a_measure_named_like_a_setting_is_refused():
    # the registered ones are apart (else importing schema would have failed)
    assert studies.measures_named_like_settings(spec.SETTING_NAMES, GRAPH_MEASURES, LAYER_MEASURES) == []
    studies.check_measures_apart_from_settings(spec.SETTING_NAMES, GRAPH_MEASURES, LAYER_MEASURES)
    settings = ["eps", "seed", "hops_to_output_2", "hops_to_output_x", "log_paths_to_output", "n_free"]
    measures = ["path_length", "eps", "seed"]
    clash = ["eps", "hops_to_output_2", "log_paths_to_output", "seed"]
    assert studies.measures_named_like_settings(settings, measures, LAYER_MEASURES) == clash
    with pytest.raises(ValueError, match="graph measures named like settings: eps, hops_to_output_2, "):
        studies.check_measures_apart_from_settings(settings, measures, LAYER_MEASURES)
    studies.check_measures_apart_from_settings(["eps", "n_free"], ["path_length"], ["hops_to_output"])


def test_a_measure_named_like_a_setting_stops_the_import():
    code = (
        "from smallworld_eqp import config; config.GRAPH_MEASURES += ('batch_size',); "
        "import smallworld_eqp.study.schema"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "ValueError: graph measures named like settings: batch_size;" in proc.stderr


# ------------------------------------------------------- load_sweep


def test_sweep_round_trip_and_plain_read(tmp_path):
    frame = sweep_frame()
    path = tmp_path / "sweep.csv"
    frame.to_csv(path, index=False)
    plain = pd.read_csv(path)
    assert list(plain.columns) == schema.sweep_columns(5)
    assert plain.shape == frame.shape
    df = schema.load_sweep(path)
    assert list(df.columns) == schema.sweep_columns(5)
    assert (df["config_hash"] == "000123").all()
    assert (df["learning_rate"] == "0.128,0.032").all()
    np.testing.assert_allclose(df["online_error_epoch1"], frame["online_error_epoch1"])
    assert df["intra"].all()
    assert list(df.index) == list(range(len(frame)))


def test_load_sweep_mixes_depths(tmp_path):
    shallow, deep = tmp_path / "a.csv", tmp_path / "b.csv"
    sweep_frame(layers="6-5-5-3", seeds=(0,)).to_csv(shallow, index=False)
    sweep_frame(layers="6-5-5-5-5-3", seeds=(0,)).to_csv(deep, index=False)
    df = schema.load_sweep([shallow, deep])
    assert list(df.columns) == schema.sweep_columns(6)
    is_shallow = df["layers"] == "6-5-5-3"
    assert is_shallow.sum() == 4 and (~is_shallow).sum() == 4
    assert df.loc[is_shallow, ["hops_to_output_4", "hops_to_output_5", "dw_3", "dw_4"]].isna().all().all()
    assert df.loc[~is_shallow, ["hops_to_output_5", "dw_4"]].notna().all().all()


def test_load_sweep_duplicates_keep_last_and_status(tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    a = sweep_frame(n_values=(0, 10), seeds=(0,))
    b = a.copy()
    b["online_error_epoch1"] = [0.5, 0.25]
    b.loc[1, "status"] = "diverged"
    a.to_csv(first, index=False)
    b.to_csv(second, index=False)
    everything = schema.load_sweep([first, second], status=None)
    assert len(everything) == 2
    assert list(everything["online_error_epoch1"]) == [0.5, 0.25]
    ok = schema.load_sweep([first, second])
    assert list(ok["trial_id"]) == [a.loc[0, "trial_id"]]
    assert list(schema.load_sweep([second, first], status="diverged")["trial_id"]) == []
    with pytest.raises(ValueError, match="status must be one of ok, failed, diverged or None, got 'good'"):
        schema.load_sweep(first, status="good")


def test_load_sweep_fills_optional_columns(tmp_path):
    path = tmp_path / "old.csv"
    sweep_frame(seeds=(0,)).drop(columns=["free_steps", "git_rev"]).to_csv(path, index=False)
    df = schema.load_sweep(path)
    assert df["free_steps"].isna().all() and df["git_rev"].isna().all()


def test_load_sweep_refuses_other_csvs(tmp_path):
    epochs = tmp_path / "epochs.csv"
    epochs_frame().to_csv(epochs, index=False)
    with pytest.raises(ValueError) as err:
        schema.load_sweep(epochs)
    msg = str(err.value)
    assert "\n" not in msg and str(epochs) in msg and "not a sweep CSV" in msg and "trial_id" in msg
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.csv: not a sweep CSV"):
        schema.load_sweep(empty)
    with pytest.raises(FileNotFoundError, match="nope.csv: no such file"):
        schema.load_sweep(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="no CSV file given"):
        schema.load_sweep([])


# ------------------------------------------------------- rates and epochs


def test_load_rates_concatenates_and_resolves_dirs(tmp_path):
    run = tmp_path / "runs" / "basic"
    run.mkdir(parents=True)
    rates_frame("basic").to_csv(run / "rates.csv", index=False)
    other = tmp_path / "sweep_rates.csv"
    rates_frame("007", n_epochs=1, n_batches=3).to_csv(other, index=False)
    df = schema.load_rates([run, other])
    assert list(df.columns) == ["run", *schema.RATES_COLUMNS]
    assert len(df) == 2 * 30 * 4 + 3 * 4
    assert set(df["trial_id"]) == {"basic", "007"}  # "007" stays a string
    # a run folder's rows are named after the folder, a sweep's by their trial
    runs = dict(zip(df["trial_id"], df["run"]))
    assert runs == {"basic": "basic", "007": "007"}
    epochs = tmp_path / "e.csv"
    epochs_frame().to_csv(epochs, index=False)
    with pytest.raises(
        ValueError, match="e.csv: not a rates CSV, missing columns: trial_id, batch, pair, rms"
    ):
        schema.load_rates(epochs)


def test_compressed_rates_stand_in_for_the_plain_file(tmp_path):
    run = tmp_path / "runs" / "ours"
    run.mkdir(parents=True)
    frame = rates_frame("ours", n_epochs=2, n_batches=7, seed=3)
    frame.to_csv(run / "rates.csv.xz", index=False)
    assert schema.run_file(run, "rates.csv") == run / "rates.csv.xz"
    assert schema.run_name(run / "rates.csv.xz") == "ours"
    want = frame.astype({"pair": "str"})
    want.insert(0, "run", "ours")
    pd.testing.assert_frame_equal(schema.load_rates(run), want)
    frame.head(4).to_csv(run / "rates.csv", index=False)  # the plain file, when present, wins
    assert len(schema.load_rates(run)) == 4


def test_load_epochs_names_runs(tmp_path):
    for name in ("basic", "ours"):
        (tmp_path / name).mkdir()
        epochs_frame().to_csv(tmp_path / name / "epochs.csv", index=False)
    loose = tmp_path / "extra_run.csv"
    epochs_frame(3).to_csv(loose, index=False)
    df = schema.load_epochs([tmp_path / "basic", tmp_path / "ours" / "epochs.csv", loose])
    assert list(df.columns) == ["run"] + schema.EPOCHS_COLUMNS
    assert df.groupby("run", sort=False).size().to_dict() == {"basic": 5, "ours": 5, "extra_run": 3}
    sweep = tmp_path / "sweep.csv"
    sweep_frame(seeds=(0,)).to_csv(sweep, index=False)
    with pytest.raises(
        ValueError, match="sweep.csv: not an epochs CSV, missing columns: epoch, online_error"
    ):
        schema.load_epochs(sweep)
    with pytest.raises(FileNotFoundError, match="nothing_here: no such file"):
        schema.load_epochs(tmp_path / "nothing_here")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(FileNotFoundError, match="empty_run/epochs.csv: no such file"):
        schema.load_epochs(tmp_path / "empty_run")


def test_load_epochs_reads_revisions_as_text(tmp_path):
    # "24124e5" is a number to pandas (2.4124e9), "0.2" a float
    frame = epochs_frame().assign(version="0.2", git_rev=["24124e5", "7997edf", "0001234", "1e10", "24124e5"])
    frame.to_csv(tmp_path / "epochs.csv", index=False)
    df = schema.load_epochs(tmp_path / "epochs.csv")
    assert df["git_rev"].tolist() == frame["git_rev"].tolist() and set(df["version"]) == {"0.2"}


def test_pivot_rates_matches_a_plain_mean():
    """Random long rates with repeated (batch, pair) rows in shuffled order: the
    pivot equals a dictionary-built mean, rows sorted by batch."""
    rng = np.random.default_rng(11)
    long = rates_frame("r", n_epochs=2, n_batches=9, seed=5)
    long = pd.concat([long, long.assign(rms=rng.random(len(long)))]).sample(frac=1, random_state=2)
    wide = schema.pivot_rates(long, ["epoch", "batch"])
    sums: dict = {}
    for epoch, batch, pair, rms in long[["epoch", "batch", "pair", "rms"]].itertuples(index=False):
        sums.setdefault((epoch, batch), {}).setdefault(pair, []).append(rms)
    assert list(wide.index) == sorted(sums)
    for key, row in wide.iterrows():
        np.testing.assert_allclose(row.to_numpy(), [np.mean(sums[key][p]) for p in wide.columns])
    assert list(schema.pivot_rates(long[long["epoch"] == 2]).index) == list(range(1, 10))


def test_run_spec_reads_the_folder_or_the_file_beside_it(tmp_path):
    run = tmp_path / "basic"
    run.mkdir()
    (run / "run.json").write_text('{"spec": {"layers": [4, 3, 2]}, "remove_skip_after": null}')
    assert schema.run_spec(run) == schema.run_spec(run / "epochs.csv") == {"layers": [4, 3, 2]}
    with pytest.raises(FileNotFoundError, match="run.json"):
        schema.run_spec(tmp_path / "elsewhere" / "epochs.csv")
    (run / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match="run.json is not JSON"):
        schema.run_spec(run)
    for other in ('{"layers": [4, 3, 2]}', "[1, 2]"):
        (run / "run.json").write_text(other)
        with pytest.raises(ValueError, match="has no 'spec' object"):
            schema.run_spec(run)


def test_n_layers_of():
    assert schema.n_layers_of("784-500-500-500-10") == 5


def test_by_configuration_matches_a_plain_grouping(tmp_path):
    """Random mixes of studies, after a CSV round trip: the same partition as a
    plain grouping by the study columns, rewiring and seed ignored."""
    rng = np.random.default_rng(3)
    frames = []
    for k in range(12):
        frame = sweep_frame(n_values=(0, 10, 100), seeds=(0, 1), layers=str(rng.choice(["6-5-3", "6-5-5-3"])))
        frame["learning_rate"] = str(rng.choice(["0.1", "0.05"]))
        frame["tol"] = rng.choice([np.nan, 1e-4])
        frame["preset"] = str(rng.choice(["a", "b"]))
        frame["trial_id"] = frame["trial_id"] + f"-{k}"
        frames.append(frame)
    path = tmp_path / "mixed.csv"
    pd.concat(frames).to_csv(path, index=False)
    df = schema.load_sweep(path)
    groups = studies.by_configuration(df)
    expected = df.groupby(["preset", "layers", "learning_rate", "tol"], dropna=False).groups
    assert sorted(sorted(rows["trial_id"]) for _, rows in groups) == sorted(
        sorted(df.loc[idx, "trial_id"]) for idx in expected.values()
    )
    assert sum(len(rows) for _, rows in groups) == len(df)
    labels = [label for label, _ in groups]
    assert len(set(labels)) == len(labels)
    settings = ["learning_rate", "tol"]
    for label, rows in groups:
        # the preset and the sizes, then name=value for what differs from a study of the same two
        preset, layers, *named = label.split(", ")
        assert (preset, layers) == (rows["preset"].iloc[0], rows["layers"].iloc[0])
        kin = [
            other
            for _, other in groups
            if other[["preset", "layers"]].iloc[0].equals(rows[["preset", "layers"]].iloc[0])
        ]
        differ = [c for c in settings if len({str(other[c].iloc[0]) for other in kin}) > 1]
        assert named == [f"{c}={studies._plain(str(rows[c].iloc[0]))}" for c in differ]


def test_by_configuration_labels():
    one = sweep_frame()
    assert [(label, len(rows)) for label, rows in studies.by_configuration(one)] == [("6-5-5-5-3", 12)]
    two = pd.concat([sweep_frame(), sweep_frame(layers="6-4-3").assign(preset="other")])
    assert [label for label, _ in studies.by_configuration(two)] == ["other, 6-4-3", "test, 6-5-5-5-3"]


def test_studies_alike_in_many_settings_are_named_by_their_file(tmp_path):
    a = sweep_frame()
    b = sweep_frame(seed=1).assign(
        trial_id=lambda f: f["trial_id"] + "-b", eps=0.25, nudge_factor=2.0, batch_size=5, n_clamped=3
    )
    a.to_csv(tmp_path / "plain_sweep.csv", index=False)
    b.to_csv(tmp_path / "other_dynamics_sweep.csv", index=False)
    paths = [tmp_path / "plain_sweep.csv", tmp_path / "other_dynamics_sweep.csv"]
    named = studies.by_configuration(schema.load_sweep(paths, source=True))
    assert [label for label, _ in named] == ["6-5-5-5-3, from other_dynamics", "6-5-5-5-3, from plain"]
    assert [set(rows["source"]) for _, rows in named] == [
        {"other_dynamics_sweep.csv"},
        {"plain_sweep.csv"},
    ]
    # Without the files: the first two settings that differ and how many more.
    labels = [label for label, _ in studies.by_configuration(schema.load_sweep(paths))]
    assert all(label.endswith(", +2 more settings") and label.count("=") == 2 for label in labels)
    # Up to two settings differing, they name the studies as before, file or not.
    c = sweep_frame(seed=2).assign(trial_id=lambda f: f["trial_id"] + "-c", eps=0.25)
    c.to_csv(tmp_path / "c_sweep.csv", index=False)
    two = studies.by_configuration(schema.load_sweep([paths[0], tmp_path / "c_sweep.csv"], source=True))
    assert [label for label, _ in two] == ["6-5-5-5-3, eps=0.25", "6-5-5-5-3, eps=0.5"]
