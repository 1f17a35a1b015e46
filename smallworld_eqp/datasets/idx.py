"""Data sets for training: MNIST and Fashion-MNIST from IDX files, scikit-learn's small sets.

Every data set comes as a :class:`Dataset`: float32 inputs in [0, 1], one row per
example, and float32 targets: one-hot for a classification, real values in [0, 1] for a
regression (``Dataset.task``). The paper trains on the first 50,000 MNIST training
images and tests on the 10,000 test images (Table 1). :data:`DATASETS` maps each name
to its loader; a new data set is one entry there.

MNIST and Fashion-MNIST are read from the four IDX files (``.gz`` or uncompressed)
in the ``mnist/`` or ``fashion-mnist/`` folder of a data directory: the ``data_dir``
argument, else ``$SMALLWORLD_EQP_DATA``, else ``./data``. Missing files are
downloaded from public mirrors when the network allows; every ``.gz`` file, found
or downloaded, must match its published MD5. ``digits`` (scikit-learn's 8x8 digits)
ships inside scikit-learn and needs no files: it is the offline default. ``diabetes``
(a regression) and ``wine`` ship inside scikit-learn too: the authors' small
experiments, split as their code splits them.

Examples
--------
>>> from smallworld_eqp import datasets
>>> ds = datasets.load("digits")
>>> ds.n_train, ds.n_test, ds.n_features, ds.n_classes
(1497, 300, 64, 10)
>>> sum(x.shape[0] for _, x, _ in ds.batches(100, shuffle_seed=0))
1497
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np

from .validate import check_choice, check_int, check_random_state

TASKS = ("classification", "regression")
ENV_VAR = "SMALLWORLD_EQP_DATA"
SPLITS = ("train", "test")

# The four IDX files of MNIST and Fashion-MNIST, in this order.
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
N_CLASSES = 10

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


def _readonly_view(a: np.ndarray) -> np.ndarray:
    # A view leaves the caller's array writeable; over a read-only base (the
    # cached arrays, see _frozen) it cannot be made writeable again.
    v = a.view()
    v.flags.writeable = False
    return v


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mark arrays this module owns (and caches) read-only, in place."""
    for a in arrays:
        a.flags.writeable = False
    return arrays


