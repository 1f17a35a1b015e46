"""Every malformed input in the README's table gives its one-line error and exit code 2.

The table in README.md (between the ``errors:start`` and ``errors:end`` markers) is the
test data: each row's command is run and its stderr must contain the row's message.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = "--n-free 5 --n-clamped 2 --n-train 40 --n-test 20 --no-plot --quiet"


def table_rows() -> list[tuple[str, str]]:
    text = README.read_text()
    block = text.split("<!-- errors:start -->")[1].split("<!-- errors:end -->")[0]
    rows = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            rows.append((cells[0].strip("`"), cells[1].strip("`")))
    return rows


ROWS = table_rows()


def test_the_table_is_long_enough():
    assert len(ROWS) >= 30


def _prepare(tmp_path: Path) -> dict:
    (tmp_path / "epochs.csv").write_text("epoch,online_error,train_error,test_error,seconds,n_edges,n_skip\n")
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    (tmp_path / "folder").mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text('{"spec": {}, "remove_skip_after": null}')
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("one line of someone's notes")
    (tmp_path / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\nsomebody's figure")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "epochs.csv").write_text("somebody,else\n1,2")
    from smallworld_eqp.study.schema import sweep_columns

    columns = sweep_columns(6)  # the quick preset's network
    header = ",".join(columns) + "\n"
    (tmp_path / "shifted.csv").write_text(header + ",".join(["x"] * (len(columns) + 1)) + "\n")
    # Sweep CSVs of ours, damaged: rows of zeros but for their identity and text cells.
    text = {
        "trial_id": "t",
        "status": "ok",
        "layers": "64-32-32-32-32-10",
        "error_measure": "misclassification",
    }
    row = [text.get(c, "0") for c in columns]
    line = ",".join(row) + "\n"
    (tmp_path / "ok.csv").write_text(header + line)
    (tmp_path / "joined.csv").write_text(header + line + header + line)  # two files joined
    (tmp_path / "nul.csv").write_bytes((header + line).encode().replace(b"t,ok,", b"t\0,ok,"))
    (tmp_path / "latin1.csv").write_bytes((header + line).encode().replace(b"t,ok,", b"caf\xe9,ok,"))
    typed = [*row]
    typed[columns.index("seed")] = "x"
    (tmp_path / "typed.csv").write_text(header + ",".join(typed) + "\n")
    (tmp_path / "other_rates.csv").write_text("run,rms\nmine,0.5\n")  # beside other.csv, absent
    (tmp_path / "locked_rates.csv.lock").write_text("my notes")  # where locked.csv's rates lock would go
    (tmp_path / "packed").mkdir()
    (tmp_path / "packed" / "rates.csv.xz").write_bytes(b"not xz")  # a run's compressed rates, damaged
    mine = tmp_path / "mine"  # someone's markdown where the analysis writes its own
    mine.mkdir()
    for name in ("report.md", "correlations.md", "decay_fit.md"):
        (mine / name).write_text("# My notes\n")
    return {"tmp": str(tmp_path), "tiny": TINY}


def _snapshot(folder: Path) -> dict:
    """Every file and folder below ``folder`` with its bytes (None for a folder)."""
    return {
        p.relative_to(folder): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))
    }


def _invoke(command: str, subs: dict) -> tuple[int, str]:
    for key, value in subs.items():  # not str.format: a command may hold JSON braces
        command = command.replace(f"{{{key}}}", value)
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-m"], command
    module = importlib.import_module(argv[2])
    # A package runs its __main__ (python -m smallworld_eqp.plots).
    main = getattr(module, "main", None) or importlib.import_module(f"{argv[2]}.__main__").main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv[3:])
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


@pytest.mark.parametrize(("command", "message"), ROWS, ids=[r[0] for r in ROWS])
def test_malformed_input(command, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMALLWORLD_EQP_DATA", str(tmp_path / "empty"))
    import smallworld_eqp.datasets.idx as ds

    def offline(url, dest):
        raise OSError("offline in tests")

    monkeypatch.setattr(ds, "_fetch", offline)
    subs = _prepare(tmp_path)
    before = _snapshot(tmp_path)
    code, err = _invoke(command, subs)
    message = message.replace("{tmp}", subs["tmp"])
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert re.search(re.escape(message), lines[0]), (message, lines[0])
    assert _snapshot(tmp_path) == before  # a refused command creates and changes nothing


def test_no_traceback_from_a_real_process(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "smallworld_eqp.sweep", "--eps", "0", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def _excerpt(line: str, tmp: str) -> str:
    """The message of an error line, its temporary folder written ``{tmp}``, cut near 78
    characters at a word boundary (what the README table shows)."""
    message = line.split(": error: ", 1)[-1].replace(tmp, "{tmp}")
    if len(message) <= 78:
        return message
    return message[:78].rsplit(" ", 1)[0]


def update_readme() -> None:
    """Rewrite the README table's messages from what each command prints now.

    Run ``python tests/test_cli_errors.py`` after changing a message, then read the
    diff: the table documents the errors, and the test above checks them.
    """
    import tempfile
    from unittest import mock

    import smallworld_eqp.datasets.idx as ds

    text = README.read_text()
    head, rest = text.split("<!-- errors:start -->")
    block, tail = rest.split("<!-- errors:end -->")
    lines = ["", "| command | error (excerpt) |", "| --- | --- |"]
    for command, _ in ROWS:
        with (
            tempfile.TemporaryDirectory() as tmp,
            mock.patch.object(ds, "_fetch", side_effect=OSError("offline")),
        ):
            with mock.patch.dict("os.environ", {"SMALLWORLD_EQP_DATA": f"{tmp}/empty"}):
                cwd = Path.cwd()
                os.chdir(tmp)
                try:
                    code, err = _invoke(command, _prepare(Path(tmp)))
                finally:
                    os.chdir(cwd)
            first = (err.strip().splitlines() or [""])[0]
            if code != 2:
                print(f"exit {code} (not 2): {command}: {first}", file=sys.stderr)
            lines.append(f"| `{command}` | `{_excerpt(first, tmp)}` |")
    README.write_text(head + "<!-- errors:start -->" + "\n".join(lines) + "\n" + "<!-- errors:end -->" + tail)


if __name__ == "__main__":
    update_readme()
