"""The report of a paper: find the studies that reproduce its tables, measure, write one document.

Which studies feed which table comes from the grids: a grid whose ``[study]`` says ``paper = "se"``
and ``table = "table10"`` feeds SE Table 10 (without ``table`` it feeds every table of the paper).
Grids on synthetic data (the ``*-smoke.toml`` twins) and grids on real data make two separate
documents, ``<paper>-synthetic`` and ``<paper>``, so synthetic numbers never sit in a real table.
A reduced-budget twin on real data (``budget = "cpu"`` in its ``[study]``) makes a third,
``<paper>-cpu``, so runs of another recipe never pool with the paper's in one cell.
Explicit ``studies`` (``bench report --paper se --study mine``) bypass the grids.
"""

from __future__ import annotations

import html
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.grid import Grid, load_grid
from bench.report import plots, render, webpage
from bench.report.cam import write_cam_figure
from bench.report.layouts import SYNTHETIC, TableResult, build_table, prepare_frame
from bench.report.papers import Paper, PaperTable, load_paper
from bench.report.yours import your_tables
from bench.store import read_records
from registry import GRIDS


@dataclass(frozen=True)
class Source:
    """A study feeding a paper's tables, with its stand-ins and the grid that defines it."""

    study: str
    paper: str | None
    table: str | None = None
    stand_in: tuple[tuple[str, str], ...] = ()
    synthetic: bool = False
    grid: Path | None = None
    budget: str | None = None
    description: str = ""

    @property
    def document(self) -> str:
        """The suffix of the paper's document this source feeds (``document_suffix``)."""
        return document_suffix(self.synthetic, self.budget)


def document_suffix(synthetic: bool, budget: str | None) -> str:
    """'' for the paper's recipe on real data, '-synthetic' for the smoke twins, '-<budget>' for a
    reduced-budget twin on real data."""
    return "-synthetic" if synthetic else f"-{budget}" if budget else ""


def grid_sources(grids: Path = GRIDS) -> list[Source]:
    """Every bundled grid's ``[study]`` as a ``Source`` (read without expanding the grid)."""
    sources = []
    for path in sorted(grids.glob("*.toml")):
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError:
            continue
        study, data = doc.get("study", {}), doc.get("data", {})
        if "name" not in study:
            continue
        sources.append(
            Source(
                study["name"],
                study.get("paper"),
                study.get("table"),
                tuple(sorted(study.get("stand_in", {}).items())),
                data.get("name", "shapes") in SYNTHETIC,
                path,
                study.get("budget"),
                str(study.get("description", "")),
            )
        )
    return sources


def source_of(study: str, grids: Path = GRIDS) -> Source | None:
    """The grid source of ``study``, if a bundled grid defines it."""
    return next((s for s in grid_sources(grids) if s.study == study), None)


def bundled_grid(study: str) -> tuple[Path, Grid] | None:
    """The bundled grid file that defines ``study`` and its expansion; None without one, or where
    it no longer loads."""
    source = source_of(study)
    grid = None if source is None or source.grid is None else _loaded(source.grid)
    return None if grid is None or source is None or source.grid is None else (source.grid, grid)


def write_paper_report(
    results: Path,
    reports: Path,
    paper_key: str,
    fmt: str = "md",
    *,
    studies: list[str] | None = None,
    synthetic: bool = False,
    budget: str | None = None,
    table: str | None = None,
    grids: Path = GRIDS,
) -> list[Path]:
    """Render every table of a paper (or one) into ``reports``; returns the files written.

    Args:
        results: the records folder.
        reports: where to write.
        paper_key: ``se``, ``cbam``, ``bam``, ``das``, ``triplet``, ``seed000``, ``seed002``.
        fmt: md | csv | latex | html | json.
        studies: use these studies for every table instead of the grids' studies.
        synthetic: with the grids' studies, take the synthetic twins instead of the real grids.
        budget: with the grids' studies, take the real-data twins of this budget (e.g. "cpu").
        table: only this table.
        grids: the folder of grid files.
    """
    if fmt not in render.FORMATS:
        raise BenchError(
            f"unknown report format {fmt!r}; choose one of {', '.join(render.FORMATS)}"
        )
    paper = load_paper(paper_key)
    if studies:
        known = {s.study: s for s in grid_sources(grids)}
        sources = [known.get(s, Source(s, paper_key)) for s in studies]
        sources = [
            Source(s.study, paper_key, None, s.stand_in, s.synthetic, s.grid, s.budget)
            for s in sources
        ]
        name = studies[0] if len(studies) == 1 else f"{paper_key}-custom"
    else:
        wanted = document_suffix(synthetic, budget)
        sources = [s for s in grid_sources(grids) if s.paper == paper_key and s.document == wanted]
        name = f"{paper_key}{wanted}"
    tables = [paper.table(table)] if table else list(paper.tables)
    if studies:  # the studies' own configurations on each table's axis, under the printed rows
        tables = your_tables(results, tables, studies)
    measured, records = measure_tables(results, tables, sources)
    cam_studies = sorted({r["spec"]["study"] for r in records.values() if r.get("cam")})
    return write_document(reports, name, fmt, paper, measured, records, (results, cam_studies))


