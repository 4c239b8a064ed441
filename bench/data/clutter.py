"""``fashion_clutter``: real Fashion-MNIST items on larger canvases with clutter, and exact masks.

The classic testbed for visual attention is cluttered, translated MNIST (Mnih et al. 2014,
"Recurrent Models of Visual Attention"; Jaderberg et al. 2015, "Spatial Transformer Networks":
one digit on a 60x60 canvas among 8x8 crops of other digits). This is the same design with real
objects: each canvas holds one Fashion-MNIST item, and the label is that item's class.

How one canvas is drawn (every draw from one seeded generator, so a seed gives the same set):

1. the **item**: a Fashion-MNIST image, scaled by ``s ~ U(scale)`` (side ``28 s`` px, bilinear) and
   placed at a uniformly random position that keeps it whole on the canvas;
2. the **clutter**: ``pieces`` square crops (``piece_size`` px, random position in the source) of
   other random items of the same split, pasted at uniformly random positions, unscaled;
3. optionally a **background** texture: smooth noise (uniform noise on a grid 8x coarser than the
   canvas, upsampled bicubically) with peak amplitude ``background`` (0 = none, 1 = full white).

Layers combine by pixel-wise maximum, so clutter can overlap the item as it does in cluttered MNIST.
The **mask** is the item's own pixels: where the scaled item alone is non-zero after rounding to
uint8, whatever lies on top. Training canvases draw items and clutter from the Fashion-MNIST train
split only, validation canvases from the test split only, so no validation object was seen in
training. The training augmentation is the horizontal flip only: positions are already random, and a
crop could push the item off the canvas.

Knobs (``[data] options = {...}`` in a grid; defaults in ``DEFAULTS``): the canvas side is
``[data] image_size`` (default 40 px), ``scale`` (item side / 28), ``pieces``, ``piece_size``,
``background``. Generation is vectorised (``grid_sample`` for the items, one gather per clutter
piece): about 1 s per 10,000 canvases at 40 px on one CPU thread
(``benchmarks/test_data_generation.py``), so the whole 70,000 take seconds and are generated, not
stored; a grid's runs share one generated set in memory (``functools.lru_cache``).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch.nn import functional as F

from bench.data.base import DATASETS, Augment, ImageDataset, Split
from bench.data.idx import FASHION_MNIST, load_idx
from bench.data.stats import channel_stats
from bench.errors import GridError
from bench.spec import DataSpec

CANVAS = 40
DEFAULTS: dict[str, Any] = {
    "scale": (0.6, 1.0),
    "pieces": 6,
    "piece_size": 9,
    "background": 0.0,
}
CHUNK = 8192  # canvases rendered at once (bounds the float32 working memory)


def options(spec: DataSpec) -> dict[str, Any]:
    """The generator's knobs: ``spec.options`` over ``DEFAULTS``, checked.

    Raises:
        GridError: a knob outside its domain.
    """
    knobs = DEFAULTS | dict(spec.options)
    low, high = knobs["scale"]
    size = spec.image_size or CANVAS
    if not 0 < low <= high or 28 * high > size:
        raise GridError(
            f"[data] options scale = {[low, high]} must satisfy 0 < low <= high and "
            f"28 x high <= image_size ({size} px) so the item fits the canvas"
        )
    if not 1 <= knobs["piece_size"] <= 28 or knobs["pieces"] < 0:
        raise GridError("[data] options need 0 <= pieces and 1 <= piece_size <= 28")
    if not 0 <= knobs["background"] <= 1:
        raise GridError("[data] options background must lie in [0, 1] (peak grey level)")
    return knobs


def make_canvases(
    items: torch.Tensor,
    labels: torch.Tensor,
    n: int,
    size: int,
    seed: int,
    knobs: dict[str, Any],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` cluttered canvases from one split's items (see the module docstring).

    Args:
        items: uint8 (N, 1, 28, 28), the split's Fashion-MNIST images.
        labels: int64 (N,).
        n: canvases to draw; each item is used once per pass over a random order.
        size: canvas side in px.
        seed: seed of every random draw.
        knobs: ``options(spec)``.

    Returns:
        uint8 canvases (n, 1, size, size), int64 labels (n,), bool masks (n, size, size).
    """
    g = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(len(items), generator=g) for _ in range(-(-n // len(items)))])
    chosen = order[:n]
    canvases = torch.empty(n, 1, size, size, dtype=torch.uint8)
    masks = torch.empty(n, size, size, dtype=torch.bool)
    for start in range(0, n, CHUNK):
        idx = chosen[start : start + CHUNK]
        item = _place_items(items[idx], size, knobs["scale"], g)
        masks[start : start + len(idx)] = item[:, 0].round() > 0
        layer = torch.maximum(item, _clutter(items, len(idx), size, knobs, g))
        if knobs["background"] > 0:
            layer = torch.maximum(layer, _background(len(idx), size, knobs["background"], g))
        canvases[start : start + len(idx)] = layer.round_().clamp_(0, 255).to(torch.uint8)
    return canvases, labels[chosen], masks


def _place_items(
    items: torch.Tensor, size: int, scale: tuple[float, float], g: torch.Generator
) -> torch.Tensor:
    """Each item scaled and placed on an empty canvas: float (n, 1, size, size) in grey levels."""
    n = len(items)
    low, high = scale
    side = 28 * (low + (high - low) * torch.rand(n, generator=g))  # item side in canvas px
    ox = (size - side) * torch.rand(n, generator=g)  # top-left corner, item fully inside
    oy = (size - side) * torch.rand(n, generator=g)
    # affine map from canvas coordinates in [-1, 1] to item coordinates in [-1, 1]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = size / side
    theta[:, 0, 2] = (size - 2 * ox) / side - 1
    theta[:, 1, 2] = (size - 2 * oy) / side - 1
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    return F.grid_sample(items.float(), grid, mode="bilinear", align_corners=False)


def _clutter(
    items: torch.Tensor, n: int, size: int, knobs: dict[str, Any], g: torch.Generator
) -> torch.Tensor:
    """``pieces`` crops of random items per canvas: float (n, 1, size, size), max-combined."""
    p = knobs["piece_size"]
    layer = torch.zeros(n, 1, size, size)
    rows, cols = torch.arange(p), torch.arange(p)
    batch = torch.arange(n)[:, None, None]
    for _ in range(knobs["pieces"]):
        source = torch.randint(0, len(items), (n,), generator=g)
        sy, sx = (torch.randint(0, 28 - p + 1, (n,), generator=g) for _ in range(2))
        dy, dx = (torch.randint(0, size - p + 1, (n,), generator=g) for _ in range(2))
        crop = items[
            source[:, None, None],
            0,
            (sy[:, None] + rows)[:, :, None],
            (sx[:, None] + cols)[:, None],
        ].float()
        ys, xs = (dy[:, None] + rows)[:, :, None], (dx[:, None] + cols)[:, None]
        layer[batch, 0, ys, xs] = torch.maximum(layer[batch, 0, ys, xs], crop)
    return layer


def _background(n: int, size: int, amplitude: float, g: torch.Generator) -> torch.Tensor:
    coarse = torch.rand(n, 1, max(2, size // 8), max(2, size // 8), generator=g)
    smooth = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return smooth.clamp_(0, 1) * (255 * amplitude)


@DATASETS.register(
    "fashion_clutter",
    description="real Fashion-MNIST items on 40 px canvases among clutter, exact item masks "
    "(needs fashion_mnist)",
    image_size=CANVAS,
    options=DEFAULTS,
    validate=options,
)
def load_fashion_clutter(spec: DataSpec) -> ImageDataset:
    """Generate the cluttered set from the verified Fashion-MNIST files (train from train only)."""
    return _generate(spec, tuple(sorted(options(spec).items())))


@functools.lru_cache(maxsize=2)  # a grid's runs share one generated set
def _generate(spec: DataSpec, knobs: tuple[tuple[str, Any], ...]) -> ImageDataset:
    source = load_idx(DataSpec(FASHION_MNIST.name, root=spec.root))
    size = spec.image_size or CANVAS
    settings = dict(knobs)
    splits = []
    for split, n, seed in (
        (source.train, spec.train_size or len(source.train), spec.seed),
        (source.val, spec.val_size or len(source.val), spec.seed + 1),
    ):
        assert isinstance(split, Split)
        splits.append(make_canvases(split.images, split.labels, n, size, seed, settings))
    train, val = splits
    mean, std = channel_stats(train[0])
    return ImageDataset(
        name="fashion_clutter",
        num_classes=source.num_classes,
        train=Split(*train, augmentation=Augment(pad=0, flip=True)),
        val=Split(*val),
        mean=mean,
        std=std,
        source=source.source,
    )
