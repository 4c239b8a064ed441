"""The candidate-recipe table of a recipe study: which recipe resolves the most per CPU-hour.

A recipe study trains the baseline alone (no attention) under several training recipes, seeds
each, and scores every run's final weights four ways (``eval_variants``: raw or moving-average
weights, with or without flip test-time augmentation). One candidate is a training recipe with
one evaluation setting. Its figure of merit is the minimum detectable effect (Welch, 80 % power,
p < 0.05) of a module-vs-baseline comparison when each arm gets ``HOURS_PER_ARM`` CPU-hour of runs:
n = floor(60 x HOURS_PER_ARM / CPU minutes per run) seeds per arm at the candidate's seed std. CPU
minutes are the run process's CPU time (``cpu_seconds``), so a run that waited for a busy core is
not charged for the wait; one thread per run makes a CPU-hour a core-hour.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from bench.report.render import mean_std
from bench.report.stats import minimum_detectable_effect
from bench.spec import distinct_labels

HOURS_PER_ARM = 1.0
RANK_SEEDS = 8  # a candidate is ranked only from this many seeds: a std from fewer is a guess
VARIANTS = {  # eval_variants key -> how the candidate evaluates
    "raw": "weights",
    "raw_flip": "weights + flip",
    "ema": "EMA",
    "ema_flip": "EMA + flip",
}


def is_recipe_study(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` holds baseline runs only, scored all the ways (a recipe study)."""
    done = frame[frame["status"] == "done"]
    return (
        len(done) > 0
        and bool((done["attention"] == "none").all())
        and f"eval_variants_{next(iter(VARIANTS))}" in done
    )


def candidate_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per training recipe x evaluation: mean, std, n, CPU minutes per run, seeds per
    CPU-hour and the MDE they reach, best figure of merit first."""
    done = frame[frame["status"] == "done"]
    recipes = list(dict.fromkeys(done["recipe"]))
    labels = distinct_labels(["recipe"] * len(recipes), [json.loads(r) for r in recipes])
    rows = []
    for recipe, label in zip(recipes, labels, strict=True):
        runs = done[done["recipe"] == recipe]
        cpu_minutes = _cpu_minutes(runs)
        per_hour = math.floor(60 * HOURS_PER_ARM / cpu_minutes) if cpu_minutes else 0
        for key, evaluation in VARIANTS.items():
            values = runs.get(f"eval_variants_{key}", pd.Series(dtype=float)).dropna()
            if values.empty:
                continue
            std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            rows.append(
                {
                    "recipe": label.removeprefix("recipe").strip(" ()") or "as the grid",
                    "evaluation": evaluation,
                    "top1_mean": float(values.mean()),
                    "top1_std": std,
                    "n": len(values),
                    "cpu_minutes_per_run": cpu_minutes,
                    "seeds_per_arm": per_hour,
                    "mde_points": minimum_detectable_effect(std, per_hour),
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["ranked"] = table["n"] >= RANK_SEEDS
    return table.sort_values(["ranked", "mde_points"], ascending=[False, True], kind="stable")


def _cpu_minutes(runs: pd.DataFrame) -> float | None:
    if "cpu_seconds" not in runs or runs["cpu_seconds"].isna().all():
        return None
    return float(runs["cpu_seconds"].median()) / 60


def candidate_display(table: pd.DataFrame) -> pd.DataFrame:
    """The candidate table as strings."""
    return pd.DataFrame(
        {
            "recipe": table["recipe"],
            "evaluation": table["evaluation"],
            "top-1 acc. (%)": [
                mean_std(m, s) for m, s in zip(table["top1_mean"], table["top1_std"], strict=True)
            ],
            "n": table["n"].astype(str),
            "CPU min / run": table["cpu_minutes_per_run"].map(lambda v: f"{v:.1f}"),
            f"seeds per arm in {HOURS_PER_ARM:g} CPU-h": table["seeds_per_arm"].astype(str),
            f"MDE at {HOURS_PER_ARM:g} CPU-h per arm (points)": [
                "—" if pd.isna(v) else f"{v:.2f}" if ranked else f"({v:.2f}: n < {RANK_SEEDS})"
                for v, ranked in zip(table["mde_points"], table["ranked"], strict=True)
            ],
        }
    )


CAPTION = (
    "Candidate recipes, measured on the baseline alone (no attention) before any module trained "
    "on them. One training run gives four candidates: its final weights or their moving average "
    "(EMA), each evaluated with or without horizontal-flip test-time augmentation; training is "
    "the same for all four, so they differ only in evaluation. CPU min / run: median CPU time of "
    "a run's process (training and measurement, one thread; a CPU-hour is a core-hour). The "
    "figure of merit is the MDE of a module-vs-baseline comparison (Welch's two-sided t-test, "
    "80 % power, p < 0.05) when each arm gets the stated CPU-hours of runs at the candidate's "
    "seed std; a paired test does better by the factor sqrt(1 - ρ) once the correlation ρ of "
    f"seed-matched arms is measured. Best first; a candidate with fewer than {RANK_SEEDS} seeds "
    "is listed after the ranked ones, its MDE in parentheses."
)
