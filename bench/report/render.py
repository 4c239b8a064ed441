"""Tables -> text formats. The only place numbers become strings."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from bench.report.layouts import Cell, TableResult
from bench.report.metrics import METRICS, Metric

FORMATS = ("md", "csv", "latex", "html", "json")


def mean_std(mean: float, std: float, digits: int = 2) -> str:
    """``71.20 ± 1.30``; ``—`` when there is no value; no ``±`` part with a single seed."""
    if mean is None or math.isnan(mean):
        return "—"
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summary_markdown(table: pd.DataFrame) -> str:
    """The summary table as GitHub markdown."""
    return summary_display(table).to_markdown(index=False, disable_numparse=True)


def summary_display(table: pd.DataFrame) -> pd.DataFrame:
    """The summary table as strings."""
    return pd.DataFrame(
        {
            "configuration": table["label"],
            "params (M)": table["params_total_m"].map(lambda v: f"{v:.3f}"),
            "attention params (M)": table["params_attention_m"].map(lambda v: f"{v:.4f}"),
            "top-1 acc. (%)": [
                mean_std(m, s)
                for m, s in zip(table["val_top1_pct_mean"], table["val_top1_pct_std"], strict=True)
            ],
            "top-5 acc. (%)": [
                mean_std(m, s)
                for m, s in zip(table["val_top5_pct_mean"], table["val_top5_pct_std"], strict=True)
            ],
            "Δ top-1 vs baseline, paired [95 % CI]": [
                _delta_interval(d, lo, hi)
                for d, lo, hi in zip(
                    table["top1_delta"], table["top1_ci_low"], table["top1_ci_high"], strict=True
                )
            ],
            "ρ": table["top1_corr"].map(lambda v: MISSING if pd.isna(v) else f"{v:+.2f}"),
            "p Welch · paired · Holm": [
                _p_values(*ps)
                for ps in zip(
                    table["top1_p"], table["top1_paired_p"], table["top1_holm_p"], strict=True
                )
            ],
            "verdict": table["verdict"].map(lambda v: MISSING if v is None or pd.isna(v) else v),
            "GMACs": table["gmacs"].map(lambda v: MISSING if pd.isna(v) else f"{v:.4f}"),
            "latency b=1 (ms, IQR)": [
                "noisy" if noisy else MISSING if pd.isna(m) else f"{m:.2f} ({q:.2f})"
                for m, q, noisy in zip(
                    table["latency_batch_1_median_ms"],
                    table["latency_batch_1_iqr_ms"],
                    table["latency_noisy"],
                    strict=True,
                )
            ],
            "sfd": [
                mean_std(m, s, digits=3)
                for m, s in zip(table["sfd_mean"], table["sfd_std"], strict=True)
            ],
            "pointing game": [
                mean_std(m, s, digits=3)
                for m, s in zip(table["pointing_mean"], table["pointing_std"], strict=True)
            ],
            "n": table["n"].astype(str),
            "not done": table["not_done"].astype(str),
        }
    )


def _delta_interval(delta: float, low: float, high: float) -> str:
    """``+0.31 [+0.05, +0.57]``; the difference of the means alone where no interval exists."""
    if pd.isna(delta):
        return MISSING
    shown = f"{delta:+.2f}"
    return shown if pd.isna(low) else f"{shown} [{low:+.2f}, {high:+.2f}]"


def _p_values(*values: float) -> str:
    if all(pd.isna(v) for v in values):
        return MISSING
    return " · ".join(MISSING if pd.isna(v) else f"{v:.3f}" for v in values)


# ---- paper layouts -------------------------------------------------------------------------------

MISSING = "—"
SIGNIFICANCE_NOTE = (
    "(±x) = difference from the baseline row: with three or more seed-matched runs, the mean of "
    "the per-seed differences and its 95 % t interval [low, high] (runs with the same seed share "
    "the backbone's init and batch order), else the difference of the means; * = that "
    "difference is larger than the seed noise: the paired t-test's p, Holm-adjusted over the "
    "table's comparisons, below 0.05 (without matched seeds, Welch's two-sided t-test at p < 0.05, "
    "n ≥ 2 a side)"
)


def measured_cell(cell: Cell, metric: Metric, *, compare: bool = True) -> str:
    """``22.31 ± 0.12 (-0.97)*``; the value alone for per-model constants; ``—`` when unmeasured."""
    s = cell.summary
    if s.n == 0:
        return MISSING
    text = (
        mean_std(s.mean, s.std, metric.digits) if metric.per_seed else f"{s.mean:.{metric.digits}f}"
    )
    if compare and metric.per_seed and cell.paired.n:
        pair, d = cell.paired, metric.digits
        text += f" ({pair.delta:+.{d}f} [{pair.low:+.{d}f}, {pair.high:+.{d}f}])"
    elif compare and metric.per_seed and not math.isnan(cell.delta):
        text += f" ({cell.delta:+.{metric.digits}f})"
    return text + ("*" if cell.significant else "")


def published_cell(value: float | None, digits: int) -> str:
    """A published number at the metric's precision, ``—`` when the paper printed none."""
    return MISSING if value is None else f"{value:.{digits}f}"


