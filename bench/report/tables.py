"""Tables built from the records' DataFrame; numbers stay numeric, formatting is render's job."""

from __future__ import annotations

import pandas as pd

ACCURACY = "final_val_top1_pct"
ARCHITECTURE_COLUMNS = ("gmacs", "latency_batch_1_median_ms")
SEED_METRICS = {  # summary name -> records_frame column; averaged over seeds
    "val_top1_pct": "final_val_top1_pct",
    "val_top5_pct": "final_val_top5_pct",
    "sfd": "sfd_mean",
}


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: size, cost, top-1/top-5 and sfd mean and std over seeds, n.

    Runs that failed or diverged are counted but kept out of the means; std is the sample std
    (ddof = 1) and is NaN with one seed.
    """
    done = frame[frame["status"] == "done"]
    keys = ["config_id", "label", "backbone", "attention", "placement", "reduction", "stages"]
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
        rows.append(row)
    table = pd.DataFrame(rows)
    # baseline (no attention) first within each backbone, then by label
    table["_order"] = table["attention"] != "none"
    return table.sort_values(["backbone", "_order", "label"]).drop(columns="_order")


def _first_valid(runs: pd.DataFrame, column: str) -> float:
    if column not in runs:
        return float("nan")
    values = runs[column].dropna()
    return float(values.iloc[0]) if len(values) else float("nan")
