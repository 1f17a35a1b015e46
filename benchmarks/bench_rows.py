"""The rate of the event-driven Euler solver's inner loop: the rows of W added per moved neuron.

A step of :func:`smallworld_eqp.engine.euler._euler_example` adds, for every neuron ``c`` that
moved, ``ds[c]`` times its row of W to the net input of the neurons it feeds
(:func:`smallworld_eqp.engine.euler._rows_add`, eight rows per pass over the output). This script
times that kernel alone, on a float32 block of ``rows x width`` weights (the 100- and 500-neuron
layers of the authors' networks, both sides of a hidden layer: 200 and 1,000 columns) with
``moved`` rows drawn at random, into a float64 output, called ``--calls`` times inside one
compiled loop (a call from Python costs more than a small case's work). In the same run,
interleaved round by round: the plain loop, one row at a time (the readable form of the same
sum), and a (20 x rows) @ (rows x width) float32 GEMM, the dense approach's product of a batch, as
the machine's reference rate. BLAS is held to one thread, as the kernel runs on one. It answers
how far the engine's multiply-adds are from the machine's peak, which bounds every speed-up of the
event-driven engine over a dense implementation (README, "Performance").

Rates are multiply-adds per second; each is the median over ``--rounds`` rounds. The sums are
checked equal to a float64 NumPy sum (to float32 rounding) before timing.

Usage::

    python benchmarks/bench_rows.py [--rounds 9] [--calls 20000]
        [--out benchmarks/results/bench_rows.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from smallworld_eqp import machine
from smallworld_eqp.engine.euler import _rows_add

# (rows of the block, its width, neurons moved): a 100-neuron hidden layer of 784-100x5-10
# feeding both neighbours, early (20% moving) and late (a few) in a trained free phase; a
# 500-neuron layer of 784-500x3-10 at initialisation (20%).
CASES = [(100, 200, 20), (100, 200, 5), (500, 1000, 100), (500, 1000, 20)]
BATCH = 20


@numba.njit(cache=True)
def _blocked(m, idx, val, out, calls):
    for _ in range(calls):
        _rows_add(m, 0, idx, 0, idx.shape[0], val, out)


@numba.njit(cache=True)
def _one_row_at_a_time(m, idx, val, out, calls):
    for _ in range(calls):
        for k in range(idx.shape[0]):
            c = idx[k]
            v = np.float64(val[c])
            for t in range(out.shape[0]):
                out[t] += v * m[c, t]


def _seconds(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def bench(rows: int, width: int, moved: int, rounds: int, calls: int) -> dict:
    """Time the two loops and the GEMM on one block; returns the medians and rates."""
    rng = np.random.default_rng(0)
    m = rng.standard_normal((rows, width)).astype(np.float32)
    idx = np.sort(rng.choice(rows, size=moved, replace=False)).astype(np.int64)
    val = rng.standard_normal(rows).astype(np.float32)
    reference = val[idx].astype(np.float64) @ m[idx].astype(np.float64)
    for fn in (_blocked, _one_row_at_a_time):
        out = np.zeros(width)
        fn(m, idx, val, out, 1)  # compiles (or loads) first
        if not np.allclose(out, reference, rtol=1e-5, atol=1e-5):
            raise AssertionError(f"{fn.__name__} differs from NumPy on {rows}x{width}, {moved} moved")
    a = rng.standard_normal((BATCH, rows)).astype(np.float32)
    gemm_calls = max(1, calls * moved // (BATCH * rows))
    out = np.zeros(width)
    times: dict[str, list[float]] = {"rows_add": [], "one_row_at_a_time": [], "gemm": []}
    for _ in range(rounds):
        times["rows_add"].append(_seconds(_blocked, m, idx, val, out, calls))
        times["one_row_at_a_time"].append(_seconds(_one_row_at_a_time, m, idx, val, out, calls))
        times["gemm"].append(_seconds(lambda: [a @ m for _ in range(gemm_calls)]))
    med = {k: float(np.median(v)) for k, v in times.items()}
    macs = {"rows_add": calls * moved * width, "one_row_at_a_time": calls * moved * width}
    macs["gemm"] = gemm_calls * BATCH * rows * width
    return {
        "rows": rows,
        "width": width,
        "moved": moved,
        "seconds": med,
        "gmac_per_s": {k: macs[k] / med[k] / 1e9 for k in med},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (median taken)")
    parser.add_argument("--calls", type=int, default=20_000, help="calls of the kernel per round")
    parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "bench_rows.json"))
    args = parser.parse_args()
    with threadpool_limits(1):  # one core each, as the engine's kernel
        results = [bench(r, w, k, args.rounds, args.calls) for r, w, k in CASES]
    print(
        f"{'rows':>5}{'width':>7}{'moved':>7}{'rows_add':>10}{'one row':>9}{'GEMM':>7}{'% GEMM':>8}  (GMAC/s)"
    )
    for r in results:
        g = r["gmac_per_s"]
        print(
            f"{r['rows']:>5}{r['width']:>7}{r['moved']:>7}{g['rows_add']:>10.1f}{g['one_row_at_a_time']:>9.1f}"
            f"{g['gemm']:>7.1f}{100 * g['rows_add'] / g['gemm']:>7.0f}%"
        )
    doc = {"machine": machine.describe(), "rounds": args.rounds, "calls": args.calls, "results": results}
    pathlib.Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
