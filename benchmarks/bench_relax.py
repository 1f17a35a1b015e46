"""Seconds per EqProp training batch: the engine against a dense N x N implementation.

Times ``EqPropNetwork.train_batch`` (batch 20, 500 free + 8 clamped Euler steps,
float32) on three networks and, in the same run and interleaved round by round (the
machine is shared and noisy), a dense NumPy implementation of the authors' approach:
one masked N x N weight matrix over all neurons, input rows included, stepped as
``s <- clip(s + eps (rho(s) W + b - rho(s)))`` with the inputs re-clamped each step,
and the update as masked outer products. Also times a (20 x N) @ (N x N) float32
matmul as the machine's reference rate.

The column "work" is the ratio of the multiply-adds of the dense approach (N^2 per
example and step) to those of the engine's plan (its dense blocks, zeros included,
and CSR entries): the speedup the engine would reach at an equal rate per
multiply-add; "% work" is the measured speedup as a fraction of it.

Effective multiply-adds per batch = edges used x batch x steps, where edges used per
step = 2 x (edges between non-input neurons) + (edges leaving the input layer): the
work of a per-step sparse implementation (each state-state edge acts in both
directions, an input edge only towards the state). The engine does less than that:
it sums the clamped inputs' drive once per phase, not once per step.

The column "first s" is the first ``train_batch`` of a fresh network: numba's
compilation (or loading it from the cache) plus one batch. ``--coordinate`` adds a
measurement of the coordinate solver: sweeps to settle to max |ds| < 1e-5 against
Euler steps, and whether both settle in the same state.

Usage::

    python benchmarks/bench_relax.py [--rounds 17] [--networks a,b,c] [--coordinate]
        [--out benchmarks/results/bench_relax.json]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import time

import numba
import numpy as np
from threadpoolctl import threadpool_info

from smallworld_eqp import topology
from smallworld_eqp.eqprop import EqPropConfig, EqPropNetwork

BATCH = 20
EPOCH_EXAMPLES = 60_000
GOALS = {"a": 3.0, "b": 5.0, "c": 12.0}
# Idle time between the engine's and the dense batches: both thread pools (OpenMP of
# numba, OpenBLAS of NumPy) spin for a while after a parallel call and would steal
# the cores from the other side's next batch.
PAUSE = 0.5


def networks() -> dict[str, tuple[str, topology.Graph]]:
    paper = [784, 500, 500, 500, 10]
    a = topology.connect_within_layers(topology.layered(paper))
    a = topology.rewire(a, n=int(0.08 * a.n_edges), seed=0)
    c = topology.connect_within_layers(topology.layered([784] + [100] * 5 + [10]))
    c = topology.rewire(c, p=0.1, seed=0)
    return {
        "a": ("784-500x3-10, intra-layer edges, 8% replaced", a),
        "b": ("784-500x3-10 basic", topology.layered(paper)),
        "c": ("784-100x5-10, intra-layer edges, p=0.1", c),
    }


class DenseReference:
    """The authors' approach: one dense masked N x N matrix, NumPy/BLAS, float32."""

    def __init__(self, net: EqPropNetwork):
        g = net.graph
        n = g.n_neurons
        self.w = np.zeros((n, n), dtype=np.float32)
        self.w[g.edges[:, 0], g.edges[:, 1]] = net.weights
        self.w[g.edges[:, 1], g.edges[:, 0]] = net.weights
        self.mask = (self.w != 0).astype(np.float32)
        self.b = np.zeros(n, dtype=np.float32)
        self.n_in, self.n_out = g.layer_sizes[0], g.layer_sizes[-1]
        self.cfg = net.config

    def _relax(self, s, x, steps, y=None, beta=0.0):
        eps = np.float32(self.cfg.eps)
        for _ in range(steps):
            r = np.clip(s, 0, 1)
            ds = r @ self.w + self.b - r
            if y is not None:
                ds[:, -self.n_out :] += beta * (y - s[:, -self.n_out :])
            s = np.clip(s + eps * ds, 0, 1)
            s[:, : self.n_in] = x
        return s

    def train_batch(self, x, y):
        s = np.zeros((x.shape[0], self.w.shape[0]), dtype=np.float32)
        s[:, : self.n_in] = x
        s0 = self._relax(s, x, self.cfg.n_free)
        sb = self._relax(s0.copy(), x, self.cfg.n_clamped, y, self.cfg.beta)
        lr = np.float32(self.cfg.learning_rate / self.cfg.beta / x.shape[0])
        self.w += lr * (sb.T @ sb - s0.T @ s0) * self.mask
        self.b += lr * x.shape[0] * (sb - s0).mean(axis=0)


def edges_used(g: topology.Graph) -> int:
    from_input = int(np.count_nonzero(g.edges[:, 0] < g.layer_sizes[0]))
    return 2 * (g.n_edges - from_input) + from_input


