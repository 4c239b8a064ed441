"""Tables built from the records' DataFrame; numbers stay numeric, formatting is render's job."""

from __future__ import annotations

import math

import pandas as pd

from bench.report.stats import minimum_detectable_effect, pooled_std, welch_p

ACCURACY = "final_val_top1_pct"
ARCHITECTURE_COLUMNS = ("gmacs", "latency_batch_1_median_ms", "latency_batch_1_iqr_ms")
SEED_METRICS = {  # summary name -> records_frame column; averaged over seeds
    "val_top1_pct": "final_val_top1_pct",
    "val_top5_pct": "final_val_top5_pct",
    "sfd": "sfd_mean",
    "pointing": "sfd_pointing_hit_rate",
    "energy": "sfd_energy_in_mask_mean",
}
MIN_SEEDS_FOR_TEST = 3  # per side: below it, no p-value is shown (the std itself is too noisy)


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: size, cost, top-1/top-5 and saliency mean and std over seeds, n,
    and the top-1 difference from its backbone's baseline row with Welch's p.

    Runs that failed or diverged are counted but kept out of the means; std is the sample std
    (ddof = 1) and is NaN with one seed. ``top1_delta`` is NaN on baseline rows and where the
    backbone has no baseline; ``top1_p`` is NaN unless both sides have ``MIN_SEEDS_FOR_TEST`` seeds
    and some variance.
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
        for metric, column in SEED_METRICS.items():
            values = ok[column] if column in ok else pd.Series(dtype=float)
            row[f"{metric}_mean"] = values.mean()
            row[f"{metric}_std"] = values.std(ddof=1)
        row["n"] = len(ok)
        row["not_done"] = len(runs) - len(ok)
        row["_top1"] = list(ok[ACCURACY]) if ACCURACY in ok else []
        rows.append(row)
    table = pd.DataFrame(rows)
    baselines = {r["backbone"]: r["_top1"] for r in rows if r["attention"] == "none"}
    table["top1_delta"] = [_delta(r, baselines) for r in rows]
    table["top1_p"] = [_p(r, baselines) for r in rows]
    # baseline (no attention) first within each backbone, then by label
    table["_order"] = table["attention"] != "none"
    table = table.sort_values(["backbone", "_order", "label"]).drop(columns=["_order", "_top1"])
    return table


def resolution(frame: pd.DataFrame) -> dict[str, float]:
    """What a study can resolve: pooled seed std of top-1 (points), its dof, the smallest n among
    the configurations with two seeds or more, the minimum detectable effect at that n (p < 0.05,
    80 % power), and how many configurations have one seed only (``single``, never tested)."""
    done = frame[frame["status"] == "done"]
    groups = [list(g[ACCURACY]) for _, g in done.groupby("config_id")] if len(done) else []
    std, dof = pooled_std(groups)
    n = min((len(g) for g in groups if len(g) >= 2), default=0)
    single = sum(len(g) == 1 for g in groups)
    mde = minimum_detectable_effect(std, n)
    return {"std": std, "dof": dof, "n": n, "mde": mde, "single": single}


def _delta(row: dict, baselines: dict[str, list[float]]) -> float:
    base = baselines.get(row["backbone"])
    if row["attention"] == "none" or not base or not row["_top1"]:
        return math.nan
    return sum(row["_top1"]) / len(row["_top1"]) - sum(base) / len(base)


def _p(row: dict, baselines: dict[str, list[float]]) -> float:
    base = baselines.get(row["backbone"]) or []
    if row["attention"] == "none" or min(len(base), len(row["_top1"])) < MIN_SEEDS_FOR_TEST:
        return math.nan
    if pooled_std([base, row["_top1"]])[0] == 0:
        return math.nan  # no variance at all: a test would be meaningless
    return welch_p(base, row["_top1"])


def _first_valid(runs: pd.DataFrame, column: str) -> float:
    if column not in runs:
        return float("nan")
    values = runs[column].dropna()
    return float(values.iloc[0]) if len(values) else float("nan")
