"""The ``bench`` command: list | describe | plan | run | cam | report | check. Thin: parse, call,
print.

Every user error (unknown name, bad grid, missing data, ...) is one line on stderr and exit status
2; a grid with failed runs exits 1 (on every re-run too, until ``--retry-failed`` re-runs them);
Ctrl-C keeps every finished record and exits 130.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from bench.cli_args import build_parser
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.plan import Plan

# Each command imports what it uses when it runs: torch, timm and the report stack take seconds
# to import, and `bench --help` needs none of them.

console = Console(soft_wrap=True)  # long lines stay whole in logs and pipes


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bench`` console script."""
    args = build_parser().parse_args(argv)
    try:
        from bench.execute.plugins import load_plugins
        from bench.store import damaged_records

        load_plugins()  # BENCH_PLUGINS: user modules that register attention modules or backbones
        code = int(COMMANDS[args.command](args) or 0)
        damaged = damaged_records()
        if damaged:
            print(
                f"bench: {len(damaged)} damaged record(s) moved aside as *.corrupt and skipped "
                "(bench run recomputes them)",
                file=sys.stderr,
            )
        return code
    except OSError as err:  # a path the file system refuses: too long, a loop, read-only, ...
        print(f"bench: error: {_os_error(err)}", file=sys.stderr)
        return 2
    except Exception as err:
        if not _user_error(err):
            raise
        print(f"bench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "bench: interrupted; finished runs are saved, run the same command to go on",
            file=sys.stderr,
        )
        return 130


def _os_error(err: OSError) -> str:
    """One line for a file-system error: what was refused, where, and what to check."""
    where = f" {str(err.filename)[:120]!r}" if err.filename is not None else ""
    reason = err.strerror or str(err).splitlines()[0]
    return (
        f"cannot use{where}: {reason}; check the path (its length, links and permissions) or "
        "choose another folder"
    )


def _user_error(err: Exception) -> bool:
    """Bad input (a name, a value, a combination, a file): one line and exit 2, no traceback."""
    if isinstance(err, BenchError):
        return True
    from registry.core import IncompatibleError, InvalidValueError, UnknownNameError

    return isinstance(err, UnknownNameError | IncompatibleError | InvalidValueError)


def cmd_list(args: argparse.Namespace) -> None:
    """Print every backbone, attention module, placement, dataset and bundled grid."""
    import registry
    from bench.data import DATASETS
    from bench.grid import load_grid

    for title, reg in (
        ("backbones", registry.BACKBONES),
        ("attention modules", registry.ATTENTIONS),
        ("placements", registry.PLACEMENTS),
        ("datasets", DATASETS),
    ):
        table = Table(title=title, title_justify="left", show_header=False, box=None)
        for name in reg.names():
            table.add_row(f"[bold]{name}[/bold]", reg.describe(name))
        console.print(table)
    table = Table(title="grids", title_justify="left", show_header=False, box=None)
    for path in sorted(registry.GRIDS.glob("*.toml")):
        try:
            grid = load_grid(path)
            table.add_row(
                f"[bold]{path.stem}[/bold]", f"{len(grid.specs)} runs", grid.study.description
            )
        except BenchError as err:
            table.add_row(f"[bold]{path.stem}[/bold]", "invalid", str(err))
    console.print(table)


def cmd_describe(args: argparse.Namespace) -> None:
    """Build a model as trained (a backbone + module, every architecture of a grid, or a stored
    run) and print its parameter counts and GMACs (three conventions)."""
    from bench.describe import describe_grid, describe_model, describe_record, facts_table
    from bench.grid import load_grid

    if args.run:
        models = [describe_record(Path(args.results), args.run)]
    elif args.grid:
        models = describe_grid(load_grid(_grid_path(args.grid), data_root=args.data_root))
    elif args.backbone:
        stages = [int(s) for s in args.stages.split(",")] if args.stages else None
        models = [
            describe_model(
                args.backbone,
                args.attention,
                args.placement,
                hparams=_hparams(args.hparam),
                stages=stages,
                num_classes=args.num_classes,
                image_size=args.image_size,
                in_chans=args.in_chans,
            )
        ]
    else:
        raise BenchError("describe what? give --backbone NAME, --grid GRID or --run RUN_ID")
    if args.json:
        print(json.dumps(models if args.grid else models[0], indent=1))
        return
    for facts in models:
        console.print(facts_table(facts))


def cmd_cam(args: argparse.Namespace) -> None:
    """Write the Grad-CAM grid PNG of a study (rows = images, columns = configurations)."""
    from bench.report.cam import write_cam_figure

    out = Path(args.out) if args.out else Path(args.reports) / f"{args.study}_cam.png"
    path = write_cam_figure(
        Path(args.results),
        args.study,
        out,
        images=args.images,
        layer=args.layer,
        data_root=args.data_root,
    )
    console.print(f"wrote {path}")


