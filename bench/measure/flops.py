"""Multiply-accumulate counts (GMACs) under three stated conventions, from one fvcore trace.

Conventions (all count one multiply-add as 1, never 2; the model is traced in eval mode, batch 1):

* ``gmacs``: fvcore's convention - fvcore's own handles (conv, linear/addmm, matmul/bmm/einsum,
  batch/group/layer/instance norm, upsampling, adaptive average pooling, grid sampling) plus
  handles for what it misses: ``torchvision::deform_conv2d`` (conv MACs + 4 per bilinear sample,
  fvcore's ``grid_sampler`` convention), ``aten::scaled_dot_product_attention`` (two matmuls +
  1 per attention-matrix element for the softmax), a broadcasting-correct ``matmul``/``bmm`` and
  ``softmax`` (1 per element). Elementwise ops (add, mul, sigmoid, ...) count as 0, as in fvcore.
* ``gmacs_all``: ``gmacs`` plus elementwise and pooling ops at 1 per output element (reductions
  such as mean/amax/sum: 1 per input element; max/avg pooling: 1 per window element), so an
  attention module's gates and poolings are not invisible.
* ``gmacs_paper``: conv + linear + matmul only (deformable conv: its conv MACs; SDPA: its two
  matmuls): the convention the SE, CBAM and BAM papers report as "GFLOPs".

Whatever fvcore still cannot count is listed in ``flops_unsupported_ops`` (op -> calls).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from math import prod
from typing import Any

import torch
from torch import nn

with warnings.catch_warnings():  # fvcore's imports use torch.jit.script, deprecated in torch 2.x
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis

Handle = Any  # fvcore: (inputs: list[torch._C.Value], outputs: list[torch._C.Value]) -> Counter

# Counter keys (operator names after fvcore's simplification) that make up each convention.
PAPER_OPS = frozenset(
    {"conv", "linear", "addmm", "matmul", "mm", "bmm", "einsum", "deform_conv2d", "sdpa_matmul"}
)
FVCORE_EXTRA_OPS = frozenset(
    {
        "batch_norm", "group_norm", "layer_norm", "instance_norm", "upsample_nearest2d",
        "upsample_bilinear2d", "adaptive_avg_pool2d", "grid_sampler", "deform_conv2d_sampling",
        "softmax", "sdpa_softmax",
    }
)  # fmt: skip
GMACS_OPS = PAPER_OPS | FVCORE_EXTRA_OPS

ELEMENTWISE = (
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "sigmoid", "sigmoid_",
    "tanh", "tanh_", "relu", "relu_", "relu6", "gelu", "silu", "silu_", "hardsigmoid",
    "hardswish", "hardtanh", "hardtanh_", "leaky_relu", "elu", "exp", "log", "sqrt", "rsqrt",
    "pow", "neg", "abs", "clamp", "clamp_", "clamp_min", "log_softmax", "sign", "erf",
)  # fmt: skip
REDUCTIONS = ("mean", "sum", "amax", "amin", "max", "min", "std", "var", "norm", "logsumexp")
POOLS = ("max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d", "max_pool3d", "avg_pool3d")
ADAPTIVE_POOLS = ("adaptive_max_pool2d", "adaptive_max_pool1d", "adaptive_avg_pool1d")
# shape and copy ops fvcore does not already ignore: truly 0 MACs, so neither counted nor listed
ZERO_COST = (
    "expand_as",
    "view_as",
    "reshape_as",
    "repeat",
    "pad",
    "flip",
    "movedim",
    "clone",
    "unflatten",
    "tensor_split",
    "fill_",
    "zero_",
    "lt",
    "le",
    "ne",
    "where",
    "argmax",
)


def count_gmacs(
    model: nn.Module, image_size: int, in_chans: int = 3, *, by_operator: bool = False
) -> dict[str, Any]:
    """GMACs of ``model`` on one ``in_chans x image_size x image_size`` image, three conventions.

    Args:
        model: the network; traced in eval mode on its own device (its mode is restored).
        image_size: input side in px (the run's own size).
        in_chans: input channels.
        by_operator: also return ``gmacs_by_operator`` (op -> GMACs, every counted op).

    Returns:
        ``gmacs``, ``gmacs_all``, ``gmacs_paper`` (floats, 1e9 MACs) and ``flops_unsupported_ops``
        (op -> number of calls fvcore could not count, after our handles).
    """
    device = next(iter(model.parameters()), torch.empty(0)).device
    image = torch.zeros(1, in_chans, image_size, image_size, device=device)
    counts, unsupported = trace_counts(model, image)
    result: dict[str, Any] = {
        "gmacs": sum(v for k, v in counts.items() if k in GMACS_OPS) / 1e9,
        "gmacs_all": sum(counts.values()) / 1e9,
        "gmacs_paper": sum(v for k, v in counts.items() if k in PAPER_OPS) / 1e9,
        "flops_unsupported_ops": dict(sorted(unsupported.items())),
    }
    if by_operator:
        result["gmacs_by_operator"] = {k: v / 1e9 for k, v in sorted(counts.items())}
    return result


def trace_counts(model: nn.Module, *inputs: torch.Tensor) -> tuple[Counter[str], Counter[str]]:
    """MACs per operator key and unsupported op calls, with every handle of this module set."""
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, inputs).set_op_handle(**all_handles())
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        logging.getLogger("fvcore.nn.jit_analysis").setLevel(logging.ERROR)
        with torch.no_grad():
            counts = Counter(analysis.by_operator())
            unsupported = Counter(analysis.unsupported_ops())
    finally:
        model.train(was_training)
    return counts, unsupported


def all_handles() -> dict[str, Handle]:
    """Op name -> handle for everything fvcore misses (its own handles stay in place)."""
    handles: dict[str, Handle] = {
        "torchvision::deform_conv2d": deform_conv2d_handle,
        "aten::scaled_dot_product_attention": sdpa_handle,
        "aten::matmul": matmul_handle,
        "aten::bmm": matmul_handle,
        "aten::mm": matmul_handle,
        "aten::softmax": _per_output("softmax"),
        "aten::_softmax": _per_output("softmax"),
    }
    for op in ELEMENTWISE:
        handles[f"aten::{op}"] = _per_output(op.rstrip("_"))
    for op in REDUCTIONS:
        handles[f"aten::{op}"] = _per_input(op)
    for op in ADAPTIVE_POOLS:
        handles[f"aten::{op}"] = _per_input(op)
    for op in POOLS:
        handles[f"aten::{op}"] = pool_handle
    for op in ZERO_COST:
        handles[f"aten::{op}"] = None  # fvcore: a None handle marks the op as explicitly ignored
    return handles


def _shape(value: Any) -> list[int] | None:
    return value.type().sizes() if value.isCompleteTensor() else None


def deform_conv2d_handle(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
    """``torchvision::deform_conv2d``: conv MACs, plus bilinear sampling and the optional mask.

    Conv MACs = N * C_out * H_out * W_out * (C_in / groups) * kh * kw (as fvcore counts a conv).
    Sampling = 4 MACs per sampled input value (bilinear, fvcore's ``grid_sampler`` convention):
    N * C_in * kh * kw * H_out * W_out values; a modulation mask adds 1 per sampled value.
    """
    x, w, out = _shape(inputs[0]), _shape(inputs[1]), _shape(outputs[0])
    assert x is not None and w is not None and out is not None
    n, c_in = x[0], x[1]
    kh, kw = w[2], w[3]
    sites = prod(out[2:])
    samples = n * c_in * kh * kw * sites
    use_mask = bool(inputs[13].toIValue())
    return Counter(
        {
            "deform_conv2d": n * prod(w) * sites,
            "deform_conv2d_sampling": samples * (5 if use_mask else 4),
        }
    )


def sdpa_handle(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
    """``aten::scaled_dot_product_attention`` with q (..., L, E), k (..., S, E), v (..., S, Ev).

    Matmuls: Q K^T = batch * L * S * E and A V = batch * L * S * Ev; softmax: 1 per element of
    the batch x L x S attention matrix (the 1/sqrt(E) scaling is folded into it).
    """
    q, k, v = (_shape(t) for t in inputs[:3])
    assert q is not None and k is not None and v is not None
    batch = prod(torch.broadcast_shapes(tuple(q[:-2]), tuple(k[:-2])))
    length, source = q[-2], k[-2]
    return Counter(
        {
            "sdpa_matmul": batch * length * source * (q[-1] + v[-1]),
            "sdpa_softmax": batch * length * source,
        }
    )


def matmul_handle(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
    """``matmul``/``bmm``/``mm`` with broadcasting: output elements x the contracted size."""
    a, out = _shape(inputs[0]), _shape(outputs[0])
    assert a is not None and out is not None
    return Counter({"matmul": prod(out) * a[-1]})


def pool_handle(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
    """Max/avg pooling: 1 per window element of every output (kernel from the op's arguments)."""
    out = _shape(outputs[0])
    assert out is not None
    return Counter({"pool": prod(out) * prod(_int_list(inputs[1]))})


def _int_list(value: Any) -> list[int]:
    """A traced int[] argument: a constant, or a ``prim::ListConstruct`` of constants."""
    constant = value.toIValue()
    if constant is not None:
        return list(constant)
    return [int(v.toIValue()) for v in value.node().inputs()]


def _per_output(name: str) -> Handle:
    def handle(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
        shape = _shape(outputs[0])
        return Counter({name: prod(shape) if shape is not None else 0})

    return handle


def _per_input(name: str) -> Handle:
    def handle(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
        shape = _shape(inputs[0])
        return Counter({name: prod(shape) if shape is not None else 0})

    return handle
