"""MNIST and Fashion-MNIST from their IDX files: reading, finding, downloading, checking.

The four IDX files (``.gz`` or uncompressed) sit in the ``mnist/`` or ``fashion-mnist/``
folder of a data directory: the ``data_dir`` argument, else ``$SMALLWORLD_EQP_DATA``,
else ``./data``. Missing files are downloaded from public mirrors when the network
allows; every ``.gz`` file, found or downloaded, must match its published MD5.

Imports: the standard library, NumPy and :mod:`.dataset` only.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import pathlib
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from smallworld_eqp.datasets.dataset import N_CLASSES, Dataset, _frozen

ENV_VAR = "SMALLWORLD_EQP_DATA"

# The four IDX files of MNIST and Fashion-MNIST, in this order.
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# IDX type byte -> big-endian dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_DOWNLOAD_TIMEOUT = 30.0
_CHUNK = 1 << 16


class DataNotFoundError(FileNotFoundError):
    """The IDX files of a data set are missing and could not be downloaded."""


class ChecksumError(ValueError):
    """A ``.gz`` file does not have its published MD5."""


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file (bad header, wrong size, corrupt gzip)."""


@dataclass(frozen=True)
class _Source:
    folder: str
    mirrors: tuple[str, ...]
    md5: Mapping[str, str]  # file name without .gz -> MD5 of the .gz file


_SOURCES = {
    "mnist": _Source(
        "mnist",
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        {
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": _Source(
        "fashion-mnist",
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        {
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}
# --- IDX files --------------------------------------------------------------


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed: name ending in ``.gz``).

    The header (magic number, type code, dimensions) must describe exactly the
    bytes that follow it.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ndarray
        A new native-endian array with the stored shape and type.

    Raises
    ------
    IdxFormatError
        On a bad magic number or type code, a truncated or oversized file, or a
        corrupt gzip stream; the message names the file.
    """
    path = pathlib.Path(path)
    return _parse_idx(_read_bytes(path), path)


def _read_bytes(path: pathlib.Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise IdxFormatError(f"{path}: corrupt or truncated gzip file ({e})") from None


def _parse_idx(data: bytes, path: pathlib.Path) -> np.ndarray:
    if len(data) < 4:
        raise IdxFormatError(f"{path}: {len(data)} bytes is too short for an IDX header")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise IdxFormatError(
            f"{path}: not an IDX file (magic 0x{int.from_bytes(data[:4], 'big'):08x}; expected 0x0000TTDD with type TT in {{08, 09, 0b, 0c, 0d, 0e}} and DD >= 1 dimensions)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(f"{path}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + dtype.itemsize * math.prod(shape)
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise IdxFormatError(
            f"{path}: {what}: {len(data)} bytes, but the header (shape {shape}, {dtype.str}) needs {expected}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).astype(dtype.newbyteorder("=")).reshape(shape)


def _md5(path: pathlib.Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- locating and downloading -------------------------------------------------


def default_data_dir() -> pathlib.Path:
    """``$SMALLWORLD_EQP_DATA`` when set and not empty, else ``./data`` (absolute)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path.cwd() / "data"


def _find(folder: pathlib.Path, stem: str) -> pathlib.Path | None:
    # Prefer the .gz: it can be checked against the published MD5.
    for path in (folder / f"{stem}.gz", folder / stem):
        if path.is_file():
            return path
    return None


def _fetch(url: str, dest: pathlib.Path) -> None:
    """Download ``url`` into the existing file ``dest``, with a progress bar."""

    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], leave=False) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                bar.update(len(chunk))


def _download(source: _Source, stem: str, folder: pathlib.Path) -> pathlib.Path:
    """Fetch ``stem.gz`` from the first mirror that serves the right bytes.

    Each attempt writes a temporary file in ``folder`` and renames it into place
    only once its MD5 matches, so no partial or corrupt file is ever left behind.
    """
    name = f"{stem}.gz"
    final = folder / name
    failures = []
    bad_checksum = False
    for mirror in source.mirrors:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        os.close(fd)
        tmp = pathlib.Path(tmp_name)
        try:
            _fetch(mirror + name, tmp)
            got = _md5(tmp)
            if got == source.md5[stem]:
                os.replace(tmp, final)
                return final
            bad_checksum = True
            failures.append(f"{mirror}{name}: MD5 {got}, expected {source.md5[stem]}")
        except OSError as e:  # urllib.error.URLError and socket timeouts are OSErrors
            failures.append(f"{mirror}{name}: {type(e).__name__}: {' '.join(str(e).split())}")
        finally:
            tmp.unlink(missing_ok=True)
    reason = "; ".join(failures)
    if bad_checksum:
        raise ChecksumError(f"refused {name} for {folder}: {reason}")
    raise OSError(reason)


