"""VGG-16 with BatchNorm: Simonyan & Zisserman, arXiv:1409.1556 (config D), torchvision layout
(``vgg16_bn``, 138.37M parameters at 1000 classes).

A "block" is one conv 3x3 + BN + ReLU; a stage is one group of convs at a resolution (conv1_x ..
conv5_x = stages 1..5), each followed by a max-pool. ``block`` puts a module after the
non-linearity following each conv, as the SE paper does for SE-VGG-16 (arXiv:1709.01507, Sec. 5.1);
``pre`` puts it before each conv; ``stage`` after a conv group, before its pool. ``after_3x3`` would
be the same slot as ``block`` and ``post`` / ``identity`` need a residual connection, so they are
rejected.
"""

from __future__ import annotations

import torch
from torch import nn

from registry.backbones.base import SlottedBlock, register_backbone, set_stages

VGG16 = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]


class ConvUnit(SlottedBlock):
    """conv 3x3 (with bias, as torchvision) + BN + ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, None, c_out, residual=False)
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn_block(self.act(self.bn(self.conv(self.attn_pre(x)))))


class VGG(nn.Module):
    """Conv groups ``stage1`` .. ``stage5`` with max-pools, 7x7 average pool, 3-layer classifier."""

    stage_names: dict[int, str]

    def __init__(self, num_classes: int, in_chans: int = 3) -> None:
        super().__init__()
        c_in = in_chans
        for i, widths in enumerate(VGG16, start=1):
            units = []
            for width in widths:
                units.append(ConvUnit(c_in, width))
                c_in = width
            self.add_module(f"stage{i}", nn.Sequential(*units))
        self.pool = nn.MaxPool2d(2)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 49, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )
        set_stages(self, [f"stage{i}" for i in range(1, 6)], first=1)
        self._init()

    def _init(self) -> None:
        # torchvision's VGG init
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for num in sorted(self.stage_names):
            x = self.pool(getattr(self, self.stage_names[num])(x))
        return self.classifier(torch.flatten(self.avgpool(x), 1))


register_backbone(
    "vgg16_bn",
    VGG,
    family="imagenet",
    block="vgg",
    stage_strides={1: 1, 2: 2, 3: 4, 4: 8, 5: 16},
    reference="torchvision vgg16_bn (138.37M)",
    description="VGG-16 with BatchNorm",
    rejected={
        "after_3x3": "each VGG layer is one 3x3 conv + BN + ReLU, so this is the 'block' slot; "
        "use 'block'",
        "post": "VGG has no residual addition; use 'block' (after each conv's ReLU)",
        "identity": "VGG has no shortcut; use 'block' or 'pre'",
    },
)
