"""Every figure and table of the reproduction from a results folder.

Layout of the results folder (what ``smallworld_eqp.sweep`` and
``smallworld_eqp.train`` write)::

    DIR/*sweep*.csv                sweep tables, one row per trial
    DIR/*sweep*_rates.csv          their per-batch rates (not drawn here)
    DIR/*sweep*_epochs.csv         their per-epoch errors (not drawn here)
    DIR/runs/<name>/epochs.csv     per-epoch errors of a long training run
    DIR/runs/<name>/rates.csv      its per-batch layer-pair rates (or rates.csv.xz)
    DIR/runs/<name>/saturation.csv per-layer saturation (``analysis.saturation``)

Usage::

    python -m analysis.report --results data/results --figures docs/figures

writes to ``--figures``, from whichever of those files exist:

* ``fig2.png`` (runs' error curves) and ``fig3.png`` (runs' layer-pair rates); with
  runs of several networks (``layers`` in their ``run.json``) one of each per network,
  ``fig2_784-500-500-500-10.png`` and so on;
* ``fig4.png`` (one-epoch error against replacements, one panel per network, with
  the per-pair totals when the sweep holds one configuration) and ``fig4_p.png``
  (against p); studies are named by their preset, or, where several of one preset
  differ in many settings, by the sweep file they came from;
* ``correlations.md`` + scatter plots and ``decay_fit.md`` + plot;
* ``report.md``: tables of the runs and of the sweep, and all of the above.

A part that cannot be made (say too few trials for the fit) is listed in
``report.md`` with the reason instead of stopping the others.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from analysis import correlations, decay_fit, each_group, markdown_path, markdown_table, write_markdown
from smallworld_eqp import plots
from smallworld_eqp.cli import OneLineParser, run_main
from smallworld_eqp.engine import spread
from smallworld_eqp.owned import OutputError, check_name, check_output_folder
from smallworld_eqp.study import schema, studies

#: How ``report.md`` starts (how a later run knows the file is ours).
HEADING = "# Results from"


def find_results(folder: Path) -> dict[str, list[Path]]:
    """The result files in ``folder`` by kind: ``sweeps``, ``epochs``, ``rates`` (sorted)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--results {folder} is a file; --results takes a results folder")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    beside = tuple(f"_{table}" for table in schema.SWEEP_TABLES)  # a sweep's long tables, not sweeps
    sweeps = sorted(p for p in folder.glob("*sweep*.csv") if not p.stem.endswith(beside))
    runs = sorted(d for d in folder.glob("runs/*") if d.is_dir())
    return {
        "sweeps": sweeps,
        "epochs": sorted(folder.glob("runs/*/epochs.csv")),
        # A run's rates, or their xz-compressed copy (committed where the plain file is large).
        "rates": [f for f in (schema.run_file(d, "rates.csv") for d in runs) if f.is_file()],
        "saturation": sorted(folder.glob("runs/*/saturation.csv")),
    }


def runs_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per run: epochs, last and best errors (%), total seconds. The online error is the
    last epoch's mean over its batches (what the authors log as training error), the
    train error the last one measured from zero (``--train-eval-every`` may skip epochs)."""
    g = epochs.sort_values("epoch").groupby("run", sort=False)
    return pd.DataFrame(
        {
            "epochs": g["epoch"].max(),
            "final online error %": 100 * g["online_error"].last(),
            "final train error %": 100 * g["train_error"].last(),
            "final test error %": 100 * g["test_error"].last(),
            "best test error %": 100 * g["test_error"].min(),
            "hours": g["seconds"].sum() / 3600.0,
        }
    ).reset_index()


def sweep_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per study (:func:`studies.by_configuration`) and replacement count: trials and
    mean (std) of the outcomes."""
    tables = []
    for label, rows in studies.by_configuration(df):
        g = rows.groupby("n_replaced", sort=True)
        out = g.size().rename("trials").to_frame()
        out["p"] = g["p"].mean()
        for col, name in (
            ("online_error_epoch1", "one-epoch error %"),
            ("test_error", "test error %"),
        ):
            out[name] = 100 * g[col].mean()
            out[f"{name} std"] = 100 * g[col].std()
        for col in ("spread", "log_spread", "path_length", "clustering"):
            out[col] = g[col].mean()
        out = out.reset_index()
        out.insert(0, "study", label)
        tables.append(out)
    return pd.concat(tables, ignore_index=True)


