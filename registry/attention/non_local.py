"""Self-attention over positions: SAGAN, arXiv:1805.08318 (Zhang et al.), a non-local block
(Non-local Neural Networks, arXiv:1711.07971). CNNtention's own self-attention (full-width
projections, no residual) is ``selfatt_cnntention`` (``cnntention.py``).

Registered as ``nonlocal`` (the file cannot carry that name: it is a Python keyword). As in SAGAN:
1x1 convs give queries and keys of width ``max(1, C // r)`` (r = 8) and values of width C; the
attention is ``softmax(q k^T)`` without the 1/sqrt(d) scale; the result is added back scaled by a
learned ``gamma`` that starts at 0, so the block starts as the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry.attention._base import ATTENTIONS, hidden_channels


class SelfAttention2d(nn.Module):
    """SAGAN self-attention block: ``x + gamma * attention(x)`` over the H x W positions.

    Args:
        channels: input (and output) channels C.
        reduction: query/key width ratio r; width ``max(1, C // r)`` (SAGAN: 8).
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = hidden_channels(channels, reduction)
        self.query = nn.Conv2d(channels, hidden, kernel_size=1)
        self.key = nn.Conv2d(channels, hidden, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the attended values to ``x``; output shape equals input shape."""
        n, c, h, w = x.shape
        # (N, 1, HW, d): SDPA's fused kernels take 4-D input only; 3-D falls back to the math path
        q, k, v = (
            proj(x).flatten(2).transpose(1, 2).unsqueeze(1)
            for proj in (self.query, self.key, self.value)
        )
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # SAGAN does not scale
        out = out.squeeze(1).transpose(1, 2).reshape(n, c, h, w)
        # gamma in the attended values' dtype: an fp32 gamma would promote a bf16 stream to fp32
        return x + self.gamma.to(out.dtype) * out


ATTENTIONS.register(
    "nonlocal",
    SelfAttention2d,
    default_placement="stage",
    spatial=True,
    stage_rule="all",
)
