"""ImageNet-layout ResNets built on timm's ``ResNet``: He et al., arXiv:1512.03385; ResNeXt, Xie
et al., arXiv:1611.05431; the WideResNet-18 of CBAM (Woo et al., arXiv:1807.06521, Table 4).

Initialisation: every BN starts at gamma = 1, as in the official SE, CBAM, BAM, ECA and triplet
training codes. timm's default (``zero_init_last=True``, the last BN of every residual branch at
gamma = 0, so that a block-level attention module starts on an all-zero input) is the explicit
option ``build_model(..., zero_init_last=True)`` (a grid's ``[train] zero_init_last = true``).

Default layout (timm/torchvision, "v1.5"): a bottleneck's stride sits on its 3x3 conv. The ``_v1``
names move it to the first 1x1 conv, the layout the SE/CBAM/BAM papers count FLOPs on: same
parameters, fewer MACs. The ``_cifar`` names are the BAM paper's CIFAR-100 ResNets
(arXiv:1807.06514, Table 3; Jongchan/attention-module ``ResidualNet('CIFAR100', ...)``): the same
four stages after a 3x3 stride-1 stem and no max-pool, with the "v1" strides, because the paper's
GFLOPs (1.22 for ResNet-50, 1.25 with BAM) are those of that layout (the 3x3 layout gives 1.30).
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from registry.backbones.base import (
    IMAGENET_ON_CIFAR_STRIDES,
    IMAGENET_STRIDES,
    register_backbone,
    set_stages,
)

LAYERS = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}
STAGES = ["layer1", "layer2", "layer3", "layer4"]


def stride_on_first_1x1(model: ResNet) -> ResNet:
    """Move each strided bottleneck's stride from the 3x3 to the first 1x1 (the "v1" layout)."""
    for block in model.modules():
        if isinstance(block, Bottleneck) and block.conv2.stride != (1, 1):
            block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)
    return model


def cifar_stem(model: ResNet, in_chans: int) -> ResNet:
    """Replace the 7x7/2 stem and max-pool by a 3x3 stride-1 conv (32 px inputs)."""
    stem = nn.Conv2d(in_chans, cast(nn.BatchNorm2d, model.bn1).num_features, 3, 1, 1, bias=False)
    nn.init.kaiming_normal_(stem.weight, mode="fan_out", nonlinearity="relu")
    # setattr: timm annotates these attributes with their default types
    setattr(model, "conv1", stem)  # noqa: B010
    setattr(model, "maxpool", nn.Identity())  # noqa: B010
    return model


def timm_resnet(
    depth: int,
    num_classes: int,
    in_chans: int = 3,
    *,
    layout: str = "v1.5",
    widen: float = 1.0,
    cardinality: int = 1,
    base_width: int = 64,
) -> ResNet:
    """A timm ``ResNet`` of ``depth`` with ``stage_names`` set.

    Args:
        depth: 18, 34, 50, 101 or 152.
        num_classes: classifier outputs.
        in_chans: input channels.
        layout: "v1.5" (stride on the 3x3), "v1" (stride on the first 1x1) or "cifar" (v1 with a
            3x3 stride-1 stem and no max-pool).
        widen: stage-width multiplier (CBAM's WideResNet-18); the 64-channel stem is kept.
        cardinality: groups of the 3x3 conv (ResNeXt).
        base_width: per-group width of the 3x3 conv (ResNeXt).
    """
    block: Any = BasicBlock if depth < 50 else Bottleneck  # timm annotates a class as an instance
    channels = tuple(int(c * widen) for c in (64, 128, 256, 512))
    model = ResNet(
        block,
        tuple(LAYERS[depth]),
        num_classes=num_classes,
        in_chans=in_chans,
        channels=channels,
        cardinality=cardinality,
        base_width=base_width,
        zero_init_last=False,  # gamma = 1, as the SE/CBAM/BAM/ECA/triplet training codes start
    )
    if layout in ("v1", "cifar"):
        stride_on_first_1x1(model)
    if layout == "cifar":
        cifar_stem(model, in_chans)
    return set_stages(model, STAGES)


def _register_one(name: str, depth: int, description: str, layout: str = "v1.5", **kw: Any) -> None:
    basic = depth < 50
    register_backbone(
        name,
        partial(timm_resnet, depth, layout=layout, **kw),
        family="cifar" if layout == "cifar" else "imagenet",
        block="basic" if basic else "bottleneck",
        stage_strides=IMAGENET_ON_CIFAR_STRIDES if layout == "cifar" else IMAGENET_STRIDES,
        reference="timm ResNet" + (" (v1 strides)" if layout == "v1" else ""),
        description=description,
    )


def _register() -> None:
    for depth in LAYERS:
        _register_one(f"resnet{depth}", depth, f"ResNet-{depth} (timm/torchvision layout)")
    for depth in (50, 101, 152):
        _register_one(f"resnet{depth}_v1", depth, f"ResNet-{depth}, stride on the first 1x1", "v1")
    for depth in (18, 50, 101):
        _register_one(
            f"resnet{depth}_cifar",
            depth,
            f"ResNet-{depth} with a 3x3 stride-1 stem (BAM CIFAR)",
            "cifar",
        )
    for depth in (50, 101):
        _register_one(
            f"resnext{depth}_32x4d", depth, f"ResNeXt-{depth} 32x4d", cardinality=32, base_width=4
        )
    for widen in (1.5, 2.0):
        _register_one(
            f"wide_resnet18_{widen}", 18, f"CBAM WideResNet-18, stage widths x{widen}", widen=widen
        )


_register()
