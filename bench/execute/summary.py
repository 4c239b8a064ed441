"""The end-of-grid summary: one line of counts and a table of the runs that failed or diverged."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from bench.execute.common import Outcome
from bench.spec import RunSpec
from bench.store import RunFiles

PROBLEMS = ("failed", "diverged")


def counts_line(outcome: Outcome) -> str:
    """``done 3, diverged 1, failed 1`` (and ``skipped`` when another process had a run)."""
    parts = [f"{s} {outcome.count(s)}" for s in ("done", *PROBLEMS)]
    if outcome.count("skipped"):
        parts.append(f"skipped {outcome.count('skipped')} (running or finished elsewhere)")
    return ", ".join(parts)


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
            spec.label,
            str(spec.seed),
            outcome.statuses[spec.run_id],
            outcome.errors.get(spec.run_id, ""),
            str(log) if log.exists() else "",
        )
    return table
