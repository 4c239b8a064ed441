"""Latency: events are read only after a synchronise; CPU path fields; once per architecture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bench.measure import latency
from bench.measure.latency import (
    MIN_REPEATS,
    REMEASURES,
    WARMUP_CALLS,
    cached_latency,
    measure_latency,
    remember_latency,
    steadiest,
    summarise,
    time_device_calls,
)


class StubTimer:
    """A device timer whose events are positions in a log; reading one unsynchronised fails."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.synced_upto = -1  # every event before this log position has completed

    def synchronize(self) -> None:
        self.log.append("sync")
        self.synced_upto = len(self.log)

    def event(self) -> int:
        self.log.append("event")
        return len(self.log) - 1

    def elapsed_ms(self, start: int, end: int) -> float:
        assert end < self.synced_upto, "an event was read before the device was synchronised"
        return 2.0 * (end - start)  # one call between the two events


def test_device_timing_warms_up_and_synchronises_before_reading() -> None:
    timer = StubTimer()
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        timer.log.append("call")

    times = time_device_calls(fn, timer, min_seconds=0.0)
    assert len(times) == MIN_REPEATS and len(calls) == WARMUP_CALLS + MIN_REPEATS
    assert timer.log[:WARMUP_CALLS] == ["call"] * WARMUP_CALLS
    assert timer.log[WARMUP_CALLS] == "sync"  # warm-up work finished before the first event
    assert timer.log[-1] == "sync"
    assert times == [4.0] * MIN_REPEATS  # (event, call, event): 2 log steps


def test_device_timing_repeats_until_the_time_budget() -> None:
    timer = StubTimer()
    times = time_device_calls(lambda: timer.log.append("call"), timer, min_seconds=0.1)
    assert sum(times) >= 100.0 and len(times) % MIN_REPEATS == 0


def test_summarise_median_iqr_throughput() -> None:
    stats = summarise([1.0, 2.0, 3.0, 4.0, 100.0], batch=8)
    assert stats["median_ms"] == 3.0
    assert stats["iqr_ms"] == 2.0  # inclusive quartiles 2 and 4: the outlier does not count
    assert stats["images_per_s"] == pytest.approx(8 / 3e-3)
    assert summarise([5.0], batch=1)["iqr_ms"] == 0.0
    assert summarise([2.9, 3.0, 3.0, 3.1], batch=1)["noisy"] is False
    assert summarise([1.0, 3.0, 3.0, 6.0], batch=1)["noisy"] is True


def test_a_noisy_setting_is_timed_again_and_the_steadiest_kept() -> None:
    attempts = iter([[1.0, 3.0, 3.0, 9.0], [2.0, 3.0, 3.0, 5.0], [2.9, 3.0, 3.0, 3.1]])
    kept = steadiest(lambda: next(attempts), batch=1)
    assert kept["attempts"] == 3 and kept["noisy"] is False and kept["iqr_ms"] < 0.2
    always = steadiest(lambda: [1.0, 3.0, 3.0, 9.0], batch=1)
    assert always["attempts"] == 1 + REMEASURES and always["noisy"] is True
    steady = steadiest(lambda: [3.0, 3.0, 3.0, 3.0], batch=1)
    assert steady["attempts"] == 1


def test_a_noisy_latency_is_not_reused(tmp_path) -> None:
    latency._CACHE.clear()
    shaky = {"batch_1": {"median_ms": 3.0, "iqr_ms": 2.0, "noisy": True}, "batch_bulk": {}}
    remember_latency("k1", "run", shaky, None)
    assert cached_latency("k1") is None
    record = {"latency_key": "k2", "latency": shaky, "latency_measured_in": "r"}
    (tmp_path / "abcdefabcdef.json").write_text(json.dumps(record))
    assert cached_latency("k2", tmp_path) is None
    steady = {"batch_1": {"median_ms": 3.0, "iqr_ms": 0.1, "noisy": False}, "batch_bulk": {}}
    remember_latency("k3", "run", steady, None)
    assert cached_latency("k3")[1] == steady


def test_cpu_latency_fields_and_model_left_untouched() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 5))  # fmt: skip
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result, peak = measure_latency(
        model, 8, 3, 5, torch.device("cpu"), batch_bulk=4, min_seconds=0.01
    )
    assert peak is None
    assert result["device"] == "cpu" and result["threads"] == torch.get_num_threads()
    assert result["precision"] == "fp32" and result["channels_last"] is False
    assert result["batch_1"]["batch"] == 1 and result["batch_bulk"]["batch"] == 4
    for key in ("batch_1", "batch_bulk"):
        assert result[key]["median_ms"] > 0 and result[key]["iqr_ms"] >= 0
        assert result[key]["images_per_s"] > 0
    assert result["train_step_ms"] > 0
    assert model.training  # mode restored
    for key, value in model.state_dict().items():  # the training step ran on a copy
        assert torch.equal(value, before[key]), key


def test_latency_is_reused_from_the_process_and_from_a_results_folder(tmp_path: Path) -> None:
    latency._CACHE.clear()
    assert cached_latency("k1", tmp_path) is None
    measured: dict[str, Any] = {"device": "cpu", "batch_1": {"median_ms": 1.0}}
    record = {"latency_key": "k1", "latency": measured, "latency_measured_in": "abc",
              "peak_memory_mb": None}  # fmt: skip
    (tmp_path / "abc.json").write_text(json.dumps(record))
    assert cached_latency("k1", tmp_path) == ("abc", measured, None)
    (tmp_path / "abc.json").unlink()
    assert cached_latency("k1", None) == ("abc", measured, None)  # kept in the process
    latency._CACHE.clear()


def test_cpu_timing_keeps_at_least_five_samples() -> None:
    from bench.measure.latency import MIN_CPU_SAMPLES, time_cpu_calls

    times = time_cpu_calls(lambda: sum(range(100)), min_seconds=0.0)
    assert len(times) >= MIN_CPU_SAMPLES and all(t > 0 for t in times)


def test_device_latency_warms_every_setting_before_timing_and_flags_launch_bound() -> None:
    """Peak memory counts timed calls only: every setting (training step included) is warmed up
    before the first event, and the trained model's gradients are freed; the host time per call
    sits beside the event time, and a call whose host time reaches it is launch-bound."""

    class InstantTimer(StubTimer):  # events 0.001 ms apart: the host is always the bottleneck
        def elapsed_ms(self, start: int, end: int) -> float:
            return super().elapsed_ms(start, end) / 4000

    timer = InstantTimer()
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))
    model.register_forward_hook(lambda *_: timer.log.append("call"))
    model(torch.randn(1, 3, 8, 8)).sum().backward()  # stale gradients of "training"
    timer.log.clear()
    result, _ = measure_latency(
        model, 8, 3, 5, torch.device("cpu"), batch_bulk=4, min_seconds=0.0, timer=timer
    )
    first_sync = timer.log.index("sync")
    # warm-up calls of batch 1, of the bulk batch and of the training step (a copy, hook included),
    # all before the first synchronise and event
    assert timer.log[: first_sync + 1] == ["call"] * (3 * WARMUP_CALLS) + ["sync"]
    assert timer.log.index("event") > first_sync
    assert all(p.grad is None for p in model.parameters())
    for key in ("batch_1", "batch_bulk"):
        assert result[key]["host_ms_per_call"] > 0
        assert result[key]["launch_bound"] is True  # 0.001 ms of events, more of host time
    assert result["train_step_ms"] > 0
