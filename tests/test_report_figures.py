"""The study report's figures: numeric order, baseline first, zoomed accuracy axes with the paired
difference, learning curves, a cost plot only when costs differ, a sweep for any one-axis study."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import figures
from bench.report.study import write_report
from bench.report.tables import natural_key, summary_table
from bench.store import read_records, records_frame
from tests.conftest import golden_record, write_golden

REDUCTIONS = (32, 4, 16, 8)  # written out of order on purpose


def _curves(top1: float, seed: int) -> list[dict[str, float]]:
    return [
        {"epoch": e, "val_top1_pct": top1 - 6 / e + seed, "train_loss": 2 / e + 0.1 * seed}
        for e in (1, 2, 3)
    ]


def _sweep_records(params_m: float | None = None) -> list[dict]:
    records = []
    for seed in range(3):
        records.append(golden_record("sw", "none", seed, 80.0 + seed, extra=_extra(80, seed)))
        for r in REDUCTIONS:
            top1 = 81.0 + 8 / r + seed + 0.2 * (seed % 2)
            records.append(
                golden_record(
                    "sw",
                    "se",
                    seed,
                    top1,
                    hparams={"reduction": r},
                    params_m=0.27 if params_m is None else params_m + 0.01 / r,
                    extra=_extra(top1, seed),
                )
            )
    return records


def _extra(top1: float, seed: int) -> dict:
    return {"curves": _curves(top1, seed)}


def _load(tmp_path: Path, records: list[dict]):
    write_golden(tmp_path / "results", records)
    recs = read_records(tmp_path / "results", "sw")
    frame = records_frame(recs)
    return summary_table(frame), frame, recs


@pytest.fixture
def captured(monkeypatch) -> list:
    """The figures ``save_figure`` is handed, kept open for inspection."""
    kept: list = []

    def keep(fig, path):
        kept.append(fig)
        return path

    monkeypatch.setattr(figures, "save_figure", keep)
    return kept


def test_numbers_sort_as_numbers_and_the_baseline_comes_first(tmp_path):
    table, _, _ = _load(tmp_path, _sweep_records())
    assert list(table["label"]) == ["resnet20"] + [
        f"resnet20 + se@block r{r}" for r in (4, 8, 16, 32)
    ]
    assert sorted(["r32", "r4", "r16", "r8"], key=natural_key) == ["r4", "r8", "r16", "r32"]


def test_accuracy_axis_is_zoomed_and_shows_the_paired_interval(tmp_path, captured):
    table, frame, _ = _load(tmp_path, _sweep_records())
    figures.accuracy(table, frame, tmp_path / "a.png")
    left, right = captured[0].axes
    assert left.get_xlim()[0] > 75  # no bar from 0 hiding a one-point difference
    assert left.get_yticklabels()[0].get_text() == "resnet20"
    low, high = right.get_xlim()
    ci_high = table["top1_ci_high"].max()
    assert low <= 0 and high >= ci_high  # the zero line and every interval are in view
    assert "paired" in right.get_xlabel()


def test_learning_curves_one_line_per_configuration(tmp_path, captured):
    table, frame, records = _load(tmp_path, _sweep_records())
    points = figures.curve_points(table, frame, records)
    assert set(points["label"]) == set(table["label"]) and set(points["epoch"]) == {1, 2, 3}
    figures.curves(table, points, tmp_path / "c.png")
    val, loss = captured[0].axes
    assert "val top-1" in val.get_ylabel() and loss.get_ylabel() == "train loss"
    assert len(val.get_lines()) >= len(table)
    assert figures.curves(table, points[points["epoch"] == 1], tmp_path / "d.png") is None


def test_cost_plot_only_when_costs_differ(tmp_path):
    table, _, _ = _load(tmp_path, _sweep_records())
    assert figures.cost_vs_accuracy(table, tmp_path / "same.png") is None
    table, _, _ = _load(tmp_path / "b", _sweep_records(params_m=0.27))
    assert figures.cost_vs_accuracy(table, tmp_path / "differ.png") is not None


def test_a_one_axis_study_gets_a_sweep_in_numeric_order(tmp_path, captured):
    table, frame, _ = _load(tmp_path, _sweep_records())
    axis, values = figures.swept_axis(table)
    assert axis == "reduction" and values[0] is None
    figures.sweep(table, frame, tmp_path / "s.png")
    ax = captured[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "8", "16", "32"]


def test_the_sweep_draws_only_the_modules_it_sweeps(tmp_path, captured):
    records = _sweep_records() + [golden_record("sw", "eca", s, 81.0 + s) for s in range(3)]
    table, frame, _ = _load(tmp_path, records)
    figures.sweep(table, frame, tmp_path / "s.png")
    legend = [t.get_text() for t in captured[0].axes[0].get_legend().get_texts()]
    assert legend == ["baseline (no attention)", "se"]  # eca, at one value, is not a line


def test_placement_sweep_and_no_sweep_across_modules(tmp_path):
    records = [golden_record("sw", "none", 0, 80.0)]
    records += [golden_record("sw", "se", 0, 81.0, placement=p) for p in ("block", "pre", "post")]
    table, _, _ = _load(tmp_path, records)
    assert figures.swept_axis(table)[0] == "placement"
    modules = [golden_record("sw", a, 0, 81.0) for a in ("none", "se", "cbam", "eca")]
    table, _, _ = _load(tmp_path / "m", modules)
    assert figures.swept_axis(table) is None  # three modules once each: nothing is swept


def test_study_report_lists_every_figure(tmp_path):
    write_golden(tmp_path / "results", _sweep_records())
    written = write_report(tmp_path / "results", tmp_path / "reports", "sw", "md")
    names = [p.name for p in written]
    assert names == ["sw.md", "sw_accuracy.png", "sw_curves.png", "sw_sweep.png"]
    text = written[0].read_text()
    assert all(f"]({name})" in text for name in names[1:])


def test_a_study_of_baselines_has_no_difference_panel(tmp_path, captured):
    records = [
        golden_record("sw", "none", seed, 80.0 + seed, train={"epochs": epochs})
        for epochs in (1, 2)
        for seed in range(3)
    ]
    table, frame, _ = _load(tmp_path, records)
    figures.accuracy(table, frame, tmp_path / "a.png")
    assert len(captured[0].axes) == 1  # nothing is compared with a baseline
    table, frame, _ = _load(tmp_path / "m", _sweep_records())
    figures.accuracy(table, frame, tmp_path / "b.png")
    assert len(captured[1].axes) == 2
