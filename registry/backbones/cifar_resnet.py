"""CIFAR ResNets: He et al., "Deep Residual Learning for Image Recognition", arXiv:1512.03385
(Sec. 4.2), and the pre-activation bottleneck of "Identity Mappings in Deep Residual Networks",
arXiv:1603.05027.

Three stages of 16/32/64 channels on 32x32 inputs, a 3x3 stem, no max-pool.

Shortcut choice: the plain ResNets (``resnet20`` ... ``resnet110``) use option B, a 1x1 conv + BN
projection where the shape changes, as in bearpaw/pytorch-classification, the code base whose
``preresnet`` reproduces the BAM paper's PreResNet-110 count (1.726M, arXiv:1807.06514 Table 3).
``preresnet110`` is that model. bearpaw names depth as 6n + 2 and switches to pre-activation
*bottleneck* blocks from depth 44, so its "110" has n = 18 bottlenecks per stage: the same network
as He et al.'s PreResNet-164 (depth 9n + 2, n = 18), registered as ``preresnet164``. Only this
reading reproduces BAM's counts: 1,726,388 at 100 classes (1.726M), +SE 1.93M (Table 5), +BAM
+0.007M. ``resnet20_cnntention`` is the ResNet-20 of "CNNtention" (arXiv:2412.11657): 16-channel
stem, no max-pool, three stages and parameter-free identity shortcuts (option A: strided
subsampling + zero channel padding), 0.27M parameters as in He et al.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry.backbones.base import (
    CIFAR_STRIDES,
    SlottedBlock,
    conv_bn,
    init_kaiming,
    register_backbone,
    set_stages,
)


class PadShortcut(nn.Module):
    """Option-A shortcut: subsample spatially, zero-pad the new channels (no parameters)."""

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, half, self.extra - half))


class CifarBasicBlock(SlottedBlock):
    """Post-activation basic block (3x3, 3x3); ``after_3x3`` is after the first 3x3 + BN + ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int, option: str = "B") -> None:
        super().__init__(c_in, c_out, c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act2 = nn.ReLU(inplace=True)
        if stride != 1 or c_in != c_out:
            self.shortcut = (
                conv_bn(c_in, c_out, 1, stride)
                if option == "B"
                else PadShortcut(stride, c_out - c_in)
            )

    def zero_init_last(self) -> None:
        """Start the residual branch's last BN at gamma = 0 (timm's ``zero_init_last``)."""
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.attn_mid(self.act1(self.bn1(self.conv1(self.attn_pre(x)))))
        out = self.attn_block(self.bn2(self.conv2(out)))
        return self.attn_post(self.act2(out + self.shortcut(x)))


class PreActBottleneck(SlottedBlock):
    """Pre-activation bottleneck (BN-ReLU-conv x3, 1x1 / 3x3 / 1x1, expansion 4).

    The projection shortcut is a bare 1x1 conv on the block input, as in bearpaw's ``preresnet``.
    ``after_3x3`` sits right after the 3x3 conv (before the next BN-ReLU).
    """

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        c_out = planes * 4
        super().__init__(c_in, planes, c_out)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, c_out, 1, bias=False)
        self.act = nn.ReLU(inplace=False)  # not in-place: the shortcut may still read x
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.act(self.bn1(self.attn_pre(x))))
        out = self.attn_mid(self.conv2(self.act(self.bn2(out))))
        out = self.attn_block(self.conv3(self.act(self.bn3(out))))
        return self.attn_post(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """3-stage CIFAR ResNet: 3x3 stem, ``layer1..3``, (final BN-ReLU for pre-act), pool, fc.

    Args:
        stages: the three ``nn.Sequential`` stages.
        stem_width: stem output channels.
        width: channels leaving the last stage.
        num_classes: classifier outputs.
        in_chans: input channels.
        preact: add the final BN-ReLU a pre-activation network needs before pooling.
    """

    stage_names: dict[int, str]

    def __init__(
        self,
        stages: list[nn.Sequential],
        stem_width: int,
        width: int,
        num_classes: int,
        in_chans: int,
        preact: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, stem_width, 3, 1, 1, bias=False)
        # post-activation nets normalise the stem; pre-activation ones leave it to the first block
        self.bn1 = nn.Identity() if preact else nn.BatchNorm2d(stem_width)
        self.act1 = nn.Identity() if preact else nn.ReLU(inplace=True)
        self.layer1, self.layer2, self.layer3 = stages
        self.head_norm = (
            nn.Sequential(nn.BatchNorm2d(width), nn.ReLU()) if preact else nn.Identity()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)
        set_stages(self, ["layer1", "layer2", "layer3"])
        init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(self.head_norm(x)), 1))


def resnet_cifar(depth: int, num_classes: int, in_chans: int = 3, option: str = "B") -> CifarResNet:
    """He et al. (2015) CIFAR ResNet of ``depth`` = 6n + 2 with basic blocks."""
    n = (depth - 2) // 6
    stages, c_in = [], 16
    for i, width in enumerate((16, 32, 64)):
        blocks = [
            CifarBasicBlock(c_in if j == 0 else width, width, 2 if i and not j else 1, option)
            for j in range(n)
        ]
        stages.append(nn.Sequential(*blocks))
        c_in = width
    return CifarResNet(stages, 16, 64, num_classes, in_chans)


def preresnet_cifar(n: int, num_classes: int, in_chans: int = 3) -> CifarResNet:
    """Pre-activation bottleneck CIFAR ResNet, ``n`` blocks per stage (bearpaw ``preresnet``)."""
    stages, c_in = [], 16
    for i, planes in enumerate((16, 32, 64)):
        blocks = []
        for j in range(n):
            blocks.append(PreActBottleneck(c_in, planes, 2 if i and not j else 1))
            c_in = planes * 4
        stages.append(nn.Sequential(*blocks))
    return CifarResNet(stages, 16, 256, num_classes, in_chans, preact=True)


def _register() -> None:
    ref = "He et al. 2015 CIFAR ResNet, option-B shortcut (bearpaw/pytorch-classification)"
    for depth in (20, 32, 44, 56, 110):
        register_backbone(
            f"resnet{depth}",
            lambda num_classes, in_chans=3, d=depth: resnet_cifar(d, num_classes, in_chans),
            family="cifar",
            block="basic",
            stage_strides=CIFAR_STRIDES,
            reference=ref,
            description=f"CIFAR ResNet-{depth} (16/32/64, basic blocks, 1x1-conv shortcuts)",
        )
    register_backbone(
        "resnet20_cnntention",
        lambda num_classes, in_chans=3: resnet_cifar(20, num_classes, in_chans, option="A"),
        family="cifar",
        block="basic",
        stage_strides=CIFAR_STRIDES,
        reference="CNNtention ResNet-20, arXiv:2412.11657 (option-A identity shortcuts, 0.27M)",
        description="CNNtention ResNet-20: 16-ch stem, no max-pool, 3 stages, identity shortcuts",
    )
    for name, naming in (("preresnet110", "bearpaw's 6n+2"), ("preresnet164", "He's 9n+2")):
        register_backbone(
            name,
            lambda num_classes, in_chans=3: preresnet_cifar(18, num_classes, in_chans),
            family="cifar",
            block="preact_bottleneck",
            stage_strides=CIFAR_STRIDES,
            reference="pre-act bottleneck (bearpaw preresnet); BAM Table 3: PreResNet-110 1.726M",
            description=f"CIFAR pre-act bottleneck ResNet, 18 blocks/stage ({naming} depth naming)",
        )


_register()
