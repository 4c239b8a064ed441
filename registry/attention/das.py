"""DAS: A Deformable Attention to Capture Salient Information in CNNs, arXiv:2311.12091.

No official code was released, so nothing here can be checked against the authors' own; the
layers follow the method section of the paper: depthwise 3x3 + pointwise 1x1 (C -> c') ->
InstanceNorm (affine) -> GELU -> 3x3 deformable conv (c' -> C; offsets from a zero-initialised 3x3
conv, so it starts as a plain conv) -> channel-wise LayerNorm -> sigmoid -> ``x * gate``.

The paper does not say how the deformable conv maps c' channels back to C. Two readings:

* ``deform="grouped"`` (default, ``das``): a grouped deformable conv, one group per hidden channel,
  each expanding to C / c' outputs. c' must divide C, so it is the largest divisor of C not above
  alpha * C (alpha = 0.2 on 256 channels gives c' = 32). This is the reading that fits the
  published sizes. The paper puts ResNet-50 + DAS at 1.39 M fewer parameters than GSoP-Net1
  (28.05 M), i.e. about 26.7 M (ours: 26.41 M), and 32 % fewer FLOPs, about 4.2 G (ours: 4.29
  GMACs); ResNet-18 + DAS at about 1.84 G, 2.26 G below ResNet-50 (ours: 1.84); MobileNetV2 + DAS
  at 0.35 G (ours: 0.33). The nearest divisor instead (c' = 64) gives 27.18 M and 4.43 G. The
  pins are in ``tests/test_registry_pins.py``.
* ``deform="dense"`` (``das_dense``): a dense deformable conv c' -> C with c' =
  ``max(1, round(alpha * C))``. On ResNet-50 it adds 11.3 M parameters and 1.7 GMACs (36.87 M,
  5.84 GMACs), ten times the published budget.

Project choices where the paper is silent: convs followed by a norm have no bias; the offset conv
has one (zero at init). Table 5's normalisation ablation is ``norm``; Table 4's well-defined design
variants are ``dsc`` / ``mixer``:

* (d) ``das_no_dsc``: no DSC bottleneck, the deformable conv maps C -> C directly;
* (e) ``das_no_deform``: no deformable conv, the DSC maps C -> C and feeds the LayerNorm;
* (f) ``das_dsc_gate``: a second DSC (c' -> C) in place of the deformable conv.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from timm.layers import LayerNorm2d
from torch import nn
from torchvision.ops import DeformConv2d

from registry.attention._base import ATTENTIONS, check_choice

NORMS = ("instance", "batch", "layer", "none")
MIXERS = ("deform", "dsc", "none")
DEFORMS = ("grouped", "dense")


def hidden_width(channels: int, alpha: float, deform: str) -> int:
    """c': ``max(1, round(alpha * C))`` for a dense deformable conv; for a grouped one, the largest
    divisor of C not above ``alpha * C`` (at least 1), so that every group has C / c' outputs."""
    if deform == "dense":
        return max(1, round(alpha * channels))
    fitting = [d for d in range(1, channels + 1) if channels % d == 0 and d <= alpha * channels]
    return max(fitting, default=1)


def _norm(kind: str, channels: int) -> nn.Module:
    """The normalisation after the DSC (DAS Table 5)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return LayerNorm2d(channels)
    return nn.Identity()


def _dsc(in_channels: int, out_channels: int) -> nn.Sequential:
    """Depthwise separable conv: depthwise 3x3 then pointwise 1x1, no biases."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
    )


class DeformableConv(nn.Module):
    """3x3 deformable conv whose offsets come from a zero-initialised 3x3 conv on the same input.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        groups: conv groups (``in_channels`` for one group per input channel; 1 = dense).
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int = 1) -> None:
        super().__init__()
        self.offset = nn.Conv2d(in_channels, 2 * 3 * 3, 3, padding=1)
        for param in self.offset.parameters():
            nn.init.zeros_(param)
        self.conv = DeformConv2d(in_channels, out_channels, 3, padding=1, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Deformable 3x3 conv of ``x`` with offsets predicted from ``x``."""
        offset = self.offset(x)
        # torchvision's deformable kernels lack bfloat16 (on CPU at least): under autocast, run
        # this one op in the parameters' own precision.
        if not torch.amp.is_autocast_available(x.device.type):  # the meta device of a trial
            return self.conv(x, offset)
        dtype = self.conv.weight.dtype
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.conv(x.to(dtype), offset.to(dtype))


class DeformableAttentionGate(nn.Module):
    """DAS gate: ``x * sigmoid(LayerNorm(mixer(GELU(norm(DSC(x))))))``.

    Args:
        channels: input (and output) channels C.
        alpha: bottleneck ratio; hidden width c' from ``hidden_width`` (project default 0.2).
        norm: normalisation after the DSC, "instance" (paper), "batch", "layer" or "none".
        dsc: keep the DSC bottleneck (Table 4d drops it).
        mixer: the conv that maps back to C, "deform" (paper), "dsc" (Table 4f) or "none"
            (Table 4e; the DSC then maps C -> C itself).
        deform: "grouped" (one group per input channel of the deformable conv; default) or
            "dense" (see the module docstring).
    """

    def __init__(
        self,
        channels: int,
        alpha: float = 0.2,
        norm: str = "instance",
        dsc: bool = True,
        mixer: str = "deform",
        deform: str = "grouped",
    ) -> None:
        super().__init__()
        check_choice("norm", norm, NORMS)
        check_choice("mixer", mixer, MIXERS)
        check_choice("deform", deform, DEFORMS)
        if not dsc and mixer == "none":
            raise ValueError("DAS needs dsc=True or a mixer other than 'none'")
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        hidden = hidden_width(channels, alpha, deform) if mixer != "none" else channels
        width = hidden if dsc else channels
        self.reduce = (
            nn.Sequential(_dsc(channels, hidden), _norm(norm, hidden), nn.GELU())
            if dsc
            else nn.Identity()
        )
        self.mix: nn.Module
        if mixer == "deform":
            self.mix = DeformableConv(width, channels, width if deform == "grouped" else 1)
        elif mixer == "dsc":
            self.mix = _dsc(width, channels)
        else:
            self.mix = nn.Identity()
        self.norm_out = LayerNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate ``x`` element-wise; output shape equals input shape."""
        gate = torch.sigmoid(self.norm_out(self.mix(self.reduce(x))))
        # the deformable conv runs in fp32 under autocast: an fp32 gate would promote the stream
        return x * gate.to(x.dtype)


_META: dict[str, Any] = {"default_placement": "stage", "spatial": True, "stage_rule": "all"}
ATTENTIONS.register("das", DeformableAttentionGate, **_META)
ATTENTIONS.register(
    "das_dense",
    partial(DeformableAttentionGate, deform="dense"),
    description="DAS with a dense deformable conv c' -> C (ten times the published parameters)",
    **_META,
)
ATTENTIONS.register(
    "das_no_dsc",
    partial(DeformableAttentionGate, dsc=False),
    description="DAS without the DSC bottleneck: deformable conv C -> C only (DAS Table 4d)",
    **_META,
)
ATTENTIONS.register(
    "das_no_deform",
    partial(DeformableAttentionGate, mixer="none"),
    description="DAS without the deformable conv: DSC C -> C only (DAS Table 4e)",
    **_META,
)
ATTENTIONS.register(
    "das_dsc_gate",
    partial(DeformableAttentionGate, mixer="dsc"),
    description="DAS with a depthwise separable conv instead of the deformable conv (DAS Table 4f)",
    **_META,
)