def display_frame(result: TableResult) -> pd.DataFrame:
    """The table as strings, in the paper's layout (``long`` or ``paired``)."""
    if result.table.style == "paired":
        return _paired_frame(result)
    rows = []
    for row in result.rows:
        line: dict[str, str] = {"model": row.row.label}
        for key, label in result.table.extra.items():
            line[label] = published_cell(row.row.published.get(key), 2)
        for key in result.table.metrics:
            metric = METRICS[key]
            line[metric.header] = measured_cell(row.cells[key], metric)
            line[f"{metric.header} paper"] = published_cell(row.cells[key].published, metric.digits)
        line["n"] = str(row.n)
        line["notes"] = "; ".join(row.notes)
        rows.append(line)
    frame = pd.DataFrame(rows)
    return _drop_empty_notes(frame)


def _paired_frame(result: TableResult) -> pd.DataFrame:
    """One line per group: extras, then per metric the baseline and the treated row side by side."""
    groups: dict[str | None, list] = {}
    for row in result.rows:
        groups.setdefault(row.row.group, []).append(row)
    lines = []
    for name, members in groups.items():
        base = next((m for m in members if m.row.baseline), members[0])
        others = [m for m in members if m is not base] or [None]
        for other in others:
            line: dict[str, str] = {"model": name or base.row.label}
            for key, label in result.table.extra.items():
                line[label] = published_cell(base.row.published.get(key), 2)
            for key in result.table.metrics:
                metric = METRICS[key]
                for role, member in (("baseline", base), ("attention", other)):
                    cell = None if member is None else member.cells[key]
                    line[f"{metric.header} {role}"] = (
                        MISSING if cell is None else measured_cell(cell, metric)
                    )
                    line[f"{metric.header} {role} paper"] = published_cell(
                        None if cell is None else cell.published, metric.digits
                    )
            line["n"] = f"{base.n}/{'—' if other is None else other.n}"
            notes = base.notes + ([] if other is None else other.notes)
            line["notes"] = "; ".join(dict.fromkeys(notes))
            lines.append(line)
    return _drop_empty_notes(pd.DataFrame(lines))


def _drop_empty_notes(frame: pd.DataFrame) -> pd.DataFrame:
    if "notes" in frame and not frame["notes"].astype(bool).any():
        return frame.drop(columns="notes")
    return frame


def caption_lines(result: TableResult, macs: str = "") -> list[str]:
    """What every table states: conventions, provenance, significance test, what is missing."""
    table = result.table
    lines = [table.caption] if table.caption else []
    lines.append(
        "Measured cells: mean ± sample std over n seeds, last epoch (no model selection); "
        f"'paper' = the published value; {MISSING} = no finished run. " + SIGNIFICANCE_NOTE + "."
    )
    if table.style == "paired":
        lines.append(
            "Paired layout: 'baseline' = the group's reference row, 'attention' = the "
            "row with the module; n = seeds of baseline/attention."
        )
    if macs and any(k in ("gmacs", "mmacs") for k in table.metrics):
        lines.append(f"MACs: {macs}. Measured: gmacs_paper (conv + linear + matmul, 1 MAC = 1).")
    lines.append(provenance(result))
    lines.append(resolution_line(result))
    lines.append(missing_line(result))
    return [line for line in lines if line]


def resolution_line(result: TableResult) -> str:
    """The table's seed noise and the smallest difference it resolves ('' before two seeds)."""
    found = result.resolution
    if not found or not found["dof"]:
        return ""
    metric = METRICS[found["metric"]].header
    paired = (
        f"; paired (seed-matched differences, std {found['std_diff']:.2f}, {found['dof_diff']} "
        f"dof): {found['paired_mde']:.2f}"
        if found["dof_diff"]
        else ""
    )
    return (
        f"Resolution ({metric}): pooled seed std {found['std']:.2f} ({found['dof']} dof); at "
        f"n = {found['n']} seeds the smallest difference detected with 80 % power at p < 0.05 "
        f"is {found['mde']:.2f} (Welch){paired}.{target_clause(found, result.target_mde)}"
    )


def target_clause(found: dict[str, Any], target: float | None) -> str:
    """Whether the MDE of the test that decides the verdicts (paired where seed-matched pairs
    exist, else Welch's) reached the grid's ``[study] target_mde``; '' without a target."""
    if target is None:
        return ""
    test, mde = ("paired", found["paired_mde"]) if found["dof_diff"] else ("Welch's", found["mde"])
    planned = f" Planned for {target:g} points ([study] target_mde):"
    if not math.isfinite(mde):
        return f"{planned} not measurable yet."
    if mde <= target:
        return f"{planned} reached ({test} MDE {mde:.2f})."
    return (
        f"{planned} not reached, the {test} test's MDE is {mde:.2f}, {mde - target:.2f} short; "
        "`bench plan` gives the seeds that reach it."
    )