def measure_tables(
    results: Path, tables: list[PaperTable], sources: list[Source]
) -> tuple[list[TableResult], dict[str, dict[str, Any]]]:
    """Each table measured from the sources that feed it; also every record used, by run id."""
    cache: dict[str, tuple[pd.DataFrame, list[dict[str, Any]]]] = {}
    grid_cache: dict[Path, Grid | None] = {}
    measured: list[TableResult] = []
    by_id: dict[str, dict[str, Any]] = {}
    for table in tables:
        feeding = [s for s in sources if s.table in (None, table.id)]
        frames, expected, targets = [], set(), set()
        for source in feeding:
            if source.study not in cache:
                recs = (
                    read_records(results, source.study) if (results / source.study).is_dir() else []
                )
                cache[source.study] = (prepare_frame(recs, dict(source.stand_in)), recs)
            frame, recs = cache[source.study]
            by_id |= {r["run_id"]: r for r in recs}
            if not frame.empty:
                frames.append(frame)
            if source.grid is not None:
                if source.grid not in grid_cache:
                    grid_cache[source.grid] = _loaded(source.grid)
                grid = grid_cache[source.grid]
                if grid is not None:
                    expected |= {spec.run_id for spec in grid.specs}
                    targets.add(grid.study.target_mde)
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        has_grid = any(s.grid is not None for s in feeding)
        target = min((t for t in targets if t is not None), default=None)  # the strictest
        measured.append(
            build_table(table, frame, expected=expected if has_grid else None, target_mde=target)
        )
    return measured, by_id


def _loaded(grid: Path) -> Grid | None:
    """The expanded grid, or None where it no longer loads (its runs are then not expected)."""
    try:
        return load_grid(grid)
    except BenchError:
        return None


def write_document(
    reports: Path,
    name: str,
    fmt: str,
    paper: Paper,
    measured: list[TableResult],
    records: dict[str, dict[str, Any]],
    cams: tuple[Path, list[str]] | None = None,
) -> list[Path]:
    """Write the document of ``measured`` tables in ``fmt``; md and html get the plots (and the
    Grad-CAM grid of each study in ``cams`` = (results folder, studies) whose runs stored maps)."""
    reports.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        cells = [c for m in measured for c in render.raw_records(m)]
        path = reports / f"{name}.csv"
        pd.DataFrame(cells).drop(columns="values").to_csv(path, index=False)
        return [path]
    if fmt == "json":
        doc = {
            "paper": paper.key,
            "title": paper.title,
            "citation": paper.citation,
            "tables": [render.table_json(m, paper.macs) for m in measured],
        }
        path = reports / f"{name}.json"
        path.write_text(json.dumps(doc, indent=1, allow_nan=False))
        return [path]
    if fmt == "latex":
        path = reports / f"{name}.tex"
        path.write_text("\n".join(render.table_latex(m, paper.macs) for m in measured))
        return [path]
    figures = make_plots(reports, name, measured, records)
    if cams:
        figures[""] += _cam_grids(cams[0], cams[1], reports / f"{name}_plots")
    if fmt == "md":
        path = reports / f"{name}.md"
        path.write_text(_markdown(paper, measured, figures))
    else:
        path = reports / f"{name}.html"
        path.write_text(_html(paper, measured, figures))
    return [path, *(p for ps in figures.values() for p, _ in ps)]