def engine_macs_per_step(net: EqPropNetwork) -> float:
    """Multiply-adds per example and step that the engine's plan does: its dense blocks
    (zeros included) and CSR entries every step, plus the input drive (once per phase)
    spread over the steps of a batch."""
    p = net._plan
    off = p.off
    dense = sum(
        int(off[lay + 1] - off[lay]) * int(c1 - c0) for lay, c0, c1 in zip(p.run_layer, p.run_c0, p.run_c1)
    )
    n_in_block = int(off[2] - off[1]) * int(off[1]) if p.in_ptr >= 0 else 0
    steps = net.config.n_free + net.config.n_clamped
    return dense + int(p.d_indptr[-1]) + 2 * (n_in_block + int(p.s_indptr[-1])) / steps


def inputs(seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    """A batch of real MNIST digits when available, else uniform noise in [0, 1]."""
    try:
        from smallworld_eqp import datasets

        d = datasets.load("mnist", n_train=BATCH, n_test=1, download=False)
        return "mnist", d.x_train, d.y_train
    except Exception:  # any missing file or module: timings do not depend on the data
        rng = np.random.default_rng(seed)
        return (
            "uniform noise",
            rng.random((BATCH, 784), dtype=np.float32),
            np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)],
        )


def time_call(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def matmul_rate(n: int, reps: int = 20) -> float:
    """Multiply-adds per second of a (20 x n) @ (n x n) float32 matmul (best of reps)."""
    rng = np.random.default_rng(0)
    a = rng.random((BATCH, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b
    best = min(time_call(lambda: a @ b) for _ in range(reps))
    return BATCH * n * n / best


def bench(key: str, label: str, g: topology.Graph, rounds: int, x, y) -> dict:
    t0 = time.perf_counter()
    net = EqPropNetwork(g, EqPropConfig(batch_size=BATCH))
    build = time.perf_counter() - t0
    first = time_call(lambda: net.train_batch(x, y))
    net.train_batch(x, y)
    dense = DenseReference(net)
    dense.train_batch(x, y)
    ours, theirs = [], []
    per_round = 3
    for _ in range(rounds):
        ours += [time_call(lambda: net.train_batch(x, y)) for _ in range(per_round)]
        time.sleep(PAUSE)
        theirs.append(time_call(lambda: dense.train_batch(x, y)))
        time.sleep(PAUSE)
    t_ours, t_dense = float(np.median(ours)), float(np.median(theirs))
    best_ours, best_dense = float(min(ours)), float(min(theirs))
    steps = net.config.n_free + net.config.n_clamped
    used = edges_used(g)
    eff = used * BATCH * steps / t_ours
    time.sleep(PAUSE)
    mm = matmul_rate(g.n_neurons)
    # The dense approach does N^2 multiply-adds per example and step: at equal rates
    # per multiply-add the speedup would be this work ratio.
    bound = g.n_neurons**2 / engine_macs_per_step(net)
    return {
        "network": key,
        "label": label,
        "layers": list(g.layer_sizes),
        "neurons": g.n_neurons,
        "edges": g.n_edges,
        "kinds": g.kind_counts(),
        "edges_used_per_step": used,
        "build_s": build,
        "first_batch_s": first,
        "s_per_batch": t_ours,
        "s_per_batch_all": ours,
        "dense_s_per_batch": t_dense,
        "dense_s_per_batch_all": theirs,
        "speedup": t_dense / t_ours,
        "best_s_per_batch": best_ours,
        "best_dense_s_per_batch": best_dense,
        "best_speedup": best_dense / best_ours,
        "goal_speedup": GOALS[key],
        "work_ratio": bound,
        "speedup_over_work_ratio": t_dense / t_ours / bound,
        "effective_mac_per_s": eff,
        "matmul_mac_per_s": mm,
        "fraction_of_matmul": eff / mm,
        "mnist_epoch_s": t_ours * EPOCH_EXAMPLES / BATCH,
        "dense_mnist_epoch_s": t_dense * EPOCH_EXAMPLES / BATCH,
    }


def coordinate_study(x: np.ndarray) -> list[dict]:
    """Sweeps of the coordinate solver to settle (max |ds| < 1e-5) against Euler steps,
    from zero states with the initial weights, and whether both reach the same state."""
    rows = []
    for key in ("b", "a"):
        label, g = networks()[key]
        euler = EqPropNetwork(g, EqPropConfig(n_free=10_000, tol=1e-5))
        coord = EqPropNetwork(g, EqPropConfig(n_free=10_000, tol=1e-5, solver="coordinate"))
        # The private _relax also returns the steps each example used.
        euler._refresh()
        t0 = time.perf_counter()
        se, steps_e = euler._relax(x, None, None, 0.0, 10_000)
        t_euler = time.perf_counter() - t0
        coord._refresh()
        t0 = time.perf_counter()
        sc, steps_c = coord._relax(x, None, None, 0.0, 10_000)
        t_coord = time.perf_counter() - t0
        diff = np.abs(se - sc)[:, g.layer_sizes[0] :]
        out = slice(g.n_neurons - g.layer_sizes[-1], None)
        rows.append(
            {
                "network": key,
                "label": label,
                "euler_steps_median": float(np.median(steps_e)),
                "euler_steps_max": int(steps_e.max()),
                "euler_s": t_euler,
                "coordinate_sweeps_median": float(np.median(steps_c)),
                "coordinate_sweeps_max": int(steps_c.max()),
                "coordinate_s": t_coord,
                "examples_same_state_1e-3": int(np.sum(diff.max(axis=1) < 1e-3)),
                "examples": int(x.shape[0]),
                "max_state_difference": float(diff.max()),
                "mean_fraction_of_neurons_differing": float(np.mean(diff > 1e-3)),
                "same_predicted_class": float(np.mean(se[:, out].argmax(1) == sc[:, out].argmax(1))),
            }
        )
        r = rows[-1]
        print(
            f"[coordinate, {key}] Euler steps median {r['euler_steps_median']:.0f} (max {r['euler_steps_max']}, "
            f"{t_euler:.1f} s); coordinate sweeps median {r['coordinate_sweeps_median']:.0f} (max "
            f"{r['coordinate_sweeps_max']}, {t_coord:.1f} s); same fixed point (1e-3) for "
            f"{r['examples_same_state_1e-3']}/{r['examples']} examples, max |diff| {r['max_state_difference']:.3f}, "
            f"{100 * r['mean_fraction_of_neurons_differing']:.0f}% of neurons differ, same class "
            f"{100 * r['same_predicted_class']:.0f}%",
            flush=True,
        )
    return rows


def environment() -> dict:
    return {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "threading_layer": numba.config.THREADING_LAYER,
        "blas": [
            {k: lib.get(k) for k in ("filepath", "internal_api", "architecture", "num_threads", "version")}
            for lib in threadpool_info()
            if lib.get("user_api") == "blas"
        ],
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
        "numpy": np.__version__,
        "numba": numba.__version__,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=17,
        help="interleaved rounds of 3 engine batches and 1 dense batch (17: the epoch times extrapolate from 51)",
    )
    parser.add_argument("--networks", default="a,b,c", help="comma-separated subset of a,b,c")
    parser.add_argument(
        "--coordinate",
        action="store_true",
        help="also compare coordinate sweeps with Euler steps (about 1 min)",
    )
    parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "bench_relax.json"))
    args = parser.parse_args(argv)
    source, x, y = inputs()
    print(f"inputs: a batch of {source}", flush=True)
    nets = networks()
    rows = []
    for key in args.networks.split(","):
        label, g = nets[key]
        rows.append(bench(key, label, g, args.rounds, x, y))
        r = rows[-1]
        print(
            f"[{key}] {label}: {r['s_per_batch']:.3f} s/batch vs dense {r['dense_s_per_batch']:.3f}",
            flush=True,
        )
    env = environment()
    print()
    print(
        f"numba threads {env['numba_threads']}, BLAS {[b['architecture'] for b in env['blas']]}, OPENBLAS env {env['openblas_env'] or 'unset'}"
    )
    print("s/batch, dense: medians over the interleaved rounds; best: ratio of the fastest batches")
    print(
        "work: dense multiply-adds / the engine's (zeros of dense blocks counted), the speedup at equal rates"
    )
    head = (
        f"{'net':<4}{'N':>6}{'edges':>9}{'used/step':>11}{'s/batch':>9}{'dense':>8}{'speedup':>9}{'best':>7}{'goal':>6}{'work':>7}{'% work':>8}"
        f"{'eff GMAC/s':>12}{'mm GMAC/s':>11}{'% mm':>7}{'epoch s':>9}{'dense ep':>10}{'first s':>9}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['network']:<4}{r['neurons']:>6}{r['edges']:>9}{r['edges_used_per_step']:>11}{r['s_per_batch']:>9.3f}"
            f"{r['dense_s_per_batch']:>8.3f}{r['speedup']:>8.1f}x{r['best_speedup']:>6.1f}x{r['goal_speedup']:>5.0f}x"
            f"{r['work_ratio']:>6.1f}x{100 * r['speedup_over_work_ratio']:>7.0f}%"
            f"{r['effective_mac_per_s'] / 1e9:>12.1f}{r['matmul_mac_per_s'] / 1e9:>11.1f}{100 * r['fraction_of_matmul']:>6.0f}%"
            f"{r['mnist_epoch_s']:>9.0f}{r['dense_mnist_epoch_s']:>10.0f}{r['first_batch_s']:>9.2f}"
        )
    result = {"environment": env, "inputs": source, "results": rows}
    if args.coordinate:
        result["coordinate"] = coordinate_study(x)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
