"""The attention modules of CNNtention (arXiv:2412.11657; code: AttentionSeekers/CNNtention). They
differ from the modules their names suggest, so they are registered under their own names and the
CNNtention study's grids (``seed002-*.toml``) use them.

* ``cbam_cnntention``: CBAM's channel gate with a bias-free MLP (r = 8 in CNNtention's ResNets) on
  the average- and max-pooled descriptors; a spatial gate of one k x k conv (k = 7) *with* a bias
  and *no* BatchNorm on the ``[mean; max]`` channel pooling; and a residual output,
  ``out = cbam(f) + f``. The official CBAM (``cbam``) has MLP biases, a bias-free conv followed by
  BatchNorm, and no residual.
* ``selfatt_cnntention``: attention over the H x W positions with full-width ``C -> C`` query,
  key and value 1x1 convs (with biases) and ``A = softmax(q k^T)`` over keys, without the
  1/sqrt(d) scale, whose output *replaces* the input: no residual and no learned ``gamma`` (the
  released ``SelfAtt`` declares a ``weights`` parameter that its forward never uses, so it is
  left out here). As released (``torch.bmm(value, attention)``), position j receives
  ``sum_i A[i, j] v_i``: the values are weighted by a *column* of the row-normalised matrix,
  where standard attention (``nonlocal``, the SAGAN block: C/8-wide queries and keys, ``x + gamma
  * attention``) uses a row.

Both go after every stage (CNNtention inserts them after each of ResNet-20's three stages).
"""

from __future__ import annotations

import torch
from torch import nn

from registry.attention._base import ATTENTIONS
from registry.attention.cbam import ChannelGate


class CnntentionCbam(nn.Module):
    """``f + spatial(channel(f))`` with CNNtention's gates.

    Args:
        channels: input channels C.
        reduction: channel-MLP ratio r; hidden width ``max(1, C // r)``.
        kernel_size: odd size k of the spatial conv.
    """

    def __init__(self, channels: int, reduction: int = 8, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.channel = ChannelGate(channels, reduction, pool="avgmax", bias=False)
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate ``x`` by channel, then by position, and add ``x`` back."""
        refined = self.channel(x)
        pooled = torch.cat(
            [refined.mean(dim=1, keepdim=True), refined.amax(dim=1, keepdim=True)], 1
        )
        return refined * torch.sigmoid(self.spatial(pooled)) + x


class CnntentionSelfAttention(nn.Module):
    """``A^T v`` with ``A = softmax(q k^T)`` over positions and full-width projections, replacing
    the input (CNNtention's ``SelfAtt``).

    Args:
        channels: input (and output) channels C; queries, keys and values are all C wide.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, channels, kernel_size=1)
        self.key = nn.Conv2d(channels, channels, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The attended values, shape (N, C, H, W)."""
        n, c, h, w = x.shape
        q, k, v = (
            proj(x).flatten(2).transpose(1, 2) for proj in (self.query, self.key, self.value)
        )
        attention = torch.softmax(q @ k.transpose(1, 2), dim=-1)  # no 1/sqrt(d), as released
        out = attention.transpose(1, 2) @ v  # the released bmm(value, attention)
        return out.transpose(1, 2).reshape(n, c, h, w)


ATTENTIONS.register(
    "cbam_cnntention", CnntentionCbam, default_placement="stage", spatial=True, stage_rule="all"
)
ATTENTIONS.register(
    "selfatt_cnntention",
    CnntentionSelfAttention,
    default_placement="stage",
    spatial=True,
    stage_rule="all",
)
