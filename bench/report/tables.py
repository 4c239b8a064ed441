"""Tables built from the records' DataFrame; numbers stay numeric, formatting is render's job."""

from __future__ import annotations

import json
import math
import re

import pandas as pd

from bench.measure.latency import NOISY_SPREAD
from bench.report.stats import (
    ALPHA,
    MIN_SEEDS_FOR_TEST,
    NO_PAIRS,
    Paired,
    holm,
    minimum_detectable_effect,
    paired_difference,
    paired_mde,
    pooled_diff_std,
    pooled_std,
    welch_p,
)
from bench.spec import distinct_labels

ACCURACY = "final_val_top1_pct"
ARCHITECTURE_COLUMNS = ("gmacs",)
LATENCY = ("latency_batch_1_median_ms", "latency_batch_1_iqr_ms")  # median, IQR columns
SEED_METRICS = {  # summary name -> records_frame column; averaged over seeds
    "val_top1_pct": "final_val_top1_pct",
    "val_top5_pct": "final_val_top5_pct",
    "sfd": "sfd_mean",
    "pointing": "sfd_pointing_hit_rate",
    "energy": "sfd_energy_in_mask_mean",
}


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: size, cost, top-1/top-5 and saliency mean and std over seeds, n,
    and the top-1 difference from its backbone's baseline row, unpaired and paired.

    Runs that failed or diverged are counted but kept out of the means; std is the sample std
    (ddof = 1) and is NaN with one seed. ``top1_delta`` is NaN on baseline rows and where the
    backbone has no baseline; ``top1_p`` (Welch) is NaN unless both sides have
    ``MIN_SEEDS_FOR_TEST`` seeds and some variance. The paired columns compare seed-matched runs:
    ``top1_paired_delta`` with its 95 % interval (``top1_ci_low``/``_high``), ``top1_pairs``,
    the between-arm correlation ``top1_corr``, the paired p and its Holm adjustment over every
    comparison of the table (``top1_holm_p``); ``verdict`` says what the adjusted test decides.
    """
    done = frame[frame["status"] == "done"]
    keys = ["config_id", "label", "backbone", "attention", "placement", "hparams", "stages"]
    rows = []
    for config_id, runs in frame.groupby("config_id", sort=False):
        ok = done[done["config_id"] == config_id]
        first = runs.iloc[0]
        row = {k: first[k] for k in keys}
        row["params_total_m"] = _first_valid(runs, "params_total_m")
        row["params_attention_m"] = _first_valid(runs, "params_attention_m")
        # per-architecture measurements: the same for every seed, so the first value stands
        for column in ARCHITECTURE_COLUMNS:
            row[column] = _first_valid(runs, column)
        row[LATENCY[0]], row[LATENCY[1]], row["latency_noisy"] = steadiest_latency(runs)
        for metric, column in SEED_METRICS.items():
            values = ok[column] if column in ok else pd.Series(dtype=float)
            row[f"{metric}_mean"] = values.mean()
            row[f"{metric}_std"] = values.std(ddof=1)
        row["n"] = len(ok)
        row["not_done"] = len(runs) - len(ok)
        row["_top1"] = list(ok[ACCURACY]) if ACCURACY in ok else []
        row["_recipe"] = json.loads(first["recipe"])
        row["_by_seed"] = dict(zip(ok["seed"], ok[ACCURACY], strict=True)) if ACCURACY in ok else {}
        rows.append(row)
    table = pd.DataFrame(rows)
    table["label"] = distinct_labels(list(table["label"]), list(table["_recipe"]))
    baselines = {r["backbone"]: r for r in rows if r["attention"] == "none"}
    table["top1_delta"] = [_delta(r, baselines) for r in rows]
    table["top1_p"] = [_p(r, baselines) for r in rows]
    paired = [_paired(r, baselines) for r in rows]
    for column, field in PAIRED_COLUMNS.items():
        table[column] = [getattr(pair, field) for pair in paired]
    table["top1_holm_p"] = holm(list(table["top1_paired_p"]))
    table["verdict"] = [
        _verdict(d, p)
        for d, p in zip(table["top1_paired_delta"], table["top1_holm_p"], strict=True)
    ]
    # baseline (no attention) first within each backbone, then by label with numbers as numbers
    table["_order"] = [
        config_order(a, label) for a, label in zip(table["attention"], table["label"], strict=True)
    ]
    private = ["_order", "_top1", "_by_seed", "_recipe"]
    return table.sort_values(["backbone", "_order"]).drop(columns=private)


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that reads digit runs as numbers: ``r4 < r8 < r16 < r32`` (not ``r16 < r32 < r4``);
    ``1e-06`` and the like stay text."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )


def config_order(attention: str, label: str) -> tuple[bool, tuple[tuple[int, int | str], ...]]:
    """Sort key of a configuration: the baseline (attention ``none``) first, then by label."""
    return attention != "none", natural_key(label)


PAIRED_COLUMNS = {  # summary column -> field of ``stats.Paired``
    "top1_paired_delta": "delta",
    "top1_ci_low": "low",
    "top1_ci_high": "high",
    "top1_pairs": "n",
    "top1_corr": "corr",
    "top1_paired_p": "p",
    "top1_diff_std": "std_diff",
}
VERDICTS = ("better", "worse", "not resolved")


def resolution(frame: pd.DataFrame) -> dict[str, float]:
    """What a study can resolve: pooled seed std of top-1 (points), its dof, the smallest n among
    the configurations with two seeds or more, the minimum detectable effect at that n (p < 0.05,
    80 % power; Welch's unpaired test), how many configurations have one seed only (``single``,
    never tested), and the paired view: the pooled std of seed-matched differences from the
    baseline (``std_diff``, ``dof_diff``), the mean between-arm correlation (``corr``) and the
    paired test's MDE at n pairs (``paired_mde``; nan without pairs)."""
    done = frame[frame["status"] == "done"]
    groups = [list(g[ACCURACY]) for _, g in done.groupby("config_id")] if len(done) else []
    std, dof = pooled_std(groups)
    n = min((len(g) for g in groups if len(g) >= 2), default=0)
    single = sum(len(g) == 1 for g in groups)
    mde = minimum_detectable_effect(std, n)
    found = {"std": std, "dof": dof, "n": n, "mde": mde, "single": single}
    return found | _paired_resolution(summary_table(frame) if len(done) else pd.DataFrame(), n)