def make_plots(
    reports: Path, name: str, measured: list[TableResult], records: dict[str, dict[str, Any]]
) -> dict[str, list[tuple[Path, str]]]:
    """Plots keyed by table id ("" = the whole paper), each with its alt text."""
    figures: dict[str, list[tuple[Path, str]]] = {}
    folder = reports / f"{name}_plots"
    for result in measured:
        kind, tid = result.table.plot, result.table.id
        made: list[tuple[Path | None, str]] = []
        if kind in ("reduction", "alpha"):
            made.append((plots.sweep(result, kind, folder / f"{tid}_{kind}.png"), f"{kind} sweep"))
        if kind == "placement":
            made.append(
                (
                    plots.placement_comparison(result, folder / f"{tid}_placement.png"),
                    "placement comparison",
                )
            )
        if kind == "curves":
            made.append(
                (
                    plots.training_curves(result, records, folder / f"{tid}_curves.png"),
                    "training curves",
                )
            )
        figures[tid] = [(p, alt) for p, alt in made if p is not None]
    whole = [
        (
            plots.accuracy_vs_cost(measured, records, "gmacs", folder / "accuracy_vs_gmacs.png"),
            "top-1 accuracy vs GMACs with the Pareto front",
        ),
        (
            plots.accuracy_vs_cost(
                measured, records, "params_m", folder / "accuracy_vs_params.png"
            ),
            "top-1 accuracy vs params",
        ),
    ]
    figures[""] = [(p, alt) for p, alt in whole if p is not None]
    return figures


def _cam_grids(results: Path, studies: list[str], folder: Path) -> list[tuple[Path, str]]:
    """The Grad-CAM grid of each study (skipped when its data cannot be loaded here)."""
    made = []
    for study in studies:
        try:
            path = write_cam_figure(results, study, folder / f"{study}_gradcam.png", images=4)
        except (BenchError, OSError, ValueError, KeyError):
            continue  # e.g. a real dataset that is not on this machine
        made.append(
            (
                path,
                f"Grad-CAM grid of the study `{study}` "
                "(rows: validation images; columns: configurations)",
            )
        )
    return made


def _header(paper: Paper, measured: list[TableResult]) -> list[str]:
    missing = sum(m.missing_runs or 0 for m in measured)
    expected = sum(m.expected_runs or 0 for m in measured)
    empty = sum(m.empty_rows for m in measured)
    rows = sum(len(m.rows) for m in measured)
    grid_part = (
        f"{missing} of {expected} runs the grids ask for have no finished record; "
        if expected
        else ""
    )
    lines = [
        f"Published numbers: {paper.citation}. Measured numbers: this harness.",
        f"Missing overall: {grid_part}{empty} of {rows} rows show '{render.MISSING}'.",
        "Significance: " + render.SIGNIFICANCE_NOTE + ".",
    ]
    if any(m.synthetic for m in measured):
        lines.insert(0, render.synthetic_banner(measured[0]))
    return lines


def _markdown(paper: Paper, measured: list[TableResult], figures: dict) -> str:
    parts = [f"# {paper.title}: the paper's tables, re-measured", ""]
    parts += [f"{line}\n" for line in _header(paper, measured)]
    for result in measured:
        parts.append(render.table_markdown(result, paper.macs))
        parts += [
            f"![{alt}]({p.parent.name}/{p.name})\n" for p, alt in figures.get(result.table.id, [])
        ]
    if figures.get(""):
        parts.append("## Across the tables\n")
        parts += [f"![{alt}]({p.parent.name}/{p.name})\n" for p, alt in figures[""]]
    return "\n".join(parts)


def _html(paper: Paper, measured: list[TableResult], figures: dict) -> str:
    body = [f"<h1>{html.escape(paper.title)}: the paper's tables, re-measured</h1>"]
    for line in _header(paper, measured):
        cls = ' class="synthetic"' if line.startswith("SYNTHETIC") else ""
        body.append(f"<p{cls}>{webpage.inline_markdown(line)}</p>")
    for result in measured:
        body.append(webpage.table_html(result, paper.macs))
        body += [webpage.html_figure(p, alt) for p, alt in figures.get(result.table.id, [])]
    if figures.get(""):
        body.append("<h2>Across the tables</h2>")
        body += [webpage.html_figure(p, alt) for p, alt in figures[""]]
    return webpage.html_page(paper.title, body)
