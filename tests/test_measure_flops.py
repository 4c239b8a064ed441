"""GMAC conventions: hand arithmetic for every handle we add, exact pins, published pins."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn

import registry
from bench.measure.flops import count_gmacs, trace_counts


class Lambda(nn.Module):
    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn
        self.anchor = nn.Parameter(torch.zeros(1))  # a parameter, so the model has a device

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


def counts(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> dict[str, int]:
    found, unsupported = trace_counts(Lambda(fn), *inputs)
    assert not unsupported
    return dict(found)


@pytest.mark.parametrize("use_mask", [False, True])
def test_deform_conv2d_counts_conv_macs_and_bilinear_samples(use_mask: bool) -> None:
    n, c_in, c_out, side = 2, 4, 6, 8
    x = torch.randn(n, c_in, side, side)
    weight = torch.randn(c_out, c_in, 3, 3)
    offset = torch.randn(n, 18, side, side)
    mask = torch.rand(n, 9, side, side) if use_mask else None
    found = counts(
        lambda x, w, o: torchvision.ops.deform_conv2d(x, o, w, padding=1, mask=mask),
        x,
        weight,
        offset,
    )
    sites = side * side  # 3x3, padding 1, stride 1: same size out
    assert found["deform_conv2d"] == n * c_out * sites * c_in * 3 * 3  # 27,648
    per_sample = 5 if use_mask else 4  # bilinear = 4 MACs, the modulation mask 1 more
    assert found["deform_conv2d_sampling"] == n * c_in * 9 * sites * per_sample


def test_sdpa_counts_two_matmuls_and_the_softmax() -> None:
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    found = counts(nn.functional.scaled_dot_product_attention, q, k, v)
    assert found["sdpa_matmul"] == 2 * 3 * 5 * 7 * 8 + 2 * 3 * 5 * 7 * 4  # QK^T + AV = 2,520
    assert found["sdpa_softmax"] == 2 * 3 * 5 * 7


def test_matmul_broadcasts_and_softmax_counts_each_element() -> None:
    a, b = torch.randn(4, 5), torch.randn(3, 5, 6)
    assert counts(torch.matmul, a, b)["matmul"] == 3 * 4 * 6 * 5  # fvcore's own says 4*5*6
    assert counts(torch.bmm, torch.randn(3, 4, 5), b)["matmul"] == 3 * 4 * 6 * 5
    assert counts(lambda x: x.softmax(-1), a)["softmax"] == 20


def test_three_conventions_on_a_tiny_net_exactly() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),  # 3 * 8 * 9 * 64 = 13,824
        nn.BatchNorm2d(8),  # eval, affine: 2 per element = 1,024
        nn.ReLU(),  # 512, elementwise
        nn.AdaptiveAvgPool2d(1),  # 512 (fvcore: 1 per input element)
        nn.Flatten(),
        nn.Linear(8, 10),  # 80
    )
    found = count_gmacs(net, 8)
    assert found["gmacs_paper"] * 1e9 == pytest.approx(13_824 + 80)
    assert found["gmacs"] * 1e9 == pytest.approx(13_904 + 1_024 + 512)
    assert found["gmacs_all"] * 1e9 == pytest.approx(15_440 + 512)
    assert found["flops_unsupported_ops"] == {}
    assert net.training  # the mode is restored


def test_resnet20_pin_and_the_se_delta_by_hand() -> None:
    plain = count_gmacs(registry.build_model("resnet20", num_classes=10), 32)
    se = count_gmacs(registry.build_model("resnet20", "se", num_classes=10, reduction=16), 32)
    assert plain["gmacs_paper"] * 1e9 == 40_813_184
    # SE r16 per block: C*(C//16) + (C//16)*C MACs; 3 blocks per stage at C = 16, 32, 64
    fc = sum(3 * 2 * c * (c // 16) for c in (16, 32, 64))
    assert (se["gmacs_paper"] - plain["gmacs_paper"]) * 1e9 == pytest.approx(fc)
    assert se["gmacs_all"] > se["gmacs"] > se["gmacs_paper"]  # gates and pools are counted


def test_das_and_mhsa_are_fully_counted() -> None:
    for attention, op in (("das", "deform_conv2d"), ("mhsa", "sdpa_matmul")):
        model = registry.build_model("resnet20", attention, num_classes=10)
        found = count_gmacs(model, 32, by_operator=True)
        assert found["flops_unsupported_ops"] == {}
        assert found["gmacs_by_operator"][op] > 0


# Published "GFLOPs" (one multiply-add = 1): SE (arXiv:1709.01507) Table 2, CBAM
# (arXiv:1807.06521) Tables 3 and 5, BAM (arXiv:1807.06514) Tables 1 and 3. They count conv +
# linear.
PUBLISHED = [
    ("resnet50_v1", "none", 224, 1000, 3.86),
    ("resnet50_v1", "se", 224, 1000, 3.87),
    ("resnet50_v1", "cbam", 224, 1000, 3.864),
    ("resnet50_v1", "bam", 224, 1000, 3.94),
    ("resnet18", "none", 224, 1000, 1.814),
    ("resnet101_v1", "none", 224, 1000, 7.57),
    ("wrn28_8", "none", 32, 100, 3.36),
    ("resnet50_cifar", "none", 32, 100, 1.22),
    ("resnet50_cifar", "bam", 32, 100, 1.25),
    ("resnext29_8x64d", "none", 32, 100, 4.99),
    ("mobilenet_v1", "none", 224, 1000, 0.569),
    ("mobilenet_v1_0.7", "none", 224, 1000, 0.283),
    ("mobilenet_v1_0.7", "bam", 224, 1000, 0.292),
    ("densenet100_bc_k12", "none", 32, 100, 0.29),
]


@pytest.mark.slow
@pytest.mark.parametrize(("backbone", "attention", "size", "classes", "published"), PUBLISHED)
def test_published_gmacs_within_one_percent(
    backbone: str, attention: str, size: int, classes: int, published: float
) -> None:
    model = registry.build_model(backbone, attention, num_classes=classes)
    assert count_gmacs(model, size)["gmacs_paper"] == pytest.approx(published, rel=0.01)
