"""Section d of ``device_check.py``: the harness's ``measure_latency`` against timm's
``benchmark.py`` method (warm-up steps, then the mean timed step; CUDA events on a GPU) on the same
ResNet-50, batch, precision and memory format, at batch 1 and the bulk batch (goal: within 5 %).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from device_sections import Context

import registry
from bench.measure.latency import CudaTimer, measure_latency
from bench.spec import TrainSpec
from bench.train import memory_format


def check_latency(ctx: Context) -> list[dict[str, Any]]:
    """Section d: harness latency vs timm's benchmark.py method, batch 1 and bulk."""
    device, smoke = ctx.device, ctx.smoke
    size = 64 if smoke else 224
    model = registry.build_model("resnet50", num_classes=1000).to(device).eval()
    recipe = TrainSpec()  # the harness's defaults for this device
    fmt = memory_format(recipe, device)
    model = model.to(memory_format=fmt)
    precision = recipe.resolved_precision(device.type)
    bulk = 4 if smoke else 256
    harness, _ = measure_latency(
        model,
        size,
        3,
        1000,
        device,
        precision=precision,
        channels_last=recipe.uses_channels_last(device.type),
        batch_bulk=bulk,
        train_step=False,
        min_seconds=0.2 if smoke else 1.0,
    )
    rows = []
    for key, batch in (("batch_1", 1), ("batch_bulk", bulk)):
        timm_ms = _timm_step_ms(model, batch, size, device, fmt, precision, smoke)
        ours = harness[key]["median_ms"]
        rows.append(
            {
                "batch": batch,
                "harness_median_ms": round(ours, 3),
                "timm_mean_ms": round(timm_ms, 3),
                "harness_iqr_ms": round(harness[key]["iqr_ms"], 3),
                "relative_difference": round(ours / timm_ms - 1, 4),
                "goal": 0.05,
            }
        )
    return rows


def _timm_step_ms(
    model, batch: int, size: int, device: torch.device, fmt, precision: str, smoke: bool
) -> float:
    """timm benchmark.py's InferenceBenchmarkRunner: warm-up steps, then the mean timed step."""
    warm, bench_iters = (2, 5) if smoke else (10, 40)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16")
    timer = CudaTimer(device) if device.type == "cuda" else None

    def step() -> float:
        if timer is None:
            start = time.perf_counter()
            with autocast:
                model(x)
            return (time.perf_counter() - start) * 1e3
        begin = timer.event()
        with autocast:
            model(x)
        end = timer.event()
        timer.synchronize()
        return timer.elapsed_ms(begin, end)

    with torch.no_grad():
        for _ in range(warm):
            step()
        return statistics.fmean(step() for _ in range(bench_iters))
