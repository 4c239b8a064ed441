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


ERASE_AREA = (0.02, 0.4)  # Zhong et al.'s s_l, s_h: erased share of the image area
ERASE_ASPECT = 0.3  # r_1: aspect ratio drawn from [r_1, 1 / r_1]
# The authors' Fashion-MNIST code erases with 0.4914 *after* normalising with (0.1307, 0.3081):
# in pixel units that is a grey level of 0.1307 + 0.4914 x 0.3081.
ERASE_FILL = 0.1307 + 0.4914 * 0.3081


def random_erase(
    images: torch.Tensor, probability: float, generator: torch.Generator
) -> torch.Tensor:
    """Random Erasing (Zhong et al., AAAI 2020) of a whole uint8 batch at once, on its device.

    Each image, with ``probability``, gets one rectangle of area ``U(ERASE_AREA)`` x H x W and
    aspect ratio ``U(ERASE_ASPECT, 1 / ERASE_ASPECT)`` filled with ``ERASE_FILL``; a rectangle that
    does not fit is not drawn again (one attempt, as the authors' Fashion-MNIST ``transforms.py``).
    torchvision's ``RandomErasing`` does the same per image in a DataLoader worker; the batches here
    already live on the training device, where a per-image Python loop would cost more than the
    step itself.

    Args:
        images: uint8 (N, C, H, W).
        probability: chance that an image is erased.
        generator: random stream on the same device as ``images``.
    """
    n, _, h, w = images.shape
    device = images.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, device=device, generator=generator)

    erase = torch.rand(n, device=device, generator=generator) < probability
    area = uniform(*ERASE_AREA) * (h * w)
    aspect = uniform(ERASE_ASPECT, 1 / ERASE_ASPECT)
    eh = torch.sqrt(area * aspect).round().long()
    ew = torch.sqrt(area / aspect).round().long()
    erase &= (eh < h) & (ew < w)
    top = (uniform(0, 1) * (h - eh + 1).clamp_min(1)).long()
    left = (uniform(0, 1) * (w - ew + 1).clamp_min(1)).long()
    rows = torch.arange(h, device=device)[None, :]
    cols = torch.arange(w, device=device)[None, :]
    inside_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
    inside_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
    box = inside_rows[:, :, None] & inside_cols[:, None, :] & erase[:, None, None]
    # a Python scalar fill: torch.tensor(fill, device=...) would be a host-to-device copy per step
    return images.masked_fill(box[:, None], round(255 * ERASE_FILL))
