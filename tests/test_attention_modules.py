"""Tests for the attention registry: contract, exact parameter counts, published totals."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from registry.attention import ATTENTIONS, hidden_channels
from registry.core import IncompatibleError
from registry.hparams import hparam_defaults

MODULE_NAMES = [name for name in ATTENTIONS.names() if name != "none"]

# Reference backbones (timm/torchvision, 1000 classes) and where block/stage modules go.
RESNET50 = 25_557_032
RESNET18 = 11_689_512
RESNET101 = 44_549_160
BOTTLENECK_BLOCKS_50 = [(256, 3), (512, 4), (1024, 6), (2048, 3)]
BOTTLENECK_BLOCKS_101 = [(256, 3), (512, 4), (1024, 23), (2048, 3)]
BASIC_BLOCKS_18 = [(64, 2), (128, 2), (256, 2), (512, 2)]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build(name: str, channels: int = 64, **hparams: object) -> nn.Module:
    module = ATTENTIONS.get(name)(channels, **hparams)
    assert isinstance(module, nn.Module)
    return module


def total_millions(base: int, name: str, layout: list[tuple[int, int]], **hparams: object) -> float:
    """Backbone total with ``name`` after every (channels, count) slot, rounded like the papers."""
    extra = sum(count * n_params(build(name, c, **hparams)) for c, count in layout)
    return round((base + extra) / 1e6, 2)


# --- contract -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODULE_NAMES)
@pytest.mark.parametrize("shape", [(2, 64, 8, 8), (2, 64, 6, 4)])
def test_shape_finite_backward(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    module = build(name, shape[1])
    x = torch.randn(shape, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    unused = [n for n, p in module.named_parameters() if p.grad is None]
    assert not unused, f"{name}: parameters outside the forward pass: {unused}"


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_bf16_autocast_channels_last(name: str) -> None:
    # The runner trains under bf16 autocast with channels_last; every module must survive it.
    module = build(name).to(memory_format=torch.channels_last)
    x = torch.randn(2, 64, 6, 6).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = module(x)
    assert y.shape == x.shape
    assert torch.isfinite(y.float()).all()


@pytest.mark.parametrize("name", ATTENTIONS.names())
def test_meta_and_signature(name: str) -> None:
    meta = ATTENTIONS.meta(name)
    assert meta["default_placement"] in ("block", "stage")
    assert isinstance(meta["spatial"], bool)
    if meta["default_placement"] == "stage":
        assert meta["stage_rule"] in ("all", "all_but_last")
    assert ATTENTIONS.describe(name)
    params = list(inspect.signature(ATTENTIONS.get(name)).parameters.values())
    assert params[0].name == "channels"
    assert all(p.kind is not p.VAR_KEYWORD for p in params), "no **kwargs catch-alls"
    # every hyper-parameter has a default, so a resolved set is complete
    assert [p.name for p in params[1:]] == list(hparam_defaults(name))


@pytest.mark.parametrize("name", ATTENTIONS.names())
def test_unknown_hparam_is_type_error(name: str) -> None:
    with pytest.raises(TypeError):
        ATTENTIONS.get(name)(64, not_a_hparam=1)


def test_none_inserts_nothing() -> None:
    assert ATTENTIONS.get("none")(64) is None
    # every registration key is filled in, with its default where the module set none
    assert ATTENTIONS.meta("none") == {
        "default_placement": "block",
        "spatial": False,
        "default_stages": "all",
        "stage_rule": "all",
        "per_stage": {},
    }


def test_stage_rules() -> None:
    rules = {name: ATTENTIONS.meta(name).get("stage_rule") for name in ATTENTIONS.names()}
    assert rules["bam"] == rules["bam_official"] == "all_but_last"
    assert rules["das"] == rules["nonlocal"] == rules["mhsa"] == "all"
    assert rules["se"] == "all"  # the default: SE at placement stage follows every stage


# --- reduction ----------------------------------------------------------------------------------


def test_hidden_channels_floors_without_rounding() -> None:
    assert [hidden_channels(64, r) for r in (8, 16, 32, 128)] == [8, 4, 2, 1]
    assert hidden_channels(100, 16) == 6


@pytest.mark.parametrize(
    "name",
    [n for n in MODULE_NAMES if "reduction" in hparam_defaults(n)],
)
def test_reduction_sweep_gives_distinct_models(name: str) -> None:
    counts = [n_params(build(name, 64, reduction=r)) for r in (8, 16, 32)]
    assert len(set(counts)) == 3, f"{name}: r = 8, 16, 32 give {counts} on 64 channels"


# --- exact parameter counts ---------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("channels, reduction", [(256, 16), (64, 32), (2048, 16), (10, 16)])
def test_se_params(channels: int, reduction: int, bias: bool) -> None:
    h = max(1, channels // reduction)
    expected = 2 * channels * h + (h + channels if bias else 0)
    assert n_params(build("se", channels, reduction=reduction, bias=bias)) == expected


@pytest.mark.parametrize("kernel_size", [3, 7])
def test_cbam_params(kernel_size: int) -> None:
    c, h = 256, 16
    mlp = 2 * c * h + h + c  # shared MLP with biases
    spatial = 2 * kernel_size**2 + 2  # 2 -> 1 conv without bias + BN(1)
    assert n_params(build("cbam", c, kernel_size=kernel_size)) == mlp + spatial
    assert n_params(build("cbam_channel", c)) == mlp
    learned_pool = c + kernel_size**2 + 2  # 1x1 conv C -> 1, then 1 -> 1 conv + BN(1)
    assert n_params(build(f"cbam_conv_pool_k{kernel_size}", c)) == mlp + learned_pool


@pytest.mark.parametrize(
    "channels, expected",
    [(64, 1_173), (128, 4_457), (256, 17_361), (512, 68_513), (1024, 272_193)],
)
def test_bam_params_match_bam_md_3_4(channels: int, expected: int) -> None:
    assert n_params(build("bam_official", channels)) == expected
    # The paper variant adds BN(C) after the MLP and BN(1) after the spatial branch.
    assert n_params(build("bam", channels)) == expected + 2 * channels + 2


@pytest.mark.parametrize("kernel_size", [3, 7])
def test_triplet_params(kernel_size: int) -> None:
    assert n_params(build("triplet", 64, kernel_size=kernel_size)) == 3 * (2 * kernel_size**2 + 2)


@pytest.mark.parametrize("channels, kernel", [(16, 3), (64, 3), (256, 5), (512, 5), (2048, 7)])
def test_eca_adaptive_kernel(channels: int, kernel: int) -> None:
    assert n_params(build("eca", channels)) == kernel
    assert n_params(build("eca", channels, kernel_size=9)) == 9


@pytest.mark.parametrize(
    ("name", "channels", "hidden"),
    [
        ("das", 64, 8),
        ("das", 256, 32),
        ("das", 96, 16),
        ("das_dense", 64, 13),
        ("das_dense", 256, 51),
    ],
)
def test_das_params(name: str, channels: int, hidden: int) -> None:
    """Grouped (default): c' is the largest divisor of C not above 0.2 C and each of the c' groups
    of the deformable conv maps one channel to C / c'; dense: c' = round(0.2 C), all to all."""
    c, h = channels, hidden
    dsc = 9 * c + c * h  # depthwise 3x3 + pointwise, no biases
    offsets = 9 * h * 18 + 18  # 3x3 conv -> 2 * 3 * 3 offsets, with bias
    deform = 9 * c if name == "das" else 9 * h * c
    expected = dsc + 2 * h + offsets + deform + 2 * c  # + IN(h), LN(C)
    assert n_params(build(name, c, alpha=0.2)) == expected


def test_triplet_init_is_the_official_one() -> None:
    """Only the plain (H, W) gate's BN starts at gamma = 0 (its key holds "SpatialGate")."""
    module = build("triplet", 16)
    gammas = [float(g.bn.weight.detach()) for g in (module.cw, module.hc, module.hw)]
    assert gammas == [1.0, 1.0, 0.0]
    plain = build("triplet", 16, spatial_zero_init=False)
    assert float(plain.hw.bn.weight.detach()) == 1.0


