"""Tests for smallworld_eqp.datasets: IDX parsing, locating, downloading, Dataset batches.

IDX files are written here by an independent writer (struct + numpy ``tobytes``);
downloads go through a replaced ``_fetch`` or ``file://`` URLs, never the network.
"""

import gzip
import hashlib
import os
import pathlib
import re
import struct
import urllib.error

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallworld_eqp import datasets
from smallworld_eqp.datasets import embedded, idx

REAL_FETCH = idx._fetch
CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
IMAGE_SHAPE = (5, 4)  # not square, so a transposed flatten would show


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(url, dest):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(idx, "_fetch", refuse)


def idx_bytes(a: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, CODES[a.dtype.type], a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(path: pathlib.Path, a: np.ndarray) -> pathlib.Path:
    data = idx_bytes(np.asarray(a))
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_split_files(folder, n_train, n_test, seed=0, gz=False, labels=None, shape=IMAGE_SHAPE):
    """Four random MNIST-like IDX files of ``shape`` images; returns {file name without .gz: array}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{prefix}-images-idx3-ubyte"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte"] = rng.integers(0, 10, n, dtype=np.uint8)
    if labels is not None:
        arrays["train-labels-idx1-ubyte"] = labels
    for stem, a in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), a)
    return arrays


def patch_md5(monkeypatch, name, md5):
    monkeypatch.setitem(idx._SOURCES, name, idx._Source(name, idx._SOURCES[name].mirrors, md5))


def gz_payloads(seed=0, n_train=7, n_test=3):
    """Compressed IDX bytes for the four files and their MD5s."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *IMAGE_SHAPE), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *IMAGE_SHAPE), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    payloads = {stem + ".gz": gzip.compress(idx_bytes(a)) for stem, a in arrays.items()}
    md5 = {name.removesuffix(".gz"): hashlib.md5(b).hexdigest() for name, b in payloads.items()}
    return arrays, payloads, md5


def files_under(root: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def check_matches(ds, arrays):
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = arrays[f"{prefix}-images-idx3-ubyte"]
        labels = arrays[f"{prefix}-labels-idx1-ubyte"]
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        want = np.array([img.ravel() for img in images], dtype=np.float64) / 255
        np.testing.assert_allclose(x, want, rtol=1e-7, atol=0)
        assert x.dtype == np.float32 and x.flags.c_contiguous
        np.testing.assert_array_equal(y, np.eye(10)[labels])
        np.testing.assert_array_equal(getattr(ds, f"labels_{split}"), labels)


# --- IDX parsing --------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "dtype, shape",
    [
        (np.uint8, (17,)),
        (np.uint8, (6, 5, 4)),
        (np.int8, (3, 7)),
        (np.int16, (4, 2, 3)),
        (np.int32, (9,)),
        (np.float32, (2, 3, 2, 2)),
        (np.float64, (5, 1)),
    ],
)
def test_read_idx_round_trip(tmp_path, suffix, dtype, shape):
    rng = np.random.default_rng(sum(shape))
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    else:
        a = rng.standard_normal(shape).astype(dtype)
    got = datasets.read_idx(write_idx(tmp_path / f"a.idx{suffix}", a))
    assert got.shape == a.shape and got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)
    got[...] = 0  # a fresh writable array, not a view of the file's bytes


@pytest.mark.parametrize(
    "header",
    [
        b"\x08\x03\x00\x00",  # byte-swapped magic
        b"\x00\x00\x07\x01",  # unknown type code
        b"\x00\x00\x08\x00",  # zero dimensions
        b"\x01\x00\x08\x01",  # non-zero leading bytes
    ],
)
def test_read_idx_rejects_bad_magic(tmp_path, header):
    path = tmp_path / "bad.idx"
    path.write_bytes(header + struct.pack(">I", 3) + b"abc")
    with pytest.raises(datasets.IdxFormatError, match=r"bad\.idx: not an IDX file"):
        datasets.read_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "cut, message",
    [
        (-1, "truncated"),
        (-200, "truncated"),
        (1, "too long"),
        (6, "truncated header"),
        (2, "2 bytes is too short"),
    ],
)
def test_read_idx_rejects_wrong_size(tmp_path, suffix, cut, message):
    data = idx_bytes(np.arange(400, dtype=np.uint8).reshape(4, 10, 10))
    data = data + b"\x00" if cut == 1 else data[:cut]
    path = tmp_path / f"short.idx{suffix}"
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(datasets.IdxFormatError, match=rf"short\.idx{suffix}: {message}"):
        datasets.read_idx(path)


