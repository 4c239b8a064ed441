"""Every run record carries the measurements; latency once per architecture; `bench cam`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import registry
from bench.cli import main
from bench.measure import latency
from bench.run import execute_run
from bench.schedule import lr_factor
from bench.spec import CHANNELS_LAST_DEFAULT, DataSpec, MeasureSpec, RunSpec, TrainSpec
from bench.store import RunFiles, record_path, write_record

MEASURE = MeasureSpec(
    sfd_images=16, cam_images=2, latency_seconds=0.01, latency_batch_bulk=4, bootstrap=100
)


def tiny_spec(seed: int) -> RunSpec:
    return RunSpec(
        "m",
        "resnet20",
        "se",
        "block",
        hparams=tuple(registry.resolve_hparams("se", {"reduction": 16}).items()),
        seed=seed,
        data=DataSpec(train_size=64, val_size=24),
        train=TrainSpec(epochs=1, batch_size=32),
        measure=MEASURE,
    )


def test_records_carry_measurements_and_share_one_latency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    latency._CACHE.clear()
    # a latency timed on a busy machine is flagged noisy and re-timed by the next run; sharing is
    # what is tested here (re-timing a noisy one: tests/test_measure_latency.py)
    monkeypatch.setattr(latency, "noisy", lambda _: False)
    records = []
    for seed in (0, 1):
        spec = tiny_spec(seed)
        files = RunFiles(tmp_path, "m", spec.run_id)
        record = execute_run(spec, torch.device("cpu"), files=files)
        write_record(files.record, record)
        records.append(json.loads(files.record.read_text()))
    first, second = records
    assert first["gmacs_all"] > first["gmacs"] > first["gmacs_paper"] > 0.04
    assert first["flops_unsupported_ops"] == {}
    assert first["latency"]["batch_1"]["median_ms"] > 0
    assert first["latency"]["batch_bulk"]["batch"] == 4
    assert first["peak_memory_mb"] is None  # CPU
    assert first["latency_measured_in"] == first["run_id"]
    assert second["latency_measured_in"] == first["run_id"]  # same architecture: not re-timed
    assert second["latency"] == first["latency"]
    sfd = first["sfd"]
    assert sfd["layer"] == "layer3" and sfd["n"] + sfd["n_degenerate"] == 16
    assert 0 <= sfd["mean"] <= 1 and len(sfd["per_image"]) == 16
    assert first["measure"]["sfd_images"] == 16
    assert "measure" not in first["spec"]  # measuring settings do not enter the run id
    assert set(first["measure_seconds_by_part"]) == {"flops", "latency", "sfd"}
    assert sum(first["measure_seconds_by_part"].values()) <= first["measure_seconds"]
    # the device-dependent recipe defaults, as they resolved on this CPU, and the init
    assert first["execution"] == {
        "precision": "fp32",
        "channels_last": CHANNELS_LAST_DEFAULT["cpu"],
        "zero_init_last": False,
        "label_smoothing": 0.0,
        "ema_decay": 0.0,
        "tta_flip": False,
        "lr_at_end": first["spec"]["train"]["lr"] * lr_factor(spec.train, spec.train.epochs),
    }
    assert first["eval_variants"]["raw"] == first["final"]["val_top1_pct"]
    assert first["cpu_seconds"] > 0

    out = tmp_path / "cam.png"
    assert main(["cam", "--study", "m", "--results", str(tmp_path), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_measure_table_is_read_from_a_grid_and_leaves_the_run_id_alone() -> None:
    from bench.grid import expand_grid

    doc = {
        "study": {"name": "g"},
        "measure": {"sfd_images": 50, "cam_layers": ["layer2"], "latency": False},
        "grid": {"backbone": "resnet20"},
    }
    (spec,) = expand_grid(doc).specs
    assert spec.measure == MeasureSpec(sfd_images=50, cam_layers=("layer2",), latency=False)
    (plain,) = expand_grid({k: v for k, v in doc.items() if k != "measure"}).specs
    assert spec.run_id == plain.run_id
    assert RunSpec.from_dict(spec.canonical()).run_id == spec.run_id


def test_describe_prints_the_three_gmacs(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["describe", "--backbone", "resnet20", "--image-size", "32", "--num-classes", "10"]
    assert main([*args, "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["gmacs_paper"] * 1e9 == 40_813_184
    assert facts["gmacs_all"] > facts["gmacs"] > facts["gmacs_paper"]


def test_a_failing_measurement_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.data import ImageDataset, Split
    from bench.measure import suite

    def broken(*_args: object, **_kwargs: object) -> dict:
        raise RuntimeError("trace failed\nwith detail")

    monkeypatch.setattr(suite, "count_gmacs", broken)
    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    split = Split(images, torch.zeros(2, dtype=torch.long))
    data = ImageDataset("tiny", 2, split, split, (0.5,) * 3, (0.25,) * 3)
    spec = RunSpec("m", "resnet20", measure=MeasureSpec(latency=False, sfd=False))
    model = registry.build_model("resnet20", num_classes=2)
    fields = suite.measure_run(spec, model, data, torch.device("cpu"))
    assert fields["measure_errors"] == {"flops": "RuntimeError: trace failed"}
    assert "gmacs" not in fields and fields["sfd"] == {"skipped": "[measure] sfd = false"}


def test_cam_without_records_is_a_clear_error(tmp_path: Path) -> None:
    from bench.errors import BenchError
    from bench.report.cam import write_cam_figure

    with pytest.raises(BenchError, match="run `bench run` first"):
        write_cam_figure(tmp_path, "nothing", tmp_path / "x.png")
    write_record(record_path(tmp_path, "old", "abc"), {"run_id": "abc", "status": "done",
                 "config_id": "c", "label": "x", "spec": {"seed": 0}})  # fmt: skip
    with pytest.raises(BenchError, match="stored Grad-CAM maps"):
        write_cam_figure(tmp_path, "old", tmp_path / "x.png")


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_recipe_defaults_resolve_per_device_and_explicit_values_win(device: str) -> None:
    auto = TrainSpec()
    assert auto.uses_channels_last(device) is CHANNELS_LAST_DEFAULT[device]
    assert auto.uses_bf16(device) is (device == "cuda")
    for on in (True, False):
        assert TrainSpec(channels_last=on).uses_channels_last(device) is on
    assert TrainSpec(precision="fp32").uses_bf16(device) is False
    assert TrainSpec(precision="bf16").uses_bf16(device) is True
