"""Per layer pair: the exact gradient of the cost beside EqProp's estimates of it.

Is the attenuation of the corrections from layer to layer (paper eq. 14, Fig. 3) a
property of the network's true gradient, or of EqProp's estimate of it? For a network
state and the first ``n`` training examples this module relaxes the free phase (from
zeros, the network's step budget, float64) and computes per example

* ``exact``: dC/dW at the free state by implicit differentiation
  (:func:`smallworld_eqp.engine.gradient.cost_gradient`);
* ``one_sided``: EqProp's estimate from a gradient-form clamped phase at +beta
  (``nudge="gradient"``);
* ``symmetric``: from a +beta and a -beta gradient-form phase (``nudge="symmetric"``);
* ``after_step``: from the authors' after-step clamped phase at +beta;

the estimates in the sign and units of the gradient
(:func:`smallworld_eqp.engine.gradient.eqprop_estimate`: the correction over ``k beta``, so
each tends to ``exact`` as beta -> 0), with the network's nudge factor ``k`` and
clamped step budget and a positive beta. Per group of edges (each adjacent layer pair
``a-b``, and ``intra`` and ``skip`` where present) it writes one CSV row:

* ``rms_<X>``: sqrt of the mean of the squared per-example values over the examples
  and the group's edges (the size of one example's correction);
* ``rms_mean_<X>``: RMS over the group's edges of the mean over the examples (a batch
  of ``n`` examples' correction, eq. 20 before the learning rate);
* ``cos_<X>``: mean over examples of the cosine between the estimate and ``exact`` on
  the group's edges, over the ``examples_nonzero`` examples whose exact gradient there
  is not zero (an estimate of zero counts 0); where every output is clipped the exact
  gradient is zero while a finite nudge may still move the outputs;
* ``cos_mean_<X>``: the cosine of the means over the examples;
* ``med_rms_<X>``, ``med_cos_<X>``, ``med_ratio_<X>``: medians over the
  ``examples_nonzero`` examples of one example's RMS over the group's edges, its
  cosine, and the ratio of the estimate's norm to the exact gradient's. The means
  above are heavy-tailed: an example near a change of its clipped set (a nudge that
  unclips a neuron) or with ``I - W_FF`` nearly singular (a slow free phase) can
  dominate them; the medians show the typical example.

Also per row: ``max_residual`` / ``mean_residual``, how far the free states are from a
fixed point (:func:`smallworld_eqp.engine.gradient.fixed_point_residual`; the exact gradient
assumes one), ``frac_clipped`` of the state neurons, and the network's settings.

Usage::

    python -m analysis.gradient_vs_eqprop --preset authors-code-mlff --preset authors-code-sw \\
        --n 1000 --beta 1,0.1 --out analysis/results/gradient_vs_eqprop.csv
    python -m analysis.gradient_vs_eqprop --run RUN_DIR --n 1000   # a run's last checkpoint

``--preset`` measures a train preset's network at initialisation (its graph and
weights for ``--seed``, as ``python -m smallworld_eqp.train --preset NAME --seed S``
starts); ``--run`` a run folder's checkpoint (the epoch it finished). Rows are
appended to ``--out`` (an append-only results file, :mod:`smallworld_eqp.study.resultlog`);
a measurement already in it is skipped, so a rerun adds only what is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from analysis import markdown_table
from smallworld_eqp import datasets
from smallworld_eqp.cli import OneLineParser, float_list, int_list, nonneg_int, positive_int, run_main
from smallworld_eqp.graph.layered import ADJACENT, INTRA, Graph
from smallworld_eqp.numba_settings import deferred
from smallworld_eqp.study import schema
from smallworld_eqp.study.presets import TRAIN_PRESETS
from smallworld_eqp.study.resultlog import ResultLog, ResultLogError
from smallworld_eqp.study.spec import TrialSpec, build_graph
from smallworld_eqp.validate import check_real

if TYPE_CHECKING:
    from smallworld_eqp.engine.network import EqPropNetwork

# Load numba: imported to relax and differentiate, after cli.run_main has checked the
# environment.
gradient = deferred("smallworld_eqp.engine.gradient")
network = deferred("smallworld_eqp.engine.network")
training_runs = deferred("smallworld_eqp.study.training_runs")
trial = deferred("smallworld_eqp.study.trial")

DEFAULT_OUT = "analysis/results/gradient_vs_eqprop.csv"
ESTIMATORS = schema.GRADIENT_ESTIMATORS
#: The exact gradient and its estimates, in the order of the columns.
_GRADIENTS = ("exact", *ESTIMATORS)
#: Examples whose per-edge arrays are held at once (memory: 4 x CHUNK x edges floats).
CHUNK = 50
_MEASURES = [f"{stat}_{what}" for stat in ("rms", "rms_mean", "med_rms") for what in _GRADIENTS] + [
    f"{stat}_{what}" for stat in ("cos", "med_cos", "med_ratio", "cos_mean") for what in ESTIMATORS
]
COLUMNS = [
    "measurement",
    "source",
    "seed",
    "epoch",
    "n",
    "beta",
    "nudge_factor",
    "n_free",
    "n_clamped",
    "max_residual",
    "mean_residual",
    "frac_clipped",
    "group",
    "edges",
    "examples_nonzero",
    *_MEASURES,
]


def edge_groups(graph: Graph) -> tuple[list[str], np.ndarray]:
    """Names of the edge groups (adjacent pairs ``a-b`` input first, then ``intra`` and
    ``skip`` where present) and the group of every edge."""
    la = graph.edge_layers[:, 0].astype(np.int64)
    n_pairs = graph.n_layers - 1
    group = np.where(graph.kinds == ADJACENT, la, np.where(graph.kinds == INTRA, n_pairs, n_pairs + 1))
    names = [f"{a}-{a + 1}" for a in range(n_pairs)] + ["intra", "skip"]
    present = np.flatnonzero(np.bincount(group, minlength=n_pairs + 2))
    return [names[k] for k in present], np.searchsorted(present, group)


def _twin(net: EqPropNetwork, **changes: object) -> EqPropNetwork:
    """``net``'s graph, weights and biases in float64 with some settings changed."""
    twin = network.EqPropNetwork(net.graph, dataclasses.replace(net.config, dtype="float64", **changes))
    twin.set_parameters(net.weights, net.biases)
    return twin


