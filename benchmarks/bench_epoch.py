"""Seconds per training epoch of the authors' presets, against an older revision in the same run.

Times what one epoch of ``python -m smallworld_eqp.train --preset P`` spends in steady state (the
second epoch on: every example starts from its persistent particle), on real MNIST, one numba
thread:

- ``train``: ``EqPropNetwork.train_batch`` over ``--batches`` batches of the preset's fixed order,
  after the same batches were trained once untimed (so each starts from its particle, as in
  epoch 2 and later), extrapolated to the 60,000 training examples;
- ``test``: ``evaluate`` of ``--test`` test images with the preset's evaluation (the authors'
  test particles: a second pass, timed, after an untimed first), extrapolated to 10,000;
- ``train eval``: the from-zero training-error evaluation of a run (``evaluate`` from zeros),
  on ``--test`` training images, extrapolated to 10,000.

With ``--checkpoint PRESET=FILE`` (a run's ``checkpoint.npz``, e.g. after its first epoch) the
network, its particles and its test particles come from that file instead, and ``train`` times the
first ``--batches`` batches of the next epoch: every example starts from the particle an epoch of
training left, as in a real run (the steady state above revisits batches 60 updates later). An
untimed batch on a copy of the network loads the compiled kernels first, and ``test`` times the
first evaluation, from the test particles the checkpoint's epoch left.

Each measurement runs in a fresh process (numba's compilation, loaded from its cache, and the
warm-up stay out of the timed part). With ``--against REV`` every round times REV's package too,
checked out into a temporary git worktree and imported through ``PYTHONPATH``, the two
interleaved A B A B (the machine is shared; ratios are per pair, medians over rounds).

Usage::

    python benchmarks/bench_epoch.py [--presets authors-code-sw,authors-code-500x3-sw]
        [--batches 100] [--test 1000] [--rounds 3] [--against dbd95d7]
        [--checkpoint authors-code-sw=runs/sw/checkpoint.npz ...]
        [--out benchmarks/results/bench_epoch.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
EPOCH_TRAIN, EPOCH_EVAL = 60_000, 10_000
BATCH = 20


def _fresh_network(preset: str, batches_of):
    """The preset's network at initialisation, after one untimed visit of the timed batches."""
    from smallworld_eqp.study.presets import TRAIN_PRESETS
    from smallworld_eqp.study.spec import build_graph, expand
    from smallworld_eqp.study.trial import new_network

    trial = expand(TRAIN_PRESETS[preset])[0]
    net = new_network(trial, build_graph(trial))
    batches = batches_of(net)
    for idx, x, y in batches:  # first visit: from zeros, untimed
        net.train_batch(x, y, idx)
    return net, batches


def _saved_network(path: str, batches_of):
    """The network of a checkpoint, its kernels loaded by an untimed batch on a copy."""
    try:
        from smallworld_eqp.engine.network_file import load
    except ImportError:  # revisions before the network file (issue 24): EqPropNetwork.load
        try:
            from smallworld_eqp.engine.network import EqPropNetwork
        except ImportError:  # revisions before the layer folders (issue 24) kept it in eqprop
            from smallworld_eqp.eqprop import EqPropNetwork
        load = EqPropNetwork.load

    net = load(path)
    batches = batches_of(net)
    idx, x, y = batches[0]
    copy.deepcopy(net).train_batch(x, y, idx)
    return net, batches


