"""Where an attention module goes: the SE paper's integration designs (Hu et al., arXiv:1709.01507,
Sec. 6.5, Fig. 5 and Table 15) plus BAM/DAS-style modules after whole stages (arXiv:1807.06514).

Block-level placements (the module goes into every block of the chosen stages):

* ``block``: on the residual branch after its last BN, before the addition (SE/CBAM standard);
* ``pre``: at the start of the residual branch (SE-PRE; the shortcut still sees the block input);
* ``post``: after the addition and its ReLU (SE-POST);
* ``identity``: on the shortcut, after the projection where there is one (SE-Identity);
* ``after_3x3``: right after the 3x3 conv (+ BN + ReLU where the block has them there). A basic block
  has two 3x3 convs; the slot is after the first one, since after the second is ``block``.

``stage`` puts one module after each chosen stage (before the next stage's downsampling), following
the module's ``stage_rule`` ("all_but_last" for BAM, "all" for DAS; "all" when a module has none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from timm.models.resnet import BasicBlock, Bottleneck
from torch import Tensor, nn

from registry.backbones.base import SlottedBlock
from registry.core import IncompatibleError, Registry

MakeModule = Callable[[int], nn.Module]

PLACEMENTS = Registry(
    "placement",
    contract="insert(model, make: channels -> nn.Module, stages: list[int]) -> modules inserted",
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
        return self.attn(x)


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

# timm blocks: `se` is the branch-end slot, `aa` (identity without anti-aliasing) follows the
# 3x3 + BN + ReLU (the first 3x3 in a BasicBlock), `downsample` is the shortcut.
TIMM_SLOTS = {
    Bottleneck: {**OWN_SLOTS, "pre": Slot("conv1", "before", "in"), "after_3x3": Slot("aa", "after", "mid"),
                 "block": Slot("se", "after", "out"), "post": Slot("act3", "after", "out"),
                 "identity": Slot("downsample", "after", "out")},
    BasicBlock: {**OWN_SLOTS, "pre": Slot("conv1", "before", "in"), "after_3x3": Slot("aa", "after", "mid"),
                 "block": Slot("se", "after", "out"), "post": Slot("act2", "after", "out"),
                 "identity": Slot("downsample", "after", "out")},
}


def block_slots(block: nn.Module) -> tuple[dict[str, Slot], dict[str, int]] | None:
    """The slots and channel widths of ``block``, or None when it is not a known block."""
    if isinstance(block, SlottedBlock):
        return {k: s for k, s in OWN_SLOTS.items() if hasattr(block, s.attr)}, block.widths
    if isinstance(block, Bottleneck):
        widths = {"in": block.conv1.in_channels, "mid": block.conv2.out_channels,
                  "out": block.conv3.out_channels}
        return TIMM_SLOTS[Bottleneck], widths
    if isinstance(block, BasicBlock):
        widths = {"in": block.conv1.in_channels, "mid": block.conv1.out_channels,
                  "out": block.conv2.out_channels}
        return TIMM_SLOTS[BasicBlock], widths
    return None


def model_stages(model: nn.Module) -> dict[int, nn.Sequential]:
    """Stage number (SE-paper numbering, conv2_x = 2) -> the stage's ``nn.Sequential`` of blocks."""
    names = getattr(model, "stage_names", None)
    if names is None:
        raise TypeError(f"{type(model).__name__} was not built by the registry (no stage_names)")
    return {num: getattr(model, attr) for num, attr in names.items()}


def stage_blocks(stage: nn.Sequential) -> list[nn.Module]:
    """The blocks of a stage (skipping an already inserted stage-level module)."""
    return [b for b in stage if block_slots(b) is not None]


def _put(block: nn.Module, slot: Slot, module: nn.Module) -> None:
    old = getattr(block, slot.attr)
    if old is None or isinstance(old, nn.Identity):
        new = module
    elif slot.side == "before":
        new = nn.Sequential(module, old)
    else:
        new = nn.Sequential(old, module)
    setattr(block, slot.attr, new)


def insert_in_blocks(model: nn.Module, make: MakeModule, stages: list[int], *, placement: str) -> int:
    """Insert ``make(width)`` at ``placement`` in every block of ``stages``; returns how many."""
    count = 0
    for num, stage in model_stages(model).items():
        if num not in stages:
            continue
        for block in stage_blocks(stage):
            slots, widths = block_slots(block)  # type: ignore[misc]  # stage_blocks filtered None
            if placement not in slots:
                continue  # e.g. `identity` on a MobileNetV2 block without a shortcut
            slot = slots[placement]
            _put(block, slot, AttentionSlot(make(widths[slot.width]), placement))
            count += 1
    return count


def insert_after_stages(model: nn.Module, make: MakeModule, stages: list[int]) -> int:
    """Append ``make(width)`` to each stage in ``stages`` (BAM/DAS style); returns how many."""
    count = 0
    for num, stage in model_stages(model).items():
        if num in stages:
            _, widths = block_slots(stage_blocks(stage)[-1])  # type: ignore[misc]
            stage.add_module("attn", AttentionSlot(make(widths["out"]), "stage"))
            count += 1
    return count


def rule_stages(all_stages: list[int], rule: str) -> list[int]:
    """The stages a ``stage`` placement covers: "all" or "all_but_last" (BAM, arXiv:1807.06514 Fig. 1)."""
    if rule == "all":
        return list(all_stages)
    if rule == "all_but_last":
        return list(all_stages[:-1])
    raise IncompatibleError(f"unknown stage_rule {rule!r}; expected 'all' or 'all_but_last'")


_DESCRIPTIONS = {
    "block": "residual branch end, after the last BN, before the addition (SE/CBAM standard)",
    "pre": "start of the residual branch, before the block's first layer (SE-PRE)",
    "post": "after the addition and its ReLU (SE-POST)",
    "identity": "on the shortcut, in parallel to the residual branch (SE-Identity)",
    "after_3x3": "right after the (first) 3x3 conv + BN + ReLU inside the block (SE 3x3)",
}
for _name, _text in _DESCRIPTIONS.items():
    PLACEMENTS.register(_name, partial(insert_in_blocks, placement=_name), description=_text,
                        level="block")
PLACEMENTS.register(
    "stage", insert_after_stages, level="stage",
    description="one module after each stage, per the module's stage_rule (BAM, DAS)",
)
