"""Parameter counts pinned to the published ones (SE arXiv:1709.01507, CBAM arXiv:1807.06521,
BAM arXiv:1807.06514, triplet arXiv:2010.03045) within 0.5 %, plus exact counts of small configs.

Models are built on the meta device: counting needs shapes only, so even ResNet-152 and VGG-16 cost
milliseconds.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torchvision

from registry import attention_modules, build_model


def count(backbone: str, attention: str = "none", num_classes: int = 1000, **kw: Any) -> int:
    with torch.device("meta"):
        model = build_model(backbone, attention, num_classes=num_classes, **kw)
    return sum(p.numel() for p in model.parameters())


# (backbone, attention, kwargs, num_classes, published millions, source)
PUBLISHED: list[tuple[str, str, dict[str, Any], int, float, str]] = [
    ("resnet18", "none", {}, 1000, 11.69, "CBAM T4"),
    ("resnet18", "se", {}, 1000, 11.78, "CBAM T4"),
    ("resnet18", "cbam", {}, 1000, 11.78, "CBAM T4"),
    ("resnet18", "bam", {}, 1000, 11.71, "BAM T3b"),
    ("resnet34", "none", {}, 1000, 21.80, "CBAM T4"),
    ("resnet34", "se", {}, 1000, 21.96, "CBAM T4"),
    ("resnet50", "none", {}, 1000, 25.56, "CBAM T4"),
    ("resnet50", "se", {}, 1000, 28.09, "CBAM T4"),
    ("resnet50", "cbam", {}, 1000, 28.09, "CBAM T4"),
    ("resnet50", "bam", {}, 1000, 25.92, "BAM T3b"),
    ("resnet50", "triplet", {}, 1000, 25.56, "triplet README"),
    ("resnet50_v1", "none", {}, 1000, 25.56, "SE T10 (v1 layout, same params)"),
    ("resnet101", "none", {}, 1000, 44.55, "CBAM T4"),
    ("resnet101", "se", {}, 1000, 49.33, "CBAM T4"),
    ("resnet101", "bam", {}, 1000, 44.91, "BAM T3b"),
    ("resnet50", "se", {"reduction": 2, "bias": False}, 1000, 45.7, "SE T10 (no FC biases)"),
    ("resnet50", "se", {"reduction": 4, "bias": False}, 1000, 35.7, "SE T10 (no FC biases)"),
    ("resnet50", "se", {"reduction": 8, "bias": False}, 1000, 30.7, "SE T10 (no FC biases)"),
    ("resnet50", "se", {"reduction": 32, "bias": False}, 1000, 26.9, "SE T10 (no FC biases)"),
    ("resnet50", "se", {"stages": [4], "bias": False}, 1000, 26.4, "SE T13 (no FC biases)"),
    (
        "resnet50",
        "se",
        {"placement": "after_3x3", "bias": False},
        1000,
        25.8,
        "SE T15 (no FC biases)",
    ),
    ("resnext50_32x4d", "none", {}, 1000, 25.03, "CBAM T4"),
    ("resnext50_32x4d", "se", {}, 1000, 27.56, "CBAM T4"),
    ("resnext101_32x4d", "none", {}, 1000, 44.18, "CBAM T4"),
    ("wide_resnet18_1.5", "none", {}, 1000, 25.88, "CBAM T4"),
    ("wide_resnet18_2.0", "none", {}, 1000, 45.62, "CBAM T4"),
    ("mobilenet_v1", "none", {}, 1000, 4.23, "CBAM T5"),
    ("resnet50_cifar", "none", {}, 100, 23.71, "BAM T3a"),
    ("resnet50_cifar", "bam", {}, 100, 24.07, "BAM T3a"),
    ("resnet50_cifar", "se", {}, 100, 26.24, "BAM T5"),
    ("resnet101_cifar", "none", {}, 100, 42.70, "BAM T3a"),
    ("wrn28_8", "none", {}, 100, 23.40, "BAM T3a"),
    ("wrn28_8", "bam", {}, 100, 23.42, "BAM T3a"),
    ("wrn28_10", "none", {}, 100, 36.54, "BAM T3a"),
    ("resnext29_8x64d", "none", {}, 100, 34.52, "BAM T3a"),
    ("resnext29_8x64d", "bam", {}, 100, 34.61, "BAM T3a"),
    ("resnext29_16x64d", "none", {}, 100, 68.25, "BAM T3a"),
    ("resnet50_cifar_extra_block", "none", {}, 100, 25.14, "BAM T1c"),
    ("wrn28_8_extra_block", "none", {}, 100, 24.88, "BAM T1c"),
    ("resnext29_8x64d_extra_block", "none", {}, 100, 37.3, "BAM T1c"),
    ("preresnet110", "none", {}, 100, 1.73, "BAM T3a/T5"),
    ("preresnet110", "se", {}, 100, 1.93, "BAM T5"),
    ("preresnet110", "bam", {}, 100, 1.733, "BAM T3a"),
    ("resnet18", "triplet", {}, 1000, 11.69, "triplet README"),
    ("wide_resnet18_1.5", "se", {}, 1000, 26.07, "CBAM T4"),
    ("wide_resnet18_1.5", "bam", {}, 1000, 25.93, "BAM T3b"),
    ("wide_resnet18_2.0", "se", {}, 1000, 45.97, "CBAM T4"),
    ("wide_resnet18_2.0", "bam", {}, 1000, 45.71, "BAM T3b"),
    ("resnext50_32x4d", "bam", {}, 1000, 25.39, "BAM T3b"),
    ("resnext101_32x4d", "se", {}, 1000, 48.96, "CBAM T4"),
    ("resnet101_cifar", "bam", {}, 100, 43.06, "BAM T3a"),
    ("wrn28_8", "se", {}, 100, 23.58, "BAM T5"),
    ("wrn28_10", "bam", {}, 100, 36.57, "BAM T3a"),
    ("resnext29_16x64d", "se", {}, 100, 68.81, "BAM T5"),
    ("resnext29_16x64d", "bam", {}, 100, 68.34, "BAM T3a"),
    ("mobilenet_v1", "se", {}, 1000, 4.7, "SE T3"),
    ("mobilenet_v1", "bam", {}, 1000, 4.32, "BAM T3b"),
    ("mobilenet_v1_0.7", "none", {}, 1000, 2.30, "CBAM T5, BAM T3b"),
    ("mobilenet_v1_0.7", "bam", {}, 1000, 2.34, "BAM T3b"),
    ("squeezenet1_1", "none", {}, 1000, 1.24, "BAM T3b"),
    ("squeezenet1_1", "bam", {}, 1000, 1.26, "BAM T3b"),
    ("shufflenet_v1_g3", "none", {}, 1000, 1.87, "mmpretrain shufflenet-v1-1x (SE T3: 1.8)"),
    ("densenet100_bc_k12", "none", {}, 100, 0.80, "BAM T3a"),
    ("densenet100_bc_k12", "bam", {}, 100, 0.835, "BAM T3a (printed 0.84)"),
    ("mobilenetv2", "triplet", {}, 1000, 3.51, "triplet README"),
]


@pytest.mark.parametrize(
    ("backbone", "attention", "kw", "num_classes", "millions", "source"),
    PUBLISHED,
    ids=[f"{b}-{a}-{'-'.join(f'{k}{v}' for k, v in kw.items())}" for b, a, kw, *_ in PUBLISHED],
)
def test_published_param_counts(
    backbone: str, attention: str, kw: dict, num_classes: int, millions: float, source: str
) -> None:
    measured = count(backbone, attention, num_classes, **kw) / 1e6
    assert measured == pytest.approx(millions, rel=0.005), f"{source}: {measured:.3f}M"


# Exact counts: the reference implementations' totals (torchvision/timm, He et al., bearpaw).
EXACT: list[tuple[str, str, dict[str, Any], int, int]] = [
    ("resnet20", "none", {}, 10, 272_474),  # option-B shortcuts (+2,752 over option A)
    ("resnet20", "se", {"reduction": 16}, 10, 274_847),  # + 3 x (49 + 162 + 580)
    ("resnet20_cnntention", "none", {}, 10, 269_722),  # He et al.'s 0.27M, option A
    # CNNtention's SelfAtt(C): three C -> C 1x1 convs with biases, after each stage (16, 32, 64)
    ("resnet20_cnntention", "selfatt_cnntention", {}, 10, 269_722 + 3 * (272 + 1_056 + 4_160)),
    # CNNtention's CBAM(C, r=8, k=7): bias-free MLP 2 C (C/8), one 7x7 conv 2 -> 1 with bias
    ("resnet20_cnntention", "cbam_cnntention", {}, 10, 269_722 + (64 + 256 + 1_024) + 3 * 99),
    ("resnet110", "none", {}, 10, 1_730_714),
    ("preresnet110", "none", {}, 100, 1_726_388),  # BAM Table 3: 1.726M
    ("resnet18", "none", {}, 1000, 11_689_512),
    ("resnet50", "none", {}, 1000, 25_557_032),
    ("resnet50_cifar", "none", {}, 100, 23_705_252),  # BAM's 23.705M
    ("mobilenetv2", "none", {}, 1000, 3_504_872),
    ("vgg16_bn", "none", {}, 1000, 138_365_992),
]


@pytest.mark.parametrize(("backbone", "attention", "kw", "num_classes", "expected"), EXACT)
def test_exact_param_counts(
    backbone: str, attention: str, kw: dict, num_classes: int, expected: int
) -> None:
    assert count(backbone, attention, num_classes, **kw) == expected


def test_attention_share_is_the_difference() -> None:
    """``attention_modules`` finds every inserted parameter (SE-ResNet-20: 9 modules, 2,373)."""
    with torch.device("meta"):
        model = build_model("resnet20", "se", num_classes=10, reduction=16)
    modules = attention_modules(model)
    assert len(modules) == 9
    assert sum(p.numel() for _, m in modules for p in m.parameters()) == 274_847 - 272_474


TORCHVISION = [
    ("resnet18", "resnet18"),
    ("resnet34", "resnet34"),
    ("resnet50", "resnet50"),
    ("resnet101", "resnet101"),
    ("resnet152", "resnet152"),
    ("resnet50_v1", "resnet50"),
    ("resnet101_v1", "resnet101"),
    ("resnet152_v1", "resnet152"),
    ("resnext50_32x4d", "resnext50_32x4d"),
    ("mobilenetv2", "mobilenet_v2"),
    ("vgg16_bn", "vgg16_bn"),
    ("squeezenet1_1", "squeezenet1_1"),
]


@pytest.mark.parametrize(("backbone", "reference"), TORCHVISION)
def test_same_count_as_torchvision(backbone: str, reference: str) -> None:
    """The ImageNet backbones have torchvision's parameter count, at any number of classes."""
    with torch.device("meta"):
        ref = getattr(torchvision.models, reference)(num_classes=10)
    assert count(backbone, num_classes=10) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("depth", [18, 50, 101])
