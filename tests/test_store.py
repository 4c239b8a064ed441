"""The store: atomic writes, finished-run detection, the DataFrame view."""

from __future__ import annotations

import json
import os

import pytest

from bench.store import is_finished, read_records, record_path, records_frame, write_record
from tests.conftest import golden_record, write_golden


def test_atomic_write_leaves_no_temp_file_and_replaces(tmp_path):
    path = tmp_path / "s" / "abc.json"
    write_record(path, {"run_id": "abc", "status": "running"})
    write_record(path, {"run_id": "abc", "status": "done"})
    assert json.loads(path.read_text())["status"] == "done"
    assert os.listdir(path.parent) == ["abc.json"]


def test_failed_write_keeps_previous_record(tmp_path):
    path = tmp_path / "s" / "abc.json"
    write_record(path, {"run_id": "abc", "status": "done"})
    with pytest.raises(TypeError):
        write_record(path, {"run_id": "abc", "bad": object()})
    assert json.loads(path.read_text())["status"] == "done"
    assert os.listdir(path.parent) == ["abc.json"]


def test_finished_statuses(tmp_path):
    for status, finished in (("done", True), ("diverged", True), ("failed", False)):
        record = golden_record("s", "none", 0, 50.0, status=status)
        path = record_path(tmp_path, "s", record["run_id"])
        write_record(path, record)
        assert is_finished(path) is finished


def test_frame_flattens_measurements(tmp_path):
    write_golden(tmp_path, [golden_record("s", "se", seed, 60.0 + seed) for seed in range(3)])
    frame = records_frame(read_records(tmp_path, "s"))
    assert len(frame) == 3
    assert sorted(frame["final_val_top1_pct"]) == [60.0, 61.0, 62.0]
    assert set(frame["params_total_m"]) == {0.27}
    assert frame["config_id"].nunique() == 1
