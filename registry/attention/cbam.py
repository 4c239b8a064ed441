"""CBAM: Convolutional Block Attention Module, arXiv:1807.06521 (Woo et al., ECCV 2018).

Layers follow the official code (Jongchan/attention-module ``MODELS/cbam.py``) rather than timm's
``CbamModule``, which drops the MLP biases and would give ResNet-50 + CBAM 28.07M instead of the
published 28.09M (Table 4):

* channel gate: a shared MLP ``C -> max(1, C // r) -> C`` with biases on the avg- and max-pooled
  descriptors, outputs summed, sigmoid;
* spatial gate: channel pooling ``[max; mean]`` (the official order), a k x k conv 2 -> 1 without
  bias, BatchNorm (eps 1e-5, momentum 0.01), sigmoid. Its BN weight starts at 0 as in the official
  ResNet initialisation, so the spatial gate starts at a uniform 0.5.

Options cover the paper's ablations: channel pooling avg | max | avgmax (Table 1), spatial pooling
avgmax | conv (a learned 1x1 conv C -> 1) and k = 3 | 7 (Table 2), order channel_first |
spatial_first | parallel (Table 3; parallel adds both logits before one sigmoid).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from registry.attention._base import ATTENTIONS, check_choice, hidden_channels

CHANNEL_POOLS = ("avg", "max", "avgmax")
SPATIAL_POOLS = ("avgmax", "conv")
ORDERS = ("channel_first", "spatial_first", "parallel")


class ChannelGate(nn.Module):
    """CBAM channel attention: a shared MLP over global pooled descriptors.

    Args:
        channels: input channels C.
        reduction: MLP ratio r; hidden width ``max(1, C // r)``.
        pool: descriptors fed to the shared MLP, "avg", "max" or "avgmax" (both, summed).
        bias: whether the MLP layers have biases (the official code has them).
    """

    def __init__(self, channels: int, reduction: int = 16, pool: str = "avgmax", bias: bool = True):
        super().__init__()
        self.pool = check_choice("channel_pool", pool, CHANNEL_POOLS)
        hidden = hidden_channels(channels, reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1, bias=bias),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1, bias=bias),
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid attention of shape (N, C, 1, 1)."""
        pooled = []
        if self.pool != "max":
            pooled.append(x.mean(dim=(2, 3), keepdim=True))
        if self.pool != "avg":
            pooled.append(x.amax(dim=(2, 3), keepdim=True))
        return torch.stack([self.mlp(p) for p in pooled]).sum(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale ``x`` channel-wise."""
        return x * torch.sigmoid(self.logits(x))


class SpatialGate(nn.Module):
    """Spatial attention: pool over dim 1, a k x k conv to one map, BN, sigmoid.

    Also the gate of triplet attention, which applies it to permuted tensors.

    Args:
        channels: size of dim 1; only used by the learned ("conv") pooling.
        kernel_size: odd size k of the conv on the pooled map.
        pool: "avgmax" (concatenated max and mean over dim 1) or "conv" (a 1x1 conv C -> 1).
        zero_init: start the BN weight at 0 (official CBAM init) instead of 1.
    """

    def __init__(
        self, channels: int, kernel_size: int = 7, pool: str = "avgmax", zero_init: bool = False
    ):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.pool = check_choice("spatial_pool", pool, SPATIAL_POOLS)
        self.reduce = nn.Conv2d(channels, 1, kernel_size=1, bias=False) if pool == "conv" else None
        pooled = 1 if pool == "conv" else 2
        self.conv = nn.Conv2d(pooled, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)
        if zero_init:
            nn.init.zeros_(self.bn.weight)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid attention of shape (N, 1, H, W)."""
        if self.reduce is not None:
            pooled = self.reduce(x)
        else:
            pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return self.bn(self.conv(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale ``x`` position-wise."""
        return x * torch.sigmoid(self.logits(x))


class Cbam(nn.Module):
    """CBAM: channel attention then spatial attention (by default).

    Args:
        channels: input (and output) channels C.
        reduction: channel-MLP ratio r (paper: 16).
        kernel_size: spatial conv size k (paper: 7; Table 2 also 3).
        channel: build the channel gate.
        spatial: build the spatial gate.
        order: "channel_first" (paper), "spatial_first" or "parallel" (Table 3).
        channel_pool: "avgmax" (paper), "avg" (= SE with biases) or "max" (Table 1).
        spatial_pool: "avgmax" (paper) or "conv" (learned 1x1 pooling, Table 2).
        bias: biases in the channel MLP.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        kernel_size: int = 7,
        channel: bool = True,
        spatial: bool = True,
        order: str = "channel_first",
        channel_pool: str = "avgmax",
        spatial_pool: str = "avgmax",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if not (channel or spatial):
            raise ValueError("CBAM needs at least one of channel=True or spatial=True")
        self.order = check_choice("order", order, ORDERS)
        self.channel_gate = (
            ChannelGate(channels, reduction, channel_pool, bias) if channel else None
        )
        self.spatial_gate = (
            SpatialGate(channels, kernel_size, spatial_pool, zero_init=True) if spatial else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine ``x``; output shape equals input shape."""
        channel, spatial = self.channel_gate, self.spatial_gate
        if self.order == "parallel" and channel is not None and spatial is not None:
            return x * torch.sigmoid(channel.logits(x) + spatial.logits(x))
        gates = [gate for gate in (channel, spatial) if gate is not None]
        if self.order == "spatial_first":
            gates.reverse()
        for gate in gates:
            x = gate(x)
        return x


_VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "cbam_channel_avg": (
        {"spatial": False, "channel_pool": "avg"},
        "CBAM channel gate only, avg pooling (= SE with biases; CBAM Table 1)",
    ),
    "cbam_channel_max": (
        {"spatial": False, "channel_pool": "max"},
        "CBAM channel gate only, max pooling (CBAM Table 1)",
    ),
    "cbam_channel": (
        {"spatial": False},
        "CBAM channel gate only, avg & max pooling (CBAM Tables 1-3)",
    ),
    "cbam_k3": ({"kernel_size": 3}, "CBAM with a 3x3 spatial conv (CBAM Table 2)"),
    "cbam_conv_pool_k3": (
        {"spatial_pool": "conv", "kernel_size": 3},
        "CBAM with learned 1x1-conv spatial pooling, k=3 (CBAM Table 2)",
    ),
    "cbam_conv_pool_k7": (
        {"spatial_pool": "conv"},
        "CBAM with learned 1x1-conv spatial pooling, k=7 (CBAM Table 2)",
    ),
    "cbam_spatial_first": (
        {"order": "spatial_first"},
        "CBAM, spatial gate before channel gate (CBAM Table 3)",
    ),
    "cbam_parallel": (
        {"order": "parallel"},
        "CBAM, channel and spatial logits summed before one sigmoid (CBAM Table 3)",
    ),
}

ATTENTIONS.register("cbam", Cbam, default_placement="block", spatial=True)
for _name, (_kwargs, _description) in _VARIANTS.items():
    ATTENTIONS.register(
        _name,
        partial(Cbam, **_kwargs),
        description=_description,
        default_placement="block",
        spatial=bool(_kwargs.get("spatial", True)),
    )
