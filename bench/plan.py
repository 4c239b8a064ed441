"""How many seeds a grid needs, from the noise its recipe has shown (``bench plan``).

The seed std, the between-arm correlation and the per-run time are read from finished records
whose recipe is the grid's: the same ``train`` and ``data`` in the canonical spec, under the same
conditions (device class and precision), in any study. The evaluation-only levers (weight EMA, flip
test-time augmentation) never change training and every run scores its final weights all four
ways (``eval_variants``), so a record trained the same way counts too, with the score the grid's
evaluation would report. From them, per configuration of the grid:

- with a target MDE: the seeds a comparison with the baseline needs to detect it (80 % power,
  p < 0.05), by the paired t-test when seed-matched module-vs-baseline pairs of this recipe exist
  (their measured std of differences), else by Welch's test on the pooled seed std (no pairs
  measured yet: the conservative bound);
- with a budget in hours per configuration: the seeds that fit and the MDE they reach;
- with neither: the MDE the grid's own seed counts reach.

The runs still missing (seeds needed minus finished records of the same run ids) and their
estimated hours on this device come with it. Without any record of the recipe there is nothing to
plan from: the error names the pilot to run (the grid's baseline, ``PILOT_SEEDS`` seeds).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.estimate import estimate_seconds
from bench.grid import Grid
from bench.report.stats import minimum_detectable_effect, paired_mde
from bench.report.tables import resolution
from bench.spec import ADDED_TRAIN_FIELDS, RunSpec, distinct_labels
from bench.store import read_records, records_frame, run_conditions

PILOT_SEEDS = 8  # seeds of the baseline that measure a recipe's noise well enough to plan from
MAX_SEEDS = 1000  # a target that needs more is reported as out of reach


@dataclass(frozen=True)
class Noise:
    """What finished records of one recipe say about its noise."""

    std: float  # pooled seed std of top-1 over configurations (points)
    dof: int
    std_diff: float  # pooled std of seed-matched differences from the baseline (nan: no pairs)
    dof_diff: int
    corr: float  # mean correlation of the paired arms
    records: int
    studies: tuple[str, ...]

    @property
    def paired(self) -> bool:
        """Whether the plan can use the paired test (seed-matched pairs were measured)."""
        return self.dof_diff >= 2 and math.isfinite(self.std_diff)

    def mde(self, n: int) -> float:
        """The MDE at ``n`` seeds per arm, by the test the plan uses."""
        if self.paired:
            return paired_mde(self.std_diff, n)
        return minimum_detectable_effect(self.std, n)

    def seeds_for(self, target: float) -> int | None:
        """The fewest seeds per arm whose MDE is at most ``target``; None beyond MAX_SEEDS."""
        for n in range(2, MAX_SEEDS + 1):
            if self.mde(n) <= target:
                return n
        return None


@dataclass(frozen=True)
class ConfigPlan:
    """The plan of one configuration of the grid."""

    label: str
    seeds_in_grid: int
    done: int
    needed: int | None  # None: the target is out of reach
    minutes_per_run: float | None
    time_basis: str

    @property
    def missing(self) -> int:
        """Runs still to do for the plan (the target's seeds, else the grid's)."""
        wanted = self.seeds_in_grid if self.needed is None else self.needed
        return max(0, wanted - self.done)

    @property
    def hours_missing(self) -> float:
        """Estimated hours of the missing runs (nan when no run time is known)."""
        if self.minutes_per_run is None:
            return math.nan
        return self.missing * self.minutes_per_run / 60


@dataclass(frozen=True)
class Plan:
    """A grid's seed plan."""

    study: str
    conditions: str
    noise: Noise
    target_mde: float | None
    hours_per_config: float | None
    configs: list[ConfigPlan]

    @property
    def test(self) -> str:
        """The test the seed counts are computed for."""
        return "paired t-test" if self.noise.paired else "Welch's t-test (no pairs measured yet)"


def make_plan(
    grid: Grid,
    results: Path,
    *,
    target_mde: float | None = None,
    hours_per_config: float | None = None,
    conditions: str = "cpu fp32",
) -> Plan:
    """The seed plan of ``grid`` from the records under ``results`` (see the module docstring).

    Raises:
        BenchError: no finished record of the grid's recipe under ``conditions`` (names the pilot).
    """
    stored = read_records(results) if results.is_dir() else []
    records = [r for r in stored if r.get("status") == "done"]
    evaluations: dict[str, tuple[float, bool]] = {}
    for spec in grid.specs:
        canonical = spec.canonical()
        key = training_key(canonical["train"], canonical["data"])
        evaluations.setdefault(key, (spec.train.ema_decay, spec.train.tta_flip))
    same = []
    for record in records:
        wanted = evaluations.get(training_key(record["spec"]["train"], record["spec"]["data"]))
        scored = None if wanted is None else scored_as(record, *wanted)
        if scored is not None and run_conditions(record) == conditions:
            same.append(scored)
    if not same:
        raise BenchError(
            f"no finished records of the recipe of {grid.study.name!r} ({conditions}) in "
            f"{results}: run a pilot first, the grid's baseline with seed = {{count = "
            f"{PILOT_SEEDS}}}, then plan again"
        )
    noise = measure_noise(same)
    finished = {r["run_id"] for r in records}
    configs: dict[str, list[RunSpec]] = {}
    for spec in grid.specs:
        configs.setdefault(spec.config_id, []).append(spec)
    firsts = [specs[0] for specs in configs.values()]
    labels = distinct_labels([s.label for s in firsts], [s.canonical()["train"] for s in firsts])
    plans = []
    for label, specs in zip(labels, configs.values(), strict=True):
        minutes, basis = _minutes_per_run(specs[0], same, records)
        needed = _needed(noise, target_mde, hours_per_config, minutes)
        done = sum(spec.run_id in finished for spec in specs)
        plans.append(ConfigPlan(label, len(specs), done, needed, minutes, basis))
    return Plan(grid.study.name, conditions, noise, target_mde, hours_per_config, plans)


