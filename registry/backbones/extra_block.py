"""Capacity controls for BAM Table 1(c) (Park et al., arXiv:1807.06514): the backbone with one more
block of its own type where BAM would go, at the end of every stage but the last.

The table asks whether BAM's gain is just added depth: "+ ResBlock", "+ WideResBlock" and
"+ ResNeXtBlock" each add one block per bottleneck. The added block is a fresh copy of the
stage's last block (identity-shaped, since only a stage's first block changes width or stride),
so it is of the backbone's own type whatever the family. Its convs are drawn anew with the He
(fan-out) init the backbones use, and its BN constants are the copied block's, so its initial
state matches that of a block the backbone builds itself. This reproduces the paper's counts:
ResNet50 25.14M, WRN-28 (w=8) 24.88M, ResNeXt-29 8x64d 37.3M (tests/test_registry_pins.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from torch import nn

from registry.backbones.base import BACKBONES, register_backbone
from registry.placement import model_stages

# The paper's three backbones, and the CIFAR ResNets that stand in for them on synthetic data; their
# families register first (registry/backbones/__init__.py imports this file last).
EXTENDED = ("resnet50_cifar", "wrn28_8", "resnext29_8x64d", "resnet20", "resnet32", "resnet44")


def fresh_copy(block: nn.Module) -> nn.Module:
    """A copy of ``block`` with newly drawn conv weights (BN and biases keep their init values)."""
    new = copy.deepcopy(block)
    for m in new.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return new


def with_extra_blocks(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """``builder`` whose models get one extra block at the end of every stage but the last."""

    def build(num_classes: int, in_chans: int = 3) -> nn.Module:
        model = builder(num_classes=num_classes, in_chans=in_chans)
        stages = model_stages(model)
        for num in sorted(stages)[:-1]:
            stages[num].append(fresh_copy(stages[num][-1]))
        return model

    return build


def _register() -> None:
    derived = ("default_image_size", "placements", "description")
    for base in EXTENDED:
        meta = {k: v for k, v in BACKBONES.meta(base).items() if k not in derived}
        register_backbone(
            f"{base}_extra_block",
            with_extra_blocks(BACKBONES.get(base)),
            description=f"{base} + one block of its own type after every stage but the last "
            "(BAM Table 1c capacity control)",
            **meta,
        )


_register()
