"""How long the rest of a grid run will take, for the console only (never written into records).

Before a run's first epoch ends, the time left comes from similar stored records
(``bench.estimate``); once an epoch has ended, from the epochs measured in this process: the
current run's mean epoch time, and for the runs still waiting the mean seconds per epoch of the
runs already finished here (training and measurement together), else the current run's.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.estimate import estimate_seconds
from bench.execute.preview import all_records
from bench.spec import RunSpec

MEASURING = "measuring params, GMACs, latency, saliency"


@dataclass
class GridClock:
    """Measured times of a grid run, and the time its current run and the whole grid have left."""

    estimates: dict[str, float | None]  # run id -> seconds, from similar records
    finished_per_epoch: list[float] = field(default_factory=list)  # runs ended in this process
    run_start: float = 0.0
    epoch_seconds: float | None = None  # the current run's mean epoch so far

    @classmethod
    def for_specs(cls, specs: list[RunSpec], results: Path) -> GridClock:
        """A clock whose estimates come from every record under ``results``."""
        records = all_records(results)
        return cls({spec.run_id: estimate_seconds(spec, records) for spec in specs})

    def start_run(self) -> None:
        """A run begins: its epochs are timed from now."""
        self.run_start, self.epoch_seconds = time.monotonic(), None

    def epoch_done(self, epoch: int) -> None:
        """Epoch ``epoch`` (1-based) of the current run has ended."""
        self.epoch_seconds = (time.monotonic() - self.run_start) / epoch

    def run_done(self, spec: RunSpec) -> None:
        """The current run has ended, measurement included."""
        seconds = time.monotonic() - self.run_start
        self.finished_per_epoch.append(seconds / max(spec.train.epochs, 1))

    def run_left(self, spec: RunSpec, epoch: int) -> float | None:
        """Seconds the current run has left after ``epoch`` epochs; None if unknown."""
        if self.epoch_seconds is not None:
            return self.epoch_seconds * (spec.train.epochs - epoch)
        per_epoch = self._finished_per_epoch()
        expected = (
            self.estimates.get(spec.run_id) if per_epoch is None else per_epoch * spec.train.epochs
        )
        return (
            None if expected is None else max(0.0, expected - (time.monotonic() - self.run_start))
        )

    def grid_left(self, spec: RunSpec, epoch: int, waiting: list[RunSpec]) -> float | None:
        """Seconds the grid has left: the current run's and those of the ``waiting`` runs."""
        per_epoch = self._finished_per_epoch() or self.epoch_seconds
        parts = [self.run_left(spec, epoch)] + [
            self.estimates.get(s.run_id) if per_epoch is None else per_epoch * s.train.epochs
            for s in waiting
        ]
        return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)

    def _finished_per_epoch(self) -> float | None:
        """Mean seconds per epoch of the runs finished here, measurement included."""
        return statistics.mean(self.finished_per_epoch) if self.finished_per_epoch else None


def duration(seconds: float | None) -> str:
    """``~40 s left``, ``~12 min left``, ``~1.5 h left``; ``''`` when unknown."""
    if seconds is None:
        return ""
    if seconds < 90:
        return f"~{seconds:.0f} s left"
    if seconds < 90 * 60:
        return f"~{seconds / 60:.0f} min left"
    return f"~{seconds / 3600:.1f} h left"


def epoch_status(row: dict[str, float], spec: RunSpec, epoch: int, left: float | None) -> str:
    """A run's status after an epoch: its metrics and time left, or the measuring phase after
    the last epoch."""
    metrics = f"val top-1 {row['val_top1_pct']:.1f}%  loss {row['train_loss']:.3f}"
    if epoch >= spec.train.epochs:
        return f"{metrics}  {MEASURING}…"
    return f"{metrics}  {duration(left)}"
