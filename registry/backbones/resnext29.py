"""ResNeXt-29 for CIFAR: Xie et al., "Aggregated Residual Transformations for Deep Neural Networks",
arXiv:1611.05431 (Sec. 5.3).

Three stages of 3 bottlenecks with 256 / 512 / 1024 output channels after a 3x3 64-channel stem; the
grouped 3x3 has C x d channels (C = cardinality, d = 64 at stage 2, doubling per stage). Shortcuts
are 1x1 conv + BN where the shape changes. Layer shapes follow bearpaw/pytorch-classification's
``resnext``, which gives the BAM paper's counts (arXiv:1807.06514, Table 3): 8x64d 34.52M and
16x64d 68.25M at 100 classes.
"""

from __future__ import annotations

import torch
from torch import nn

from registry.backbones.base import CIFAR_STRIDES, SlottedBlock, conv_bn, register_backbone
from registry.backbones.cifar_resnet import CifarResNet


class ResNeXtBottleneck(SlottedBlock):
    """Post-activation 1x1 / grouped 3x3 / 1x1 bottleneck; ``after_3x3`` follows 3x3 + BN + ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int, cardinality: int, width: int) -> None:
        super().__init__(c_in, width, c_out)
        # stride on the first 1x1, the layout whose MACs BAM reports (4.99 G for 8x64d at 32 px)
        self.conv1 = nn.Conv2d(c_in, width, 1, stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU()
        if stride != 1 or c_in != c_out:
            self.shortcut = conv_bn(c_in, c_out, 1, stride)

    def zero_init_last(self) -> None:
        """Start the residual branch's last BN at gamma = 0 (timm's ``zero_init_last``)."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(self.attn_pre(x))))
        out = self.attn_mid(self.act(self.bn2(self.conv2(out))))
        out = self.attn_block(self.bn3(self.conv3(out)))
        return self.attn_post(self.act(out + self.shortcut(x)))


def resnext29(
    cardinality: int, base_width: int, num_classes: int, in_chans: int = 3
) -> CifarResNet:
    """ResNeXt-29 (``cardinality`` x ``base_width``d) for 32 px inputs."""
    stages, c_in = [], 64
    for i, c_out in enumerate((256, 512, 1024)):
        width = cardinality * base_width * 2**i
        blocks = [
            ResNeXtBottleneck(
                c_in if j == 0 else c_out, c_out, 2 if i and not j else 1, cardinality, width
            )
            for j in range(3)
        ]
        stages.append(nn.Sequential(*blocks))
        c_in = c_out
    return CifarResNet(stages, 64, 1024, num_classes, in_chans)


for _card in (8, 16):
    register_backbone(
        f"resnext29_{_card}x64d",
        lambda num_classes, in_chans=3, c=_card: resnext29(c, 64, num_classes, in_chans),
        family="cifar",
        block="bottleneck",
        stage_strides=CIFAR_STRIDES,
        reference="Xie et al. ResNeXt-29 (bearpaw resnext layer shapes)",
        description=f"ResNeXt-29 {_card}x64d (CIFAR)",
    )
