"""Every paper layout rendered from a golden results folder: measured cells, published column, a
missing cell, the significance marker, and every output format."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import registry
from bench.grid import load_grid
from bench.report import render
from bench.report.document import Source, grid_sources, measure_tables, write_paper_report
from bench.report.layouts import baseline_of
from bench.report.metrics import METRICS
from bench.report.papers import PaperTable, Row, load_paper, paper_names
from bench.report.stats import welch_p
from tests.conftest import golden_record, record_for, write_golden

SEEDS = (0, 1)
TABLES = [(key, t.id) for key in paper_names() for t in load_paper(key).tables]


def measurable(row: Row) -> bool:
    attention = row.select.get("attention", "none")
    return (
        row.select["backbone"] in registry.BACKBONES.names()
        and attention in registry.ATTENTIONS.names()
    )


def top1(index: int, seed: int) -> float:
    """Accuracy of row ``index``, seed ``seed``: seeds one point apart, rows two points apart."""
    return 50.0 + 2 * index + seed


def row_records(study: str, table: PaperTable, row: Row, index: int) -> list[dict[str, Any]]:
    sel = row.select
    attention = sel.get("attention", "none")
    placement = sel.get("placement") or (
        registry.default_placement(attention) if attention != "none" else None
    )
    records = []
    for seed in SEEDS:
        acc = top1(index, seed)
        extra = {
            "final": {"train_top1_pct": acc + 10, "train_loss": 0.5, "val_loss": 1.5},
            "gmacs_paper": 0.1 + index / 100,
            "best_epoch": {"epoch": 2, "val_top1_pct": acc + 1},
            "sfd": {"mean": acc / 100, "pointing_hit_rate": 0.5},
            "curves": [
                {"epoch": e, "train_top1_pct": acc - 5 + e, "val_top1_pct": acc - 6 + e}
                for e in (1, 2)
            ],
        }
        records.append(
            golden_record(
                study,
                attention,
                seed,
                acc,
                backbone=sel["backbone"],
                placement=placement,
                stages=tuple(sel["stages"]) if "stages" in sel else None,
                hparams=sel.get("hparams"),
                dataset=sel.get("dataset", table.dataset or "shapes"),
                image_size=sel.get("image_size"),
                train=sel.get("train"),
                params_m=1.0 + index,
                extra=extra,
            )
        )
    return records


ALIASES: dict[
    tuple[str, str], int
] = {}  # (table, row label) -> index of the row whose runs it shares


def golden_for(study: str, table: PaperTable) -> tuple[list[dict[str, Any]], Row | None]:
    """Records for every measurable row but one (the last measurable non-baseline row).

    Two printed rows may be the same configuration (BAM Table 1a: d = 4 and r = 16); they share
    runs, so the second row expects the first row's numbers.
    """
    candidates = [r for r in table.rows if measurable(r) and not r.baseline]
    left_out = candidates[-1] if candidates else None
    records, owner = [], {}
    for index, row in enumerate(table.rows):
        if measurable(row) and row is not left_out:
            mine = row_records(study, table, row, index)
            first = owner.setdefault(mine[0]["run_id"], index)
            ALIASES[(f"{table.paper}-{table.id}", row.label)] = first
            if first == index:
                records += mine
    return records, left_out


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> tuple[Path, dict]:
    """One study per (paper, table) in one results folder; returns the folder and left-out rows."""
    results = tmp_path_factory.mktemp("golden") / "results"
    left_out = {}
    for key, tid in TABLES:
        table = load_paper(key).table(tid)
        records, left_out[(key, tid)] = golden_for(f"g-{key}-{tid}", table)
        write_golden(results, records)
    return results, left_out


def measured(results: Path, key: str, tid: str):
    table = load_paper(key).table(tid)
    [result], _ = measure_tables(results, [table], [Source(f"g-{key}-{tid}", key)])
    return table, result


def cell_column(table: PaperTable, row: Row, metric: str) -> tuple[str, str]:
    """The display column of ``metric`` for ``row`` and its published twin."""
    header = METRICS[metric].header
    if table.style == "paired":
        header += " baseline" if row.baseline else " attention"
    return header, f"{header} paper"


def display_line(frame, table: PaperTable, row: Row):
    name = row.group if table.style == "paired" and row.group else row.label
    return frame[frame["model"] == name].iloc[0]


def expected_cell(table: PaperTable, row: Row, metric: str) -> str:
    index = ALIASES[(f"{table.paper}-{table.id}", row.label)]
    m = METRICS[metric]
    values = {
        "top1_acc": [top1(index, s) for s in SEEDS],
        "top1_err": [100 - top1(index, s) for s in SEEDS],
        "best_top1_err": [100 - top1(index, s) - 1 for s in SEEDS],
        "top5_acc": [min(100.0, top1(index, s) + 20) for s in SEEDS],
        "top5_err": [100 - min(100.0, top1(index, s) + 20) for s in SEEDS],
        "train_top1_acc": [top1(index, s) + 10 for s in SEEDS],
        "train_loss": [0.5, 0.5],
        "val_loss": [1.5, 1.5],
        "sfd": [top1(index, s) / 100 for s in SEEDS],
        "pointing": [0.5, 0.5],
        "params_m": [1.0 + index],
        "gmacs": [0.1 + index / 100],
        "mmacs": [(0.1 + index / 100) * 1000],
    }[metric]
    mean = sum(values) / len(values)
    if not m.per_seed:
        return f"{mean:.{m.digits}f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return render.mean_std(mean, std, m.digits)


@pytest.mark.parametrize(("key", "tid"), TABLES, ids=[f"{k}-{t}" for k, t in TABLES])
def test_layout_cells(golden, key, tid):
    results, left_out = golden
    table, result = measured(results, key, tid)
    frame = render.display_frame(result)
    text = render.table_markdown(result, load_paper(key).macs)
    assert table.title in text and "Welch" in text
    measured_rows = [r for r in table.rows if measurable(r) and r != left_out[(key, tid)]]
    assert measured_rows, "every layout has at least one row the registry can build"
    for row in measured_rows:
        line = display_line(frame, table, row)
        for metric in table.metrics:
            column, paper_column = cell_column(table, row, metric)
            assert line[column].startswith(expected_cell(table, row, metric)), (row.label, metric)
            published = row.published.get(metric)
            want = "—" if published is None else f"{published:.{METRICS[metric].digits}f}"
            assert line[paper_column] == want
    # the left-out row and rows the registry cannot build show the missing mark
    for row in table.rows:
        if row == left_out[(key, tid)] or not measurable(row):
            line = display_line(frame, table, row)
            column, _ = cell_column(table, row, table.metrics[0])
            assert line[column] == "—"
    assert result.empty_rows == sum(1 for r in table.rows if r not in measured_rows)
    assert f"{result.empty_rows} of {len(table.rows)} rows" in text


def test_published_column_and_delta_se_table10(golden):
    results, _ = golden
    _, result = measured(results, "se", "table10")
    frame = render.display_frame(result)
    r2 = frame[frame["model"] == "r = 2"].iloc[0]
    assert r2["top-1 err. (%) paper"] == "22.29" and r2["params (M) paper"] == "45.700"
    # rows 0 (baseline) and 1 differ by 2 points with seed spread 1: delta shown, not significant
    assert r2["top-1 err. (%)"] == "47.50 ± 0.71 (-2.00)"
    assert math.isclose(result.rows[1].cells["top1_err"].delta, -2.0)


def test_significance_marker(tmp_path):
    """A 10-point gap over tight seeds is flagged; the baseline row never is."""
    table = load_paper("se").table("table10")
    records = []
    for seed, noise in zip(range(3), (0.0, 0.1, -0.1), strict=True):
        records.append(
            golden_record(
                "sig", "none", seed, 60.0 + noise, backbone="resnet50_v1", dataset="imagenet"
            )
        )
        records.append(
            golden_record(
                "sig",
                "se",
                seed,
                70.0 + noise,
                backbone="resnet50_v1",
                dataset="imagenet",
                hparams={"bias": False, "reduction": 16},
            )
        )
    write_golden(tmp_path, records)
    [result], _ = measure_tables(tmp_path, [table], [Source("sig", "se")])
    frame = render.display_frame(result)
    r16 = frame[frame["model"] == "r = 16"].iloc[0]["top-1 err. (%)"]
    # seed-matched differences all -10: the paired interval is the point, Holm keeps it
    assert r16.endswith("*") and "(-10.00 [-10.00, -10.00])" in r16
    assert not frame.iloc[0]["top-1 err. (%)"].endswith("*")
    assert "Resolution (top-1 err. (%)): pooled seed std 0.10" in render.table_markdown(result)
    assert "Planned for" not in render.table_markdown(result)  # no grid states a target
    grid = tmp_path / "sig.toml"
    grid.write_text(
        '[study]\nname = "sig"\ntarget_mde = 0.05\n[data]\nname = "shapes"\n'
        '[[grid]]\nbackbone = "resnet20"\nattention = "none"\n'
    )
    [planned], _ = measure_tables(tmp_path, [table], [Source("sig", "se", grid=grid)])
    assert planned.target_mde == 0.05
    assert "Planned for 0.05 points ([study] target_mde): reached (paired MDE 0.00)" in (
        render.table_markdown(planned)
    )
    assert welch_p([70, 70.1, 69.9], [60, 60.1, 59.9]) < 1e-4
    assert math.isnan(welch_p([70], [60, 61]))


def test_baselines_by_group():
    table = load_paper("cbam").table("table4")
    r101_se = next(r for r in table.rows if r.label == "ResNet101 + SE")
    assert baseline_of(table, r101_se).label == "ResNet101"
    bam = load_paper("bam").table("table1a")
    d1 = next(r for r in bam.rows if r.label == "d = 1")
    assert baseline_of(bam, d1).label == "Base (ResNet50)"  # group-less baseline serves all groups


def test_stand_in_maps_smoke_runs_to_paper_rows(tmp_path):
    """A smoke twin runs resnet20 on shapes for resnet50_v1 on imagenet; the report joins them."""
    records = [golden_record("smoke", "none", s, 60.0 + s) for s in SEEDS]
    records += [
        golden_record("smoke", "se", s, 65.0 + s, hparams={"bias": False, "reduction": 2})
        for s in SEEDS
    ]
    write_golden(tmp_path, records)
    table = load_paper("se").table("table10")
    source = Source(
        "smoke",
        "se",
        "table10",
        (("imagenet", "shapes"), ("resnet50_v1", "resnet20")),
        synthetic=True,
    )
    [result], _ = measure_tables(tmp_path, [table], [source])
    assert result.synthetic and result.stand_in == {"resnet50_v1": "resnet20", "imagenet": "shapes"}
    frame = render.display_frame(result)
    assert frame[frame["model"] == "r = 2"].iloc[0]["top-1 err. (%)"].startswith("34.50 ± 0.71")
    text = render.table_markdown(result)
    assert "SYNTHETIC DATA" in text and "resnet20 for resnet50_v1" in text


@pytest.mark.parametrize("fmt", render.FORMATS)
def test_every_format(golden, tmp_path, fmt):
    results, _ = golden
    studies = ["g-seed000-table5"]
    written = write_paper_report(results, tmp_path, "seed000", fmt, studies=studies)
    text = written[0].read_text()
    assert "75.85" in text
    if fmt == "json":
        doc = json.loads(text)
        cell = doc["tables"][0]["cells"][0]
        assert cell["row"] == "ResNet50" and cell["n"] == 2 and cell["published"] == 87.85
        assert doc["tables"][0]["significance_test"].startswith("paired_t_holm")
    if fmt == "latex":
        assert r"\toprule" in text and r"$\pm$" in text
    if fmt in ("md", "html"):
        pngs = [p for p in written if p.suffix == ".png"]
        assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    if fmt == "html":
        assert "data:image/png;base64," in text and "<table>" in text


SMOKE_SOURCES = [s for s in grid_sources() if s.paper and s.synthetic]


@pytest.mark.parametrize("source", SMOKE_SOURCES, ids=[s.study for s in SMOKE_SOURCES])
def test_every_smoke_run_lands_in_a_row_of_its_table(tmp_path, source):
    """A smoke cell whose stand-ins do not map it onto a row (wrong dataset key, a backbone left
    out of ``stand_in``) would train for nothing and leave its row empty."""
    grid = load_grid(source.grid)
    write_golden(tmp_path, [record_for(spec, 50.0) for spec in grid.specs])
    table = load_paper(source.paper).table(source.table)
    [result], _ = measure_tables(tmp_path, [table], [source])
    landed = {run_id for row in result.rows for run_id in row.run_ids}
    stray = [spec.label for spec in grid.specs if spec.run_id not in landed]
    assert not stray, f"{source.grid.name}: runs no row of {table.id} selects: {stray}"


def test_every_grid_names_a_known_table_and_has_a_smoke_twin():
    sources = [s for s in grid_sources() if s.paper]
    assert sources, "the bundled grids reproduce paper tables"
    for source in sources:
        load_paper(source.paper).table(source.table)  # raises on an unknown paper or table
        if source.synthetic:
            assert source.grid.stem.endswith("-smoke") and source.stand_in
        else:
            # a real-data CPU twin (re-fashion-cpu) shares the smoke twin of its GPU grid
            twin = f"{source.grid.stem.removesuffix('-cpu')}-smoke.toml"
            assert source.grid.with_name(twin).is_file(), twin
    covered = {(s.paper, s.table) for s in sources}
    assert covered == set(TABLES) - {("triplet", "imagenet")}  # every layout has a grid