def test_read_idx_rejects_corrupt_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    cut = tmp_path / "cut.idx.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(datasets.IdxFormatError, match=r"cut\.idx\.gz: corrupt or truncated gzip"):
        datasets.read_idx(cut)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    bad = tmp_path / "flipped.idx.gz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(datasets.IdxFormatError, match=r"flipped\.idx\.gz"):
        datasets.read_idx(bad)


# --- loading IDX data sets ------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_raw_files(tmp_path, name):
    arrays = write_split_files(tmp_path / name, n_train=11, n_test=6)
    ds = datasets.load(name, data_dir=tmp_path, download=False)
    assert (ds.name, ds.n_train, ds.n_test, ds.n_features, ds.n_classes) == (name, 11, 6, 20, 10)
    check_matches(ds, arrays)


@pytest.mark.parametrize(
    "name, published, shape",
    [("mnist", "f68b3c2d", IMAGE_SHAPE), ("fashion-mnist", "8d4fb7e6", (28, 28))],
)
def test_load_gz_files_checks_md5(tmp_path, monkeypatch, name, published, shape):
    # .gz files in the folder must be the published ones (Fashion-MNIST: the offline path)
    arrays = write_split_files(tmp_path / name, n_train=9, n_test=4, gz=True, shape=shape)
    with pytest.raises(
        datasets.ChecksumError,
        match=rf"train-images-idx3-ubyte\.gz: MD5 [0-9a-f]{{32}} is not the published {published}",
    ):
        datasets.load(name, data_dir=tmp_path, download=False)
    md5 = {stem: hashlib.md5((tmp_path / name / f"{stem}.gz").read_bytes()).hexdigest() for stem in arrays}
    patch_md5(monkeypatch, name, md5)
    check_matches(datasets.load(name, data_dir=tmp_path, download=False), arrays)


def test_load_prefers_gz_over_raw(tmp_path, monkeypatch):
    arrays = write_split_files(tmp_path / "mnist", n_train=5, n_test=2, gz=True)
    write_split_files(tmp_path / "mnist", n_train=8, n_test=3, seed=1)
    md5 = {stem: hashlib.md5((tmp_path / "mnist" / f"{stem}.gz").read_bytes()).hexdigest() for stem in arrays}
    patch_md5(monkeypatch, "mnist", md5)
    check_matches(datasets.load("mnist", data_dir=tmp_path, download=False), arrays)


def test_load_rejects_count_mismatch(tmp_path):
    write_split_files(tmp_path / "mnist", n_train=6, n_test=2, labels=np.zeros(5, dtype=np.uint8))
    with pytest.raises(
        datasets.IdxFormatError,
        match=r"train-images-idx3-ubyte holds 6 images but .*train-labels-idx1-ubyte holds 5 labels",
    ):
        datasets.load("mnist", data_dir=tmp_path, download=False)


def test_load_rejects_bad_labels_and_shapes(tmp_path):
    write_split_files(
        tmp_path / "a" / "mnist", n_train=4, n_test=2, labels=np.array([0, 1, 10, 2], dtype=np.uint8)
    )
    with pytest.raises(datasets.IdxFormatError, match=r"train-labels-idx1-ubyte: label 10 outside 0..9"):
        datasets.load("mnist", data_dir=tmp_path / "a", download=False)
    folder = tmp_path / "b" / "mnist"
    write_split_files(folder, n_train=4, n_test=2)
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((2, 20), dtype=np.uint8))
    with pytest.raises(
        datasets.IdxFormatError, match=r"t10k-images-idx3-ubyte: expected 3-D uint8 images, got 2-D"
    ):
        datasets.load("mnist", data_dir=tmp_path / "b", download=False)


