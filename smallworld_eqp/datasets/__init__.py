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

The layer below the engine: it imports NumPy, the standard library and
:mod:`smallworld_eqp.validate`, never numba. The loaders are here; :mod:`.dataset` holds
the :class:`Dataset` class, :mod:`.idx` the IDX files, :mod:`.embedded` the
scikit-learn sets.

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

import os
import pathlib
from collections.abc import Callable

from smallworld_eqp.datasets.dataset import N_CLASSES, SPLITS, TASKS, Dataset
from smallworld_eqp.datasets.embedded import _load_diabetes, _load_digits, _load_wine
from smallworld_eqp.datasets.idx import (
    ENV_VAR,
    FILES,
    ChecksumError,
    DataNotFoundError,
    IdxFormatError,
    _load_idx,
    default_data_dir,
    read_idx,
)
from smallworld_eqp.validate import check_choice

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "FILES",
    "N_CLASSES",
    "SPLITS",
    "TASKS",
    "ChecksumError",
    "DataNotFoundError",
    "Dataset",
    "IdxFormatError",
    "default_data_dir",
    "load",
    "read_idx",
]

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
