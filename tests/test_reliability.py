"""Faults and hostile input: concurrent writers, killed processes, random values.

Every bad value gives one line (exit 2, or a ValueError/TypeError of one line) and
changes no file; two sweeps on one CSV run every trial once; a killed sweep leaves no
process behind; a dead worker is a failed trial, recorded.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallworld_eqp import config, sweep, train
from smallworld_eqp.graph import layered, rewiring
from smallworld_eqp.settings import declared
from smallworld_eqp.study import spec
from smallworld_eqp.study.training_runs import run_training

TINY = [
    "--dataset", "digits", "--layers", "64,8,8,10", "--n-train", "100", "--n-test", "40",
    "--n-free", "30", "--n-clamped", "3", "--batch-size", "20", "--learning-rate", "0.05", "--no-plot", "--quiet",
]  # fmt: skip


def _ctrl_c_as_from_a_terminal() -> None:
    # A job started in the background of a shell without job control (`cmd &` in a script)
    # inherits SIGINT ignored, and Python then leaves it ignored: the sweep would not see
    # the test's Ctrl-C at all. Give it what a terminal gives.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sweep_process(args: list[str], cwd: Path) -> subprocess.Popen:
    # faulthandler: on SIGABRT the sweep prints every thread's stack (see wait_or_dump).
    return subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "smallworld_eqp.sweep", *args],
        preexec_fn=_ctrl_c_as_from_a_terminal,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first, then the
    parent's PID), or None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int, *, workers: bool = False) -> list[int]:
    """PIDs whose parent is ``pid`` (Linux /proc); with ``workers`` only the trial
    workers, not multiprocessing's resource tracker."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if stat is not None and int(stat[1]) == pid and (not workers or b"spawn_main" in cmdline):
                out.append(int(entry.name))
    return out


