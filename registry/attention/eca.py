"""ECA-Net: Efficient Channel Attention for Deep CNNs, arXiv:1910.03151 (Wang et al., CVPR 2020).

Built on timm's ``EcaModule`` (global average pool, 1-D conv of size k across channels without
bias, sigmoid). The adaptive kernel size is computed here with the paper's formula
``k = |log2(C) / gamma + b / gamma|_odd``; timm additionally clamps it to at least 3, which only
differs for C < 8.
"""

from __future__ import annotations

import math

from timm.layers import EcaModule

from registry.attention._base import ATTENTIONS


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
    """

    def __init__(
        self, channels: int, kernel_size: int | None = None, gamma: float = 2, beta: float = 1
    ) -> None:
        if kernel_size is None:
            kernel_size = eca_kernel_size(channels, gamma, beta)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        # channels=None makes timm use kernel_size as given instead of its clamped formula.
        super().__init__(channels=None, kernel_size=kernel_size)


ATTENTIONS.register("eca", EfficientChannelAttention, default_placement="block", spatial=False)
