"""Wide ResNets for CIFAR: Zagoruyko & Komodakis, "Wide Residual Networks", arXiv:1605.07146.

WRN-d-k: a 3x3 16-channel stem, three stages of (d - 4) / 6 pre-activation basic blocks of
16k / 32k / 64k channels, BN-ReLU, pool, fc. The shortcut is a bare 1x1 conv where the shape
changes, fed with the block's pre-activated input, as in the reference code
(szagoruyko/wide-residual-networks, xternalz/WideResNet-pytorch). In those projection blocks the
pre-activation is shared by both paths, so ``pre`` precedes the shortcut too. WRN-28-10 has
36.5M parameters; the BAM paper (arXiv:1807.06514,
Table 3) counts WRN-28-8 23.40M and WRN-28-10 36.54M at 100 classes.
"""

from __future__ import annotations

import torch
from torch import nn

from registry.backbones.base import CIFAR_STRIDES, SlottedBlock, register_backbone
from registry.backbones.cifar_resnet import CifarResNet


class WideBasicBlock(SlottedBlock):
    """Pre-activation basic block (BN-ReLU-3x3 twice); ``after_3x3`` follows the first 3x3 conv."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__(c_in, c_out, c_out)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.act = nn.ReLU()
        self.project = stride != 1 or c_in != c_out
        if self.project:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act(self.bn1(self.attn_pre(x)))
        out = self.attn_mid(self.conv1(pre))
        out = self.attn_block(self.conv2(self.act(self.bn2(out))))
        # the reference code projects the pre-activated input, but adds the raw one
        return self.attn_post(out + self.shortcut(pre if self.project else x))


def wide_resnet(depth: int, widen: int, num_classes: int, in_chans: int = 3) -> CifarResNet:
    """WRN-``depth``-``widen`` for 32 px inputs."""
    n = (depth - 4) // 6
    stages, c_in = [], 16
    for i, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
        blocks = [
            WideBasicBlock(c_in if j == 0 else width, width, 2 if i and not j else 1)
            for j in range(n)
        ]
        stages.append(nn.Sequential(*blocks))
        c_in = width
    return CifarResNet(stages, 16, 64 * widen, num_classes, in_chans, preact=True)


for _depth, _widen in ((16, 8), (28, 8), (28, 10)):
    register_backbone(
        f"wrn{_depth}_{_widen}",
        lambda num_classes, in_chans=3, d=_depth, k=_widen: wide_resnet(
            d, k, num_classes, in_chans
        ),
        family="cifar",
        block="basic",
        stage_strides=CIFAR_STRIDES,
        reference="Zagoruyko & Komodakis WRN (pre-act basic blocks)",
        description=f"Wide ResNet {_depth}-{_widen} (CIFAR)",
    )