EVALUATION_ONLY = ("ema_decay", "tta_flip")  # recipe levers that never change training


def training_key(train: dict[str, Any], data: dict[str, Any]) -> str:
    """What makes two runs train the same way: their canonical ``train`` (less the
    evaluation-only levers, defaults spelled out) and ``data``."""
    trained = {k: v for k, v in (ADDED_TRAIN_FIELDS | train).items() if k not in EVALUATION_ONLY}
    return json.dumps({"train": trained, "data": data}, sort_keys=True)


def scored_as(record: dict[str, Any], ema_decay: float, tta_flip: bool) -> dict[str, Any] | None:
    """``record`` with the top-1 that evaluating with ``ema_decay`` / ``tta_flip`` reports: its
    own when it was evaluated so, else the matching ``eval_variants`` score; None when the record
    cannot say (no such variant, or a moving average of another decay)."""
    train = ADDED_TRAIN_FIELDS | record["spec"]["train"]
    if train["ema_decay"] == ema_decay and train["tta_flip"] == tta_flip:
        return record
    if ema_decay > 0 and train["ema_decay"] != ema_decay:
        return None
    variant = ("ema" if ema_decay > 0 else "raw") + ("_flip" if tta_flip else "")
    score = (record.get("eval_variants") or {}).get(variant)
    if score is None:
        return None
    return record | {"final": (record.get("final") or {}) | {"val_top1_pct": score}}


def measure_noise(records: list[dict[str, Any]]) -> Noise:
    """Pooled seed std and paired std of differences of ``records`` (one recipe)."""
    found = resolution(records_frame(records))
    return Noise(
        found["std"],
        int(found["dof"]),
        found["std_diff"],
        int(found["dof_diff"]),
        found["corr"],
        len(records),
        tuple(sorted({r["spec"]["study"] for r in records})),
    )


def _needed(
    noise: Noise, target: float | None, hours: float | None, minutes: float | None
) -> int | None:
    if target is not None:
        return noise.seeds_for(target)
    if hours is not None and minutes:
        return int(hours * 60 // minutes)
    return None


def _trained_config(spec: dict[str, Any]) -> str:
    """The architecture and training of a canonical spec: what a run costs, seed and study and
    evaluation-only levers aside."""
    rest = {k: v for k, v in spec.items() if k not in ("seed", "study", "train", "data")}
    return json.dumps(rest, sort_keys=True) + training_key(spec["train"], spec["data"])


def _minutes_per_run(
    spec: RunSpec, same_recipe: list[dict[str, Any]], records: list[dict[str, Any]]
) -> tuple[float | None, str]:
    """Minutes per run of ``spec``: its own configuration's median, else an estimate."""
    config = _trained_config(spec.canonical())
    own = [r.get("wall_seconds") for r in same_recipe if _trained_config(r["spec"]) == config]
    seconds_per_run = [float(s) for s in own if s]
    if seconds_per_run:
        threads = {r["environment"].get("cpu_threads") for r in same_recipe}
        shown = ",".join(str(t) for t in sorted(t for t in threads if t is not None))
        return statistics.median(
            seconds_per_run
        ) / 60, f"median of {len(seconds_per_run)} runs ({shown} thread(s))"
    seconds = estimate_seconds(spec, records)
    if seconds is None:
        return None, "no similar record"
    return seconds / 60, "estimated from similar records"


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """The plan as JSON-ready rows, one per configuration, with the MDE each count reaches."""
    rows = []
    for config in plan.configs:
        n = config.needed if config.needed is not None else config.seeds_in_grid
        rows.append(
            {
                "configuration": config.label,
                "seeds_in_grid": config.seeds_in_grid,
                "finished": config.done,
                "seeds_needed": config.needed,
                "mde_points": _num(plan.noise.mde(n)),
                "runs_missing": config.missing,
                "minutes_per_run": _num(config.minutes_per_run),
                "hours_missing": _num(config.hours_missing),
                "time_basis": config.time_basis,
            }
        )
    return rows


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 3)
