"""Tables count each run exactly once and say what they left out; reads never move a file."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

from bench.cli import main
from bench.execute.common import plan
from bench.execute.summary import accuracy_table
from bench.grid import load_grid
from bench.report.tables import summary_table
from bench.spec import SCHEMA_VERSION
from bench.store import read_records, record_path, records_frame, write_record
from tests.conftest import golden_record, write_golden

GOLDEN = [golden_record("g", "none", seed, 60.0 + seed) for seed in (0, 1)]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    write_golden(tmp_path / "r", GOLDEN)
    return tmp_path / "r"


def report_rows(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> pd.DataFrame:
    """``bench report --format csv`` of study g: exit 0, no traceback, the table's rows."""
    argv = ["report", "--study", "g", "--format", "csv", "--results", str(results)]
    code = main([*argv, "--reports", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err
    return pd.read_csv(tmp_path / "reports" / "g.csv")


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_copied_record_counts_once_and_is_named(results, tmp_path, capsys):
    original = record_path(results, "g", GOLDEN[0]["run_id"])
    shutil.copy(original, original.with_name("0123456789ab.json"))
    [row] = report_rows(results, tmp_path, capsys).itertuples()
    assert row.n == 2 and row.val_top1_pct_mean == 60.5
    capsys.readouterr()
    read_records(results, "g")  # named once per process, not once per read
    assert capsys.readouterr().err == ""


def test_the_copy_is_named(results, capsys):
    original = record_path(results, "g", GOLDEN[0]["run_id"])
    shutil.copy(original, original.with_name("0123456789ab.json"))
    assert len(read_records(results, "g")) == 2
    err = capsys.readouterr().err
    assert "0123456789ab.json is a second copy" in err and len(err.strip().splitlines()) == 1


DAMAGE: dict[str, dict[str, Any]] = {
    "done without final": {"final": {}},
    "string top-1": {"final": {"val_top1_pct": "61.0"}},
    "string params": {"params": {"total_m": "many"}},
    "bool gmacs": {"gmacs": True},
    "empty label": {"label": ""},
    "label a number": {"label": 3},
    "environment a list": {"environment": ["cpu"]},
    "unknown status": {"status": "finished"},
    "run id missing": {"run_id": None},
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_record_is_skipped_counted_and_named(results, tmp_path, capsys, case):
    damaged = golden_record("g", "none", 2, 99.0)
    damaged.update(DAMAGE[case])
    path = results / "g" / "abcdef012345.json"
    path.write_text(json.dumps(damaged))
    [row] = report_rows(results, tmp_path, capsys).itertuples()
    assert (row.n, row.val_top1_pct_mean) == (2, 60.5)
    if isinstance(damaged.get("run_id"), str) and case != "label a number":
        assert row.not_done == 1  # counted, beside its configuration's seeds


@pytest.mark.parametrize(
    "spec_damage", [{}, {"seed": "0"}, {"stages": "2"}, {"data": {}}, {"train": {"epochs": "3"}}]
)
def test_a_record_with_a_broken_spec_never_reaches_a_table(results, tmp_path, capsys, spec_damage):
    damaged = golden_record("g", "none", 2, 99.0)
    damaged["spec"] = {} if not spec_damage else damaged["spec"] | spec_damage
    (results / "g" / "abcdef012345.json").write_text(json.dumps(damaged))
    [row] = report_rows(results, tmp_path, capsys).itertuples()
    assert row.n == 2 and row.not_done == 1


def test_a_record_moved_aside_is_counted_by_every_later_report(results, tmp_path, capsys):
    damaged = golden_record("g", "none", 2, 99.0) | {"final": {}}
    path = results / "g" / f"{damaged['run_id']}.json"
    path.with_name(path.name + ".corrupt").write_text(json.dumps(damaged))
    for _ in range(2):
        [row] = report_rows(results, tmp_path, capsys).itertuples()
        assert (row.n, row.not_done) == (2, 1)
    write_record(path, golden_record("g", "none", 2, 62.0))  # recomputed: no longer missing
    [row] = report_rows(results, tmp_path, capsys).itertuples()
    assert (row.n, row.not_done) == (3, 0)


def newer_record() -> dict[str, Any]:
    return golden_record("g", "none", 2, 99.0) | {"schema_version": SCHEMA_VERSION + 1}


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--format", "csv"],
        ["report", "--format", "md"],
        ["check", "--baseline", "{baseline}"],
        ["cam", "--study", "g"],
    ],
)
def test_read_only_commands_never_move_a_file(results, tmp_path, capsys, command):
    write_record(results / "g" / "abcdef012345.json", newer_record())
    (results / "g" / "0123456789ab.json").write_text("{trunc")
    baseline = tmp_path / "base.json"
    baseline.write_text(
        json.dumps({"study": "g", "configs": {"x": {"label": "x", "val_top1_pct": 1}}})
    )
    before = listing(results)
    argv = [a.format(baseline=baseline) for a in command]
    code = main(
        [*argv, "--results", str(results)]
        + (["--reports", str(tmp_path)] if argv[0] != "check" else [])
    )
    err = capsys.readouterr().err
    assert listing(results) == before
    assert "Traceback" not in err and "newer bench" in err and "damaged record" in err
    assert code in (0, 1, 2)


def test_bench_run_leaves_a_newer_record_alone(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        '[study]\nname = "g"\n[data]\nname = "shapes"\ntrain_size = 64\nval_size = 32\n'
        '[train]\nepochs = 1\n[grid]\nbackbone = "resnet20"\nseed = [0]\n'
    )
    [spec] = load_grid(grid).specs
    newer = newer_record() | {"run_id": spec.run_id}
    path = record_path(tmp_path / "r", "g", spec.run_id)
    write_record(path, newer)
    todo = plan(load_grid(grid), tmp_path / "r")
    assert todo.todo == [] and path.exists() and "not recomputed" in capsys.readouterr().err


def test_a_label_with_markup_prints_as_text(results):
    rich = golden_record("g", "none", 3, 61.0) | {"label": "[/bold] not [red]markup"}
    for record in read_records(results, "g"):
        write_record(record_path(results, "g", record["run_id"]), record | {"label": rich["label"]})
    console = Console(file=io.StringIO(), width=200)
    console.print(accuracy_table(results, "g"))
    assert "[/bold] not [red]markup" in console.file.getvalue()


def test_counting_by_content_keeps_distinct_runs(results):
    """Positive control: two seeds are two runs."""
    frame = records_frame(read_records(results, "g"))
    assert summary_table(frame)["n"].tolist() == [2]
