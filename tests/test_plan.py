"""``bench plan``: seeds per configuration from the noise of a recipe's finished records."""

from __future__ import annotations

import json
import math

import pytest

from bench.cli import main
from bench.grid import load_grid
from bench.plan import make_plan
from bench.report.stats import minimum_detectable_effect, paired_mde
from tests.conftest import golden_record, write_golden

GRID = """
[study]
name = "planned"
[data]
name = "shapes"
train_size = 100
[train]
epochs = 2
[[grid]]
backbone = "resnet20"
attention = ["none", "se"]
seed = {count = 3}
"""
# 8 pilot seeds of the baseline, 8 of se: se moves with the baseline over seeds (paired)
BASE = [90.0, 90.4, 89.7, 90.9, 90.2, 89.5, 90.6, 90.1]
SE = [
    v + 0.3 + d for v, d in zip(BASE, [0.05, -0.05, 0.1, -0.1, 0.0, 0.05, -0.05, 0.0], strict=True)
]


def _grid(tmp_path, text: str = GRID):
    path = tmp_path / "planned.toml"
    path.write_text(text)
    return path


def _records(study: str = "pilot", attentions: tuple[str, ...] = ("none", "se")) -> list:
    values = {"none": BASE, "se": SE}
    return [
        golden_record(study, name, seed, top1, extra={"wall_seconds": 120.0})
        for name in attentions
        for seed, top1 in enumerate(values[name])
    ]


def test_seed_count_table_expands():
    import tomllib

    from bench.grid import expand_grid

    grid = expand_grid(tomllib.loads(GRID))
    assert sorted({s.seed for s in grid.specs}) == [0, 1, 2]


def test_paired_plan_from_another_study_of_the_same_recipe(tmp_path):
    results = tmp_path / "results"
    write_golden(results, _records())
    plan = make_plan(load_grid(_grid(tmp_path)), results, target_mde=0.1)
    assert plan.noise.paired and plan.noise.records == 16 and plan.noise.studies == ("pilot",)
    diffs = [s - b for s, b in zip(SE, BASE, strict=True)]
    mean = sum(diffs) / len(diffs)
    std_diff = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1))
    assert plan.noise.std_diff == pytest.approx(std_diff)
    needed = plan.configs[0].needed
    assert needed is not None and paired_mde(std_diff, needed) <= 0.1 < paired_mde(
        std_diff, needed - 1
    )
    # the pilot's runs belong to another study: none of the planned run ids is finished
    assert all(c.done == 0 and c.missing == needed for c in plan.configs)
    assert plan.configs[0].minutes_per_run == pytest.approx(2.0)
    assert plan.configs[0].hours_missing == pytest.approx(needed * 2 / 60)


def test_without_pairs_the_plan_uses_welch_on_the_seed_std(tmp_path):
    results = tmp_path / "results"
    write_golden(results, _records(attentions=("none",)))
    plan = make_plan(load_grid(_grid(tmp_path)), results, hours_per_config=0.5)
    assert not plan.noise.paired
    # half an hour of 2-minute runs: 15 seeds of the baseline; se has no run time to plan with
    assert [c.needed for c in plan.configs] == [15, None]
    assert plan.configs[1].time_basis == "no similar record"
    assert plan.noise.mde(15) == pytest.approx(minimum_detectable_effect(plan.noise.std, 15))


def test_other_recipes_do_not_count(tmp_path):
    results = tmp_path / "results"
    write_golden(
        results,
        [golden_record("pilot", "none", s, v, train={"epochs": 3}) for s, v in enumerate(BASE)],
    )
    with pytest.raises(Exception, match="run a pilot first"):
        make_plan(load_grid(_grid(tmp_path)), results)


