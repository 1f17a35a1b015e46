"""The :class:`Dataset`: a data set's training and test arrays, its task, its batches.

Imports: NumPy and :mod:`smallworld_eqp.validate` only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from smallworld_eqp.validate import check_choice, check_int, check_random_state

TASKS = ("classification", "regression")
SPLITS = ("train", "test")
# The classes of MNIST, Fashion-MNIST and the 8x8 digits.
N_CLASSES = 10


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
