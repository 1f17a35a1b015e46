"""Append-only results CSVs that lose nothing and never touch a file that is not theirs.

A :class:`ResultLog` is one CSV of fixed columns (a sweep's rows, its per-batch rates,
a run's epochs). Rules, in the order they apply:

1. **Identify before writing.** An existing file is ours only if its header line is
   our columns, or those of an older version of the schema (a subset in any order).
   Anything else (someone's notes, another kind of results, a binary file) is refused
   with one line, unread beyond its first line and unchanged.
2. **Lock.** Opening the log (a ``with`` block) takes an exclusive lock on a sidecar
   file ``<name>.lock``; a second process stops at once with one line naming the
   holder. The lock dies with its process, so a ``kill -9`` never leaves it held.
3. **Repair only our own file.** A last line without its newline (a writer killed
   mid-write) is cut; a row with a wrong number of fields is an error naming the file
   and the line, and so is a NUL byte, a byte that is not UTF-8 or the header line
   repeated inside (two files joined).
4. **Upgrade our own older file** to the current columns (an atomic rewrite), filling
   the settings added since with the values rows written before them ran with.
5. **Append whole rows.** Rows must have exactly the log's columns (an unknown or a
   missing one is an error, not silently dropped) and are appended in one
   ``O_APPEND`` write with ``fsync``: a crash leaves whole rows. A write the disk
   cannot take whole (full, over quota) is undone to the last whole row and refused
   with one line.

Before any of this, the path passes the package's shared output check
(:func:`smallworld_eqp.owned.check_output`).
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import lzma
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from smallworld_eqp.owned import OutputError, check_output

_SNIFF = 1 << 16  # bytes of a file read to find its header line


class ResultLogError(ValueError):
    """A results file that is damaged, in use by another process, or cannot be written
    (a file that is not ours is refused with :class:`~smallworld_eqp.owned.OutputError`)."""


def read_header(path: Path) -> list[str] | None:
    """The columns of ``path``'s first line, or None if it has none or is not text.
    A UTF-8 byte-order mark (a spreadsheet's) is not part of the first column."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF)
    line, newline, _ = head.partition(b"\n")
    if not newline or b"\0" in line:
        return None
    try:
        return next(csv.reader([line.decode("utf-8-sig").rstrip("\r")]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return None


def _raw_lines(path: Path) -> Iterator[bytes]:
    """The lines of ``path`` as bytes, decompressed when it ends in ``.xz``; a
    damaged compressed file raises :class:`ResultLogError` naming it."""
    try:
        with lzma.open(path, "rb") if path.suffix == ".xz" else open(path, "rb") as f:
            yield from f
    except (lzma.LZMAError, EOFError) as exc:
        raise ResultLogError(f"{path} is not a whole xz file ({exc}); the file is damaged") from None


def _is_count(cell: str) -> bool:
    return cell.isascii() and cell.isdigit()


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell == ""  # an empty cell is a missing number (NaN)
    return True


#: What a cell of a typed column may hold (:func:`scan`): its test, and its words.
CELL_TYPES: dict[str, tuple[Callable[[str], bool], str]] = {
    "count": (_is_count, "a whole number >= 0"),
    "number": (_is_number, "a number or empty"),
}


def scan(path: str | os.PathLike, types: Mapping[str, str] | None = None) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of the header and then of every row of a CSV, streamed.

    Every row is checked against the header; a damaged file raises
    :class:`ResultLogError` naming the file and the line: a byte that is not UTF-8
    (a UTF-8 byte-order mark before the header is allowed), a NUL byte, a row with a
    wrong number of fields, the header line again (two files joined), a cell of a
    column named in ``types`` (column -> a key of :data:`CELL_TYPES`) that is not of
    its type. A last line without its newline (a writer cut off mid-row) is not a
    row and is not yielded: the writers end every row with one (:func:`cut_line`).
    """
    path = Path(path)
    typed: list[tuple[int, str, Callable[[str], bool], str]] = []

    def lines() -> Iterator[str]:
        for number, raw in enumerate(_raw_lines(path), 1):
            if not raw.endswith(b"\n"):
                return
            if b"\0" in raw:
                raise ResultLogError(f"{path}, line {number}: a NUL byte; the file is damaged")
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise ResultLogError(
                    f"{path}, line {number}: byte {raw[exc.start]:#04x} is not UTF-8 text; save the file as UTF-8"
                ) from None

    reader = csv.reader(lines())
    header = None
    try:
        for row in reader:
            if header is None:
                header = row
                typed = [
                    (header.index(c), c, *CELL_TYPES[t]) for c, t in (types or {}).items() if c in header
                ]
            elif len(row) != len(header):
                raise ResultLogError(
                    f"{path}, line {reader.line_num}: {len(row)} fields where the header has {len(header)}; "
                    "the file is damaged (fix or remove that line)"
                )
            elif row == header:
                raise ResultLogError(
                    f"{path}, line {reader.line_num}: the header line again (two files joined?); "
                    "the file is damaged (remove that line)"
                )
            else:
                for k, column, test, words in typed:
                    if not test(row[k]):
                        raise ResultLogError(
                            f"{path}, line {reader.line_num}: {column} is {row[k][:40]!r}, not {words}; "
                            "the file is damaged (fix or remove that line)"
                        )
            yield reader.line_num, row
    except csv.Error as exc:
        raise ResultLogError(f"{path}, line {reader.line_num}: {exc}; the file is damaged") from None


def cut_line(path: str | os.PathLike) -> int | None:
    """The number of ``path``'s last line if it lacks its newline (a row cut off), else None."""
    count, last = 0, b"\n"
    for line in _raw_lines(Path(path)):
        count, last = count + 1, line
    return None if last.endswith(b"\n") else count


class ResultLog:
    """An append-only CSV with fixed ``columns``; use it in a ``with`` block.

    Parameters
    ----------
    path : path-like
    columns : sequence of str
        The columns, in order; the first identifies a row (``trial_id``, ``epoch``).
    fill : mapping, optional
        Values for columns an older file lacks (the defaults of settings added
        since); other missing columns are left empty.
    types : mapping, optional
        Column -> cell type (:data:`CELL_TYPES`) every row is checked against (:func:`scan`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> with ResultLog(path, ["id", "x"]) as log:
    ...     log.append([{"id": "a", "x": 1}])
    >>> path.read_text()
    'id,x\\na,1\\n'
    """

    def __init__(
        self,
        path: str | os.PathLike,
        columns: Sequence[str],
        *,
        fill: Mapping[str, Any] | None = None,
        types: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.fill = dict(fill or {})
        self.types = dict(types or {})
        self._lock: int | None = None
        self.check()

    # --- identity (read only) --------------------------------------------------------
    def check(self) -> None:
        """Raise unless ``path`` is absent, empty, or a results file of ours whose rows
        are whole (read only)."""
        check_output(self.path, kind="a CSV", foreign=self._foreign)
        check_output(self.lock_path, kind="a lock", foreign=_foreign_lock)
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        for _ in self._rows():  # a damaged row is an error now, before anything is created
            pass

    def _foreign(self, path: Path) -> str | None:
        header = read_header(path)
        if (
            header is not None
            and header[:1] == self.columns[:1]
            and set(header) <= set(self.columns)
            and len(set(header)) == len(header)
        ):
            return None
        found = (
            "no CSV header" if header is None else f"columns {header[:5]}{'...' if len(header) > 5 else ''}"
        )
        return f"holds other results ({found}, not the {self.columns[0]}, ... columns of this file)"

    # --- lock ---------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def __enter__(self) -> ResultLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        reason = _foreign_lock(self.lock_path)  # again, opened: it may have appeared since the check
        if reason is not None:
            os.close(fd)  # a file of that name that is no lock of ours: leave it be
            raise OutputError(f"{self.lock_path} {reason}; move it or choose another --out")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ResultLogError(
                f"{self.path} is being written by another process (pid {holder}); wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock = fd
        try:
            self.check()  # again, under the lock: the file may have changed meanwhile
            self._prepare()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None

    def _need_lock(self) -> None:
        if self._lock is None:
            raise RuntimeError(f"write {self.path} inside a 'with ResultLog(...)' block (it holds the lock)")

    # --- repair and upgrade (our own file, under the lock) ------------------------
    def _prepare(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._write(_csv_line(self.columns))
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if not data.endswith(b"\n"):  # a killed writer's partial row
                f.truncate(data.rfind(b"\n") + 1)
        header = read_header(self.path)
        if header != self.columns:
            frame = self.read()
            for column, value in self.fill.items():
                if column not in frame:
                    frame[column] = value
            self._rewrite(frame.reindex(columns=self.columns))

    def _write(self, text: str) -> None:
        """Append ``text`` whole or not at all: a short write goes on where it stopped;
        a failing one (a full disk) is cut back to the file's size before it."""
        data = memoryview(text.encode())
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.fstat(fd).st_size  # under our lock: nobody else appends
            try:
                while data:
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
            except OSError as exc:
                os.ftruncate(fd, start)
                os.fsync(fd)
                raise _cannot_write(
                    self.path, exc, "it keeps its whole rows up to before this write"
                ) from None
        finally:
            os.close(fd)

    def _rewrite(self, frame: pd.DataFrame) -> None:
        replace_atomically(self.path, lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))

    # --- reading and writing ---------------------------------------------------------
    def _rows(self) -> Iterator[list[str]]:
        """The header, then every row, streamed and checked (:func:`scan`); a last line
        without its newline (a writer killed mid-row) is not a row."""
        return (row for _, row in scan(self.path, self.types))

    def read(self) -> pd.DataFrame:
        """The rows, every cell as text (see :meth:`_rows`)."""
        rows = self._rows()
        header = next(rows, None) or self.columns
        return pd.DataFrame(list(rows), columns=header, dtype=object)

    def values(self, column: str) -> set[str]:
        """The distinct cells of ``column`` (streamed)."""
        rows = self._rows()
        k = next(rows, self.columns).index(column)
        return {row[k] for row in rows}

    def append(self, rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> None:
        """Append rows in a single write; each must have exactly the log's columns."""
        self._need_lock()
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        if frame.empty:
            return
        unknown = [c for c in frame.columns if c not in self.columns]
        missing = [c for c in self.columns if c not in frame.columns]
        if unknown or missing:
            raise ValueError(
                f"rows for {self.path} do not have its columns: unknown {unknown}, missing {missing}"
            )
        buf = io.StringIO()
        frame[self.columns].to_csv(buf, header=False, index=False, lineterminator="\n")
        self._write(buf.getvalue())

    def keep_only(self, column: str, allowed: set) -> None:
        """Drop the rows whose ``column`` is not in ``allowed``: one atomic rewrite,
        streamed, and none when every row stays."""
        self._need_lock()
        if self.values(column) <= allowed:
            return

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out, lineterminator="\n")
                rows = self._rows()
                header = next(rows)
                k = header.index(column)
                writer.writerow(header)
                writer.writerows(row for row in rows if row[k] in allowed)

        replace_atomically(self.path, write)


def _foreign_lock(path: Path) -> str | None:
    """Why ``path`` is not a lock file of a :class:`ResultLog` (a process id), or None."""
    with open(path, "rb") as f:
        head = f.read(32)
    return None if not head or head.strip().isdigit() else "exists and is not a lock file of this package"


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Replace ``path`` by what ``write(tmp)`` writes: into a new temporary file beside
    it (never an existing one), synced, then renamed over ``path`` in one step. The
    file is readable by all, as the appended CSVs are (a temporary file is not)."""
    fd, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes[-1:])
    )
    os.fchmod(fd, 0o644)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno is None:
            raise
        raise _cannot_write(path, exc, "it is as it was") from None
    finally:
        tmp.unlink(missing_ok=True)


def _cannot_write(path: Path, exc: OSError, kept: str) -> ResultLogError:
    """One line for a write the system refused (a full disk, say): which file, why, what is kept."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return ResultLogError(
        f"cannot write {path} ({os.strerror(exc.errno)}); {kept}: "
        + ("free some space and " if full else "")
        + "rerun the same command to resume"
    )


def _csv_line(cells: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()
