"""Placements put modules where the SE paper's Fig. 5 says (arXiv:1709.01507), checked by wiring.

Each inserted module is replaced by a recording stub; forward hooks on the blocks then check what
tensor the stub saw: ``pre`` the block input, ``post`` the block output, ``identity`` the shortcut
output, ``block`` the branch that is added to the shortcut, ``after_3x3`` the 3x3 conv's output,
``stage`` the stage's last block output. BN statistics are randomised so that no relation holds by
accident (timm zero-initialises the last BN of each block).
"""

from __future__ import annotations

import copy
import time

import pytest
import torch
from timm.models.resnet import BasicBlock, Bottleneck
from torch import nn

from registry import (
    PLACEMENTS,
    AttentionSlot,
    IncompatibleError,
    UnknownNameError,
    attention_modules,
    build_model,
    check_combination,
    model_stages,
)
from registry.backbones import SlottedBlock
from registry.backbones.cifar_resnet import CifarBasicBlock, PreActBottleneck
from registry.backbones.mobilenet import InvertedResidual
from registry.placement import block_info, stage_blocks

# backbone -> input size: the two required ones (own basic, own pre-act bottleneck) plus timm's
# BasicBlock and Bottleneck (different insertion code) and MobileNetV2's inverted residual.
WIRED = {"resnet20": 8, "preresnet164": 8, "resnet18": 32, "resnet50_cifar": 8, "mobilenetv2": 32}
BLOCK_PLACEMENTS = ["block", "pre", "post", "identity", "after_3x3"]
AFTER_3X3 = {
    Bottleneck: "act2",
    BasicBlock: "act1",
    CifarBasicBlock: "act1",
    PreActBottleneck: "conv2",
    InvertedResidual: "dw",
}


class Recorder(nn.Module):
    """Stub attention: checks its width, records its input, returns it (or zeros)."""

    def __init__(self, channels: int, log: list, zero: bool = False) -> None:
        super().__init__()
        self.channels, self.log, self.zero = channels, log, zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == self.channels
        self.log.append((self, x.detach().clone()))
        return torch.zeros_like(x) if self.zero else x


def randomise_bn(model: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.num_features, generator=gen) * 0.5 + 1)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
                m.running_mean = torch.randn(m.num_features, generator=gen) * 0.5
                m.running_var = torch.rand(m.num_features, generator=gen) + 0.5
    return model.eval()


@pytest.fixture(scope="module")
def bases() -> dict[str, nn.Module]:
    return {name: randomise_bn(build_model(name, num_classes=5)) for name in WIRED}


def wire(base: nn.Module, placement: str, zero: bool = False) -> tuple[nn.Module, list]:
    """A copy of ``base`` with recorders at ``placement`` in every stage."""
    model, log = copy.deepcopy(base), list[tuple[Recorder, torch.Tensor]]()
    PLACEMENTS.get(placement)(
        model, lambda c, _stage: Recorder(c, log, zero), sorted(model_stages(model))
    )
    return model, log


def shortcut_of(block: nn.Module) -> nn.Module:
    """The block's original shortcut (identity or projection), whatever was inserted next to it."""
    attr = "shortcut" if isinstance(block, SlottedBlock) else "downsample"
    sc = getattr(block, attr, None)
    if sc is None or isinstance(sc, AttentionSlot):
        return nn.Identity()
    if isinstance(sc, nn.Sequential) and isinstance(sc[-1], AttentionSlot):
        return sc[0]
    return sc


def expected_input(
    block: nn.Module, placement: str, x: torch.Tensor, y: torch.Tensor, mid: torch.Tensor
) -> torch.Tensor | None:
    """What the stub at ``placement`` must have seen (None: see ``branch_relation_holds``)."""
    return {"pre": x, "post": y, "identity": shortcut_of(block)(x), "after_3x3": mid}.get(placement)


def run_blocks(model: nn.Module, size: int) -> tuple[dict, torch.Tensor]:
    """Forward with hooks; returns block -> (input, output, after-3x3 output) and the logits."""
    seen: dict = {}
    hooks = []
    for stage in model_stages(model).values():
        for block, *_ in stage_blocks(stage):

            def record(mod, inp, out, key=block):
                seen.setdefault(key, {})["xy"] = (inp[0].detach().clone(), out.detach().clone())

            hooks.append(block.register_forward_hook(record))
            ref = getattr(block, AFTER_3X3[type(block)])
            hooks.append(
                ref.register_forward_hook(
                    lambda mod, inp, out, key=block: seen.setdefault(key, {}).update(
                        mid=out.clone()
                    )
                )
            )
    with torch.no_grad():
        logits = model(torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1)))
    for h in hooks:
        h.remove()
    return seen, logits