def _paired_resolution(table: pd.DataFrame, n: int) -> dict[str, float]:
    """Pooled std of the per-seed differences over the table's paired comparisons."""
    if table.empty or "top1_pairs" not in table:
        return {"std_diff": math.nan, "dof_diff": 0, "corr": math.nan, "paired_mde": math.nan}
    std_diff, dof = pooled_diff_std(zip(table["top1_pairs"], table["top1_diff_std"], strict=True))
    if dof == 0:
        return {"std_diff": math.nan, "dof_diff": 0, "corr": math.nan, "paired_mde": math.nan}
    pairs = table[table["top1_pairs"] >= 2]
    return {
        "std_diff": std_diff,
        "dof_diff": dof,
        "corr": float(pairs["top1_corr"].mean()),
        "paired_mde": paired_mde(std_diff, n),
    }


def _delta(row: dict, baselines: dict[str, dict]) -> float:
    base = baselines[row["backbone"]]["_top1"] if row["backbone"] in baselines else []
    if row["attention"] == "none" or not base or not row["_top1"]:
        return math.nan
    return sum(row["_top1"]) / len(row["_top1"]) - sum(base) / len(base)


def _paired(row: dict, baselines: dict[str, dict]) -> Paired:
    base = baselines.get(row["backbone"])
    if row["attention"] == "none" or base is None:
        return NO_PAIRS
    found = paired_difference(base["_by_seed"], row["_by_seed"])
    if found.n < MIN_SEEDS_FOR_TEST:  # the interval and test need three pairs, like Welch's
        return Paired(found.delta, math.nan, math.nan, found.n, math.nan, math.nan, math.nan)
    return found


def _verdict(delta: float, holm_p: float) -> str | None:
    """``better`` / ``worse`` when the Holm-adjusted paired test says so, else ``not resolved``;
    None where there is no test."""
    if not math.isfinite(holm_p):
        return None
    if holm_p < ALPHA:
        return VERDICTS[0] if delta > 0 else VERDICTS[1]
    return VERDICTS[2]


def _p(row: dict, baselines: dict[str, dict]) -> float:
    base = baselines[row["backbone"]]["_top1"] if row["backbone"] in baselines else []
    if row["attention"] == "none" or min(len(base), len(row["_top1"])) < MIN_SEEDS_FOR_TEST:
        return math.nan
    if pooled_std([base, row["_top1"]])[0] == 0:
        return math.nan  # no variance at all: a test would be meaningless
    return welch_p(base, row["_top1"])


def steadiest_latency(runs: pd.DataFrame) -> tuple[float, float, bool]:
    """Batch-1 latency of a configuration from its seeds' timings: the median and IQR of the
    steadiest one (smallest IQR relative to its median) among those the noise rule accepts (IQR
    at most ``NOISY_SPREAD`` of the median). A busy machine slows a timing and widens its IQR, so
    the steadiest timing is the one least disturbed. ``(nan, nan, True)`` when every timing is
    noisy (no number is shown), ``(nan, nan, False)`` when none was taken."""
    median, iqr = LATENCY
    if median not in runs or iqr not in runs:
        return math.nan, math.nan, False
    timed = runs.dropna(subset=[median, iqr])
    timed = timed[timed[median] > 0]
    if timed.empty:
        return math.nan, math.nan, False
    spread = timed[iqr] / timed[median]
    if not (spread <= NOISY_SPREAD).any():
        return math.nan, math.nan, True
    best = timed.loc[spread[spread <= NOISY_SPREAD].idxmin()]
    return float(best[median]), float(best[iqr]), False


def _first_valid(runs: pd.DataFrame, column: str) -> float:
    if column not in runs:
        return float("nan")
    values = runs[column].dropna()
    return float(values.iloc[0]) if len(values) else float("nan")
