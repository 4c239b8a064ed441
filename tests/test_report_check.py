"""Report rendering and the accuracy gate, on golden records."""

from __future__ import annotations

import math
import re

import pytest

from bench.check import find_regressions, read_baseline, write_baseline
from bench.errors import BenchError
from bench.report.render import mean_std
from bench.report.stats import minimum_detectable_effect, pooled_std
from bench.report.study import write_report
from bench.report.tables import resolution, summary_table
from bench.store import read_records, records_frame
from tests.conftest import golden_record, write_golden

GOLDEN = [
    golden_record("g", "none", 0, 60.0),
    golden_record("g", "none", 1, 62.0),
    golden_record("g", "se", 0, 70.0, params_m=0.28),
    golden_record("g", "se", 1, 74.0, params_m=0.28),
    golden_record("g", "se", 2, 0.0, status="failed", params_m=0.28),
]


@pytest.fixture
def results(tmp_path):
    write_golden(tmp_path / "results", GOLDEN)
    return tmp_path / "results"


def test_summary_means_and_std(results):
    table = summary_table(records_frame(read_records(results, "g")))
    base, se = table.iloc[0], table.iloc[1]
    assert base["attention"] == "none"  # baseline row first
    assert base["val_top1_pct_mean"] == 61.0 and base["n"] == 2
    assert se["val_top1_pct_mean"] == 72.0
    assert math.isclose(se["val_top1_pct_std"], math.sqrt(8))  # sample std of 70, 74
    assert se["n"] == 2 and se["not_done"] == 1  # the failed seed is counted, not averaged


def test_markdown_report(results, tmp_path):
    md, png, cost = write_report(results, tmp_path / "reports", "g", "md")  # params differ
    text = md.read_text()
    rows = {cells[0]: cells for cells in _table_rows(text)}
    assert rows["resnet20 + se@block r16"][1:4] == ["0.280", "0.0100", "72.00 ± 2.83"]
    assert rows["resnet20"][3] == "61.00 ± 1.41"
    assert rows["resnet20 + se@block r16"][-2:] == ["2", "1"]  # n, not done
    assert "mean ± sample std" in text
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    assert png.name == "g_accuracy.png" and cost.name == "g_cost.png"


def test_mean_std_formatting():
    assert mean_std(float("nan"), float("nan")) == "—"
    assert mean_std(71.234, float("nan")) == "71.23"


def test_gate_passes_and_fails(results, tmp_path):
    baseline = tmp_path / "baseline.json"
    assert write_baseline(results, "g", baseline, tolerance=5.0) == 2
    assert find_regressions(results, read_baseline(baseline), 5.0) == []
    # the SE runs get worse by 10 points: the gate names that configuration only
    write_golden(
        results,
        [
            golden_record("g", "se", 0, 60.0, params_m=0.28),
            golden_record("g", "se", 1, 64.0, params_m=0.28),
        ],
    )
    regressions = find_regressions(results, read_baseline(baseline), 5.0)
    assert [r.label for r in regressions] == ["resnet20 + se@block r16"]
    assert "-10.00 points" in str(regressions[0])


def _table_rows(markdown):
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|--") and not line.startswith("|:"):
            yield [cell.strip() for cell in line.strip("|").split("|")]


def test_tolerance_comes_from_the_pooled_seed_std(results, tmp_path):
    baseline = tmp_path / "baseline.json"
    write_baseline(results, "g", baseline)  # calibrated on its own seeds: 60/62 and 70/74
    detail = read_baseline(baseline)["tolerance"]
    pooled = math.sqrt((2.0 + 8.0) / 2)  # (n_i - 1) s_i^2 summed over dof 2
    assert detail["pooled_seed_std_points"] == round(pooled, 3) and detail["dof"] == 2
    assert detail["n_seeds"] == 2 and detail["k"] == 3.0
    assert read_baseline(baseline)["tolerance_points"] == round(3 * pooled * math.sqrt(2 / 2), 2)


