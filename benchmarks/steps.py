"""What the speed suite times: a training step of the harness, a minimal hand-written step, and an
interleaved timer that compares two of them on a machine whose load drifts.

Every step trains on one in-memory batch of random uint8 images, so data loading never dominates.
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
from bench.train import build_for_run, make_optimizer, memory_format, prepare, train_epoch

BATCH, SIZE, CLASSES = 128, 32, 10
DEVICE = torch.device("cpu")
TRAIN = TrainSpec(epochs=1, batch_size=BATCH, schedule="constant", lr=0.05)


def one_batch_dataset(batch: int = BATCH, size: int = SIZE) -> ImageDataset:
    """A seeded dataset whose training split is exactly one batch of ``batch`` images."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, CLASSES, (batch,), generator=gen)
    split = Split(images, labels, augmentation=Augment(pad=4))
    return ImageDataset("speed", CLASSES, split, split, (0.5,) * 3, (0.25,) * 3)


def harness_step(backbone: str = "resnet20", train: TrainSpec = TRAIN) -> Callable[[], object]:
    """One real ``bench.train.train_epoch`` over the one-batch split: the harness's whole step."""
    data = one_batch_dataset(train.batch_size)
    spec = RunSpec("speed", backbone, data=DataSpec("shapes"), train=train)
    session = prepare(spec, data, DEVICE)
    return lambda: train_epoch(session, data.train, train, DEVICE)


def minimal_step(backbone: str = "resnet20", train: TrainSpec = TRAIN) -> Callable[[], float]:
    """Forward, loss, backward and optimiser step on an already normalised float batch, in the
    harness's memory format and precision on ``DEVICE`` (so harness / minimal is overhead only)."""
    data = one_batch_dataset(train.batch_size)
    spec = RunSpec("speed", backbone, data=DataSpec("shapes"), train=train)
    torch.manual_seed(0)
    fmt = memory_format(train, DEVICE)
    model = build_for_run(spec, data).to(memory_format=fmt)
    optimizer = make_optimizer(model, train)
    criterion = nn.CrossEntropyLoss()
    images = normalize(data.train.images, torch.full((3,), 0.5), torch.full((3,), 0.25))
    images = images.contiguous(memory_format=fmt)
    labels = data.train.labels
    bf16 = train.uses_bf16(DEVICE.type)
    model.train()

    def step() -> float:
        with torch.autocast(DEVICE.type, torch.bfloat16, enabled=bf16):
            logits = model(images)
        loss = criterion(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def interleave(
    steps: dict[str, Callable[[], object]], times: dict[str, list[float]]
) -> Callable[[], None]:
    """One timing round: every step once, in alternating order, seconds appended to ``times``."""
    names = list(steps)
    for name in names:
        times.setdefault(name, [])

    def one_round() -> None:
        order = names if len(times[names[0]]) % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)

    return one_round


def throughput_ratio(subject: list[float], reference: list[float], warmup: int) -> dict[str, float]:
    """Throughput of ``subject`` over that of ``reference``, from step seconds after the warm-up
    rounds: the ratio of the medians, and the median and min-max of the per-round ratios."""
    a, b = subject[warmup:] or subject, reference[warmup:] or reference  # --benchmark-disable: 1
    per_round = [y / x for x, y in zip(a, b, strict=True)]
    return {
        "subject_median_s": statistics.median(a),
        "reference_median_s": statistics.median(b),
        "throughput_ratio": statistics.median(b) / statistics.median(a),
        "paired_ratio_median": statistics.median(per_round),
        "paired_ratio_min": min(per_round),
        "paired_ratio_max": max(per_round),
    }
