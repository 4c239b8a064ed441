"""The inline executor: the runs of a grid one after another in this process, progress bars."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress, TaskID

from bench.execute.common import Outcome, finish_run, progress_columns
from bench.execute.locks import claim, record_stamp
from bench.execute.progress import GridClock, duration, epoch_status
from bench.spec import RunSpec


def run_inline(
    specs: list[RunSpec], results: Path, device: torch.device, console: Console
) -> Outcome:
    """Run ``specs`` in order; each record is stored as soon as its run ends.

    A run locked by another ``bench run`` process is skipped ("running elsewhere").
    """
    outcome = Outcome()
    stamps = {spec.run_id: record_stamp(results, spec) for spec in specs}
    start, ran = time.monotonic(), 0
    clock = GridClock.for_specs(specs, results)
    with Progress(*progress_columns(), console=console, transient=False) as progress:
        grid_task = progress.add_task("grid", total=len(specs), status="")
        for index, spec in enumerate(specs):
            lock, reason = claim(spec, results, stamps[spec.run_id])
            if lock is None:
                console.print(f"[yellow]skipped[/yellow] {spec.label} seed {spec.seed}: {reason}")
                outcome.statuses[spec.run_id] = "skipped"
                progress.advance(grid_task)
                continue
            clock.start_run()
            name = f"  {spec.label} seed {spec.seed}"
            status = duration(clock.run_left(spec, 0))
            run_task = progress.add_task(name, total=spec.train.epochs, status=status)
            on_epoch = epoch_callback(
                progress, clock, (grid_task, run_task), spec, specs[index + 1 :]
            )
            on_epoch(0, None)

            try:
                record = finish_run(spec, results, device, on_epoch)
            finally:
                lock.release()
            clock.run_done(spec)
            outcome.statuses[spec.run_id] = record["status"]
            if record["error"]:
                outcome.errors[spec.run_id] = record["error"]
            progress.update(run_task, status=record["status"])
            progress.advance(grid_task)
            ran += 1
            if not console.is_terminal:  # logs and CI see each run as it ends, not only at exit
                left = (time.monotonic() - start) / ran * (len(specs) - len(outcome.statuses))
                console.print(
                    f"{finished_line(spec, record)}; {eta(len(outcome.statuses), len(specs), left)}"
                )
    return outcome


def epoch_callback(
    progress: Progress,
    clock: GridClock,
    tasks: tuple[TaskID, TaskID],
    spec: RunSpec,
    waiting: list[RunSpec],
) -> Callable[[int, dict[str, float] | None], None]:
    """The ``on_epoch`` of ``spec``'s run: its bar, metrics and time left, the grid's time left
    (``waiting``: the runs after it); called with epoch 0 and no row before training starts."""
    grid_task, run_task = tasks

    def on_epoch(epoch: int, row: dict[str, float] | None) -> None:
        if row is not None:
            clock.epoch_done(epoch)
            status = epoch_status(row, spec, epoch, clock.run_left(spec, epoch))
            progress.update(run_task, completed=epoch, status=status)
        progress.update(grid_task, status=duration(clock.grid_left(spec, epoch, waiting)))

    return on_epoch


def eta(finished: int, total: int, seconds_left: float) -> str:
    """``3/24 runs, about 41 min left`` (the mean time of the runs so far, times those to go)."""
    if finished >= total:
        return f"{finished}/{total} runs"
    return f"{finished}/{total} runs, about {seconds_left / 60:.0f} min left"


def finished_line(spec: RunSpec, record: dict) -> str:
    """One plain line for a finished run: status, last-epoch top-1 and wall time."""
    final = record.get("final") or {}
    top1 = f", val top-1 {final['val_top1_pct']:.2f}%" if "val_top1_pct" in final else ""
    wall = f", {record['wall_seconds']:.0f} s" if "wall_seconds" in record else ""
    return f"{record['status']}: {spec.label} seed {spec.seed}{top1}{wall}"