def free_states(net: EqPropNetwork, x: np.ndarray, n_free: int | None = None) -> np.ndarray:
    """The free phase of ``net`` on ``x`` in float64, from zeros, ``n_free`` steps (default
    the network's)."""
    return _twin(net, **({} if n_free is None else {"n_free": n_free})).free_phase(x)


def _add_measures(
    out: dict,
    sq: dict[str, np.ndarray],
    dot: dict[str, np.ndarray],
    total: dict[str, np.ndarray],
    ok: np.ndarray,
    member: sparse.csr_array,
    counts: np.ndarray,
    n: int,
) -> None:
    """Add the ``rms_*``, ``cos_*`` and ``med_*`` columns of :func:`compare` to ``out``.

    Parameters
    ----------
    out : dict
        :func:`compare`'s columns, by name.
    sq, dot : dict of arrays (examples, groups)
        Per example and group, each gradient's sum of squares; each estimate's dot
        product with the exact gradient.
    total : dict of arrays (edges,)
        Each gradient summed over the ``n`` examples.
    ok : bool array (examples, groups)
        Where the exact gradient moves the group.
    member : sparse array (edges, groups)
        Each edge's group (one-hot).
    counts : int array (groups,)
        The edges of each group.
    n : int
        The number of examples.
    """
    n_groups = ok.shape[1]

    def median(v: np.ndarray) -> np.ndarray:
        """Per group, the median over the examples in ``ok`` (NaN if none)."""
        return np.array([np.median(v[ok[:, k], k]) if ok[:, k].any() else np.nan for k in range(n_groups)])

    means = {k: v / n for k, v in total.items()}
    for k in _GRADIENTS:
        out[f"rms_{k}"] = np.sqrt(sq[k].sum(axis=0) / (n * counts))
        out[f"rms_mean_{k}"] = np.sqrt((means[k] ** 2) @ member / counts)
        out[f"med_rms_{k}"] = median(np.sqrt(sq[k] / counts))
    for k in ESTIMATORS:
        with np.errstate(invalid="ignore", divide="ignore"):
            norms = np.sqrt(sq[k] * sq["exact"])
            cos = np.where(norms > 0, dot[k] / norms, 0.0)  # an estimate of zero: cosine 0
            out[f"cos_{k}"] = np.where(ok, cos, 0.0).sum(axis=0) / ok.sum(axis=0)
            out[f"med_cos_{k}"] = median(cos)
            out[f"med_ratio_{k}"] = median(np.sqrt(sq[k] / sq["exact"]))
            norms = np.sqrt(((means[k] ** 2) @ member) * ((means["exact"] ** 2) @ member))
            out[f"cos_mean_{k}"] = ((means[k] * means["exact"]) @ member) / norms


