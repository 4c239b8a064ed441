"""channels_last against contiguous for training on this device (pytest-benchmark).

For each model (the CIFAR ResNet-20 and ResNet-56, and the ImageNet-layout ResNet-18 at 32 px), the
harness's training step runs in both memory formats, interleaved round by round so that load drift
hits both alike. ``extra_info`` holds the speed-up of channels_last over contiguous (ratio of the
medians, and the median and min-max of the per-round ratios); the summary prints it. The per-device
default of ``TrainSpec.channels_last`` (``bench.spec.CHANNELS_LAST_DEFAULT``) follows these figures.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from steps import DEVICE, TRAIN, harness_step, interleave, throughput_ratio

ROUNDS, WARMUP = 10, 2
MODELS = ("resnet20", "resnet56", "resnet18")


@pytest.mark.parametrize("backbone", MODELS)
def test_channels_last_speedup(benchmark, backbone):
    steps = {
        name: harness_step(backbone, dataclasses.replace(TRAIN, channels_last=on))
        for name, on in (("channels_last", True), ("contiguous", False))
    }
    times: dict[str, list[float]] = {}
    benchmark.group = "memory format"
    benchmark.pedantic(interleave(steps, times), rounds=ROUNDS, warmup_rounds=WARMUP)
    benchmark.extra_info |= {
        "model": backbone,
        "batch": TRAIN.batch_size,
        "threads": torch.get_num_threads(),
        "device": DEVICE.type,
        **throughput_ratio(times["channels_last"], times["contiguous"], WARMUP),
    }
