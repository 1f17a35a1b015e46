"""Run many trials and keep every finished one: resume, worker processes, Dask.

Trials run serially, one worker process each (at most ``workers`` at once), or on a
Dask cluster (``dask.distributed``) given a scheduler address; setting up the cluster
is the user's business. Each finished trial's row is appended to the results CSV
(:class:`~smallworld_eqp.study.resultlog.ResultLog`) as soon as it arrives, after its
per-batch rates and per-epoch rows in the long tables beside it (:func:`beside_logs`), so an
interrupted sweep (Ctrl-C, ``kill -9``, a lost worker) keeps every finished row and
rerunning the same command skips them. A worker that dies is a failed trial,
recorded; workers ignore Ctrl-C (the sweep's process handles it) and exit when the
sweep's process dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numba
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from smallworld_eqp.graph import measures
from smallworld_eqp.study import schema
from smallworld_eqp.study.resultlog import ResultLog, ResultLogError, read_header
from smallworld_eqp.study.spec import LATER_DEFAULT_CELLS, TrialSpec
from smallworld_eqp.study.trial import failed_trial, run_trial


def beside_path(out: str | os.PathLike, table: str) -> Path:
    """Where a sweep CSV's long table ``table`` (a key of :data:`schema.SWEEP_TABLES`)
    goes: ``NAME_<table>.csv`` beside it."""
    out = Path(out)
    return out.with_name(f"{out.stem}_{table}{out.suffix}")


def rates_path(out: str | os.PathLike) -> Path:
    """Where a sweep CSV's long-format per-batch rates go: ``NAME_rates.csv`` beside it."""
    return beside_path(out, "rates")


def epochs_path(out: str | os.PathLike) -> Path:
    """Where a sweep CSV's per-epoch rows go: ``NAME_epochs.csv`` beside it."""
    return beside_path(out, "epochs")


def beside_logs(out: str | os.PathLike) -> dict[str, ResultLog]:
    """The logs of the long tables beside a sweep CSV (:data:`schema.SWEEP_TABLES`),
    by what they hold, in the order a trial's tables are appended (before its row)."""
    return {
        table: ResultLog(beside_path(out, table), columns, types=types)
        for table, (columns, types) in schema.SWEEP_TABLES.items()
    }


