"""DenseNet-BC for CIFAR (Huang et al., arXiv:1608.06993), the "DenseNet 100-BC (k=12)" of BAM
Table 3(a) (0.8M parameters, 0.29 GFLOPs; + BAM 0.84M).

A 3x3 stem of 2k channels, then three dense blocks of (depth - 4) / 6 bottleneck layers (timm's
``DenseLayer``: BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k new channels), joined by timm's
``DenseTransition`` (BN-ReLU-1x1 conv halving the channels, 2x2 average pool), and a final
BN-ReLU, global pool and linear classifier. Stage 2 is dense block 1; stages 3 and 4 start with
the transition that precedes their dense block, so the ``stage`` slot sits before each transition.

Placements: each dense layer is a block whose output is its input concatenated with its k new
channels. ``block`` follows the concatenation (SE/CBAM after every layer, at the growing width);
``pre`` sits before the layer's first BN (the concatenated copy keeps the raw input).
``after_3x3``, ``post`` and ``identity`` are rejected: the 3x3 conv ends the layer, and a dense
layer concatenates rather than adds.

BAM puts its module "back and forth of the transition block" (Table 3 caption). The ``stage``
placement puts one before each transition: 0.800M -> 0.835M and 0.288 -> 0.297 GMACs at 100
classes, which round to the printed 0.80 -> 0.84M and 0.29 -> 0.30, so no second module after
each transition is added.
"""

from __future__ import annotations

import torch
from timm.layers import BatchNormAct2d
from timm.models.densenet import DenseLayer, DenseTransition
from torch import nn

from registry.backbones.base import (
    CIFAR_STRIDES,
    SlottedBlock,
    init_kaiming,
    register_backbone,
    set_stages,
)


class DenseUnit(SlottedBlock):
    """timm's ``DenseLayer`` with its input concatenated back, and ``pre``/``block`` slots."""

    def __init__(self, c_in: int, growth: int) -> None:
        super().__init__(c_in, None, c_in + growth, residual=False)
        self.layer = DenseLayer(c_in, growth, bn_size=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn_block(torch.cat([x, self.layer(self.attn_pre(x))], 1))


class DenseNetCifar(nn.Module):
    """3x3 stem, ``stage2`` .. ``stage4`` (transition + dense block), BN-ReLU, pool, linear.

    Args:
        depth: 3 * 2n + 4 with n bottleneck layers per dense block (100 -> 16).
        growth: growth rate k.
        num_classes: classifier outputs.
        in_chans: input channels.
    """

    stage_names: dict[int, str]
    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential

    def __init__(self, depth: int, growth: int, num_classes: int, in_chans: int = 3) -> None:
        super().__init__()
        layers = (depth - 4) // 6
        width = 2 * growth
        self.conv1 = nn.Conv2d(in_chans, width, 3, 1, 1, bias=False)
        for num in (2, 3, 4):
            blocks: list[nn.Module] = []
            if num > 2:
                blocks.append(DenseTransition(width, width // 2))
                width //= 2
            for _ in range(layers):
                blocks.append(DenseUnit(width, growth))
                width += growth
            self.add_module(f"stage{num}", nn.Sequential(*blocks))
        self.head_norm = BatchNormAct2d(width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)
        set_stages(self, ["stage2", "stage3", "stage4"])
        init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(self.head_norm(x)), 1))


register_backbone(
    "densenet100_bc_k12",
    lambda num_classes, in_chans=3: DenseNetCifar(100, 12, num_classes, in_chans),
    family="cifar",
    block="dense_bottleneck",
    stage_strides=CIFAR_STRIDES,
    reference="Huang et al. DenseNet-BC 100, k=12 (BAM Table 3a: 0.8M)",
    description="CIFAR DenseNet-BC-100, growth 12 (timm dense layers and transitions)",
    rejected={
        "after_3x3": "a dense layer ends with its 3x3 conv; use 'block' (after the concatenation)",
        "post": "a dense layer concatenates instead of adding; use 'block'",
        "identity": "a dense layer has no shortcut branch; use 'block' or 'pre'",
    },
)
