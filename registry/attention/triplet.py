"""Rotate to Attend: Convolutional Triplet Attention Module, arXiv:2010.03045 (WACV 2021).

Layers as in the official code (landskape-ai/triplet-attention): three gates, each Z-pool
(``[max; mean]`` over dim 1) -> k x k conv 2 -> 1 without bias -> BatchNorm2d(1, eps 1e-5,
momentum 0.01) -> sigmoid, applied to the C-H and C-W rotations of the input and to the input
itself; the three results are averaged. Parameters: 3 x (2 k^2 + 2), independent of C.

Initialisation as in the official ResNet code (``MODELS/resnet.py``: every BN weight whose key
contains "SpatialGate" is set to 0, the others to 1): the plain (H, W) gate's BN starts at
gamma = 0, so that gate starts as a constant 0.5; the two rotated gates start at gamma = 1.
``spatial_zero_init=False`` starts all three at 1.
"""

from __future__ import annotations

import torch
from torch import nn

from registry.attention._base import ATTENTIONS
from registry.attention.cbam import SpatialGate


class TripletAttention(nn.Module):
    """Triplet attention: cross-dimension gates over (C, W), (H, C) and (H, W).

    Args:
        channels: input channels C; the gates do not depend on it.
        kernel_size: odd size k of each gate's conv (paper: 7; also 3).
        no_spatial: drop the plain (H, W) gate and average the two rotated ones (official option).
        spatial_zero_init: start the (H, W) gate's BN at gamma = 0 (official init).
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 7,
        no_spatial: bool = False,
        spatial_zero_init: bool = True,
    ) -> None:
        super().__init__()
        del channels  # the gates pool dim 1 away, so their size does not depend on C
        # Dim 1 of each rotated tensor is H or W, unknown here; "avgmax" pooling never needs it.
        self.cw = SpatialGate(1, kernel_size)
        self.hc = SpatialGate(1, kernel_size)
        self.hw = None if no_spatial else SpatialGate(1, kernel_size, zero_init=spatial_zero_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Average of the three gated views; output shape equals input shape."""
        # The permutations swap C with H (0, 2, 1, 3) and C with W (0, 3, 2, 1); both are their own
        # inverse, so the same permute turns each branch's output back.
        outs = [
            self.cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3),
            self.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1),
        ]
        if self.hw is not None:
            outs.append(self.hw(x))
        return torch.stack(outs).mean(dim=0)


ATTENTIONS.register("triplet", TripletAttention, default_placement="block", spatial=True)