def _section(title: str, make: Callable[[], str], notes: list[str]) -> str:
    """Run one part of the report; on bad or insufficient data, note why and go on."""
    try:
        return make()
    except OutputError:  # a file that is not ours stops the report: nothing to note
        raise
    except (ValueError, RuntimeError) as exc:
        notes.append(f"- {title}: skipped ({' '.join(str(exc).split())})")
        return ""


def by_network(paths: list[Path]) -> list[tuple[str, list[Path]]]:
    """Run files grouped by their run's layer sizes (``run.json`` beside each file).

    Labels are the sizes joined by ``-`` (``"784-500-500-500-10"``); files without a
    readable ``run.json`` (:func:`schema.run_spec`) form one group labelled
    ``"other"``. Groups keep first-seen order.
    """
    groups: dict[str, list[Path]] = {}
    for path in paths:
        try:
            label = "-".join(map(str, schema.run_spec(path)["layers"]))
        except (OSError, ValueError, KeyError, TypeError):
            label = "other"
        groups.setdefault(label, []).append(path)
    return list(groups.items())


def _each_network(
    paths: list[Path], heading: str, make: Callable[[list[Path], str], tuple[str, list[Path]]]
) -> str:
    """``make(files, suffix)`` per network (:func:`analysis.each_group`), so one figure
    per network and no mixed axes; a network whose runs cannot be drawn is listed."""
    body, _ = each_group(by_network(paths), make, lambda k, label, _: label)
    return f"{heading}\n\n{body}"


def _runs_part(epochs: list[Path], figures_dir: Path) -> str:
    def make(files: list[Path], suffix: str) -> tuple[str, list[Path]]:
        png = plots.fig2(files, figures_dir / f"fig2{suffix}.png")
        table = runs_table(schema.load_epochs(files))
        return f"{markdown_table(table)}\n\n![fig2]({png.name})", [png]

    return _each_network(epochs, "## Training runs (Fig. 2)", make)


def rates_table(rates: pd.DataFrame) -> pd.DataFrame:
    """Per run (:func:`schema.load_rates`'s ``run``) and epoch: per-pair totals of the epoch's rates (eq. 22,
    every batch), Spread (eq. 23) and log-spread (:func:`spread.summarise`), the number
    of batches and ``output_idle``, how many of them left the output pair uncorrected
    (RMS exactly 0: every output clipped in both phases)."""
    rows = []
    run_of = rates["run"] if "run" in rates else rates["trial_id"]  # load_rates names runs
    for (run, epoch), part in rates.groupby([run_of.rename("run"), "epoch"], sort=True):
        wide = schema.pivot_rates(part).to_numpy(dtype=float)
        rows.append(
            {
                "run": run,
                "epoch": epoch,
                **spread.summarise(wide, 1),
                "batches": len(wide),
                "output_idle": int((wide[:, -1] == 0).sum()),
            }
        )
    return pd.DataFrame(rows)


def _rates_part(rates: list[Path], figures_dir: Path) -> str:
    def make(files: list[Path], suffix: str) -> tuple[str, list[Path]]:
        png = plots.fig3(files, figures_dir / f"fig3{suffix}.png")
        table = rates_table(schema.load_rates(files))
        return f"{markdown_table(table)}\n\n![fig3]({png.name})", [png]

    heading = (
        "## Layer-pair training rates (Fig. 3)\n\n"
        "Per-pair totals of the correction RMS over each epoch (eq. 22, every batch; pair 0 joins "
        "the input and the first hidden layer), Spread (eq. 23) and log-spread; output_idle: batches "
        "whose output pair got no correction at all."
    )
    return _each_network(rates, heading, make)


def _saturation_part(paths: list[Path]) -> str:
    table = pd.concat([pd.read_csv(p).assign(run=schema.run_name(p)) for p in paths], ignore_index=True)
    table = table[["run", *(c for c in table.columns if c != "run")]]
    return (
        "## Saturation of the free-phase states (`analysis.saturation`)\n\n"
        "Per layer of each run's last checkpoint; input_std 0: the layer no longer depends on the input.\n\n"
        f"{markdown_table(table)}"
    )


