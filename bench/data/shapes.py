"""`shapes`: the embedded synthetic dataset, generated locally and deterministically from a seed.

Each image holds one *target* object, filled with stripes, among several *distractors* (plain fill)
on a smooth-noise background. The label is the target's shape class; the mask marks its pixels.

Design choices that keep the task honest:

- Distractor shapes are drawn uniformly from the same class set as targets, so "which shapes are in
  the image" is no shortcut: the network has to find the striped object and classify that one.
- Position, scale, rotation and colour of every object come from the same distributions for the
  target and the distractors, so none of them identifies the target; only the stripes do.
- The target is drawn last, so nothing occludes it and its mask is exactly its own pixels (it may
  occlude distractors). The mask is exact, not anti-aliased: edges are hard at every size.
- Every random quantity is drawn in image-relative units before rasterising, so the same seed at
  32, 64 or 224 px gives the same scene at a different resolution.

Rasterising is batched with torch: each object's pixel grid is mapped into the object's own frame
(translate, rotate, scale to a unit shape) and tested against the shape's inside-function.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

SHAPE_CLASSES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "cross",
    "star",
    "ring",
    "diamond",
    "hexagon",
    "chevron",
    "crescent",
)

# Difficulty knobs, in image-relative units (1.0 = image side). Calibrated so a CIFAR ResNet-20 on
# 8,000 images at 32 px lands well above chance and well below saturation (see the README's
# calibration of shapes).
RADIUS_RANGE = (0.15, 0.24)  # circumradius: 10-15 px across at 32 px
STRIPE_PERIOD = 0.125  # one dark + one light stripe: 4 px at 32 px
STRIPE_CONTRAST = 0.6  # how far the second stripe colour moves toward black or white
NOISE_OCTAVES = ((4, 1.0), (8, 0.5))  # (grid cells per side, amplitude) of the smooth background

# Bounds the float elements of one rendering chunk (objects x pixels), so memory stays ~100 MB at
# any image size while 32 px images still render in large, fast batches.
_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class ShapesSplit:
    """One split of the dataset.

    Attributes:
        images: uint8 RGB images, (N, 3, H, W).
        labels: int64 shape-class index of each image's target, (N,); names in `SHAPE_CLASSES`.
        masks: bool, (N, H, W); True on the target's pixels (all visible: the target is on top).
    """

    images: Tensor
    labels: Tensor
    masks: Tensor


def _star(x: Tensor, y: Tensor, points: int, inner: float) -> Tensor:
    """Inside-test of a star with unit tips; a regular polygon is a star with inner = cos(pi/n)."""
    sector = 2 * math.pi / points
    rho = torch.hypot(x, y)
    # Fold every angle into the half-sector [0, sector/2] between a tip and the next inner vertex.
    a = torch.remainder(torch.atan2(y, x) + sector / 2, sector) - sector / 2
    b = a.abs()
    qx, qy = rho * torch.cos(b), rho * torch.sin(b)
    vx, vy = inner * math.cos(sector / 2) - 1.0, inner * math.sin(sector / 2)
    # Inside iff q lies on the origin's side of the edge from the tip (1, 0) to the inner vertex.
    return vx * qy - vy * (qx - 1.0) >= 0


def _polygon(sides: int) -> Callable[[Tensor, Tensor], Tensor]:
    return lambda x, y: _star(x, y, sides, math.cos(math.pi / sides))


def _cross(x: Tensor, y: Tensor) -> Tensor:
    ax, ay = x.abs(), y.abs()
    return ((ax <= 0.3) & (ay <= 0.95)) | ((ay <= 0.3) & (ax <= 0.95))


def _chevron(x: Tensor, y: Tensor) -> Tensor:
    # A ">" of horizontal thickness 0.55, shifted so its bulk sits near the origin.
    edge = 0.75 - y.abs()
    return (y.abs() <= 0.8) & (x <= edge) & (x >= edge - 0.55)


def _crescent(x: Tensor, y: Tensor) -> Tensor:
    return (x * x + y * y <= 1.0) & ((x - 0.45) ** 2 + y * y > 0.8**2)


_INSIDE: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "circle": lambda x, y: x * x + y * y <= 1.0,
    "square": _polygon(4),
    "triangle": _polygon(3),
    "cross": _cross,
    "star": lambda x, y: _star(x, y, 5, 0.45),
    "ring": lambda x, y: (x * x + y * y <= 1.0) & (x * x + y * y >= 0.55**2),
    "diamond": lambda x, y: x.abs() + y.abs() / 0.55 <= 1.0,
    "hexagon": _polygon(6),
    "chevron": _chevron,
    "crescent": _crescent,
}


@dataclass(frozen=True)
class _Scene:
    """Every random quantity of a batch of images; objects are ordered with the target last."""

    labels: Tensor  # (N,)
    classes: Tensor  # (N, O) shape class per object
    centres: Tensor  # (N, O, 2) x, y in [0, 1]
    radii: Tensor  # (N, O)
    angles: Tensor  # (N, O) rotation in radians
    colours: Tensor  # (N, O, 3) in [0, 255]
    stripes: Tensor  # (N, 2) stripe direction (radians) and phase (in periods) of the target
    noise: tuple[Tensor, ...]  # per octave (N, 3, g, g) in [0, 1]


def _balanced_labels(n: int, gen: torch.Generator) -> Tensor:
    # Cycling through the classes then shuffling gives counts that differ by at most one.
    labels = torch.arange(n, dtype=torch.int64) % len(SHAPE_CLASSES)
    return labels[torch.randperm(n, generator=gen)]


def _sample_scene(n: int, distractors: int, gen: torch.Generator) -> _Scene:
    objects = distractors + 1
    labels = _balanced_labels(n, gen)
    others = torch.randint(len(SHAPE_CLASSES), (n, distractors), generator=gen)
    lo, hi = RADIUS_RANGE
    radii = lo + (hi - lo) * torch.rand(n, objects, generator=gen)
    # Keep each object inside the frame so "cut by the border" cannot tell target from distractor.
    centres = radii[..., None] + (1 - 2 * radii[..., None]) * torch.rand(
        n, objects, 2, generator=gen
    )
    return _Scene(
        labels=labels,
        classes=torch.cat([others, labels[:, None]], dim=1),
        centres=centres,
        radii=radii,
        angles=2 * math.pi * torch.rand(n, objects, generator=gen),
        colours=255 * torch.rand(n, objects, 3, generator=gen),
        stripes=torch.rand(n, 2, generator=gen) * torch.tensor([math.pi, 1.0]),
        noise=tuple(torch.rand(n, 3, g, g, generator=gen) for g, _ in NOISE_OCTAVES),
    )


def _local_coords(scene: _Scene, size: int) -> tuple[Tensor, Tensor]:
    """Each pixel centre in each object's frame, where the shape has unit circumradius."""
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    dx = grid[None, None, None, :] - scene.centres[..., 0, None, None]  # (N, O, 1, W)
    dy = grid[None, None, :, None] - scene.centres[..., 1, None, None]  # (N, O, H, 1)
    cos = (torch.cos(scene.angles) / scene.radii)[..., None, None]
    sin = (torch.sin(scene.angles) / scene.radii)[..., None, None]
    return cos * dx + sin * dy, cos * dy - sin * dx