def test_gc_params() -> None:
    c, h = 256, 16
    expected = (c + 1) + (c * h + h) + 2 * h + (h * c + c)  # attn 1x1, fc1, LN(h), fc2
    assert n_params(build("gc", c)) == expected


# --- published totals (analytic: backbone + modules in their default slots) ---------------------


def test_block_module_totals_match_cbam_table_4() -> None:
    assert total_millions(RESNET50, "se", BOTTLENECK_BLOCKS_50) == 28.09
    assert total_millions(RESNET50, "cbam", BOTTLENECK_BLOCKS_50) == 28.09
    assert total_millions(RESNET101, "se", BOTTLENECK_BLOCKS_101) == 49.33
    assert total_millions(RESNET18, "se", BASIC_BLOCKS_18) == 11.78
    assert total_millions(RESNET18, "cbam", BASIC_BLOCKS_18) == 11.78
    assert total_millions(RESNET50, "triplet", BOTTLENECK_BLOCKS_50) == 25.56


@pytest.mark.parametrize(
    "reduction, published", [(2, 45.7), (4, 35.7), (8, 30.7), (16, 28.1), (32, 26.9)]
)
def test_se_reduction_totals_within_table_10(reduction: int, published: float) -> None:
    # SE Table 10 is up to 0.1M off its own Eq. 5 (se.md A.4), whatever the bias choice.
    total = total_millions(RESNET50, "se", BOTTLENECK_BLOCKS_50, reduction=reduction)
    assert math.isclose(total, published, abs_tol=0.1)