@contextlib.contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` numba threads and single-threaded BLAS inside the block, then
    restore the previous settings (None: change nothing).

    Results do not depend on it (the engine is deterministic across thread counts);
    it only keeps workers from oversubscribing the cores.
    """
    if threads is None:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)


def sweep_log(out: str | os.PathLike, specs: Sequence[TrialSpec]) -> ResultLog:
    """The results log of a sweep: the columns of its deepest network, or of the file's
    when that holds deeper ones (a CSV mixing depths keeps the deepest columns)."""
    depth = max(len(s.layers) for s in specs)
    out = Path(out)
    if out.is_file() and out.stat().st_size:
        header = read_header(out) or []
        depth = max(depth, measures.summary_depth(header))
    return ResultLog(
        out,
        schema.sweep_columns(depth),
        fill=LATER_DEFAULT_CELLS | schema.OLD_DEFAULTS,
        types=schema.SWEEP_TYPES,
    )


def run_sweep(
    specs: Sequence[TrialSpec],
    out: str | os.PathLike,
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
        The results CSV (:func:`sweep_log`); per-batch rates go to
        :func:`rates_path` of it, per-epoch rows to :func:`epochs_path`. All are
        locked while the sweep runs.
    workers : int
        Trials running at once, each in its own process (1: in this process).
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
    # Every file is checked before any is created or locked: a refused sweep leaves
    # no new file behind.
    log = sweep_log(out, specs)
    tables = beside_logs(out)
    _check_tables_match(log, tables)
    with contextlib.ExitStack() as stack:
        # Connect first: a scheduler that cannot be reached leaves no file behind.
        dask = stack.enter_context(_dask_client(scheduler)) if scheduler is not None else None
        stack.enter_context(log)
        for table in tables.values():
            stack.enter_context(table)
        done = _check_tables_match(log, tables)  # again, under the locks
        final = (
            done["status"].isin(["ok", "diverged"]) if retry_failed else done["status"].isin(schema.STATUSES)
        )
        finished = set(done.loc[final, "trial_id"])
        for table in tables.values():
            table.keep_only("trial_id", set(done["trial_id"]))
        todo = list({s.trial_id: s for s in specs if s.trial_id not in finished}.values())

        def record(row: dict, rates: pd.DataFrame, epochs: pd.DataFrame) -> None:
            tables["rates"].append(rates)
            tables["epochs"].append(epochs)
            # A shallower network than the file's deepest leaves its extra layer columns empty.
            log.append([{**dict.fromkeys(log.columns), **row}])
            bar.update()
            if on_row is not None:
                on_row(row)

        bar = tqdm(total=len(todo), desc="trials", unit="trial", disable=not progress or not todo)
        try:
            if dask is not None:
                _run_dask(todo, *dask, threads or 1, record)
            elif workers > 1 and len(todo) > 1:
                _run_processes(todo, workers, threads or max(1, (os.cpu_count() or 1) // workers), record)
            else:
                with limit_threads(threads):
                    for s in todo:
                        record(*run_trial(s, progress=progress))
        finally:
            bar.close()
    frame = schema.load_sweep([out], status=None)
    return frame[frame["trial_id"].isin({s.trial_id for s in specs})].reset_index(drop=True)


def _check_tables_match(log: ResultLog, tables: dict[str, ResultLog]) -> pd.DataFrame:
    """The rows of ``log``, after checking that each of ``tables`` (:func:`beside_logs`,
    by what they hold) belongs to it (read only).

    A sweep appends a trial's rates and epochs, then its row: a sweep killed, or
    stopped by a full disk, before the row leaves a table holding one trial its CSV
    does not record, which resuming drops; a table holding more is another sweep's.
    """
    done = log.read() if log.path.is_file() else pd.DataFrame(columns=log.columns, dtype=object)
    for what, table in tables.items():
        if not table.path.is_file():
            continue
        orphans = table.values("trial_id") - set(done["trial_id"])
        if len(orphans) > 1:
            raise ResultLogError(
                f"{table.path} holds the {what} of {len(orphans)} trials that {log.path} does not record, "
                "so it belongs to other results; move it or choose another --out"
            )
    return done


# --- worker processes -----------------------------------------------------------------


#: prctl option of Linux: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send this process ``sig`` when its parent dies (``prctl``
    ``PR_SET_PDEATHSIG``); elsewhere, or without a C library, do nothing.

    Linux sends it when the thread that started this process ends, so start workers
    from a thread that lives as long as the sweep (the main thread does).

    Returns
    -------
    bool
        Whether the request was made.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter runs on
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc or no prctl: the watchdog still ends us
        return False


def _exit_with_parent(parent: int) -> None:
    """In a worker: end this process as soon as the sweep's process is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _worker_setup(parent: int) -> None:
    """What a worker does first: leave Ctrl-C to the sweep's process (it kills the
    workers and says what is kept), and die with that process: at once on Linux
    (:func:`_die_with_parent`), else within half a second (the watchdog, which also
    covers a parent gone before the request)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    _exit_with_parent(parent)


def _worker(spec_dict: dict, threads: int, conn: multiprocessing.connection.Connection, parent: int) -> None:
    _worker_setup(parent)
    with limit_threads(threads):
        conn.send(run_trial(TrialSpec.from_dict(spec_dict)))
    conn.close()


def _run_processes(todo: list[TrialSpec], workers: int, threads: int, record) -> None:
    """Each trial in its own spawned process, at most ``workers`` at once; a process
    that dies before sending its row is a failed trial. On any exit (Ctrl-C included)
    the processes still running are killed at once: their trials are not finished."""
    ctx = multiprocessing.get_context("spawn")
    pending = list(todo)
    running: dict = {}  # receiving end -> (process, spec)
    try:
        while pending or running:
            while pending and len(running) < workers:
                spec = pending.pop(0)
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_worker, args=(spec.to_dict(), threads, send, os.getpid()), daemon=True
                )
                proc.start()
                send.close()
                running[recv] = (proc, spec)
            for conn in multiprocessing.connection.wait(list(running)):
                proc, spec = running.pop(conn)
                try:
                    outcome = conn.recv()
                except EOFError:
                    proc.join()
                    outcome = failed_trial(
                        spec, f"WorkerDied: the worker process ended with exit code {proc.exitcode}"
                    )
                conn.close()
                proc.join()
                record(*outcome)
    finally:
        for proc, _ in running.values():
            proc.kill()
        for proc, _ in running.values():
            proc.join()


def _run_remote(spec_dict: dict, threads: int) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    with limit_threads(threads):
        return run_trial(TrialSpec.from_dict(spec_dict))


@contextlib.contextmanager
def _dask_client(scheduler: str):
    """A client of the user's Dask scheduler; one line if it cannot be reached."""
    try:
        # dask is an optional extra: imported only for a sweep given --scheduler.
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ValueError("--scheduler needs dask.distributed: pip install 'smallworld_eqp[dask]'") from exc
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, ValueError, TypeError) as exc:  # a bad address, or nothing listening
        raise ValueError(
            f"--scheduler {scheduler!r}: cannot reach a Dask scheduler there ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())}); give its address like tcp://127.0.0.1:8786"
        ) from None
    with client:
        yield client, as_completed


def _run_dask(todo: list[TrialSpec], client, dask_completed, threads: int, record) -> None:
    futures = {
        client.submit(_run_remote, s.to_dict(), threads, key=f"trial-{s.trial_id}", pure=False): s
        for s in todo
    }
    for fut in dask_completed(futures):
        try:
            outcome = fut.result()
        except Exception as exc:  # a lost worker or task: a failed trial, recorded
            outcome = failed_trial(futures[fut], f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        record(*outcome)