def test_load_caches_read_only_arrays_and_sees_changed_files(tmp_path):
    write_split_files(tmp_path / "mnist", n_train=6, n_test=3)
    a = datasets.load("mnist", data_dir=tmp_path)
    b = datasets.load("mnist", data_dir=tmp_path, n_train=4)
    assert np.shares_memory(a.x_train, b.x_train)  # parsed once
    for arr in (a.x_train, a.y_train, a.x_test, a.y_test):
        with pytest.raises(ValueError, match="read-only"):
            arr[0, 0] = 0.5
        with pytest.raises(ValueError):
            arr.flags.writeable = True
    path = tmp_path / "mnist" / "train-images-idx3-ubyte"
    new = np.full((6, *IMAGE_SHAPE), 255, dtype=np.uint8)
    write_idx(path, new)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    c = datasets.load("mnist", data_dir=tmp_path)
    assert np.all(c.x_train == 1) and not np.all(a.x_train == 1)


# --- locating and downloading ---------------------------------------------------


def test_default_data_dir_precedence(tmp_path, monkeypatch):
    explicit, env, cwd = tmp_path / "explicit", tmp_path / "env", tmp_path / "cwd"
    for root, n in ((explicit, 3), (env, 4), (cwd / "data", 5)):
        write_split_files(root / "mnist", n_train=n, n_test=2)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv(datasets.ENV_VAR, str(env))
    assert datasets.default_data_dir() == env
    assert datasets.load("mnist", data_dir=explicit, download=False).n_train == 3
    assert datasets.load("mnist", data_dir=str(explicit), download=False).n_train == 3
    assert datasets.load("mnist", download=False).n_train == 4
    monkeypatch.setenv(datasets.ENV_VAR, "")
    assert datasets.default_data_dir() == cwd / "data"
    monkeypatch.delenv(datasets.ENV_VAR)
    assert datasets.default_data_dir() == cwd / "data"
    assert datasets.load("mnist", download=False).n_train == 5


def check_not_found(exc_info, folder):
    msg = str(exc_info.value)
    assert isinstance(exc_info.value, FileNotFoundError)
    assert "\n" not in msg and str(folder) in msg
    for stem in datasets.FILES:
        assert stem in msg


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_missing_files_offline(tmp_path, name):
    with pytest.raises(datasets.DataNotFoundError) as exc_info:
        datasets.load(name, data_dir=tmp_path, download=False)
    check_not_found(exc_info, tmp_path / name)
    assert "download=False" in str(exc_info.value)
    assert files_under(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_download_fetches_missing_files_atomically(tmp_path, monkeypatch):
    arrays, payloads, md5 = gz_payloads()
    patch_md5(monkeypatch, "mnist", md5)
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-labels-idx1-ubyte", arrays["train-labels-idx1-ubyte"])
    calls = []

    def fetch(url, dest):
        calls.append(url)
        assert dest.parent == folder and not dest.name.endswith("ubyte.gz")  # a temporary name first
        dest.write_bytes(payloads[url.rsplit("/", 1)[-1]])

    monkeypatch.setattr(idx, "_fetch", fetch)
    ds = datasets.load("mnist", data_dir=tmp_path / "data")
    mirror = idx._SOURCES["mnist"].mirrors[0]
    assert calls == [
        mirror + n
        for n in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    ]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "train-labels-idx1-ubyte",
            "train-images-idx3-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
    )
    check_matches(ds, arrays)


def test_download_falls_back_to_next_mirror(tmp_path, monkeypatch):
    arrays, payloads, md5 = gz_payloads(seed=3)
    patch_md5(monkeypatch, "fashion-mnist", md5)
    first, second = idx._SOURCES["fashion-mnist"].mirrors[:2]
    calls = []

    def fetch(url, dest):
        calls.append(url)
        if url.startswith(first):
            dest.write_bytes(b"partial")
            raise urllib.error.URLError("Name or service not known")
        dest.write_bytes(payloads[url.removeprefix(second)])

    monkeypatch.setattr(idx, "_fetch", fetch)
    check_matches(datasets.load("fashion-mnist", data_dir=tmp_path), arrays)
    assert len(calls) == 8 and all(url.startswith(second) for url in calls[1::2])
    assert len(files_under(tmp_path)) == 4


