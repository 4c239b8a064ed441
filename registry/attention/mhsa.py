"""Multi-head self-attention over the H x W positions of a CNN feature map, as in CNNtention
(Kapila et al., arXiv:2412.11657; heads = 8), with the attention of "Attention Is All You Need",
arXiv:1706.03762.

A 1x1 conv makes queries, keys and values (C each, split into ``heads`` heads of C / heads), the
heads attend with ``scaled_dot_product_attention``, a 1x1 output projection merges them and the
result is added to the input. The output projection starts at zero (weight and bias), so the block
starts as the identity without an extra ``gamma`` parameter. No positional encoding: the seed study
names none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry.attention._base import ATTENTIONS
from registry.core import IncompatibleError


class MultiHeadSelfAttention2d(nn.Module):
    """Residual multi-head self-attention block over positions.

    Args:
        channels: input (and output) channels C; must be divisible by ``heads``.
        heads: number of attention heads (seed study: 8).

    Raises:
        IncompatibleError: ``channels`` is not divisible by ``heads``.
    """

    def __init__(self, channels: int, heads: int = 8) -> None:
        super().__init__()
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        if channels % heads:
            fit = max(d for d in range(1, heads + 1) if channels % d == 0)
            raise IncompatibleError(
                f"mhsa: channels ({channels}) must be divisible by heads ({heads}); "
                f"pass heads={fit} (the largest divisor of {channels} not above {heads}) "
                "or place it where the channel count is a multiple of the heads"
            )
        self.heads = heads
        self.qkv = nn.Conv2d(channels, 3 * channels, kernel_size=1)
        self.proj = nn.Conv2d(channels, channels, kernel_size=1)
        for param in self.proj.parameters():
            nn.init.zeros_(param)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the projected attention output to ``x``; output shape equals input shape."""
        n, c, h, w = x.shape
        # (N, HW, 3C) with the channels innermost: the fused (flash) kernels need stride 1 on the
        # head dimension, and fall back to the math path, which materialises every N x heads x
        # HW x HW score, when it is HW (a contiguous NCHW input; a no-op copy under channels_last)
        qkv = self.qkv(x).flatten(2).transpose(1, 2).contiguous()
        qkv = qkv.reshape(n, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(dim=0)  # each (N, heads, HW, C / heads)
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


ATTENTIONS.register(
    "mhsa",
    MultiHeadSelfAttention2d,
    default_placement="stage",
    spatial=True,
    stage_rule="all",
)