def cmd_run(args: argparse.Namespace) -> int:
    """Expand a grid and train every run that has no finished record yet."""
    from bench.data import load_dataset
    from bench.environment import pick_device
    from bench.execute.common import plan
    from bench.execute.inline import run_inline
    from bench.execute.preview import dry_run_table, superseded_line
    from bench.execute.summary import accuracy_table, counts_line, failure_table
    from bench.grid import load_grid
    from bench.store import check_writable
    from bench.trial import check_buildable

    grid = load_grid(_grid_path(args.grid), data_root=args.data_root, allow_large=args.allow_large)
    results = Path(args.results)
    check_writable(results / grid.study.name)  # before training, not when the first record is due
    todo = plan(grid, results, retry_failed=args.retry_failed)
    for cell, reason in grid.rejected:
        console.print(f"[yellow]rejected[/yellow] {cell}: {reason}")
    console.print(
        f"study [bold]{grid.study.name}[/bold]: {len(grid.specs)} runs "
        f"({grid.collapsed} meaningless cells collapsed, {len(grid.rejected)} rejected); "
        f"{len(todo.skipped)} already finished, skipped; {len(todo.todo)} to run"
    )
    if todo.failed:
        console.print(
            f"[yellow]{len(todo.failed)} run(s) failed before and were skipped[/yellow]; run the "
            "same command with --retry-failed to re-run them"
        )
    superseded = superseded_line(grid, results)
    if superseded:
        console.print(f"[yellow]{superseded}[/yellow]")
    if args.dry_run:
        if todo.todo:
            check_buildable(todo.todo)
        table, estimate = dry_run_table(grid, todo, results)
        console.print(table)
        console.print(estimate)
        return 0
    if not todo.todo:
        return 1 if todo.failed else 0
    check_buildable(todo.todo)  # every architecture, built and run on the meta device
    device = pick_device(args.device)
    for data in dict.fromkeys(spec.data for spec in todo.todo):
        load_dataset(data)  # missing or damaged data: one line now, before any run starts
    executor = args.executor
    if executor == "auto":  # one process on a CPU; isolated, packed runs on a GPU box
        executor = "process" if device.type == "cuda" else "inline"
    console.print(f"device: {device}; executor: {executor}")
    for stop in (signal.SIGTERM, signal.SIGHUP):  # `kill`, a closed terminal: as Ctrl-C
        signal.signal(stop, _interrupt)  # finished records stay
    if executor == "inline":
        outcome = run_inline(todo.todo, results, device, console)
    elif executor == "process":
        from bench.execute.process import run_processes

        outcome = run_processes(
            todo.todo, results, device, console, workers=args.workers, per_gpu=args.per_gpu
        )
    else:
        from bench.execute.ray import run_ray

        outcome = run_ray(
            todo.todo, results, console, address=args.address, gpus_per_run=args.gpus_per_run
        )
    console.print(f"{counts_line(outcome)}; records in {results / grid.study.name}")
    accuracy = accuracy_table(results, grid.study.name)
    if accuracy is not None:
        console.print(accuracy)
    failures = failure_table(outcome, todo.todo, results)
    if failures is None:
        return 1 if todo.failed else 0
    console.print(failures)
    if outcome.count("failed"):
        console.print("run the same command with --retry-failed to re-run the failed runs")
    return 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def cmd_plan(args: argparse.Namespace) -> None:
    """Seeds per configuration of a grid, from the noise and run times of its recipe's records."""
    from bench.grid import load_grid
    from bench.plan import make_plan, plan_rows

    if args.target_mde is not None and args.hours is not None:
        raise BenchError("give --target-mde or --hours, not both")
    grid = load_grid(_grid_path(args.grid))
    target = args.target_mde
    if target is None and args.hours is None:
        target = grid.study.target_mde  # the grid's own target, where it states one
    plan = make_plan(
        grid,
        Path(args.results),
        target_mde=target,
        hours_per_config=args.hours,
        conditions=args.conditions,
    )
    rows = plan_rows(plan)
    if args.json:
        print(json.dumps({"study": plan.study, "test": plan.test, "configurations": rows}))
        return
    noise = plan.noise
    paired = (
        f"; seed-matched differences: std {noise.std_diff:.3f} ({noise.dof_diff} dof, mean "
        f"correlation {noise.corr:+.2f})"
        if noise.paired
        else ""
    )
    console.print(
        f"recipe of [bold]{plan.study}[/bold] ({plan.conditions}): {noise.records} finished "
        f"records in {', '.join(noise.studies)}; seed std {noise.std:.3f} points ({noise.dof} "
        f"dof){paired}. Seeds per arm for the {plan.test}, 80 % power, p < 0.05{_goal(args, plan)}."
    )
    table = Table("configuration", "in grid", "finished", "needed", "MDE", "missing", "min/run")
    table.add_column("hours missing")
    for row in rows:
        table.add_row(
            row["configuration"],
            str(row["seeds_in_grid"]),
            str(row["finished"]),
            "out of reach"
            if row["seeds_needed"] is None and plan.target_mde
            else str(row["seeds_needed"] or "—"),
            _fmt(row["mde_points"], 2),
            str(row["runs_missing"]),
            _fmt(row["minutes_per_run"], 1),
            _fmt(row["hours_missing"], 2),
        )
    wide = Console(soft_wrap=True, width=max(console.width, 150))  # a configuration per line
    wide.print(table)
    total = sum(row["hours_missing"] or 0 for row in rows)
    console.print(f"missing runs: {sum(r['runs_missing'] for r in rows)}, about {total:.1f} h")