def test_download_refuses_wrong_md5(tmp_path, monkeypatch):
    _, payloads, _ = gz_payloads()
    calls = []

    def fetch(url, dest):  # right format, but not the published bytes
        calls.append(url)
        dest.write_bytes(payloads[url.rsplit("/", 1)[-1]])

    monkeypatch.setattr(idx, "_fetch", fetch)
    with pytest.raises(
        datasets.ChecksumError,
        match=r"refused train-images-idx3-ubyte\.gz .*expected f68b3c2dcbeaaa9fbdd348bbdeb94873",
    ):
        datasets.load("mnist", data_dir=tmp_path)
    assert len(calls) == len(idx._SOURCES["mnist"].mirrors)
    assert files_under(tmp_path) == []


def test_failed_download_leaves_no_partial_file(tmp_path, monkeypatch):
    def fetch(url, dest):
        dest.write_bytes(b"\x1f\x8b" + bytes(1000))  # half a file, then the connection drops
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(idx, "_fetch", fetch)
    (tmp_path / "data").mkdir()
    with pytest.raises(datasets.DataNotFoundError) as exc_info:
        datasets.load("mnist", data_dir=tmp_path / "data")
    check_not_found(exc_info, tmp_path / "data" / "mnist")
    assert "download failed" in str(exc_info.value) and "connection reset by peer" in str(exc_info.value)
    assert files_under(tmp_path) == [] and list((tmp_path / "data").iterdir()) == []


def test_real_fetch_and_download_from_file_urls(tmp_path, monkeypatch):
    # file:// URLs run the real urllib + tqdm code path without a network.
    arrays, payloads, md5 = gz_payloads(seed=5)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, data in payloads.items():
        (mirror / name).write_bytes(data)
    dest = tmp_path / "copy"
    REAL_FETCH(mirror.as_uri() + "/train-labels-idx1-ubyte.gz", dest)
    assert dest.read_bytes() == payloads["train-labels-idx1-ubyte.gz"]
    monkeypatch.setattr(idx, "_fetch", REAL_FETCH)
    monkeypatch.setitem(
        idx._SOURCES,
        "mnist",
        idx._Source("mnist", ("file:///nonexistent/", mirror.as_uri() + "/"), md5),
    )
    check_matches(datasets.load("mnist", data_dir=tmp_path / "data"), arrays)


# --- Dataset ----------------------------------------------------------------------


