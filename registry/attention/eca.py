"""ECA-Net: Efficient Channel Attention for Deep CNNs, arXiv:1910.03151 (Wang et al., CVPR 2020).

Built on timm's ``EcaModule`` (global average pool, 1-D conv of size k across channels without
bias, sigmoid). The adaptive kernel size is computed here with the paper's formula
``k = |log2(C) / gamma + b / gamma|_odd``; timm additionally clamps it to at least 3, which only
differs for C < 8.

The released ECA-Net models (BangguWu/ECANet, ``eca_resnet*(k_size=...)``) do not use the formula:
they set one kernel size per stage, ``RELEASED_KERNEL_SIZES``. A grid reproduces them with
``kernel_sizes = [3, 5, 5, 7]`` (one entry per backbone stage; ``registry.build_model`` gives each
stage's modules their entry); the formula gives 5/5/5/7 on ResNet-50.
"""

from __future__ import annotations

import math

from timm.layers import EcaModule

from registry.attention._base import ATTENTIONS

# k per stage (conv2_x .. conv5_x) of the released ImageNet models
RELEASED_KERNEL_SIZES = {
    "resnet18": (3, 5, 7, 7),
    "resnet34": (3, 3, 5, 7),
    "resnet50": (3, 5, 5, 7),
    "resnet101": (3, 3, 5, 7),
    "resnet152": (3, 3, 5, 7),
}


def eca_kernel_size(channels: int, gamma: float = 2, beta: float = 1) -> int:
    """The paper's adaptive kernel size: ``int((log2 C + b) / gamma)``, made odd by adding 1.

    Args:
        channels: number of channels C.
        gamma: slope of the channel-to-kernel mapping (paper: 2).
        beta: offset of the mapping (paper: 1).
    """
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 else t + 1


class EfficientChannelAttention(EcaModule):
    """ECA: channel gate from a 1-D conv over the pooled channel descriptor.

    Args:
        channels: input (and output) channels C.
        kernel_size: odd 1-D kernel size; ``None`` (default) picks it from C with gamma and beta.
        gamma: slope of the adaptive kernel size (paper: 2).
        beta: offset of the adaptive kernel size (paper: 1).
        kernel_sizes: one kernel size per backbone stage, resolved to ``kernel_size`` by
            ``registry.build_model``; empty (default) = ``kernel_size``.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int | None = None,
        gamma: float = 2,
        beta: float = 1,
        kernel_sizes: tuple[int, ...] = (),
    ) -> None:
        if kernel_sizes:
            raise ValueError(
                "kernel_sizes is per stage: build the network with registry.build_model, or "
                "pass one kernel_size"
            )
        if kernel_size is None:
            kernel_size = eca_kernel_size(channels, gamma, beta)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        # channels=None makes timm use kernel_size as given instead of its clamped formula.
        super().__init__(channels=None, kernel_size=kernel_size)


ATTENTIONS.register(
    "eca",
    EfficientChannelAttention,
    default_placement="block",
    spatial=False,
    per_stage={"kernel_sizes": "kernel_size"},
)
