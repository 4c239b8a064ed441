"""Batched augmentation on whatever device the batch is on (no DataLoader, no per-image Python)."""

from __future__ import annotations

import torch


def random_crop_flip(
    images: torch.Tensor, pad: int, generator: torch.Generator, *, flip: bool = True
) -> torch.Tensor:
    """Zero-pad by ``pad``, take a random crop of the original size, flip half of the images.

    The CIFAR recipe of He et al. (pad 4, random 32x32 crop, horizontal flip), applied to a whole
    batch at once with one gather.

    Args:
        images: (N, C, H, W), any dtype.
        pad: pixels of zero padding on each side.
        generator: random stream on the same device as ``images``.
        flip: also flip half of the images horizontally (off for digits).
    """
    n, c, h, w = images.shape
    device = images.device
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), device=device, generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (n,), device=device, generator=generator)
    flipped = torch.rand(n, device=device, generator=generator) < 0.5
    if not flip:
        flipped = torch.zeros_like(flipped)  # the draw is kept so both settings use one stream
    rows = oy[:, None] + torch.arange(h, device=device)
    cols = ox[:, None] + torch.arange(w, device=device)
    # a flipped image reads its crop's columns backwards
    cols = torch.where(flipped[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=device)[:, None, None, None]
    chans = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, chans, rows[:, None, :, None], cols[:, None, None, :]]


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float, scaled to [0, 1] then standardised per channel."""
    return (images.float() / 255 - mean[:, None, None]) / std[:, None, None]


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, size, size), bilinear, antialiased (no-op at size)."""
    if images.shape[-2:] == (size, size):
        return images
    out = torch.nn.functional.interpolate(
        images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)
