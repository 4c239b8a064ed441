"""ShuffleNet v1 (Zhang et al., arXiv:1707.01083), the "ShuffleNet 1x (g=3)" of SE Table 3.

Stem 3x3/2 conv (24 channels) and max-pool, then three stages of 4 / 8 / 4 units with 240 / 480 /
960 output channels. A unit is a grouped 1x1 conv (bottleneck = out / 4; the very first one is not
grouped, its input has only 24 channels) + BN + ReLU, a channel shuffle (torchvision's), a
depthwise 3x3 + BN and a grouped 1x1 + BN. A stride-1 unit adds its input; a stride-2 unit
concatenates a 3x3/2 average-pooled copy of it, so its branch only produces ``out - in`` channels.
1,865,728 parameters at 1000 classes (mmpretrain's shufflenet-v1-1x: 1.87M; SE Table 3 prints
1.8M) and 137.5 MMACs of conv + fc at 224 px (SE Table 3: 140); + SE adds 0.62M (printed: 0.6M).

Placements: ``block`` at the end of the branch, before the addition or concatenation (SE Table 3),
at the branch's width; ``after_3x3`` after the depthwise 3x3 + BN; ``pre`` before the unit.
``post`` and ``identity`` are rejected: in a stride-2 unit there is no addition and the branch is
narrower than the output, so neither has a single meaning across units.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.shufflenetv2 import channel_shuffle

from registry.backbones.base import (
    SlottedBlock,
    conv_bn,
    init_kaiming,
    register_backbone,
    set_stages,
)

GROUPS = 3
UNITS = (4, 8, 4)
WIDTHS = (240, 480, 960)  # stage output channels at 1x, g = 3


class ShuffleUnit(SlottedBlock):
    """One ShuffleNet unit; ``widths["out"]`` is the branch's width (``out - in`` at stride 2).

    Args:
        c_in: input channels.
        c_out: output channels of the unit (after the concatenation at stride 2).
        stride: 1 (residual addition) or 2 (concatenation with an average-pooled input).
        groups: groups of the 1x1 convs.
        group_first: whether the first 1x1 is grouped (not in the first unit of the network).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, groups: int, group_first: bool) -> None:
        branch = c_out - c_in if stride == 2 else c_out
        mid = c_out // 4
        super().__init__(c_in, mid, branch, residual=False)
        self.stride, self.groups = stride, groups
        self.compress = conv_bn(c_in, mid, 1, groups=groups if group_first else 1)
        self.dw = conv_bn(mid, mid, 3, stride, groups=mid)
        self.expand = conv_bn(mid, branch, 1, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.compress(self.attn_pre(x)))
        out = self.attn_mid(self.dw(channel_shuffle(out, self.groups)))
        out = self.attn_block(self.expand(out))
        if self.stride == 2:
            return F.relu(torch.cat([F.avg_pool2d(x, 3, 2, 1), out], 1))
        return F.relu(out + x)


class ShuffleNetV1(nn.Module):
    """Stem, ``stage2`` .. ``stage4``, global pool, linear classifier."""

    stage_names: dict[int, str]
    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential

    def __init__(self, num_classes: int, in_chans: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            conv_bn(in_chans, 24, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        )
        c_in = 24
        for num, (units, c_out) in enumerate(zip(UNITS, WIDTHS, strict=True), start=2):
            first_unit_of_net = num == 2
            blocks = [
                ShuffleUnit(c_in, c_out, 2, GROUPS, group_first=not first_unit_of_net),
                *(ShuffleUnit(c_out, c_out, 1, GROUPS, group_first=True) for _ in range(units - 1)),
            ]
            self.add_module(f"stage{num}", nn.Sequential(*blocks))
            c_in = c_out
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        set_stages(self, ["stage2", "stage3", "stage4"])
        init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


register_backbone(
    "shufflenet_v1_g3",
    ShuffleNetV1,
    family="imagenet",
    block="shuffle_unit",
    stage_strides={2: 8, 3: 16, 4: 32},
    reference="Zhang et al. ShuffleNet 1x g=3, arXiv:1707.01083 (1.87M; SE Table 3: 1.8M)",
    description="ShuffleNet v1 1x, g=3 (grouped 1x1 convs, channel shuffle)",
    rejected={
        "post": "a stride-2 ShuffleNet unit concatenates instead of adding; use 'block'",
        "identity": "ShuffleNet's shortcuts are an identity or an average pool; use 'block'",
    },
)
