"""Every file read is checked, every file written is ours, a full disk leaves whole rows.

Issue 23's families: a resume checks what it resumes (the checkpoint against
``run.json``, every row against the header); loaders refuse a damaged row naming the
file and line and leave out a cut last row; a write the disk cannot take is undone to
the last whole row and the same command then resumes to the numbers of an
uninterrupted run; a writer refuses what it did not write; no input gives a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import correlations, decay_fit, report, saturation
from smallworld_eqp import owned, sweep, train
from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine import network_file
from smallworld_eqp.engine.network import EqPropNetwork
from smallworld_eqp.graph import layered, measures, metrics, rewiring, to_output
from smallworld_eqp.plots import __main__ as plots_main
from smallworld_eqp.study import execution, schema, training_runs
from smallworld_eqp.study.resultlog import ResultLog, ResultLogError, replace_atomically
from smallworld_eqp.study.spec import TrialSpec

TINY = ["--n-free", "5", "--n-clamped", "2", "--n-train", "40", "--n-test", "20", "--quiet"]
RUN = ["--preset", "paper-basic", "--dataset", "digits", *TINY]
SWEEP = [*TINY, "--layers", "64,8,10", "--seeds", "0", "--no-plot", "--replacements", "0,5,20,50"]
TIMING = ["seconds", "started", "finished", "git_rev"]
#: Run "a" of :func:`runs_dir` for a third epoch, given its folder.
RESUME = [*RUN, "--layers", "64,8,10", "--replacements", "5", "--epochs", "3", "--resume", "--out"]


def call(main, argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` in this process: its exit code and stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def one_line(err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --- 1. a resume checks what it resumes ------------------------------------------------


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """Finished runs of 64-8-10 (2 epochs, 5 edges replaced) and of three other networks."""
    root = tmp_path_factory.mktemp("runs")
    base = [*RUN, "--layers", "64,8,10", "--replacements", "5"]
    for name, extra in {
        "a": ["--epochs", "2"],
        "layers": ["--epochs", "1", "--layers", "64,6,10"],
        "edges": ["--epochs", "1", "--seed", "1"],
        "settings": ["--epochs", "1", "--learning-rate", "0.3"],
    }.items():
        assert call(train.main, [*base, *extra, "--out", str(root / name)])[0] == 0
    return root


@pytest.mark.parametrize(
    ("other", "differs"),
    [
        ("layers", "layers 64-6-10, not 64-8-10"),
        ("edges", "10 of its 592 edges are not in the graph its recipe builds"),
        ("settings", "learning_rate=0.3, not 0.02"),
    ],
)
def test_a_checkpoint_of_another_network_is_refused_and_nothing_changes(runs_dir, tmp_path, other, differs):
    run = tmp_path / "a"
    shutil.copytree(runs_dir / "a", run)
    shutil.copy(runs_dir / other / "checkpoint.npz", run / "checkpoint.npz")
    before = snapshot(run)
    argv = [*RESUME, str(run)]
    code, err = call(train.main, argv)
    assert code == 1
    one_line(
        err, f"{run / 'checkpoint.npz'} holds another network than {run / 'run.json'} describes", differs
    )
    assert snapshot(run) == before


def test_the_checkpoint_of_the_same_run_resumes(runs_dir, tmp_path):
    run = tmp_path / "a"
    shutil.copytree(runs_dir / "a", run)
    argv = [*RESUME, str(run)]
    assert call(train.main, argv)[0] == 0
    assert list(schema.load_epochs(run)["epoch"]) == [1, 2, 3]


@pytest.mark.parametrize(("cell", "shown"), [("2x", "'2x'"), ("2.0", "'2.0'"), ("", "''")])
def test_a_damaged_epochs_row_is_named_not_dropped(runs_dir, tmp_path, cell, shown):
    run = tmp_path / "a"
    shutil.copytree(runs_dir / "a", run)
    csv = run / "epochs.csv"
    lines = csv.read_text().splitlines(keepends=True)
    lines[2] = cell + lines[2][1:]  # the epoch of the second row
    csv.write_text("".join(lines))
    before = snapshot(run)
    argv = [*RESUME, str(run)]
    code, err = call(train.main, argv)
    assert code == 2
    message = f"{csv}, line 3: epoch is {shown}, not a whole number >= 0"
    one_line(err, message)
    assert snapshot(run) == before
    with pytest.raises(ResultLogError, match=message.replace(".", r"\.").replace("(", r"\(")):
        schema.load_epochs(run)


def test_a_finished_epoch_without_its_row_is_refused(runs_dir, tmp_path):
    run = tmp_path / "a"
    shutil.copytree(runs_dir / "a", run)
    csv = run / "epochs.csv"
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:2]) + "2,miscl")  # epoch 2 cut by hand
    before = snapshot(run)
    code, err = call(train.main, [*RESUME, str(run)])
    assert code == 1
    one_line(err, f"{csv} has no row for epoch 2, which {run / 'checkpoint.npz'} has finished")
    assert snapshot(run) == before


# --- loaders: every row checked, a cut last row left out -------------------------------


@pytest.fixture(scope="module")
def sweep_csv(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "s.csv"
    assert call(sweep.main, [*SWEEP, "--out", str(out)])[0] == 0
    return out


def test_loaders_accept_a_byte_order_mark(sweep_csv, tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + sweep_csv.read_bytes())
    pd.testing.assert_frame_equal(schema.load_sweep(bom), schema.load_sweep(sweep_csv))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text + text.splitlines(keepends=True)[0], "line 6: the header line again"),
        (lambda text: text.replace(",ok,", ",o\0k,", 1), "line 2: a NUL byte"),
        (lambda text: text.replace(",ok,", ",ok,,", 1), "line 2: "),
    ],
    ids=["repeated header", "NUL", "shifted"],
)
def test_a_damaged_sweep_csv_is_refused_by_loader_plot_and_resume(sweep_csv, tmp_path, damage, message):
    bad = tmp_path / "s.csv"
    bad.write_text(damage(sweep_csv.read_text()))
    before = snapshot(tmp_path)
    with pytest.raises(ResultLogError, match=f"{bad}, {message}".replace("(", r"\(")):
        schema.load_sweep(bad)
    code, err = call(plots_main.main, ["fig4", str(bad), "--out", str(tmp_path / "f.png")])
    assert code == 2 and one_line(err, f"{bad}, {message}")
    code, err = call(sweep.main, [*SWEEP, "--out", str(bad)])
    assert code == 2 and one_line(err, f"{bad}, {message}")
    assert snapshot(tmp_path) == before


def test_a_cut_last_row_is_left_out_with_a_warning(sweep_csv, tmp_path):
    cut = tmp_path / "s.csv"
    text = sweep_csv.read_text()
    cut.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 40])  # the last row cut after 40 characters
    with pytest.warns(UserWarning, match=r"s\.csv, line 5: a cut last row"):
        loaded = schema.load_sweep(cut, status=None)
    assert len(loaded) == 3
    pd.testing.assert_frame_equal(loaded, schema.load_sweep(sweep_csv, status=None).iloc[:3])


def test_the_report_notes_a_damaged_input_and_makes_the_rest(sweep_csv, runs_dir, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(runs_dir / "a", folder / "runs" / "a")
    (folder / "runs" / "a" / "rates.csv").unlink()
    (folder / "runs" / "a" / "rates.csv.xz").write_bytes(b"not xz")
    shutil.copy(sweep_csv, folder / "s_sweep.csv")
    code, err = call(report.main, ["--results", str(folder), "--figures", str(tmp_path / "figures")])
    assert code == 0, err
    text = (tmp_path / "figures" / "report.md").read_text()
    assert f"- Fig. 3: skipped ({folder / 'runs' / 'a' / 'rates.csv.xz'} is not a whole xz file" in text
    assert "## Training runs (Fig. 2)" in text and "## Replacement sweep (Fig. 4)" in text


# --- 2. a full disk: whole rows or none, then a resume --------------------------------


def _failing_write(path: Path, *, after: int = 0, keep: int = 7):
    """An ``os.write`` that, from the ``after``-th write to ``path`` on, writes ``keep``
    bytes and then fails as a full disk does; other files are written as usual."""
    real = os.write
    seen = {"n": 0}

    def write(fd: int, data) -> int:
        if os.readlink(f"/proc/self/fd/{fd}") != str(path):
            return real(fd, data)
        seen["n"] += 1
        if seen["n"] <= after:
            return real(fd, data)
        real(fd, bytes(data[:keep]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


def test_a_write_the_disk_cannot_take_is_undone_and_said_in_one_line(tmp_path, monkeypatch):
    path = tmp_path / "r.csv"
    with ResultLog(path, ["trial_id", "x"]) as log:
        log.append([{"trial_id": "a", "x": 1}])
        before = path.read_bytes()
        monkeypatch.setattr(os, "write", _failing_write(path))
        with pytest.raises(ResultLogError) as info:
            log.append([{"trial_id": "b", "x": 2}, {"trial_id": "c", "x": 3}])
    assert path.read_bytes() == before == b"trial_id,x\na,1\n"
    assert str(info.value) == (
        f"cannot write {path} (No space left on device); it keeps its whole rows up to before this write: "
        "free some space and rerun the same command to resume"
    )


def test_a_whole_file_the_disk_cannot_take_leaves_the_old_one(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("old")

    def write(tmp: Path) -> None:
        tmp.write_text("half of the new")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(ResultLogError) as info:
        replace_atomically(path, write)
    assert str(info.value) == (
        f"cannot write {path} (No space left on device); it is as it was: "
        "free some space and rerun the same command to resume"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"] and path.read_text() == "old"


def test_short_writes_go_on_until_the_rows_are_whole(tmp_path, monkeypatch):
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:3])))  # 3 bytes a call
    path = tmp_path / "r.csv"
    with ResultLog(path, ["trial_id", "x"]) as log:
        log.append([{"trial_id": "a", "x": 1}, {"trial_id": "b", "x": 22}])
    assert path.read_text() == "trial_id,x\na,1\nb,22\n"


def _same_rows(a: Path, b: Path) -> None:
    left, right = (schema.load_sweep(p, status=None).drop(columns=TIMING) for p in (a, b))
    pd.testing.assert_frame_equal(left, right)
    pd.testing.assert_frame_equal(
        schema.load_rates(execution.rates_path(a)), schema.load_rates(execution.rates_path(b))
    )
    pd.testing.assert_frame_equal(
        schema.load_sweep_epochs(execution.epochs_path(a)), schema.load_sweep_epochs(execution.epochs_path(b))
    )


def test_a_sweep_stopped_by_a_full_disk_resumes_to_the_uninterrupted_numbers(
    sweep_csv, tmp_path, monkeypatch
):
    out = tmp_path / "s.csv"
    with monkeypatch.context() as m:  # the header and the first row fit, the second row does not
        m.setattr(os, "write", _failing_write(out, after=2))
        code, err = call(sweep.main, [*SWEEP, "--out", str(out)])
    assert code == 2
    one_line(err, f"cannot write {out} (No space left on device)")
    assert len(schema.load_sweep(out)) == 1 and out.read_text().endswith("\n")  # whole rows only
    # The second trial's rates and epochs were written before its row: the resume drops them.
    assert call(sweep.main, [*SWEEP, "--out", str(out)])[0] == 0
    _same_rows(out, sweep_csv)


def test_a_resume_repairs_a_row_it_wrote_half_of(sweep_csv, tmp_path):
    out = tmp_path / "s.csv"
    shutil.copy(sweep_csv, out)
    shutil.copy(execution.rates_path(sweep_csv), execution.rates_path(out))
    shutil.copy(execution.epochs_path(sweep_csv), execution.epochs_path(out))
    # cut mid-row, its rates and epochs kept: the CSV and they disagree
    out.write_bytes(out.read_bytes()[:-25])
    assert call(sweep.main, [*SWEEP, "--out", str(out)])[0] == 0
    _same_rows(out, sweep_csv)


# --- 3. every writer refuses what it did not write -------------------------------------


def test_save_refuses_folders_other_names_and_foreign_files(tmp_path):
    net = EqPropNetwork(layered.layered([4, 3, 2]), EqPropConfig(n_free=3, n_clamped=1))
    (tmp_path / "dir").mkdir()
    (tmp_path / "notes.npz").write_bytes(b"my notes")
    np.savez(tmp_path / "mine.npz", weights=np.zeros(2))  # an .npz of someone else
    before = snapshot(tmp_path)
    for path, message in [
        (tmp_path / "dir", "is a folder; give an .npz file path"),
        (tmp_path / "net", "does not end in .npz; give an .npz file path like"),
        (tmp_path / "notes.npz", "exists and is not a network file of this package"),
        (tmp_path / "mine.npz", "exists and is not a network file of this package"),
        (tmp_path / "notes.npz" / "net.npz", "notes.npz is a file, not a folder"),
        ("", "save path is empty"),
    ]:
        with pytest.raises(owned.OutputError, match=message):
            network_file.save(net, path)
    with pytest.raises(TypeError, match=r"save path must be a file path, got 5 \(int\)"):
        network_file.save(net, 5)
    assert snapshot(tmp_path) == before
    network_file.save(net, tmp_path / "net.npz")
    network_file.save(net, tmp_path / "net.npz")  # its own file: replaced
    assert network_file.load(tmp_path / "net.npz").graph.n_edges == net.graph.n_edges
    for path in (tmp_path / "mine.npz", tmp_path / "notes.npz"):
        with pytest.raises(ValueError, match=f"{path} is not a network file of this package"):
            network_file.load(path)


def test_every_figure_command_refuses_a_foreign_png_and_writes_its_own(sweep_csv, runs_dir, tmp_path):
    from PIL import Image

    foreign = tmp_path / "photo.png"
    Image.new("RGB", (4, 4)).save(foreign)  # a real PNG, not ours
    before = foreign.read_bytes()
    run = str(runs_dir / "a")
    commands = {
        "fig1": ["fig1"],
        "fig2": ["fig2", run],
        "fig3": ["fig3", run],
        "fig4": ["fig4", str(sweep_csv)],
        "studies": ["studies", str(sweep_csv)],
    }
    for name, argv in commands.items():
        code, err = call(plots_main.main, [*argv, "--out", str(foreign)])
        assert code == 2, name
        one_line(err, f"{foreign} exists and is not a figure of this package")
        own = tmp_path / f"{name}.png"
        assert call(plots_main.main, [*argv, "--out", str(own)])[0] == 0
        assert call(plots_main.main, [*argv, "--out", str(own)])[0] == 0  # its own: replaced
    assert foreign.read_bytes() == before


def test_the_analysis_writes_its_own_markdown_again_and_refuses_a_foreign_one(sweep_csv, tmp_path):
    out = tmp_path / "out"
    for module in (correlations, decay_fit):
        for _ in range(2):  # the second run replaces the files of the first
            code, err = call(module.main, [str(sweep_csv), "--out", str(out)])
            assert code in (0, 2) and "is not a file of this package" not in err, err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("# My report\n")
    before = snapshot(tmp_path)
    code, err = call(report.main, ["--results", str(sweep_csv.parent), "--figures", str(mine)])
    assert code == 2
    one_line(err, f"{mine / 'report.md'} exists and is not a file of this package")
    assert snapshot(tmp_path) == before


# --- 5. the API's wrong types: one line naming what it got and what is allowed -------


_NET = EqPropNetwork(layered.layered([4, 3, 2]), EqPropConfig(n_free=3, n_clamped=1))


@pytest.mark.parametrize(
    ("call_", "error", "message"),
    [
        (
            lambda: metrics.characteristic_path_length("g"),
            TypeError,
            "graph must be a layered.Graph .*got str",
        ),
        (
            lambda: metrics.clustering_coefficient(None),
            TypeError,
            "graph must be a layered.Graph .*got NoneType",
        ),
        (lambda: to_output.hops_to_output([1, 2]), TypeError, "graph must be a layered.Graph .*got list"),
        (lambda: measures.small_world_summary(3), TypeError, "graph must be a layered.Graph .*got int"),
        (lambda: rewiring.rewire("g", n=1), TypeError, "graph must be a layered.Graph .*got str"),
        (lambda: layered.connect_within_layers(None), TypeError, "graph must be a layered.Graph"),
        (lambda: layered.without_kind({}, "skip"), TypeError, "graph must be a layered.Graph .*got dict"),
        (
            lambda: _NET.train_epoch("data"),
            TypeError,
            r"dataset must be a datasets.Dataset \(datasets.load\), got str",
        ),
        (lambda: network_file.load(5), TypeError, "path must be a path to an .npz file, got int"),
        (
            lambda: network_file.load("/nonexistent/x.npz"),
            FileNotFoundError,
            "/nonexistent/x.npz: no such file",
        ),
        (
            lambda: schema.load_sweep(5),
            TypeError,
            "paths must be a path or a list of paths to CSV files, got 5",
        ),
        (
            lambda: schema.load_epochs([None]),
            TypeError,
            r"paths must be a path or a list of paths .*got \[None\]",
        ),
        (lambda: TrialSpec(steps=[[1]]), TypeError, r"steps: step 1 must be a mapping like .*got \[1\]"),
        (lambda: TrialSpec(steps="x"), TypeError, "steps must be a list of recipe steps like"),
    ],
)
def test_wrong_types_to_the_api_are_named_in_one_line(call_, error, message):
    with pytest.raises(error, match=message) as info:
        call_()
    assert "\n" not in str(info.value)


def test_committed_results_load_as_before():
    """The results committed before this check pass it: every sweep, rates and epochs file."""
    root = Path(__file__).resolve().parents[1] / "analysis" / "results"
    beside = tuple(f"_{table}" for table in schema.SWEEP_TABLES)
    sweeps = [p for p in root.rglob("*sweep*.csv") if not p.stem.endswith(beside)]
    assert sweeps and all(len(schema.load_sweep(p, status=None)) for p in sweeps)
    folders = sorted(p.parent for p in root.rglob("epochs.csv"))
    # test_committed_runs.RATES_NOT_COMMITTED names the folders without rates, and checks them.
    with_rates = [f for f in folders if schema.run_file(f, "rates.csv").is_file()]
    assert folders and len(schema.load_epochs(folders)) and len(schema.load_rates(with_rates))


# --- 4. no traceback ---------------------------------------------------------------------


def test_deeply_nested_steps_are_one_line():
    code, err = call(sweep.main, ["--steps", "[" * 100_000, "--quiet"])
    assert code == 2
    one_line(err, "argument --steps: expected a JSON list of steps like")


def test_numba_num_threads_below_one_is_one_line(monkeypatch):
    monkeypatch.setenv("NUMBA_NUM_THREADS", "0")
    for module in (sweep, train, plots_main, correlations, decay_fit, report, saturation):
        code, err = call(module.main, ["--help"])
        assert code == 2
        one_line(err, f"python -m {module.__name__.removesuffix('.__main__')}: error: NUMBA_NUM_THREADS='0'")


COMMANDS = (
    "smallworld_eqp.sweep",
    "smallworld_eqp.train",
    "smallworld_eqp.plots",
    "analysis.correlations",
    "analysis.decay_fit",
    "analysis.gradient_vs_eqprop",
    "analysis.graph_designs",
    "analysis.report",
    "analysis.saturation",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_numba_num_threads_zero_in_a_real_process(command):
    # A real process: numba's own import would raise a traceback before run_main if the
    # command's module loaded it on import.
    env = {**os.environ, "NUMBA_NUM_THREADS": "0"}
    res = subprocess.run(
        [sys.executable, "-m", command, "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    one_line(
        res.stderr,
        f"python -m {command}: error: NUMBA_NUM_THREADS='0' in the environment: numba needs 1 or more",
    )


class Reached(Exception):
    """Raised by the stubbed sweep and training: the input was accepted up to the work."""


MAINS = {
    "smallworld_eqp.sweep": sweep,
    "smallworld_eqp.train": train,
    "smallworld_eqp.plots": plots_main,
    "analysis.correlations": correlations,
    "analysis.decay_fit": decay_fit,
    "analysis.report": report,
    "analysis.saturation": saturation,
}
#: A command line of every command that runs (or reaches its stubbed work), in the fuzz folder.
VALID = {
    "smallworld_eqp.sweep": ["--quiet", "--no-plot", "--out", "s.csv"],
    "smallworld_eqp.train": ["--quiet", "--out", "r"],
    "fig1": ["fig1", "--out", "f.png"],
    "fig2": ["fig2", "runs/a", "--out", "f.png"],
    "fig3": ["fig3", "runs/a", "--out", "f.png"],
    "fig4": ["fig4", "ok_sweep.csv", "--out", "f.png"],
    "studies": ["studies", "ok_sweep.csv", "--out", "f.png"],
    "analysis.correlations": ["ok_sweep.csv", "--out", "o"],
    "analysis.decay_fit": ["ok_sweep.csv", "--out", "o"],
    "analysis.report": ["--results", ".", "--figures", "o"],
    "analysis.saturation": ["runs/a", "--n", "20"],
}
FILES = [
    "ok_sweep.csv",
    "notes.txt",
    "folder",
    "folder/",
    "notes.txt/x",
    "f.png",
    "runs/a",
    "missing.csv",
    "o",
    "",
]
VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["0", "-1", "1", "2", "2.5", "nan", "inf", "1e400", "0,1", "[]", "[[1]]", '[{"op": 1}]']),
    st.sampled_from(FILES),
)


def _value(data, action) -> list[str]:
    """A value for ``action``: none for a switch, else one of its choices or anything."""
    if action.nargs == 0:
        return []
    if action.choices and data.draw(st.booleans()):
        return [data.draw(st.sampled_from(sorted(action.choices)))]
    return [data.draw(VALUES)]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_argument_gives_a_traceback(data, tmp_path_factory, sweep_csv, runs_dir, monkeypatch):
    """Every command, from a command line that works, with up to three options or
    operands changed to random text, files and folders: exit 0, 1 or 2 (one line),
    never a traceback."""
    key = data.draw(st.sampled_from(sorted(VALID)))
    name = key if key in MAINS else "smallworld_eqp.plots"
    module = MAINS[name]
    argv = list(VALID[key])
    parser = module.build_parser()
    if name == "smallworld_eqp.plots":
        parser = parser._subparsers._group_actions[0].choices[key]
    actions = [a for a in parser._actions if a.dest != "help"]
    for _ in range(data.draw(st.integers(0, 3))):
        action = data.draw(st.sampled_from(actions))
        if action.option_strings:
            argv += [data.draw(st.sampled_from(action.option_strings)), *_value(data, action)]
        else:  # an operand: replace the command line's one
            argv = [data.draw(VALUES) if a in ("ok_sweep.csv", "runs/a") else a for a in argv]
    cwd = tmp_path_factory.mktemp("fuzz")
    shutil.copy(sweep_csv, cwd / "ok_sweep.csv")
    shutil.copytree(runs_dir / "a", cwd / "runs" / "a")
    (cwd / "notes.txt").write_text("notes")
    (cwd / "folder").mkdir()
    with monkeypatch.context() as m:
        m.chdir(cwd)
        m.setattr(execution, "run_sweep", lambda *a, **k: (_ for _ in ()).throw(Reached()))
        m.setattr(training_runs, "run_training", lambda *a, **k: (_ for _ in ()).throw(Reached()))
        m.setattr(
            "smallworld_eqp.datasets.idx._fetch", lambda url, dest: (_ for _ in ()).throw(OSError("offline"))
        )
        try:
            code, err = call(module.main, argv)
        except Reached:
            return
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code:
        assert len(err.strip().splitlines()) == 1, (argv, err)
