"""Every backbone builds, trains a step and has the stages its metadata claims; every attention fits
every backbone at its default placement.

The backbone x attention cross product is checked slot by slot: an attention module only ever sees
a (channels, height, width) tensor, so each cell checks that ``check_combination`` accepts it and
that the module works at every slot shape the cell inserts it at (each distinct shape is run once,
then cached). End-to-end builds cover each backbone (with CBAM, spatial and channel) and each
attention (on ResNet-20); ``test_registry_placement.py`` checks the wiring itself.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from registry import (
    ATTENTIONS,
    BACKBONES,
    attention_modules,
    build_model,
    check_combination,
    default_placement,
    model_stages,
    target_stages,
)
from registry.core import IncompatibleError
from registry.placement import stage_blocks

CLASSES = 5


def input_size(backbone: str) -> int:
    """The smallest input whose last stage map is 2x2: 64 px for ImageNet ResNets, 8 for ResNet-20.

    Spatial modules need more than 1x1, and anything larger only costs time (MHSA on VGG's first
    stage is quadratic in the pixels).
    """
    return 2 * max(BACKBONES.meta(backbone)["stage_strides"].values())


def map_size(backbone: str, stage: int) -> int:
    return math.ceil(input_size(backbone) / BACKBONES.meta(backbone)["stage_strides"][stage])


def train_step(model: torch.nn.Module, size: int, in_chans: int = 3) -> None:
    x = torch.randn(2, in_chans, size, size)
    out = model(x)
    assert out.shape == (2, CLASSES)
    assert torch.isfinite(out).all()
    out.logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("backbone", BACKBONES.names())
def test_backbone_end_to_end(backbone: str) -> None:
    """Build with CBAM in every block, one training step, stage map sizes as the metadata says."""
    meta = BACKBONES.meta(backbone)
    assert meta["family"] in ("cifar", "imagenet")
    assert meta["default_image_size"] == (32 if meta["family"] == "cifar" else 224)
    model = build_model(backbone, "cbam", num_classes=CLASSES)
    stages = model_stages(model)
    assert sorted(stages) == sorted(meta["stage_strides"])
    seen: dict[int, int] = {}
    for num, stage in stages.items():
        stage.register_forward_hook(lambda m, i, o, k=num: seen.__setitem__(k, o.shape[-1]))
    train_step(model, input_size(backbone))
    assert seen == {s: map_size(backbone, s) for s in stages}
    n_blocks = sum(len(stage_blocks(s)) for s in stages.values())
    assert len(attention_modules(model)) == n_blocks


@pytest.mark.parametrize("base", ["resnet20", "resnet50_cifar", "wrn28_8", "resnext29_8x64d"])
def test_extra_block_adds_one_fresh_block_per_bottleneck(base: str) -> None:
    """BAM Table 1c: one more block at the end of every stage but the last, newly initialised."""
    plain = model_stages(build_model(base, num_classes=CLASSES))
    torch.manual_seed(0)
    extended = model_stages(build_model(f"{base}_extra_block", num_classes=CLASSES))
    last = max(plain)
    for num, stage in extended.items():
        blocks = stage_blocks(stage)
        assert len(blocks) == len(stage_blocks(plain[num])) + (num != last)
        if num != last:
            new, source = blocks[-1].block, blocks[-2].block
            assert type(new) is type(source) and blocks[-1].widths == blocks[-2].widths
            new_convs = [m.weight for m in new.modules() if isinstance(m, torch.nn.Conv2d)]
            old_convs = [m.weight for m in source.modules() if isinstance(m, torch.nn.Conv2d)]
            assert not any(torch.equal(a, b) for a, b in zip(new_convs, old_convs, strict=True))


@pytest.mark.parametrize("backbone", ["resnet20", "resnet20_cnntention", "resnet18"])
def test_grayscale_input(backbone: str) -> None:
    """``in_chans=1`` for MNIST (28 px)."""
    train_step(build_model(backbone, "se", num_classes=CLASSES, in_chans=1), 28, in_chans=1)


@pytest.mark.parametrize("attention", [a for a in ATTENTIONS.names() if a != "none"])
def test_every_attention_end_to_end(attention: str) -> None:
    """Each attention at its default placement in a real ResNet-20 trains a step."""
    model = build_model("resnet20", attention, num_classes=CLASSES)
    assert attention_modules(model)
    train_step(model, 8)


@functools.cache
def slot_widths(backbone: str, placement: str) -> dict[int, frozenset[int]]:
    """Stage -> channel widths at ``placement`` ("block" or "stage"), from a meta-device build."""
    with torch.device("meta"):
        model = build_model(backbone, num_classes=CLASSES)
    widths = {}
    for num, stage in model_stages(model).items():
        blocks = stage_blocks(stage)
        chosen = blocks if placement == "block" else blocks[-1:]
        widths[num] = frozenset(info.widths["out"] for info in chosen)
    return widths


@functools.cache
def module_works(attention: str, channels: int, size: int) -> bool:
    """The module keeps the shape of a (2, C, size, size) input, stays finite, back-propagates."""
    torch.manual_seed(0)
    module = ATTENTIONS.get(attention)(channels)
    x = torch.randn(2, channels, size, size, requires_grad=True)
    out = module(x)
    out.square().mean().backward()
    assert x.grad is not None
    return out.shape == x.shape and bool(torch.isfinite(out).all() and torch.isfinite(x.grad).all())


# Cells the metadata cannot rule out, refused when the module is built: MobileNet 0.7's widths
# (22, 44, 89, ...) and DenseNet's (24 + 12 j) are not all multiples of the 8 heads.
REFUSED_AT_BUILD = {
    ("mobilenet_v1_0.7", "mhsa"): "pass heads=",
    ("densenet100_bc_k12", "mhsa"): "pass heads=",
}


@pytest.mark.parametrize("attention", ATTENTIONS.names())
@pytest.mark.parametrize("backbone", BACKBONES.names())
def test_every_attention_fits_every_backbone(backbone: str, attention: str) -> None:
    check_combination(backbone, attention, image_size=input_size(backbone))
    if attention == "none":
        return
    if (backbone, attention) in REFUSED_AT_BUILD:
        with pytest.raises(IncompatibleError, match=REFUSED_AT_BUILD[backbone, attention]):
            build_model(backbone, attention, num_classes=CLASSES)
        return
    placement = default_placement(attention)
    assert placement in ("block", "stage")
    for stage in target_stages(backbone, attention, placement):
        for channels in slot_widths(backbone, placement)[stage]:
            assert module_works(attention, channels, map_size(backbone, stage)), (stage, channels)


def last_bn_gammas(model: torch.nn.Module) -> set[float]:
    """The distinct gammas of the BN that ends each residual branch of ``model``."""
    gammas = set()
    for stage in model_stages(model).values():
        for info in stage_blocks(stage):
            last = [m for n, m in info.block.named_modules() if n in ("bn2", "bn3")][-1]
            gammas |= {float(v) for v in last.weight.detach().unique()}
    return gammas


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "resnext50_32x4d", "resnet20"])
def test_last_bn_starts_at_one_unless_zero_init_last(backbone: str) -> None:
    """The papers' codes start every BN at gamma = 1; timm's zero-init is an explicit option."""
    assert last_bn_gammas(build_model(backbone, "se", num_classes=CLASSES)) == {1.0}
    zeroed = build_model(backbone, "se", num_classes=CLASSES, zero_init_last=True)
    assert last_bn_gammas(zeroed) == {0.0}
    first_bns = [m for n, m in zeroed.named_modules() if n.endswith("bn1")]
    assert all(float(m.weight.detach().min()) == 1.0 for m in first_bns)


def test_zero_init_last_refuses_pre_activation_networks() -> None:
    with pytest.raises(IncompatibleError, match="pre-activation"):
        build_model("preresnet164", num_classes=CLASSES, zero_init_last=True)