@pytest.mark.parametrize("name", ["bam", "bam_official"])
def test_bam_totals_match_bam_table_3b(name: str) -> None:
    # One BAM after every stage but the last.
    assert total_millions(RESNET50, name, [(256, 1), (512, 1), (1024, 1)]) == 25.92
    assert total_millions(RESNET101, name, [(256, 1), (512, 1), (1024, 1)]) == 44.91
    assert total_millions(RESNET18, name, [(64, 1), (128, 1), (256, 1)]) == 11.71


# --- behaviour ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nonlocal", "mhsa", "gc"])
def test_residual_blocks_start_as_identity(name: str) -> None:
    x = torch.randn(2, 64, 5, 3)
    assert torch.equal(build(name).eval()(x), x)


def test_mhsa_rejects_indivisible_channels() -> None:
    with pytest.raises(IncompatibleError, match="heads=5"):
        build("mhsa", 20, heads=8)
    assert build("mhsa", 20, heads=5)(torch.randn(2, 20, 3, 3)).shape == (2, 20, 3, 3)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_mhsa_takes_the_fused_attention_kernel(memory_format: torch.memory_format) -> None:
    # the math fallback materialises N x heads x HW x HW scores: 3x slower training on a CPU
    from torch.nn.attention import SDPBackend, sdpa_kernel

    x = torch.randn(2, 16, 6, 5).contiguous(memory_format=memory_format).requires_grad_()
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # raises "No available kernel" otherwise
        build("mhsa", 16, heads=8)(x).sum().backward()


def test_se_variants_are_the_named_options() -> None:
    x = torch.randn(2, 16, 4, 4)
    for name, options in [("se_max", {"squeeze": "max"}), ("se_tanh", {"excitation": "tanh"})]:
        torch.manual_seed(0)
        variant = build(name, 16)
        torch.manual_seed(0)
        explicit = build("se", 16, **options)
        assert torch.equal(variant(x), explicit(x))


def test_bam_gate_is_residual() -> None:
    # x * (1 + sigmoid(.)) lies between x and 2x for positive inputs.
    x = torch.rand(2, 64, 8, 8) + 0.1
    y = build("bam").eval()(x)
    assert torch.all(y >= x) and torch.all(y <= 2 * x)


@pytest.mark.parametrize("hparams", [{"squeeze": "min"}, {"excitation": "gelu"}])
def test_bad_choice_is_value_error(hparams: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        build("se", 64, **hparams)
