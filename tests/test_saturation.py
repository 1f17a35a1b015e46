"""Tests for analysis.saturation on random states and on a small trained run."""

import numpy as np
import pandas as pd
import pytest
from helpers import TINY_SPEC, assert_one_line_exit_2, train_tiny

from analysis import saturation
from smallworld_eqp import datasets
from smallworld_eqp.engine import network_file


def reference(states, offsets):
    """The statistics neuron by neuron, with plain loops."""
    rows = []
    for layer in range(1, len(offsets) - 1):
        cols = range(offsets[layer], offsets[layer + 1])
        values = [states[:, c] for c in cols]
        cells = [v for col in values for v in col]
        rows.append(
            [
                layer,
                len(values),
                sum(cells) / len(cells),
                sum(v == 0 for v in cells) / len(cells),
                sum(v == 1 for v in cells) / len(cells),
                sum(float(np.sqrt(np.mean((col - np.mean(col)) ** 2))) for col in values) / len(values),
                sum(len(set(col)) == 1 for col in values) / len(values),
            ]
        )
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_layer_saturation_matches_loops(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, size=rng.integers(3, 6))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    states = np.clip(rng.normal(0.5, 0.8, size=(rng.integers(2, 9), offsets[-1])), 0, 1)
    states[:, offsets[1]] = 0.3  # one constant neuron that is not clipped
    table = saturation.layer_saturation(states, offsets)
    np.testing.assert_allclose(table.to_numpy(dtype=float), np.array(reference(states, offsets)), atol=1e-12)


def test_layer_saturation_rejects_bad_states():
    with pytest.raises(ValueError, match=r"states must be \(examples >= 2, neurons\), got shape \(1, 3\)"):
        saturation.layer_saturation(np.zeros((1, 3)), [0, 1, 3])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train_tiny(out, epochs=2)
    return out


def test_run_saturation_cli(run_dir, capsys):
    assert saturation.main([str(run_dir), "--n", "40"]) == 0
    table = pd.read_csv(run_dir / "saturation.csv")
    assert list(table.columns) == saturation.COLUMNS
    assert set(table["epoch"]) == {2} and set(table["n"]) == {40}
    net = network_file.load(run_dir / "checkpoint.npz")
    x = datasets.load(TINY_SPEC.dataset, n_train=40, n_test=1).x_train
    expected = saturation.layer_saturation(net.free_phase(x), net.graph.offsets)
    pd.testing.assert_frame_equal(table[expected.columns], expected, check_dtype=False)
    assert "| epoch | layer |" in capsys.readouterr().out


def test_a_saturated_network_no_longer_depends_on_the_input(run_dir):
    net = network_file.load(run_dir / "checkpoint.npz")
    biases = net.biases.copy()
    last_hidden = slice(net.graph.offsets[-3], net.graph.offsets[-2])
    biases[last_hidden] = 50.0
    net.set_parameters(net.weights, biases)
    x = datasets.load(TINY_SPEC.dataset, n_train=30, n_test=1).x_train
    table = saturation.layer_saturation(net.free_phase(x), net.graph.offsets)
    row = table.iloc[-2]
    assert row["frac_one"] == 1.0 and row["frac_constant"] == 1.0 and row["input_std"] == 0.0
    assert table.iloc[0]["input_std"] > 0


def test_saturation_bad_input(tmp_path, capsys):
    err = assert_one_line_exit_2(lambda: saturation.main([str(tmp_path)]), capsys)
    assert "not a run folder with a checkpoint (missing run.json)" in err
    err = assert_one_line_exit_2(lambda: saturation.main([str(tmp_path), "--n", "0"]), capsys)
    assert "--n" in err
