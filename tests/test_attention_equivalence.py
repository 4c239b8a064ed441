"""Every module with released code computes the function of its authors' definition.

Each reference below is written from the released definition (named in its docstring), as plain
tensor code that takes the weights of our module, so both compute with the same random weights.
Every weight, BN affine and running statistic is randomised first: a zero-initialised gamma or a
unit running variance would hide a wrong order or a missing layer. The references hard-code the
released constants (BN and LayerNorm eps, pooling order), so a wrong constant in ours fails too.
Both modes are compared: train (batch statistics) and eval (running statistics).

DAS has no released code (``registry/attention/das.py``); its tests are on the written definition
(``test_attention_modules.py``, ``test_registry_pins.py``). CNNtention's modules have their own
file (``test_attention_cnntention.py``).

The network-level tests check the slot: our network's block (or stage) output equals the released
network's forward with the module where the authors put it, and differs with it elsewhere.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from registry import ATTENTIONS, build_model, model_stages

TOLERANCE = 1e-5


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights, BN affines and running statistics (running variances in [0.5, 1.5])."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
        for name, buffer in module.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(torch.randn(buffer.shape, generator=gen) * 0.2)
            elif name.endswith("running_var"):
                buffer.copy_(torch.rand(buffer.shape, generator=gen) + 0.5)
    return module


def bn(x: Tensor, norm: nn.Module, training: bool, eps: float = 1e-5) -> Tensor:
    """BatchNorm with ``norm``'s affine and a copy of its running statistics, at ``eps``."""
    assert isinstance(norm, nn.BatchNorm1d | nn.BatchNorm2d)
    mean, var = norm.running_mean.clone(), norm.running_var.clone()  # type: ignore[union-attr]
    return F.batch_norm(x, mean, var, norm.weight, norm.bias, training, 0.1, eps)


def conv(x: Tensor, layer: nn.Conv2d, **kw: int) -> Tensor:
    return F.conv2d(x, layer.weight, layer.bias, **kw)


def reference_se(m: nn.Module, x: Tensor, training: bool) -> Tensor:
    """SE (Caffe release, SE-ResNet-50 prototxt): global average pool, InnerProduct C -> C/16 with
    bias, ReLU, InnerProduct C/16 -> C with bias, Sigmoid, Scale."""
    del training  # no BN
    z = x.mean(dim=(2, 3))
    w1, w2 = m.fc1.weight.flatten(1), m.fc2.weight.flatten(1)
    gate = torch.sigmoid(F.linear(F.relu(F.linear(z, w1, m.fc1.bias)), w2, m.fc2.bias))
    return x * gate[:, :, None, None]


def released_spatial_gate(gate: nn.Module, x: Tensor, training: bool) -> Tensor:
    """CBAM / triplet ``SpatialGate``: ChannelPool ``[max; mean]`` over dim 1, BasicConv (k x k,
    padding (k - 1) / 2, no bias, BatchNorm2d eps 1e-5, no ReLU), sigmoid, ``x * scale``."""
    pooled = torch.cat([x.max(dim=1, keepdim=True)[0], x.mean(dim=1, keepdim=True)], dim=1)
    k = gate.conv.kernel_size[0]
    logits = bn(F.conv2d(pooled, gate.conv.weight, None, padding=(k - 1) // 2), gate.bn, training)
    return x * torch.sigmoid(logits)


def reference_cbam(m: nn.Module, x: Tensor, training: bool) -> Tensor:
    """CBAM (Jongchan/attention-module ``MODELS/cbam.py``): ChannelGate = a shared MLP (Linear with
    bias, ReLU, Linear with bias) on the avg- and max-pooled descriptors, summed, sigmoid; then
    SpatialGate."""
    fc1, fc2 = m.channel_gate.mlp[0], m.channel_gate.mlp[2]

    def mlp(d: Tensor) -> Tensor:
        hidden = F.relu(F.linear(d, fc1.weight.flatten(1), fc1.bias))
        return F.linear(hidden, fc2.weight.flatten(1), fc2.bias)

    scale = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))
    return released_spatial_gate(m.spatial_gate, x * scale[:, :, None, None], training)


