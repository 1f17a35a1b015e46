"""The trial spec: settings declared once, flags, presets, --vary, hash and columns derive."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from smallworld_eqp import config, settings, sweep, train
from smallworld_eqp.study import presets, spec
from smallworld_eqp.study.grid import expand, parse_vary
from smallworld_eqp.study.spec import TrialSpec
from smallworld_eqp.validate import Constraint, Interval


def test_every_setting_has_a_flag_in_both_commands():
    sweep_flags = {a.dest for a in sweep.build_parser()._actions}
    train_flags = {a.dest for a in train.build_parser()._actions}
    for cls in (TrialSpec, config.EqPropConfig):
        for f in settings.declared(cls):
            if f.metadata["flag"]:
                assert f.name in sweep_flags and f.name in train_flags, f.name
    # the swept settings have their own flags
    assert {"replacements", "p", "seeds", "vary"} <= sweep_flags and {
        "replacements",
        "p",
        "seed",
    } <= train_flags


def test_settings_round_trip_and_config_fields_inline():
    s = TrialSpec(
        layers=(8, 4, 4, 3), p=0.2, intra=True, learning_rate=(0.1, 0.2, 0.3), nudge_factor=2.0, seed=4
    )
    assert s.config.learning_rate == (0.1, 0.2, 0.3) and s.config.nudge_factor == 2.0
    flat = s.settings()
    assert set(flat) == set(spec.SETTING_NAMES) and flat["nudge_factor"] == 2.0
    assert TrialSpec.from_settings(flat) == s
    assert TrialSpec.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert s.replace(nudge_factor=1.0).config.nudge_factor == 1.0 and s.replace(seed=5).trial_id != s.trial_id


def test_unknown_settings_are_refused_by_name():
    with pytest.raises(TypeError, match="unknown setting 'learning_rat'"):
        TrialSpec(learning_rat=0.1)
    with pytest.raises(ValueError, match="unknown setting 'bogus'; allowed: preset, dataset"):
        TrialSpec.from_settings({"bogus": 1})


def test_recipe_is_what_build_graph_follows():
    s = TrialSpec(layers=(6, 5, 5, 2), intra=True, n=4, steps=({"op": "without_kind", "kind": "intra"},))
    assert [step["op"] for step in s.recipe] == ["layered", "connect_within_layers", "rewire", "without_kind"]
    g = spec.build_graph(s)
    assert g.kind_counts()["intra"] == 0 and [h["op"] for h in g.history] == [r["op"] for r in s.recipe]
    assert s.columns()["steps"] == '[{"kind": "intra", "op": "without_kind"}]'
    with pytest.raises(ValueError, match="recipe step 'without_kind' takes no argument 'kinds'"):
        TrialSpec(steps=({"op": "without_kind", "kinds": "intra"},))
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], got 1.5"):
        TrialSpec(p=1.5)  # checked by its owner (rewire) before anything is built


def test_a_setting_added_later_enters_the_hash_only_off_its_default():
    base = TrialSpec(layers=(8, 4, 3), n=3)
    for name, value in [("nudge", "after-step"), ("reuse_removed", True), ("batch_order", "fixed")]:
        assert name in spec.LATER_DEFAULTS
        assert base.replace(**{name: value}).config_hash != base.config_hash
    d = base.to_dict()
    d["config"] = {k: v for k, v in d["config"].items() if k not in spec.LATER_DEFAULTS and k != "seed"}
    legacy = {k: v for k, v in d.items() if k not in spec.LATER_DEFAULTS and k not in ("seed", "data_dir")}
    import hashlib

    blob = json.dumps(legacy, sort_keys=True, default=str).encode()
    assert hashlib.sha1(blob).hexdigest()[:12] == base.config_hash


#: The settings added after 0.1, by the version that added them: they enter the trial
#: hash only off their default, so this list is part of every recorded trial id.
LATER_SETTINGS = {
    "reuse_removed": "0.2",
    "design": "0.3",
    "steps": "0.2",
    "init_scale": "0.2",
    "nudge": "0.2",
    "bias_learning_rate": "0.2",
    "batch_order": "0.2",
    "test_particles": "0.2",
}


def test_every_setting_declares_the_values_it_allows():
    with pytest.raises(TypeError, match="required keyword-only argument: 'allowed'"):
        settings.setting(1, "a setting that forgot its values", since="0.1")
    for cls in (TrialSpec, config.EqPropConfig):
        for f in settings.declared(cls):
            assert isinstance(f.metadata.get("allowed"), Constraint), f"{cls.__name__}.{f.name}"
    # the fields that are no settings but are checked alike
    assert isinstance(dataclasses.fields(config.EqPropConfig)[-1].metadata["allowed"], Constraint)
    assert {f.name for f in dataclasses.fields(TrialSpec) if "allowed" in f.metadata} == {
        *(f.name for f in settings.declared(TrialSpec)),
        "config",
    }


def test_a_setting_names_the_version_that_added_it():
    with pytest.raises(TypeError, match="required keyword-only argument: 'since'"):
        settings.setting(1, "a setting that forgot its version", allowed=Interval(int))
    assert settings.setting(1, "a new one", since="0.4", allowed=Interval(int)).metadata["since"] == "0.4"
    since = {
        f.name: f.metadata["since"]
        for cls in (TrialSpec, config.EqPropConfig)
        for f in settings.declared(cls)
    }
    assert set(since) == set(spec.SETTING_NAMES)
    assert {k: v for k, v in since.items() if v != settings.BASE_VERSION} == LATER_SETTINGS
    assert set(spec.LATER_DEFAULTS) == set(LATER_SETTINGS)


COMMITTED = Path(__file__).resolve().parents[1] / "analysis" / "results"
#: The committed sweep CSVs (one row per trial, with its settings and rewiring).
COMMITTED_SWEEPS = sorted(
    path
    for path in COMMITTED.rglob("*.csv")
    if {"trial_id", "requested", "n_replaced"} <= set(path.open().readline().strip().split(","))
)


def spec_of_row(row: pd.Series) -> TrialSpec:
    """The spec of a sweep row from its cells: the settings it has columns for (a file
    written before a setting existed ran it at its default), the rewiring asked for
    (``n`` as ``n_replaced`` or ``p``) and the seed."""
    values = {}
    for name in spec.setting_columns():
        if name in row and not pd.isna(row[name]):
            f = spec.setting_field(name)
            sep = "-" if name == "layers" else ","
            values[name] = settings.parse_value(f, row[name], sep)
    amount = row["requested"]
    values[amount] = float(row["p"]) if amount == "p" else int(row["n_replaced"])
    return TrialSpec.from_settings({**values, "seed": int(row["seed"])})


@pytest.mark.parametrize("path", COMMITTED_SWEEPS, ids=lambda p: str(p.relative_to(COMMITTED)))
def test_every_committed_sweep_row_keeps_its_trial_id(path):
    # The ids recorded in analysis/results/ by versions 0.1 to today are the ids their
    # settings hash to now: no setting's ``since`` or hashing changed under them.
    rows = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    got = [spec_of_row(row).trial_id for _, row in rows.iterrows()]
    assert got == rows["trial_id"].tolist()


def test_the_committed_sweeps_are_checked():
    names = {p.name for p in COMMITTED_SWEEPS}
    assert {"quick_sweep.csv", "paper_sweep.csv", "authors_code_sweep.csv", "graph_designs.csv"} <= names
    assert sum(len(pd.read_csv(p)) for p in COMMITTED_SWEEPS) >= 300


@pytest.mark.parametrize(
    "text, name, values",
    [
        ("learning_rate=0.1/0.05/0.02,0.02", "learning_rate", [(0.1, 0.05, 0.02), 0.02]),
        ("nudge-factor=1,2", "nudge_factor", [1.0, 2.0]),
        ("intra=true,false", "intra", [True, False]),
        ("layers=64/16/10,64/8/8/10", "layers", [(64, 16, 10), (64, 8, 8, 10)]),
        ("nudge=gradient,after-step", "nudge", ["gradient", "after-step"]),
        ("tol=none,1e-4", "tol", [None, 1e-4]),
    ],
)
def test_parse_vary(text, name, values):
    assert parse_vary(text) == (name, values)


@pytest.mark.parametrize(
    "text, match",
    [
        ("learning_rate", "expected NAME=VALUE,VALUE"),
        ("learning_rate=", "expected NAME=VALUE,VALUE"),
        ("learning_rate=0.1,,0.2", "expected values of learning_rate separated by ',', got '0.1,,0.2'"),
        ("steps=[];", "expected values of steps separated by ';'"),
        ('steps=[{"op": "without_kind"},[]', "expected a JSON list of steps"),
        ("bogus=1,2", "unknown setting 'bogus'"),
        ("seed=1,2", "seed is swept by its own flag"),
        ("n_free=1.5", "expected an integer, got '1.5'"),
        ("intra=maybe", "expected true or false"),
    ],
)
def test_parse_vary_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_vary(text)


def test_expand_crosses_vary_grid_and_seeds_in_order():
    specs = expand(
        {"layers": (64, 8, 10), "n": (0, 5), "seed": (0, 1)},
        vary={"learning_rate": [0.05, 0.1], "intra": [False, True]},
    )
    got = [(s.config.learning_rate, s.intra, s.n, s.seed) for s in specs]
    assert len(got) == 16 and got[:3] == [(0.05, False, 0, 0), (0.05, False, 0, 1), (0.05, False, 5, 0)]
    assert got[-1] == (0.1, True, 5, 1)
    assert len({s.trial_id for s in specs}) == 16
    with pytest.raises(ValueError, match="n is swept by its own flag"):
        expand({"layers": (64, 8, 10)}, vary={"n": [1, 2]})


def test_sweep_cli_vary_gives_the_product(tmp_path):
    args = sweep.build_parser().parse_args(
        [
            "--replacements",
            "0,5",
            "--seeds",
            "0",
            "--vary",
            "learning_rate=0.05,0.1",
            "--vary",
            "nudge_factor=1,2",
        ]
    )
    specs = sweep.specs_from_args(args)
    assert len(specs) == 8
    assert {(s.config.learning_rate, s.config.nudge_factor) for s in specs} == {
        (lr, k) for lr in (0.05, 0.1) for k in (1.0, 2.0)
    }
    twice = sweep.build_parser().parse_args(["--vary", "eps=0.5", "--vary", "eps=0.4"])
    with pytest.raises(ValueError, match="--vary eps is given twice"):
        sweep.specs_from_args(twice)


def test_sweep_cli_varies_steps_separated_by_semicolons():
    drop = '[{"op": "without_kind", "kind": "skip"}]'
    both = '[{"op": "without_kind", "kind": "skip"}, {"op": "without_kind", "kind": "intra"}]'
    args = sweep.build_parser().parse_args(
        ["--replacements", "0,5", "--seeds", "0", "--intra", "--vary", f"steps=[];{drop}; {both}"]
    )
    specs = sweep.specs_from_args(args)
    assert [(len(s.steps), s.n) for s in specs] == [(0, 0), (0, 5), (1, 0), (1, 5), (2, 0), (2, 5)]
    assert specs[5].recipe[-2:] == [
        {"op": "without_kind", "kind": "skip"},
        {"op": "without_kind", "kind": "intra"},
    ]
    assert "separated by ';' (steps)" in " ".join(sweep.build_parser().format_help().split())


def test_presets_have_one_shape():
    for name, preset in {**presets.SWEEP_PRESETS, **presets.TRAIN_PRESETS}.items():
        assert set(preset) <= set(spec.SETTING_NAMES), name
        specs = expand(preset)
        if name in presets.TRAIN_PRESETS:
            assert len(specs) == 1, name
        assert all(s.config == specs[0].config for s in specs), name


def test_columns_follow_the_declarations():
    s = TrialSpec(layers=(8, 4, 3), learning_rate=(0.1, 0.2), tol=1e-3)
    cells = s.columns()
    assert list(cells) == spec.setting_columns()
    assert cells["layers"] == "8-4-3" and cells["learning_rate"] == "0.1,0.2" and cells["steps"] == ""
    fields = {f.name for f in dataclasses.fields(config.EqPropConfig)} - {"seed"}
    assert fields <= set(cells)


def test_a_trial_checks_its_settings_once_and_its_recipe_once(monkeypatch):
    from smallworld_eqp.graph import recipes

    checks = {"config": 0, "recipe": 0}
    check_config, check_recipe = config.EqPropConfig.__post_init__, recipes.check_recipe

    def counted_config(self):
        checks["config"] += 1
        check_config(self)

    def counted_recipe(recipe):
        checks["recipe"] += 1
        check_recipe(recipe)

    monkeypatch.setattr(config.EqPropConfig, "__post_init__", counted_config)
    monkeypatch.setattr(recipes, "check_recipe", counted_recipe)
    trial = TrialSpec(layers=(8, 4, 4, 3), n=3, eps=0.4, n_free=5)
    assert checks == {"config": 1, "recipe": 1}
    net_config, graph = spec.network_config(trial), spec.build_graph(trial)
    assert checks == {"config": 1, "recipe": 1}  # the trial's network and graph: not checked again
    monkeypatch.undo()
    assert net_config == dataclasses.replace(trial.config, seed=spec.derived_seed(trial.seed, 1))
    assert graph == recipes.build(trial.recipe, seed=spec.derived_seed(trial.seed, 0))


def test_every_setting_is_checked_even_when_it_has_no_effect():
    # mode was checked only for a trial that rewires; a spec holding another mode had its own id
    with pytest.raises(ValueError, match="^mode must be one of replace, add, got 'swap'$"):
        TrialSpec(mode="swap")
