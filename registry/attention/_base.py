"""The attention registry object and the small helpers every family file shares.

Kept apart from ``__init__`` so family files can import it without a circular import.
"""

from __future__ import annotations

from collections.abc import Collection

from registry.core import Registry

ATTENTIONS = Registry(
    "attention",
    contract=(
        "cls(channels: int, **hparams) -> nn.Module | None; the module maps (N, C, H, W) "
        "to the same shape; hparams are explicit keywords (reduction, alpha, dilation, "
        "kernel_size, heads, ...); None means insert nothing. Meta: default_placement "
        "('block' | 'stage'), spatial (needs a map larger than 1x1), default_stages (the "
        "stages used when none are given: 'all' | 'all_but_first'), stage_rule for stage "
        "modules ('all' | 'all_but_last')."
    ),
)


def hidden_channels(channels: int, reduction: int) -> int:
    """Bottleneck width ``max(1, channels // reduction)``, never rounded to a multiple of 8.

    timm's ``make_divisible`` would round 64 // 8, 64 // 16 and 64 // 32 all up to 8, which makes a
    reduction-ratio sweep on small networks a sweep over one model.
    """
    if reduction < 1:
        raise ValueError(f"reduction must be >= 1, got {reduction}")
    return max(1, channels // reduction)


def check_choice(name: str, value: str, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``; otherwise a ValueError that lists them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


@ATTENTIONS.register("none", default_placement="block", spatial=False)
def no_attention(channels: int) -> None:
    """No attention: the baseline network, nothing is inserted."""
    del channels  # part of the contract, unused: there is no module to size
    return None
