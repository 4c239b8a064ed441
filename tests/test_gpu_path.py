"""The GPU path's defects that a CPU can check: bf16 stays bf16 through the attention modules, SDPA
gets 4-D input, random erasing needs no host-to-device copy, fp32-CPU and bf16-GPU seeds are
never pooled, OOM back-off recognises library allocation failures, the latency bulk batch follows
the image size, packed runs say that they share a GPU, and the determinism note names what it must.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from bench.data.augment import ERASE_FILL, random_erase
from bench.execute.oom import out_of_memory
from bench.execute.process import worker_env
from bench.measure.latency import GPU_SHARED_ENV, bulk_batch, gpu_shared_by
from bench.store import records_frame
from bench.train import _op_name, silent_nondeterministic_ops
from registry import ATTENTIONS


class OpTrace(TorchDispatchMode):
    """Every aten op that runs inside the block, with its keyword arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, dict]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append((str(func), dict(kwargs or {})))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", ["das", "nonlocal"])
def test_attention_output_stays_in_the_autocast_dtype(name: str) -> None:
    module = ATTENTIONS.get(name)(16)
    with torch.no_grad():
        for param in module.parameters():  # gamma starts at 0: make every path count
            param.add_(0.1)
    x = torch.randn(2, 16, 6, 6).to(torch.bfloat16)
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        out = module(x)
    assert out.dtype == torch.bfloat16  # an fp32 gate or gamma would promote the stream
    assert module(x.float()).dtype == torch.float32


def test_nonlocal_gives_sdpa_four_dimensional_input(monkeypatch) -> None:
    shapes: list[tuple[int, ...]] = []
    sdpa = F.scaled_dot_product_attention

    def recording(q, k, v, **kwargs):
        shapes.append(tuple(q.shape))
        return sdpa(q, k, v, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", recording)
    ATTENTIONS.get("nonlocal")(16)(torch.randn(2, 16, 5, 5))
    assert shapes == [(2, 1, 25, 2)]  # (N, heads = 1, HW, C // 8): a shape the fused kernels take


def test_random_erasing_makes_no_host_to_device_copy() -> None:
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    with OpTrace() as trace:
        erased = random_erase(images, 1.0, torch.Generator().manual_seed(0))
    names = [op for op, _ in trace.ops]
    # torch.tensor(fill, device=...) shows as lift_fresh (+ a copy to the device on a GPU)
    assert "aten.lift_fresh.default" not in names
    assert not [kw for op, kw in trace.ops if op.startswith("aten._to_copy") and "device" in kw]
    fill = round(255 * ERASE_FILL)
    assert ((erased == fill) & (images != fill)).any()  # it did erase
    again = random_erase(images, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(erased, again)


def _record(seed: int, device: str, precision: str | None, **extra) -> dict:
    record = {
        "spec": {
            "study": "s", "backbone": "resnet20", "attention": "se", "placement": "block",
            "stages": None, "hparams": {}, "seed": seed, "data": {"name": "shapes"},
            "train": {"epochs": 1, "precision": "auto"},
        },
        "run_id": f"{seed:012x}", "config_id": "c0ffee000000", "label": "resnet20 + se",
        "status": "done", "environment": {"device": device, "device_name": device},
        "final": {"val_top1_pct": 50.0 + seed},
    }  # fmt: skip
    if precision is not None:
        record["execution"] = {"precision": precision, "channels_last": True}
    return record | extra


def test_cpu_fp32_and_gpu_bf16_seeds_are_never_pooled() -> None:
    frame = records_frame(
        [
            _record(0, "cpu", None),  # an old record: precision resolved from the spec
            _record(1, "cpu", "fp32"),
            _record(2, "cuda", "bf16"),
            _record(3, "cpu", "fp32", oom_retries=1, batch_size_used=64),
        ]
    )
    ids, labels = list(frame["config_id"]), list(frame["label"])
    # records under the reference conditions keep their config id and label exactly
    assert ids[:2] == ["c0ffee000000"] * 2 and labels[:2] == ["resnet20 + se"] * 2
    assert ids[2] == "c0ffee000000@cuda-bf16" and labels[2] == "resnet20 + se [cuda bf16]"
    assert ids[3] == "c0ffee000000@batch64" and "batch 64 after OOM" in labels[3]
    assert list(frame["conditions"]) == ["cpu fp32", "cpu fp32", "cuda bf16", "cpu fp32"]


@pytest.mark.parametrize(
    ("err", "oom"),
    [
        (torch.cuda.OutOfMemoryError("CUDA out of memory."), True),
        (RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"), True),
        (RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"), True),
        (RuntimeError("CUDA error: an illegal memory access was encountered"), False),
    ],
)
def test_library_allocation_failures_count_as_out_of_memory(err, oom) -> None:
    assert out_of_memory(err) is oom


def test_bulk_batch_shrinks_above_224_px() -> None:
    assert bulk_batch("cuda", 32) == 256 and bulk_batch("cuda", 224) == 256
    assert bulk_batch("cuda", 448) == 64 and bulk_batch("cpu", 224) == 32
    assert bulk_batch("cpu", 448) == 8 and bulk_batch("cuda", 10_000) == 1


def test_packed_workers_say_how_many_runs_share_their_gpu(monkeypatch) -> None:
    env = worker_env("0", threads=2, base={}, shared_by=4)
    assert env[GPU_SHARED_ENV] == "4" and env["CUDA_VISIBLE_DEVICES"] == "0"
    assert GPU_SHARED_ENV not in worker_env(None, threads=2, base={}, shared_by=4)
    monkeypatch.setenv(GPU_SHARED_ENV, "4")
    assert gpu_shared_by() == 4
    monkeypatch.delenv(GPU_SHARED_ENV)
    assert gpu_shared_by() == 1


def test_determinism_note_names_silent_and_once_per_process_ops() -> None:
    das = ATTENTIONS.get("das")(16)
    assert silent_nondeterministic_ops(das) == [
        "deform_conv2d backward (torchvision; atomicAdd, raises no alert)"
    ]
    assert silent_nondeterministic_ops(copy.deepcopy(ATTENTIONS.get("se")(16))) == []
    message = "Memory Efficient attention defaults to a non-deterministic algorithm."
    assert _op_name(message) == "scaled_dot_product_attention backward (fused kernel)"