def test_calibration_study_and_no_spread(tmp_path):
    results = tmp_path / "results"
    write_golden(
        results,
        [golden_record("cal", "none", s, 60.0 + s) for s in range(5)]
        + [golden_record("ci", "none", s, 60.0 + s) for s in range(2)],
    )
    baseline = tmp_path / "b.json"
    write_baseline(results, "ci", baseline, calibration="cal", k=2.0)
    detail = read_baseline(baseline)["tolerance"]
    assert detail["calibration_study"] == "cal" and detail["dof"] == 4
    assert math.isclose(detail["points"], round(2 * math.sqrt(2.5), 2))
    write_golden(results, [golden_record("flat", "none", s, 50.0) for s in range(3)])
    with pytest.raises(BenchError, match="no seed spread"):
        write_baseline(results, "flat", baseline)


def test_minimum_detectable_effect_and_pooled_std():
    assert math.isnan(minimum_detectable_effect(1.0, 1))
    # n = 3 per side, df 4: (2.776 + 0.941) x sqrt(2/3) = 3.035 stds
    assert math.isclose(minimum_detectable_effect(1.0, 3), 3.035, abs_tol=1e-3)
    assert minimum_detectable_effect(1.0, 10) < minimum_detectable_effect(1.0, 3)
    assert pooled_std([[1.0], [float("nan"), 2.0]])[1] == 0
    std, dof = pooled_std([[1.0, 3.0], [10.0, 10.0, 13.0]])
    assert dof == 3 and math.isclose(std, math.sqrt((2.0 + 6.0) / 3))


def seeded_records(study: str, top1_by_attention: dict[str, tuple[float, ...]]) -> list[dict]:
    """One golden record per (attention, seed), seeds numbered from 0 in the order given."""
    return [
        golden_record(study, attention, seed, top1)
        for attention, values in top1_by_attention.items()
        for seed, top1 in enumerate(values)
    ]


def test_delta_and_p_need_three_seeds_a_side(tmp_path):
    results = tmp_path / "results"
    write_golden(
        results,
        seeded_records(
            "d", {"none": (60.0, 61.0, 62.0), "se": (70.0, 71.0, 72.0), "cbam": (61.0, 62.0)}
        ),
    )
    frame = records_frame(read_records(results, "d"))
    table = summary_table(frame).set_index("attention")
    assert math.isnan(table.loc["none", "top1_delta"])
    assert table.loc["se", "top1_delta"] == 10.0 and table.loc["se", "top1_p"] < 0.01
    assert table.loc["cbam", "top1_delta"] == 0.5 and math.isnan(table.loc["cbam", "top1_p"])
    found = resolution(frame)
    assert (
        found["n"] == 2
        and found["dof"] == 2 + 2 + 1
        and math.isclose(found["std"], math.sqrt(4.5 / 5))
    )
    assert math.isclose(found["mde"], minimum_detectable_effect(math.sqrt(0.9), 2))
    report = (write_report(results, tmp_path / "reports", "d")[0]).read_text()
    # seed-matched differences all 10: no noise, the interval is the point and p = 0
    assert "+10.00 [+10.00, +10.00]" in report and "0.000 · 0.000 · 0.000" in report
    assert re.search(r"\+0\.50 +\|", report)  # cbam: two seeds, no interval, no test
    assert "pooled std of top-1 0.95 points (5 dof)" in report


def test_a_single_seed_configuration_leaves_the_others_resolvable(tmp_path):
    results = tmp_path / "results"
    write_golden(
        results,
        seeded_records(
            "d", {"none": (60.0, 61.0, 62.0), "se": (70.0, 71.0, 72.0), "cbam": (61.0,)}
        ),
    )
    found = resolution(records_frame(read_records(results, "d")))
    assert found["n"] == 3 and found["single"] == 1 and found["dof"] == 4
    assert math.isclose(found["mde"], minimum_detectable_effect(1.0, 3))
    report = (write_report(results, tmp_path / "reports", "d")[0]).read_text()
    assert "n = 3 seeds per configuration" in report
    assert "Not tested: 1 configuration(s) with one seed only." in report