def compare(
    net: EqPropNetwork,
    x: np.ndarray,
    y: np.ndarray,
    s0: np.ndarray,
    beta: float,
    n_clamped: int | None = None,
) -> pd.DataFrame:
    """The module docstring's measures of ``net`` on examples ``x``, ``y`` at ``beta``.

    Parameters
    ----------
    net : EqPropNetwork
        Its graph, weights, biases, ``eps``, ``nudge_factor`` and ``n_clamped`` are
        used; its ``nudge``, ``beta`` and dtype are not.
    x, y : arrays (n, n_in), (n, n_out)
    s0 : array (n, N)
        The free states (:func:`free_states`).
    beta : float > 0
    n_clamped : int, optional
        Steps of each clamped phase (default the network's).

    Returns
    -------
    pandas.DataFrame
        One row per edge group: the columns of :data:`COLUMNS` from
        ``max_residual`` on.
    """
    beta = check_real("beta", beta, "(0, inf)")
    g = net.graph
    kb = net.config.nudge_factor * beta
    steps = {} if n_clamped is None else {"n_clamped": n_clamped}
    free = _twin(net, nudge="gradient", beta=beta, **steps)
    plus = free.clamped_phase(x, y, s0)
    minus = _twin(net, nudge="gradient", beta=-beta, **steps).clamped_phase(x, y, s0)
    after = _twin(net, nudge="after-step", beta=beta, **steps).clamped_phase(x, y, s0)
    residual = gradient.fixed_point_residual(g, free.weights, free.biases, s0)

    names, group = edge_groups(g)
    n_groups = len(names)
    member = sparse.csr_array(
        (np.ones(g.n_edges), (np.arange(g.n_edges), group)), shape=(g.n_edges, n_groups)
    )
    sq = {k: [] for k in _GRADIENTS}  # per example and group: sum of squares
    dot = {k: [] for k in ESTIMATORS}  # per example and group: <estimate, exact>
    total = {k: np.zeros(g.n_edges) for k in _GRADIENTS}
    for a in range(0, x.shape[0], CHUNK):
        c = slice(a, a + CHUNK)
        vals = {
            "exact": gradient.cost_gradient(g, free.weights, free.biases, s0[c], y[c])[0],
            "one_sided": gradient.eqprop_estimate(g, s0[c], plus[c], kb)[0],
            "symmetric": gradient.eqprop_estimate(g, minus[c], plus[c], 2.0 * kb)[0],
            "after_step": gradient.eqprop_estimate(g, s0[c], after[c], kb)[0],
        }
        for k, v in vals.items():
            sq[k].append(v**2 @ member)
            total[k] += v.sum(axis=0)
        for k in ESTIMATORS:
            dot[k].append((vals[k] * vals["exact"]) @ member)
    sq = {k: np.concatenate(v) for k, v in sq.items()}
    dot = {k: np.concatenate(v) for k, v in dot.items()}
    n, counts = x.shape[0], np.bincount(group, minlength=n_groups)
    ok = sq["exact"] > 0  # (examples, groups): the exact gradient moves the group
    state = s0[:, g.layer_sizes[0] :]
    out = {
        "max_residual": float(residual.max()),
        "mean_residual": float(residual.mean()),
        "frac_clipped": float(np.mean((state == 0) | (state == 1))),
        "group": names,
        "edges": counts,
        "examples_nonzero": ok.sum(axis=0),
    }
    _add_measures(out, sq, dot, total, ok, member, counts, n)
    return pd.DataFrame(out)[COLUMNS[COLUMNS.index("max_residual") :]]


