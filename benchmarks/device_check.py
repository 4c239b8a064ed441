"""One short call that proves the GPU path and cannot lose its answer.

    PYTHONUNBUFFERED=1 python benchmarks/device_check.py --device cuda --budget 360 \\
        --out results/device/h100.json
    python benchmarks/device_check.py --device cpu --smoke --out /tmp/device_check.json

Sections run in the order b (``bench run`` + ``bench report`` end to end), a (every module, two
harness steps), c (train throughput vs a minimal step, host-sync probe), d (latency vs timm's
method), a-compile (one module under ``torch.compile``), e (GPU packing); ``--sections`` picks some
(see ``device_sections`` for what each measures). The JSON at ``--out`` is rewritten after every
section; section b's run records are copied to ``<out stem>-records/`` beside it. A section whose
estimated cost no longer fits ``--budget`` is skipped and listed as such; the first error that
leaves the GPU unusable (a sticky CUDA error) stops the check and names the section that hit it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import device_sections as ds
from device_latency import check_latency

# letter -> (JSON key, section, estimated seconds on an H100, estimated seconds of --smoke on CPU)
SECTIONS: dict[str, tuple[str, Callable[[ds.Context], Any], float, float]] = {
    "b": ("grid", ds.check_grid, 90, 80),
    "a": ("modules", ds.check_modules, 60, 40),
    "c": ("throughput", ds.check_throughput, 30, 15),
    "d": ("latency", check_latency, 30, 10),
    "a-compile": ("modules_compiled", ds.check_modules_compiled, 60, 240),
    "e": ("packing", ds.check_packing, 90, 120),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="toy sizes (a CPU in minutes)")
    parser.add_argument("--out", required=True, help="JSON file for every figure (any folder)")
    parser.add_argument("--budget", type=float, default=360, help="seconds for all sections")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated, of {list(SECTIONS)}"
    )
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections within the budget; 0 unless the device died (then 2)."""
    args = parse_args(argv)
    device, out, console = torch.device(args.device), Path(args.out), Console()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "smoke": args.smoke,
        "budget_s": args.budget,
        "sections": args.sections,
        "skipped": {},
        "stopped": None,
    }
    start = time.perf_counter()
    write_json(out, report)  # a bad --out fails now, not after the first section
    with tempfile.TemporaryDirectory() as tmp:
        ctx = ds.Context(device, args.smoke, Path(tmp), start + args.budget,
                         out.with_name(f"{out.stem}-records"))  # fmt: skip
        for letter in args.sections:
            if not run_section(letter, ctx, report, console):
                break
            write_json(out, report)
    report["total_s"] = round(time.perf_counter() - start, 1)
    write_json(out, report)
    console.print(summary_table(report))
    return 2 if report["stopped"] else 0


def run_section(letter: str, ctx: ds.Context, report: dict[str, Any], console: Console) -> bool:
    """Run one section into ``report`` unless its estimate no longer fits; False: stop the check."""
    key, fn, full_s, smoke_s = SECTIONS[letter]
    left = ctx.deadline - time.perf_counter()
    needs = smoke_s if ctx.smoke else full_s
    if needs > left:
        report["skipped"][letter] = f"budget: needs ~{needs:.0f} s, {max(0.0, left):.0f} s left"
        console.print(f"{letter} ({key}): skipped, {report['skipped'][letter]}")
        return True
    begin = time.perf_counter()
    try:
        report[key] = fn(ctx)
    except ds.StickyDeviceError as err:
        report["stopped"] = {"section": letter, "error": str(err)}
    except Exception as err:  # a section that crashes is reported, the others still run
        report[key] = {"error": f"{type(err).__name__}: {err}".splitlines()[0]}
        dead = ds.device_error(ctx.device)
        if dead:
            report["stopped"] = {"section": letter, "error": dead}
    report.setdefault("seconds", {})[letter] = round(time.perf_counter() - begin, 1)
    console.print(f"{letter} ({key}): {report['seconds'][letter]} s")
    if report["stopped"]:
        console.print(f"[red]stopped in section {letter}: {report['stopped']['error']}[/red]")
    return not report["stopped"]


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` to ``path`` atomically (a killed check leaves the last complete JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(tmp, path)


def summary_table(report: dict[str, Any]) -> Table:
    """The one table printed last: each check, its figure, its goal."""
    table = Table(title=f"device check on {report['device']} (torch {report['torch']})")
    for column in ("check", "figure", "goal"):
        table.add_column(column)
    for letter in ("a", "a-compile"):
        modules = report.get(SECTIONS[letter][0])
        if isinstance(modules, list):
            table.add_row(f"{letter}. modules", _modules_figure(modules), "all ok")
    grid = report.get("grid")
    if isinstance(grid, dict) and "run_rc" in grid:
        figure = {k: grid.get(k) for k in ("run_rc", "report_rc", "statuses")}
        table.add_row("b. bench run + report", json.dumps(figure), "rc 0, all done")
    throughput = report.get("throughput")
    if isinstance(throughput, dict) and "ratio" in throughput:
        table.add_row("c. harness/minimal images/s", str(throughput["ratio"]), ">= 0.9")
        table.add_row("c. host syncs", json.dumps(throughput["host_syncs"])[:80], "1 per epoch")
    for row in report.get("latency") if isinstance(report.get("latency"), list) else []:
        table.add_row(
            f"d. latency b={row['batch']} vs timm", f"{row['relative_difference']:+.1%}", "<= 5 %"
        )
    for row in report.get("packing") if isinstance(report.get("packing"), list) else []:
        figure = f"{row['aggregate_images_per_s']} img/s (x{row['speedup_vs_k1']})"
        table.add_row(f"e. packing K={row['k']}", figure, "K=4 >= 2x K=1")
    for letter, why in report["skipped"].items():
        table.add_row(f"{letter}. {SECTIONS[letter][0]}", f"skipped ({why})", "")
    for letter in report["sections"]:
        value = report.get(SECTIONS[letter][0])
        if isinstance(value, dict) and "error" in value:
            table.add_row(f"{letter}. {SECTIONS[letter][0]}", f"error: {value['error']}", "")
    if report["stopped"]:
        table.add_row("stopped", json.dumps(report["stopped"]), "")
    return table


def _modules_figure(modules: list[dict[str, Any]]) -> str:
    bad = [
        f"{m['backbone']}+{m['module']}{' compiled' if m.get('compile') else ''}: {m['status']}"
        for m in modules
        if m["status"] in ("failed", "fallback", "skipped")
    ]
    ok = sum(m["status"] == "ok" for m in modules)
    return f"{ok} ok; " + ("; ".join(bad) or "none failed")


if __name__ == "__main__":
    sys.exit(main())