def test_cli_plan_json_and_bad_input(tmp_path, capsys):
    results = tmp_path / "results"
    write_golden(results, _records())
    grid = str(_grid(tmp_path))
    assert (
        main(["plan", "--grid", grid, "--results", str(results), "--target-mde", "0.2", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["test"] == "paired t-test"
    assert [r["configuration"] for r in out["configurations"]] == [
        "resnet20",
        "resnet20 + se@block r16",
    ]
    assert all(r["mde_points"] <= 0.2 for r in out["configurations"])
    for argv, needle in (
        (["plan", "--grid", str(tmp_path / "nope.toml")], "nope"),
        (["plan", "--grid", grid, "--results", str(tmp_path / "empty")], "pilot"),
        (["plan", "--grid", grid, "--target-mde", "0"], "positive"),
        (["plan", "--grid", grid, "--target-mde", "1", "--hours", "1"], "not both"),
    ):
        assert _exit_status(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_grid_seed_count_errors(tmp_path):
    for bad in ("{count = 0}", "{count = 2, stride = 3}", '{count = "8"}'):
        path = _grid(tmp_path, GRID.replace("seed = {count = 3}", f"seed = {bad}"))
        assert main(["plan", "--grid", str(path)]) == 2


def _exit_status(argv: list[str]) -> int:
    """``main``'s return value, or the status argparse exits with on a bad flag."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def test_evaluation_only_levers_use_the_matching_score(tmp_path):
    """A grid that evaluates the raw weights with flip plans from runs that kept a moving average
    too: training is the same, and each run scored itself every way."""
    results = tmp_path / "results"
    raw_flip = [v - 0.2 + 0.01 * s for s, v in enumerate(BASE)]
    records = [
        golden_record(
            "pilot",
            "none",
            seed,
            top1,
            train={"epochs": 2, "ema_decay": 0.99, "tta_flip": True},
            extra={
                "wall_seconds": 60.0,
                "eval_variants": {
                    "raw": 0.0,
                    "raw_flip": raw_flip[seed],
                    "ema": 0.0,
                    "ema_flip": top1,
                },
            },
        )
        for seed, top1 in enumerate(BASE)
    ]
    write_golden(results, records)
    grid = _grid(tmp_path, GRID.replace("epochs = 2", "epochs = 2\ntta_flip = true"))
    plan = make_plan(load_grid(grid), results, hours_per_config=1)
    mean = sum(raw_flip) / len(raw_flip)
    std = math.sqrt(sum((v - mean) ** 2 for v in raw_flip) / (len(raw_flip) - 1))
    assert plan.noise.records == 8 and plan.noise.std == pytest.approx(std)
    assert plan.configs[0].minutes_per_run == pytest.approx(1.0)
    # another decay of the moving average cannot be scored from these runs
    other = _grid(tmp_path, GRID.replace("epochs = 2", "epochs = 2\nema_decay = 0.9"))
    with pytest.raises(Exception, match="run a pilot first"):
        make_plan(load_grid(other), results)


def test_run_time_estimates_scale_to_the_whole_split():
    """A full-split run is estimated at the full split's size, not a subset run's."""
    from bench.estimate import estimate_seconds
    from bench.spec import DataSpec, RunSpec, TrainSpec

    def record(train_size, images, wall):
        rec = golden_record("e", "se", 0, 80.0, extra={"wall_seconds": wall})
        rec["spec"]["data"]["train_size"] = train_size
        return rec | {"data": {"train_images": images}}

    subset = record(100, 100, 10.0)  # 0.05 s per image and epoch (2 epochs)
    full = golden_record("e", "none", 0, 80.0) | {"data": {"train_images": 1000}}
    full["spec"]["data"]["train_size"] = None
    spec = RunSpec(
        "e", "resnet20", "se", "block", data=DataSpec("shapes"), train=TrainSpec(epochs=2)
    )
    assert estimate_seconds(spec, [subset, full]) == pytest.approx(0.05 * 2 * 1000)


def test_the_grids_target_mde_is_planned_for_unless_a_flag_says_otherwise(tmp_path, capsys):
    results = tmp_path / "results"
    write_golden(results, _records())
    grid = str(
        _grid(tmp_path, GRID.replace('name = "planned"', 'name = "planned"\ntarget_mde = 0.2'))
    )
    assert load_grid(grid).study.target_mde == 0.2
    assert main(["plan", "--grid", grid, "--results", str(results), "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)["configurations"]
    assert all(r["seeds_needed"] and r["mde_points"] <= 0.2 for r in planned)
    assert main(["plan", "--grid", grid, "--results", str(results), "--target-mde", "0.1"]) == 0
    assert "to resolve 0.1 points (--target-mde)" in capsys.readouterr().out
    assert main(["plan", "--grid", grid, "--results", str(results), "--hours", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "within 0.1 h per configuration" in out and "target_mde" not in out
    assert main(["plan", "--grid", grid, "--results", str(results)]) == 0
    assert "to resolve 0.2 points (the grid's [study] target_mde)" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["0", "-0.3", '"0.3"', "true", "nan", "inf", "101"])
def test_a_target_mde_that_is_not_a_positive_number_of_points_is_one_line(tmp_path, capsys, bad):
    path = _grid(
        tmp_path, GRID.replace('name = "planned"', f'name = "planned"\ntarget_mde = {bad}')
    )
    assert main(["plan", "--grid", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        "target_mde must be a number of top-1 points" in err and len(err.strip().splitlines()) == 1
    )
