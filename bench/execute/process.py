"""The process executor: every run in its own subprocess, GPUs shared round-robin.

``run_processes`` keeps up to ``workers`` subprocesses (``python -m bench.execute.worker``) going. A
run that crashes its process (CUDA error, segfault, the kernel's out-of-memory killer) ends only
that run: the driver records it as ``failed`` with the exit signal and the worker's last output. On
a GPU box each worker sees one GPU through ``CUDA_VISIBLE_DEVICES``; ``per_gpu`` runs share a GPU,
because a CIFAR-sized model leaves a large GPU mostly idle.

Plain ``subprocess`` rather than ``ProcessPoolExecutor``: a killed pool worker breaks the whole
pool, and a pool cannot give each task its own ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress

from bench.errors import BenchError
from bench.execute.common import Outcome, progress_columns
from bench.execute.locks import RunLock, claim, record_stamp
from bench.execute.worker import DRIVER_PID_ENV, PREFIX, spec_payload
from bench.measure.latency import GPU_SHARED_ENV
from bench.run import failed_record
from bench.spec import RunSpec
from bench.store import RunFiles, read_record, write_record

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0
OUTPUT_TAIL_LINES = 200


class WorkerDied(RuntimeError):
    """A worker process ended without writing its run's record."""


def visible_gpus(device: torch.device, env: dict[str, str] | None = None) -> list[str]:
    """The GPU ids a driver on ``device`` may hand out, as ``CUDA_VISIBLE_DEVICES`` entries.

    Honours the driver's ``CUDA_VISIBLE_DEVICES`` (ids or UUIDs); ``cuda:N`` keeps only the N-th.
    """
    if device.type != "cuda":
        return []
    listed = (os.environ if env is None else env).get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        gpus = [g.strip() for g in listed.split(",") if g.strip()]
    else:
        gpus = [str(i) for i in range(torch.cuda.device_count())]
    if device.index is not None:
        if device.index >= len(gpus):
            raise BenchError(f"no {device}: {len(gpus)} GPU(s) visible")
        gpus = [gpus[device.index]]
    return gpus


class GpuSlots:
    """Round-robin GPU assignment with at most ``per_gpu`` concurrent runs on each GPU.

    ``acquire`` gives the least-loaded GPU, starting after the one handed out last, so the first
    runs spread over all GPUs before any GPU gets a second run.
    """

    def __init__(self, gpus: list[str], per_gpu: int = 1) -> None:
        if per_gpu < 1:
            raise BenchError(f"--per-gpu must be at least 1, got {per_gpu}")
        self.gpus = list(gpus)
        self.per_gpu = per_gpu
        self.used = dict.fromkeys(self.gpus, 0)
        self._next = 0

    @property
    def capacity(self) -> int:
        return len(self.gpus) * self.per_gpu

    def acquire(self) -> str | None:
        """A GPU with a free slot, or ``None`` when all are full."""
        rotation = self.gpus[self._next :] + self.gpus[: self._next]
        free = [g for g in rotation if self.used[g] < self.per_gpu]
        if not free:
            return None
        gpu = min(free, key=self.used.__getitem__)  # min is stable: first in rotation wins ties
        self.used[gpu] += 1
        self._next = (self.gpus.index(gpu) + 1) % len(self.gpus)
        return gpu

    def release(self, gpu: str) -> None:
        self.used[gpu] -= 1


def worker_env(
    gpu: str | None, threads: int, base: dict[str, str] | None = None, shared_by: int = 1
) -> dict[str, str]:
    """The environment of one worker: its GPU and how many runs share it (``GPU_SHARED_ENV``, read
    by the latency measurement), its share of CPU threads, the driver's pid."""
    env = dict(os.environ if base is None else base)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
        env[GPU_SHARED_ENV] = str(shared_by)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    env[DRIVER_PID_ENV] = str(os.getpid())
    return env


