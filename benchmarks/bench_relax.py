"""Seconds per EqProp training batch: the engine against a dense N x N implementation.

Times ``EqPropNetwork.train_batch`` (batch 20, 500 free + 8 clamped Euler steps,
float32) on three networks at initialisation, and on two trained ones (below), and,
in the same run and interleaved round by round (the machine is shared and noisy), a
dense NumPy implementation of the authors' approach:
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

The engine is event-driven: after a full product at the start of a phase it updates
each neuron's net input with the changes of the neurons that moved only. Its work
therefore depends on the activity, which the engine traces (``kernels.relax(...,
trace=...)``) on the timed batch: "moved" is the mean fraction of state neurons that
moved in a step of the free phase (per 50-step window in a second table and in the
JSON), and "ev work" the dense approach's multiply-adds over those the engine did
(free and clamped phase, recomputes included); the JSON also holds the work of the
plan's full product every step (the engine before issue 14).

The cases at initialisation (a-c) train one batch, each time from the initial
weights. The trained cases (d, e) are the authors' 784-100x5-10 network (presets
``authors-code-mlff`` and ``authors-code-sw``: 1000 + 12 steps, after-step nudge,
persistent particles) trained 300 batches on real MNIST, then timed on the next
batches of the same fixed order, each starting from its particle of 300 batches
before (as in a second epoch); they need the MNIST files.

"epoch s" extrapolates the median batch to 60,000 examples; "+eval s" adds the
evaluations of an epoch of ``training.run_training`` (training error on 10,000
examples and test error on 10,000, free phases from zeros in batches of 1,000),
extrapolated from timing ``evaluate`` on 1,000 test images (networks a-c).

The column "first s" is the first ``train_batch`` of a fresh network: numba's
compilation (or loading it from the cache) plus one batch. ``--coordinate`` adds a
measurement of the coordinate solver: sweeps to settle to max |ds| < 1e-5 against
Euler steps, and whether both settle in the same state.

Usage::

    python benchmarks/bench_relax.py [--rounds 17] [--networks a,b,c,d,e] [--coordinate]
        [--out benchmarks/results/bench_relax.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import platform
import time

import numba
import numpy as np
from threadpoolctl import threadpool_info

from smallworld_eqp import datasets
from smallworld_eqp.config import EqPropConfig
from smallworld_eqp.engine import kernels
from smallworld_eqp.engine.network import EqPropNetwork
from smallworld_eqp.graph import layered, rewiring
from smallworld_eqp.study.grid import expand
from smallworld_eqp.study.presets import TRAIN_PRESETS
from smallworld_eqp.study.spec import build_graph
from smallworld_eqp.study.trial import new_network

BATCH = 20
EPOCH_EXAMPLES = 60_000
# Evaluations of a training epoch: training error on 10,000 examples, test error on 10,000.
EPOCH_EVALUATIONS = 20_000
EVAL_EXAMPLES = 1_000
GOALS = {"a": 10.0, "b": 20.0, "c": 20.0}
# Trained cases: a preset of the authors' code, trained this many batches first.
TRAINED = {"d": "authors-code-mlff", "e": "authors-code-sw"}
TRAIN_BATCHES = 300
WINDOW = 50
# Idle time between the engine's and the dense batches: both thread pools (OpenMP of
# numba, OpenBLAS of NumPy) spin for a while after a parallel call and would steal
# the cores from the other side's next batch.
PAUSE = 0.5


def networks() -> dict[str, tuple[str, layered.Graph]]:
    paper = [784, 500, 500, 500, 10]
    a = layered.connect_within_layers(layered.layered(paper))
    a = rewiring.rewire(a, n=int(0.08 * a.n_edges), seed=0)
    c = layered.connect_within_layers(layered.layered([784] + [100] * 5 + [10]))
    c = rewiring.rewire(c, p=0.1, seed=0)
    return {
        "a": ("784-500x3-10, intra-layer edges, 8% replaced", a),
        "b": ("784-500x3-10 basic", layered.layered(paper)),
        "c": ("784-100x5-10, intra-layer edges, p=0.1", c),
    }


def trained_network(preset: str, data: datasets.Dataset) -> tuple[str, EqPropNetwork, list]:
    """A preset's network trained ``TRAIN_BATCHES`` batches, and the batches it saw in
    order ``(x, y, indices)``: timing goes on with them, each from its particle."""
    trial = expand(TRAIN_PRESETS[preset])[0]
    net = new_network(trial, build_graph(trial))
    fixed = net.config.batch_order == "fixed"
    batches = list(data.batches(BATCH, shuffle_seed=0, fixed_groups=fixed))[:TRAIN_BATCHES]
    for idx, x, y in batches:
        net.train_batch(x, y, idx)
    layers = trial.layers
    label = (
        f"{layers[0]}-{layers[1]}x{len(layers) - 2}-{layers[-1]} ({preset}), trained {TRAIN_BATCHES} batches"
    )
    return label, net, [(x, y, idx) for idx, x, y in batches]


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


def edges_used(g: layered.Graph) -> int:
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


def load_mnist() -> datasets.Dataset | None:
    """The MNIST examples the benchmark uses (training batches for the trained cases,
    test images for the evaluations), or None when the files are missing."""
    try:
        return datasets.load("mnist", n_train=BATCH * TRAIN_BATCHES, n_test=EVAL_EXAMPLES, download=False)
    except Exception:  # any missing file: the cases at initialisation run on noise
        return None


def inputs(data: datasets.Dataset | None, seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    """A batch of real MNIST digits when available, else uniform noise in [0, 1]."""
    if data is not None:
        return "mnist", data.x_train[:BATCH], data.y_train[:BATCH]
    rng = np.random.default_rng(seed)
    return (
        "uniform noise",
        rng.random((BATCH, 784), dtype=np.float32),
        np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)],
    )


def activity(net: EqPropNetwork, x: np.ndarray, y: np.ndarray, indices: np.ndarray | None) -> dict:
    """The engine's trace of the two phases ``net.train_batch(x, y, indices)`` would run
    now (from the examples' particles when the network keeps them): the fraction of
    state neurons that moved per step, the steps used and the multiply-adds done."""
    cfg = net.config
    start = net._start_states(indices, x.shape[0])[0]
    nudge = kernels.NUDGES[cfg.nudge]
    n_state = net.graph.n_neurons - net.graph.layer_sizes[0]
    net._refresh()
    traces = []
    s = start
    for kbeta, target, n_steps in ((0.0, None, cfg.n_free), (cfg.nudge_factor * cfg.beta, y, cfg.n_clamped)):
        trace = np.zeros((x.shape[0], n_steps, 2), dtype=np.int64)
        phase = kernels.Phase(cfg.eps, kbeta, nudge, n_steps, -1.0)
        s, steps = kernels.relax(net._solver, net._plan, net._extra, net.biases, x, s, target, phase, trace)
        traces.append((trace, steps))
    (free, free_steps), (clamped, _) = traces
    moved = free[:, :, 0].mean(axis=0) / n_state  # an example that stopped moves no more
    return {
        "moved_per_window": [float(moved[a : a + WINDOW].mean()) for a in range(0, cfg.n_free, WINDOW)],
        "moved_free": float(moved.mean()),
        "moved_clamped": float(clamped[:, :, 0].mean() / n_state),
        "free_steps_median": float(np.median(free_steps)),
        "free_steps_min": int(free_steps.min()),
        "macs_per_example": float((free[:, :, 1].sum() + clamped[:, :, 1].sum()) / x.shape[0]),
    }


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


def bench(
    key: str,
    label: str,
    net: EqPropNetwork,
    build: float,
    rounds: int,
    batches: list,
    evaluation: tuple[np.ndarray, np.ndarray] | None,
) -> dict:
    """Time ``net.train_batch`` on ``batches`` ``(x, y, indices)`` in turn, interleaved
    with the dense reference; ``evaluation``: images and targets to time ``evaluate`` on.

    With a single batch (the cases at initialisation) every timed batch starts from the
    initial weights again: the engine's work depends on the activity, which training
    the same batch over and over would change.
    """
    turn = itertools.cycle(batches)
    initial = (net.weights.copy(), net.biases.copy()) if len(batches) == 1 else None

    def train():
        x, y, idx = next(turn)
        net.train_batch(x, y, idx)

    def timed_batch():
        if initial is not None:
            net.set_parameters(*initial)
        return time_call(train)

    g = net.graph
    first = time_call(train)
    train()
    if initial is not None:
        net.set_parameters(*initial)
    x, y, idx = batches[2 % len(batches)]  # the batch the first timed call trains
    act = activity(net, x, y, idx)
    dense = DenseReference(net)
    dense.train_batch(x, y)
    ours, theirs = [], []
    per_round = 3
    for _ in range(rounds):
        ours += [timed_batch() for _ in range(per_round)]
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
    full = engine_macs_per_step(net)
    bound = g.n_neurons**2 / full
    eval_s = None
    if evaluation is not None:
        net.evaluate(evaluation[0][:BATCH], evaluation[1][:BATCH])
        eval_s = time_call(lambda: net.evaluate(*evaluation)) / evaluation[0].shape[0] * EPOCH_EVALUATIONS
    epoch = t_ours * EPOCH_EXAMPLES / BATCH
    return {
        "network": key,
        "label": label,
        "layers": list(g.layer_sizes),
        "neurons": g.n_neurons,
        "edges": g.n_edges,
        "kinds": g.kind_counts(),
        "config": net.config.to_dict(),
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
        "goal_speedup": GOALS.get(key),
        "work_ratio": bound,
        "speedup_over_work_ratio": t_dense / t_ours / bound,
        **act,
        "full_engine_macs_per_example": full * steps,
        "dense_macs_per_example": g.n_neurons**2 * steps,
        "event_work_ratio": g.n_neurons**2 * steps / act["macs_per_example"],
        "work_saved_over_full_product": full * steps / act["macs_per_example"],
        "effective_mac_per_s": eff,
        "matmul_mac_per_s": mm,
        "fraction_of_matmul": eff / mm,
        "mnist_epoch_s": epoch,
        "dense_mnist_epoch_s": t_dense * EPOCH_EXAMPLES / BATCH,
        "epoch_evaluations_s": eval_s,
        "mnist_epoch_with_evaluations_s": None if eval_s is None else epoch + eval_s,
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


def cases(keys: list[str], data: datasets.Dataset | None, x: np.ndarray, y: np.ndarray):
    """Yield ``(key, label, network, build seconds, batches, evaluation)`` per case."""
    nets = networks()
    evaluation = None if data is None else (data.x_test, data.y_test)
    for key in keys:
        t0 = time.perf_counter()
        if key in nets:
            label, g = nets[key]
            net = EqPropNetwork(g, EqPropConfig(batch_size=BATCH))
            yield key, label, net, time.perf_counter() - t0, [(x, y, None)], evaluation
        elif data is None:
            print(f"[{key}] skipped: the trained cases need the MNIST files", flush=True)
        else:
            label, net, batches = trained_network(TRAINED[key], data)
            yield key, label, net, time.perf_counter() - t0, batches, None


def _fmt(v, spec: str, suffix: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{suffix}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=17,
        help="interleaved rounds of 3 engine batches and 1 dense batch (17: the epoch times extrapolate from 51)",
    )
    parser.add_argument(
        "--networks",
        default="a,b,c,d,e",
        help="comma-separated subset of a,b,c (at initialisation) and d,e (trained; need MNIST)",
    )
    parser.add_argument(
        "--coordinate",
        action="store_true",
        help="also compare coordinate sweeps with Euler steps (about 1 min)",
    )
    parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "bench_relax.json"))
    args = parser.parse_args(argv)
    data = load_mnist()
    source, x, y = inputs(data)
    print(f"inputs: a batch of {source}", flush=True)
    rows = []
    for key, label, net, build, batches, evaluation in cases(args.networks.split(","), data, x, y):
        rows.append(bench(key, label, net, build, args.rounds, batches, evaluation))
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
        "work: dense multiply-adds / the engine's full product (zeros of dense blocks counted); moved: state "
        "neurons moving per free step; ev work: dense multiply-adds / those the event-driven engine did"
    )
    head = (
        f"{'net':<4}{'N':>6}{'edges':>9}{'used/step':>11}{'s/batch':>9}{'dense':>8}{'speedup':>9}{'best':>7}{'goal':>6}{'work':>7}{'% work':>8}"
        f"{'moved':>7}{'ev work':>9}{'eff GMAC/s':>12}{'mm GMAC/s':>11}{'% mm':>7}{'epoch s':>9}{'+eval s':>9}{'dense ep':>10}{'first s':>9}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['network']:<4}{r['neurons']:>6}{r['edges']:>9}{r['edges_used_per_step']:>11}{r['s_per_batch']:>9.3f}"
            f"{r['dense_s_per_batch']:>8.3f}{r['speedup']:>8.1f}x{r['best_speedup']:>6.1f}x{_fmt(r['goal_speedup'], '>5.0f', 'x'):>6}"
            f"{r['work_ratio']:>6.1f}x{100 * r['speedup_over_work_ratio']:>7.0f}%"
            f"{100 * r['moved_free']:>6.0f}%{r['event_work_ratio']:>8.1f}x"
            f"{r['effective_mac_per_s'] / 1e9:>12.1f}{r['matmul_mac_per_s'] / 1e9:>11.1f}{100 * r['fraction_of_matmul']:>6.0f}%"
            f"{r['mnist_epoch_s']:>9.0f}{_fmt(r['mnist_epoch_with_evaluations_s'], '>9.0f'):>9}"
            f"{r['dense_mnist_epoch_s']:>10.0f}{r['first_batch_s']:>9.2f}"
        )
    print()
    print(
        f"state neurons moving per step of the free phase, per {WINDOW}-step window (then the clamped phase)"
    )
    for r in rows:
        windows = " ".join(f"{100 * v:3.0f}%" for v in r["moved_per_window"])
        print(
            f"{r['network']:<4}{windows} | clamped {100 * r['moved_clamped']:.0f}%; free steps used median "
            f"{r['free_steps_median']:.0f} (min {r['free_steps_min']}); multiply-adds per example "
            f"{r['macs_per_example']:.3g} ({r['work_saved_over_full_product']:.1f}x fewer than a full product every step)"
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
