"""The backbone registry object and what every backbone file shares.

A backbone is ``builder(num_classes: int, in_chans: int) -> nn.Module``. The built model carries
``stage_names`` (SE-paper stage number -> attribute holding that stage's ``nn.Sequential`` of
blocks), so a placement can find its slots without knowing the architecture. The registry
metadata describes the same stages without building anything, so ``check_combination`` stays
cheap at 224 px.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from registry.core import Registry

BACKBONES = Registry(
    "backbone",
    contract=(
        "builder(num_classes: int, in_chans: int) -> nn.Module with a `stage_names` dict "
        "(stage number -> attribute of an nn.Sequential of blocks). Meta: family "
        "('cifar' | 'imagenet'), block, "
        "default_image_size, stage_strides (stage -> output stride), placements (supported), "
        "rejected (placement -> reason), reference (where the parameter count comes from)."
    ),
)

RESIDUAL_PLACEMENTS = ("block", "pre", "post", "identity", "after_3x3", "stage")

# Output stride of each stage, numbered as in the SE paper (conv2_x = stage 2).
IMAGENET_STRIDES = {2: 4, 3: 8, 4: 16, 5: 32}
CIFAR_STRIDES = {2: 1, 3: 2, 4: 4}
IMAGENET_ON_CIFAR_STRIDES = {2: 1, 3: 2, 4: 4, 5: 8}  # 3x3 stride-1 stem, no max-pool


def register_backbone(
    name: str,
    builder: Callable[..., nn.Module],
    *,
    family: str,
    block: str,
    stage_strides: dict[int, int],
    reference: str,
    description: str,
    rejected: dict[str, str] | None = None,
    **extra: Any,
) -> None:
    """Register ``builder`` under ``name`` with the metadata ``check_combination`` relies on.

    Args:
        name: public backbone name.
        builder: ``builder(num_classes=..., in_chans=...) -> nn.Module`` with ``stage_names``.
        family: "cifar" (32 px default) or "imagenet" (224 px default).
        block: the block type ("basic", "bottleneck", ...).
        stage_strides: stage number -> output stride of that stage.
        reference: the implementation or paper whose parameter count the backbone reproduces.
        description: one line for ``bench list``.
        rejected: placement -> reason, for placements that make no sense on this backbone.
        **extra: further metadata (e.g. ``no_shortcut_stages``).
    """
    rejected = dict(rejected or {})
    BACKBONES.register(
        name,
        builder,
        description=description,
        family=family,
        block=block,
        default_image_size=32 if family == "cifar" else 224,
        stage_strides=dict(stage_strides),
        placements=tuple(p for p in RESIDUAL_PLACEMENTS if p not in rejected),
        rejected=rejected,
        reference=reference,
        **extra,
    )


ModelT = TypeVar("ModelT", bound=nn.Module)


def set_stages(model: ModelT, names: list[str], first: int = 2) -> ModelT:
    """Record on ``model`` which attributes are its stages, numbered from ``first``."""
    # setattr: a plain dict attribute, not a submodule (nn.Module's typed __setattr__ would object)
    setattr(model, "stage_names", {first + i: attr for i, attr in enumerate(names)})  # noqa: B010
    return model


class SlottedBlock(nn.Module):
    """A block with named, empty insertion points for attention modules.

    ``attn_pre`` starts the residual branch (the shortcut still sees the block input), ``attn_mid``
    follows the 3x3 conv, ``attn_block`` ends the residual branch before the addition, ``shortcut``
    is the identity path and ``attn_post`` follows the addition: the SE paper's Fig. 5 positions
    (arXiv:1709.01507). Empty slots are ``nn.Identity``, so they add no parameters.

    Args:
        in_channels: channels entering the block (the ``pre`` slot width).
        mid_channels: channels after the 3x3 conv (the ``after_3x3`` slot width); None when the
            block has no 3x3 conv of its own (no ``attn_mid`` slot).
        out_channels: channels leaving the block (``block``, ``post`` and ``identity`` width).
        residual: whether the block has a shortcut and an addition (``shortcut``, ``attn_post``).
    """

    def __init__(
        self, in_channels: int, mid_channels: int | None, out_channels: int, residual: bool = True
    ) -> None:
        super().__init__()
        self.widths = {"in": in_channels, "mid": mid_channels or 0, "out": out_channels}
        self.attn_pre: nn.Module = nn.Identity()
        if mid_channels is not None:
            self.attn_mid: nn.Module = nn.Identity()
        self.attn_block: nn.Module = nn.Identity()
        if residual:
            self.attn_post: nn.Module = nn.Identity()
            self.shortcut: nn.Module = nn.Identity()


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias, 'same' padding) followed by BatchNorm."""
    conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out))


def init_kaiming(model: nn.Module) -> nn.Module:
    """He (fan-out) init for convs, unit BN: the init of the reference CIFAR implementations."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model