def test_cifar_stem_difference(depth: int) -> None:
    """``resnetN_cifar`` = ``resnetN`` with a 3x3 instead of a 7x7 stem conv (BAM's CIFAR nets)."""
    assert count(f"resnet{depth}") - count(f"resnet{depth}_cifar") == (49 - 9) * 3 * 64


# DAS has no released code; its sizes are implied by the text (arXiv:2311.12091): ResNet-50 + DAS
# uses 1.39 M fewer parameters than GSoP-Net1 (28.05 M in the ECA-Net paper) and 32 % fewer FLOPs
# (6.18 G), ResNet-18 + DAS 2.26 G fewer than ResNet-50 (4.1 G), MobileNetV2 + DAS 0.35 G.
# (backbone, millions of parameters or None, GMACs, relative tolerance of the GMACs)
DAS_PUBLISHED = [
    ("resnet50", 28.05 - 1.39, 6.18 * 0.68, 0.03),
    ("resnet18", None, 4.1 - 2.26, 0.01),
    ("mobilenetv2", None, 0.35, 0.05),
]


@pytest.mark.parametrize(("backbone", "params_m", "gmacs", "tolerance"), DAS_PUBLISHED)
def test_grouped_das_fits_the_published_sizes(
    backbone: str, params_m: float | None, gmacs: float, tolerance: float
) -> None:
    from bench.measure.flops import count_gmacs

    model = build_model(backbone, "das", num_classes=1000)
    assert count_gmacs(model, 224)["gmacs"] == pytest.approx(gmacs, rel=tolerance)
    if params_m is not None:
        assert count(backbone, "das") / 1e6 == pytest.approx(params_m, rel=0.015)
        # the dense reading is 10x the published parameter budget and 1.4x its FLOPs
        assert count(backbone, "das_dense") / 1e6 > params_m + 10


