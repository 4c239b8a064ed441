"""MobileNets: v1, Howard et al., arXiv:1704.04861 (4.23M params; width 0.7: 2.30M); v2, Sandler
et al., arXiv:1801.04381 (torchvision layout, 3.50M params).

Stages are the groups of blocks at one resolution, numbered by output stride 2^s (stage 1 = 112 px
... stage 5 = 7 px at 224 px), which matches the ResNet numbering (conv2_x = stride 4 = stage 2).

Placements. v1 (depthwise separable, no residuals): ``block`` after the pointwise conv + BN +
ReLU (SE after each separable block, SE Table 3: 4.2M -> 4.7M), ``after_3x3`` after the depthwise
3x3 + BN + ReLU, ``pre`` before the block; ``post`` and ``identity`` are rejected (no addition,
no shortcut).
v2: ``block`` after the projection BN, before the addition (SE paper; triplet attention's
MobileNetV2), ``after_3x3`` after the depthwise 3x3 + BN + ReLU6, ``pre`` before the expansion;
``post`` and ``identity`` exist only on blocks with a residual connection (stride 1, same width).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from registry.backbones.base import SlottedBlock, init_kaiming, register_backbone, set_stages

V1_STAGES = [
    [(64, 1)],
    [(128, 2), (128, 1)],
    [(256, 2), (256, 1)],
    [(512, 2)] + [(512, 1)] * 5,
    [(1024, 2), (1024, 1)],
]
# (expansion t, channels c, repeats n, stride s) per stage, from MobileNetV2 Table 2
V2_STAGES = [
    [(1, 16, 1, 1)],
    [(6, 24, 2, 2)],
    [(6, 32, 3, 2)],
    [(6, 64, 4, 2), (6, 96, 3, 1)],
    [(6, 160, 3, 2), (6, 320, 1, 1)],
]
STRIDES = {1: 2, 2: 4, 3: 8, 4: 16, 5: 32}


def conv_bn_act(
    c_in: int, c_out: int, kernel: int, stride: int, groups: int, act: type
) -> nn.Sequential:
    """Conv (no bias) + BN + activation."""
    conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), act(inplace=True))


class DepthwiseSeparable(SlottedBlock):
    """MobileNet v1 block: depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU (no residual)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__(c_in, c_in, c_out, residual=False)
        self.dw = conv_bn_act(c_in, c_in, 3, stride, c_in, nn.ReLU)
        self.pw = conv_bn_act(c_in, c_out, 1, 1, 1, nn.ReLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.attn_mid(self.dw(self.attn_pre(x)))
        return self.attn_block(self.pw(out))


class InvertedResidual(SlottedBlock):
    """MobileNet v2 block: 1x1 expansion, depthwise 3x3, linear 1x1 projection (+ x if it fits)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        hidden = c_in * expand
        self.use_res = stride == 1 and c_in == c_out
        super().__init__(c_in, hidden, c_out, residual=self.use_res)
        self.expand = conv_bn_act(c_in, hidden, 1, 1, 1, nn.ReLU6) if expand != 1 else nn.Identity()
        self.dw = conv_bn_act(hidden, hidden, 3, stride, hidden, nn.ReLU6)
        self.project = nn.Sequential(nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.attn_mid(self.dw(self.expand(self.attn_pre(x))))
        out = self.attn_block(self.project(out))
        return self.attn_post(out + self.shortcut(x)) if self.use_res else out


class MobileNet(nn.Module):
    """Stem conv, five stages (``stage1`` .. ``stage5``), optional head conv, pool, classifier."""

    stage_names: dict[int, str]

    def __init__(
        self, stem: nn.Module, stages: list[nn.Sequential], head: nn.Module, classifier: nn.Module
    ) -> None:
        super().__init__()
        self.stem = stem
        for i, stage in enumerate(stages, start=1):
            self.add_module(f"stage{i}", stage)
        self.head = head
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier
        set_stages(self, [f"stage{i}" for i in range(1, 6)], first=1)
        init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for num in sorted(self.stage_names):
            x = getattr(self, self.stage_names[num])(x)
        return self.classifier(torch.flatten(self.pool(self.head(x)), 1))


def mobilenet_v1(num_classes: int, in_chans: int = 3, width: float = 1.0) -> MobileNet:
    """MobileNet v1 (4,231,976 parameters at 1000 classes and width 1.0).

    ``width`` is Howard et al.'s multiplier alpha, every layer's channels truncated to
    ``int(alpha * c)``: at 0.7 that gives the 2.30M parameters and 0.283 GMACs printed by CBAM
    Table 5 and BAM Table 3(b) (rounding to multiples of 8, as TF-slim does, gives 2.32M).
    """
    stages, c_in = [], int(32 * width)
    stem = conv_bn_act(in_chans, c_in, 3, 2, 1, nn.ReLU)
    for spec in V1_STAGES:
        blocks = []
        for c_out, stride in spec:
            blocks.append(DepthwiseSeparable(c_in, int(c_out * width), stride))
            c_in = int(c_out * width)
        stages.append(nn.Sequential(*blocks))
    return MobileNet(stem, stages, nn.Identity(), nn.Linear(c_in, num_classes))


def mobilenet_v2(num_classes: int, in_chans: int = 3) -> MobileNet:
    """MobileNet v2, width 1.0, torchvision layout (3,504,872 parameters at 1000 classes)."""
    stages, c_in = [], 32
    for spec in V2_STAGES:
        blocks = []
        for t, c_out, n, s in spec:
            for i in range(n):
                blocks.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                c_in = c_out
        stages.append(nn.Sequential(*blocks))
    stem = conv_bn_act(in_chans, 32, 3, 2, 1, nn.ReLU6)
    head = conv_bn_act(320, 1280, 1, 1, 1, nn.ReLU6)
    fc = nn.Linear(1280, num_classes)
    model = MobileNet(stem, stages, head, nn.Sequential(nn.Dropout(0.2), fc))
    nn.init.normal_(fc.weight, 0, 0.01)  # torchvision's classifier init
    nn.init.zeros_(fc.bias)
    return model


for _name, _width, _count in (("mobilenet_v1", 1.0, "4.23M"), ("mobilenet_v1_0.7", 0.7, "2.30M")):
    register_backbone(
        _name,
        partial(mobilenet_v1, width=_width),
        family="imagenet",
        block="depthwise",
        stage_strides=STRIDES,
        reference=f"Howard et al. MobileNet {_width}-224 ({_count}, CBAM Table 5)",
        description=f"MobileNet v1 (width {_width})",
        rejected={
            "post": "MobileNet v1 blocks have no residual addition; use 'block' (after the block)",
            "identity": "MobileNet v1 blocks have no shortcut; use 'block' or 'pre'",
        },
    )
register_backbone(
    "mobilenetv2",
    mobilenet_v2,
    family="imagenet",
    block="inverted_residual",
    stage_strides=STRIDES,
    reference="torchvision mobilenet_v2 (3.50M)",
    description="MobileNet v2 (width 1.0)",
    no_shortcut_stages=(1,),
)