@dataclass
class Job:
    """One running worker."""

    spec: RunSpec
    proc: subprocess.Popen[str]
    lock: RunLock
    gpu: str | None
    stamp: tuple[int, int] | None
    task: Any
    lines: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=OUTPUT_TAIL_LINES)
    )
    epochs: list[dict[str, float]] = field(default_factory=list)
    error: str | None = None
    reader: threading.Thread | None = None

    def read_output(self) -> None:
        """Drain the worker's output (a thread: a full pipe would block the worker)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(f"{PREFIX} epoch "):
                self.epochs.append(json.loads(line.split(" ", 2)[2]))
            elif line.startswith(f"{PREFIX} error "):
                self.error = line.split(" ", 2)[2]
            else:
                self.lines.append(line)


def run_processes(
    specs: list[RunSpec],
    results: Path,
    device: torch.device,
    console: Console,
    *,
    workers: int | None = None,
    per_gpu: int = 1,
) -> Outcome:
    """Run ``specs`` in subprocesses, ``workers`` at a time (default: GPUs x ``per_gpu``, or 1)."""
    results = results.resolve()
    slots = GpuSlots(visible_gpus(device), per_gpu)
    workers = workers or slots.capacity or 1
    threads = max(1, (os.cpu_count() or 1) // workers)
    stamps = {spec.run_id: record_stamp(results, spec) for spec in specs}
    pending, running = collections.deque(specs), list[Job]()
    outcome = Outcome()
    with Progress(*progress_columns(), console=console) as progress:
        grid_task = progress.add_task("grid", total=len(specs), status="")
        try:
            while pending or running:
                while pending and len(running) < workers:
                    gpu = slots.acquire() if slots.gpus else None
                    if slots.gpus and gpu is None:
                        break
                    spec = pending.popleft()
                    lock, reason = claim(spec, results, stamps[spec.run_id])
                    if lock is None:
                        _skip(spec, reason, outcome, progress, grid_task)
                        if gpu is not None:
                            slots.release(gpu)
                        continue
                    job = _start(spec, results, lock, gpu, threads, stamps[spec.run_id], progress,
                                 shared_by=slots.per_gpu)  # fmt: skip
                    running.append(job)
                time.sleep(POLL_SECONDS)
                for job in list(running):
                    _show(job, progress)
                    if job.proc.poll() is None:
                        continue
                    running.remove(job)
                    _finish(job, results, device, outcome, progress)
                    if job.gpu is not None:
                        slots.release(job.gpu)
                    progress.advance(grid_task)
        except BaseException:
            _stop_all(running)
            raise
    return outcome


def _start(
    spec: RunSpec,
    results: Path,
    lock: RunLock,
    gpu: str | None,
    threads: int,
    stamp: tuple[int, int] | None,
    progress: Progress,
    *,
    shared_by: int = 1,
) -> Job:
    command = [
        sys.executable,
        "-m",
        "bench.execute.worker",
        "--results",
        str(results),
        "--device",
        "cpu" if gpu is None else "cuda",
        spec_payload(spec),
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        env=worker_env(gpu, threads, shared_by=shared_by),
        pass_fds=(lock.fd,),  # the worker shares the run's lock for as long as it lives
    )
    where = "" if gpu is None else f" [GPU {gpu}]"
    task = progress.add_task(
        f"  {spec.label} seed {spec.seed}{where}", total=spec.train.epochs, status=""
    )
    job = Job(spec, proc, lock, gpu, stamp, task)
    job.reader = threading.Thread(target=job.read_output, daemon=True)
    job.reader.start()
    return job


def _show(job: Job, progress: Progress) -> None:
    if job.epochs:
        row = job.epochs[-1]
        status = f"val top-1 {row['val_top1_pct']:.1f}%  loss {row['train_loss']:.3f}"
        progress.update(job.task, completed=row.get("epoch", len(job.epochs)), status=status)


def _finish(
    job: Job, results: Path, device: torch.device, outcome: Outcome, progress: Progress
) -> None:
    """Read back the record of an ended worker, or write a ``failed`` one for a worker that died."""
    try:
        if job.reader is not None:
            job.reader.join(timeout=5)
        if job.error is not None:
            raise BenchError(job.error)
        files = RunFiles(results, job.spec.study, job.spec.run_id)
        record = read_record(files.record) if record_stamp(results, job.spec) != job.stamp else None
        if record is None:
            record = _record_dead_worker(job, files, device)
    finally:
        job.lock.release()
    outcome.statuses[job.spec.run_id] = record["status"]
    if record.get("error"):
        outcome.errors[job.spec.run_id] = record["error"]
    progress.update(job.task, status=record["status"])


def _record_dead_worker(job: Job, files: RunFiles, device: torch.device) -> dict[str, Any]:
    code = job.proc.returncode
    if code < 0:
        how = f"killed by signal {signal.Signals(-code).name}"
    else:
        how = f"exited with status {code} without writing a record"
    # the driver describes the CPU, never the GPU: describing a GPU would open a CUDA context here
    record, log = failed_record(job.spec, torch.device("cpu"), WorkerDied(f"worker {how}"))
    record["environment"].update(device=device.type, device_name=None, cuda_visible_devices=job.gpu)
    output = "\n".join(job.lines)
    files.log.write_text(f"{log}\n--- last output of the worker ---\n{output}\n")
    write_record(files.record, record)
    return record


def _skip(
    spec: RunSpec, reason: str | None, outcome: Outcome, progress: Progress, task: Any
) -> None:
    progress.console.print(f"[yellow]skipped[/yellow] {spec.label} seed {spec.seed}: {reason}")
    outcome.statuses[spec.run_id] = "skipped"
    progress.advance(task)


def _stop_all(running: list[Job]) -> None:
    """Interrupted: stop every worker (SIGTERM, then SIGKILL), write nothing, free the locks."""
    for job in running:
        if job.proc.poll() is None:
            job.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for job in running:
        try:
            job.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            job.proc.kill()
            job.proc.wait()
        job.lock.release()