def test_das_exact_counts() -> None:
    assert count("resnet50", "das") == 26_408_944
    assert count("resnet18", "das") == 11_771_984
    assert count("resnet50", "das_dense") == 36_874_096


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "resnet101"])
def test_eca_released_kernel_sizes_per_stage(backbone: str) -> None:
    """ECA-Net's released models set k per stage; each ECA module has k weights (no bias)."""
    from registry.attention.eca import RELEASED_KERNEL_SIZES, eca_kernel_size

    kernels = RELEASED_KERNEL_SIZES[backbone]
    model = build_model(backbone, "eca", num_classes=1000, kernel_sizes=list(kernels))
    by_stage: dict[str, set[int]] = {}
    for name, module in attention_modules(model):
        by_stage.setdefault(name.split(".")[0], set()).add(module.conv.kernel_size[0])
    assert [by_stage[f"layer{i}"] for i in (1, 2, 3, 4)] == [{k} for k in kernels]
    blocks = {"resnet18": (2, 2, 2, 2), "resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}
    extra = count(backbone, "eca", kernel_sizes=list(kernels)) - count(backbone)
    assert extra == sum(n * k for n, k in zip(blocks[backbone], kernels, strict=True))
    if backbone == "resnet50":  # the adaptive formula differs on the first stage: 5, not 3
        widths = (256, 512, 1024, 2048)
        assert [eca_kernel_size(c) for c in widths] == [5, 5, 5, 7]
        assert count(backbone, "eca") - count(backbone) == extra + 3 * 2


def test_eca_kernel_sizes_need_one_per_stage() -> None:
    from registry import IncompatibleError, check_combination

    with pytest.raises(IncompatibleError, match="one entry per stage of resnet20"):
        check_combination("resnet20", "eca", kernel_sizes=[3, 5, 5, 7])
    with pytest.raises(ValueError, match="per stage"):
        from registry import ATTENTIONS

        ATTENTIONS.get("eca")(64, kernel_sizes=(3, 5, 5, 7))
