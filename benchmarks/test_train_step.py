"""The harness's training step against a minimal hand-written PyTorch step (pytest-benchmark).

Same model (ResNet-20, 10 classes), batch (128 x 3 x 32 x 32), optimiser (SGD, Nesterov, wd) and
device (CPU). The harness step is one real iteration of ``bench.train.train_epoch``: shuffle,
gather the batch from the in-memory uint8 split, pad-crop-flip augmentation, normalisation,
forward and backward, optimiser and lr-schedule step, and the host sync at the end of the epoch.
The minimal step is forward, loss, backward and optimiser step on an already normalised float
batch.

The two steps are timed separately (``test_harness_step``, ``test_minimal_step``) and, because a
shared machine's load drifts between two sequential benchmarks, also interleaved round by round
(``test_interleaved_pair``): its ``extra_info`` holds the ratio of the two medians, which is the
figure to quote. Run: ``tox -e bench`` (or ``pytest benchmarks --benchmark-only``); the summary
prints it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from bench.data import Augment, ImageDataset, Split
from bench.data.augment import normalize
from bench.spec import DataSpec, RunSpec, TrainSpec
from bench.train import build_for_run, make_optimizer, prepare, train_epoch

BATCH, SIZE, CLASSES = 128, 32, 10
ROUNDS, WARMUP = 12, 2
DEVICE = torch.device("cpu")
TRAIN = TrainSpec(epochs=1, batch_size=BATCH, schedule="constant", lr=0.05)
SPEC = RunSpec("speed", "resnet20", data=DataSpec("shapes"), train=TRAIN)


def _data() -> ImageDataset:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (BATCH, 3, SIZE, SIZE), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, CLASSES, (BATCH,), generator=gen)
    split = Split(images, labels, augmentation=Augment(pad=4))
    return ImageDataset("speed", CLASSES, split, split, (0.5,) * 3, (0.25,) * 3)


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
    benchmark.pedantic(_harness_step(), rounds=ROUNDS, warmup_rounds=WARMUP)


def _minimal_step() -> Callable[[], float]:
    data = _data()
    torch.manual_seed(0)
    model = build_for_run(SPEC, data)
    optimizer = make_optimizer(model, TRAIN)
    criterion = nn.CrossEntropyLoss()
    images = normalize(data.train.images, torch.full((3,), 0.5), torch.full((3,), 0.25))
    labels = data.train.labels
    model.train()

    def step() -> float:
        loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _harness_step() -> Callable[[], object]:
    data = _data()
    session = prepare(SPEC, data, DEVICE)
    return lambda: train_epoch(session, data.train, TRAIN, DEVICE)


def test_minimal_step(benchmark):
    _info(benchmark)
    benchmark.pedantic(_minimal_step(), rounds=ROUNDS, warmup_rounds=WARMUP)


def test_interleaved_pair(benchmark):
    harness, minimal = _harness_step(), _minimal_step()
    times: dict[str, list[float]] = {"harness": [], "minimal": []}

    def pair() -> None:
        order = [("harness", harness), ("minimal", minimal)]
        if len(times["harness"]) % 2:
            order.reverse()  # alternate which goes first
        for name, step in order:
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)

    _info(benchmark)
    benchmark.pedantic(pair, rounds=ROUNDS, warmup_rounds=WARMUP)
    h, m = (times[k][WARMUP:] for k in ("harness", "minimal"))
    benchmark.extra_info |= {
        "harness_median_s": statistics.median(h),
        "minimal_median_s": statistics.median(m),
        "throughput_ratio": statistics.median(m) / statistics.median(h),
        "paired_ratio_median": statistics.median(a / b for a, b in zip(m, h, strict=True)),
    }
