"""The configuration without the engine: what reads, plans and validates imports no numba,
and the names it declares are the ones the engine implements."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smallworld_eqp import config
from smallworld_eqp.engine import kernels, network
from smallworld_eqp.graph import measures
from smallworld_eqp.study import spec

ROOT = Path(__file__).resolve().parents[1]
SWEEP_CSV = ROOT / "analysis" / "results" / "quick" / "quick_sweep.csv"
RUN_DIR = ROOT / "analysis" / "results" / "runs" / "paper-basic"

#: Run in a fresh interpreter: read committed results, plan and check a sweep and a
#: run from their command lines, validate settings; then report the modules loaded.
NUMBA_FREE = """
import json, sys
from smallworld_eqp import sweep, train
from smallworld_eqp.study import schema, spec, studies
from smallworld_eqp.config import EqPropConfig
import smallworld_eqp.plots, analysis.correlations, analysis.decay_fit, analysis.graph_designs, analysis.report

sweep_csv, run_dir = sys.argv[1:]
df = schema.load_sweep([sweep_csv])
groups = studies.by_configuration(df)
epochs = schema.load_epochs([run_dir])
rates = schema.load_rates([run_dir])
tiny = ["--layers", "64,8,10", "--n-train", "40", "--n-test", "20", "--n-free", "5"]
args = sweep.build_parser().parse_args([*tiny, "--replacements", "0,10", "--seeds", "0,1", "--vary", "eps=0.5,0.25"])
specs = sweep.specs_from_args(args)
sweep.check_feasible(specs)
trial = train.spec_from_args(train.build_parser().parse_args(["--preset", "paper-basic", "--dataset", "digits", *tiny]))
try:
    EqPropConfig(solver="coordinate", nudge="after-step")
    refused = ""
except ValueError as exc:
    refused = str(exc)
print(json.dumps({
    "rows": len(df), "studies": len(groups), "epochs": len(epochs), "rates": len(rates),
    "trials": [s.trial_id for s in specs], "train_trial": trial.trial_id, "refused": refused,
    "numba": sorted(m for m in sys.modules if m == "numba" or m.startswith("numba.")),
    "engine": sorted(m for m in ("smallworld_eqp.engine.kernels", "smallworld_eqp.engine.euler",
                                 "smallworld_eqp.engine.coordinate", "smallworld_eqp.engine.drive",
                                 "smallworld_eqp.engine.network", "smallworld_eqp.engine.network_file",
                                 "smallworld_eqp.graph.metrics", "smallworld_eqp.graph.to_output",
                                 "smallworld_eqp.graph.measures")
                     if m in sys.modules),
}))
"""


def test_reading_planning_and_validating_import_no_numba():
    assert SWEEP_CSV.is_file() and (RUN_DIR / "epochs.csv").is_file()
    proc = subprocess.run(
        [sys.executable, "-c", NUMBA_FREE, str(SWEEP_CSV), str(RUN_DIR)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["numba"] == [] and out["engine"] == [], out
    # The work was done, not skipped: rows read, trials planned (2 eps x 2 counts x 2 seeds).
    assert out["rows"] > 0 and out["studies"] >= 1 and out["epochs"] > 0 and out["rates"] > 0
    assert len(set(out["trials"])) == 8
    assert out["train_trial"].endswith("-s0")
    assert (
        out["refused"]
        == "nudge='after-step' is a form of the euler step; it needs solver='euler', got solver='coordinate'"
    )


#: Modules that describe, plan and read trials: each imports no numba by itself.
NUMBA_FREE_MODULES = (
    "smallworld_eqp.config",
    "smallworld_eqp.settings",
    "smallworld_eqp.validate",
    "smallworld_eqp.study.schema",
    "smallworld_eqp.study.presets",
    "smallworld_eqp.study.spec",
    "smallworld_eqp.study.resultlog",
    "smallworld_eqp.study.studies",
    "smallworld_eqp.study.grid",
    "smallworld_eqp.graph.sizing",
    "smallworld_eqp.graph.layered",
    "smallworld_eqp.graph.rewiring",
    "smallworld_eqp.graph.designs",
    "smallworld_eqp.graph.recipes",
    "smallworld_eqp.engine.spread",
    "smallworld_eqp.engine.batch",
    "smallworld_eqp.datasets",
    "smallworld_eqp.plots",
    "smallworld_eqp.cli",
    "smallworld_eqp.sweep",
    "smallworld_eqp.train",
    "smallworld_eqp.plots.runs",
    "analysis.saturation",
    "analysis.gradient_vs_eqprop",
)


@pytest.mark.parametrize("module", NUMBA_FREE_MODULES)
def test_module_imports_no_numba(module):
    code = f"import sys, {module}; print('numba' in sys.modules, {module}.__file__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    loaded, path = proc.stdout.split()
    assert loaded == "False", f"importing {module} loads numba"
    assert Path(path).is_relative_to(ROOT), path  # this checkout's module


def test_the_solvers_and_step_forms_are_the_kernels():
    assert config.SOLVERS == tuple(kernels.SOLVERS)
    assert config.SOLVER_STEP_FORMS == {name: s.nudges for name, s in kernels.SOLVERS.items()}
    assert config.STEP_FORMS == tuple(kernels.NUDGES)
    assert config.NUDGES == (*kernels.NUDGES, "symmetric")


@pytest.mark.parametrize("solver", config.SOLVERS)
@pytest.mark.parametrize("nudge", config.NUDGES)
def test_every_allowed_solver_and_nudge_runs_in_the_engine(solver, nudge):
    # What the configuration accepts the engine can run, and what it refuses the
    # engine does not implement.
    step = "gradient" if nudge == "symmetric" else nudge
    implemented = step in kernels.SOLVERS[solver].nudges
    if not implemented:
        with pytest.raises(ValueError, match="needs solver="):
            config.EqPropConfig(solver=solver, nudge=nudge)
        return
    cfg = config.EqPropConfig(solver=solver, nudge=nudge, n_free=3, n_clamped=2, batch_size=2)
    net = network.EqPropNetwork(spec.build_graph(spec.TrialSpec(layers=(4, 3, 2), n=1)), cfg)
    stats = net.train_batch([[0.0, 1.0, 0.5, 0.2], [1.0, 0.0, 0.3, 0.9]], [[1.0, 0.0], [0.0, 1.0]])
    assert stats.rms.shape == (2,)


def test_the_graph_measures_are_the_metrics():
    assert config.GRAPH_MEASURES == tuple(measures.SUMMARY)
    assert config.LAYER_MEASURES == tuple(measures.PER_LAYER)
    row = measures.small_world_summary(spec.build_graph(spec.TrialSpec(layers=(5, 4, 4, 3), n=3)))
    assert list(row) == config.summary_columns(4)