def _missing_error(name: str, folder: pathlib.Path, missing: list[str], reason: str) -> DataNotFoundError:
    which = "all four" if len(missing) == len(FILES) else ", ".join(missing)
    return DataNotFoundError(
        f"{name} IDX files not found in {folder}: it needs {', '.join(FILES)} (each .gz or raw), missing {which}; "
        f"{reason}; put the files there, pass data_dir or set ${ENV_VAR}, or use load('digits') offline"
    )


def _locate(name: str, root: pathlib.Path, download: bool) -> list[pathlib.Path]:
    source = _SOURCES[name]
    folder = root / source.folder
    found = {stem: _find(folder, stem) for stem in FILES}
    missing = [stem for stem, path in found.items() if path is None]
    if not missing:
        return [found[stem] for stem in FILES]
    if not download:
        raise _missing_error(name, folder, missing, "download=False")
    new_dirs = [d for d in (folder, *folder.parents) if not d.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stem in missing:
            found[stem] = _download(source, stem, folder)
    except (OSError, ChecksumError) as e:
        for d in new_dirs:  # leave no empty folders behind after a failed download
            try:
                d.rmdir()
            except OSError:
                break
        if isinstance(e, ChecksumError):
            raise
        raise _missing_error(name, folder, missing, f"download failed ({e})") from None
    return [found[stem] for stem in FILES]


# --- loading ------------------------------------------------------------------


def _file_key(path: pathlib.Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


def _verified_idx(path: pathlib.Path, md5: str) -> np.ndarray:
    if path.suffix == ".gz":
        got = _md5(path)
        if got != md5:
            raise ChecksumError(
                f"{path}: MD5 {got} is not the published {md5}; the file is corrupt or not the original (delete it to download it again)"
            )
    return read_idx(path)


def _to_split(
    images_path: pathlib.Path, labels_path: pathlib.Path, md5: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    images = _verified_idx(images_path, md5[images_path.name.removesuffix(".gz")])
    labels = _verified_idx(labels_path, md5[labels_path.name.removesuffix(".gz")])
    if images.dtype != np.uint8 or images.ndim != 3:
        raise IdxFormatError(f"{images_path}: expected 3-D uint8 images, got {images.ndim}-D {images.dtype}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IdxFormatError(f"{labels_path}: expected 1-D uint8 labels, got {labels.ndim}-D {labels.dtype}")
    if images.shape[0] != labels.shape[0]:
        raise IdxFormatError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds {labels.shape[0]} labels"
        )
    if labels.size and labels.max() >= N_CLASSES:
        raise IdxFormatError(f"{labels_path}: label {labels.max()} outside 0..{N_CLASSES - 1}")
    x = images.reshape(images.shape[0], -1).astype(np.float32)
    np.divide(x, 255, out=x)
    return _frozen(x, np.eye(N_CLASSES, dtype=np.float32)[labels])


@functools.lru_cache(maxsize=2)
def _load_idx_dataset(name: str, keys: tuple[tuple[str, int, int], ...]) -> Dataset:
    # ``keys`` (path, mtime, size) make a changed file a cache miss; the sweep loads
    # the same files once per trial and reuses this parse.
    paths = [pathlib.Path(k[0]) for k in keys]
    md5 = _SOURCES[name].md5
    x_train, y_train = _to_split(paths[0], paths[1], md5)
    x_test, y_test = _to_split(paths[2], paths[3], md5)
    return Dataset(name, x_train, y_train, x_test, y_test)


def _load_idx(name: str) -> Callable[[pathlib.Path | None, bool], Dataset]:
    def load_files(data_dir: pathlib.Path | None, download: bool) -> Dataset:
        root = data_dir if data_dir is not None else default_data_dir()
        paths = _locate(name, root, download)
        return _load_idx_dataset(name, tuple(_file_key(p) for p in paths))

    return load_files
