"""Paper layouts: a printed table (``papers.PaperTable``) + run records -> measured cells beside the
published ones.

Each row of a paper table selects the runs that reproduce it (by registry names; smoke twins map the
paper's backbone/dataset to a stand-in, see ``[study] stand_in``), and each metric cell holds the
per-seed values, their mean ± sample std and n, the published value, the difference from the
row's baseline and whether that difference exceeds the seed noise. Runs with the same seed share
the backbone's init and batch order, so a row is compared with its baseline by the paired
difference of seed-matched runs (``stats.paired_difference``: 95 % interval, correlation, paired
t-test), and the paired p-values of a table are Holm-adjusted over its comparisons; rows whose
seeds do not match the baseline's fall back to Welch's test. Numbers stay numeric; ``render``
formats them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

import registry
from bench.report.metrics import METRICS, Metric
from bench.report.papers import PaperTable, Row
from bench.report.stats import (
    MIN_SEEDS_FOR_TEST,
    NO_PAIRS,
    Paired,
    Summary,
    holm,
    is_significant,
    minimum_detectable_effect,
    paired_difference,
    paired_mde,
    pooled_diff_std,
    pooled_std,
    summarise,
    welch_p,
)
from bench.spec import ADDED_TRAIN_FIELDS
from bench.store import records_frame

SYNTHETIC = ("shapes",)


@dataclass
class Cell:
    """One metric of one row: per-seed values and what the report says about them."""

    values: list[float]
    summary: Summary
    published: float | None = None
    delta: float = math.nan  # mean minus the baseline row's mean
    p_value: float = math.nan  # Welch's, unpaired
    significant: bool = False  # the Holm-adjusted paired test's verdict (Welch's without pairs)
    by_seed: dict[int, float] = field(default_factory=dict)
    paired: Paired = NO_PAIRS  # seed-matched difference from the baseline row (>= 3 pairs)
    holm_p: float = math.nan  # the paired p after Holm's adjustment over the table


@dataclass
class RowResult:
    """A printed row with its measured cells."""

    row: Row
    cells: dict[str, Cell]
    run_ids: list[str]
    n: int
    not_done: int
    baseline: str | None = None  # label of the row it is compared with
    notes: list[str] = field(default_factory=list)


@dataclass
class TableResult:
    """A paper table, measured: rows, provenance and how much is missing."""

    table: PaperTable
    rows: list[RowResult]
    datasets: list[str]
    stand_in: dict[str, str]
    epochs: list[int]
    devices: list[str]
    expected_runs: int | None = None
    missing_runs: int | None = None
    studies: list[str] = field(default_factory=list)
    resolution: dict[str, Any] = field(default_factory=dict)  # see ``table_resolution``
    target_mde: float | None = None  # the grids' ``[study] target_mde``

    @property
    def synthetic(self) -> bool:
        """Whether any measured run used synthetic data (the published column is not comparable)."""
        return any(d in SYNTHETIC for d in self.datasets)

    @property
    def empty_rows(self) -> int:
        """Rows with no finished run."""
        return sum(1 for r in self.rows if r.n == 0)


def prepare_frame(
    records: list[dict[str, Any]], stand_in: dict[str, str] | None = None
) -> pd.DataFrame:
    """The store's frame plus spec columns (``image_size``, ``train_<field>``), with stand-in names
    mapped back to the paper's (the run's own names kept in ``run_backbone``/``run_dataset``)."""
    frame = records_frame(records)
    if frame.empty:
        return frame
    by_id = {r["run_id"]: r["spec"] for r in records}
    frame["image_size"] = [by_id[i]["data"].get("image_size") for i in frame["run_id"]]
    for key in ("optimizer", "lr", "batch_size", "weight_decay", "schedule", "random_erasing"):
        default = ADDED_TRAIN_FIELDS.get(key)  # left out of older records' specs
        frame[f"train_{key}"] = [by_id[i]["train"].get(key, default) for i in frame["run_id"]]
    frame["run_backbone"], frame["run_dataset"] = frame["backbone"], frame["dataset"]
    inverse = {run: paper for paper, run in (stand_in or {}).items()}
    frame["backbone"] = frame["backbone"].map(lambda b: inverse.get(b, b))
    frame["dataset"] = frame["dataset"].map(lambda d: inverse.get(d, d))
    frame["hparams_resolved"] = [json.loads(h) for h in frame["hparams"]]
    return frame


def build_table(
    table: PaperTable,
    frame: pd.DataFrame,
    *,
    expected: set[str] | None = None,
    target_mde: float | None = None,
) -> TableResult:
    """Measure every row of ``table`` from ``frame`` (see ``prepare_frame``).

    Args:
        table: the printed table.
        frame: runs of the studies that reproduce it.
        expected: run ids the grids ask for; those without a finished record are counted missing.
        target_mde: the difference the grids' seeds are planned to resolve (``[study]``).
    """
    results = [_row_result(table, row, frame) for row in table.rows]
    _compare_with_baselines(table, results)
    _holm_verdicts(table, results)
    used = (
        frame[frame["run_id"].isin({i for r in results for i in r.run_ids})]
        if len(frame)
        else frame
    )
    done_ids = set(frame[frame["status"] == "done"]["run_id"]) if len(frame) else set()
    stand_in: dict[str, str] = {}
    if len(used):
        for col in ("backbone", "dataset"):
            pairs = used[used[col] != used[f"run_{col}"]][[col, f"run_{col}"]].drop_duplicates()
            stand_in |= dict(zip(pairs[col], pairs[f"run_{col}"], strict=True))
    return TableResult(
        table,
        results,
        sorted(set(used["run_dataset"])) if len(used) else [],
        stand_in,
        sorted({int(e) for e in used["epochs"]}) if len(used) else [],
        sorted({str(d) for d in used["device"].dropna()}) if len(used) else [],
        None if expected is None else len(expected),
        None if expected is None else len(expected - done_ids),
        sorted(set(used["study"])) if len(used) else [],
        table_resolution(table, results),
        target_mde,
    )


def _row_result(table: PaperTable, row: Row, frame: pd.DataFrame) -> RowResult:
    notes = _unknown_names(row)
    runs = select_runs(table, row, frame) if not notes and len(frame) else frame.iloc[0:0]
    done = runs[runs["status"] == "done"] if len(runs) else runs
    cells = {}
    for key in table.metrics:
        metric = METRICS[key]
        values = metric_values(metric, done)
        if not metric.per_seed and values:
            values = values[:1]
        cells[key] = Cell(values, summarise(values), row.published.get(key))
        if metric.per_seed:
            cells[key].by_seed = metric_by_seed(metric, done)
    if len(done) and done["config_id"].nunique() > 1:
        notes.append(f"{done['config_id'].nunique()} configurations pooled")
    ids = list(runs["run_id"]) if len(runs) else []
    return RowResult(row, cells, ids, len(done), len(runs) - len(done), notes=notes)


def metric_values(metric: Metric, runs: pd.DataFrame) -> list[float]:
    """Per-run values of ``metric`` (missing fields left out)."""
    if metric.column not in runs:
        return []
    values = [float(v) for v in runs[metric.column] if v is not None and not pd.isna(v)]
    values = [100.0 - v if metric.error else v for v in values]
    return [v * metric.scale for v in values]


def metric_by_seed(metric: Metric, runs: pd.DataFrame) -> dict[int, float]:
    """``{seed: value}`` of ``metric`` over ``runs`` (as ``metric_values``), for pairing."""
    if metric.column not in runs:
        return {}
    pairs = [(int(s), v) for s, v in zip(runs["seed"], runs[metric.column], strict=True)]
    pairs = [(s, float(v)) for s, v in pairs if v is not None and not pd.isna(v)]
    return {s: (100.0 - v if metric.error else v) * metric.scale for s, v in pairs}


def table_resolution(table: PaperTable, results: list[RowResult]) -> dict[str, Any]:
    """What the table resolves on its first per-seed metric: pooled seed std, the smallest n of a
    row with two seeds or more, Welch's MDE there, and the paired MDE from the pooled std of the
    seed-matched differences (nan without pairs)."""
    key = next((k for k in table.metrics if METRICS[k].per_seed), None)
    if key is None:
        return {}
    cells = [r.cells[key] for r in results]
    std, dof = pooled_std([c.values for c in cells])
    n = min((len(c.values) for c in cells if len(c.values) >= 2), default=0)
    std_diff, dof_diff = pooled_diff_std((c.paired.n, c.paired.std_diff) for c in cells)
    return {
        "metric": key,
        "std": std,
        "dof": dof,
        "n": n,
        "mde": minimum_detectable_effect(std, n),
        "std_diff": std_diff,
        "dof_diff": dof_diff,
        "paired_mde": paired_mde(std_diff, n),
    }


def _unknown_names(row: Row) -> list[str]:
    notes = []
    backbone, attention = row.select["backbone"], row.select.get("attention", "none")
    if backbone not in registry.BACKBONES.names():
        notes.append(f"backbone {backbone!r} is not in the registry")
    if attention not in registry.ATTENTIONS.names():
        notes.append(f"attention {attention!r} is not in the registry")
    return notes


def select_runs(table: PaperTable, row: Row, frame: pd.DataFrame) -> pd.DataFrame:
    """The runs of ``frame`` that reproduce ``row`` (every seed, any status); a row that names a
    ``config_id`` (a study's own row, ``bench.report.yours``) takes exactly that configuration."""
    sel = row.select
    if "config_id" in sel:
        return frame[frame["config_id"] == sel["config_id"]]
    attention = sel.get("attention", "none")
    mask = (frame["backbone"] == sel["backbone"]) & (frame["attention"] == attention)
    dataset = sel.get("dataset", table.dataset)
    if dataset is not None:
        mask &= frame["dataset"] == dataset
    if "image_size" in sel:
        mask &= frame["image_size"] == sel["image_size"]
    else:  # sizes another row of the table claims for this backbone (BAM 3b: MobileNet at 192)
        claimed = {
            r.select["image_size"]
            for r in table.rows
            if "image_size" in r.select and r.select["backbone"] == sel["backbone"]
        }
        mask &= ~frame["image_size"].isin(claimed)
    for key, value in sel.get("train", {}).items():
        column = frame.get(f"train_{key}", pd.Series([None] * len(frame), index=frame.index))
        mask &= column.map(lambda v, want=value: _same(v, want))
    if attention != "none":
        mask &= _attention_mask(frame, sel, attention)
    return frame[mask]


def _attention_mask(frame: pd.DataFrame, sel: dict[str, Any], attention: str) -> pd.Series:
    """Placement, stages and the full resolved hyper-parameters of the row equal the run's."""
    placement = sel.get("placement", registry.default_placement(attention))
    mask = frame["placement"] == placement
    stages = sel.get("stages")
    want_stages = None if stages is None else ",".join(str(s) for s in stages)
    mask &= frame["stages"].map(lambda s: (None if pd.isna(s) else s) == want_stages)
    want = registry.resolve_hparams(attention, sel.get("hparams", {}))
    return mask & frame["hparams_resolved"].map(lambda h: _same_hparams(h, want))


def _same_hparams(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(_same(_listed(a[k]), _listed(b[k])) for k in a)


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def baseline_of(table: PaperTable, row: Row) -> Row | None:
    """The row ``row`` is compared with: the baseline of its group, else a group-less baseline."""
    if row.baseline:
        return None
    group_bases = [r for r in table.rows if r.baseline and r.group == row.group]
    free_bases = [r for r in table.rows if r.baseline and r.group is None]
    bases = group_bases or free_bases
    return bases[0] if bases else None


def _compare_with_baselines(table: PaperTable, results: list[RowResult]) -> None:
    by_label = {r.row.label: r for r in results}
    for result in results:
        base_row = baseline_of(table, result.row)
        if base_row is None:
            continue
        base = by_label[base_row.label]
        result.baseline = base_row.label
        for key, cell in result.cells.items():
            other = base.cells[key]
            cell.delta = cell.summary.mean - other.summary.mean
            if METRICS[key].per_seed:
                cell.p_value = welch_p(cell.values, other.values)
                cell.significant = is_significant(cell.p_value)
                pair = paired_difference(other.by_seed, cell.by_seed)
                if pair.n >= MIN_SEEDS_FOR_TEST:
                    cell.paired = pair


def _holm_verdicts(table: PaperTable, results: list[RowResult]) -> None:
    """Per metric, Holm-adjust the paired p-values of the table's comparisons; a paired cell's
    verdict is its adjusted p's (cells without pairs keep Welch's)."""
    for key in table.metrics:
        cells = [r.cells[key] for r in results if r.baseline is not None]
        adjusted = holm([c.paired.p for c in cells])
        for cell, p in zip(cells, adjusted, strict=True):
            cell.holm_p = p
            if cell.paired.n >= MIN_SEEDS_FOR_TEST:
                cell.significant = is_significant(p)