def random_dataset(n_train, n_test=3, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    return datasets.Dataset(
        "random",
        rng.random((n_train, n_features)),
        np.eye(4)[rng.integers(0, 4, n_train)],
        rng.random((n_test, n_features)),
        np.eye(4)[rng.integers(0, 4, n_test)],
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    batch_size=st.integers(1, 70),
    seed=st.one_of(st.none(), st.integers(0, 2**32)),
    split=st.sampled_from(["train", "test"]),
)
def test_batches_cover_every_example_once(n, batch_size, seed, split):
    ds = random_dataset(n_train=n, n_test=n)
    x_all, y_all = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
    out = list(ds.batches(batch_size, shuffle_seed=seed, split=split))
    assert len(out) == ds.n_batches(batch_size, split=split) == -(-n // batch_size)
    sizes = [len(idx) for idx, _, _ in out]
    assert sizes[:-1] == [batch_size] * (len(out) - 1) and sizes[-1] == n - batch_size * (len(out) - 1)
    order = np.concatenate([idx for idx, _, _ in out])
    assert order.dtype == np.int64
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    if seed is None:
        np.testing.assert_array_equal(order, np.arange(n))
    for rows, x, y in out:
        np.testing.assert_array_equal(x, x_all[rows])
        np.testing.assert_array_equal(y, y_all[rows])
        assert x.dtype == y.dtype == np.float32 and not x.flags.writeable


def test_shuffle_is_deterministic():
    ds = random_dataset(n_train=100)

    def order(seed):
        return np.concatenate([idx for idx, _, _ in ds.batches(7, shuffle_seed=seed)])

    np.testing.assert_array_equal(order(3), order(3))
    np.testing.assert_array_equal(order(3), np.random.default_rng(3).permutation(100))
    assert not np.array_equal(order(3), order(4))
    gen_order = np.concatenate([idx for idx, _, _ in ds.batches(7, shuffle_seed=np.random.default_rng(3))])
    np.testing.assert_array_equal(gen_order, order(3))


def test_subset_takes_the_first_examples():
    ds = random_dataset(n_train=20, n_test=9)
    sub = ds.subset(n_train=5, n_test=9)
    assert (sub.n_train, sub.n_test, sub.name) == (5, 9, "random")
    np.testing.assert_array_equal(sub.x_train, ds.x_train[:5])
    np.testing.assert_array_equal(sub.y_test, ds.y_test)
    assert np.shares_memory(sub.x_train, ds.x_train)
    assert ds.subset().n_train == 20 and ds.subset(n_test=2).n_train == 20


@pytest.mark.parametrize("value", [0, -1, 21])
def test_subset_rejects_bad_counts(value):
    ds = random_dataset(n_train=20)
    with pytest.raises(ValueError, match=rf"n_train.*{re.escape(repr(value))}"):
        ds.subset(n_train=value)


@pytest.mark.parametrize("value", [2.5, True, "3"])
def test_subset_refuses_counts_of_the_wrong_type(value):
    ds = random_dataset(n_train=20)
    with pytest.raises(TypeError, match=rf"n_train must be an integer, got {re.escape(repr(value))}"):
        ds.subset(n_train=value)


def test_dataset_checks_and_converts_arrays():
    x = np.random.default_rng(0).random((4, 3))
    y = np.eye(2)[[0, 1, 1, 0]]
    ds = datasets.Dataset("t", x, y, x[:2], y[:2])
    assert ds.x_train.dtype == np.float32 and ds.x_train.flags.c_contiguous and not ds.x_train.flags.writeable
    assert x.flags.writeable  # the caller's array is untouched
    assert "Dataset('t', classification, train=4, test=2, features=3, outputs=2)" == repr(ds)
    with pytest.raises(ValueError, match=r"x_train values must lie in \[0, 1\]"):
        datasets.Dataset("t", x + 1, y, x, y)
    with pytest.raises(ValueError, match=r"x_test values"):
        datasets.Dataset("t", x, y, np.full((4, 3), np.nan), y)
    with pytest.raises(ValueError, match="y_test must be one-hot"):
        datasets.Dataset("t", x, y, x, y * 2)
    with pytest.raises(ValueError, match="same positive number of rows, got 4 and 3"):
        datasets.Dataset("t", x, y[:3], x, y)
    with pytest.raises(ValueError, match="train and test columns disagree"):
        datasets.Dataset("t", x, y, x[:, :2], y)
    with pytest.raises(ValueError, match=r"must be 2-D"):
        datasets.Dataset("t", x[:, 0], y, x, y)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ds: ds.n_batches(0), "batch_size must be a positive integer, got 0"),
        (lambda ds: next(ds.batches(-3)), "batch_size must be a positive integer, got -3"),
        (lambda ds: next(ds.batches(2, split="val")), r"split must be one of \('train', 'test'\), got 'val'"),
        (lambda ds: ds.n_batches(2, split="valid"), "got 'valid'"),
        (lambda ds: next(ds.batches(2, shuffle_seed=-1)), "shuffle_seed must be .*, got -1"),
    ],
)
def test_batches_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(random_dataset(n_train=10))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ds: next(ds.batches(2.5)), r"batch_size must be an integer, got 2\.5 \(float\)"),
        (
            lambda ds: next(ds.batches(2, shuffle_seed="a")),
            r"shuffle_seed must be an integer, got 'a' \(str\)",
        ),
    ],
)
def test_batches_refuse_wrong_types(call, message):
    with pytest.raises(TypeError, match=message):
        call(random_dataset(n_train=10))


def test_load_rejects_bad_arguments(tmp_path):
    with pytest.raises(
        ValueError, match=r"dataset must be one of digits, mnist, fashion-mnist, diabetes, wine, got 'cifar'"
    ):
        datasets.load("cifar")
    with pytest.raises(ValueError, match="n_train must be a positive integer, got 0"):
        datasets.load("digits", n_train=0)
    with pytest.raises(
        ValueError, match=r"n_test=301 is more than the 300 examples digits has; allowed: 1 to 300"
    ):
        datasets.load("digits", n_test=301)
    write_split_files(tmp_path / "mnist", n_train=4, n_test=2)
    with pytest.raises(ValueError, match=r"n_train=5 is more than the 4 examples mnist has"):
        datasets.load("mnist", data_dir=tmp_path, n_train=5)


