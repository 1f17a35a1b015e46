"""Long training runs: per-epoch CSVs, checkpoints, resume, dropping skip edges."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import AUTHORS_SPEC, TINY_SPEC

import smallworld_eqp
from smallworld_eqp import machine
from smallworld_eqp.study.schema import EPOCHS_COLUMNS, EQUILIBRIUM_COLUMNS, RATES_COLUMNS
from smallworld_eqp.study.training_runs import load_checkpoint, run_training


def without_timing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["seconds"])


def test_run_writes_epochs_rates_and_checkpoint(tmp_path):
    frame = run_training(TINY_SPEC, tmp_path / "r", progress=False)
    assert list(frame.columns) == EPOCHS_COLUMNS
    assert frame["epoch"].tolist() == [1, 2, 3]
    assert frame[["online_error", "train_error", "test_error"]].apply(lambda c: c.between(0, 1)).all().all()
    rates = pd.read_csv(tmp_path / "r" / "rates.csv")
    assert list(rates.columns) == RATES_COLUMNS
    assert len(rates) == 3 * 5 * 4  # epochs x batches x (3 pairs + the skip edges)
    net, epoch = load_checkpoint(tmp_path / "r")
    assert epoch == 3 and net.n_batches_trained == 15
    assert not (tmp_path / "r" / "checkpoint.json").exists()  # one file: network and epoch together
    assert (frame["version"] == smallworld_eqp.__version__).all()
    assert frame["free_steps_mean"].between(1, 10).all() and frame["clamped_steps_mean"].between(1, 3).all()
    assert (frame["free_residual_mean"] <= frame["free_residual_max"]).all()
    assert (frame["free_residual_mean"] >= 0).all()


def test_epochs_written_before_runs_recorded_their_code_keep_an_empty_version(tmp_path):
    run_training(dataclasses.replace(TINY_SPEC, epochs=1), tmp_path / "r", progress=False)
    epochs = tmp_path / "r" / "epochs.csv"
    recorded_later = ["version", "git_rev", *EQUILIBRIUM_COLUMNS]
    pd.read_csv(epochs).drop(columns=recorded_later).to_csv(epochs, index=False)
    frame = run_training(
        dataclasses.replace(TINY_SPEC, epochs=2), tmp_path / "r", resume=True, progress=False
    )
    assert list(frame.columns) == EPOCHS_COLUMNS
    for column in recorded_later:
        assert frame[column].isna().tolist() == [True, False]


@pytest.mark.parametrize("spec", [TINY_SPEC, AUTHORS_SPEC], ids=["ours", "authors"])
def test_resume_equals_uninterrupted_run(tmp_path, spec):
    full = run_training(spec, tmp_path / "full", progress=False)
    run_training(dataclasses.replace(spec, epochs=1), tmp_path / "cut", progress=False)
    # A crash after writing epoch 2's row but before its checkpoint: the row is redone.
    row = {"epoch": 2, "error_measure": "misclassification", "online_error": 0.5, "train_error": 0.5}
    row |= {
        "test_error": 0.5,
        "seconds": 1.0,
        "n_edges": 1,
        "n_skip": 1,
        "version": "0.2.0",
        "git_rev": "abc",
    }
    with open(tmp_path / "cut" / "epochs.csv", "a") as f:
        f.write(",".join(str(row.get(c, "")) for c in EPOCHS_COLUMNS) + "\n")
    resumed = run_training(spec, tmp_path / "cut", resume=True, progress=False)
    pd.testing.assert_frame_equal(without_timing(full), without_timing(resumed))
    a = pd.read_csv(tmp_path / "full" / "rates.csv").drop(columns="trial_id")
    b = pd.read_csv(tmp_path / "cut" / "rates.csv").drop(columns="trial_id")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("spec", [TINY_SPEC, AUTHORS_SPEC], ids=["ours", "authors"])
def test_a_crash_before_the_first_checkpoint_starts_the_run_again(tmp_path, spec):
    full = run_training(spec, tmp_path / "full", progress=False)
    run_training(dataclasses.replace(spec, epochs=1), tmp_path / "cut", progress=False)
    # Killed after the first checkpoint's row (epoch 0 with test particles, else 1),
    # before that checkpoint: nothing to continue from, and nothing lost by starting again.
    (tmp_path / "cut" / "checkpoint.npz").unlink()
    epochs = tmp_path / "cut" / "epochs.csv"
    epochs.write_text("".join(epochs.read_text().splitlines(keepends=True)[:2]))
    resumed = run_training(spec, tmp_path / "cut", resume=True, progress=False)
    pd.testing.assert_frame_equal(without_timing(full), without_timing(resumed))


def test_existing_run_needs_resume_and_same_config(tmp_path):
    run_training(dataclasses.replace(TINY_SPEC, epochs=1), tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match="already holds a run"):
        run_training(TINY_SPEC, tmp_path / "r", progress=False)
    other = dataclasses.replace(TINY_SPEC, seed=5)
    with pytest.raises(ValueError, match="another configuration"):
        run_training(other, tmp_path / "r", resume=True, progress=False)


def test_remove_skip_after_drops_the_skip_edges(tmp_path):
    frame = run_training(TINY_SPEC, tmp_path / "r", remove_skip_after=1, progress=False)
    assert frame["n_skip"].tolist() == [40, 0, 0]
    assert (frame["n_edges"].diff().fillna(0) <= 0).all()


def test_train_cli(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "smallworld_eqp.train", "--preset", "paper-basic", "--dataset", "digits",
         "--layers", "64,12,10", "--n-free", "8", "--n-clamped", "2", "--n-train", "60", "--n-test", "30",
         "--epochs", "2", "--out", str(tmp_path / "cli"), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert len(pd.read_csv(tmp_path / "cli" / "epochs.csv")) == 2


def test_train_cli_divergence_is_one_line(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "smallworld_eqp.train", "--preset", "paper-basic", "--dataset", "digits", "--layers", "64,12,10",
         "--n-free", "8", "--n-clamped", "2", "--n-train", "60", "--n-test", "30", "--epochs", "2",
         "--learning-rate", "1e40", "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert "training diverged at batch 0: weights or biases became non-finite" in res.stderr
    assert f"finished epochs are kept in {tmp_path / 'run'}" in res.stderr
    assert len(pd.read_csv(tmp_path / "run" / "epochs.csv")) == 0


def test_without_kind_keeps_every_other_parameter_and_state():
    from smallworld_eqp import datasets
    from smallworld_eqp.engine.network import EqPropNetwork
    from smallworld_eqp.graph import layered, rewiring

    data = datasets.load("digits", n_train=60, n_test=20)
    graph = rewiring.rewire(layered.layered([64, 12, 12, 10]), n=30, seed=1)
    net = EqPropNetwork(graph, TINY_SPEC.config)
    net.train_epoch(data, progress=False)
    cut = net.without_kind("skip")
    keep = graph.kinds != layered.SKIP
    assert cut.graph == layered.without_kind(graph, "skip")
    assert (cut.weights == net.weights[keep]).all() and (cut.biases == net.biases).all()
    assert cut.n_batches_trained == net.n_batches_trained
    fresh = EqPropNetwork(cut.graph, TINY_SPEC.config)
    fresh.set_parameters(net.weights[keep], net.biases)
    assert (cut.predict(data.x_test) == fresh.predict(data.x_test)).all()
    # Same particles and beta signs: the next batch trains identically in both copies.
    ix, x, y = next(data.batches(20))
    twin = net.without_kind("skip")
    a, b = cut.train_batch(x, y, indices=ix), twin.train_batch(x, y, indices=ix)
    assert a.beta == b.beta and (cut.weights == twin.weights).all()


def test_test_particles_add_an_evaluation_before_training(tmp_path):
    # The authors' code evaluates the test split once before the first epoch (it
    # starts the test particles); the run records it as epoch 0.
    frame = run_training(AUTHORS_SPEC, tmp_path / "r", progress=False)
    assert frame["epoch"].tolist() == [0, 1, 2, 3]
    first = frame.iloc[0]
    assert pd.isna(first["online_error"]) and pd.isna(first["train_error"]) and 0 <= first["test_error"] <= 1
    # 50 test examples in groups of 20: the 10 left over are not evaluated.
    assert (frame["test_error"] * 40).round(9).apply(float.is_integer).all()


def test_an_extended_run_keeps_one_id_and_the_sweep_evaluates_like_a_run(tmp_path):
    from smallworld_eqp.study.trial import run_trial

    run_training(dataclasses.replace(AUTHORS_SPEC, epochs=1), tmp_path / "r", progress=False)
    frame = run_training(AUTHORS_SPEC, tmp_path / "r", resume=True, progress=False)
    rates = pd.read_csv(tmp_path / "r" / "rates.csv", dtype={"trial_id": str})
    assert set(rates["trial_id"]) == {AUTHORS_SPEC.run_id} and set(rates["epoch"]) == {1, 2, 3}
    # With test particles the test split is evaluated after every epoch (it moves the
    # particles), in a sweep's trial as in a run: the same last test error.
    row, _, epochs = run_trial(AUTHORS_SPEC)
    assert row["test_error"] == frame["test_error"].iloc[-1]
    assert row["online_error_final"] == frame["online_error"].iloc[-1]
    # and the trial's epoch rows hold the run's every epoch (not its epoch 0), test error included
    trained = frame[frame["epoch"] >= 1]
    for column in ("epoch", "online_error", "test_error", *EQUILIBRIUM_COLUMNS):
        assert epochs[column].tolist() == trained[column].tolist(), column


def test_train_eval_every_changes_what_is_measured_not_the_training(tmp_path):
    every = run_training(TINY_SPEC, tmp_path / "k1", progress=False)
    sparse = run_training(TINY_SPEC, tmp_path / "k2", train_eval_every=2, progress=False)
    # Epoch 2 is the second, epoch 3 the last: evaluated; epoch 1 left empty.
    assert sparse["train_error"].isna().tolist() == [True, False, False]
    both = ["epoch", "online_error", "test_error", "n_edges", "n_skip"]
    pd.testing.assert_frame_equal(every[both], sparse[both])
    assert (every["train_error"][1:] == sparse["train_error"][1:]).all()
    a, b = load_checkpoint(tmp_path / "k1")[0], load_checkpoint(tmp_path / "k2")[0]
    assert (a.weights == b.weights).all() and (a.biases == b.biases).all()
    assert json.loads((tmp_path / "k2" / "run.json").read_text())["train_eval_every"] == 2
    assert json.loads((tmp_path / "k1" / "run.json").read_text())["train_eval_every"] == 1
    with pytest.raises(
        ValueError, match="holds this run with train_eval_every=2, not 3; pass the same option"
    ):
        run_training(TINY_SPEC, tmp_path / "k2", resume=True, train_eval_every=3, progress=False)


def test_a_run_json_without_train_eval_every_resumes_as_every_epoch(tmp_path):
    # run.json written before the option existed: the run evaluated every epoch.
    run_training(dataclasses.replace(TINY_SPEC, epochs=1), tmp_path / "r", progress=False)
    run_file = tmp_path / "r" / "run.json"
    recorded = json.loads(run_file.read_text())
    del recorded["train_eval_every"]
    run_file.write_text(json.dumps(recorded))
    frame = run_training(TINY_SPEC, tmp_path / "r", resume=True, progress=False)
    assert frame["train_error"].notna().all()
    with pytest.raises(ValueError, match="holds this run with train_eval_every=1, not 2"):
        run_training(
            dataclasses.replace(TINY_SPEC, epochs=4), tmp_path / "r", resume=True, train_eval_every=2
        )


def test_train_cli_refuses_a_bad_train_eval_every(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "smallworld_eqp.train", "--dataset", "digits", "--train-eval-every", "0",
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--train-eval-every: expected a positive integer, got '0'" in res.stderr
    assert not (tmp_path / "r").exists()


def naive_weight_changes(graph0, w0, graph, w) -> dict:
    """Mean |w - w0| per layer pair, edge by edge through dicts (independent of weight_changes)."""
    start = {tuple(map(int, e)): float(x) for e, x in zip(graph0.edges, w0)}
    layer = {
        i: k
        for k, size in enumerate(graph.layer_sizes)
        for i in range(sum(graph.layer_sizes[:k]), sum(graph.layer_sizes[: k + 1]))
    }
    sums: dict = {}
    for (i, j), x in zip(map(tuple, graph.edges.tolist()), w):
        pair = tuple(sorted((layer[i], layer[j])))
        total, count = sums.get(pair, (0.0, 0))
        sums[pair] = (total + abs(float(x) - start[(i, j)]), count + 1)
    return {pair: (count, total / count) for pair, (total, count) in sums.items()}


@pytest.mark.parametrize("seed", range(4))
def test_weight_changes_agree_with_an_edge_by_edge_count(seed):
    from smallworld_eqp.graph import layered, rewiring
    from smallworld_eqp.study.training_runs import weight_changes

    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(2, 9, size=rng.integers(3, 7))]
    graph0 = layered.layered(sizes)
    if seed % 2:
        graph0 = layered.connect_within_layers(graph0)
    graph0 = rewiring.rewire(graph0, n=int(rng.integers(1, graph0.n_edges // 2)), seed=seed)
    w0 = rng.normal(size=graph0.n_edges)
    # The network now: the same edges, or (a run that dropped them) without the skip edges.
    graph = layered.without_kind(graph0, "skip") if seed >= 2 else graph0
    keep = graph0.kinds != layered.SKIP if seed >= 2 else np.ones(graph0.n_edges, bool)
    w = w0[keep] + rng.normal(size=graph.n_edges)
    frame = weight_changes(graph0, w0, graph, w)
    expected = naive_weight_changes(graph0, w0, graph, w)
    got = {(a, b): (n, m) for a, b, n, m in frame.itertuples(index=False)}
    assert got.keys() == expected.keys()
    for pair, (n, mean) in expected.items():
        assert got[pair][0] == n and got[pair][1] == pytest.approx(mean, rel=1e-12)
    assert frame["n_edges"].sum() == graph.n_edges


def test_weight_changes_refuse_an_edge_the_initial_network_lacks():
    from smallworld_eqp.graph import layered, rewiring
    from smallworld_eqp.study.training_runs import weight_changes

    plain = layered.layered([4, 3, 2])
    rewired = rewiring.rewire(plain, n=2, seed=0)
    with pytest.raises(ValueError, match="edges its initial network lacks"):
        weight_changes(plain, np.zeros(plain.n_edges), rewired, np.zeros(rewired.n_edges))


def test_a_run_records_the_weight_change_of_every_epoch(tmp_path):
    from smallworld_eqp.study.schema import WEIGHT_CHANGE_COLUMNS, load_weight_changes
    from smallworld_eqp.study.spec import build_graph
    from smallworld_eqp.study.training_runs import checkpoint_weight_changes, weight_changes
    from smallworld_eqp.study.trial import new_network

    run_training(TINY_SPEC, tmp_path / "r", remove_skip_after=2, progress=False)
    changes = load_weight_changes(tmp_path / "r")
    assert list(changes.columns) == ["run", *WEIGHT_CHANGE_COLUMNS]
    assert sorted(set(changes["epoch"])) == [1, 2, 3]
    skip = changes["layer_b"] - changes["layer_a"] > 1
    assert set(changes.loc[skip, "epoch"]) == {1, 2}  # the skip edges went after epoch 2
    assert (changes["mean_abs_change"] > 0).all()
    # The last epoch's rows are the checkpoint's change from the seed's initial weights.
    last = changes[changes["epoch"] == 3].drop(columns="run").reset_index(drop=True)
    pd.testing.assert_frame_equal(last, checkpoint_weight_changes(tmp_path / "r"))
    # ... which are what the network built from the seed starts with.
    initial = new_network(TINY_SPEC, build_graph(TINY_SPEC))
    net, _ = load_checkpoint(tmp_path / "r")
    direct = weight_changes(initial.graph, initial.weights, net.graph, net.weights)
    pd.testing.assert_frame_equal(direct, last.drop(columns="epoch"))


def test_a_resumed_run_records_the_same_weight_change(tmp_path):
    run_training(TINY_SPEC, tmp_path / "full", progress=False)
    run_training(dataclasses.replace(TINY_SPEC, epochs=1), tmp_path / "cut", progress=False)
    run_training(TINY_SPEC, tmp_path / "cut", resume=True, progress=False)
    a = pd.read_csv(tmp_path / "full" / "weight_change.csv")
    b = pd.read_csv(tmp_path / "cut" / "weight_change.csv")
    pd.testing.assert_frame_equal(a, b)


def test_run_json_lists_the_machines_that_trained_the_run(tmp_path):
    out = tmp_path / "run"
    run_training(dataclasses.replace(TINY_SPEC, epochs=1), out, progress=False)
    here = json.loads(json.dumps(machine.describe()))
    assert json.loads((out / "run.json").read_text())["machines"] == [here]
    # Resumed elsewhere: the other machine stays listed first, this one is added once.
    record = json.loads((out / "run.json").read_text())
    other = {**here, "cpu": "another CPU", "blas": ["openblas SkylakeX"]}
    (out / "run.json").write_text(json.dumps({**record, "machines": [other]}))
    run_training(TINY_SPEC, out, resume=True, progress=False)
    assert json.loads((out / "run.json").read_text())["machines"] == [other, here]
    run_training(dataclasses.replace(TINY_SPEC, epochs=3), out, resume=True, progress=False)
    assert json.loads((out / "run.json").read_text())["machines"] == [other, here]
