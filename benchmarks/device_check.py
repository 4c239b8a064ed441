"""One call that proves the GPU path: every module under the harness's CUDA settings, a grid end to
end, the harness's speed against minimal code, its latency against timm's method, and GPU packing.

    python benchmarks/device_check.py --device cuda --out results/device/h200.json
    python benchmarks/device_check.py --device cpu --smoke --out /tmp/device_check.json

Sections (each figure lands in the JSON; one table is printed last):

a. modules: every registered attention module on ResNet-20 (32 px) and ResNet-50 (224 px; 64 px with
   ``--smoke``), two training steps through the harness's own step (``bench.train.prepare``: bf16
   autocast and channels_last on CUDA), and ``torch.compile`` for a subset; a failure, a non-finite
   loss, logits that are not bf16 under autocast, or a compile graph break is listed.
b. grid: ``bench run --device <device>`` on a two-run grid, then ``bench report``, in subprocesses.
c. train throughput: images/s of the harness's epoch loop against a minimal hand-written step on
   pre-made device tensors, same model, batch, precision and memory format (goal >= 0.9).
d. latency: the harness's ``measure_latency`` against timm's ``benchmark.py`` method (10 warm-up and
   40 timed steps, mean step time; CUDA events on a GPU) on the same model and batch (goal <= 5 %).
e. packing: aggregate training images/s with K = 1, 2, 4 runs at once on one GPU through the process
   executor (goal: K = 4 >= 2x K = 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import registry  # noqa: E402
from bench.data import ImageDataset, Split  # noqa: E402
from bench.execute.process import run_processes  # noqa: E402
from bench.grid import expand_grid  # noqa: E402
from bench.measure.latency import CudaTimer, measure_latency  # noqa: E402
from bench.spec import TrainSpec  # noqa: E402
from bench.train import memory_format, prepare, train_epoch  # noqa: E402

COMPILED = ("none", "se", "cbam")  # modules also run under torch.compile (on ResNet-20)


def random_data(n: int, size: int, classes: int, device: torch.device) -> ImageDataset:
    """Random uint8 images on ``device``: the speed checks measure compute, not data."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    split = Split(images, labels).to(device)
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


def check_modules(device: torch.device, smoke: bool) -> list[dict[str, Any]]:
    """Section a: two harness steps per module and backbone (plus torch.compile for a subset).

    ``smoke``: every module on ResNet-20 at batch 4, ResNet-50 with the ``COMPILED`` subset at
    64 px, and the compile path once (ResNet-20, no attention).
    """
    names = registry.ATTENTIONS.names()
    rows: list[dict[str, Any]] = []
    batch = 4 if smoke else 64
    plan = (
        ("resnet20", 32, 10, ["none", *names]),
        ("resnet50", 64 if smoke else 224, 1000, list(COMPILED) if smoke else ["none", *names]),
    )
    for backbone, size, classes, attentions in plan:
        specs, rejected = specs_for(backbone, size, attentions, {"batch_size": batch})
        rows += [
            {"backbone": backbone, "module": c, "status": "rejected", "detail": r}
            for c, r in rejected
        ]
        data = random_data(2 * batch, size, classes, device)
        for spec in specs:
            rows.append(_two_steps(spec, data, device, compiled=False))
            compiled = ("none",) if smoke else COMPILED
            if backbone == "resnet20" and spec.attention in compiled:
                rows.append(_two_steps(spec, data, device, compiled=True))
    return rows


