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


def test_a_cpu_budget_twin_makes_its_own_report(tmp_path):
    """re-fashion (300 epochs) and re-fashion-cpu (8) fill the same rows: pooled, one cell would
    average two recipes and the missing count would mix both grids."""
    from bench.grid import load_grid
    from registry import GRIDS
    from tests.conftest import record_for

    paper_run = load_grid(GRIDS / "re-fashion.toml").specs[0]
    cpu_run = load_grid(GRIDS / "re-fashion-cpu.toml").specs[0]
    assert (paper_run.backbone, cpu_run.backbone) == ("resnet20", "resnet20")
    write_golden(tmp_path / "results", [record_for(paper_run, 95.0), record_for(cpu_run, 90.0)])
    written = write_reports(tmp_path / "results", tmp_path / "reports", paper="random_erasing")
    assert {p.name for p in written if p.suffix == ".md"} == {
        "random_erasing.md",
        "random_erasing-cpu.md",
    }
    paper_doc = (tmp_path / "reports" / "random_erasing.md").read_text()
    cpu_doc = (tmp_path / "reports" / "random_erasing-cpu.md").read_text()
    assert "| ResNet-20       | 5.00 " in paper_doc and "10.00" not in paper_doc
    assert "| ResNet-20       | 10.00 " in cpu_doc and "5.00" not in cpu_doc
    assert (
        "Measured on fashion_mnist, 8 epoch(s)," in cpu_doc
        and "studies: re-fashion-cpu." in cpu_doc
    )
    assert "Measured on fashion_mnist, 300 epoch(s)," in paper_doc
    assert "5 of 6 runs the grids ask for" in cpu_doc
    # a study's own report goes to the same document
    written = write_reports(tmp_path / "results", tmp_path / "again", study="re-fashion-cpu")
    assert [p.name for p in written if p.suffix == ".md"] == ["random_erasing-cpu.md"]