def measure(preset: str, n_batches: int, n_test: int, checkpoint: str | None = None) -> dict[str, float]:
    """One process's measurement of ``preset`` (imports whatever ``smallworld_eqp`` is on the path)."""
    from smallworld_eqp import datasets

    data = datasets.load("mnist", n_train=60_000, n_test=10_000)

    def batches_of(net):
        fixed = net.config.batch_order == "fixed"
        return list(data.batches(net.config.batch_size, shuffle_seed=0, fixed_groups=fixed))[:n_batches]

    if checkpoint is None:
        net, batches = _fresh_network(preset, batches_of)
    else:
        net, batches = _saved_network(checkpoint, batches_of)
    t = time.perf_counter()
    for idx, x, y in batches:
        net.train_batch(x, y, idx)
    train = time.perf_counter() - t
    particles = bool(net.config.test_particles)
    xt, yt = data.x_test[:n_test], data.y_test[:n_test]
    if checkpoint is None:  # the test particles start at zero: one untimed pass sets them
        net.evaluate(xt, yt, particles=particles)
    t = time.perf_counter()
    net.evaluate(xt, yt, particles=particles)
    test = time.perf_counter() - t
    t = time.perf_counter()
    net.evaluate(data.x_train[:n_test], data.y_train[:n_test])
    train_eval = time.perf_counter() - t
    examples = len(batches) * net.config.batch_size
    return {
        "train_s": train * EPOCH_TRAIN / examples,
        "test_s": test * EPOCH_EVAL / n_test,
        "train_eval_s": train_eval * EPOCH_EVAL / n_test,
    }


def _run(src: pathlib.Path, preset: str, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src), NUMBA_NUM_THREADS="1")
    cmd = [
        sys.executable,
        __file__,
        "--measure",
        preset,
        "--batches",
        str(args.batches),
        "--test",
        str(args.test),
    ]
    if preset in args.checkpoint:
        cmd += ["--checkpoint", f"{preset}={args.checkpoint[preset]}"]
    out = subprocess.run(cmd, env=env, cwd=src, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _preset_file(item: str) -> tuple[str, str]:
    preset, sep, path = item.partition("=")
    if not sep or not pathlib.Path(path).is_file():
        sys.exit(f"--checkpoint must be PRESET=FILE naming an existing file, got {item!r}")
    return preset, str(pathlib.Path(path).resolve())


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", default="authors-code-sw,authors-code-500x3-sw")
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", default=None, help="a git revision to time in the same run")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_epoch.json"))
    ap.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="PRESET=FILE",
        help="time PRESET's next epoch from this checkpoint (repeatable)",
    )
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.checkpoint = dict(_preset_file(item) for item in args.checkpoint)
    if args.measure:
        print(json.dumps(measure(args.measure, args.batches, args.test, args.checkpoint.get(args.measure))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        sources = {"this": ROOT}
        if args.against:
            base = pathlib.Path(tmp) / "against"
            _git("worktree", "add", "--detach", str(base), args.against)
            sources[args.against] = base
        try:
            results = {}
            for preset in args.presets.split(","):
                rows = {name: [] for name in sources}
                for _ in range(args.rounds):
                    for name, src in sources.items():
                        rows[name].append(_run(src, preset, args))
                results[preset] = rows
        finally:
            if args.against:
                _git("worktree", "remove", "--force", str(base))

    keys = ("train_s", "test_s", "train_eval_s")
    print(f"{'preset':26} {'code':10} " + " ".join(f"{k:>13}" for k in keys) + f" {'train+test':>11}")
    summary = {}
    for preset, rows in results.items():
        summary[preset] = {}
        for name, runs in rows.items():
            med = {k: float(np.median([r[k] for r in runs])) for k in keys}
            med["train_plus_test_s"] = float(np.median([r["train_s"] + r["test_s"] for r in runs]))
            summary[preset][name] = med
            print(
                f"{preset:26} {name:10} "
                + " ".join(f"{med[k]:13.1f}" for k in keys)
                + f" {med['train_plus_test_s']:11.1f}"
            )
        if args.against:
            ratio = [
                (b["train_s"] + b["test_s"]) / (a["train_s"] + a["test_s"])
                for a, b in zip(rows["this"], rows[args.against])
            ]
            summary[preset]["speedup_train_plus_test"] = ratio
            print(f"{preset:26} speed-up (train + test) per pair: " + ", ".join(f"{r:.2f}x" for r in ratio))
    # Imported here: the measuring processes run this file on older revisions without it.
    from smallworld_eqp import machine

    record = {
        "machine": machine.describe(),
        "revision": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "against": args.against,
        "batches": args.batches,
        "test": args.test,
        "rounds": args.rounds,
        "checkpoints": args.checkpoint,
        "runs": results,
        "median": summary,
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