def branch_relation_holds(
    block: nn.Module, x: torch.Tensor, y: torch.Tensor, rec: torch.Tensor
) -> bool:
    """``block`` placement: the output is the (activated) sum of stub input and shortcut."""
    if isinstance(block, InvertedResidual) and not block.use_res:
        return torch.allclose(y, rec, atol=1e-5)
    total = rec + shortcut_of(block)(x)
    if isinstance(block, Bottleneck | BasicBlock | CifarBasicBlock):
        total = torch.relu(total)
    return torch.allclose(y, total, atol=1e-4)


@pytest.mark.parametrize("placement", BLOCK_PLACEMENTS)
@pytest.mark.parametrize("backbone", list(WIRED))
def test_block_placement_wiring(bases: dict, backbone: str, placement: str) -> None:
    model, log = wire(bases[backbone], placement)
    seen, logits = run_blocks(model, WIRED[backbone])
    stubs = {stub: t for stub, t in log}
    checked = 0
    for block, rec_block in seen.items():
        mine = [s for s in block.modules() if isinstance(s, Recorder)]
        if not mine:  # only MobileNetV2 blocks without a shortcut have no identity/post slot
            assert backbone == "mobilenetv2" and placement in ("identity", "post")
            continue
        (stub,) = mine
        x, y = rec_block["xy"]
        want = expected_input(block, placement, x, y, rec_block.get("mid"))
        if want is None:
            assert branch_relation_holds(block, x, y, stubs[stub])
        else:
            torch.testing.assert_close(stubs[stub], want, atol=1e-5, rtol=1e-5)
        checked += 1
    assert checked == len(log) > 0
    zeroed, _ = wire(bases[backbone], placement, zero=True)
    with torch.no_grad():
        size = WIRED[backbone]
        out = zeroed(torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1)))
    assert not torch.allclose(out, logits), "the stub's output is not used"


@pytest.mark.parametrize("backbone", list(WIRED))
def test_stage_placement_wiring(bases: dict, backbone: str) -> None:
    model, log = wire(bases[backbone], "stage")
    stages = model_stages(model)
    outs: dict[int, torch.Tensor] = {}
    hooks = [
        stage_blocks(s)[-1].block.register_forward_hook(
            lambda m, i, o, k=num: outs.__setitem__(k, o.clone())
        )
        for num, s in stages.items()
    ]
    with torch.no_grad():
        model(torch.randn(2, 3, WIRED[backbone], WIRED[backbone]))
    for h in hooks:
        h.remove()
    assert len(log) == len(stages)
    for (stub, rec), num in zip(log, sorted(stages), strict=True):
        assert stages[num][-1].attn is stub  # appended to the stage, after its last block
        torch.testing.assert_close(rec, outs[num])


def test_pre_leaves_the_shortcut_alone(bases: dict) -> None:
    """SE-PRE sits on the residual branch only: zeroing it keeps the block input-dependent."""
    model, _ = wire(bases["resnet20"], "pre", zero=True)
    first = model_stages(model)[2][0]
    with torch.no_grad():
        a, b = first(torch.ones(1, 16, 4, 4)), first(2 * torch.ones(1, 16, 4, 4))
    assert not torch.allclose(a, b)


def test_build_model_uses_the_placement() -> None:
    for placement in [*BLOCK_PLACEMENTS, "stage"]:
        model = build_model("resnet20", "se", placement, num_classes=5, reduction=4)
        names = [n for n, _ in attention_modules(model)]
        assert len(names) == (9 if placement != "stage" else 3), placement
        out = model(torch.randn(2, 3, 8, 8))
        assert out.shape == (2, 5)


@pytest.mark.parametrize(("stages", "expected"), [([2], 3), ([3, 4], 6), ([4], 3)])
def test_stage_subset(stages: list[int], expected: int) -> None:
    model = build_model("resnet20", "se", num_classes=5, stages=stages)
    names = [n for n, _ in attention_modules(model)]
    assert len(names) == expected
    layers = {f"layer{s - 1}" for s in stages}
    assert {n.split(".")[0] for n in names} == layers


def test_stage_rules() -> None:
    """BAM goes after every stage but the last (arXiv:1807.06514 Fig. 1); DAS after every stage."""
    bam = [n for n, _ in attention_modules(build_model("resnet20", "bam", num_classes=5))]
    assert bam == ["layer1.attn.attn", "layer2.attn.attn"]
    das = [n for n, _ in attention_modules(build_model("resnet20", "das", num_classes=5))]
    assert das == ["layer1.attn.attn", "layer2.attn.attn", "layer3.attn.attn"]


