"""The candidate-recipe table of a recipe study (baseline only, every run scored four ways)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.report.recipe import candidate_table, is_recipe_study
from bench.report.stats import minimum_detectable_effect
from bench.report.study import write_report
from bench.store import read_records, records_frame
from tests.conftest import golden_record, write_golden


def _run(seed: int, epochs: int, raw: float, cpu_minutes: float) -> dict:
    variants = {"raw": raw, "raw_flip": raw + 0.4, "ema": raw + 0.1, "ema_flip": raw + 0.5}
    return golden_record(
        "rec",
        "none",
        seed,
        variants["ema_flip"],
        train={"epochs": epochs, "ema_decay": 0.99, "tta_flip": True},
        extra={"eval_variants": variants, "cpu_seconds": 60 * cpu_minutes},
    )


def _records() -> list[dict]:
    short = [_run(s, 1, 88 + d, 3.0) for s, d in enumerate((0.0, 0.6, -0.6, 0.3))]
    long = [_run(s, 2, 90 + d, 6.0) for s, d in enumerate((0.0, 0.1, -0.1, 0.05))]
    return short + long


def test_candidates_rank_by_mde_per_cpu_hour(tmp_path):
    write_golden(tmp_path, _records())
    frame = records_frame(read_records(tmp_path, "rec"))
    assert is_recipe_study(frame)
    table = candidate_table(frame)
    assert len(table) == 8  # two recipes x four evaluations
    best = table.iloc[0]
    # 2 epochs: 6 CPU min a run, so 10 seeds an arm in one CPU-hour, at a std of 0.0866
    assert best["recipe"] == "epochs 2" and best["seeds_per_arm"] == 10
    std = float(np.std([0.0, 0.1, -0.1, 0.05], ddof=1))
    assert best["top1_std"] == pytest.approx(std)
    assert best["mde_points"] == pytest.approx(minimum_detectable_effect(std, 10))
    short = table[table["recipe"] == "epochs 1"].iloc[0]
    assert short["seeds_per_arm"] == 20 and short["mde_points"] > best["mde_points"]
    assert list(table["mde_points"]) == sorted(table["mde_points"])
    assert not table["ranked"].any()  # four seeds a recipe: listed, not ranked


def test_candidates_from_fewer_seeds_come_after_the_ranked(tmp_path):
    eight = [_run(s, 2, 90 + 0.1 * (s % 3), 6.0) for s in range(8)]
    two = [_run(s, 1, 88 + 0.01 * s, 3.0) for s in range(2)]  # a tiny std from two seeds
    write_golden(tmp_path, eight + two)
    table = candidate_table(records_frame(read_records(tmp_path, "rec")))
    assert list(table["ranked"]) == [True] * 4 + [False] * 4
    assert table.iloc[0]["recipe"] == "epochs 2"


def test_the_study_report_shows_the_candidates(tmp_path):
    results = tmp_path / "results"
    write_golden(results, _records())
    text = write_report(results, tmp_path / "reports", "rec")[0].read_text()
    assert "## Candidate recipes" in text and "EMA + flip" in text
    assert "1, 2 epochs" in text
    assert "resnet20 (epochs 1)" in text and "resnet20 (epochs 2)" in text


def test_module_studies_have_no_candidate_table(tmp_path):
    records = [*_records(), golden_record("rec", "se", 0, 90.0)]
    write_golden(tmp_path, records)
    assert not is_recipe_study(records_frame(read_records(tmp_path, "rec")))


def test_grad_cam_columns_name_the_recipe_variant(tmp_path):
    from bench.report.cam import configurations

    cam = {"layers": ["layer3"], "maps": {}, "explained_class": []}
    records = [
        golden_record("rec", "none", 0, 80.0, train={"random_erasing": p}, extra={"cam": cam})
        for p in (0.0, 0.5)
    ]
    write_golden(tmp_path, records)
    labels = [r["label"] for r in configurations(tmp_path, "rec")]
    assert labels == ["resnet20 (random_erasing 0.0)", "resnet20 (random_erasing 0.5)"]
