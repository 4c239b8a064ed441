"""CNNtention's modules equal references written from its released definitions (the ``SelfAtt``
bmm formulation; the CBAM as its code differs from the official one), with shared weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from registry import ATTENTIONS, build_model


def reference_selfatt(x: torch.Tensor, q: nn.Conv2d, k: nn.Conv2d, v: nn.Conv2d) -> torch.Tensor:
    """CNNtention ``SelfAtt.forward``: bmm(value, softmax(bmm(query^T, key))), no residual."""
    n, c, h, w = x.shape
    key = k(x).view(n, -1, h * w)
    query = q(x).view(n, -1, h * w).permute(0, 2, 1)
    attention = torch.softmax(torch.bmm(query, key), dim=-1)
    value = v(x).view(n, -1, h * w)
    return torch.bmm(value, attention).view(n, c, h, w)


def reference_cbam(x: torch.Tensor, w0: torch.Tensor, w1: torch.Tensor, conv: nn.Conv2d):
    """Channel gate with a bias-free MLP on avg and max, a biased conv on [mean; max], + x."""

    def mlp(d: torch.Tensor) -> torch.Tensor:
        return torch.relu(d @ w0.T) @ w1.T

    gate = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))[:, :, None, None]
    refined = x * gate
    pooled = torch.cat([refined.mean(1, keepdim=True), refined.amax(1, keepdim=True)], 1)
    return refined * torch.sigmoid(conv(pooled)) + x


@pytest.mark.parametrize("train", [True, False])
def test_selfatt_equals_the_released_definition(train: bool) -> None:
    torch.manual_seed(0)
    module = ATTENTIONS.get("selfatt_cnntention")(16).train(train)
    x = torch.randn(2, 16, 5, 6)
    want = reference_selfatt(x, module.query, module.key, module.value)
    assert (module(x) - want).abs().max() < 1e-5
    assert (module(x) - x - want).abs().max() > 1e-2  # negative control: no residual is added
    standard = nn.functional.scaled_dot_product_attention(
        *(p(x).flatten(2).transpose(1, 2) for p in (module.query, module.key, module.value)),
        scale=1.0,
    )
    standard = standard.transpose(1, 2).reshape(x.shape)
    assert (standard - want).abs().max() > 1e-3  # rows, not columns: a different function


@pytest.mark.parametrize("train", [True, False])
def test_cbam_equals_the_released_definition(train: bool) -> None:
    torch.manual_seed(0)
    module = ATTENTIONS.get("cbam_cnntention")(32).train(train)
    w0 = module.channel.mlp[0].weight.flatten(1)
    w1 = module.channel.mlp[2].weight.flatten(1)
    assert module.channel.mlp[0].bias is None and module.spatial.bias is not None
    x = torch.randn(2, 32, 7, 7)
    want = reference_cbam(x, w0, w1, module.spatial)
    assert (module(x) - want).abs().max() < 1e-5
    official = ATTENTIONS.get("cbam")(32, reduction=8)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in module.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in official.modules())


def test_they_go_after_each_of_the_three_stages() -> None:
    for name in ("selfatt_cnntention", "cbam_cnntention"):
        model = build_model("resnet20_cnntention", name, num_classes=10)
        widths = [
            m.query.in_channels if hasattr(m, "query") else m.channel.mlp[0].in_channels
            for m in model.modules()
            if type(m) is type(ATTENTIONS.get(name)(8))
        ]
        assert widths == [16, 32, 64]
