"""The small data sets that ship inside scikit-learn: ``digits`` (the offline default),
``diabetes`` (a regression) and ``wine``, the last two split as the authors' code splits them.

Imports: NumPy, scikit-learn (when a set is loaded) and :mod:`.dataset` only.
"""

from __future__ import annotations

import functools
import pathlib

import numpy as np

from smallworld_eqp.datasets.dataset import N_CLASSES, Dataset, _frozen


def _sklearn():
    """scikit-learn's ``datasets`` and ``model_selection`` modules."""
    # scikit-learn takes about a second to import: only when a set of its is loaded.
    from sklearn import datasets, model_selection

    return datasets, model_selection


@functools.lru_cache(maxsize=1)
def _load_digits(data_dir: pathlib.Path | None, download: bool) -> Dataset:
    sk_datasets, model_selection = _sklearn()
    bunch = sk_datasets.load_digits()
    x = (bunch.data / 16).astype(np.float32)
    y = np.eye(N_CLASSES, dtype=np.float32)[bunch.target]
    x_train, x_test, y_train, y_test = _frozen(
        *model_selection.train_test_split(x, y, test_size=300, stratify=bunch.target, random_state=0)
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
    x, y = _sklearn()[0].load_diabetes(return_X_y=True)
    return _authors_split("diabetes", _min_max(x), _min_max(y.reshape(-1, 1)), 400, "regression")


@functools.lru_cache(maxsize=1)
def _load_wine(data_dir: pathlib.Path | None, download: bool) -> Dataset:
    x, labels = _sklearn()[0].load_wine(return_X_y=True)
    return _authors_split("wine", _min_max(x), np.eye(3)[labels], 150, "classification")
