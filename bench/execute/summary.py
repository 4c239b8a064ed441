"""The end-of-grid summary: one line of counts, the study's accuracy so far, and a table of the
runs that failed or diverged."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from bench.execute.common import Outcome
from bench.report.render import mean_std
from bench.report.tables import summary_table
from bench.spec import RunSpec
from bench.store import RunFiles, read_records, records_frame

PROBLEMS = ("failed", "diverged")


def counts_line(outcome: Outcome) -> str:
    """``done 3, diverged 1, failed 1`` (and ``skipped`` when another process had a run)."""
    parts = [f"{s} {outcome.count(s)}" for s in ("done", *PROBLEMS)]
    if outcome.count("skipped"):
        parts.append(f"skipped {outcome.count('skipped')} (running or finished elsewhere)")
    return ", ".join(parts)


def accuracy_table(results: Path, study: str) -> Table | None:
    """Top-1 of every configuration of ``study`` over the finished seeds on record (this run's and
    earlier ones); ``None`` before any record exists. ``bench report`` has the full table."""
    frame = records_frame(read_records(results, study))
    if frame.empty:
        return None
    summary = summary_table(frame)
    table = Table(title=f"{study}: val top-1 (%) at the last epoch", title_justify="left")
    for column in ("configuration", "top-1 (mean ± std)", "n", "not done"):
        table.add_column(column)
    for row in summary.itertuples():
        top1 = mean_std(row.val_top1_pct_mean, row.val_top1_pct_std)
        table.add_row(escape(row.label), top1, str(row.n), str(row.not_done))
    return table


def failure_table(outcome: Outcome, specs: list[RunSpec], results: Path) -> Table | None:
    """The failed and diverged runs with their reason and log file (``None``: there are none)."""
    problems = [s for s in specs if outcome.statuses.get(s.run_id) in PROBLEMS]
    if not problems:
        return None
    table = Table(title="runs that did not finish", title_justify="left")
    for column in ("run id", "run", "seed", "status", "reason", "log"):
        table.add_column(column, overflow="fold")
    for spec in problems:
        log = RunFiles(results, spec.study, spec.run_id).log
        table.add_row(
            spec.run_id,
            escape(spec.label),
            str(spec.seed),
            outcome.statuses[spec.run_id],
            escape(outcome.errors.get(spec.run_id, "")),
            str(log) if log.exists() else "",
        )
    return table
