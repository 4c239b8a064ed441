"""Seaborn plots of a study; each function writes one PNG and returns its path."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from bench.report.layouts import TableResult
from bench.report.metrics import METRICS
from bench.store import pooling_id

# ---- paper layouts -------------------------------------------------------------------------------


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` with every label inside the image (tight bounding box)."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _main_metric(result: TableResult) -> str | None:
    """The accuracy/error metric a plot shows: the first per-seed metric of the table."""
    return next((k for k in result.table.metrics if METRICS[k].per_seed), None)


COST_FIELDS = {"gmacs": ("gmacs_paper",), "params_m": ("params", "total_m")}


def _points(results: list[TableResult], records: dict[str, dict], x_metric: str) -> pd.DataFrame:
    """(cost, top-1 accuracy) of every configuration the tables measured, mean over its seeds."""
    path = COST_FIELDS[x_metric]
    by_config: dict[str, dict] = {}
    for result in results:
        for row in result.rows:
            for run_id in row.run_ids:
                record = records.get(run_id, {})
                cost: object = record
                for key in path:
                    cost = cost.get(key) if isinstance(cost, dict) else None
                acc = (record.get("final") or {}).get("val_top1_pct")
                if record.get("status") != "done" or cost is None or acc is None:
                    continue
                entry = by_config.setdefault(pooling_id(record), {"label": row.row.label})
                entry.setdefault("runs", {})[run_id] = (float(cost), float(acc))  # type: ignore[arg-type]
    rows = []
    for entry in by_config.values():
        costs, accs = zip(*entry["runs"].values(), strict=True)
        std = pd.Series(accs).std(ddof=1)
        rows.append(
            {"label": entry["label"], "x": costs[0], "acc": sum(accs) / len(accs), "std": std}
        )
    return pd.DataFrame(rows)


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """The points no other point beats on both cost (lower x) and accuracy (higher), sorted by x."""
    ordered = points.sort_values(["x", "acc"], ascending=[True, False])
    front, best = [], -math.inf
    for _, point in ordered.iterrows():
        if point["acc"] > best:
            front.append(point)
            best = point["acc"]
    return pd.DataFrame(front)


def accuracy_vs_cost(
    results: list[TableResult], records: dict[str, dict], x_metric: str, path: Path
) -> Path | None:
    """Top-1 accuracy (mean ± std over seeds) against GMACs or params, with the Pareto front;
    None when the costs do not differ."""
    points = _points(results, records, x_metric)
    if points.empty or points["x"].round(6).nunique() < 2:
        return None  # every configuration costs the same: the plot would be one vertical line
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.errorbar(points["x"], points["acc"], yerr=points["std"].fillna(0), fmt="o", color="#08519c")
    front = pareto_front(points)
    ax.plot(front["x"], front["acc"], "--", color="#e6550d", label="Pareto front")
    for _, p in points.iterrows():
        ax.annotate(
            p["label"], (p["x"], p["acc"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.set_xlabel(METRICS[x_metric].header + (" (gmacs_paper)" if "macs" in x_metric else ""))
    ax.set_ylabel("top-1 accuracy (%), mean ± std over seeds")
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def _row_frame(result: TableResult, metric: str) -> pd.DataFrame:
    lines = []
    for row in result.rows:
        for value in row.cells[metric].values:
            lines.append({"label": row.row.label, "value": value, "kind": "measured (seeds)"})
        if row.cells[metric].published is not None:
            lines.append(
                {"label": row.row.label, "value": row.cells[metric].published, "kind": "paper"}
            )
    return pd.DataFrame(lines)


def sweep(result: TableResult, axis: str, path: Path) -> Path | None:
    """A hyper-parameter curve (``reduction`` or ``alpha``): metric vs value, seeds and paper."""
    metric = _main_metric(result)
    lines = []
    for row in result.rows:
        value = row.row.select.get(axis, row.row.select.get("hparams", {}).get(axis))
        if value is None or metric is None:
            continue
        cell = row.cells[metric]
        lines += [{axis: value, "value": v, "kind": "measured"} for v in cell.values]
        if cell.published is not None:
            lines.append({axis: value, "value": cell.published, "kind": "paper"})
    frame = pd.DataFrame(lines)
    if metric is None or frame.empty or not (frame["kind"] == "measured").any():
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    measured, paper = frame[frame["kind"] == "measured"], frame[frame["kind"] == "paper"]
    sns.lineplot(
        data=measured,
        x=axis,
        y="value",
        marker="o",
        errorbar="sd",
        ax=ax,
        color="#08519c",
        label="measured (band = ± std over seeds)",
    )
    if not paper.empty:  # own axis: a synthetic smoke run and ImageNet live on different scales
        twin = ax.twinx()
        twin.plot(paper[axis], paper["value"], "x--", color="#e6550d", label="paper")
        twin.set_ylabel("paper: " + METRICS[metric].header, color="#e6550d")
        twin.legend(loc="upper right")
    ax.set_xscale("log", base=2 if axis == "reduction" else 10)
    ax.set_ylabel("measured: " + METRICS[metric].header)
    ax.legend(loc="upper left")
    ax.set_title(result.table.title, fontsize=9)
    return save_figure(fig, path)


def placement_comparison(result: TableResult, path: Path) -> Path | None:
    """One line per row, the baseline rows first: seeds as dots, mean ± sample std as a diamond,
    the paper's value as a cross, the axis zoomed to the values shown (no bars from 0 that hide
    differences of a point). Drawn without randomness."""
    metric = _main_metric(result)
    if metric is None:
        return None
    frame = _row_frame(result, metric)
    if frame.empty or not (frame["kind"] != "paper").any():
        return None
    rows = sorted(result.rows, key=lambda r: not r.row.baseline)  # stable: the paper's order
    order = [r.row.label for r in rows]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(order) + 1.5))
    for y, row in enumerate(rows):
        values = row.cells[metric].values
        ax.plot(values, [y] * len(values), "o", color="#9ecae1")
        if values:
            std = pd.Series(values).std(ddof=1)
            ax.errorbar(
                sum(values) / len(values),
                y,
                xerr=0 if math.isnan(std) else std,
                fmt="D",
                color="#08519c",
                capsize=3,
            )
        published = row.cells[metric].published
        if published is not None:
            ax.plot(published, y, "X", color="#e6550d", ms=8)
    ax.set_yticks(range(len(order)), order)
    ax.invert_yaxis()
    ax.set_xlabel(METRICS[metric].header + "; dots = seeds, ◆ = mean ± std, X = paper")
    return save_figure(fig, path)


def training_curves(result: TableResult, records: dict[str, dict], path: Path) -> Path | None:
    """Train and val top-1 accuracy per epoch for every row (mean over seeds, band = std)."""
    lines = []
    for row in result.rows:
        for run_id in row.run_ids:
            for point in records.get(run_id, {}).get("curves") or []:
                for split, key in (("train", "train_top1_pct"), ("val", "val_top1_pct")):
                    if point.get(key) is not None:
                        lines.append(
                            {
                                "model": row.row.label,
                                "epoch": point["epoch"],
                                "split": split,
                                "top-1 (%)": point[key],
                            }
                        )
    frame = pd.DataFrame(lines)
    if frame.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, split in zip(axes, ("train", "val"), strict=True):
        sns.lineplot(
            data=frame[frame["split"] == split],
            x="epoch",
            y="top-1 (%)",
            hue="model",
            errorbar="sd",
            marker="o",
            ax=ax,
        )
        figure = 7 if split == "train" else 8
        ax.set_title(f"{split} top-1 accuracy (cf. the SE/CBAM Adam study's Fig. {figure})")
    return save_figure(fig, path)