def test_gc_default_stages_are_c3_to_c5() -> None:
    """GC's official configs leave out the first stage (stage_with_gcb = False, True, True, True);
    ``gc_all_stages`` and explicit stages override that."""

    def layers(attention: str, **kw: object) -> set[str]:
        model = build_model("resnet50", attention, num_classes=5, **kw)
        return {n.split(".")[0] for n, _ in attention_modules(model)}

    assert layers("gc") == {"layer2", "layer3", "layer4"}
    assert layers("gc_all_stages") == {"layer1", "layer2", "layer3", "layer4"}
    assert layers("gc", stages=[2]) == {"layer1"}


def test_slot_widths_bottleneck() -> None:
    """SE 3x3 sits on the narrow 3x3 width, block/post/identity on the expanded width."""
    model = build_model("preresnet164", num_classes=5)
    info = block_info(model_stages(model)[3][1])
    assert info is not None
    slots, widths = info.slots, info.widths
    assert widths == {"in": 128, "mid": 32, "out": 128}
    assert set(slots) == {"pre", "after_3x3", "block", "post", "identity"}


REJECTED = [
    # (backbone, attention, placement, kwargs, words the message must contain)
    ("resnet50", "cbam", None, {"image_size": 32}, ["1x1", "stages=[2, 3, 4]"]),
    ("resnet18", "bam", "stage", {"image_size": 32, "stages": [5]}, ["inserts nothing"]),
    ("resnet20", "se", "block", {"stages": [5]}, ["no stage [5]", "[2, 3, 4]"]),
    ("resnet20", "se", "block", {"stages": [1]}, ["no stage [1]"]),
    ("vgg16_bn", "se", "after_3x3", {}, ["'block'"]),
    ("vgg16_bn", "se", "identity", {}, ["shortcut"]),
    ("mobilenet_v1", "se", "post", {}, ["residual"]),
    ("mobilenetv2", "se", "identity", {"stages": [1]}, ["shortcut"]),
    ("mobilenetv2", "se", "post", {"stages": [1]}, ["shortcut"]),
    ("resnet20", "triplet", None, {"reduction": 16}, ["reduction", "kernel_size"]),
    ("resnet20", "se", None, {"dilation": 4}, ["dilation"]),
]


@pytest.mark.parametrize(("backbone", "attention", "placement", "kw", "words"), REJECTED)
def test_rejections(
    backbone: str, attention: str, placement: str | None, kw: dict, words: list[str]
) -> None:
    with pytest.raises(IncompatibleError) as err:
        check_combination(backbone, attention, placement, **kw)
    for word in words:
        assert word in str(err.value)
    build_kw = {k: v for k, v in kw.items() if k != "image_size"}
    if "image_size" not in kw:  # build_model applies the same checks
        with pytest.raises(IncompatibleError):
            build_model(backbone, attention, placement, num_classes=5, **build_kw)


def test_spatial_ok_where_the_map_is_large_enough() -> None:
    check_combination("resnet50", "cbam", image_size=32, stages=[2, 3, 4])
    check_combination("resnet50_cifar", "cbam", image_size=32)
    check_combination("resnet50", "se", image_size=32)  # channel-only: 1x1 is fine


def test_none_ignores_placement_and_hparams() -> None:
    check_combination("resnet20", "none", "after_3x3", stages=[9], reduction=3)
    model = build_model("resnet20", "none", "stage", num_classes=5, reduction=8)
    assert attention_modules(model) == []


@pytest.mark.parametrize(
    ("kwargs", "suggestion"),
    [
        ({"backbone": "resnet5O"}, "'resnet50'"),
        ({"backbone": "resnet20", "attention": "cbma"}, "'cbam'"),
        ({"backbone": "resnet20", "attention": "se", "placement": "blok"}, "'block'"),
    ],
)
def test_unknown_names_suggest(kwargs: dict, suggestion: str) -> None:
    with pytest.raises(UnknownNameError, match="did you mean") as err:
        check_combination(**kwargs)
    assert suggestion in str(err.value)


def test_check_combination_is_cheap() -> None:
    start = time.perf_counter()
    for _ in range(20):
        check_combination("resnet152", "cbam", image_size=224)
        check_combination("vgg16_bn", "bam", image_size=224)
    assert time.perf_counter() - start < 1.0


def test_resolve_hparams_fills_defaults_and_names_the_wrong_key() -> None:
    from registry import hparam_defaults, resolve_hparams

    assert resolve_hparams("se", {"reduction": 8}) == hparam_defaults("se") | {"reduction": 8}
    assert resolve_hparams("se", {"reduction": None}) == hparam_defaults("se")
    assert resolve_hparams("none", {"reduction": 8}) == {}
    with pytest.raises(IncompatibleError, match="did you mean 'reduction'"):
        resolve_hparams("se", {"reductoin": 8})