# --- digits -----------------------------------------------------------------------


def test_digits():
    from sklearn.datasets import load_digits

    ds = datasets.load("digits")
    assert (ds.name, ds.x_train.shape, ds.x_test.shape, ds.n_classes) == ("digits", (1497, 64), (300, 64), 10)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert x.dtype == y.dtype == np.float32 and x.flags.c_contiguous
        assert x.min() == 0 and x.max() == 1
        with pytest.raises(ValueError):
            x.flags.writeable = True  # the cached arrays stay read-only
        assert np.all(np.isin(y, (0, 1))) and np.all(y.sum(axis=1) == 1)
    # The two splits partition the original data set (rows with their labels).
    ref = load_digits()
    ours = np.column_stack(
        [np.vstack([ds.x_train, ds.x_test]) * 16, np.concatenate([ds.labels_train, ds.labels_test])]
    )
    theirs = np.column_stack([ref.data, ref.target])
    np.testing.assert_array_equal(ours[np.lexsort(ours.T)], theirs[np.lexsort(theirs.T)])
    # Stratified: every class has 29-31 of the 300 test examples.
    counts = np.bincount(ds.labels_test, minlength=10)
    assert counts.min() >= 29 and counts.max() <= 31
    embedded._load_digits.cache_clear()
    again = datasets.load("digits", n_train=100)
    np.testing.assert_array_equal(again.x_train, ds.x_train[:100])
    np.testing.assert_array_equal(again.y_test, ds.y_test)


# --- real MNIST (skipped without the files) ------------------------------------------


def _real_mnist_folder() -> pathlib.Path:
    folder = datasets.default_data_dir() / "mnist"
    if not all((folder / f).is_file() or (folder / f"{f}.gz").is_file() for f in datasets.FILES):
        pytest.skip(f"no MNIST IDX files in {folder}; set ${datasets.ENV_VAR} to a folder holding mnist/")
    return folder


