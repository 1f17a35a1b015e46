"""Results files: never touch a file that is not ours, repair only our own, lock, strict rows."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from smallworld_eqp.owned import OutputError
from smallworld_eqp.study import schema, studies
from smallworld_eqp.study.resultlog import ResultLog, ResultLogError

COLS = ["trial_id", "status", "x"]
QUICK = Path(__file__).resolve().parents[1] / "analysis" / "results" / "quick" / "quick_sweep.csv"


@pytest.mark.parametrize(
    "content",
    [
        b"a,b\n1,2",  # someone's CSV without a final newline
        b"just some notes",  # one line, no newline
        b"epoch,online_error\n1,0.5\n",  # another kind of results
        b"\x89PNG\r\n\x1a\n\0\0\0",  # not text
        b"trial_id,status,x,extra\nt,ok,1,2\n",  # our first column but foreign columns
    ],
)
def test_foreign_files_are_refused_and_left_as_they_were(tmp_path, content):
    path = tmp_path / "notes.csv"
    path.write_bytes(content)
    with pytest.raises(OutputError, match="holds other results"):
        with ResultLog(path, COLS):
            pass
    assert path.read_bytes() == content
    assert not (tmp_path / "notes.csv.lock").exists()


def test_a_partial_last_row_of_ours_is_cut(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("trial_id,status,x\na,ok,1\nb,o")
    with ResultLog(path, COLS) as log:
        log.append([{"trial_id": "c", "status": "ok", "x": 3}])
    assert path.read_text() == "trial_id,status,x\na,ok,1\nc,ok,3\n"


def test_a_row_with_a_wrong_field_count_names_the_file_and_line(tmp_path):
    path = tmp_path / "r.csv"
    text = "trial_id,status,x\na,ok,1\nb,ok,2,surplus\n"
    path.write_text(text)
    with pytest.raises(ResultLogError, match=r"r\.csv, line 3: 4 fields where the header has 3"):
        with ResultLog(path, [*COLS, "y"]):  # an upgrade reads every row
            pass
    with pytest.raises(ResultLogError, match="line 3"):
        ResultLog(path, COLS)  # found before anything is created, the lock file included
    assert path.read_text() == text and not (tmp_path / "r.csv.lock").exists()


def test_a_foreign_file_named_like_the_lock_is_left_alone(tmp_path):
    lock = tmp_path / "r.csv.lock"
    lock.write_text("my notes\n")
    with pytest.raises(OutputError, match=r"r\.csv\.lock exists and is not a lock file of this package"):
        with ResultLog(tmp_path / "r.csv", COLS):
            pass
    assert lock.read_text() == "my notes\n"


def test_a_multiline_quoted_cell_is_one_row_and_rows_stream(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('trial_id,status,x\na,ok,"two\nlines"\nb,failed,2\n')
    with ResultLog(path, COLS) as log:
        assert log.read()["x"].tolist() == ["two\nlines", "2"]
        assert log.values("status") == {"ok", "failed"}
        log.keep_only("status", {"ok"})
    assert path.read_text() == 'trial_id,status,x\na,ok,"two\nlines"\n'


def test_rows_must_have_exactly_the_columns(tmp_path):
    with ResultLog(tmp_path / "r.csv", COLS) as log:
        with pytest.raises(ValueError, match=r"unknown \['y'\], missing \[\]"):
            log.append([{"trial_id": "a", "status": "ok", "x": 1, "y": 2}])
        with pytest.raises(ValueError, match=r"unknown \[\], missing \['x'\]"):
            log.append([{"trial_id": "a", "status": "ok"}])
    with pytest.raises(RuntimeError, match="inside a 'with ResultLog"):
        log.append([{"trial_id": "a", "status": "ok", "x": 1}])


def test_an_older_file_of_ours_is_upgraded_in_place(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("x,trial_id\n1.50,a\n")  # wrong order, a column missing: written by an older version
    with pytest.raises(OutputError):  # not ours: the first column differs
        ResultLog(path, COLS)
    path.write_text("trial_id,x\na,1.50\n")
    with ResultLog(path, COLS, fill={"status": "ok"}) as log:
        log.append([{"trial_id": "b", "status": "failed", "x": 2}])
    assert path.read_text() == "trial_id,status,x\na,ok,1.50\nb,failed,2\n"  # cells kept as written


def test_a_second_writer_stops_with_one_line(tmp_path):
    path = tmp_path / "r.csv"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from smallworld_eqp.study.resultlog import ResultLog
                with ResultLog({str(path)!r}, {COLS!r}):
                    print("locked", flush=True)
                    time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ResultLogError, match=rf"being written by another process \(pid {holder.pid}\)"):
            with ResultLog(path, COLS):
                pass
    finally:
        holder.kill()
        holder.wait()
    with ResultLog(path, COLS) as log:  # the lock died with its holder
        log.append([{"trial_id": "a", "status": "ok", "x": 1}])


def test_a_version_0_1_sweep_csv_loads_with_the_defaults_it_ran_with():
    df = schema.load_sweep([QUICK])
    assert len(df) == 24 and list(df.columns[:5]) == [
        "trial_id",
        "status",
        "error_message",
        "config_hash",
        "seed",
    ]
    assert (df["nudge"] == "gradient").all() and (df["batch_order"] == "reshuffle").all()
    assert (df["reuse_removed"] == False).all()  # noqa: E712 (a column of bools)
    assert len(studies.by_configuration(df)) == 1


def test_a_version_0_1_sweep_csv_is_upgraded_when_a_sweep_resumes_it(tmp_path):
    from smallworld_eqp import sweep
    from smallworld_eqp.study.execution import sweep_log

    out = tmp_path / "quick.csv"
    out.write_bytes(QUICK.read_bytes())
    specs = sweep.specs_from_args(sweep.build_parser().parse_args([]))
    with sweep_log(out, specs) as log:
        assert set(log.read()["trial_id"]) == {s.trial_id for s in specs}  # nothing to rerun
    upgraded, old = pd.read_csv(out), pd.read_csv(QUICK)
    assert list(upgraded.columns) == schema.sweep_columns(6)
    pd.testing.assert_frame_equal(upgraded[old.columns], old)
    assert (upgraded["nudge"] == "gradient").all() and upgraded["steps"].isna().all()
