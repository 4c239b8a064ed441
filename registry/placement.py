"""Where an attention module goes: the SE paper's integration designs (Hu et al., arXiv:1709.01507,
Sec. 6.5, Fig. 5 and Table 15) plus BAM/DAS-style modules after whole stages (arXiv:1807.06514).

Block-level placements (the module goes into every block of the chosen stages):

* ``block``: on the residual branch after its last BN, before the addition (SE/CBAM standard);
* ``pre``: at the start of the residual branch (SE-PRE; the shortcut still sees the block input);
* ``post``: after the addition and its ReLU (SE-POST);
* ``identity``: on the shortcut, after the projection where there is one (SE-Identity);
* ``after_3x3``: right after the 3x3 conv (+ BN + ReLU where the block has them there). A basic
  block has two 3x3 convs; the slot is after the first one, since after the second is ``block``.

``stage`` puts one module after each chosen stage (before the next stage's downsampling), following
the module's ``stage_rule`` ("all_but_last" for BAM, "all" for DAS; "all" when a module has none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, cast

from timm.models.resnet import BasicBlock, Bottleneck
from torch import Tensor, nn

from registry.backbones.base import SlottedBlock
from registry.core import STAGE_RULES, IncompatibleError, Registry

MakeModule = Callable[[int, int], nn.Module]  # (channels, stage number) -> module

PLACEMENTS = Registry(
    "placement",
    contract=(
        "insert(model, make: (channels, stage) -> nn.Module, stages: list[int]) -> modules inserted"
    ),
)


class AttentionSlot(nn.Module):
    """Holds one inserted attention module; ``placement`` records where it was put.

    Args:
        attn: the attention module (output shape == input shape).
        placement: the placement name that inserted it.
    """

    def __init__(self, attn: nn.Module, placement: str) -> None:
        super().__init__()
        self.attn = attn
        self.placement = placement

    def forward(self, x: Tensor) -> Tensor:
        out = self.attn(x)
        if not isinstance(out, Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise IncompatibleError(
                f"attention module {type(self.attn).__name__} at {self.placement!r} maps "
                f"{tuple(x.shape)} to {got}; an attention module must return its input's shape"
            )
        return out


@dataclass(frozen=True)
class Slot:
    """Where in a block a placement goes: next to attribute ``attr``, at width ``width``."""

    attr: str
    side: str  # "before" or "after" the module currently held by ``attr``
    width: str  # "in", "mid" or "out" channels of the block


OWN_SLOTS = {
    "pre": Slot("attn_pre", "before", "in"),
    "after_3x3": Slot("attn_mid", "after", "mid"),
    "block": Slot("attn_block", "after", "out"),
    "post": Slot("attn_post", "after", "out"),
    "identity": Slot("shortcut", "after", "out"),
}


def _timm_slots(post: str) -> dict[str, Slot]:
    # timm blocks: `se` ends the residual branch, `aa` (an identity without anti-aliasing) follows
    # the 3x3 + BN + ReLU (the first 3x3 of a BasicBlock), `downsample` is the shortcut.
    return {
        "pre": Slot("conv1", "before", "in"),
        "after_3x3": Slot("aa", "after", "mid"),
        "block": Slot("se", "after", "out"),
        "post": Slot(post, "after", "out"),
        "identity": Slot("downsample", "after", "out"),
    }


TIMM_SLOTS = {Bottleneck: _timm_slots("act3"), BasicBlock: _timm_slots("act2")}


class BlockInfo(NamedTuple):
    """A block with its slots and its channel widths ("in", "mid", "out")."""

    block: nn.Module
    slots: dict[str, Slot]
    widths: dict[str, int]


def _conv(module: nn.Module) -> nn.Conv2d:
    """The conv itself, also when a placement has wrapped it in a Sequential with a module."""
    if isinstance(module, nn.Sequential):
        return next(m for m in module if isinstance(m, nn.Conv2d))
    return cast(nn.Conv2d, module)


def block_info(block: nn.Module) -> BlockInfo | None:
    """The slots and channel widths of ``block``, or None when it is not a known block."""
    if isinstance(block, SlottedBlock):
        slots = {k: s for k, s in OWN_SLOTS.items() if hasattr(block, s.attr)}
        return BlockInfo(block, slots, block.widths)
    if isinstance(block, Bottleneck | BasicBlock):
        first = _conv(block.conv1)
        mid = block.conv2 if isinstance(block, Bottleneck) else first
        last = block.conv3 if isinstance(block, Bottleneck) else block.conv2
        widths = {"in": first.in_channels, "mid": mid.out_channels, "out": last.out_channels}
        return BlockInfo(block, TIMM_SLOTS[type(block)], widths)
    return None


def model_stages(model: nn.Module) -> dict[int, nn.Sequential]:
    """Stage number (SE-paper numbering, conv2_x = 2) -> the stage's ``nn.Sequential`` of blocks."""
    names = getattr(model, "stage_names", None)
    if names is None:
        raise TypeError(f"{type(model).__name__} was not built by the registry (no stage_names)")
    return {num: getattr(model, attr) for num, attr in names.items()}


