"""The harness's training step against a minimal hand-written PyTorch step (pytest-benchmark).

Same model (ResNet-20, 10 classes), batch (128 x 3 x 32 x 32), optimiser (SGD, Nesterov, wd) and
device (CPU). The harness step is one real iteration of ``bench.train.train_epoch``: shuffle,
gather the batch from the in-memory uint8 split, pad-crop-flip augmentation, normalisation,
forward and backward, optimiser and lr-schedule step, and the host sync at the end of the epoch.
The minimal step is forward, loss, backward and optimiser step on an already normalised float
batch (see ``steps.py``).

The two steps are timed separately (``test_harness_step``, ``test_minimal_step``) and, because a
shared machine's load drifts between two sequential benchmarks, also interleaved round by round
(``test_interleaved_pair``): its ``extra_info`` holds the ratio of the two medians, which is the
figure to quote. Run: ``tox -e bench`` (or ``pytest benchmarks --benchmark-only``); the summary
prints it.
"""

from __future__ import annotations

import torch
from steps import BATCH, DEVICE, harness_step, interleave, minimal_step, throughput_ratio

ROUNDS, WARMUP = 12, 2


def _info(benchmark) -> None:
    benchmark.group = "train step"
    benchmark.extra_info |= {
        "batch": BATCH,
        "threads": torch.get_num_threads(),
        "device": DEVICE.type,
        "model": "resnet20",
    }


def test_harness_step(benchmark):
    _info(benchmark)
    benchmark.pedantic(harness_step(), rounds=ROUNDS, warmup_rounds=WARMUP)


def test_minimal_step(benchmark):
    _info(benchmark)
    benchmark.pedantic(minimal_step(), rounds=ROUNDS, warmup_rounds=WARMUP)


def test_interleaved_pair(benchmark):
    times: dict[str, list[float]] = {}
    steps = {"harness": harness_step(), "minimal": minimal_step()}
    _info(benchmark)
    benchmark.pedantic(interleave(steps, times), rounds=ROUNDS, warmup_rounds=WARMUP)
    benchmark.extra_info |= throughput_ratio(times["harness"], times["minimal"], WARMUP)