def _sources(args: argparse.Namespace) -> list[tuple[str, int, int, EqPropNetwork, str, str | None]]:
    """(label, seed, epoch, network, data set, data folder) of every source asked for."""
    out = []
    for name in args.preset or []:
        spec = TrialSpec.from_settings(
            {**TRAIN_PRESETS[name], "preset": name, "seed": args.seed}, data_dir=args.data_dir
        )
        out.append(
            (name, args.seed, 0, trial.new_network(spec, build_graph(spec)), spec.dataset, args.data_dir)
        )
    for run in args.run or []:
        spec = schema.run_spec(Path(run))
        net, epoch = training_runs.load_checkpoint(run)
        out.append((Path(run).name, int(spec["seed"]), epoch, net, spec["dataset"], args.data_dir))
    return out


def measure(args: argparse.Namespace) -> pd.DataFrame:
    """Every source at every beta not yet in ``args.out``; appends and returns the new rows."""
    if not (args.preset or args.run):
        raise ValueError("give at least one --preset NAME or --run RUN_DIR")
    betas = [check_real("--beta", b, "(0, inf)") for b in (args.beta or [])]
    frames = []
    with ResultLog(args.out, COLUMNS) as log:
        done = log.values("measurement")
        for label, seed, epoch, net, dataset, data_dir in _sources(args):
            cfg = net.config
            n_free = cfg.n_free if args.n_free is None else args.n_free
            data = datasets.load(dataset, data_dir=data_dir, n_train=args.n, n_test=1)
            x, y = data.x_train[: args.n], data.y_train[: args.n]
            s0 = None
            for beta in betas or [abs(cfg.beta)]:
                for n_clamped in args.n_clamped or [cfg.n_clamped]:
                    key = f"{label}/seed{seed}/epoch{epoch}/n{x.shape[0]}/free{n_free}/beta{beta:g}/clamped{n_clamped}"
                    if key in done:
                        print(f"{key}: already in {args.out}, skipped")
                        continue
                    if s0 is None:
                        s0 = free_states(net, x, n_free)
                    head = {"measurement": key, "source": label, "seed": seed, "epoch": epoch}
                    head |= {"n": x.shape[0], "beta": beta, "nudge_factor": cfg.nudge_factor}
                    head |= {"n_free": n_free, "n_clamped": n_clamped}
                    rows = compare(net, x, y, s0, beta, n_clamped)
                    rows = pd.concat([pd.DataFrame([head] * len(rows)), rows], axis=1)[COLUMNS]
                    log.append(rows)
                    frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m analysis.gradient_vs_eqprop",
        description="Per layer pair: RMS and cosine of the exact gradient and of EqProp's estimates.",
    )
    parser.add_argument(
        "--preset",
        action="append",
        choices=sorted(TRAIN_PRESETS),
        help="a train preset's network at initialisation (repeatable)",
    )
    parser.add_argument("--run", action="append", help="a run folder's last checkpoint (repeatable)")
    parser.add_argument(
        "--seed", type=nonneg_int, default=0, help="seed of the presets' networks (default 0)"
    )
    parser.add_argument(
        "--n", type=positive_int, default=1000, help="first N training examples (default 1000)"
    )
    parser.add_argument(
        "--beta", type=float_list, help="positive betas, comma-separated (default: each network's |beta|)"
    )
    parser.add_argument(
        "--n-free", type=positive_int, help="free-phase steps (default: each network's n_free)"
    )
    parser.add_argument(
        "--n-clamped",
        type=int_list,
        help="clamped-phase steps, comma-separated (default: each network's n_clamped)",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"results CSV to append to (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--data-dir", help="folder holding mnist/ (default: $SMALLWORLD_EQP_DATA, else ./data)"
    )
    return parser


def _main(args: argparse.Namespace) -> None:
    table = measure(args)
    keep = ["source", "epoch", "beta", "n_clamped", "group", "med_rms_exact"]
    keep += [f"med_rms_{k}" for k in ESTIMATORS] + [f"med_cos_{k}" for k in ESTIMATORS]
    print(markdown_table(table[keep]))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (bad input exits 2 with one line on stderr)."""
    # RuntimeError: a checkpoint that cannot be read (training_runs.RunStateError).
    return run_main(
        build_parser(), _main, argv, bad_input=(ValueError, TypeError, OSError, RuntimeError, ResultLogError)
    )


if __name__ == "__main__":
    sys.exit(main())
