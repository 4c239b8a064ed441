"""``build_model`` and ``check_combination``: the one public way to get a network from the registry.

``check_combination`` validates a backbone x attention x placement cell from registry metadata only
(stage strides, supported placements, the module's hyper-parameters: ``registry.hparams``), so a
grid can reject impossible cells before anything is built or trained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from registry.attention import ATTENTIONS
from registry.backbones import BACKBONES
from registry.core import IncompatibleError
from registry.hparams import check_per_stage, resolve_hparams, stage_hparams
from registry.placement import PLACEMENTS, AttentionSlot, rule_stages


def default_placement(attention: str) -> str:
    """The placement an attention module's paper uses ("block" or "stage")."""
    return str(ATTENTIONS.meta(attention)["default_placement"])


def target_stages(
    backbone: str, attention: str, placement: str, stages: list[int] | None = None
) -> list[int]:
    """The stages that receive a module: ``stages``, by default the module's ``default_stages``
    rule ("all" unless it says otherwise: GC's is "all_but_first"), cut by its ``stage_rule`` at
    placement ``stage``.

    Raises:
        IncompatibleError: unknown stage numbers, or nothing left to insert into.
    """
    available = sorted(BACKBONES.meta(backbone)["stage_strides"])
    meta = ATTENTIONS.meta(attention)
    if stages is not None:
        unknown = sorted(set(stages) - set(available))
        if unknown:
            raise IncompatibleError(
                f"{backbone} has no stage {unknown} (SE-paper numbering, conv2_x = 2); "
                f"choose stages from {available}"
            )
    if stages is None:
        chosen = rule_stages(available, meta.get("default_stages", "all"))
    else:
        chosen = sorted(stages)
    if placement == "stage":
        kept = rule_stages(available, meta.get("stage_rule", "all"))
        chosen = [s for s in chosen if s in kept]
    if not chosen:
        raise IncompatibleError(
            f"{attention} at {placement!r} on {backbone} with stages={stages} inserts nothing; "
            f"choose stages from {chosen or available}"
        )
    return chosen


def _check_placement(backbone: str, placement: str, stages: list[int]) -> None:
    meta = BACKBONES.meta(backbone)
    reason = meta["rejected"].get(placement)
    if reason:
        raise IncompatibleError(f"placement {placement!r} on {backbone}: {reason}")
    # `identity` and `post` need a shortcut and an addition, which some stages lack (MobileNetV2)
    needs_shortcut = placement in ("identity", "post")
    without = set(meta.get("no_shortcut_stages", ())) if needs_shortcut else set()
    if without and set(stages) <= without:
        raise IncompatibleError(
            f"no block of {backbone} stages {stages} has a shortcut for {placement!r}; "
            f"choose other stages (these have none: {sorted(without)})"
        )


