"""The study report's progress lines: what the runs cost, which runs the grid still lacks."""

from __future__ import annotations

import dataclasses

from bench.grid import load_grid
from bench.report.study import write_report
from bench.store import record_path, write_record
from registry import GRIDS
from tests.conftest import extra_fields, record_for

GRID = GRIDS / "fashion-quick.toml"


def write_runs(results, specs, seconds=90.0, device="AMD EPYC"):
    for spec in specs:
        record = extra_fields(
            {"wall_seconds": seconds, "environment": {"device_name": device}},
            record_for(spec, 75.0 + spec.seed),
        )
        write_record(record_path(results, spec.study, spec.run_id), record)


def test_report_names_the_runs_its_grid_still_asks_for(tmp_path):
    specs = load_grid(GRID).specs
    missing = specs[-1]
    write_runs(tmp_path / "results", specs[:-1])
    (md,) = [
        p
        for p in write_report(tmp_path / "results", tmp_path, "fashion-quick")
        if p.suffix == ".md"
    ]
    text = md.read_text()
    assert f"Missing: 1 of the {len(specs)} runs of `fashion-quick.toml`" in text
    assert f"{missing.label} (seed {missing.seed})" in text
    assert "`bench run --grid fashion-quick` runs only those" in text


def test_report_says_when_the_grid_is_complete_and_what_it_cost(tmp_path):
    specs = load_grid(GRID).specs
    write_runs(tmp_path / "results", specs[:2], seconds=120.0, device="Intel Xeon")
    write_runs(tmp_path / "results", specs[2:], seconds=60.0)
    md = tmp_path / "fashion-quick.md"
    write_report(tmp_path / "results", tmp_path, "fashion-quick")
    text = md.read_text()
    assert f"Complete: every one of the {len(specs)} runs" in text
    assert "Planned for" not in text  # fashion-quick states no target_mde
    minutes = (2 * 120 + (len(specs) - 2) * 60) / 60
    assert f"Cost: {len(specs)} runs took {minutes:.0f} min of wall time" in text
    assert (
        f"AMD EPYC {(len(specs) - 2):.0f} min ({len(specs) - 2} runs), Intel Xeon 4 min (2 runs)"
        in text
    )


def test_a_study_without_a_bundled_grid_has_no_missing_line(tmp_path):
    specs = [dataclasses.replace(spec, study="mine") for spec in load_grid(GRID).specs]
    write_runs(tmp_path / "results", specs)
    write_report(tmp_path / "results", tmp_path, "mine")
    text = (tmp_path / "mine.md").read_text()
    assert "Missing" not in text and "Complete" not in text
    assert f"Cost: {len(specs)} runs" in text


def test_the_html_carries_the_grid_description_as_rendered_markdown(tmp_path):
    write_runs(tmp_path / "results", load_grid(GRID).specs)
    (page, *_) = write_report(tmp_path / "results", tmp_path, "fashion-quick", "html")
    text = page.read_text()
    assert f"<p>{load_grid(GRID).study.description}</p>" in text
    assert "Dataset <code>fashion_mnist</code>" in text and "`" not in text


def test_report_says_whether_the_studys_target_mde_was_reached(tmp_path):
    """fashion-resolve states ``target_mde = 0.3``: steady seeds reach it, noisy ones do not."""
    pairs = [
        s
        for s in load_grid(GRIDS / "fashion-resolve.toml").specs
        if s.attention in ("none", "se") and s.seed < 4
    ]
    for folder, spread in (("steady", 0.01), ("noisy", 1.0)):
        for spec in pairs:  # SE's seed-matched differences: 0.5 + spread x (-1, 0, 1, -1)
            se_offset = 0.5 + spread * (spec.seed % 3 - 1)
            top1 = 90.0 + spread * (spec.seed % 2) + se_offset * (spec.attention == "se")
            write_record(
                record_path(tmp_path / folder, spec.study, spec.run_id), record_for(spec, top1)
            )
        write_report(tmp_path / folder, tmp_path / folder, "fashion-resolve")
    steady = (tmp_path / "steady" / "fashion-resolve.md").read_text()
    noisy = (tmp_path / "noisy" / "fashion-resolve.md").read_text()
    assert "Planned for 0.3 points ([study] target_mde): reached (paired MDE" in steady
    assert (
        "Planned for 0.3 points ([study] target_mde): not reached, the paired test's MDE is"
        in noisy
    )