def _sweep_part(sweep: pd.DataFrame, paths: list[Path], figures_dir: Path) -> str:
    # One Fig. 4 per kind of error (a rate and a cost share no axis): fig4.png for the
    # first, fig4_cost.png and so on for the others.
    measures = sorted(set(sweep["error_measure"]), key=lambda m: (m != "misclassification", m))
    figures = []
    for measure in measures:
        suffix = "" if measure == measures[0] else f"_{measure}"
        # The per-pair panel needs a single configuration (see plots.fig4).
        single = len(studies.by_configuration(sweep[sweep["error_measure"] == measure])) == 1
        png = plots.fig4(paths, figures_dir / f"fig4{suffix}.png", test=True, pairs=single, measure=measure)
        png_p = plots.fig4(paths, figures_dir / f"fig4_p{suffix}.png", x="p", test=True, measure=measure)
        figures += [f"![fig4, {measure}]({png.name})", f"![fig4 against p, {measure}]({png_p.name})"]
    png_s = plots.fig_studies(paths, figures_dir / "studies.png")
    figures.append(f"![every seed per study]({png_s.name})")
    return (
        f"## Replacement sweep (Fig. 4)\n\n{len(sweep)} ok trials from {', '.join(map(str, paths))}.\n\n"
        f"{markdown_table(sweep_table(sweep))}\n\n" + "\n\n".join(figures)
    )


def _ok_trials(paths: list[Path], notes: list[str]) -> pd.DataFrame | None:
    """The ok trials of the sweeps, or None (with a note) when there are none or a file is bad."""
    try:
        df = schema.load_sweep(paths, source=True)  # studies alike in many settings are named by file
    except ValueError as exc:
        notes.append(f"- sweep: skipped ({exc})")
        return None
    if df.empty:
        notes.append(f"- sweep: skipped (no ok trial in {', '.join(map(str, paths))})")
        return None
    return df


def make_report(results_dir: Path, figures_dir: str | Path) -> Path:
    """Write every figure and table; return the path of ``report.md``.

    Raises
    ------
    FileNotFoundError
        If ``results_dir`` does not exist.
    ValueError
        If it holds none of the result files of the documented layout.
    """
    figures_dir = check_output_folder(figures_dir, flag="--figures")
    # The markdown files first, before anything is read or drawn: one that is not ours stops the report.
    report = markdown_path(figures_dir / "report.md", HEADING, "--figures")
    markdown_path(figures_dir / "correlations.md", correlations.HEADING, "--figures")
    markdown_path(figures_dir / "decay_fit.md", decay_fit.HEADING, "--figures")
    found = find_results(results_dir)
    if not any(found.values()):
        raise ValueError(
            f"{results_dir}: no result CSVs found (expected *sweep*.csv or runs/<name>/epochs.csv, rates.csv)"
        )
    figures_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    parts = [f"{HEADING} `{results_dir}`"]
    if found["epochs"]:
        parts.append(_section("Fig. 2", lambda: _runs_part(found["epochs"], figures_dir), notes))
    if found["rates"]:
        parts.append(_section("Fig. 3", lambda: _rates_part(found["rates"], figures_dir), notes))
    if found["saturation"]:
        parts.append(_section("saturation", lambda: _saturation_part(found["saturation"]), notes))
    sweep = _ok_trials(found["sweeps"], notes) if found["sweeps"] else None
    if sweep is not None:
        sources = [str(p) for p in found["sweeps"]]
        parts.append(_section("Fig. 4", lambda: _sweep_part(sweep, found["sweeps"], figures_dir), notes))
        parts.append(
            _section("decay fit", lambda: decay_fit.write(sweep, figures_dir, sources=sources)[0], notes)
        )
        parts.append(
            _section("correlations", lambda: correlations.write(sweep, figures_dir, sources)[0], notes)
        )
    if notes:
        parts.append("\n".join(["## Not made", "", *notes]))
    return write_markdown(
        report, "\n\n".join(p.strip() for p in parts if p.strip()) + "\n", HEADING, "--figures"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m analysis.report",
        description="Regenerate every figure and markdown table from a results folder.",
    )
    parser.add_argument("--results", required=True, help="results folder (*sweep*.csv, runs/<name>/)")
    parser.add_argument("--figures", required=True, help="output folder for figures and markdown")
    return parser


def _report(args: argparse.Namespace) -> None:
    print(make_report(check_name(args.results, "--results"), args.figures))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (bad input exits 2 with one line on stderr)."""
    return run_main(build_parser, _report, argv)


if __name__ == "__main__":
    sys.exit(main())
