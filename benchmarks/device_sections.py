"""The sections of ``device_check.py``: each takes a ``Context`` and returns its JSON figures.

a. modules: every registered attention module on ResNet-20 (32 px) and ResNet-50 (224 px; 64 px
   with ``smoke``), two training steps through the harness's own step (``bench.train.prepare``:
   bf16 autocast and channels_last on CUDA); a failure, a non-finite loss, a Conv2d/Linear output
   that is not bf16 under autocast, or an attention module whose output leaves its input's dtype is
   listed. a-compile: the same under ``torch.compile`` for one module, with its graph breaks.
b. grid: ``bench run --device <device>`` on a two-run grid, then ``bench report``, in subprocesses;
   the records are copied next to the JSON.
c. train throughput: images/s of the harness's epoch loop against a minimal hand-written step on
   pre-made device tensors, same model, batch, precision and memory format (goal >= 0.9), and a
   host-sync probe over augmented steps (pad-4 crop, flip, random erasing).
d. latency: ``measure_latency`` against timm's ``benchmark.py`` method (see ``device_latency``).
e. packing: aggregate training images/s with K = 1, 2, 4 runs at once on one GPU through the
   process executor, from the records' per-epoch seconds (start-up excluded).
"""

from __future__ import annotations

import collections
import json
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

import registry
from bench.data import Augment, ImageDataset, Split
from bench.execute.process import run_processes
from bench.grid import expand_grid
from bench.train import memory_format, prepare, train_epoch

REPO = Path(__file__).resolve().parents[1]
COMPILED = "se"  # the module section a-compile runs under torch.compile (on ResNet-20)
HOOKED = (nn.Conv2d, nn.Linear)  # layers whose outputs must be bf16 under autocast


class StickyDeviceError(RuntimeError):
    """The device is unusable after an error (illegal address, device-side assert): stop."""


@dataclass(frozen=True)
class Context:
    """What every section needs: where, how big, a scratch folder, when time is up, the output."""

    device: torch.device
    smoke: bool
    work: Path
    deadline: float  # time.perf_counter() value after which no further row starts
    records: Path  # where section b's run records are copied


def device_error(device: torch.device) -> str | None:
    """Why ``device`` cannot run a kernel any more (a sticky CUDA error), or None when it can."""
    if device.type != "cuda":
        return None
    try:
        torch.cuda.synchronize(device)
        (torch.ones(1, device=device) + 1).item()
    except Exception as err:  # any failure of a trivial kernel means the context is gone
        return f"{type(err).__name__}: {err}".splitlines()[0]
    return None


