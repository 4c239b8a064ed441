"""The attention registry object and the small helpers every family file shares.

Kept apart from ``__init__`` so family files can import it without a circular import.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from registry.core import STAGE_RULES, RegistrationError, Registry, did_you_mean

META_DEFAULTS: dict[str, Any] = {  # registration keywords of an attention module, and defaults
    "default_placement": "block",  # the placement its paper uses
    "spatial": False,  # needs a map larger than 1x1
    "default_stages": "all",  # the stages used when a grid gives none
    "stage_rule": "all",  # the stages a `stage` placement keeps
    "per_stage": {},  # list-valued hyper-parameter -> keyword of one stage's module
}


def check_entry(name: str, ctor: Callable[..., Any], meta: dict[str, Any]) -> dict[str, Any]:
    """``ATTENTIONS``' contract, checked at registration: known keywords with valid values;
    returns the metadata, defaults filled (``registry.hparams.check_constructors`` checks the
    constructor's signature).

    Raises:
        RegistrationError: the first breach, naming the entry and the fix.
    """
    where = f"attention {name!r}"
    for key in meta:
        if key not in META_DEFAULTS:
            hint = did_you_mean(key, list(META_DEFAULTS))
            raise RegistrationError(f"{where}: unknown registration keyword {key!r}{hint}")
    meta = META_DEFAULTS | meta
    choices = {
        "default_placement": ("block", "stage"),
        "spatial": [True, False],
        "default_stages": STAGE_RULES,
        "stage_rule": STAGE_RULES,
    }
    for key, allowed in choices.items():
        if meta[key] not in allowed:
            raise RegistrationError(f"{where}: {key} = {meta[key]!r} must be one of {allowed}")
    if not isinstance(meta["per_stage"], dict):
        raise RegistrationError(f"{where}: per_stage must map a list hyper-parameter to a keyword")
    return meta


ATTENTIONS = Registry(
    "attention",
    contract=(
        "cls(channels: int, **hparams) -> nn.Module | None; the module maps (N, C, H, W) "
        "to the same shape; hparams are explicit keywords with defaults (reduction, alpha, "
        "dilation, kernel_size, heads, ...); None means insert nothing. Meta: default_placement "
        "('block' | 'stage'), spatial (needs a map larger than 1x1), default_stages (the "
        "stages used when none are given: 'all' | 'all_but_first'), stage_rule for stage "
        "modules ('all' | 'all_but_last'), per_stage (list hparam -> one stage's keyword)."
    ),
    check=check_entry,
    unknown_hint=(
        "; a module of your own is known once imported: name it in the grid's "
        "[study] plugins = ['mylab.attention'] or in BENCH_PLUGINS=mylab.attention"
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
