"""Run many trials and keep every finished one: append-only CSVs, resume, scale-out.

Trials run serially, in local worker processes, or on a Dask cluster
(``dask.distributed``) given a scheduler address; setting up the cluster is the
user's business. Each finished trial's row is appended to the CSV in one write as
soon as it arrives, so an interrupted sweep (Ctrl-C, ``kill -9``, a lost worker)
keeps every finished row, and rerunning the same command skips them.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

from .experiment import TrialSpec, run_trial
from .results import RATES_COLUMNS


class ResultLog:
    """An append-only CSV of rows with fixed columns, safe to resume.

    Opening an existing file checks that its header matches ``columns`` (a CSV
    written for another network depth or by another tool is refused) and drops a
    partial last line left by a killed writer.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        if self.path.exists() and self.path.stat().st_size > 0:
            self._repair()
            header = pd.read_csv(self.path, nrows=0).columns.tolist()
            if header != self.columns:
                missing = [c for c in self.columns if c not in header]
                extra = [c for c in header if c not in self.columns]
                raise ValueError(
                    f"{self.path} holds other results (columns differ: missing {missing[:5]}, "
                    f"unexpected {extra[:5]}); choose another --out"
                )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write(",".join(self.columns) + "\n")

    def _repair(self) -> None:
        with open(self.path, "rb+") as f:
            data = f.read()
            if not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def _write(self, text: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> pd.DataFrame:
        return pd.read_csv(self.path)

    def append(self, rows: pd.DataFrame | Iterable[dict]) -> None:
        """Append rows in a single write (all or nothing on a crash)."""
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        if frame.empty:
            return
        buf = io.StringIO()
        frame.reindex(columns=self.columns).to_csv(buf, header=False, index=False, lineterminator="\n")
        self._write(buf.getvalue())

    def keep_only(self, column: str, allowed: set) -> None:
        """Drop rows whose ``column`` is not in ``allowed`` (atomic rewrite)."""
        frame = self.read()
        keep = frame[column].astype(str).isin(allowed)
        if keep.all():
            return
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        frame[keep].to_csv(tmp, index=False, lineterminator="\n")
        os.replace(tmp, self.path)


def rates_path(out: str | os.PathLike) -> Path:
    """Where a sweep CSV's long-format per-batch rates go: ``NAME_rates.csv`` beside it."""
    out = Path(out)
    return out.with_name(out.stem + "_rates" + out.suffix)


def limit_threads(threads: int) -> None:
    """Use ``threads`` numba threads and single-threaded BLAS in this process.

    Results do not depend on it (the engine is deterministic across thread counts);
    it only keeps workers from oversubscribing the cores.
    """
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    threadpool_limits(limits=1, user_api="blas")


def _run_remote(spec_dict: dict, threads: int) -> tuple[dict, pd.DataFrame]:
    limit_threads(threads)
    return run_trial(TrialSpec.from_dict(spec_dict))


def run_sweep(
    specs: Sequence[TrialSpec],
    out: str | os.PathLike,
    columns: Sequence[str],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    threads: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    on_row: Callable[[dict], None] | None = None,
) -> pd.DataFrame:
    """Run the trials not yet in ``out`` and append one row per trial.

    Parameters
    ----------
    specs : sequence of TrialSpec
    out : path
        The results CSV; per-batch rates go to :func:`rates_path` of it.
    columns : sequence of str
        The CSV's columns (:func:`smallworld_eqp.results.sweep_columns`).
    workers : int
        Local worker processes (1: run in this process).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:port``); overrides ``workers``.
    threads : int, optional
        Numba threads per trial; default: the cores shared among the workers.
    retry_failed : bool
        Run again trials recorded as ``failed`` (``ok`` and ``diverged`` are final).
    progress : bool
        tqdm progress bars.
    on_row : callable, optional
        Called with each new row as it is written.

    Returns
    -------
    pandas.DataFrame
        The rows of ``specs`` as now in the CSV (one per trial, latest kept).
    """
    from tqdm.auto import tqdm

    log = ResultLog(out, columns)
    rates_log = ResultLog(rates_path(out), RATES_COLUMNS)
    done = log.read()
    final = done["status"].isin(["ok", "diverged"]) if retry_failed else done["status"].notna()
    finished = set(done.loc[final, "trial_id"].astype(str))
    rates_log.keep_only("trial_id", set(done["trial_id"].astype(str)))
    seen: set[str] = set()
    todo = []
    for s in specs:
        if s.trial_id not in finished and s.trial_id not in seen:
            todo.append(s)
            seen.add(s.trial_id)

    def record(row: dict, rates: pd.DataFrame) -> None:
        rates_log.append(rates)
        log.append([row])
        if on_row is not None:
            on_row(row)

    n_cores = os.cpu_count() or 1
    bar = tqdm(total=len(todo), desc="trials", unit="trial", disable=not progress or not todo)
    try:
        if scheduler is not None:
            _run_dask(todo, scheduler, threads or 1, record, bar)
        elif workers > 1 and len(todo) > 1:
            per = threads or max(1, n_cores // workers)
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=limit_threads, initargs=(per,)
            ) as ex:
                futures = [ex.submit(run_trial, s) for s in todo]
                for fut in as_completed(futures):
                    record(*fut.result())
                    bar.update()
        else:
            if threads is not None:
                limit_threads(threads)
            for s in todo:
                record(*run_trial(s, progress=progress))
                bar.update()
    finally:
        bar.close()
    frame = log.read()
    frame = frame.drop_duplicates("trial_id", keep="last")
    ids = [s.trial_id for s in specs]
    return frame[frame["trial_id"].astype(str).isin(ids)].reset_index(drop=True)


def _run_dask(todo: list[TrialSpec], scheduler: str, threads: int, record, bar) -> None:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ValueError("--scheduler needs dask.distributed: pip install 'smallworld_eqp[dask]'") from exc
    with Client(scheduler, timeout="20s") as client:
        futures = [
            client.submit(_run_remote, s.to_dict(), threads, key=f"trial-{s.trial_id}", pure=False)
            for s in todo
        ]
        for fut in dask_completed(futures):
            record(*fut.result())
            bar.update()
