"""The Ray executor: every run a Ray task with a fractional GPU, on one machine or a cluster.

``run_ray`` connects to a cluster (``address="auto"`` or ``HOST:PORT``), or starts a local one with
``ray.init()`` and shuts it down afterwards. Each run is a task asking for ``num_cpus=1`` and
``num_gpus=gpus_per_run`` (0.25 packs four runs per GPU); Ray places the tasks and sets
``CUDA_VISIBLE_DEVICES`` for each. Tasks are not retried by Ray (``max_retries=0``): a run that
kills its worker is recorded as ``failed``, and ``--retry-failed`` decides whether to run it again.

The task writes the record where it runs (atomically) and also returns it; the driver writes what it
gets back, so records arrive even when the nodes do not share the results folder. Ray is an optional
extra: ``pip install 'attnbench[ray]'``.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress

from bench.errors import BenchError
from bench.execute.common import Outcome, progress_columns
from bench.execute.locks import RunLock, claim, record_stamp
from bench.execute.plugins import ENV as PLUGINS_ENV
from bench.execute.worker import spec_payload
from bench.run import failed_record
from bench.spec import RunSpec
from bench.store import RunFiles, read_record, write_record

WAIT_SECONDS = 1.0


def run_remote(payload: str, results: str) -> dict[str, Any]:
    """The body of one Ray task: run the spec, return its record and log (``None`` when none)."""
    import ray

    from bench.environment import pick_device
    from bench.execute.common import finish_run
    from bench.execute.plugins import load_plugins

    load_plugins()
    spec = RunSpec.from_dict(json.loads(payload))
    device = pick_device("cuda" if ray.get_gpu_ids() else "cpu")
    record = finish_run(spec, Path(results), device)
    log = RunFiles(Path(results), spec.study, spec.run_id).log
    return {"record": record, "log": log.read_text() if record["status"] == "failed" else None}


def run_ray(
    specs: list[RunSpec],
    results: Path,
    console: Console,
    *,
    address: str | None = None,
    gpus_per_run: float | None = None,
) -> Outcome:
    """Run ``specs`` as Ray tasks; see the module docstring."""
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs Ray: pip install 'attnbench[ray]'") from None
    results = results.resolve()
    started = _connect(ray, address)
    try:
        if gpus_per_run is None:
            gpus_per_run = 1.0 if ray.cluster_resources().get("GPU", 0) else 0.0
        console.print(f"ray: {_describe(ray)}; {gpus_per_run:g} GPU per run")
        task = ray.remote(run_remote).options(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)
        return _drive(ray, task, specs, results, console)
    finally:
        if started:
            ray.shutdown()


def _connect(ray: Any, address: str | None) -> bool:
    """Join ``address`` or start a local cluster; ``True`` when this call started Ray."""
    if ray.is_initialized():
        return False
    plugins = os.environ.get(PLUGINS_ENV)
    runtime_env = {"env_vars": {PLUGINS_ENV: plugins}} if plugins else None
    ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    return True


def _describe(ray: Any) -> str:
    resources = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return f"{nodes} node(s), {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"


def _drive(ray: Any, task: Any, specs: list[RunSpec], results: Path, console: Console) -> Outcome:
    outcome = Outcome()
    stamps = {spec.run_id: record_stamp(results, spec) for spec in specs}
    running: dict[Any, tuple[RunSpec, RunLock]] = {}
    with Progress(*progress_columns(), console=console) as progress:
        grid_task = progress.add_task("grid", total=len(specs), status="")
        try:
            for spec in specs:
                lock, reason = claim(spec, results, stamps[spec.run_id])
                if lock is None:
                    console.print(
                        f"[yellow]skipped[/yellow] {spec.label} seed {spec.seed}: {reason}"
                    )
                    outcome.statuses[spec.run_id] = "skipped"
                    progress.advance(grid_task)
                    continue
                running[task.remote(spec_payload(spec), str(results))] = (spec, lock)
            while running:
                ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_SECONDS)
                for ref in ready:
                    spec, lock = running.pop(ref)
                    try:
                        record = _collect(ray, ref, spec, results)
                    finally:
                        lock.release()
                    outcome.statuses[spec.run_id] = record["status"]
                    if record.get("error"):
                        outcome.errors[spec.run_id] = record["error"]
                    progress.update(
                        grid_task, advance=1, status=f"{spec.label}: {record['status']}"
                    )
        except BaseException:
            for ref, (_, lock) in running.items():
                ray.cancel(ref, force=True)
                lock.release()
            raise
    return outcome


def _collect(ray: Any, ref: Any, spec: RunSpec, results: Path) -> dict[str, Any]:
    """The record of a finished task, stored by the driver if the task's copy is not there."""
    files = RunFiles(results, spec.study, spec.run_id)
    try:
        answer = ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, BenchError):
            raise BenchError(str(err.cause)) from None
        answer = _failed(spec, err)
    except ray.exceptions.RayError as err:  # the worker process or its node died
        answer = _failed(spec, err)
    record, log = answer["record"], answer["log"]
    if log is not None and not files.log.exists():
        files.folder.mkdir(parents=True, exist_ok=True)
        files.log.write_text(log)
    if read_record(files.record) != record:
        write_record(files.record, record)
    return record


def _failed(spec: RunSpec, err: BaseException) -> dict[str, Any]:
    record, _ = failed_record(spec, torch.device("cpu"), err)
    record["error"] = f"ray task failed: {type(err).__name__}: {err}".splitlines()[0]
    return {"record": record, "log": "".join(traceback.format_exception(err))}
