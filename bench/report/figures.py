"""The figures of a study report, from its summary table and records; each function writes one PNG
and returns its path, or None where the figure would say nothing. Nothing is drawn at random (no
bootstrap, no jitter), so a re-run on the same records writes the same bytes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from bench.report.plots import pareto_front, plt, save_figure
from bench.report.tables import ACCURACY, natural_key

SEED_COLOR, MEAN_COLOR, DELTA_COLOR = "#9ecae1", "#08519c", "#e6550d"
CURVES = (("val_top1_pct", "val top-1 accuracy (%)"), ("train_loss", "train loss"))
COSTS = (("gmacs", "GMACs (fvcore)"), ("params_total_m", "params (M)"))
SWEEP_AXES = ("backbone", "placement", "stages")  # besides every hyper-parameter


def accuracy(table: pd.DataFrame, frame: pd.DataFrame, path: Path) -> Path:
    """Left: top-1 per configuration (seeds as dots, mean ± sample std), the axis zoomed to the
    measured range. Right: the paired difference from the baseline with its 95 % interval (the
    difference of the means, hollow, where fewer than three seeds pair up), when anything is
    compared with a baseline."""
    labels = list(table["label"])
    seeds = _seed_values(table, frame)
    compared = bool(table["top1_delta"].notna().any())  # a study of baselines has no right panel
    fig, axes = plt.subplots(
        1,
        1 + compared,
        figsize=(11 if compared else 7, 0.45 * len(labels) + 1.6),
        sharey=True,
        squeeze=False,
        width_ratios=(3, 2) if compared else None,
    )
    left = axes[0][0]
    for y, label in enumerate(labels):
        left.plot(seeds.get(label, []), [y] * len(seeds.get(label, [])), "o", color=SEED_COLOR)
    left.errorbar(
        table["val_top1_pct_mean"],
        range(len(labels)),
        xerr=table["val_top1_pct_std"].fillna(0),
        fmt="D",
        color=MEAN_COLOR,
        capsize=3,
    )
    left.set_yticks(range(len(labels)), labels)
    left.invert_yaxis()
    left.set_xlabel("val top-1 (%), last epoch\ndots = seeds, ◆ = mean ± std")
    if compared:
        _delta_panel(axes[0][1], table)
    return save_figure(fig, path)


def _seed_values(table: pd.DataFrame, frame: pd.DataFrame) -> dict[str, list[float]]:
    """Every finished seed's top-1, by the table's (distinct) configuration label."""
    label_of = dict(zip(table["config_id"], table["label"], strict=True))
    done = frame[frame["status"] == "done"]
    values: dict[str, list[float]] = {}
    for config_id, top1 in zip(done["config_id"], done[ACCURACY], strict=True):
        values.setdefault(label_of[config_id], []).append(float(top1))
    return values


def _delta_panel(ax: Any, table: pd.DataFrame) -> None:
    ys = range(len(table))
    paired = table["top1_ci_low"].notna()
    low = table["top1_paired_delta"] - table["top1_ci_low"]
    high = table["top1_ci_high"] - table["top1_paired_delta"]
    ax.errorbar(
        table["top1_paired_delta"][paired],
        [y for y, p in zip(ys, paired, strict=True) if p],
        xerr=[low[paired], high[paired]],
        fmt="o",
        color=DELTA_COLOR,
        capsize=3,
    )
    unpaired = ~paired & table["top1_delta"].notna()
    ax.plot(
        table["top1_delta"][unpaired],
        [y for y, u in zip(ys, unpaired, strict=True) if u],
        "o",
        mfc="none",
        color=DELTA_COLOR,
    )
    ax.axvline(0, color="#555", lw=0.8)
    for y, attention in zip(ys, table["attention"], strict=True):
        if attention == "none":
            ax.annotate("baseline", (0, y), xytext=(4, 0), textcoords="offset points", va="center")
    ax.set_xlabel("Δ top-1 vs baseline (points)\npaired mean, 95 % CI")


def curve_points(table: pd.DataFrame, frame: pd.DataFrame, records: list[dict]) -> pd.DataFrame:
    """The stored per-epoch curves of the finished runs as a long frame (label, epoch, metrics)."""
    label_of = dict(zip(table["config_id"], table["label"], strict=True))
    done = frame[frame["status"] == "done"]
    config_of = dict(zip(done["run_id"], done["config_id"], strict=True))
    rows = [
        {"label": label_of[config_of[r["run_id"]]], **point}
        for r in records
        if r["run_id"] in config_of
        for point in r.get("curves") or []
    ]
    return pd.DataFrame(rows)


def curves(table: pd.DataFrame, points: pd.DataFrame, path: Path) -> Path | None:
    """Val top-1 and train loss vs epoch, one line per configuration (mean, band = ± std over
    seeds); None without two epochs of curves."""
    if points.empty or points["epoch"].nunique() < 2:
        return None
    order = [label for label in table["label"] if label in set(points["label"])]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, (key, title) in zip(axes, CURVES, strict=True):
        if key in points:
            sns.lineplot(
                data=points,
                x="epoch",
                y=key,
                hue="label",
                hue_order=order,
                errorbar="sd",
                marker="o",
                ax=ax,
                legend=ax is axes[-1],
            )
        ax.set_ylabel(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{title} per epoch (mean, band = ± std over seeds)", fontsize=9)
    if axes[-1].get_legend() is not None:
        axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    return save_figure(fig, path)


def cost_vs_accuracy(table: pd.DataFrame, path: Path) -> Path | None:
    """Top-1 (mean ± std over seeds) against each cost that differs between the configurations,
    with the Pareto front; None when every configuration costs the same."""
    shown = [(k, t) for k, t in COSTS if k in table and table[k].round(6).nunique() > 1]
    if not shown:
        return None
    fig, axes = plt.subplots(1, len(shown), figsize=(6.5 * len(shown), 4.5), squeeze=False)
    for ax, (key, title) in zip(axes[0], shown, strict=True):
        points = pd.DataFrame(
            {"x": table[key], "acc": table["val_top1_pct_mean"], "label": table["label"]}
        ).dropna(subset=["x", "acc"])
        ax.errorbar(
            points["x"],
            points["acc"],
            yerr=table.loc[points.index, "val_top1_pct_std"].fillna(0),
            fmt="o",
            color=MEAN_COLOR,
        )
        front = pareto_front(points)
        ax.plot(front["x"], front["acc"], "--", color=DELTA_COLOR, label="Pareto front")
        for _, p in points.iterrows():
            ax.annotate(
                p["label"],
                (p["x"], p["acc"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.set_xlabel(title)
        ax.set_ylabel("val top-1 (%), mean ± std over seeds")
        ax.legend(loc="lower right")
    return save_figure(fig, path)


def swept_axis(table: pd.DataFrame) -> tuple[str, list[Any]] | None:
    """The one axis (placement, stages, backbone or a hyper-parameter) along which the
    configurations of a module differ, with each row's value (None for baselines); None unless
    exactly one axis varies within the modules and each (module, value) names one configuration."""
    treated = table[table["attention"] != "none"]
    values = pd.DataFrame({axis: treated[axis].astype(str) for axis in SWEEP_AXES})
    hparams = pd.DataFrame([json.loads(h) for h in treated["hparams"]], index=treated.index)
    values = values.join(hparams.astype(str))
    by_module = values.groupby(treated["attention"])
    varying = [axis for axis in values if (by_module[axis].nunique() > 1).any()]
    if len(varying) != 1 or by_module[varying[0]].apply(lambda v: v.duplicated().any()).any():
        return None  # no sweep, several axes, or recipe variants of one configuration
    axis = varying[0]
    column = treated[axis] if axis in SWEEP_AXES else hparams[axis]
    return axis, [column.get(i) for i in table.index]


def sweep(table: pd.DataFrame, frame: pd.DataFrame, path: Path) -> Path | None:
    """Top-1 vs the study's one swept axis (mean ± std over seeds, one line per module that
    takes two values or more on it), the baseline as a horizontal band; None when the study
    sweeps no single axis."""
    found = swept_axis(table)
    if found is None:
        return None
    axis, raw = found
    values = [None if v is None or pd.isna(v) else _tick(v) for v in raw]
    seeds = _seed_values(table, frame)
    ticks = sorted({v for v in values if v is not None}, key=natural_key)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for attention, rows in table.assign(_value=values).groupby("attention", sort=False):
        if attention == "none":
            _baseline_band(ax, rows["val_top1_pct_mean"].iloc[0], rows["val_top1_pct_std"].iloc[0])
            continue
        rows = rows.dropna(subset="_value")
        if rows["_value"].nunique() < 2:
            continue  # this module is not swept (a study of several modules sweeps some)
        rows = rows.assign(_x=[ticks.index(v) for v in rows["_value"]]).sort_values("_x")
        ax.errorbar(
            rows["_x"],
            rows["val_top1_pct_mean"],
            yerr=rows["val_top1_pct_std"].fillna(0),
            marker="o",
            capsize=3,
            label=attention,
        )
        for x, label in zip(rows["_x"], rows["label"], strict=True):
            ax.plot([x] * len(seeds.get(label, [])), seeds.get(label, []), ".", color="#999")
    ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlabel({"reduction": "reduction ratio r"}.get(axis, axis))
    ax.set_ylabel("val top-1 (%): mean ± std, dots = seeds")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _tick(value: Any) -> str:
    """An axis value as a tick label: ``16``, not ``16.0``."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _baseline_band(ax: Any, mean: float, std: float) -> None:
    ax.axhline(mean, color="#555", ls="--", lw=1, label="baseline (no attention)")
    if not math.isnan(std):
        ax.axhspan(mean - std, mean + std, color="#ccc", alpha=0.4, lw=0)