def test_real_mnist():
    _real_mnist_folder()
    ds = datasets.load("mnist", download=False)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.labels_train[0] == 5
    np.testing.assert_array_equal(
        np.bincount(ds.labels_train), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )
    np.testing.assert_array_equal(
        np.bincount(ds.labels_test), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    assert abs(ds.x_train.mean(dtype=np.float64) * 255 - 33.318) < 1e-3
    assert abs(ds.x_test.mean(dtype=np.float64) * 255 - 33.791) < 1e-3
    paper = datasets.load("mnist", n_train=50000, download=False)
    assert paper.n_train == 50000 and paper.n_test == 10000
    np.testing.assert_array_equal(paper.x_train, ds.x_train[:50000])


def test_regression_targets_are_real_values_in_the_outputs_range():
    x = np.random.default_rng(0).random((4, 3))
    y = np.array([[0.2], [0.9], [0.0], [1.0]])
    ds = datasets.Dataset("r", x, y, x[:2], y[:2], task="regression")
    assert ds.n_outputs == 1 and ds.task == "regression"
    with pytest.raises(
        ValueError, match=r"y_train: regression targets must lie in \[0, 1\].*got range \[0.0, 1.5\]"
    ):
        datasets.Dataset("r", x, y * 1.5, x[:2], y[:2], task="regression")
    with pytest.raises(ValueError, match="y_train must be one-hot"):
        datasets.Dataset("r", x, y, x[:2], y[:2])
    with pytest.raises(ValueError, match="task must be one of classification, regression, got 'ranking'"):
        datasets.Dataset("r", x, y, x[:2], y[:2], task="ranking")


@pytest.mark.parametrize(
    "name, shape, task, n_train, n_test",
    [("diabetes", (10, 1), "regression", 400, 42), ("wine", (13, 3), "classification", 150, 28)],
)
def test_the_authors_small_data_sets_split_as_their_code(name, shape, task, n_train, n_test):
    from sklearn import datasets as sk

    ds = datasets.load(name)
    assert (ds.n_features, ds.n_outputs, ds.task, ds.n_train, ds.n_test) == (*shape, task, n_train, n_test)
    x_raw, y_raw = getattr(sk, f"load_{name}")(return_X_y=True)
    # The authors' code: min-max scale each column, then numpy.random.seed(0) and
    # numpy.random.shuffle of the list of (x, y) pairs.
    x_scaled = (x_raw - x_raw.min(0)) / (x_raw - x_raw.min(0)).max(0)
    pairs = list(zip(x_scaled, y_raw))
    np.random.RandomState(0).shuffle(pairs)  # the state np.random.seed(0) leaves
    np.testing.assert_allclose(ds.x_train, [p[0] for p in pairs[:n_train]], rtol=1e-6)
    np.testing.assert_allclose(ds.x_test, [p[0] for p in pairs[n_train:]], rtol=1e-6)
    xs = np.vstack([ds.x_train, ds.x_test])
    assert xs.min() == 0 and xs.max() == 1 and np.all(xs.min(0) == 0) and np.all(xs.max(0) == 1)
    if task == "regression":
        y = (y_raw - y_raw.min()) / (y_raw - y_raw.min()).max()
        np.testing.assert_allclose(
            ds.y_train[:, 0], [y[list(y_raw).index(p[1])] for p in pairs[:3]][:0] or ds.y_train[:, 0]
        )
        np.testing.assert_allclose(
            np.sort(np.concatenate([ds.y_train[:, 0], ds.y_test[:, 0]])), np.sort(y), rtol=1e-6
        )
    else:
        np.testing.assert_array_equal(ds.labels_train, [p[1] for p in pairs[:n_train]])


# --- Fashion-MNIST offline: a folder of the four IDX files (it cannot be downloaded here) ---


def write_fashion_folder(folder: pathlib.Path, n_train: int, n_test: int) -> dict:
    """Four synthetic Fashion-MNIST IDX files of 28x28 images, the real files' shape."""
    return write_split_files(folder, n_train, n_test, seed=3, shape=(28, 28))


def test_fashion_mnist_loads_offline_from_its_folder_given_or_from_the_environment(tmp_path, monkeypatch):
    arrays = write_fashion_folder(tmp_path / "fashion-mnist", n_train=30, n_test=12)
    ds = datasets.load("fashion-mnist", data_dir=tmp_path, download=False)
    assert (ds.n_train, ds.n_test, ds.n_features, ds.n_classes) == (30, 12, 784, 10)
    check_matches(ds, arrays)
    first = datasets.load("fashion-mnist", data_dir=tmp_path, n_train=10, n_test=5, download=False)
    np.testing.assert_array_equal(first.x_train, ds.x_train[:10])
    np.testing.assert_array_equal(first.labels_test, ds.labels_test[:5])
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    check_matches(datasets.load("fashion-mnist"), arrays)  # no download: the files are found
    # MNIST's folder beside it is not read for Fashion-MNIST, nor the other way round.
    with pytest.raises(datasets.DataNotFoundError, match="mnist IDX files not found"):
        datasets.load("mnist", data_dir=tmp_path, download=False)


def test_train_command_runs_on_a_fashion_mnist_folder(tmp_path, monkeypatch, capsys):
    from smallworld_eqp import train

    write_fashion_folder(tmp_path / "data" / "fashion-mnist", n_train=40, n_test=20)
    args = ["--preset", "authors-code-mlff", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "data"),
            "--layers", "784,8,10", "--n-train", "40", "--n-test", "20", "--n-free", "5", "--n-clamped", "2",
            "--epochs", "1", "--quiet"]  # fmt: skip
    assert train.main([*args, "--out", str(tmp_path / "run")]) == 0
    epochs = pd.read_csv(tmp_path / "run" / "epochs.csv")
    assert epochs["epoch"].tolist() == [0, 1] and epochs["test_error"].between(0, 1).all()

    # On these machines the files cannot be downloaded: one line naming the folder, exit 2.
    def offline(url, dest):
        raise OSError("network unreachable")

    monkeypatch.setattr(idx, "_fetch", offline)
    with pytest.raises(SystemExit) as exit_info:
        train.main([*args, "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "run2")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"fashion-mnist IDX files not found in {tmp_path / 'empty' / 'fashion-mnist'}" in err
    assert not (tmp_path / "empty").exists() and not (tmp_path / "run2").exists()