@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs and targets of a training and a test split.

    Parameters
    ----------
    name : str
        Name of the data set, e.g. ``"mnist"``.
    x_train, x_test : ndarray of float32, shape (n, n_features)
        Inputs in [0, 1], one row per example.
    y_train, y_test : ndarray of float32, shape (n, n_outputs)
        One-hot targets (classification) or real targets in [0, 1] (regression).
    task : {"classification", "regression"}
        What the error of a prediction is: the misclassification rate (argmax of
        the outputs against argmax of the target), or the cost C of eq. 4,
        ``0.5 ||y - y_d||^2``, averaged over examples.

    The arrays are stored as read-only C-contiguous float32 views (converted when
    needed); shapes, the [0, 1] ranges and the one-hot targets are checked.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str = "classification"

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        for field in ("x_train", "y_train", "x_test", "y_test"):
            a = np.ascontiguousarray(getattr(self, field), dtype=np.float32)
            if a.ndim != 2:
                raise ValueError(f"{field} must be 2-D (examples, values), got shape {a.shape}")
            object.__setattr__(self, field, _readonly_view(a))
        for split in SPLITS:
            x, y = self._arrays(split)
            if x.shape[0] != y.shape[0] or x.shape[0] == 0:
                raise ValueError(
                    f"x_{split} and y_{split} must have the same positive number of rows, got {x.shape[0]} and {y.shape[0]}"
                )
            if not (x.min() >= 0 and x.max() <= 1):
                raise ValueError(f"x_{split} values must lie in [0, 1], got range [{x.min()}, {x.max()}]")
            if self.task == "regression" and not (y.min() >= 0 and y.max() <= 1):
                raise ValueError(
                    f"y_{split}: regression targets must lie in [0, 1] (the outputs' range), got range [{y.min()}, {y.max()}]"
                )
            if self.task == "classification" and not (
                np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)
            ):
                raise ValueError(f"y_{split} must be one-hot: each row one 1 and otherwise 0")
        if self.x_train.shape[1] != self.x_test.shape[1] or self.y_train.shape[1] != self.y_test.shape[1]:
            raise ValueError(
                f"train and test columns disagree: x {self.x_train.shape[1]} vs {self.x_test.shape[1]}, y {self.y_train.shape[1]} vs {self.y_test.shape[1]}"
            )

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Columns of the targets: the output layer's size."""
        return int(self.y_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Classes of a classification (its number of outputs)."""
        return self.n_outputs

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def labels_train(self) -> np.ndarray:
        """Class index of every training example (int64)."""
        return self.y_train.argmax(axis=1)

    @property
    def labels_test(self) -> np.ndarray:
        """Class index of every test example (int64)."""
        return self.y_test.argmax(axis=1)

    def _arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split == "train":
            return self.x_train, self.y_train
        if split == "test":
            return self.x_test, self.y_test
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")

    def n_batches(self, batch_size: int, split: str = "train", *, fixed_groups: bool = False) -> int:
        """Number of batches :meth:`batches` yields (the last one may be smaller, unless
        ``fixed_groups``, which drops the remainder)."""
        b = check_int("batch_size", batch_size, low=1)
        n = self._arrays(split)[0].shape[0]
        return n // b if fixed_groups else -(-n // b)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle_seed: int | np.random.Generator | None = None,
        split: str = "train",
        fixed_groups: bool = False,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(indices, x, y)`` for consecutive batches covering the split once.

        Parameters
        ----------
        batch_size : int
            Examples per batch; the last batch holds the remainder (nothing is dropped).
        shuffle_seed : int or numpy.random.Generator, optional
            Visit the examples in a permutation drawn from this seed; ``None`` keeps
            the stored order.
        split : {"train", "test"}
        fixed_groups : bool
            The authors' code's batches: fixed groups of ``batch_size`` consecutive
            examples (the remainder dropped); ``shuffle_seed`` permutes the order of
            the groups, not the examples, so the same seed gives the same batches.

        Yields
        ------
        indices : ndarray of int64, shape (b,)
            Rows of ``x_<split>`` in the batch, so per-example state can be kept.
        x : ndarray of float32, shape (b, n_features), read-only
        y : ndarray of float32, shape (b, n_classes), read-only
        """
        b = check_int("batch_size", batch_size, low=1)
        x, y = self._arrays(split)
        n = x.shape[0]
        if fixed_groups:
            n_groups = n // b
            groups = (
                np.arange(n_groups)
                if shuffle_seed is None
                else check_random_state(shuffle_seed, "shuffle_seed").permutation(n_groups)
            )
            for g in groups:
                start = int(g) * b
                yield np.arange(start, start + b, dtype=np.int64), x[start : start + b], y[start : start + b]
            return
        if shuffle_seed is None:
            for start in range(0, n, b):
                stop = min(start + b, n)
                yield np.arange(start, stop, dtype=np.int64), x[start:stop], y[start:stop]
            return
        order = check_random_state(shuffle_seed, "shuffle_seed").permutation(n)
        for start in range(0, n, b):
            idx = _readonly_view(order[start : start + b])
            yield idx, _readonly_view(x[idx]), _readonly_view(y[idx])

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` training and ``n_test`` test examples (``None``: all)."""
        n_train = self.n_train if n_train is None else _count(n_train, "n_train", self.n_train, self.name)
        n_test = self.n_test if n_test is None else _count(n_test, "n_test", self.n_test, self.name)
        return replace(
            self,
            x_train=self.x_train[:n_train],
            y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test],
            y_test=self.y_test[:n_test],
        )

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {self.task}, train={self.n_train}, test={self.n_test}, features={self.n_features}, outputs={self.n_outputs})"


def _count(value: object, what: str, available: int, name: str) -> int:
    v = check_int(what, value, low=1)
    if v > available:
        raise ValueError(
            f"{what}={v} is more than the {available} examples {name} has; allowed: 1 to {available}"
        )
    return v


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
    from tqdm.auto import tqdm

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


@functools.lru_cache(maxsize=1)
def _load_digits(data_dir: pathlib.Path | None, download: bool) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.data / 16).astype(np.float32)
    y = np.eye(N_CLASSES, dtype=np.float32)[bunch.target]
    x_train, x_test, y_train, y_test = _frozen(
        *train_test_split(x, y, test_size=300, stratify=bunch.target, random_state=0)
    )
    return Dataset("digits", x_train, y_train, x_test, y_test)


def _min_max(a: np.ndarray) -> np.ndarray:
    """Each column scaled to [0, 1] as the authors' code scales it (min subtracted,
    then divided by the new max)."""
    a = a - a.min(axis=0)
    return a / a.max(axis=0)


def _authors_split(name: str, x: np.ndarray, y: np.ndarray, n_train: int, task: str) -> Dataset:
    """The authors' split of a small data set: the examples in the order
    ``numpy.random.shuffle`` gives them after ``numpy.random.seed(0)`` (their runs'
    seed), the first ``n_train`` for training, the rest for testing."""
    order = np.random.RandomState(0).permutation(x.shape[0])
    x, y = x[order].astype(np.float32), y[order].astype(np.float32)
    return Dataset(name, *_frozen(x[:n_train], y[:n_train], x[n_train:], y[n_train:]), task=task)


@functools.lru_cache(maxsize=1)
def _load_diabetes(data_dir: pathlib.Path | None, download: bool) -> Dataset:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    return _authors_split("diabetes", _min_max(x), _min_max(y.reshape(-1, 1)), 400, "regression")


@functools.lru_cache(maxsize=1)
def _load_wine(data_dir: pathlib.Path | None, download: bool) -> Dataset:
    from sklearn.datasets import load_wine

    x, labels = load_wine(return_X_y=True)
    return _authors_split("wine", _min_max(x), np.eye(3)[labels], 150, "classification")


def _load_idx(name: str) -> Callable[[pathlib.Path | None, bool], Dataset]:
    def load_files(data_dir: pathlib.Path | None, download: bool) -> Dataset:
        root = data_dir if data_dir is not None else default_data_dir()
        paths = _locate(name, root, download)
        return _load_idx_dataset(name, tuple(_file_key(p) for p in paths))

    return load_files


#: Every data set by name: ``loader(data_dir, download) -> Dataset`` (all of it).
DATASETS: dict[str, Callable[[pathlib.Path | None, bool], Dataset]] = {
    "digits": _load_digits,
    "mnist": _load_idx("mnist"),
    "fashion-mnist": _load_idx("fashion-mnist"),
    "diabetes": _load_diabetes,
    "wine": _load_wine,
}


def load(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    download: bool = True,
) -> Dataset:
    """Load a data set, optionally only its first examples.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`. ``digits``: scikit-learn's 1,797 8x8 digits
        scaled to [0, 1], split into 1,497 training and 300 test examples
        (stratified, fixed seed); offline. ``mnist`` / ``fashion-mnist``: 60,000 +
        10,000 28x28 images flattened row-major to 784 values ``uint8 / 255``.
        ``diabetes``: scikit-learn's 442 patients, 10 features and the disease
        progression, all min-max scaled to [0, 1], a regression; 400 training and
        42 test examples. ``wine``: 178 wines, 13 features min-max scaled, 3
        classes; 150 training and 28 test examples. Both split as the authors'
        code splits them for its seed 0 (offline).
    data_dir : str or path-like, optional
        Folder holding ``mnist/`` and ``fashion-mnist/``; default
        :func:`default_data_dir`. Ignored for ``digits``.
    n_train, n_test : int, optional
        Keep the FIRST n examples of each split (the paper trained on the first
        50,000 MNIST training images); ``None`` keeps all.
    download : bool
        Download missing IDX files (MD5-checked) into the data folder.

    Returns
    -------
    Dataset
        Read-only arrays, shared with an in-process cache keyed on the files'
        paths, modification times and sizes.

    Raises
    ------
    ValueError
        Unknown name, or ``n_train`` / ``n_test`` not in 1..available.
    DataNotFoundError
        Files missing and not downloadable (a :class:`FileNotFoundError`).
    ChecksumError
        A ``.gz`` file, found or downloaded, does not have its published MD5.
    IdxFormatError
        A malformed IDX file, or label and image counts that disagree.
    """
    loader = DATASETS[check_choice("dataset", name, tuple(DATASETS))]
    full = loader(None if data_dir is None else pathlib.Path(data_dir).expanduser(), download)
    return full.subset(n_train, n_test)
