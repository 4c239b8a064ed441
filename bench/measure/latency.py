"""Latency, throughput, training-step time and peak memory, with the conditions that produced them.

GPU: CUDA events around each call after a warm-up, one synchronise before the events are read;
median and interquartile range (IQR) over at least ``MIN_REPEATS`` calls or ``min_seconds`` of
calls, whichever is more. Event time is the GPU's time from the first to the last kernel of a call,
idle gaps included: a small model at a small batch is launch-bound (the host enqueues kernels
slower than the GPU runs them), so the host time per call is recorded beside it, the setting is
flagged ``launch_bound`` when the host takes at least ``LAUNCH_BOUND`` of the event time, and a
launch-bound inference setting is timed again as a CUDA-graph replay (``graph_median_ms``: the
kernels alone). Peak memory (allocated, and reserved by the caching allocator) is counted over the
timed calls only: every setting is warmed up (cuDNN autotuning) and the model's gradients are freed
before the peak is reset.
CPU: ``torch.utils.benchmark.Timer.blocked_autorange`` (its per-block means give median and IQR) at
the current thread count, which is recorded; no peak memory.

A setting whose IQR exceeds ``NOISY_SPREAD`` of its median (a busy machine) is timed again, up to
``REMEASURES`` times; the steadiest attempt is kept, flagged ``noisy`` if it still is, and a noisy
latency is never reused for another run of the same architecture.

Inference runs in eval mode under ``torch.inference_mode``; the training step (forward, backward,
SGD step at the bulk batch) runs on a copy, so the measured model is left untouched. Precision and
memory format follow the run's recipe (bf16 autocast by default on CUDA only; channels_last per
``bench.spec.CHANNELS_LAST_DEFAULT``).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import os
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

MIN_REPEATS = 10
MIN_CPU_SAMPLES = 5
WARMUP_CALLS = 3
BULK_BATCH = {"cuda": 256, "cpu": 32}
BULK_PIXELS = 224 * 224  # the bulk batch shrinks above this image area (256 x 224 px on a GPU)
# runs sharing this process's GPU (set by the process executor's --per-gpu): a latency timed while
# other runs train on the same GPU is keyed and recorded as such, never reused as a clean one
GPU_SHARED_ENV = "BENCH_GPU_SHARED_BY"
LAUNCH_BOUND = 0.8  # host time per call / event time from which a setting is launch-bound
NOISY_SPREAD = 0.2  # IQR / median above this flags a latency as noisy
REMEASURES = 2  # a noisy setting is timed again this many times at most

_CACHE: dict[
    str, tuple[str, dict[str, Any], float | None]
] = {}  # arch key -> (run id, latency, mem)


class DeviceTimer(Protocol):
    """What timing on an asynchronous device needs: events and a barrier (stubbed in tests)."""

    def synchronize(self) -> None: ...

    def event(self) -> Any: ...

    def elapsed_ms(self, start: Any, end: Any) -> float: ...


class CudaTimer:
    """``DeviceTimer`` over CUDA events on ``device``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def event(self) -> torch.cuda.Event:
        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self.device))  # this device's, not the current one
        return event

    def elapsed_ms(self, start: torch.cuda.Event, end: torch.cuda.Event) -> float:
        return float(start.elapsed_time(end))


def gpu_shared_by() -> int:
    """How many runs share this process's GPU (1 unless the process executor packs them)."""
    return int(os.environ.get(GPU_SHARED_ENV, "1"))


