"""The sweep: determinism across executors, resume after kill -9, failing trials."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.study import schema, studies
from smallworld_eqp.study.execution import epochs_path, rates_path, run_sweep
from smallworld_eqp.study.grid import expand
from smallworld_eqp.study.resultlog import ResultLog, ResultLogError
from smallworld_eqp.study.schema import sweep_columns
from smallworld_eqp.study.spec import TrialSpec
from smallworld_eqp.study.trial import run_trial

TINY = [
    "--dataset", "digits", "--layers", "64,8,8,8,10", "--n-train", "120", "--n-test", "60",
    "--n-free", "12", "--n-clamped", "3", "--batch-size", "20", "--learning-rate", "0.05",
]  # fmt: skip
TIMING = ["seconds", "started", "finished"]


def tiny_specs(values=(0, 30), seeds=(0, 1), **extra) -> list[TrialSpec]:
    config = EqPropConfig(**{"n_free": 12, "n_clamped": 3, "batch_size": 20, "learning_rate": 0.05, **extra})
    return [
        TrialSpec(
            layers=(64, 8, 8, 8, 10), n=v, seed=s, dataset="digits", n_train=120, n_test=60, config=config
        )
        for v in values
        for s in seeds
    ]


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=TIMING).sort_values("trial_id").reset_index(drop=True)


def run_cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smallworld_eqp.sweep", *args],
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


def test_trial_row_has_every_column_and_is_reproducible():
    spec = tiny_specs(values=(30,), seeds=(3,))[0]
    row, rates, epochs = run_trial(spec)
    assert row["status"] == "ok", row["error_message"]
    assert set(sweep_columns(5)) <= set(row), set(sweep_columns(5)) - set(row)
    assert row["n_replaced"] == 30 and row["n_skip"] == 30
    assert 0.0 <= row["online_error_epoch1"] <= 1.0 and 0.0 <= row["test_error"] <= 1.0
    assert list(rates.columns) == ["trial_id", "epoch", "batch", "pair", "rms"]
    assert len(rates) == 6 * 5  # 120 / 20 batches x (4 layer pairs + the skip edges)
    assert list(rates["pair"][:5]) == ["0", "1", "2", "3", "skip"]
    assert list(epochs.columns) == schema.SWEEP_EPOCHS_COLUMNS and len(epochs) == 1
    again, rates2, epochs2 = run_trial(spec)
    for key in set(row) - set(TIMING):
        assert row[key] == again[key] or (row[key] != row[key] and again[key] != again[key]), key
    pd.testing.assert_frame_equal(rates, rates2)
    pd.testing.assert_frame_equal(epochs, epochs2)


def varied_specs(nudge_factors=(1.0, 2.0)) -> list[TrialSpec]:
    """Tiny trials of a study varying a setting: 2 values x 2 replacement counts."""
    base = {"layers": (64, 8, 8, 8, 10), "n": (0, 30), "seed": (0,), "dataset": "digits", "n_train": 120,
            "n_test": 60, "n_free": 12, "n_clamped": 3, "batch_size": 20, "learning_rate": 0.05}  # fmt: skip
    return expand(base, vary={"nudge_factor": list(nudge_factors)})


def test_serial_processes_and_dask_give_identical_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    specs = varied_specs()
    serial = run_sweep(specs, tmp_path / "serial.csv", progress=False)
    procs = run_sweep(specs, tmp_path / "procs.csv", workers=2, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True
    ) as cluster:
        dask = run_sweep(specs, tmp_path / "dask.csv", scheduler=cluster.scheduler_address, progress=False)
    assert (serial["status"] == "ok").all() and sorted(serial["nudge_factor"]) == [1.0, 1.0, 2.0, 2.0]
    pd.testing.assert_frame_equal(comparable(serial), comparable(procs))
    pd.testing.assert_frame_equal(comparable(serial), comparable(dask))
    for name in ("procs", "dask"):
        a = pd.read_csv(rates_path(tmp_path / "serial.csv")).sort_values(["trial_id", "batch", "pair"])
        b = pd.read_csv(rates_path(tmp_path / f"{name}.csv")).sort_values(["trial_id", "batch", "pair"])
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
        a, b = (sorted_epochs(tmp_path / f"{n}.csv") for n in ("serial", name))
        pd.testing.assert_frame_equal(a, b)


def test_rerun_skips_finished_trials(tmp_path):
    out = tmp_path / "s.csv"
    first = run_sweep(varied_specs((1.0,)), out, progress=False)
    seen = []
    both = run_sweep(varied_specs((1.0, 2.0)), out, progress=False, on_row=seen.append)
    assert len(seen) == 2 and {r["nudge_factor"] for r in seen} == {2.0}
    assert len(pd.read_csv(out)) == 4 and len(both) == 4
    pd.testing.assert_frame_equal(comparable(first), comparable(both[both["nudge_factor"] == 1.0]))
    # the analysis splits the file into the two studies, one per varied value
    groups = studies.by_configuration(schema.load_sweep([out]))
    assert [label for label, _ in groups] == ["64-8-8-8-10, nudge_factor=1", "64-8-8-8-10, nudge_factor=2"]
    from smallworld_eqp import plots

    assert plots.fig4([out], tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_diverging_trial_is_recorded_and_sweep_goes_on(tmp_path):
    good = tiny_specs(values=(0,), seeds=(0,))
    bad = tiny_specs(values=(0,), seeds=(1,), learning_rate=1e300)
    frame = run_sweep(good + bad + tiny_specs(values=(30,), seeds=(0,)), tmp_path / "d.csv", progress=False)
    status = dict(zip(frame["trial_id"], frame["status"]))
    assert status[bad[0].trial_id] == "diverged"
    assert list(frame["status"]).count("ok") == 2
    msg = frame.set_index("trial_id").loc[bad[0].trial_id, "error_message"]
    assert "DivergenceError" in msg and "\n" not in msg


def test_failing_trial_is_recorded(tmp_path):
    # 64 inputs do not fit digits' 64 features once the first layer is 65 wide.
    spec = TrialSpec(layers=(65, 8, 10), dataset="digits", n_train=40, n_test=20,
                     config=EqPropConfig(n_free=5, n_clamped=2))  # fmt: skip
    frame = run_sweep([spec], tmp_path / "f.csv", progress=False)
    assert frame.loc[0, "status"] == "failed"
    assert "does not fit digits" in frame.loc[0, "error_message"]


def test_partial_last_line_is_dropped_on_resume(tmp_path):
    out = tmp_path / "p.csv"
    cols = sweep_columns(5)
    run_sweep(tiny_specs(values=(0,), seeds=(0,)), out, progress=False)
    with open(out, "a") as f:
        f.write("deadbeef-s9,ok,,half a ro")
    with ResultLog(out, cols):
        pass
    assert len(pd.read_csv(out)) == 1


def test_rates_of_other_results_are_refused_and_one_orphan_trial_is_pruned(tmp_path):
    specs = tiny_specs(values=(0,))
    run_sweep(specs, tmp_path / "a.csv", progress=False)
    foreign = rates_path(tmp_path / "b.csv")
    foreign.write_bytes(rates_path(tmp_path / "a.csv").read_bytes())
    with pytest.raises(ResultLogError, match="rates of 2 trials that .* does not record"):
        run_sweep(specs[:1], tmp_path / "b.csv", progress=False)
    assert foreign.read_bytes() == rates_path(tmp_path / "a.csv").read_bytes()
    # A sweep killed between a trial's rates and its row leaves one orphan trial: pruned.
    one = tmp_path / "c.csv"
    run_sweep(specs[:1], one, progress=False)
    orphan = pd.read_csv(rates_path(tmp_path / "a.csv"))
    orphan = orphan[orphan["trial_id"] == specs[1].trial_id]
    orphan.to_csv(rates_path(one), mode="a", header=False, index=False)
    run_sweep(specs[:1], one, progress=False)
    assert set(pd.read_csv(rates_path(one))["trial_id"]) == {specs[0].trial_id}


def sorted_epochs(out: Path) -> pd.DataFrame:
    """The epochs table of the sweep ``out``, in (trial, epoch) order."""
    frame = schema.load_sweep_epochs(epochs_path(out))
    return frame.sort_values(["trial_id", "epoch"]).reset_index(drop=True)


def test_two_epoch_sweep_writes_one_epoch_row_per_trial_and_epoch(tmp_path):
    specs = tiny_specs(values=(0, 30), seeds=(0,))
    specs[1] = dataclasses.replace(specs[1], config=dataclasses.replace(specs[1].config, test_particles=True))
    specs = [dataclasses.replace(s, epochs=2) for s in specs]
    bad = dataclasses.replace(tiny_specs(values=(0,), seeds=(1,), learning_rate=1e300)[0], epochs=2)
    out = tmp_path / "e.csv"
    rows = run_sweep([*specs, bad], out, progress=False).set_index("trial_id")
    epochs = sorted_epochs(out)
    assert list(epochs.columns) == schema.SWEEP_EPOCHS_COLUMNS
    assert rows.loc[bad.trial_id, "status"] == "diverged"  # a diverged trial has no epoch rows
    assert sorted(epochs["trial_id"]) == sorted([s.trial_id for s in specs] * 2)
    assert epochs["epoch"].tolist() == [1, 2] * 2 and (epochs["error_measure"] == "misclassification").all()
    for spec in specs:
        row, first, last = rows.loc[spec.trial_id], *epochs[epochs["trial_id"] == spec.trial_id].itertuples()
        assert first.online_error == row["online_error_epoch1"]
        assert last.online_error == row["online_error_final"] and last.test_error == row["test_error"]
        # the epoch's equilibrium, within the row's over both epochs
        assert max(first.free_residual_max, last.free_residual_max) == row["free_residual_max"]
        # test particles: the test split is evaluated after every epoch; else only after the last
        assert np.isnan(first.test_error) != spec.config.test_particles
    # The tables load beside the rows, with the same column types.
    assert epochs["trial_id"].isin(schema.load_sweep(out)["trial_id"]).all()


def test_epochs_resume_after_an_interruption_and_another_sweeps_are_refused(tmp_path):
    specs = [dataclasses.replace(s, epochs=2) for s in tiny_specs(values=(0,))]
    full = tmp_path / "full.csv"
    run_sweep(specs, full, progress=False)
    # Killed after the second trial's rates and epochs, before its row: resuming drops
    # the orphan epochs and rewrites them, keeping the first trial's.
    out = tmp_path / "cut.csv"
    run_sweep(specs[:1], out, progress=False)
    kept = epochs_path(out).read_bytes()
    orphan = pd.read_csv(epochs_path(full), dtype=str)
    orphan[orphan["trial_id"] == specs[1].trial_id].iloc[:1].to_csv(
        epochs_path(out), mode="a", header=False, index=False
    )
    run_sweep(specs[:1], out, progress=False)
    assert epochs_path(out).read_bytes() == kept  # the orphan epoch is gone, nothing else changed
    run_sweep(specs, out, progress=False)
    pd.testing.assert_frame_equal(sorted_epochs(out), sorted_epochs(full))
    # The epochs of two trials the CSV does not record belong to another sweep.
    other = tmp_path / "other.csv"
    epochs_path(other).write_bytes(epochs_path(full).read_bytes())
    with pytest.raises(
        ResultLogError, match=r"other_epochs.csv holds the epochs of 2 trials that .* does not record"
    ):
        run_sweep(specs[:1], other, progress=False)
    assert epochs_path(other).read_bytes() == epochs_path(full).read_bytes()
    assert not other.exists() and not rates_path(other).exists()  # refused before anything was written


def test_serial_and_processes_give_identical_epoch_tables(tmp_path):
    specs = [dataclasses.replace(s, epochs=2) for s in tiny_specs(values=(0, 30), seeds=(0,))]
    run_sweep(specs, tmp_path / "serial.csv", progress=False)
    run_sweep(specs, tmp_path / "procs.csv", workers=2, threads=1, progress=False)
    serial, procs = sorted_epochs(tmp_path / "serial.csv"), sorted_epochs(tmp_path / "procs.csv")
    assert len(serial) == 4
    pd.testing.assert_frame_equal(serial, procs)


def test_kill_9_then_resume_equals_uninterrupted_run(tmp_path):
    args = [*TINY, "--replacements", "0,10,20,30,40,50", "--seeds", "0", "--no-plot", "--quiet"]
    ref = tmp_path / "ref.csv"
    assert run_cli([*args, "--out", str(ref)]).returncode == 0
    out = tmp_path / "killed.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallworld_eqp.sweep", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and len(out.read_text().splitlines()) >= 3:  # header + 2 trials
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(pd.read_csv(out))
    assert 2 <= n_before < 6, "the kill should land mid-sweep"
    assert run_cli([*args, "--out", str(out)]).returncode == 0
    final = pd.read_csv(out)
    assert final["trial_id"].is_unique and len(final) == 6
    pd.testing.assert_frame_equal(comparable(final), comparable(pd.read_csv(ref)))
    rates, ref_rates = pd.read_csv(rates_path(out)), pd.read_csv(rates_path(ref))
    key = ["trial_id", "epoch", "batch", "pair"]
    pd.testing.assert_frame_equal(
        rates.sort_values(key).reset_index(drop=True), ref_rates.sort_values(key).reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(sorted_epochs(out), sorted_epochs(ref))


def test_quick_cli_writes_csv_and_figure(tmp_path):
    out = tmp_path / "q.csv"
    res = run_cli([*TINY, "--replacements", "0,40", "--seeds", "0", "--out", str(out)])
    assert res.returncode == 0, res.stderr
    assert "online_error_epoch1" in res.stdout
    frame = pd.read_csv(out)
    assert len(frame) == 2 and (frame["status"] == "ok").all()
    png = Path(out).with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from smallworld_eqp import plots

    assert plots.is_own_figure(png)
    # Rerun, every trial done: our own figure is drawn again, not refused.
    again = run_cli([*TINY, "--replacements", "0,40", "--seeds", "0", "--out", str(out), "--quiet"])
    assert again.returncode == 0, again.stderr
    assert plots.is_own_figure(png)


def test_a_foreign_png_stops_the_sweep_before_it_runs_and_is_left_alone(tmp_path, capsys):
    import matplotlib.pyplot as plt

    from smallworld_eqp import sweep

    png = tmp_path / "mine.png"
    fig = plt.figure()  # somebody's figure, written with plain matplotlib
    fig.gca().plot([0, 1])
    fig.savefig(png)
    plt.close(fig)
    before = png.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        sweep.main(
            [*TINY, "--replacements", "0", "--seeds", "0", "--quiet", "--out", str(tmp_path / "mine.csv")]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        f"{png} exists and is not a figure of this package; move it or choose another --out (or pass --no-plot)"
    ), err
    assert "\n" not in err and png.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.png"]  # nothing ran, nothing written


def test_trial_ids_survive_settings_added_later():
    # analysis/results/quick/quick_sweep.csv was written by version 0.1, before the
    # nudge form, bias rate, batch order, test particles and reuse_removed existed: at
    # their defaults they leave the trial ids as they were, so resuming finds the rows.
    from smallworld_eqp import sweep

    csv = Path(__file__).resolve().parents[1] / "analysis" / "results" / "quick" / "quick_sweep.csv"
    recorded = set(pd.read_csv(csv, dtype=str)["trial_id"])
    specs = sweep.specs_from_args(sweep.build_parser().parse_args([]))
    assert {s.trial_id for s in specs} == recorded
    changed = dataclasses.replace(specs[0], config=dataclasses.replace(specs[0].config, nudge="after-step"))
    assert changed.trial_id not in recorded


def test_a_csv_mixing_depths_keeps_the_deepest_columns(tmp_path):
    out = tmp_path / "mixed.csv"
    deep = tiny_specs(values=(0,), seeds=(0,))[0]  # 5 layers
    shallow = TrialSpec(layers=(64, 8, 10), dataset="digits", n_train=60, n_test=20, n_free=5, n_clamped=2)
    for first, second in ((deep, shallow), (shallow, deep)):
        out.unlink(missing_ok=True)
        rates_path(out).unlink(missing_ok=True)
        epochs_path(out).unlink(missing_ok=True)
        run_sweep([first], out, progress=False)
        frame = run_sweep([second], out, progress=False)
        assert list(pd.read_csv(out).columns) == sweep_columns(5)
        both = schema.load_sweep([out])
        assert len(both) == 2 and (both["status"] == "ok").all()
        row = both.set_index("trial_id").loc[shallow.trial_id]
        assert np.isnan(row["hops_to_output_4"]) and np.isnan(row["dw_3"]) and not np.isnan(row["dw_1"])
        assert len(frame) == 1
