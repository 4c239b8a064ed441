"""What ``bench run`` says before it trains: the runs of a ``--dry-run`` with their time estimates,
and the finished records that an edited plugin has superseded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.estimate import estimate_seconds
from bench.execute.common import Plan
from bench.grid import Grid
from bench.store import read_records


def all_records(results: Path) -> list[dict[str, Any]]:
    """Every record under ``results`` (none when the folder does not exist yet)."""
    return read_records(results) if results.is_dir() else []


def dry_run_table(grid: Grid, todo: Plan, results: Path) -> tuple[Table, str]:
    """One row per run of ``grid`` (to run, or finished and skipped) with its time estimate from
    similar records under ``results``, and a line with the total."""
    records = all_records(results)
    skipped = {spec.run_id for spec in todo.skipped}
    table = Table(title=f"{grid.study.name}: runs", title_justify="left", box=None)
    for column in ("run id", "configuration", "seed", "status", "estimate"):
        table.add_column(column)
    total, unknown = 0.0, 0
    for spec in grid.specs:
        if spec.run_id in skipped:
            table.add_row(spec.run_id, spec.label, str(spec.seed), "finished", "")
            continue
        seconds = estimate_seconds(spec, records)
        total += seconds or 0.0
        unknown += seconds is None
        estimate = "no similar record" if seconds is None else f"~{seconds / 60:.1f} min"
        table.add_row(spec.run_id, spec.label, str(spec.seed), "to run", estimate)
    known = len(todo.todo) - unknown
    line = f"estimate: ~{total / 60:.1f} min for {known} run(s) from similar records"
    if unknown:
        line += f"; {unknown} run(s) have no similar record to go by"
    return table, line + " (dry run: nothing was trained)"


def superseded_line(grid: Grid, results: Path) -> str | None:
    """One line about finished records of this study whose run is in the grid but was built by
    another version of a plugin (``RunSpec.code``): they are re-run, kept, and how to drop them."""
    current = {_without_code(spec.canonical()): spec for spec in grid.specs if spec.code}
    folder = results / grid.study.name
    if not current or not folder.is_dir():
        return None
    ids = {spec.run_id for spec in grid.specs}
    stale = [
        record
        for record in read_records(results, grid.study.name)
        if "code" in record["spec"]
        and record["run_id"] not in ids
        and _without_code(record["spec"]) in current
    ]
    if not stale:
        return None
    modules = sorted({c["import"] for r in stale for c in r["spec"]["code"].values()})
    paths = " ".join(str(folder / f"{r['run_id']}.json") for r in stale)
    return (
        f"{len(stale)} finished record(s) were built by an earlier version of "
        f"{', '.join(modules)} (its source changed): those runs are trained again with the current "
        "code. The old records are kept as separate rows (their labels end in another 'code'); "
        f"to discard them: rm {paths}"
    )


def _without_code(spec: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in spec.items() if k != "code"}, sort_keys=True)
