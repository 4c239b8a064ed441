"""One RunSpec -> one run record: train, measure, describe where it ran.

Every executor calls ``execute_run``; it never writes to disk itself, so the executor decides where
and when a record lands (atomically, through ``bench.store``).
"""

from __future__ import annotations

import time
import traceback
from datetime import UTC, datetime
from typing import Any

import torch

from bench.data import load_dataset
from bench.environment import describe_environment
from bench.execute.plugins import check_code
from bench.measure.params import count_params
from bench.measure.suite import measure_run
from bench.schedule import lr_factor
from bench.spec import SCHEMA_VERSION, RunSpec
from bench.store import RunFiles
from bench.train import EpochCallback, best_epoch, train_model

CURVE_ONLY = ("epoch", "lr", "seconds")  # curve fields that are not end-of-training metrics


def new_record(spec: RunSpec, device: torch.device) -> dict[str, Any]:
    """The part of a record known before training: spec, ids, environment, start time."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "config_id": spec.config_id,
        "label": spec.label,
        "spec": spec.canonical(),
        "status": "running",
        "error": None,
        "environment": describe_environment(device),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def execute_run(
    spec: RunSpec,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
    files: RunFiles | None = None,
) -> dict[str, Any]:
    """Train and measure ``spec``; returns its record (status ``done`` or ``diverged``).

    Exceptions propagate: the executor turns them into a ``failed`` record (see ``failed_record``).
    ``files`` places the run's resumable checkpoint (see ``bench.train.train_model``) and the study
    folder searched for a latency of the same architecture; ``None``: no checkpoint, no search.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    check_code(spec.backbone, spec.attention, spec.code)  # imports a worker's plugins too
    record = new_record(spec, device)
    data = load_dataset(spec.data)
    record["data"] = data.describe()
    checkpoint = None if files is None else files.checkpoint
    result = train_model(spec, data, device, on_epoch, checkpoint)
    record["params"] = count_params(result.model)
    record["curves"] = result.curves
    last = result.curves[-1] if result.curves else {}
    # the reported numbers are the last epoch's; the best epoch is shown, labelled, never reported
    record["final"] = {k: v for k, v in last.items() if k not in CURVE_ONLY} or None
    record["best_epoch"] = best_epoch(result.curves)
    record["eval_variants"] = result.eval_variants
    record["resumed_from_epoch"] = result.resumed_from_epoch
    record["determinism"] = result.determinism
    record["execution"] = {  # what the recipe resolved to here (device defaults, init)
        "precision": spec.train.resolved_precision(device.type),
        "channels_last": spec.train.uses_channels_last(device.type),
        "zero_init_last": spec.train.zero_init_last,  # gamma of each residual branch's last BN
        # the recipe levers of the budget recipe, stated even at their defaults
        "label_smoothing": spec.train.label_smoothing,
        "ema_decay": spec.train.ema_decay,
        "tta_flip": spec.train.tta_flip,
        "lr_at_end": _lr_at_end(spec),
    }
    record["status"] = result.status
    record["error"] = result.error
    study_folder = None if files is None else files.folder
    record |= measure_run(
        spec, result.model, data, device, status=result.status, study_folder=study_folder
    )
    record["wall_seconds"] = time.perf_counter() - start
    record["cpu_seconds"] = time.process_time() - cpu_start  # this process, all its threads
    record["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return record


def _lr_at_end(spec: RunSpec) -> float:
    """The schedule's learning rate at the end of the last epoch (0: it anneals to zero)."""
    return spec.train.lr * lr_factor(spec.train, spec.train.epochs)


def failed_record(spec: RunSpec, device: torch.device, err: BaseException) -> tuple[dict, str]:
    """A ``failed`` record for a run that raised, and the traceback text for its log file."""
    record = new_record(spec, device)
    record["status"] = "failed"
    record["error"] = f"{type(err).__name__}: {err}".splitlines()[0]
    record["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return record, "".join(traceback.format_exception(err))
