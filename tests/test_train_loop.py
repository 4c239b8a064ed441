"""The training loop: resume from a checkpoint bit-identically, divergence, the file-split path."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.data import load_dataset
from bench.execute.common import finish_run
from bench.spec import DataSpec, RunSpec, TrainSpec
from bench.store import read_record, record_path
from bench.train import best_epoch, make_optimizer, train_model
from tests.fake_data import tiny_dataset, write_image_folder

CPU = torch.device("cpu")


def _spec(**train) -> RunSpec:
    recipe = {"epochs": 2, "batch_size": 16, "lr": 0.05, "checkpoint_every": 1} | train
    return RunSpec("t", "resnet20", data=DataSpec("shapes"), train=TrainSpec(**recipe))


class Killed(BaseException):
    """The process killed right after an epoch (not an ``Exception``: no failed record)."""


def _kill_after(epoch_to_kill: int):
    def on_epoch(epoch, row):
        if epoch == epoch_to_kill:
            raise Killed

    return on_epoch


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])  # the moving average is checkpointed too
def test_resume_is_bit_identical(tmp_path, ema_decay):
    spec, data = _spec(ema_decay=ema_decay), tiny_dataset()
    straight = train_model(spec, data, CPU)
    ckpt = tmp_path / "ckpt" / f"{spec.run_id}.pt"
    with pytest.raises(Killed):
        train_model(spec, data, CPU, on_epoch=_kill_after(1), checkpoint=ckpt)
    assert ckpt.is_file()
    resumed = train_model(spec, data, CPU, checkpoint=ckpt)
    assert resumed.resumed_from_epoch == 1 and straight.resumed_from_epoch == 0
    assert not ckpt.exists()  # deleted when the run ends
    for a, b in zip(
        straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(straight.curves) == drop(resumed.curves)


def test_executor_resumes_an_interrupted_run(tmp_path, monkeypatch):
    import bench.run

    monkeypatch.setattr(bench.run, "load_dataset", lambda spec: tiny_dataset())
    spec, results = _spec(), tmp_path / "results"
    with pytest.raises(Killed):
        finish_run(spec, results, CPU, on_epoch=_kill_after(1))
    assert read_record(record_path(results, "t", spec.run_id)) is None
    assert (results / "t" / "ckpt" / f"{spec.run_id}.pt").is_file()
    record = finish_run(spec, results, CPU)
    assert record["status"] == "done" and record["resumed_from_epoch"] == 1
    assert [row["epoch"] for row in record["curves"]] == [1, 2]


def test_checkpoint_of_another_run_is_refused(tmp_path):
    spec, data = _spec(), tiny_dataset()
    ckpt = tmp_path / "x.pt"
    with pytest.raises(Killed):
        train_model(spec, data, CPU, on_epoch=_kill_after(1), checkpoint=ckpt)
    with pytest.raises(ValueError, match="belongs to run"):
        train_model(_spec(lr=0.01), data, CPU, checkpoint=ckpt)


def test_divergence_stops_the_run_and_the_grid_goes_on(tmp_path, monkeypatch):
    import bench.run

    monkeypatch.setattr(bench.run, "load_dataset", lambda spec: tiny_dataset())
    bad, good = _spec(lr=1e30, epochs=2, schedule="constant"), _spec(epochs=1)
    results = tmp_path / "results"
    assert finish_run(bad, results, CPU)["status"] == "diverged"
    assert finish_run(good, results, CPU)["status"] == "done"
    record = read_record(record_path(results, "t", bad.run_id))
    assert "epoch 1" in record["error"] and record["curves"] == []
    assert not any((results / "t" / "ckpt").glob("*.pt"))


def test_curves_and_best_epoch():
    result = train_model(_spec(epochs=2, checkpoint_every=0), tiny_dataset(), CPU)
    assert [row["epoch"] for row in result.curves] == [1, 2]
    for key in (
        "train_loss",
        "train_top1_pct",
        "val_loss",
        "val_top1_pct",
        "val_top5_pct",
        "lr",
        "seconds",
    ):
        assert key in result.curves[0]
    assert result.determinism == {"device": "cpu", "repeatable": True, "nondeterministic_ops": []}
    best = best_epoch(result.curves)
    assert best is not None and best["epoch"] in (1, 2) and "not the reported" in best["note"]


def test_file_split_training_path(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_WORKERS", "0")
    write_image_folder(tmp_path, classes=2, per_class=4)
    data = load_dataset(DataSpec("imagefolder", root=str(tmp_path), image_size=16))
    result = train_model(_spec(epochs=1, batch_size=4, checkpoint_every=0), data, CPU)
    assert result.status == "done" and 0 <= result.curves[0]["val_top1_pct"] <= 100


@pytest.mark.parametrize(
    ("train", "cls", "extra"),
    [
        (
            TrainSpec(optimizer="sgd", nesterov=True),
            torch.optim.SGD,
            {"nesterov": True, "momentum": 0.9},
        ),
        (TrainSpec(optimizer="sgd", momentum=0.0), torch.optim.SGD, {"nesterov": False}),
        (TrainSpec(optimizer="adam", lr=1e-3), torch.optim.Adam, {"betas": (0.9, 0.999)}),
        (
            TrainSpec(optimizer="adamw", weight_decay=0.05),
            torch.optim.AdamW,
            {"weight_decay": 0.05},
        ),
    ],
)
def test_optimizers(train, cls, extra):
    opt = make_optimizer(torch.nn.Linear(2, 2), train)
    assert type(opt) is cls
    for key, value in extra.items():
        assert opt.param_groups[0][key] == value


def test_lr_follows_schedule_per_step():
    spec = dataclasses.replace(
        _spec(), train=TrainSpec(epochs=2, batch_size=16, schedule="cosine", lr=0.1)
    )
    result = train_model(spec, tiny_dataset(), CPU)  # 4 steps per epoch
    assert result.curves[0]["lr"] == pytest.approx(0.1)
    assert result.curves[1]["lr"] == pytest.approx(0.05)  # cos at epoch 1 of 2
