"""GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond, arXiv:1904.11492.

The global context block as in the paper's default (attention pooling, channel-add fusion,
bottleneck transform 1x1 conv -> LayerNorm -> ReLU -> 1x1 conv, r = 16), built on timm's
``GlobalContext``. Divergences from timm's defaults, each to match the official code
(xvjiarui/GCNet, ``ContextBlock``):

* the bottleneck width is exactly ``max(1, C // r)`` (timm derives it from ``rd_ratio`` with
  rounding);
* the LayerNorm's eps is 1e-5 (``nn.LayerNorm([planes, 1, 1])``; timm's ``LayerNorm2d`` uses 1e-6);
* the last conv's bias is zeroed as well as its weight, so the block starts as the identity;
* by default the block goes into stages c3-c5 only, every stage but the first, as the official
  configs do (``stage_with_gcb=(False, True, True, True)``); ``gc_all_stages`` puts it into all.
"""

from __future__ import annotations

from typing import Any

from timm.layers import GlobalContext, LayerNorm2d
from torch import nn

from registry.attention._base import ATTENTIONS, hidden_channels


class GlobalContextBlock(GlobalContext):
    """GC block: ``x + transform(softmax-attention-pooled context of x)``.

    Args:
        channels: input (and output) channels C.
        reduction: bottleneck ratio r; hidden width ``max(1, C // r)`` (paper: 16).
        ln_eps: eps of the bottleneck's LayerNorm (official: 1e-5).
    """

    def __init__(self, channels: int, reduction: int = 16, ln_eps: float = 1e-5) -> None:
        super().__init__(
            channels,
            use_attn=True,
            fuse_add=True,
            fuse_scale=False,
            init_last_zero=True,
            rd_channels=hidden_channels(channels, reduction),
        )
        assert self.mlp_add is not None  # fuse_add=True builds it
        self.mlp_add.norm = LayerNorm2d(self.mlp_add.fc1.out_channels, eps=ln_eps)
        for param in self.mlp_add.fc2.parameters():  # timm zeroes only the weight
            nn.init.zeros_(param)


_META: dict[str, Any] = {"default_placement": "block", "spatial": True}
ATTENTIONS.register("gc", GlobalContextBlock, default_stages="all_but_first", **_META)
ATTENTIONS.register(
    "gc_all_stages",
    GlobalContextBlock,
    description="GC block in every stage (the official configs leave out the first)",
    default_stages="all",
    **_META,
)