def random_data(n: int, size: int, classes: int, device: torch.device) -> ImageDataset:
    """Random uint8 images on ``device``: the speed checks measure compute, not data."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    split = Split(images, labels, augmentation=Augment(pad=4)).to(device)
    return ImageDataset("random", classes, split, split, (0.5,) * 3, (0.25,) * 3)


def specs_for(backbone: str, size: int, attentions: list[str], train: dict) -> tuple[list, list]:
    """Resolved specs of ``backbone`` x ``attentions`` and the cells the registry rejects."""
    grid = expand_grid(
        {
            "study": {"name": "device-check"},
            "data": {"name": "shapes", "image_size": size},
            "train": train,
            "grid": {"backbone": backbone, "attention": attentions},
        }
    )
    return grid.specs, grid.rejected


def check_modules(ctx: Context) -> list[dict[str, Any]]:
    """Section a: two harness steps per module and backbone, no compile."""
    names = registry.ATTENTIONS.names()
    batch = 4 if ctx.smoke else 64
    plan = (
        ("resnet20", 32, 10, ["none", *names]),
        ("resnet50", 64 if ctx.smoke else 224, 1000, ["none", "se", "cbam"] if ctx.smoke else
         ["none", *names]),
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    for backbone, size, classes, attentions in plan:
        specs, rejected = specs_for(backbone, size, attentions, {"batch_size": batch})
        rows += [
            {"backbone": backbone, "module": c, "status": "rejected", "detail": r}
            for c, r in rejected
        ]
        data = random_data(2 * batch, size, classes, ctx.device)
        for spec in specs:
            if time.perf_counter() > ctx.deadline:
                rows.append({"backbone": backbone, "module": spec.attention, "status": "skipped",
                             "detail": "budget"})  # fmt: skip
                continue
            rows.append(two_steps(spec, data, ctx.device, compiled=False))
    return rows


def check_modules_compiled(ctx: Context) -> list[dict[str, Any]]:
    """Section a-compile: ``COMPILED`` on ResNet-20 under ``torch.compile``, breaks counted."""
    batch = 4 if ctx.smoke else 64
    specs, _ = specs_for("resnet20", 32, [COMPILED], {"batch_size": batch})
    data = random_data(2 * batch, 32, 10, ctx.device)
    return [two_steps(spec, data, ctx.device, compiled=True) for spec in specs]


def output_dtypes(model: nn.Module, x: torch.Tensor, bf16: bool) -> dict[str, Any]:
    """One forward of ``model`` under (bf16) autocast, every hooked layer's output dtype counted.

    Returns:
        ``layers``: dtype name -> number of Conv2d/Linear outputs of that dtype; ``promoted``: the
        attention modules (``registry.attention``) whose output dtype differs from their input's.
    """
    layers: collections.Counter[str] = collections.Counter()
    promoted: list[str] = []

    def count(module: nn.Module, inputs: tuple, output: Any) -> None:
        if isinstance(module, HOOKED):
            layers[str(output.dtype).removeprefix("torch.")] += 1
        elif inputs and isinstance(inputs[0], torch.Tensor) and output.dtype != inputs[0].dtype:
            promoted.append(f"{type(module).__name__}: {inputs[0].dtype} -> {output.dtype}")

    watched = [m for m in model.modules() if isinstance(m, HOOKED)]
    watched += [m for m in model.modules() if type(m).__module__.startswith("registry.attention.")]
    handles = [m.register_forward_hook(count) for m in watched]
    try:
        with torch.no_grad(), torch.autocast(x.device.type, torch.bfloat16, enabled=bf16):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return {"layers": dict(layers), "promoted": sorted(set(promoted))}


def two_steps(spec, data: ImageDataset, device: torch.device, *, compiled: bool) -> dict:
    """Two steps of the harness's own step function; what went wrong, if anything.

    Raises:
        StickyDeviceError: the step failed and left the device unusable.
    """
    import torch._dynamo

    row: dict[str, Any] = {"backbone": spec.backbone, "module": spec.attention, "compile": compiled}
    if compiled:
        spec = replace(spec, train=replace(spec.train, compile=True))
    start = time.perf_counter()
    try:
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()  # reset() keeps them: breaks would carry over
        session = prepare(spec, data, device)
        images, labels, _ = next(iter(data.train.batches(spec.train.batch_size, device)))
        x = ((images.float() / 255) - 0.5) / 0.25
        losses = torch.stack([session.step(x, labels)[0] for _ in range(2)])
        bf16 = spec.train.uses_bf16(device.type)
        dtypes = output_dtypes(session.model, x[:2], bf16)
        breaks = sum(torch._dynamo.utils.counters["graph_break"].values())
        problems = []
        if not torch.isfinite(losses).all():
            problems.append("non-finite loss")
        if bf16 and set(dtypes["layers"]) != {"bfloat16"}:
            problems.append(f"conv/linear outputs {dtypes['layers']} under bf16 autocast")
        if dtypes["promoted"]:
            problems.append("; ".join(dtypes["promoted"]))
        if breaks:
            problems.append(f"{breaks} graph break(s)")
        row |= {"status": "fallback" if problems else "ok", "detail": "; ".join(problems),
                "layer_dtypes": dtypes["layers"]}  # fmt: skip
    except Exception as err:  # the check lists failures; it must go on to the next module
        dead = device_error(device)
        if dead:
            raise StickyDeviceError(f"{spec.backbone}+{spec.attention}: {dead}") from err
        row |= {"status": "failed", "detail": f"{type(err).__name__}: {err}".splitlines()[0]}
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def check_grid(ctx: Context) -> dict[str, Any]:
    """Section b: ``bench run`` + ``bench report`` in subprocesses, as a user runs them; the run
    records (and logs of failed runs) are copied to ``ctx.records``."""
    grid = ctx.work / "grid.toml"
    size = 128 if ctx.smoke else 4096
    grid.write_text(
        f'[study]\nname = "device-grid"\n[data]\nname = "shapes"\ntrain_size = {size}\n'
        f"val_size = {size // 4}\n[train]\nepochs = 1\nbatch_size = 64\n"
        f"[measure]\nlatency_seconds = {0.05 if ctx.smoke else 0.5}\n"
        f"sfd_images = {16 if ctx.smoke else 200}\n"
        '[grid]\nbackbone = "resnet20"\nattention = ["none", "se"]\n'
    )
    start = time.perf_counter()
    results, study = ctx.work / "r", ctx.work / "r" / "device-grid"
    run = _bench("run", "--grid", str(grid), "--device", str(ctx.device), "--results", str(results))
    report = _bench("report", "--results", str(results), "--reports", str(ctx.work / "rep"))
    paths = sorted(study.glob("*.json")) + sorted(study.glob("*.log"))
    ctx.records.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy2(path, ctx.records / path.name)
    records = [json.loads(p.read_text()) for p in paths if p.suffix == ".json"]
    return {
        "run_rc": run.returncode,
        "report_rc": report.returncode,
        "statuses": sorted(r["status"] for r in records),
        "devices": sorted({r["environment"]["device_name"] for r in records}),
        "records": str(ctx.records),
        "seconds": round(time.perf_counter() - start, 1),
        "stderr_tail": (run.stderr + report.stderr)[-400:],
    }


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True
    )


def check_packing(ctx: Context) -> list[dict[str, Any]]:
    """Section e: K runs at once on one GPU (process executor). Aggregate images/s is the sum over
    runs of training images / the last epoch's seconds (its record's curve), so process start-up,
    data generation and measurement do not count."""
    size = 256 if ctx.smoke else 16384
    rows = []
    for k in (1, 2) if ctx.smoke else (1, 2, 4):
        grid = expand_grid(
            {
                "study": {"name": f"pack{k}"},
                "data": {"name": "shapes", "train_size": size, "val_size": 256},
                "train": {"epochs": 1 if ctx.smoke else 2, "batch_size": 128},
                "measure": {"flops": False, "latency": False, "sfd": False},
                "grid": {"backbone": "resnet20", "seed": list(range(k))},
            }
        )
        start = time.perf_counter()
        outcome = run_processes(
            grid.specs, ctx.work / "pack", ctx.device, Console(quiet=True), workers=k, per_gpu=k
        )
        folder = ctx.work / "pack" / f"pack{k}"
        records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
        epoch_s = [r["curves"][-1]["seconds"] for r in records if r.get("curves")]
        rows.append(
            {
                "k": k,
                "wall_s": round(time.perf_counter() - start, 1),
                "done": outcome.count("done"),
                "epoch_s": [round(s, 2) for s in epoch_s],
                "aggregate_images_per_s": round(sum(size / s for s in epoch_s), 1),
            }
        )
    base = rows[0]["aggregate_images_per_s"] or float("nan")
    for row in rows:
        row["speedup_vs_k1"] = round(row["aggregate_images_per_s"] / base, 2)
    return rows


def host_syncs(ctx: Context) -> dict[str, Any]:
    """Host syncs during augmented training steps, by ``torch.cuda.set_sync_debug_mode("warn")``.

    One epoch of 4 batches with pad-4 crop, flip and random erasing (p = 0.5); the epoch's one
    intended sync (``train_epoch`` reads its loss sum at the end) is among those counted.
    """
    if ctx.device.type != "cuda":
        return {"skipped": "host-sync debug mode exists on CUDA only"}
    train = {"batch_size": 32, "random_erasing": 0.5}
    spec = specs_for("resnet20", 32, ["none"], train)[0][0]
    data = random_data(128, 32, 10, ctx.device)
    session = prepare(spec, data, ctx.device)
    train_epoch(session, data.train, spec.train, ctx.device)  # warm-up: cuDNN, allocator
    torch.cuda.synchronize(ctx.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train_epoch(session, data.train, spec.train, ctx.device)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    messages = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)]
    return {"steps": 4, "syncs": len(messages), "first": messages[:3]}


def minimal_epoch(spec, data: ImageDataset, device: torch.device):
    """A hand-written epoch on pre-normalised device tensors, the harness's format and precision."""
    torch.manual_seed(spec.seed)
    bf16 = spec.train.uses_bf16(device.type)
    fmt = memory_format(spec.train, device)
    model = registry.build_model(spec.backbone, num_classes=data.num_classes).to(device)
    model = model.to(memory_format=fmt)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    batch = spec.train.batch_size
    assert isinstance(data.train, Split)
    images, labels = data.train.images, data.train.labels
    xs = [
        ((images[i : i + batch].float() / 255 - 0.5) / 0.25).contiguous(memory_format=fmt)
        for i in range(0, len(images), batch)
    ]
    ys = [labels[i : i + batch] for i in range(0, len(labels), batch)]

    def epoch() -> None:
        model.train()
        for x, y in zip(xs, ys, strict=True):
            with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                loss = nn.functional.cross_entropy(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return epoch


def check_throughput(ctx: Context) -> dict[str, Any]:
    """Section c: the harness's epoch loop vs a minimal step, interleaved, medians of 3; then the
    host-sync probe."""
    batch, n = (32, 256) if ctx.smoke else (256, 256 * 40)
    spec = specs_for("resnet20", 32, ["none"], {"batch_size": batch, "augment": False})[0][0]
    data = random_data(n, 32, 10, ctx.device)
    session = prepare(spec, data, ctx.device)
    minimal = minimal_epoch(spec, data, ctx.device)
    harness_ips, minimal_ips = [], []
    for _ in range(3 if ctx.smoke else 4):  # the first round warms both up; it is dropped
        harness_ips.append(
            images_per_s(lambda: train_epoch(session, data.train, spec.train, ctx.device), n, ctx)
        )
        minimal_ips.append(images_per_s(minimal, n, ctx))
    harness, base = statistics.median(harness_ips[1:]), statistics.median(minimal_ips[1:])
    return {
        "batch": batch,
        "images": n,
        "precision": spec.train.resolved_precision(ctx.device.type),
        "channels_last": spec.train.uses_channels_last(ctx.device.type),
        "harness_images_per_s": round(harness, 1),
        "minimal_images_per_s": round(base, 1),
        "ratio": round(harness / base, 3),
        "goal": 0.9,
        "host_syncs": host_syncs(ctx),
    }


def images_per_s(fn, n: int, ctx: Context) -> float:
    """``n`` / the synchronised seconds of one call of ``fn``."""
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)
    start = time.perf_counter()
    fn()
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)
    return n / (time.perf_counter() - start)
