"""BAM: Bottleneck Attention Module, arXiv:1807.06514 (Park et al., BMVC 2018).

Two entries, because the paper and the released code (Jongchan/attention-module ``MODELS/bam.py``)
disagree:

* ``bam`` (paper): ``F' = F * (1 + sigmoid(M_c(F) + M_s(F)))``, i.e. ``F + F * M(F)`` with the
  branches summed, and a final BN on each branch (BN(C) after the MLP, BN(1) after the spatial 1x1).
  The paper's equations are silent on the inner layers, so they are the code's (BN + ReLU after the
  hidden FC and after every spatial conv). These final BNs are what make Table 1(a) round right
  (23.87M at r = 32).
* ``bam_official`` (code): the same layers without the final BNs, branches combined by product.

Both use r = 16 and d = 4 with two dilated 3x3 convs by default. One divergence from the code: the
channel branch averages over H and W separately, where the code's ``avg_pool2d(x, x.size(2))``
assumes square maps. The channel branch's BatchNorm1d needs a batch of 2 or more in training.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from registry.attention._base import ATTENTIONS, check_choice, hidden_channels

BRANCHES = ("both", "channel", "spatial")
COMBINES = ("sum", "product", "max")


class BamChannel(nn.Module):
    """Channel branch: global average pool, FC-BN-ReLU-FC, optional final BN(C); (N, C, 1, 1)."""

    def __init__(self, channels: int, hidden: int, final_bn: bool) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
        )
        if final_bn:
            self.mlp.append(nn.BatchNorm1d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channel logits of shape (N, C, 1, 1)."""
        return self.mlp(x.mean(dim=(2, 3)))[:, :, None, None]


class BamSpatial(nn.Module):
    """Spatial branch: 1x1 reduce, dilated 3x3s (each + BN + ReLU), 1x1 to one map, opt. BN(1)."""

    def __init__(
        self, channels: int, hidden: int, dilation: int, num_dilated: int, final_bn: bool
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        ]
        for _ in range(num_dilated):
            layers += [
                nn.Conv2d(hidden, hidden, kernel_size=3, padding=dilation, dilation=dilation),
                nn.BatchNorm2d(hidden),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(hidden, 1, kernel_size=1))
        if final_bn:
            layers.append(nn.BatchNorm2d(1))
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spatial logits of shape (N, 1, H, W)."""
        return self.convs(x)


class BottleneckAttention(nn.Module):
    """BAM: ``x * (1 + sigmoid(combine(M_c(x), M_s(x))))``.

    Args:
        channels: input (and output) channels C.
        reduction: ratio r of both branches; hidden width ``max(1, C // r)`` (paper: 16).
        dilation: dilation d of the spatial 3x3 convs (paper: 4; Table 1a also 1, 2, 6).
        num_dilated: number of dilated 3x3 convs in the spatial branch (paper: 2).
        branches: "both", "channel" or "spatial" (Table 1b).
        combine: how two branches merge, "sum" (paper), "product" (code) or "max" (Table 1b).
        final_bn: a final BN on each branch (paper: yes; code: no).
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        dilation: int = 4,
        num_dilated: int = 2,
        branches: str = "both",
        combine: str = "sum",
        final_bn: bool = True,
    ) -> None:
        super().__init__()
        check_choice("branches", branches, BRANCHES)
        self.combine = check_choice("combine", combine, COMBINES)
        hidden = hidden_channels(channels, reduction)
        self.channel_att = BamChannel(channels, hidden, final_bn) if branches != "spatial" else None
        self.spatial_att = (
            BamSpatial(channels, hidden, dilation, num_dilated, final_bn)
            if branches != "channel"
            else None
        )

    def attention_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid attention, broadcastable to ``x``."""
        if self.channel_att is None or self.spatial_att is None:
            branch = self.channel_att if self.spatial_att is None else self.spatial_att
            assert branch is not None  # __init__ builds at least one branch
            return branch(x)
        m_c, m_s = self.channel_att(x), self.spatial_att(x)
        if self.combine == "product":
            return m_c * m_s
        if self.combine == "max":
            return torch.maximum(m_c, m_s)
        return m_c + m_s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine ``x`` residually; output shape equals input shape."""
        return x * (1 + torch.sigmoid(self.attention_logits(x)))


_STAGE_META = {"default_placement": "stage", "stage_rule": "all_but_last"}
ATTENTIONS.register(
    "bam",
    BottleneckAttention,
    description="BAM as in the paper: branches summed, final BN on each branch",
    spatial=True,
    **_STAGE_META,
)
ATTENTIONS.register(
    "bam_official",
    partial(BottleneckAttention, combine="product", final_bn=False),
    description="BAM as in the released code: branches multiplied, no final BNs",
    spatial=True,
    **_STAGE_META,
)
_VARIANTS: dict[str, tuple[dict[str, Any], str, bool]] = {
    "bam_channel": ({"branches": "channel"}, "BAM channel branch only (BAM Table 1b)", False),
    "bam_spatial": ({"branches": "spatial"}, "BAM spatial branch only (BAM Table 1b)", True),
    "bam_max": ({"combine": "max"}, "BAM, branches combined by max (BAM Table 1b)", True),
    "bam_product": ({"combine": "product"}, "BAM, branches multiplied (BAM Table 1b)", True),
}
for _name, (_kwargs, _description, _spatial) in _VARIANTS.items():
    ATTENTIONS.register(
        _name,
        partial(BottleneckAttention, **_kwargs),
        description=_description,
        spatial=_spatial,
        **_STAGE_META,
    )
