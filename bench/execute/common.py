"""What every executor shares: the plan of a grid, the outcome of its runs, running one run into
its record, and the columns of the progress display."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.errors import BenchError, DataError
from bench.execute.oom import execute_with_backoff
from bench.grid import Grid
from bench.run import failed_record
from bench.spec import RunSpec
from bench.store import (
    FINAL_STATUSES,
    RunFiles,
    read_record,
    record_path,
    remove_stale_temp_files,
    write_record,
)
from bench.train import EpochCallback


@dataclass
class Plan:
    """What a grid still needs: runs to do, and finished runs skipped (``failed``: the skipped
    runs whose record says failed; ``--retry-failed`` moves them to ``todo``)."""

    todo: list[RunSpec]
    skipped: list[RunSpec] = field(default_factory=list)
    failed: list[RunSpec] = field(default_factory=list)


@dataclass
class Outcome:
    """What happened to the runs an executor was given."""

    statuses: dict[str, str] = field(default_factory=dict)  # run_id -> status
    errors: dict[str, str] = field(default_factory=dict)  # run_id -> one-line error

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses.values() if s == status)


def plan(grid: Grid, results: Path, *, retry_failed: bool = False) -> Plan:
    """Split a grid into runs to do and finished runs; failed runs are redone only on request."""
    result = Plan(todo=[])
    remove_stale_temp_files(results / grid.study.name)
    for spec in grid.specs:
        record = read_record(record_path(results, spec.study, spec.run_id))
        status = None if record is None else record.get("status")
        finished = status in FINAL_STATUSES or (status == "failed" and not retry_failed)
        (result.skipped if finished else result.todo).append(spec)
        if finished and status == "failed":
            result.failed.append(spec)
    return result


def finish_run(
    spec: RunSpec, results: Path, device: torch.device, on_epoch: EpochCallback | None = None
) -> dict[str, Any]:
    """Run one spec and store its record; an exception becomes a ``failed`` record plus a log
    file."""
    files = RunFiles(results, spec.study, spec.run_id)
    try:
        record = execute_with_backoff(spec, device, on_epoch, files)
    except DataError:
        raise  # a missing dataset fails every run alike: stop the grid with the one-line error
    except Exception as err:  # any failure of one run must not stop the grid
        record, log = failed_record(spec, device, err)
        files.folder.mkdir(parents=True, exist_ok=True)
        files.log.write_text(log)
    try:
        write_record(files.record, record)
    except OSError as err:  # the disk filled or went read-only during training: keep the numbers
        print(json.dumps(record, sort_keys=True), file=sys.stderr)
        raise BenchError(
            f"could not write {files.record} ({err.strerror or err}); the run's record is printed "
            "above as JSON, and the grid stops"
        ) from None
    return record


def progress_columns() -> tuple[ProgressColumn, ...]:
    """The columns of every executor's progress display: name, bar, m/n, time, time left (rich's
    estimate from the pace so far), last status."""
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
