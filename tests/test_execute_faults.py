"""Faults: a run that raises, a loss that turns NaN, out-of-memory; the grid goes on and says so."""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

from bench.execute.common import plan
from bench.execute.inline import run_inline
from bench.store import read_record, record_path
from tests import fault_plugins
from tests.execute_helpers import grid_toml, run_bench, tiny_grid

CPU = torch.device("cpu")


@pytest.fixture
def fault_modules():
    """The fault-injection attention modules, registered in this process for one test."""
    with fault_plugins.registered() as modules:
        yield modules


def test_a_raising_run_is_recorded_and_the_grid_goes_on(tmp_path, fault_modules):
    grid = tiny_grid(["fault_raise_epoch2", "none"])
    outcome = run_inline(grid.specs, tmp_path, CPU, Console(quiet=True))
    failed, done = grid.specs
    assert outcome.statuses == {failed.run_id: "failed", done.run_id: "done"}
    record = read_record(record_path(tmp_path, "faults", failed.run_id))
    assert record["error"] == "RuntimeError: injected fault at epoch 2"
    log = record_path(tmp_path, "faults", failed.run_id).with_suffix(".log").read_text()
    assert "Traceback" in log and "fault_plugins.py" in log


def test_a_nan_loss_is_recorded_as_diverged(tmp_path, fault_modules):
    grid = tiny_grid(["fault_nan"], study="nan")  # (an lr of 1e12 is refused by its bound now)
    outcome = run_inline(grid.specs, tmp_path, CPU, Console(quiet=True))
    (spec,) = grid.specs
    assert outcome.statuses == {spec.run_id: "diverged"}
    record = read_record(record_path(tmp_path, "nan", spec.run_id))
    assert "non-finite training loss" in record["error"]
    assert plan(grid, tmp_path, retry_failed=True).todo == []  # diverged is a result, not retried


def test_oom_backoff_halves_the_batch_and_says_so(tmp_path, fault_modules):
    grid = tiny_grid(["fault_oom"], epochs=1, study="oom", oom_backoff=True)
    (spec,) = grid.specs
    outcome = run_inline(grid.specs, tmp_path, CPU, Console(quiet=True))
    assert outcome.statuses == {spec.run_id: "done"}
    record = read_record(record_path(tmp_path, "oom", spec.run_id))
    # filed under the cell the grid asked for, with what actually ran
    assert record["run_id"] == spec.run_id and record["spec"]["train"]["batch_size"] == 32
    assert record["batch_size_used"] == 16 and record["oom_retries"] == 1


def test_oom_without_backoff_fails(tmp_path, fault_modules):
    grid = tiny_grid(["fault_oom"], epochs=1, study="oom")
    (spec,) = grid.specs
    assert (
        spec.run_id
        == tiny_grid(["fault_oom"], epochs=1, study="oom", oom_backoff=True).specs[0].run_id
    )
    outcome = run_inline(grid.specs, tmp_path, CPU, Console(quiet=True))
    assert outcome.statuses == {spec.run_id: "failed"}
    assert "OutOfMemoryError" in outcome.errors[spec.run_id]


def test_cli_failure_summary_exit_1_and_retry_failed(tmp_path):
    (tmp_path / "g.toml").write_text(grid_toml(["none", "fault_raise_epoch2"]))
    first = run_bench("run", "--grid", "g.toml", cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "runs that did not finish" in first.stdout and "injected fault" in first.stdout
    assert "--retry-failed" in first.stdout
    records = sorted((tmp_path / "results" / "faults").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in records}
    again = run_bench("run", "--grid", "g.toml", cwd=tmp_path)  # the failure is not forgotten
    assert again.returncode == 1 and "1 run(s) failed before" in again.stdout
    assert "0 to run" in again.stdout
    retry = run_bench("run", "--grid", "g.toml", "--retry-failed", cwd=tmp_path)
    assert retry.returncode == 1
    assert "1 already finished, skipped; 1 to run" in retry.stdout  # only the failed run
    changed = {p for p in records if p.stat().st_mtime_ns != stamps[p]}
    assert [read_record(p)["status"] for p in changed] == ["failed"]