def _goal(args: argparse.Namespace, plan: Plan) -> str:
    """What the seeds are planned for: a target MDE (the flag's or the grid's), or hours."""
    if plan.target_mde is not None:
        grids = "the grid's \\[study] target_mde"  # escaped: rich reads [study] as markup
        source = "--target-mde" if args.target_mde is not None else grids
        return f", to resolve {plan.target_mde:g} points ({source})"
    if plan.hours_per_config is not None:
        return f", within {plan.hours_per_config:g} h per configuration"
    return ""


def _fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def cmd_report(args: argparse.Namespace) -> None:
    """Render the reports of one study (or all) from stored records."""
    from bench.report.write import write_reports

    results, reports = Path(args.results), Path(args.reports)
    if reports.exists() and not reports.is_dir():
        raise BenchError(f"--reports {reports} is a file; give a folder (it is created if missing)")
    if args.table and not args.paper:
        raise BenchError(f"--table {args.table} needs --paper (the paper the table belongs to)")
    written = write_reports(
        results, reports, args.format, study=args.study, paper=args.paper, table=args.table
    )
    for path in written:
        console.print(f"wrote {path}")


def cmd_check(args: argparse.Namespace) -> int:
    """Gate on accuracy: exit 1 listing configurations that fell below the baseline."""
    from bench import check as gate

    baseline_path, results = Path(args.baseline), Path(args.results)
    _check_flags(args)
    if args.update:
        study = args.study or _study_of(baseline_path)
        n = gate.write_baseline(
            results,
            study,
            baseline_path,
            calibration=args.calibration,
            k=args.k or gate.DEFAULT_K,
            tolerance=args.tolerance,
        )
        tolerance = gate.read_baseline(baseline_path)["tolerance_points"]
        console.print(
            f"wrote {baseline_path}: {n} configurations of study {study!r}, "
            f"tolerance {tolerance} points"
        )
        return 0
    baseline = gate.read_baseline(baseline_path)
    tolerance = args.tolerance or baseline.get("tolerance_points", gate.DEFAULT_TOLERANCE)
    regressions = gate.find_regressions(results, baseline, tolerance)
    if regressions:
        print(
            f"bench check: {len(regressions)} configuration(s) below baseline - {tolerance} points:"
        )
        for regression in regressions:
            print(f"  {regression}")
        return 1
    console.print(
        f"bench check: {len(baseline['configs'])} configurations within {tolerance} points "
        "of baseline"
    )
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    """The gate fails closed on flags too: none is ignored silently."""
    given = [f"--{name}" for name in ("study", "calibration", "k") if getattr(args, name)]
    if given and not args.update:
        raise BenchError(f"{', '.join(given)} only applies with --update; add --update or drop it")
    if args.tolerance is not None and (args.calibration or args.k):
        raise BenchError(
            "--tolerance fixes the tolerance by hand, --calibration/--k calibrate it: give one"
        )


def _study_of(baseline: Path) -> str:
    from bench import check as gate

    if baseline.exists():
        return gate.read_baseline(baseline)["study"]
    return baseline.stem


def _hparams(pairs: list[str]) -> dict[str, Any]:
    """``["reduction=8", "pool=max"]`` -> ``{"reduction": 8, "pool": "max"}`` (TOML values; a
    bare word is a string)."""
    given: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise BenchError(f"--hparam {pair!r}: write NAME=VALUE, e.g. --hparam reduction=8")
        try:
            given[name.strip()] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            given[name.strip()] = text
    return given


def _grid_path(name: str) -> Path:
    """A grid file path, or the name of a bundled grid (``quick`` -> registry/grids/quick.toml)."""
    from registry import GRIDS

    path = Path(name)
    if not path.exists() and (GRIDS / f"{name}.toml").exists():
        return GRIDS / f"{name}.toml"
    return path


COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {
    "list": cmd_list,
    "describe": cmd_describe,
    "plan": cmd_plan,
    "run": cmd_run,
    "cam": cmd_cam,
    "report": cmd_report,
    "check": cmd_check,
}