def _state(pid: int) -> str:
    """The process's state letter (R, S, D, Z, ...), or "gone"."""
    stat = _stat(pid)
    return "gone" if stat is None else stat[0]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    return _state(pid) not in ("Z", "gone")


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def wait_or_dump(proc: subprocess.Popen, timeout: float) -> int:
    """``proc.wait(timeout)``; if it times out, fail with the stacks of the process's threads
    (faulthandler, on SIGABRT) and the state of its children, so that a hang says where."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        states = {pid: _state(pid) for pid in children(proc.pid)}
        proc.send_signal(signal.SIGABRT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            err = "(no stack: the process did not answer SIGABRT)"
        raise AssertionError(
            f"no exit within {timeout} s; children's states {states}; stacks:\n{err}"
        ) from None


def rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def test_two_sweeps_on_one_csv_run_every_trial_once(tmp_path):
    out = tmp_path / "s.csv"
    args = [*TINY, "--n-free", "40000", "--replacements", "0,5,10,15", "--seeds", "0", "--out", str(out)]
    first = sweep_process(args, tmp_path)
    wait_for(lambda: rows(out) >= 1)
    # Paused, the first sweep still holds the lock however slowly the second starts.
    first.send_signal(signal.SIGSTOP)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "smallworld_eqp.sweep", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert second.stderr.count("\n") == 1 and f"pid {first.pid}" in second.stderr, second.stderr
    assert first.wait(timeout=300) == 0
    again = subprocess.run([sys.executable, "-m", "smallworld_eqp.sweep", *args], cwd=tmp_path)
    assert again.returncode == 0
    frame = pd.read_csv(out)
    assert len(frame) == 4 and frame["trial_id"].is_unique


def test_kill_9_of_a_parallel_sweep_leaves_no_process_behind(tmp_path):
    out = tmp_path / "k.csv"
    proc = sweep_process(
        # Trials far longer than the test: the event-driven solver stops a phase at its fixed
        # point, so more steps alone left a race where the sweep could finish before Ctrl-C.
        [*TINY, "--epochs", "100000", "--replacements", "0,5,10", "--workers", "2", "--out", str(out)],
        tmp_path,
    )
    wait_for(lambda: len(children(proc.pid, workers=True)) >= 2)
    workers = children(proc.pid)  # the resource tracker too
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_for(lambda: not any(alive(w) for w in workers), timeout=15)


def test_a_dead_worker_is_a_failed_trial_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "d.csv"
    args = [
        *TINY,
        "--n-free",
        "600",
        "--replacements",
        "0,5,10",
        "--seeds",
        "0",
        "--workers",
        "2",
        "--out",
        str(out),
    ]
    proc = sweep_process(args, tmp_path)
    wait_for(lambda: len(children(proc.pid, workers=True)) >= 2)
    victim = min(children(proc.pid, workers=True))
    os.kill(victim, signal.SIGKILL)
    assert proc.wait(timeout=300) == 1
    err = proc.stderr.read()
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(
        "1 of 3 trials did not finish ok"
    )
    frame = pd.read_csv(out)
    assert len(frame) == 3 and (frame["status"] == "failed").sum() == 1
    assert frame.loc[frame["status"] == "failed", "error_message"].str.startswith("WorkerDied").all()
    again = subprocess.run(
        [sys.executable, "-m", "smallworld_eqp.sweep", *args, "--retry-failed"],
        cwd=tmp_path,
        capture_output=True,
    )
    assert again.returncode == 0
    final = pd.read_csv(out).drop_duplicates("trial_id", keep="last")
    assert (final["status"] == "ok").all()


def test_ctrl_c_stops_at_once_and_keeps_the_finished_rows(tmp_path):
    out = tmp_path / "c.csv"
    proc = sweep_process(
        # Trials far longer than the test: the event-driven solver stops a phase at its fixed
        # point, so more steps alone left a race where the sweep could finish before Ctrl-C.
        [*TINY, "--epochs", "100000", "--replacements", "0,5,10", "--workers", "2", "--out", str(out)],
        tmp_path,
    )
    wait_for(lambda: len(children(proc.pid, workers=True)) >= 2)
    workers = children(proc.pid)
    start = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    assert wait_or_dump(proc, 30) == 130
    assert time.monotonic() - start < 10  # in-flight trials are not waited for
    assert "interrupted; finished results are kept" in proc.stderr.read()
    wait_for(lambda: not any(alive(w) for w in workers), timeout=15)
    assert pd.read_csv(out).columns[0] == "trial_id"


WORKER_SETUP = """
import ctypes, os, signal, sys
from smallworld_eqp.study import execution
assert execution._die_with_parent() is True  # callable again, without error
execution._worker_setup(os.getppid())
os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches the worker too: ignored
got = ctypes.c_int()
ctypes.CDLL(None).prctl(2, ctypes.byref(got), 0, 0, 0)  # PR_GET_PDEATHSIG
print(got.value)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_worker_ignores_ctrl_c_and_is_signalled_when_its_parent_dies():
    # A process of its own: the setup changes signal handling for good.
    repo = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", WORKER_SETUP], cwd=repo, capture_output=True, text=True)
    assert res.returncode == 0 and "KeyboardInterrupt" not in res.stderr, res.stderr
    assert int(res.stdout) == signal.SIGTERM


def test_failed_trials_make_a_nonzero_exit_counted_in_the_last_line(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "smallworld_eqp.sweep", *TINY, "--replacements", "0", "--seeds", "0,1",
         "--learning-rate", "1e300", "--out", str(tmp_path / "f.csv")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("2 of 2 trials did not finish ok")


def test_seeds_are_parsed_as_integers_not_through_float():
    args = sweep.build_parser().parse_args(
        ["--seeds", "9007199254740992,9007199254740993", "--replacements", "0"]
    )
    assert sorted(s.seed for s in sweep.specs_from_args(args)) == [9007199254740992, 9007199254740993]


def test_a_damaged_checkpoint_stops_a_resume_with_one_line(tmp_path):
    args = ["--preset", "paper-basic", "--dataset", "digits", "--layers", "64,8,10", "--n-train", "40",
            "--n-test", "20", "--n-free", "5", "--n-clamped", "2", "--out", str(tmp_path / "run"), "--quiet"]  # fmt: skip
    command = [sys.executable, "-m", "smallworld_eqp.train", *args]
    assert subprocess.run([*command, "--epochs", "2"]).returncode == 0
    ckpt = tmp_path / "run" / "checkpoint.npz"
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # truncated
    res = subprocess.run([*command, "--epochs", "3", "--resume"], capture_output=True, text=True)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "checkpoint.npz cannot be read" in res.stderr
    ckpt.unlink()  # missing, with epochs recorded after the first checkpoint's
    res = subprocess.run([*command, "--epochs", "3", "--resume"], capture_output=True, text=True)
    assert res.returncode == 1 and "checkpoint.npz is missing but" in res.stderr
    assert "records epochs up to 2" in res.stderr
    assert len(pd.read_csv(tmp_path / "run" / "epochs.csv")) == 2  # the finished epochs are kept
    res = subprocess.run([*command, "--epochs", "1", "--resume", "--out", str(tmp_path / "none")],
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 2 and "holds no run to resume" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "none").exists()


def test_train_never_writes_into_a_folder_that_is_not_a_run_of_ours(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "epochs.csv").write_text("some,notes\nno newline")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    s = spec.TrialSpec(layers=(64, 8, 10), dataset="digits", n_train=40, n_test=20, n_free=5, n_clamped=2)
    for resume in (False, True):
        with pytest.raises(ValueError, match="holds no run.json, so it is not a run folder"):
            run_training(s, folder, resume=resume, progress=False)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


# --- property tests: random values to every parser and constructor -------------------

ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-3, max_value=12), max_size=5),
)
TEXT = st.one_of(
    st.text(max_size=16),
    st.sampled_from(
        ["nan", "inf", "-1", "0", "1e20", "1e400", "2.5", "3", "0,1", "1/2", "-4:0:3", "true", "none"]
    ),
)


