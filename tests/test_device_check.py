"""The GPU device check on a CPU: its smoke mode, the budget that skips what no longer fits, the
JSON written after every section, the stop at a sticky device error, the figures it must not get
wrong (graph breaks per row, layer dtypes), and the wheels it needs offline."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    """A script of ``benchmarks/`` as a module (they import each other by bare name)."""
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def check():
    return load("device_check")


@pytest.mark.slow
def test_device_check_smoke_on_cpu(tmp_path, check):
    out = tmp_path / "device.json"
    assert check.main(["--device", "cpu", "--smoke", "--out", str(out), "--budget", "3000"]) == 0
    report = json.loads(out.read_text())
    assert report["skipped"] == {} and report["stopped"] is None
    modules = report["modules"] + report["modules_compiled"]
    assert {m["status"] for m in modules} <= {"ok", "rejected"}, [
        m for m in modules if m["status"] not in ("ok", "rejected")
    ]
    assert [m["compile"] for m in report["modules_compiled"]] == [True]
    assert report["grid"]["run_rc"] == 0 and report["grid"]["report_rc"] == 0
    assert report["grid"]["statuses"] == ["done", "done"]
    records = sorted((tmp_path / "device-records").glob("*.json"))  # section b's, kept
    assert len(records) == 2
    assert report["throughput"]["ratio"] > 0
    assert [row["batch"] for row in report["latency"]] == [1, 4]
    assert [row["k"] for row in report["packing"]] == [1, 2]
    assert all(row["done"] == row["k"] and len(row["epoch_s"]) == row["k"]
               for row in report["packing"])  # fmt: skip


def test_budget_skips_what_no_longer_fits_and_says_so(tmp_path, check):
    out = tmp_path / "deep" / "check.json"  # --out anywhere: its folder is made
    latency_s, packing_s = check.SECTIONS["d"][3], check.SECTIONS["e"][3]
    budget = latency_s + packing_s / 2  # d fits; after it, e cannot
    args = ["--device", "cpu", "--smoke", "--out", str(out), "--sections", "d,e"]
    assert check.main([*args, "--budget", str(budget)]) == 0
    report = json.loads(out.read_text())
    assert [row["batch"] for row in report["latency"]] == [1, 4]
    assert "packing" not in report and report["skipped"]["e"].startswith("budget: needs ~120 s")
    assert check.main([*args, "--budget", "0"]) == 0
    assert set(json.loads(out.read_text())["skipped"]) == {"d", "e"}


def test_a_sticky_device_error_stops_the_check_and_names_the_section(tmp_path, check,
                                                                      monkeypatch):  # fmt: skip
    ran: list[str] = []
    on_disk: list[dict] = []

    def crash(ctx):  # by now the JSON holds the section before
        ran.append("c")
        on_disk.append(json.loads(out.read_text()))
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    out = tmp_path / "check.json"
    monkeypatch.setitem(check.SECTIONS, "d", ("latency", lambda ctx: ran.append("d") or 7, 0, 0))
    monkeypatch.setitem(check.SECTIONS, "c", ("throughput", crash, 0, 0))
    monkeypatch.setitem(check.SECTIONS, "e", ("packing", lambda ctx: ran.append("e"), 0, 0))
    monkeypatch.setattr(check.ds, "device_error", lambda device: "CUDA error: illegal address")
    args = ["--device", "cpu", "--out", str(out), "--sections", "d,c,e"]
    assert check.main(args) == 2
    report = json.loads(out.read_text())
    assert ran == ["d", "c"]  # e never ran on a dead device
    assert on_disk[0]["latency"] == 7 and "throughput" not in on_disk[0]
    assert report["stopped"] == {"section": "c", "error": "CUDA error: illegal address"}


def test_graph_breaks_of_an_earlier_row_are_not_blamed_on_the_next(check):
    import torch._dynamo

    ds = check.ds
    specs, _ = ds.specs_for("resnet20", 32, ["none"], {"batch_size": 2})
    data = ds.random_data(4, 32, 10, torch.device("cpu"))
    torch._dynamo.utils.counters["graph_break"]["left over by an earlier module"] += 3
    row = ds.two_steps(specs[0], data, torch.device("cpu"), compiled=False)
    assert row["status"] == "ok", row["detail"]


def test_layer_dtypes_are_counted_under_autocast(check):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))
    x = torch.randn(2, 3, 6, 6)
    assert check.ds.output_dtypes(model, x, bf16=True) == {
        "layers": {"bfloat16": 2},
        "promoted": [],
    }
    assert check.ds.output_dtypes(model, x, bf16=False)["layers"] == {"float32": 2}


def test_layer_dtypes_catch_an_attention_module_that_promotes(check, monkeypatch):
    from registry.attention.non_local import SelfAttention2d

    module = SelfAttention2d(8)
    monkeypatch.setattr(SelfAttention2d, "forward", lambda self, x: x.float())
    found = check.ds.output_dtypes(nn.Sequential(nn.Conv2d(3, 8, 1), module),
                                   torch.randn(1, 3, 4, 4), bf16=True)  # fmt: skip
    assert found["promoted"] == ["SelfAttention2d: torch.bfloat16 -> torch.float32"]


def test_wheels_must_be_pure_or_cp312():
    wheels = load("device_wheels")
    fits = [
        "fvcore-0.1.5.post20221221-py3-none-any.whl",
        "scikit_learn-1.9.1-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    ]
    unfit = [
        "scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "foo-1.0-cp312-cp312-macosx_11_0_arm64.whl",
        "bar-1.0-py2-none-any.whl",
    ]
    assert [wheels.unfit(Path(n)) for n in fits] == [None, None]
    assert all(wheels.unfit(Path(n)) for n in unfit)


def test_the_wheels_cover_every_import_the_gpu_box_lacks():
    """What ``device_check`` imports, minus the GPU box's packages and their dependencies, is
    covered by ``device_wheels.PACKAGES`` (a new dependency must be added there)."""
    wheels = load("device_wheels")
    needed = wheels.distributions_imported() - wheels.box_closure()
    assert needed, "the box lacks fvcore and grad-cam at least"
    assert needed <= {wheels.normalise(p) for p in wheels.PACKAGES}, needed
