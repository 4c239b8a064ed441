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


def accuracy_per_config(frame: pd.DataFrame, path: Path) -> Path:
    """Top-1 accuracy per configuration: mean ± sample std over seeds (the tables' convention),
    every seed as a dot. Nothing is drawn at random (no bootstrap, no jitter), so a re-run writes
    the same bytes."""
    done = frame[frame["status"] == "done"]
    order = list(dict.fromkeys(done.sort_values(["backbone", "attention"])["label"]))
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(order) + 1.5))
    sns.barplot(
        data=done,
        y="label",
        x="final_val_top1_pct",
        order=order,
        errorbar="sd",
        ax=ax,
        color="#9ecae1",
    )
    sns.stripplot(
        data=done,
        y="label",
        x="final_val_top1_pct",
        order=order,
        ax=ax,
        color="#08519c",
        size=5,
        jitter=False,
    )
    ax.set_xlabel("val top-1 accuracy (%), last epoch; bar = mean, line = ± std, dots = seeds")
    ax.set_ylabel("")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---- paper layouts -------------------------------------------------------------------------------


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
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
    """Top-1 accuracy (mean ± std over seeds) against GMACs or params, with the Pareto front."""
    points = _points(results, records, x_metric)
    if points.empty:
        return None
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
    return _save(fig, path)


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
    return _save(fig, path)


def placement_comparison(result: TableResult, path: Path) -> Path | None:
    """One bar per row (mean ± sample std over seeds), seeds as dots, the paper's value as a cross;
    drawn without randomness, like ``accuracy_per_config``."""
    metric = _main_metric(result)
    if metric is None:
        return None
    frame = _row_frame(result, metric)
    if frame.empty or not (frame["kind"] != "paper").any():
        return None
    measured, paper = frame[frame["kind"] != "paper"], frame[frame["kind"] == "paper"]
    order = [r.row.label for r in result.rows]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(order) + 1.5))
    sns.barplot(
        data=measured,
        y="label",
        x="value",
        order=order,
        errorbar="sd",
        ax=ax,
        color="#9ecae1",
    )
    sns.stripplot(
        data=measured,
        y="label",
        x="value",
        order=order,
        ax=ax,
        color="#08519c",
        size=4,
        jitter=False,
    )
    if not paper.empty:
        sns.stripplot(
            data=paper,
            y="label",
            x="value",
            order=order,
            ax=ax,
            color="#e6550d",
            marker="X",
            size=8,
            jitter=False,
        )
    ax.set_xlabel(METRICS[metric].header + "; bar = mean, line = ± std, dots = seeds, X = paper")
    ax.set_ylabel("")
    return _save(fig, path)


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
        ax.set_title(f"{split} top-1 accuracy (cf. seed 000 Fig. {7 if split == 'train' else 8})")
    return _save(fig, path)