def _one_line(exc: BaseException) -> None:
    assert isinstance(exc, (ValueError, TypeError)), repr(exc)
    assert str(exc) and "\n" not in str(exc).strip(), repr(exc)


@settings(max_examples=300)
@given(name=st.sampled_from([f.name for f in declared(config.EqPropConfig)]), value=ANY)
def test_config_takes_a_value_or_refuses_it_in_one_line(name, value):
    try:
        config.EqPropConfig(**{name: value})
    except Exception as exc:  # noqa: BLE001 (the property: only these, in one line)
        _one_line(exc)


@settings(max_examples=300)
@given(name=st.sampled_from([n for n in spec.SETTING_NAMES if n not in ("steps",)]), value=ANY)
def test_trial_spec_takes_a_value_or_refuses_it_in_one_line(name, value):
    try:
        spec.TrialSpec(layers=(8, 4, 3), **{name: value})
    except Exception as exc:  # noqa: BLE001
        _one_line(exc)


@settings(max_examples=200)
@given(sizes=ANY, n=ANY, p=ANY, mode=ANY, kind=ANY)
def test_topology_builders_refuse_bad_values_in_one_line(sizes, n, p, mode, kind):
    for call in (
        lambda: layered.layered(sizes),
        lambda: rewiring.rewire(layered.layered([4, 3, 3, 2]), n=n, mode=mode, seed=0),
        lambda: rewiring.rewire(layered.layered([4, 3, 3, 2]), p=p, seed=0),
        lambda: layered.without_kind(layered.layered([4, 3, 2]), kind),
        lambda: layered.Graph.from_edges([2, 2, 2], np.array(sizes if isinstance(sizes, list) else [sizes])),
    ):
        try:
            call()
        except Exception as exc:  # noqa: BLE001
            _one_line(exc)


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [
        a.option_strings[-1]
        for a in parser._actions
        if a.option_strings and a.nargs != 0 and a.dest != "help"
    ]


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_every_flag_of_sweep_and_train_takes_random_text_in_one_line(data, tmp_path_factory):
    command = data.draw(st.sampled_from([sweep, train]))
    parser = command.build_parser()
    flag = data.draw(st.sampled_from(_flags(parser)))
    text = data.draw(TEXT)
    cwd = tmp_path_factory.mktemp("fuzz")
    before = os.getcwd()
    os.chdir(cwd)
    try:
        try:
            args = parser.parse_args([f"{flag}={text}"])
        except SystemExit as exit_:
            assert exit_.code == 2
            return
        try:
            specs = sweep.specs_from_args(args) if command is sweep else [train.spec_from_args(args)]
            assert specs and all(isinstance(s, spec.TrialSpec) for s in specs)
        except Exception as exc:  # noqa: BLE001
            _one_line(exc)
    finally:
        os.chdir(before)
    assert not any(cwd.iterdir())  # parsing and checking write nothing