def stage_blocks(stage: nn.Sequential) -> list[BlockInfo]:
    """The blocks of a stage (skipping an already inserted stage-level module)."""
    return [info for info in map(block_info, stage) if info is not None]


def _put(block: nn.Module, slot: Slot, module: nn.Module) -> None:
    old = getattr(block, slot.attr)
    if old is None or isinstance(old, nn.Identity):
        new = module
    elif slot.side == "before":
        new = nn.Sequential(module, old)
    else:
        new = nn.Sequential(old, module)
    setattr(block, slot.attr, new)


def insert_in_blocks(
    model: nn.Module, make: MakeModule, stages: list[int], *, placement: str
) -> int:
    """Insert ``make(width, stage)`` at ``placement`` in every block of ``stages``; returns how
    many."""
    count = 0
    for num, stage in model_stages(model).items():
        if num not in stages:
            continue
        for block, slots, widths in stage_blocks(stage):
            if placement not in slots:
                continue  # e.g. `identity` on a MobileNetV2 block without a shortcut
            slot = slots[placement]
            _put(block, slot, AttentionSlot(make(widths[slot.width], num), placement))
            count += 1
    return count


def insert_after_stages(model: nn.Module, make: MakeModule, stages: list[int]) -> int:
    """Append ``make(width, stage)`` to each stage in ``stages`` (BAM/DAS style); returns how
    many."""
    count = 0
    for num, stage in model_stages(model).items():
        if num in stages:
            width = stage_blocks(stage)[-1].widths["out"]
            stage.add_module("attn", AttentionSlot(make(width, num), "stage"))
            count += 1
    return count


def rule_stages(all_stages: list[int], rule: str) -> list[int]:
    """The stages a rule keeps: "all", "all_but_last" (BAM's ``stage_rule``, arXiv:1807.06514)
    or "all_but_first" (GC's ``default_stages``, c3-c5 on a ResNet, arXiv:1904.11492)."""
    if rule == "all":
        return list(all_stages)
    if rule == "all_but_last":
        return list(all_stages[:-1])
    if rule == "all_but_first":
        return list(all_stages[1:])
    raise IncompatibleError(f"unknown stage rule {rule!r}; expected one of {STAGE_RULES}")


_DESCRIPTIONS = {
    "block": "residual branch end, after the last BN, before the addition (SE/CBAM standard)",
    "pre": "start of the residual branch, before the block's first layer (SE-PRE)",
    "post": "after the addition and its ReLU (SE-POST)",
    "identity": "on the shortcut, in parallel to the residual branch (SE-Identity)",
    "after_3x3": "right after the (first) 3x3 conv + BN + ReLU inside the block (SE 3x3)",
}
for _name, _text in _DESCRIPTIONS.items():
    PLACEMENTS.register(
        _name, partial(insert_in_blocks, placement=_name), description=_text, level="block"
    )
PLACEMENTS.register(
    "stage",
    insert_after_stages,
    level="stage",
    description="one module after each stage, per the module's stage_rule (BAM, DAS)",
)
