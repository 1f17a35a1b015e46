"""The package's own files: every writer replaces a file only if this package wrote it.

One check, :func:`check_output`, stands before every write of every command and of the
API (a sweep's CSVs, a run's files, figures, the analysis' markdown, a saved network):
the path must name a file (not a folder, not an empty name, not a path through a
file), end in the writer's extension, and either not exist, be empty, or be a file of
this package of the same kind, which the writer recognises (a PNG's ``Source`` text, a
CSV's header, a network file's arrays, a markdown file's first line). Anything else
is refused with one line naming the path, before anything is written.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> (folder / "notes.md").write_text("my notes")
8
>>> check_output(folder / "notes.md", kind="a markdown file", suffixes=(".md",), foreign=lambda p: "is not ours")
Traceback (most recent call last):
...
smallworld_eqp.owned.OutputError: .../notes.md is not ours; move it or choose another --out
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


class OutputError(ValueError):
    """A path a writer refuses: a folder, a name it cannot write, a file it did not write."""


#: Why an existing, non-empty file is not the writer's own (None: it is).
Foreign = Callable[[Path], "str | None"]


def check_name(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as a Path, or an error for an empty name or a path through a file (read only)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{flag} must be a file path, got {path!r:.80} ({type(path).__name__})")
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip():
        raise OutputError(f"{flag} is empty; give a path")
    out = Path(text)
    for parent in out.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise OutputError(f"{out}: {parent} is a file, not a folder; choose another {flag}")
            break
    return out


def check_output(
    path: str | os.PathLike,
    *,
    kind: str,
    suffixes: Sequence[str] = (),
    foreign: Foreign,
    flag: str = "--out",
) -> Path:
    """``path`` if a writer of ``kind`` may write it; else :class:`OutputError` (read only).

    Parameters
    ----------
    path : path-like
    kind : str
        What the writer writes, with its article (``"a figure"``), for the messages.
    suffixes : sequence of str
        Allowed extensions, lower case with the dot (``(".png",)``); empty: any.
    foreign : callable
        ``foreign(path)`` for an existing non-empty file: None if it is the writer's
        own, else why not (``"is not a figure of this package"``).
    flag : str
        The option that named the path, for the messages.

    Raises
    ------
    OutputError
        One line naming the path and what is allowed.
    """
    out = check_name(path, flag)
    text = os.fspath(path)
    example = f"NAME{suffixes[0]}" if suffixes else "NAME"
    if text.endswith(("/", os.sep)) or out.is_dir():
        raise OutputError(f"{flag} {text} is a folder; give {kind} file path like {out / example}")
    if suffixes and out.suffix.lower() not in suffixes:
        raise OutputError(
            f"{flag} {text} does not end in {' or '.join(suffixes)}; give {kind} file path like "
            f"{out.with_name(out.name + suffixes[0]) if not out.suffix else out.with_suffix(suffixes[0])}"
        )
    if out.is_symlink() and not out.exists():
        raise OutputError(f"{out} is a broken symbolic link; move it or choose another {flag}")
    if out.exists() and not out.is_file():
        raise OutputError(f"{out} is not a regular file; give {kind} file path")
    if out.exists() and out.stat().st_size:
        reason = foreign(out)
        if reason is not None:
            raise OutputError(f"{out} {reason}; move it or choose another {flag}")
    return out


def check_output_folder(path: str | os.PathLike, *, flag: str = "--out") -> Path:
    """``path`` if it can be an output folder: absent (it will be made) or a folder (read only)."""
    out = check_name(path, flag)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {out} is a file; {flag} takes a folder")
    return out


def first_line(path: Path, most: int = 4096) -> str | None:
    """The first line of a text file without its newline; None if ``path`` is not UTF-8 text."""
    with open(path, "rb") as f:
        head = f.read(most)
    try:
        return head.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        return None


def npz_holding(names: Iterable[str], kind: str) -> Foreign:
    """A :data:`Foreign` test for ``.npz`` files: ours if they hold the arrays ``names``."""
    wanted = {f"{name}.npy" for name in names}

    def foreign(path: Path) -> str | None:
        try:
            with zipfile.ZipFile(path) as z:
                if wanted <= set(z.namelist()):
                    return None
        except (zipfile.BadZipFile, OSError):
            pass
        return f"exists and is not {kind} of this package"

    return foreign