def _two_steps(spec, data: ImageDataset, device: torch.device, *, compiled: bool) -> dict:
    """Two steps of the harness's own step function; what went wrong, if anything."""
    import torch._dynamo

    row: dict[str, Any] = {"backbone": spec.backbone, "module": spec.attention, "compile": compiled}
    if compiled:
        spec = replace(spec, train=replace(spec.train, compile=True))
    start = time.perf_counter()
    try:
        torch._dynamo.reset()
        session = prepare(spec, data, device)
        images, labels, _ = next(iter(data.train.batches(spec.train.batch_size, device)))
        x = ((images.float() / 255) - 0.5) / 0.25
        losses = torch.stack([session.step(x, labels)[0] for _ in range(2)])
        bf16 = spec.train.uses_bf16(device.type)
        with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            dtype = session.model(x[:2]).dtype
        breaks = sum(torch._dynamo.utils.counters["graph_break"].values()) if compiled else 0
        problems = []
        if not torch.isfinite(losses).all():
            problems.append("non-finite loss")
        if bf16 and dtype != torch.bfloat16:
            problems.append(f"logits {dtype} under bf16 autocast")
        if breaks:
            problems.append(f"{breaks} graph break(s)")
        row |= {"status": "fallback" if problems else "ok", "detail": "; ".join(problems)}
    except Exception as err:  # the check lists failures; it must go on to the next module
        row |= {"status": "failed", "detail": f"{type(err).__name__}: {err}".splitlines()[0]}
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def check_grid(device: torch.device, smoke: bool, work: Path) -> dict[str, Any]:
    """Section b: ``bench run`` + ``bench report`` in subprocesses, as a user runs them."""
    grid = work / "grid.toml"
    size = 128 if smoke else 4096
    grid.write_text(
        f'[study]\nname = "device-grid"\n[data]\nname = "shapes"\ntrain_size = {size}\n'
        f"val_size = {size // 4}\n[train]\nepochs = 1\nbatch_size = 64\n"
        f"[measure]\nlatency_seconds = {0.05 if smoke else 0.5}\n"
        f"sfd_images = {16 if smoke else 200}\n"
        '[grid]\nbackbone = "resnet20"\nattention = ["none", "se"]\n'
    )
    start = time.perf_counter()
    run = _bench("run", "--grid", str(grid), "--device", str(device), "--results", str(work / "r"))
    report = _bench("report", "--results", str(work / "r"), "--reports", str(work / "rep"))
    records = [json.loads(p.read_text()) for p in (work / "r" / "device-grid").glob("*.json")]
    return {
        "run_rc": run.returncode,
        "report_rc": report.returncode,
        "statuses": sorted(r["status"] for r in records),
        "devices": sorted({r["environment"]["device_name"] for r in records}),
        "seconds": round(time.perf_counter() - start, 1),
        "stderr_tail": (run.stderr + report.stderr)[-400:],
    }


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True
    )


def check_throughput(device: torch.device, smoke: bool) -> dict[str, Any]:
    """Section c: the harness's epoch loop vs a minimal step, interleaved, medians of 3."""
    batch, n = (32, 256) if smoke else (256, 256 * 40)
    spec = specs_for("resnet20", 32, ["none"], {"batch_size": batch})[0][0]
    data = random_data(n, 32, 10, device)
    session = prepare(spec, data, device)
    minimal = _minimal_step(spec, data, device)
    harness_ips, minimal_ips = [], []
    for _ in range(3 if smoke else 4):  # the first round warms both up; it is dropped
        harness_ips.append(
            _images_per_s(lambda: train_epoch(session, data.train, spec.train, device), n, device)
        )
        minimal_ips.append(_images_per_s(minimal, n, device))
    harness, base = statistics.median(harness_ips[1:]), statistics.median(minimal_ips[1:])
    return {
        "batch": batch,
        "images": n,
        "harness_images_per_s": round(harness, 1),
        "minimal_images_per_s": round(base, 1),
        "ratio": round(harness / base, 3),
        "goal": 0.9,
    }


def _minimal_step(spec, data: ImageDataset, device: torch.device):
    torch.manual_seed(spec.seed)
    bf16 = spec.train.uses_bf16(device.type)
    fmt = memory_format(spec.train, device)
    model = (
        registry.build_model(spec.backbone, num_classes=data.num_classes)
        .to(device)
        .to(memory_format=fmt)
    )
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    batch = spec.train.batch_size
    assert isinstance(data.train, Split)
    xs = [
        ((data.train.images[i : i + batch].float() / 255 - 0.5) / 0.25).contiguous(
            memory_format=fmt
        )
        for i in range(0, len(data.train), batch)
    ]
    ys = [data.train.labels[i : i + batch] for i in range(0, len(data.train), batch)]

    def epoch() -> None:
        model.train()
        for x, y in zip(xs, ys, strict=True):
            with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return epoch