def reference_bam_official(m: nn.Module, x: Tensor, training: bool) -> Tensor:
    """BAM (Jongchan/attention-module ``MODELS/bam.py``): ChannelGate = avg_pool2d over the (square)
    map, Linear-BN1d-ReLU, Linear; SpatialGate = 1x1 reduce-BN-ReLU, two 3x3 convs of dilation 4
    (padding 4) each BN-ReLU, 1x1 to one map; ``att = 1 + sigmoid(channel * spatial)``,
    ``att * x``."""
    lin1, norm1, _, lin2 = m.channel_att.mlp
    channel = F.linear(
        F.relu(bn(F.linear(x.mean(dim=(2, 3)), lin1.weight, lin1.bias), norm1, training)),
        lin2.weight,
        lin2.bias,
    )
    layers = list(m.spatial_att.convs)
    s = F.relu(bn(conv(x, layers[0]), layers[1], training))
    for i in (3, 6):
        s = F.relu(bn(conv(s, layers[i], padding=4, dilation=4), layers[i + 1], training))
    spatial = conv(s, layers[9])
    return x * (1 + torch.sigmoid(channel[:, :, None, None] * spatial))


def reference_triplet(m: nn.Module, x: Tensor, training: bool) -> Tensor:
    """Triplet attention (landskape-ai/triplet-attention ``MODELS/triplet_attention.py``):
    ChannelGateH on ``x.permute(0, 2, 1, 3)``, ChannelGateW on ``x.permute(0, 3, 2, 1)``, each
    permuted back, SpatialGate on ``x``; ``(1/3) * (sum)``."""
    h = released_spatial_gate(m.cw, x.permute(0, 2, 1, 3), training).permute(0, 2, 1, 3)
    w = released_spatial_gate(m.hc, x.permute(0, 3, 2, 1), training).permute(0, 3, 2, 1)
    return (1 / 3) * (released_spatial_gate(m.hw, x, training) + h + w)