def _check_spatial(backbone: str, attention: str, stages: list[int], image_size: int) -> None:
    if not ATTENTIONS.meta(attention).get("spatial", False):
        return
    strides = BACKBONES.meta(backbone)["stage_strides"]
    flat = [s for s in stages if -(-image_size // strides[s]) <= 1]
    if flat:
        ok = [s for s in stages if s not in flat]
        raise IncompatibleError(
            f"{attention} needs a map larger than 1x1, but stage(s) {flat} of {backbone} are 1x1 "
            f"at {image_size} px; restrict stages (e.g. stages={ok}), use a larger image_size, "
            f"or a CIFAR-stem backbone"
        )


def check_combination(
    backbone: str,
    attention: str = "none",
    placement: str | None = None,
    *,
    stages: list[int] | None = None,
    image_size: int | None = None,
    **hparams: Any,
) -> None:
    """Validate one cell from metadata alone (never builds a model).

    Args:
        backbone: backbone name.
        attention: attention name; "none" ignores placement, stages and hparams.
        placement: placement name; None means the attention's default placement.
        stages: restrict the placement to these stages (SE-paper numbering, conv2_x = 2).
        image_size: input size in px; None means the backbone's default (32 or 224).
        **hparams: the attention's hyper-parameters (``reduction`` among them); None = default.

    Raises:
        UnknownNameError: a backbone, attention or placement name is not registered.
        IncompatibleError: the parts exist but cannot be combined; the message says how to fix it.
    """
    meta = BACKBONES.meta(backbone)
    ATTENTIONS.get(attention)
    if placement is not None:
        PLACEMENTS.get(placement)
    if attention == "none":
        return
    placement = placement or default_placement(attention)
    chosen = target_stages(backbone, attention, placement, stages)
    _check_placement(backbone, placement, chosen)
    _check_spatial(backbone, attention, chosen, image_size or meta["default_image_size"])
    check_per_stage(
        attention, resolve_hparams(attention, hparams), len(meta["stage_strides"]), backbone
    )


def build_model(
    backbone: str,
    attention: str = "none",
    placement: str | None = None,
    *,
    num_classes: int,
    stages: list[int] | None = None,
    in_chans: int = 3,
    zero_init_last: bool = False,
    **hparams: Any,
) -> nn.Module:
    """Build ``backbone`` with ``attention`` inserted at ``placement``.

    Args:
        backbone: backbone name (``BACKBONES.names()``).
        attention: attention name (``ATTENTIONS.names()``); "none" builds the plain backbone.
        placement: placement name (``PLACEMENTS.names()``); None means the attention's default.
        num_classes: classifier outputs.
        stages: restrict the placement to these stages (SE-paper numbering, conv2_x = 2).
        in_chans: input channels (1 for MNIST).
        zero_init_last: start the last BN of every residual branch at gamma = 0 (timm's default,
            Goyal et al. 2017); ``False`` keeps gamma = 1, the init of the attention papers' codes.
        **hparams: the attention's hyper-parameters (``reduction=16``, ``heads=8``, ...); the
            unset ones (or None) take the module's defaults (``registry.resolve_hparams``).

    Returns:
        The model; ``attention_modules(model)`` lists what was inserted. The 1x1-map check assumes
        the backbone's default input size; for other sizes call ``check_combination(...,
        image_size=...)`` first (the grid does).

    Raises:
        UnknownNameError: an unknown name (with "did you mean" suggestions).
        IncompatibleError: an impossible combination, with the reason.
    """
    check_combination(backbone, attention, placement, stages=stages, **hparams)
    resolved = resolve_hparams(attention, hparams)
    model = BACKBONES.get(backbone)(num_classes=num_classes, in_chans=in_chans)
    if zero_init_last:
        zero_init_last_bn(model, backbone)
    if attention == "none":
        return model
    placement = placement or default_placement(attention)
    ctor = ATTENTIONS.get(attention)
    insert = PLACEMENTS.get(placement)
    chosen = target_stages(backbone, attention, placement, stages)
    order = sorted(BACKBONES.meta(backbone)["stage_strides"])

    def make(channels: int, stage: int) -> nn.Module:
        return ctor(channels, **stage_hparams(attention, resolved, order.index(stage)))

    if not insert(model, make, chosen):
        raise IncompatibleError(f"{placement!r} found no slot in {backbone} stages {chosen}")
    return model


def zero_init_last_bn(model: nn.Module, backbone: str) -> None:
    """Set gamma = 0 on the last BN of every residual branch of ``model`` (the blocks'
    ``zero_init_last``, timm's convention).

    Raises:
        IncompatibleError: no block of ``backbone`` ends its residual branch with a BN (the
            pre-activation networks end with a conv).
    """
    found = (getattr(m, "zero_init_last", None) for m in model.modules())
    inits: list[Callable[[], None]] = [init for init in found if callable(init)]
    if not inits:
        raise IncompatibleError(
            f"zero_init_last: no residual branch of {backbone} ends with a BN (pre-activation "
            "blocks end with a conv); set zero_init_last = false"
        )
    for init in inits:
        init()


def attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every attention module a placement inserted, as (qualified name, module)."""
    return [
        (f"{name}.attn", slot.attn)
        for name, slot in model.named_modules()
        if isinstance(slot, AttentionSlot)
    ]
