"""Squeeze-and-Excitation Networks, arXiv:1709.01507 (Hu et al., TPAMI version v4).

``SqueezeExcite`` has the layers of timm's ``SEModule`` (1x1 conv C -> C/r, ReLU, 1x1 conv C/r -> C,
gate) with two deliberate differences:

* the hidden width is exactly ``max(1, C // r)``; timm rounds it to a multiple of 8, which would
  make r = 8, 16, 32 the same model on 64 channels;
* the squeeze (avg | max, Table 11) and the excitation gate (sigmoid | tanh | relu, Table 12) are
  choices, for the paper's ablations.

Bias: the released Caffe models have FC biases, the Sec. 6 ablations dropped them. The default is
``bias=True`` because it reproduces the published parameter counts: SE-ResNet-50 28.09M and
SE-ResNet-101 49.33M (CBAM Table 4); without biases they would be 28.07M and 49.29M.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from registry.attention._base import ATTENTIONS, check_choice, hidden_channels

SQUEEZES = ("avg", "max")
EXCITATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


class SqueezeExcite(nn.Module):
    """SE block: rescale each channel by a gate computed from its global descriptor.

    Args:
        channels: input (and output) channels C.
        reduction: bottleneck ratio r; the hidden width is ``max(1, C // r)``.
        squeeze: global pooling of the descriptor, "avg" (paper default) or "max".
        excitation: gate non-linearity, "sigmoid" (paper default), "tanh" or "relu".
        bias: whether the two FC (1x1 conv) layers have biases.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        squeeze: str = "avg",
        excitation: str = "sigmoid",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.squeeze = check_choice("squeeze", squeeze, SQUEEZES)
        gate = EXCITATIONS[check_choice("excitation", excitation, EXCITATIONS)]
        hidden = hidden_channels(channels, reduction)
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, bias=bias)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1, bias=bias)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale ``x`` channel-wise; output shape equals input shape."""
        if self.squeeze == "avg":
            z = x.mean(dim=(2, 3), keepdim=True)
        else:
            z = x.amax(dim=(2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(z))))


_SE_META: dict[str, Any] = {"default_placement": "block", "spatial": False}
ATTENTIONS.register("se", SqueezeExcite, **_SE_META)
ATTENTIONS.register(
    "se_max",
    partial(SqueezeExcite, squeeze="max"),
    description="SE with global max pooling as the squeeze (SE Table 11)",
    **_SE_META,
)
ATTENTIONS.register(
    "se_tanh",
    partial(SqueezeExcite, excitation="tanh"),
    description="SE with a tanh excitation gate (SE Table 12)",
    **_SE_META,
)
ATTENTIONS.register(
    "se_relu",
    partial(SqueezeExcite, excitation="relu"),
    description="SE with a ReLU excitation gate (SE Table 12)",
    **_SE_META,
)
