"""Tests of the synthetic `shapes` dataset: determinism, layout, masks, balance, split streams."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.data import shapes
from bench.data.shapes import SHAPE_CLASSES, ShapesSplit, generate_shapes, make_shapes_splits


@pytest.fixture(scope="module")
def split() -> ShapesSplit:
    return generate_shapes(200, seed=3)


def test_same_seed_same_tensors_and_other_seed_differs(split: ShapesSplit) -> None:
    again = generate_shapes(200, seed=3)
    other = generate_shapes(200, seed=4)
    for name in ("images", "labels", "masks"):
        assert torch.equal(getattr(split, name), getattr(again, name))
    assert not torch.equal(split.images, other.images)


def test_chunking_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = generate_shapes(30, seed=5)
    # Forces a chunk of a single image: rendering in pieces must give the same tensors.
    monkeypatch.setattr(shapes, "_CHUNK_ELEMENTS", 1)
    pieces = generate_shapes(30, seed=5)
    assert torch.equal(whole.images, pieces.images)
    assert torch.equal(whole.masks, pieces.masks)


@pytest.mark.parametrize(("n", "size"), [(16, 32), (16, 64), (3, 224)])
def test_dtypes_and_shapes(n: int, size: int) -> None:
    data = generate_shapes(n, image_size=size, seed=0)
    assert data.images.shape == (n, 3, size, size) and data.images.dtype == torch.uint8
    assert data.labels.shape == (n,) and data.labels.dtype == torch.int64
    assert data.masks.shape == (n, size, size) and data.masks.dtype == torch.bool


def test_empty_split_has_the_right_shapes() -> None:
    data = generate_shapes(0)
    assert data.images.shape == (0, 3, 32, 32) and data.masks.shape == (0, 32, 32)
    assert data.labels.shape == (0,)


def test_labels_in_range_and_at_least_ten_classes(split: ShapesSplit) -> None:
    assert len(SHAPE_CLASSES) >= 10 and len(set(SHAPE_CLASSES)) == len(SHAPE_CLASSES)
    assert int(split.labels.min()) >= 0 and int(split.labels.max()) < len(SHAPE_CLASSES)


@pytest.mark.parametrize("n", [200, 203])
def test_classes_balanced(n: int) -> None:
    counts = torch.bincount(generate_shapes(n, seed=1).labels, minlength=len(SHAPE_CLASSES))
    assert int(counts.max() - counts.min()) <= 1 and int(counts.sum()) == n


def test_masks_are_large_enough_to_see(split: ShapesSplit) -> None:
    # The thinnest target (a chevron at the minimum radius) still covers ~18 pixels at 32 px.
    assert int(split.masks.flatten(1).sum(1).min()) >= 15


def test_mask_pixels_carry_exactly_the_two_stripe_colours(split: ShapesSplit) -> None:
    # The target is drawn last with two alternating colours: inside its mask there are exactly two.
    for image, mask in zip(split.images, split.masks, strict=True):
        colours = image.permute(1, 2, 0)[mask]
        assert len(torch.unique(colours, dim=0)) == 2


def test_mask_is_the_target_and_visible_distractors_are_plain() -> None:
    # Re-render the scene from the same stream: the mask must be exactly the last (target) object,
    # and what shows of each distractor must be one flat colour, unlike the striped target.
    data = generate_shapes(40, seed=9)
    scene = shapes._sample_scene(40, 3, torch.Generator().manual_seed(9))
    inside = shapes._rasterise(scene, 32)
    assert torch.equal(data.masks, inside[:, -1])
    for obj in range(3):
        visible = inside[:, obj] & ~inside[:, obj + 1 :].any(dim=1)
        for image, region in zip(data.images, visible, strict=True):
            if region.any():
                assert len(torch.unique(image.permute(1, 2, 0)[region], dim=0)) == 1


def test_same_seed_gives_the_same_scene_at_every_size() -> None:
    small = generate_shapes(20, image_size=32, seed=7)
    large = generate_shapes(20, image_size=64, seed=7)
    assert torch.equal(small.labels, large.labels)
    down = F.avg_pool2d(large.masks[:, None].float(), 2)[:, 0] >= 0.5
    overlap = (down & small.masks).sum() / (down | small.masks).sum()
    assert float(overlap) > 0.8


def test_val_stream_does_not_depend_on_n_train() -> None:
    train_a, val_a = make_shapes_splits(30, 20, seed=0)
    train_b, val_b = make_shapes_splits(60, 20, seed=0)
    assert torch.equal(val_a.images, val_b.images) and torch.equal(val_a.masks, val_b.masks)
    assert len(train_a.labels) == 30 and len(train_b.labels) == 60
    assert not torch.equal(train_a.images[:20], val_a.images)


def test_distractors_keyword_is_forwarded() -> None:
    plain, _ = make_shapes_splits(10, 10, seed=0, distractors=0)
    busy, _ = make_shapes_splits(10, 10, seed=0, distractors=6)
    assert not torch.equal(plain.images, busy.images)


@pytest.mark.parametrize(
    "kwargs", [{"n": -1}, {"n": 4, "image_size": 4}, {"n": 4, "distractors": -1}]
)
def test_bad_arguments_raise(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        generate_shapes(**kwargs)
