"""GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond, arXiv:1904.11492.

The global context block as in the paper's default (attention pooling, channel-add fusion,
bottleneck transform 1x1 conv -> LayerNorm -> ReLU -> 1x1 conv, r = 16), built on timm's
``GlobalContext``. Divergences from timm's defaults: the bottleneck width is exactly
``max(1, C // r)`` (timm derives it from ``rd_ratio`` with rounding), and the last conv's bias is
zeroed as well as its weight, as in the official code, so the block starts as the identity.
"""

from __future__ import annotations

from timm.layers import GlobalContext
from torch import nn

from registry.attention._base import ATTENTIONS, hidden_channels


class GlobalContextBlock(GlobalContext):
    """GC block: ``x + transform(softmax-attention-pooled context of x)``.

    Args:
        channels: input (and output) channels C.
        reduction: bottleneck ratio r; hidden width ``max(1, C // r)`` (paper: 16).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__(
            channels,
            use_attn=True,
            fuse_add=True,
            fuse_scale=False,
            init_last_zero=True,
            rd_channels=hidden_channels(channels, reduction),
        )
        assert self.mlp_add is not None  # fuse_add=True builds it
        for param in self.mlp_add.fc2.parameters():  # timm zeroes only the weight
            nn.init.zeros_(param)


ATTENTIONS.register("gc", GlobalContextBlock, default_placement="block", spatial=True)
