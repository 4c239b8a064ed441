"""What ``bench report`` writes: each study through its paper's pipeline (``document``: the
paper's tables, published numbers beside ours) when its grid names a paper, else through the study
pipeline (``study``: one summary table)."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.report.document import grid_sources, source_of, write_paper_report
from bench.report.render import FORMATS
from bench.report.study import write_report
from bench.store import read_records


def studies(results: Path) -> list[str]:
    """Names of the studies with at least one record."""
    if not results.is_dir():
        return []
    # results/baselines/ and other folders of non-record JSON are not studies
    return sorted(p.name for p in results.iterdir() if p.is_dir() and read_records(results, p.name))


def write_reports(
    results: Path,
    reports: Path,
    fmt: str = "md",
    *,
    study: str | list[str] | None = None,
    paper: str | None = None,
    table: str | None = None,
) -> list[Path]:
    """What ``bench report`` writes.

    ``study`` is one study or several (``--study`` given twice: combined in one paper document).
    With ``paper``: that paper's tables, from ``study`` if given (its configurations on each
    table's axis added under the printed rows: ``bench.report.yours``), else from the bundled
    grids that name the paper (a real-data document, plus a ``-synthetic`` one when smoke twins
    have records and a ``-<budget>`` one when a reduced-budget twin has).
    Without: every study (or ``study``); a study whose grid names a paper is rendered as that
    paper's layout, any other study as the summary table.
    """
    if fmt not in FORMATS:
        raise BenchError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    chosen = [study] if isinstance(study, str) else list(study or [])
    if paper:
        if chosen:
            return write_paper_report(results, reports, paper, fmt, studies=chosen, table=table)
        written = write_paper_report(results, reports, paper, fmt, table=table)
        for synthetic, budget in _twins_with_records(results, paper):
            written += write_paper_report(
                results, reports, paper, fmt, synthetic=synthetic, budget=budget, table=table
            )
        return written
    names = chosen or studies(results)
    if not names:
        raise BenchError(f"no records in {results}; run `bench run` first")
    written, papers = [], set()
    for name in names:
        source = source_of(name)
        if source is None or source.paper is None:
            written += write_report(results, reports, name, fmt)
        elif (source.paper, source.document) not in papers:
            papers.add((source.paper, source.document))
            written += write_paper_report(
                results,
                reports,
                source.paper,
                fmt,
                synthetic=source.synthetic,
                budget=source.budget,
                table=table,
            )
    return written


def _twins_with_records(results: Path, paper: str) -> list[tuple[bool, str | None]]:
    """(synthetic, budget) of the paper's twin documents whose grids have records, in order."""
    twins = {
        (s.synthetic, s.budget): s.document
        for s in grid_sources()
        if s.paper == paper and s.document and (results / s.study).is_dir()
    }
    return sorted(twins, key=twins.__getitem__)
