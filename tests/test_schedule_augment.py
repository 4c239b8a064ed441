"""Learning-rate schedules against their formulas; on-device augmentation shapes and values."""

from __future__ import annotations

import math

import pytest
import torch

from bench.data import Augment, Split
from bench.data.augment import normalize, random_crop_flip, resize
from bench.errors import GridError
from bench.schedule import lr_factor
from bench.spec import TrainSpec


@pytest.mark.parametrize(
    ("train", "epoch", "expected"),
    [
        (TrainSpec(schedule="constant"), 3.0, 1.0),
        (TrainSpec(epochs=10, schedule="cosine"), 5.0, 0.5),
        (TrainSpec(epochs=10, schedule="cosine"), 10.0, 0.0),
        (
            TrainSpec(epochs=300, schedule="multistep", milestones=(70, 130, 200, 260), gamma=0.2),
            69.9,
            1.0,
        ),
        (
            TrainSpec(epochs=300, schedule="multistep", milestones=(70, 130, 200, 260), gamma=0.2),
            130.0,
            0.04,
        ),
        (TrainSpec(epochs=100, schedule="step", step_size=30, gamma=0.1), 65.0, 0.01),
        (TrainSpec(epochs=400, schedule="exponential", gamma=0.98), 10.5, 0.98**10),
        (TrainSpec(epochs=8, schedule="onecycle"), 0.0, 0.04),
        (TrainSpec(epochs=8, schedule="onecycle"), 2.0, 1.0),
        (TrainSpec(epochs=8, schedule="onecycle"), 5.0, 0.5),
        (TrainSpec(epochs=10, schedule="constant", warmup_epochs=2), 0.5, 0.25),
    ],
)
def test_schedules(train, epoch, expected):
    assert math.isclose(lr_factor(train, epoch), expected, abs_tol=1e-12)


def test_crop_flip_keeps_shape_and_values():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(images, 2, gen)
    assert out.shape == images.shape and out.dtype == torch.uint8
    # every output pixel is an input pixel or zero padding
    assert set(out.unique().tolist()) <= set(images.unique().tolist()) | {0}
    # some crops moved, so some padding shows, and not every image is unchanged
    assert (out == 0).any()
    assert not torch.equal(out, images)


def test_crop_flip_zero_offset_is_flip_or_identity():
    gen = torch.Generator().manual_seed(1)
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    out = random_crop_flip(images, 0, gen)
    for i in range(2):
        assert torch.equal(out[i], images[i]) or torch.equal(out[i], images[i].flip(-1))


def test_normalize():
    images = torch.full((1, 2, 2, 2), 255, dtype=torch.uint8)
    out = normalize(images, torch.tensor([0.5, 0.0]), torch.tensor([0.5, 2.0]))
    assert torch.allclose(out[0, 0], torch.ones(2, 2)) and torch.allclose(
        out[0, 1], torch.full((2, 2), 0.5)
    )


@pytest.mark.parametrize(
    ("train", "epoch", "expected"),
    [
        # DAS CIFAR-100: x0.2 at 70, 130, 200, 260
        (
            TrainSpec(epochs=300, schedule="multistep", milestones=(70, 130, 200, 260), gamma=0.2),
            260.0,
            0.2**4,
        ),
        # CIFAR ResNet (He et al.): x0.1 at 82 and 123 of 164 epochs (32k/48k of 64k iterations)
        (TrainSpec(epochs=164, schedule="multistep", milestones=(82, 123), gamma=0.1), 100.0, 0.1),
        (TrainSpec(epochs=90, schedule="step", step_size=30, gamma=0.1), 29.99, 1.0),
        (TrainSpec(epochs=90, schedule="step", step_size=30, gamma=0.1), 60.0, 0.01),
        (TrainSpec(epochs=10, schedule="cosine"), 2.5, 0.5 * (1 + math.cos(math.pi / 4))),
        (
            TrainSpec(epochs=10, schedule="cosine", warmup_epochs=1),
            0.25,
            0.25 * 0.5 * (1 + math.cos(math.pi / 40)),
        ),
        (TrainSpec(epochs=10, schedule="multistep", milestones=(5,), warmup_epochs=2), 1.0, 0.5),
        (TrainSpec(epochs=10, schedule="multistep", milestones=(5,), warmup_epochs=2), 2.0, 1.0),
    ],
)
def test_paper_schedules(train, epoch, expected):
    assert math.isclose(lr_factor(train, epoch), expected, rel_tol=1e-12, abs_tol=1e-15)


def test_unknown_schedule():
    with pytest.raises(GridError, match="unknown schedule"):
        lr_factor(TrainSpec(schedule="linear"), 0.0)


def test_crop_without_flip_keeps_orientation():
    gen = torch.Generator().manual_seed(0)
    images = torch.arange(64 * 8, dtype=torch.float32).reshape(64, 1, 1, 8).expand(64, 1, 8, 8)
    out = random_crop_flip(images.contiguous(), 2, gen, flip=False)
    rows = out[:, 0, 4]
    nonzero = rows != 0
    # inside the image, columns still increase left to right
    for row, keep in zip(rows, nonzero, strict=True):
        values = row[keep]
        assert torch.all(values[1:] > values[:-1])


def test_resize_uint8():
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    out = resize(images, 16)
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.uint8
    assert resize(images, 32) is images


def test_split_batches_on_device_shapes_and_ranges():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (10, 3, 8, 8), dtype=torch.uint8)
    split = Split(images, torch.arange(10), torch.ones(10, 8, 8, dtype=torch.bool), Augment(pad=2))
    batches = list(
        split.batches(4, torch.device("cpu"), generator=gen, augment=True, drop_last=True)
    )
    assert [len(b[1]) for b in batches] == [4, 4]  # the short last batch is dropped
    seen = torch.cat([b[1] for b in batches])
    assert len(set(seen.tolist())) == 8  # a permutation, no repeats
    for batch_images, _, masks in batches:
        assert batch_images.dtype == torch.uint8 and batch_images.shape == (4, 3, 8, 8)
        assert masks is not None and masks.shape == (4, 8, 8)
    plain = list(split.batches(4, torch.device("cpu")))
    assert [len(b[1]) for b in plain] == [4, 4, 2]
    assert torch.equal(torch.cat([b[0] for b in plain]), images)  # eval: in order, unaugmented
    normed = normalize(batches[0][0], torch.full((3,), 0.5), torch.full((3,), 0.5))
    assert normed.dtype == torch.float32 and normed.min() >= -1 and normed.max() <= 1
