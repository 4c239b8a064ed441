"""Every measurement of a trained run, as the record fields ``bench.run`` merges in.

Fields: ``gmacs``, ``gmacs_all``, ``gmacs_paper``, ``flops_unsupported_ops`` (see ``flops``);
``latency``, ``peak_memory_mb``, ``latency_key``, ``latency_measured_in`` (see ``latency``; one
measurement per architecture and measuring conditions, reused by later seeds); ``sfd`` and ``cam``
(see ``saliency``); ``measure`` (the settings used), ``measure_seconds`` and
``measure_seconds_by_part`` (flops, latency, sfd).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.data import ImageDataset
from bench.measure.flops import count_gmacs
from bench.measure.latency import (
    architecture_key,
    bulk_batch,
    cached_latency,
    gpu_shared_by,
    measure_latency,
    remember_latency,
)
from bench.measure.saliency import measure_saliency
from bench.spec import RunSpec


def measure_run(
    spec: RunSpec,
    model: nn.Module,
    data: ImageDataset,
    device: torch.device,
    *,
    status: str = "done",
    study_folder: Path | None = None,
) -> dict[str, Any]:
    """The measurement fields of ``spec``'s record, for its trained ``model``.

    Args:
        spec: the run (its ``measure`` table says what to measure).
        model: the trained network, on ``device``.
        data: the run's dataset (input size, classes, validation images and masks).
        device: where the run trained.
        status: the training status; sfd is skipped for a run that did not finish (``diverged``).
        study_folder: the study's results folder, searched for a latency of the same architecture.
    """
    start = time.perf_counter()
    measure = spec.measure
    fields: dict[str, Any] = {"measure": dataclasses.asdict(measure), "measure_errors": {}}
    seconds: dict[str, float] = {}

    def attempt(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        # a measurement that fails must not throw away a trained run: its error is recorded
        begin = time.perf_counter()
        try:
            fields.update(fn())
        except Exception as err:
            fields["measure_errors"][name] = f"{type(err).__name__}: {err}".splitlines()[0]
        seconds[name] = time.perf_counter() - begin

    if measure.flops:
        attempt("flops", lambda: count_gmacs(model, data.image_size, data.in_chans))
    if measure.latency:
        attempt("latency", lambda: _latency_fields(spec, model, data, device, study_folder))
    if not measure.sfd:
        fields["sfd"] = {"skipped": "[measure] sfd = false"}
    elif status != "done":
        fields["sfd"] = {"skipped": f"training status {status!r}: no trained model to explain"}
    else:
        attempt("sfd", lambda: _saliency_fields(model, data, device, spec))
        if "sfd" in fields["measure_errors"]:
            fields["sfd"] = {"skipped": f"error: {fields['measure_errors']['sfd']}"}
    fields["measure_seconds"] = time.perf_counter() - start
    fields["measure_seconds_by_part"] = seconds
    return fields


def _saliency_fields(
    model: nn.Module, data: ImageDataset, device: torch.device, spec: RunSpec
) -> dict[str, Any]:
    sfd, cam = measure_saliency(model, data, device, spec.measure)
    return {"sfd": sfd, "cam": cam}


def _latency_fields(
    spec: RunSpec,
    model: nn.Module,
    data: ImageDataset,
    device: torch.device,
    study_folder: Path | None,
) -> dict[str, Any]:
    """Latency and peak memory, measured here or reused from a run of the same architecture."""
    cuda = device.type == "cuda"
    train = spec.train
    precision = train.resolved_precision(device.type)
    channels_last = train.uses_channels_last(device.type)
    bulk = spec.measure.latency_batch_bulk or bulk_batch(device.type, data.image_size)
    arch = {
        "backbone": spec.backbone,
        "attention": spec.attention,
        "placement": spec.placement,
        "stages": spec.stages,
        "hparams": dict(spec.hparams),
        "image_size": data.image_size,
        "in_chans": data.in_chans,
        "num_classes": data.num_classes,
        "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
        "threads": torch.get_num_threads(),
        "precision": precision,
        "channels_last": channels_last,
        "batch_bulk": bulk,
        "train_step": spec.measure.train_step,
    }
    if cuda:  # (CPU keys stay those of the records measured before GPUs ran)
        arch["gpu_shared_by"] = gpu_shared_by()
    key = architecture_key(arch)
    found = cached_latency(key, study_folder)
    if found is None:
        latency, peak = measure_latency(
            model,
            data.image_size,
            data.in_chans,
            data.num_classes,
            device,
            precision=precision,
            channels_last=channels_last,
            batch_bulk=bulk,
            min_seconds=spec.measure.latency_seconds,
            train_step=spec.measure.train_step,
        )
        if cuda:
            latency["gpu_shared_by"] = arch["gpu_shared_by"]
        found = (spec.run_id, latency, peak)
        remember_latency(key, *found)
    run_id, latency, peak = found
    return {
        "latency": latency,
        "peak_memory_mb": peak,
        "latency_key": key,
        "latency_measured_in": run_id,
    }