def _rasterise(scene: _Scene, size: int) -> Tensor:
    """Bool (N, O, H, W): which pixels each object covers, ignoring occlusion."""
    x, y = _local_coords(scene, size)
    inside = torch.zeros(x.shape, dtype=torch.bool)
    for index, name in enumerate(SHAPE_CLASSES):
        # Test each object only against its own class: one pass over the pixels in total.
        sel = scene.classes == index
        if sel.any():
            inside[sel] = _INSIDE[name](x[sel], y[sel])
    return inside


def _background(scene: _Scene, size: int) -> Tensor:
    """Smooth colour noise, (N, 3, H, W) in [0, 255]: a sum of upsampled random grids."""
    total = sum(amp for _, amp in NOISE_OCTAVES)
    layers = [
        amp * F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)
        for grid, (_, amp) in zip(scene.noise, NOISE_OCTAVES, strict=True)
    ]
    return 255 * torch.stack(layers).sum(0) / total


def _target_fill(scene: _Scene, size: int) -> Tensor:
    """The striped fill of each target, (N, 3, H, W): its colour alternating with a shifted one."""
    colour = scene.colours[:, -1, :, None, None]
    # Move the second colour toward black for light colours and toward white for dark ones, so the
    # stripes stay visible whatever the colour.
    light = colour.mean(dim=1, keepdim=True) > 127.5
    other = torch.where(
        light, colour * (1 - STRIPE_CONTRAST), colour + (255 - colour) * STRIPE_CONTRAST
    )
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    direction, phase = scene.stripes[:, 0, None, None], scene.stripes[:, 1, None, None]
    along = torch.cos(direction) * grid[None, None, :] + torch.sin(direction) * grid[None, :, None]
    odd = torch.remainder(along / STRIPE_PERIOD + phase, 1.0) >= 0.5
    return torch.where(odd[:, None], other, colour)