def reference_eca(m: nn.Module, x: Tensor, training: bool) -> Tensor:
    """ECA (BangguWu/ECANet ``models/eca_module.py``): avg pool, Conv1d(1, 1, k, padding
    (k - 1) / 2, no bias) over the channel axis, sigmoid, ``x * y.expand_as(x)``."""
    del training
    k = m.conv.kernel_size[0]
    y = x.mean(dim=(2, 3))[:, None, :]  # (N, 1, C): the channels are the conv's length axis
    y = torch.sigmoid(F.conv1d(y, m.conv.weight, None, padding=(k - 1) // 2))
    return x * y[:, 0, :, None, None]


def reference_gc(m: nn.Module, x: Tensor, training: bool) -> Tensor:
    """GC block (xvjiarui/GCNet ``ContextBlock``, pooling "att", fusion "channel_add"): conv_mask
    1x1 C -> 1 with bias, softmax over H*W, context = x weighted by it; channel_add_conv = 1x1 with
    bias, ``nn.LayerNorm([planes, 1, 1])`` (eps 1e-5), ReLU, 1x1 with bias; ``x + add``."""
    del training
    n, c, h, w = x.shape
    mask = torch.softmax(conv(x, m.conv_attn).view(n, 1, h * w), dim=2)
    context = torch.matmul(x.view(n, 1, c, h * w), mask.unsqueeze(-1)).view(n, c, 1, 1)
    mlp = m.mlp_add
    planes = mlp.fc1.out_channels
    t = conv(context, mlp.fc1)
    t = F.layer_norm(
        t, [planes, 1, 1], mlp.norm.weight.view(-1, 1, 1), mlp.norm.bias.view(-1, 1, 1), 1e-5
    )
    return x + conv(F.relu(t), mlp.fc2)


def reference_nonlocal(m: nn.Module, x: Tensor, training: bool) -> Tensor:
    """SAGAN ``Self_Attn`` (heykeetae/Self-Attention-GAN): energy = bmm(query^T, key), softmax over
    the last axis, out = bmm(value, attention^T), ``gamma * out + x``."""
    del training
    n, c, h, w = x.shape
    query = conv(x, m.query).view(n, -1, h * w).permute(0, 2, 1)
    key = conv(x, m.key).view(n, -1, h * w)
    attention = torch.softmax(torch.bmm(query, key), dim=-1)
    value = conv(x, m.value).view(n, -1, h * w)
    out = torch.bmm(value, attention.permute(0, 2, 1)).view(n, c, h, w)
    return m.gamma * out + x


def reference_mhsa(m: nn.Module, x: Tensor, training: bool) -> Tensor:
    """Multi-head attention of "Attention Is All You Need" as ``nn.MultiheadAttention`` computes it
    (packed q/k/v input projection, heads split in order, scaled dot product, output projection),
    over the H*W positions, added to ``x``."""
    del training
    n, c, h, w = x.shape
    mha = nn.MultiheadAttention(c, m.heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(m.qkv.weight.flatten(1))
        mha.in_proj_bias.copy_(m.qkv.bias)
        mha.out_proj.weight.copy_(m.proj.weight.flatten(1))
        mha.out_proj.bias.copy_(m.proj.bias)
    seq = x.flatten(2).transpose(1, 2)
    out, _ = mha(seq, seq, seq, need_weights=False)
    return x + out.transpose(1, 2).reshape(n, c, h, w)


Reference = Callable[[nn.Module, Tensor, bool], Tensor]
# name -> (reference, hyper-parameters, channels); shapes are square (BAM's pooling assumes it)
REFERENCES: dict[str, tuple[Reference, dict[str, object], int]] = {
    "se": (reference_se, {}, 32),
    "cbam": (reference_cbam, {}, 32),
    "bam_official": (reference_bam_official, {}, 32),
    "triplet": (reference_triplet, {}, 16),
    "eca": (reference_eca, {"kernel_size": 5}, 32),
    "gc": (reference_gc, {}, 32),
    "nonlocal": (reference_nonlocal, {}, 16),
    "mhsa": (reference_mhsa, {"heads": 4}, 16),
}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_module_equals_its_released_definition(name: str, training: bool) -> None:
    reference, hparams, channels = REFERENCES[name]
    module = randomise(ATTENTIONS.get(name)(channels, **hparams)).train(training)
    x = torch.randn(4, channels, 7, 7, generator=torch.Generator().manual_seed(1))
    want = reference(copy.deepcopy(module), x, training)
    with torch.no_grad():
        got = module(x)
    assert (got - want).abs().max() < TOLERANCE
    assert (want - x).abs().max() > 1e-2  # the module does something the comparison can see


def test_references_see_a_wrong_constant() -> None:
    """Negative control of the method: GC with timm's LayerNorm eps (1e-6) on a small context
    differs from the released block; triplet with the rotations swapped differs too."""
    torch.manual_seed(0)
    x = torch.randn(4, 16, 7, 7) * 1e-3  # a near-constant context, where eps matters
    timm_eps = randomise(ATTENTIONS.get("gc")(16, reduction=4, ln_eps=1e-6)).eval()
    nn.init.zeros_(timm_eps.mlp_add.fc1.bias)  # keep the LayerNorm's input as small as the context
    with torch.no_grad():
        assert (timm_eps(x) - reference_gc(timm_eps, x, False)).abs().max() > 10 * TOLERANCE
        timm_eps.mlp_add.norm.eps = 1e-5  # the released value: the same input now agrees
        assert (timm_eps(x) - reference_gc(timm_eps, x, False)).abs().max() < TOLERANCE
    module = randomise(ATTENTIONS.get("triplet")(16)).eval()
    x = torch.randn(4, 16, 7, 7)
    with torch.no_grad():
        want = reference_triplet(module, x, False)
        module.cw, module.hc = module.hc, module.cw
        assert (module(x) - want).abs().max() > 1e-3


def released_basic_block(block: nn.Module, x: Tensor, attn: nn.Module, where: str) -> Tensor:
    """The BasicBlock forward of the official SE / CBAM / triplet ResNets (``MODELS/resnet.py``):
    conv-BN-ReLU, conv-BN, the module (``where = "block"``), ``+= residual``, ReLU. ``where =
    "post"`` puts the module after the final ReLU instead: the negative control."""
    out = block.act1(block.bn1(block.conv1(x)))
    out = block.bn2(block.conv2(out))
    if where == "block":
        out = attn(out)
    residual = x if block.downsample is None else block.downsample(x)
    out = block.act2(out + residual)
    return attn(out) if where == "post" else out


@pytest.mark.parametrize("name", ["se", "cbam", "triplet", "eca"])
def test_block_slot_is_the_released_one(name: str) -> None:
    """In ResNet-18, the module sits where the official ResNets call it; a wrong slot fails."""
    torch.manual_seed(0)
    model = randomise(build_model("resnet18", name, num_classes=10)).eval()
    block = model_stages(model)[3][0]  # a block with a projection shortcut
    attn = block.se.attn
    x = torch.randn(2, block.conv1.in_channels, 8, 8)
    with torch.no_grad():
        got = block(x)
        assert (got - released_basic_block(block, x, attn, "block")).abs().max() < TOLERANCE
        assert (got - released_basic_block(block, x, attn, "post")).abs().max() > 1e-3


def test_bam_stage_slot_is_the_released_one() -> None:
    """The official BAM ResNet applies ``bam1..bam3`` to the outputs of layer1..layer3; our stage
    placement does the same (and not before the stage's blocks)."""
    torch.manual_seed(0)
    model = randomise(build_model("resnet18", "bam_official", num_classes=10)).eval()
    stages = model_stages(model)
    assert not hasattr(stages[5], "attn")  # none after the last stage
    stage = stages[2]
    blocks, bam = stage[:-1], stage.attn.attn
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        got = stage(x)
        assert (got - bam(blocks(x))).abs().max() < TOLERANCE
        assert (got - blocks(bam(x))).abs().max() > 1e-3