def _images_per_s(fn, n: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n / (time.perf_counter() - start)


def check_latency(device: torch.device, smoke: bool) -> list[dict[str, Any]]:
    """Section d: harness latency vs timm's benchmark.py method, batch 1 and bulk."""
    size = 64 if smoke else 224
    model = registry.build_model("resnet50", num_classes=1000).to(device).eval()
    recipe = TrainSpec()  # the harness's defaults for this device
    fmt = memory_format(recipe, device)
    model = model.to(memory_format=fmt)
    precision = recipe.resolved_precision(device.type)
    bulk = 4 if smoke else 256
    harness, _ = measure_latency(
        model,
        size,
        3,
        1000,
        device,
        precision=precision,
        channels_last=recipe.uses_channels_last(device.type),
        batch_bulk=bulk,
        train_step=False,
        min_seconds=0.2 if smoke else 1.0,
    )
    rows = []
    for key, batch in (("batch_1", 1), ("batch_bulk", bulk)):
        timm_ms = _timm_step_ms(model, batch, size, device, fmt, precision, smoke)
        ours = harness[key]["median_ms"]
        rows.append(
            {
                "batch": batch,
                "harness_median_ms": round(ours, 3),
                "timm_mean_ms": round(timm_ms, 3),
                "harness_iqr_ms": round(harness[key]["iqr_ms"], 3),
                "relative_difference": round(ours / timm_ms - 1, 4),
                "goal": 0.05,
            }
        )
    return rows


def _timm_step_ms(
    model, batch: int, size: int, device: torch.device, fmt, precision: str, smoke: bool
) -> float:
    """timm benchmark.py's InferenceBenchmarkRunner: warm-up steps, then the mean timed step."""
    warm, bench_iters = (2, 5) if smoke else (10, 40)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16")
    timer = CudaTimer(device) if device.type == "cuda" else None

    def step() -> float:
        if timer is None:
            start = time.perf_counter()
            with autocast:
                model(x)
            return (time.perf_counter() - start) * 1e3
        begin = timer.event()
        with autocast:
            model(x)
        end = timer.event()
        timer.synchronize()
        return timer.elapsed_ms(begin, end)

    with torch.no_grad():
        for _ in range(warm):
            step()
        return statistics.fmean(step() for _ in range(bench_iters))


def check_packing(device: torch.device, smoke: bool, work: Path) -> list[dict[str, Any]]:
    """Section e: K runs at once on one GPU (process executor): aggregate training images/s."""
    size = 256 if smoke else 16384
    epochs = 1 if smoke else 2
    rows = []
    for k in (1, 2) if smoke else (1, 2, 4):
        grid = expand_grid(
            {
                "study": {"name": f"pack{k}"},
                "data": {"name": "shapes", "train_size": size, "val_size": 256},
                "train": {"epochs": epochs, "batch_size": 128},
                "measure": {"flops": False, "latency": False, "sfd": False},
                "grid": {"backbone": "resnet20", "seed": list(range(k))},
            }
        )
        start = time.perf_counter()
        outcome = run_processes(
            grid.specs, work / "pack", device, Console(quiet=True), workers=k, per_gpu=k
        )
        wall = time.perf_counter() - start
        rows.append(
            {
                "k": k,
                "wall_s": round(wall, 1),
                "done": outcome.count("done"),
                "aggregate_images_per_s": round(k * size * epochs / wall, 1),
            }
        )
    base = rows[0]["aggregate_images_per_s"]
    for row in rows:
        row["speedup_vs_k1"] = round(row["aggregate_images_per_s"] / base, 2)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="toy sizes (a CPU in under 2 minutes)")
    parser.add_argument("--out", required=True, help="JSON file for every figure")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    console = Console()
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "smoke": args.smoke,
    }
    sections = {"modules": check_modules, "throughput": check_throughput, "latency": check_latency}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in sections.items():
            report[name] = _timed(console, name, lambda fn=fn: fn(device, args.smoke))
        report["grid"] = _timed(console, "grid", lambda: check_grid(device, args.smoke, Path(tmp)))
        report["packing"] = _timed(
            console, "packing", lambda: check_packing(device, args.smoke, Path(tmp))
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    console.print(summary_table(report))
    return 0


def _timed(console: Console, name: str, fn) -> Any:
    start = time.perf_counter()
    try:
        result = fn()
    except Exception as err:  # a section that crashes is reported, the others still run
        result = {"error": f"{type(err).__name__}: {err}".splitlines()[0]}
    console.print(f"{name}: {time.perf_counter() - start:.1f} s")
    return result


def summary_table(report: dict[str, Any]) -> Table:
    """The one table printed last: each check, its figure, its goal."""
    table = Table(title=f"device check on {report['device']} (torch {report['torch']})")
    for column in ("check", "figure", "goal"):
        table.add_column(column)
    modules = report["modules"]
    if isinstance(modules, list):
        bad = [
            f"{m['backbone']}+{m['module']}{' compiled' if m.get('compile') else ''}: {m['status']}"
            for m in modules
            if m["status"] in ("failed", "fallback")
        ]
        ok = sum(m["status"] == "ok" for m in modules)
        table.add_row("a. modules", f"{ok} ok; " + ("; ".join(bad) or "none failed"), "all ok")
    grid = report["grid"]
    table.add_row(
        "b. bench run + report",
        json.dumps({k: grid.get(k) for k in ("run_rc", "report_rc", "statuses")}),
        "rc 0, all done",
    )
    throughput = report["throughput"]
    table.add_row("c. harness/minimal images/s", str(throughput.get("ratio", throughput)), ">= 0.9")
    for row in report["latency"] if isinstance(report["latency"], list) else []:
        table.add_row(
            f"d. latency b={row['batch']} vs timm",
            f"{row['relative_difference']:+.1%}",
            "within 5 %",
        )
    for row in report["packing"] if isinstance(report["packing"], list) else []:
        table.add_row(
            f"e. packing K={row['k']}",
            f"{row['aggregate_images_per_s']} img/s (x{row['speedup_vs_k1']})",
            "K=4 >= 2x K=1",
        )
    return table


if __name__ == "__main__":
    sys.exit(main())