def _render(scene: _Scene, size: int) -> tuple[Tensor, Tensor]:
    """Images (N, 3, H, W) uint8 and target masks (N, H, W) bool of a scene."""
    inside = _rasterise(scene, size)
    image = _background(scene, size)
    for obj in range(inside.shape[1] - 1):
        image = torch.where(inside[:, obj, None], scene.colours[:, obj, :, None, None], image)
    mask = inside[:, -1]
    image = torch.where(mask[:, None], _target_fill(scene, size), image)
    return image.round_().to(torch.uint8), mask


def _slice(scene: _Scene, start: int, stop: int) -> _Scene:
    cut = slice(start, stop)
    return _Scene(
        labels=scene.labels[cut],
        classes=scene.classes[cut],
        centres=scene.centres[cut],
        radii=scene.radii[cut],
        angles=scene.angles[cut],
        colours=scene.colours[cut],
        stripes=scene.stripes[cut],
        noise=tuple(grid[cut] for grid in scene.noise),
    )


def generate_shapes(
    n: int, image_size: int = 32, seed: int = 0, *, distractors: int = 3
) -> ShapesSplit:
    """Generate `n` images of the `shapes` dataset.

    The result depends only on `n`, `seed` and `distractors` (and on `image_size` only through the
    resolution): every random draw happens up front, before chunked rendering. Labels are balanced:
    per-class counts differ by at most one.

    Args:
        n: number of images.
        image_size: side of the square images in pixels (32 default; 64 and 224 work too).
        seed: seed of the random stream.
        distractors: number of plain-filled objects besides the striped target.

    Returns:
        The images, labels and target masks.

    Raises:
        ValueError: if `n`, `image_size` or `distractors` is out of range.
    """
    if n < 0 or image_size < 8 or distractors < 0:
        raise ValueError(
            f"need n >= 0, image_size >= 8, distractors >= 0; got {n}, {image_size}, {distractors}"
        )
    gen = torch.Generator().manual_seed(seed)
    scene = _sample_scene(n, distractors, gen)
    chunk = max(1, _CHUNK_ELEMENTS // ((distractors + 1) * image_size * image_size))
    # An empty scene still renders once, so n = 0 gives correctly shaped empty tensors.
    parts = [_render(_slice(scene, s, s + chunk), image_size) for s in range(0, n, chunk) or [0]]
    images, masks = zip(*parts, strict=True)
    return ShapesSplit(torch.cat(images), scene.labels, torch.cat(masks))


def _derive_seed(seed: int, stream: str) -> int:
    # A hash keeps the streams apart for all seeds (with seed + 1, seed 0's val = seed 1's train).
    digest = hashlib.sha256(f"shapes:{seed}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def make_shapes_splits(
    n_train: int, n_val: int, image_size: int = 32, seed: int = 0, **kw: int
) -> tuple[ShapesSplit, ShapesSplit]:
    """Generate a train and a val split from disjoint random streams derived from `seed`.

    The val split does not depend on `n_train` (nor train on `n_val`), so changing the training set
    size keeps the evaluation set fixed.

    Args:
        n_train: number of training images.
        n_val: number of validation images.
        image_size: side of the square images in pixels.
        seed: seed from which both streams are derived.
        **kw: forwarded to `generate_shapes` (e.g. `distractors`).

    Returns:
        The (train, val) splits.
    """
    train = generate_shapes(n_train, image_size, _derive_seed(seed, "train"), **kw)
    val = generate_shapes(n_val, image_size, _derive_seed(seed, "val"), **kw)
    return train, val
