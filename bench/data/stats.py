"""Per-channel statistics for normalisation."""

from __future__ import annotations

import torch


def channel_stats(images: torch.Tensor, max_images: int = 10_000) -> tuple[tuple[float, ...], ...]:
    """Per-channel mean and std of uint8 images (N, C, H, W), in [0, 1] units.

    Args:
        images: uint8 tensor.
        max_images: only the first ``max_images`` are read; enough for stable statistics.
    """
    sample = images[:max_images].float().div_(255)
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())
