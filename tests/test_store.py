"""The store: atomic writes, finished-run detection, the DataFrame view."""

from __future__ import annotations

import json
import os

import pytest

from bench.spec import SCHEMA_VERSION
from bench.store import (
    is_finished,
    read_record,
    read_records,
    record_path,
    records_frame,
    remove_stale_temp_files,
    write_record,
)
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


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"status": "do', "not JSON"),
        (b"\x00\xff\xfe", "not JSON"),
        (b"42", "a JSON int"),
        (b'"text"', "a JSON str"),
        (b'{"status": "done"}', "missing schema_version, run_id, spec"),
        (
            b'{"schema_version": 1, "run_id": "a", "spec": {}, "status": "failed"}',
            "schema_version 1",
        ),
    ],
)
def test_damaged_record_is_moved_aside_and_counts_as_not_run(tmp_path, capsys, content, problem):
    path = tmp_path / "s" / "abc.json"
    path.parent.mkdir()
    path.write_bytes(content)
    assert read_record(path) is None
    assert not path.exists() and (tmp_path / "s" / "abc.json.corrupt").read_bytes() == content
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1


def test_done_without_final_metrics_is_damaged(tmp_path):
    record = {"schema_version": SCHEMA_VERSION, "run_id": "abc", "spec": {}, "status": "done"}
    path = tmp_path / "abc.json"
    path.write_text(json.dumps(record))
    assert read_record(path) is None and (tmp_path / "abc.json.corrupt").exists()


def test_report_goes_on_past_a_damaged_record(tmp_path):
    write_golden(tmp_path, [golden_record("g", "none", 0, 60.0), golden_record("g", "se", 0, 70.0)])
    (tmp_path / "g" / "0123456789ab.json").write_text("{trunc")
    (tmp_path / "g" / "notes.json").write_text("{trunc")  # not a record name: never read or moved
    before = sorted(p.name for p in (tmp_path / "g").iterdir())
    records = read_records(tmp_path, "g")
    assert len(records) == 2  # read-only: the damaged record is skipped, not moved aside
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == before


def test_stale_temp_files_are_removed(tmp_path):
    stale, fresh = tmp_path / ".abc.x1.tmp", tmp_path / ".abc.x2.tmp"
    stale.write_text("{")
    fresh.write_text("{")
    os.utime(stale, (0, 0))
    assert remove_stale_temp_files(tmp_path) == 1
    assert not stale.exists() and fresh.exists()


def test_results_folder_is_checked_without_creating_it(tmp_path, monkeypatch):
    from collections import namedtuple

    from bench.errors import BenchError
    from bench.store import check_writable

    check_writable(tmp_path / "results" / "study")
    assert not (tmp_path / "results").exists()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(BenchError, match="is a file"):
        check_writable(tmp_path / "a-file" / "study")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("bench.store.shutil.disk_usage", lambda path: usage(10, 9, 2**20))
    with pytest.raises(BenchError, match="1 MiB free"):
        check_writable(tmp_path / "results" / "study")
