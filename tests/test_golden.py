"""Golden numbers: one small trial's id and row, and one small run's epochs, pinned.

The constants were computed once, by the code of 0.2.0 (issue 24, before the
configuration left ``eqprop.py``), on the offline digits data set; they guard
refactoring, which must change no result. They were identical run to run, with one
and two numba threads, in both dtypes. Another kind of CPU sums in another order
(numba compiles for the host's vector width; OpenBLAS picks kernels by core type), and
training carries that rounding forward, so the real numbers are compared within a
margin far above it and far below any change of method: float64 to 1e-8 relative,
float32 to 1e-4, except the free phase's largest last step (``free_residual_max``), a
difference of two states in the one example slowest to settle, which float32 rounding
moves most: to 1e-3 in float32. Measured: on an AVX-512 core (Sapphire Rapids, numba
0.68.1, NumPy 2.4.6) it is 1.4e-4 above the constant computed on the machine of 0.3.0,
as much as the float32 and float64 runs differ by; every other number stayed within 1e-4.
Error rates, step counts and edge counts are compared exactly. If a change is meant
to change results, recompute the constants and say why in the commit. The float32
constants were recomputed at 0.3.0, when the Euler solver's net inputs became float64
(issue 21): they moved by 1e-7 to 4e-6 relative; the float64 ones did not move.
"""

from __future__ import annotations

import pandas as pd
import pytest

from smallworld_eqp.study.spec import TrialSpec
from smallworld_eqp.study.training_runs import run_training
from smallworld_eqp.study.trial import run_trial

#: Tolerance of the real-valued numbers, by dtype (see the module docstring).
REL = {"float64": 1e-8, "float32": 1e-4}
#: ... and of ``free_residual_max``.
REL_RESIDUAL_MAX = {"float64": 1e-8, "float32": 1e-3}


def approx(values: dict, dtype: str) -> dict:
    """``values`` as ``pytest.approx`` of each, within the dtype's tolerance for that name."""
    return {
        k: pytest.approx(v, rel=(REL_RESIDUAL_MAX if k == "free_residual_max" else REL)[dtype], abs=0)
        for k, v in values.items()
    }


#: The trial's row: its id and outcome, exact (fractions of 100 or 200 examples, counts).
EXACT_ROW = {
    "status": "ok",
    "n_replaced": 20,
    "online_error_epoch1": 0.88,
    "online_error_final": 0.84,
    "train_error": 0.92,
    "test_error": 0.94,
    "free_steps": 40,
    "free_steps_mean": 39.83,
    "clamped_steps_mean": 6.0,
}
TRIAL_IDS = {"float64": "ad660ec27d7b-s3", "float32": "149e4d142f23-s3"}
#: The row's real numbers: the graph's measures, the rate summaries (eq. 22-23) and the
#: free phase's distance from equilibrium.
REAL_ROW = {
    "float64": {
        "path_length": 1.819047619047619,
        "clustering": 0.020710595016286026,
        "spread": 5.308302093381594,
        "log_spread": 0.45932429189737706,
        "authors_spread": 0.4595275433303073,
        "dw_0": 0.007315087822017629,
        "dw_1": 0.03883069599888639,
        "dw_2": 0.09372116917557355,
        "free_residual_mean": 0.007408208129489984,
        "free_residual_max": 0.13108510668636109,
    },
    "float32": {
        "path_length": 1.819047619047619,
        "clustering": 0.020710595016286026,
        "spread": 5.308404413562753,
        "log_spread": 0.4593287999734824,
        "authors_spread": 0.45953204997830593,
        "dw_0": 0.0073149144052954695,
        "dw_1": 0.038830523913904236,
        "dw_2": 0.09372123100275387,
        "free_residual_mean": 0.00740816776175052,
        "free_residual_max": 0.13110393285751343,
    },
}
#: Sum of the per-batch correction RMS (eq. 20) of every pair and batch.
RATES_SUM = {"float64": 0.1986728622352245, "float32": 0.19867263708606403}

#: The run's epochs.csv, exact columns.
EXACT_EPOCHS = {
    "epoch": [1, 2],
    "error_measure": ["misclassification", "misclassification"],
    "online_error": [0.88, 0.84],
    "train_error": [0.82, 0.92],
    "test_error": [0.84, 0.94],
    "free_steps_mean": [39.795, 39.865],
    "clamped_steps_mean": [6.0, 6.0],
    "n_edges": [1440, 1440],
    "n_skip": [20, 20],
}
REAL_EPOCHS = {
    "float64": {
        "free_residual_mean": [0.008258577216745354, 0.006557839042234614],
        "free_residual_max": [0.08714334572006238, 0.13108510668636109],
    },
    "float32": {
        "free_residual_mean": [0.008258631024509668, 0.00655770449899137],
        "free_residual_max": [0.08714331686496735, 0.13110393285751343],
    },
}


def golden_spec(dtype: str) -> TrialSpec:
    """A small trial that trains (the errors move) and stops some examples early (``tol``)."""
    return TrialSpec(
        layers=(64, 16, 16, 10),
        n=20,
        seed=3,
        dataset="digits",
        n_train=200,
        n_test=100,
        epochs=2,
        n_free=40,
        n_clamped=6,
        batch_size=20,
        learning_rate=0.1,
        tol=1e-4,
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trial_row_is_golden(dtype):
    spec = golden_spec(dtype)
    assert spec.trial_id == TRIAL_IDS[dtype]
    row, rates, _ = run_trial(spec)
    assert row["trial_id"] == TRIAL_IDS[dtype]
    assert {k: row[k] for k in EXACT_ROW} == EXACT_ROW, row["error_message"]
    assert {k: row[k] for k in REAL_ROW[dtype]} == approx(REAL_ROW[dtype], dtype)
    assert float(rates["rms"].sum()) == pytest.approx(RATES_SUM[dtype], rel=REL[dtype], abs=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_run_epochs_are_golden(tmp_path, dtype):
    run_training(golden_spec(dtype), tmp_path / "run", progress=False)
    epochs = pd.read_csv(tmp_path / "run" / "epochs.csv")
    assert {k: epochs[k].tolist() for k in EXACT_EPOCHS} == EXACT_EPOCHS
    assert {k: epochs[k].tolist() for k in REAL_EPOCHS[dtype]} == approx(REAL_EPOCHS[dtype], dtype)