def bulk_batch(device_type: str, image_size: int) -> int:
    """The default throughput batch: ``BULK_BATCH``, scaled down for images above ``BULK_PIXELS``
    so that activation memory stays that of 224 px."""
    default = BULK_BATCH.get(device_type, 32)
    return max(1, min(default, default * BULK_PIXELS // image_size**2))


def time_device_calls(
    fn: Callable[[], Any],
    timer: DeviceTimer,
    min_seconds: float,
    host_ms: list[float] | None = None,
) -> list[float]:
    """Milliseconds per call of ``fn``, timed with device events after a synchronised warm-up.

    Events are read only after a final ``synchronize``, so queued kernels are all counted.
    ``host_ms``, if given, receives the host's milliseconds per call (enqueueing, not running).
    """
    for _ in range(WARMUP_CALLS):
        fn()
    timer.synchronize()
    marks: list[tuple[Any, Any]] = []
    elapsed_s = 0.0
    while len(marks) < MIN_REPEATS or elapsed_s < min_seconds:
        start = timer.event()
        begin = time.perf_counter()
        fn()
        if host_ms is not None:
            host_ms.append((time.perf_counter() - begin) * 1e3)
        marks.append((start, timer.event()))
        if len(marks) % MIN_REPEATS == 0:  # check the budget now and then, not every call
            timer.synchronize()
            elapsed_s = sum(timer.elapsed_ms(a, b) for a, b in marks) / 1e3
    timer.synchronize()
    return [timer.elapsed_ms(a, b) for a, b in marks]


def _import_benchmark_quietly() -> None:
    """Import ``torch.utils.benchmark``, whose import probes for a CUDA toolkit through
    ``torch.utils.cpp_extension`` and logs "No CUDA runtime is found" on every CPU-only run: noise
    for a harness that measures on the CPU on purpose. The logger is quieted for the import only."""
    probe = logging.getLogger("torch.utils.cpp_extension")
    level = probe.level
    probe.setLevel(logging.ERROR)
    try:
        import torch.utils.benchmark  # noqa: F401
    finally:
        probe.setLevel(level)


def time_cpu_calls(fn: Callable[[], Any], min_seconds: float) -> list[float]:
    """Milliseconds per call of ``fn`` on the CPU: block means of a blocked autorange.

    The autorange's block-size estimate runs ``fn`` untimed first, which is the warm-up. A slow
    ``fn`` fills few blocks in ``min_seconds``; single timed calls then top the samples up to
    ``MIN_CPU_SAMPLES`` so that the IQR means something.
    """
    _import_benchmark_quietly()
    timer = torch.utils.benchmark.Timer(
        stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads()
    )
    times = [t * 1e3 for t in timer.blocked_autorange(min_run_time=min_seconds).times]
    while len(times) < MIN_CPU_SAMPLES:
        times.append(timer.timeit(number=1).median * 1e3)
    return times


def summarise(times_ms: list[float], batch: int) -> dict[str, Any]:
    """Median and IQR in ms, images per second at the median, number of samples, noisy flag."""
    median = statistics.median(times_ms)
    if len(times_ms) >= 2:
        q1, _, q3 = statistics.quantiles(times_ms, n=4, method="inclusive")
        iqr = q3 - q1
    else:
        iqr = 0.0
    return {
        "median_ms": median,
        "iqr_ms": iqr,
        "images_per_s": batch * 1e3 / median,
        "samples": len(times_ms),
        "noisy": iqr > NOISY_SPREAD * median,
    }


def steadiest(measure: Callable[[], list[float]], batch: int) -> dict[str, Any]:
    """``summarise(measure())``, timed again while noisy (``REMEASURES`` at most); the attempt
    with the smallest IQR / median is kept, with the number of ``attempts``."""
    best, attempts = summarise(measure(), batch), 1
    while best["noisy"] and attempts <= REMEASURES:
        again, attempts = summarise(measure(), batch), attempts + 1
        if again["iqr_ms"] / again["median_ms"] < best["iqr_ms"] / best["median_ms"]:
            best = again
    return best | {"attempts": attempts}


def measure_latency(
    model: nn.Module,
    image_size: int,
    in_chans: int,
    num_classes: int,
    device: torch.device,
    *,
    precision: str = "fp32",
    channels_last: bool = False,
    batch_bulk: int | None = None,
    min_seconds: float = 0.2,
    train_step: bool = True,
    timer: DeviceTimer | None = None,
) -> tuple[dict[str, Any], float | None]:
    """Inference latency at batch 1 and a bulk batch, training-step time, peak memory.

    Args:
        model: the network (its gradients are freed; the training step runs on a copy).
        image_size: input side in px.
        in_chans: input channels.
        num_classes: classifier outputs (for the training step's labels).
        device: where to measure.
        precision: "fp32" or "bf16" (autocast).
        channels_last: memory format of model and inputs.
        batch_bulk: the throughput batch; None = ``bulk_batch`` (256 on CUDA, 32 on CPU, fewer
            above 224 px).
        min_seconds: time spent per setting (at least ``MIN_REPEATS`` calls on a GPU).
        train_step: also time one SGD step at the bulk batch.
        timer: a ``DeviceTimer`` for non-CPU devices (default: CUDA events).

    Returns:
        The record's ``latency`` dict (with ``peak_memory_reserved_mb`` on CUDA) and the peak
        allocated memory in MB (None on CPU).
    """
    cuda = device.type == "cuda"
    bulk = batch_bulk or bulk_batch(device.type, image_size)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    if device.type != "cpu":
        timer = timer or CudaTimer(device)
    model.zero_grad(set_to_none=True)  # the trained model's last gradients: not the step's memory
    args = (image_size, in_chans, num_classes, device, fmt, autocast)
    step = _train_step(model, bulk, *args) if train_step else None
    inputs = {
        key: torch.randn(batch, in_chans, image_size, image_size, device=device).contiguous(
            memory_format=fmt
        )
        for key, batch in (("batch_1", 1), ("batch_bulk", bulk))
    }
    result: dict[str, Any] = {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
        "precision": precision,
        "channels_last": channels_last,
        "threads": torch.get_num_threads(),
        "timer": "cuda_events" if timer is not None else "torch.utils.benchmark.blocked_autorange",
    }
    was_training = model.training
    model.eval()
    try:
        if timer is not None:  # autotune every setting first: the peak counts timed calls only
            _warm_up(model, inputs.values(), step, autocast, timer)
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode(), autocast:
            for key, x in inputs.items():
                forward = functools.partial(model, x)
                result[key] = {"batch": len(x)} | time_setting(forward, timer, min_seconds, len(x))
    finally:
        model.train(was_training)
    result["train_step_ms"] = None
    if step is not None:
        times = time_cpu_calls(step, min_seconds) if timer is None else (
            time_device_calls(step, timer, min_seconds))  # fmt: skip
        result["train_step_ms"] = summarise(times, bulk)["median_ms"]
    if cuda:
        result["peak_memory_reserved_mb"] = torch.cuda.max_memory_reserved(device) / 2**20
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    return result, peak


def _warm_up(
    model: nn.Module,
    inputs: Iterable[torch.Tensor],
    step: Callable[[], None] | None,
    autocast: torch.autocast,
    timer: DeviceTimer,
) -> None:
    with torch.inference_mode(), autocast:
        for x in inputs:
            for _ in range(WARMUP_CALLS):
                model(x)
    if step is not None:
        for _ in range(WARMUP_CALLS):
            step()
    timer.synchronize()


def time_setting(
    fn: Callable[[], Any], timer: DeviceTimer | None, min_seconds: float, batch: int
) -> dict[str, Any]:
    """``steadiest`` timing of ``fn``; on a device also the host time per call, the launch-bound
    flag and, for a launch-bound call on CUDA, the median of its CUDA-graph replay."""
    if timer is None:
        return steadiest(functools.partial(time_cpu_calls, fn, min_seconds), batch)
    host: list[float] = []
    stats = steadiest(functools.partial(time_device_calls, fn, timer, min_seconds, host), batch)
    stats["host_ms_per_call"] = statistics.median(host)
    stats["launch_bound"] = stats["host_ms_per_call"] >= LAUNCH_BOUND * stats["median_ms"]
    if stats["launch_bound"] and isinstance(timer, CudaTimer):
        try:
            replay = graph_replay(fn, timer.device)
            stats["graph_median_ms"] = statistics.median(
                time_device_calls(replay, timer, min_seconds)
            )
        except Exception as err:  # a module that cannot be captured keeps its event time
            stats["graph_error"] = f"{type(err).__name__}: {err}".splitlines()[0]
    return stats


def graph_replay(fn: Callable[[], Any], device: torch.device) -> Callable[[], None]:
    """``fn`` captured once as a CUDA graph (``torch.cuda.graph``); its replay launches every
    kernel of a call at once, so its event time is the kernels' time without launch gaps."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        fn()  # a warm-up on a side stream, as capture requires
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def _train_step(
    model: nn.Module,
    batch: int,
    image_size: int,
    in_chans: int,
    num_classes: int,
    device: torch.device,
    fmt: torch.memory_format,
    autocast: torch.autocast,
) -> Callable[[], None]:
    """One SGD step (forward, loss, backward, update) on a copy of ``model``."""
    clone = copy.deepcopy(model).train()
    optimizer = torch.optim.SGD(clone.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, in_chans, image_size, image_size, device=device).contiguous(
        memory_format=fmt
    )
    y = torch.randint(0, num_classes, (batch,), device=device)

    def step() -> None:
        with autocast:
            loss = nn.functional.cross_entropy(clone(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def architecture_key(arch: dict[str, Any]) -> str:
    """12 hex digits identifying what a latency depends on (architecture + measuring conditions)."""
    text = json.dumps(arch, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_latency(key: str, folder: Path | None = None) -> tuple[str, dict, float | None] | None:
    """A latency already measured for ``key``: in this process, or in a record under ``folder``.

    Returns:
        (run id it was measured in, latency dict, peak memory MB), or None.
    """
    if key in _CACHE:
        return _CACHE[key]
    if folder is None or not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        latency = record.get("latency")
        if record.get("latency_key") == key and isinstance(latency, dict) and not noisy(latency):
            found = (record["latency_measured_in"], record["latency"], record.get("peak_memory_mb"))
            _CACHE[key] = found
            return found
    return None


def remember_latency(key: str, run_id: str, latency: dict[str, Any], peak_mb: float | None) -> None:
    """Keep a measured latency for later runs of the same architecture in this process (a noisy
    one is not kept: the next run measures again)."""
    if not noisy(latency):
        _CACHE[key] = (run_id, latency, peak_mb)


def noisy(latency: dict[str, Any]) -> bool:
    """Whether any inference setting of a stored latency is flagged noisy."""
    return any(
        isinstance(latency.get(k), dict) and latency[k].get("noisy", False)
        for k in ("batch_1", "batch_bulk")
    )