def provenance(result: TableResult) -> str:
    """Which data, epochs and devices the measured cells come from."""
    if not result.datasets:
        return "No measured runs yet."
    text = (
        f"Measured on {', '.join(result.datasets)}, {', '.join(map(str, result.epochs))} "
        f"epoch(s), devices: {', '.join(result.devices) or 'unknown'}; studies: "
        f"{', '.join(result.studies)}."
    )
    if result.stand_in:
        pairs = ", ".join(f"{run} for {paper}" for paper, run in sorted(result.stand_in.items()))
        text += f" Stand-ins: {pairs}."
    return text


def missing_line(result: TableResult) -> str:
    """How many runs and rows are missing."""
    rows = f"{result.empty_rows} of {len(result.rows)} rows have no finished run"
    if result.expected_runs is None:
        return f"Missing: {rows}."
    return (
        f"Missing: {result.missing_runs} of {result.expected_runs} runs the grids ask for have no "
        f"finished record; {rows}."
    )


def synthetic_banner(result: TableResult) -> str:
    """The warning shown above tables measured on synthetic data."""
    return (
        "SYNTHETIC DATA: measured on the synthetic `shapes` dataset with scaled-down models and "
        "recipes, so the measured columns only exercise the layout; they are not comparable with "
        "the published ones."
    )


def table_markdown(result: TableResult, macs: str = "") -> str:
    """One table: heading, caption lines, the table."""
    parts = [f"## {result.table.title}", ""]
    if result.synthetic:
        parts += [f"> **{synthetic_banner(result)}**", ""]
    parts += [
        " ".join(caption_lines(result, macs)),
        "",
        display_frame(result).to_markdown(index=False, disable_numparse=True),
    ]
    return "\n".join(parts) + "\n"


def raw_records(result: TableResult) -> list[dict[str, Any]]:
    """Every cell as raw numbers, one dict per row x metric (the csv/json form)."""
    out = []
    for row in result.rows:
        for key, cell in row.cells.items():
            s = cell.summary
            out.append(
                {
                    "paper": result.table.paper,
                    "table": result.table.id,
                    "row": row.row.label,
                    "group": row.row.group,
                    "baseline_row": row.baseline,
                    "metric": key,
                    "mean": _num(s.mean),
                    "std": _num(s.std),
                    "n": s.n,
                    "values": cell.values,
                    "published": cell.published,
                    "delta_vs_published": _num(s.mean - cell.published)
                    if cell.published is not None
                    else None,
                    "delta_vs_baseline": _num(cell.delta),
                    "welch_p": _num(cell.p_value),
                    "paired_delta": _num(cell.paired.delta),
                    "paired_ci_low": _num(cell.paired.low),
                    "paired_ci_high": _num(cell.paired.high),
                    "paired_n": cell.paired.n,
                    "paired_corr": _num(cell.paired.corr),
                    "paired_p": _num(cell.paired.p),
                    "holm_p": _num(cell.holm_p),
                    "significant": cell.significant,
                    "not_done": row.not_done,
                    "synthetic": result.synthetic,
                    "notes": "; ".join(row.notes),
                }
            )
    return out


def table_csv(result: TableResult) -> str:
    """The raw cells as CSV (numbers unformatted, empty = missing)."""
    frame = pd.DataFrame(raw_records(result)).drop(columns="values")
    return frame.to_csv(index=False)


def table_json(result: TableResult, macs: str = "") -> dict[str, Any]:
    """The table as JSON-ready data: meta, caption lines and raw cells."""
    return {
        "paper": result.table.paper,
        "table": result.table.id,
        "title": result.table.title,
        "caption": caption_lines(result, macs),
        "synthetic": result.synthetic,
        "expected_runs": result.expected_runs,
        "missing_runs": result.missing_runs,
        "empty_rows": result.empty_rows,
        "significance_test": "paired_t_holm_p<0.05 (welch_t_two_sided_p<0.05 without pairs)",
        "cells": raw_records(result),
    }


def _num(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


LATEX_ESCAPES = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "±": r"$\pm$",
    "—": "---",
    "≥": r"$\geq$",
    "α": r"$\alpha$",
    "ρ": r"$\rho$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials (and a few unicode signs) in ``text``."""
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def frame_latex(frame: pd.DataFrame, caption: str = "", label: str = "") -> str:
    """A booktabs ``table`` environment of a frame of strings."""
    spec = "l" + "r" * (len(frame.columns) - 1)
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in frame.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for _, row in frame.iterrows()]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    return "\n".join([*lines, r"\end{table}", ""])


def table_latex(result: TableResult, macs: str = "") -> str:
    """One paper table as a booktabs ``table`` with its caption lines."""
    caption = " ".join(caption_lines(result, macs))
    if result.synthetic:
        caption = synthetic_banner(result) + " " + caption
    label = f"tab:{result.table.paper}-{result.table.id}"
    return frame_latex(display_frame(result), f"{result.table.title}. {caption}", label)
