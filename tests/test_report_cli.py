"""`bench report --paper` as a user runs it (subprocess), on golden records."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.report.write import write_reports
from tests.conftest import golden_record, run_cli, write_golden


def test_report_paper_table_from_cli(tmp_path):
    records = [
        golden_record(
            "mine",
            attention,
            seed,
            acc + seed,
            backbone="resnet50_v1",
            dataset="imagenet",
            hparams={"bias": False, "reduction": r},
        )
        for seed in (0, 1)
        for attention, r, acc in (("none", None, 60.0), ("se", 2, 70.0))
    ]
    write_golden(tmp_path / "results", records)
    done = run_cli(
        "report",
        "--paper",
        "se",
        "--table",
        "table10",
        "--study",
        "mine",
        "--format",
        "md",
        "--results",
        "results",
        "--reports",
        "reports",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "reports" / "mine.md").read_text()
    assert "Table 10: reduction ratio r" in text
    assert "29.50 ± 0.71 (-10.00)*" in text  # error = 100 - accuracy, Welch-flagged
    assert "4 of 6 rows have no finished run" in text


def test_report_rejects_unknown_paper(tmp_path):
    write_golden(tmp_path / "results", [golden_record("mine", "none", 0, 50.0)])
    with pytest.raises(BenchError, match="did you mean 'se'"):
        write_reports(tmp_path / "results", tmp_path / "reports", paper="sse", study="mine")
