"""The GPU device check's CPU smoke mode runs every section and writes its JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "device_check.py"


@pytest.mark.slow
def test_device_check_smoke_on_cpu(tmp_path):
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "device.json"
    assert module.main(["--device", "cpu", "--smoke", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    modules = report["modules"]
    assert {m["status"] for m in modules} <= {"ok", "rejected"}, [
        m for m in modules if m["status"] not in ("ok", "rejected")
    ]
    assert any(m.get("compile") for m in modules)  # the torch.compile path ran
    assert report["grid"]["run_rc"] == 0 and report["grid"]["report_rc"] == 0
    assert report["grid"]["statuses"] == ["done", "done"]
    assert report["throughput"]["ratio"] > 0
    assert [row["batch"] for row in report["latency"]] == [1, 4]
    assert [row["k"] for row in report["packing"]] == [1, 2]
    assert all(row["done"] == row["k"] for row in report["packing"])
