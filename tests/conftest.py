"""Shared fixtures: tiny grids, golden records, a CLI runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import registry
from bench.spec import SCHEMA_VERSION, DataSpec, RunSpec, TrainSpec
from bench.store import record_path, write_record

REPO = Path(__file__).resolve().parents[1]

TINY_GRID = """
[study]
name = "tiny"
description = "smallest possible training run"

[data]
name = "shapes"
train_size = 96
val_size = 40

[train]
epochs = 1
batch_size = 32
lr = 0.05

[grid]
backbone = "resnet20"
attention = ["none", "se"]
seed = [0]
"""


@pytest.fixture(autouse=True, scope="session")
def _few_threads() -> None:
    # the suite runs on 2 cores; oversubscription makes tiny models slower, not faster
    torch.set_num_threads(1)


@pytest.fixture
def tiny_grid(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_GRID)
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m bench ARGS`` in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )


def golden_record(
    study: str,
    attention: str,
    seed: int,
    top1: float,
    *,
    status: str = "done",
    backbone: str = "resnet20",
    params_m: float = 0.27,
    placement: str | None = "block",
    stages: tuple[int, ...] | None = None,
    hparams: dict[str, Any] | None = None,
    dataset: str = "shapes",
    image_size: int | None = None,
    train: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A record in the store's schema with chosen numbers, for report and gate tests.

    ``placement``/``stages``/``hparams`` (given ones; the rest default) apply to attention runs,
    ``train`` overrides TrainSpec fields, and ``extra`` adds or replaces top-level record fields
    (``gmacs_paper``, ``sfd``, ``curves``, ``final`` ...).
    """
    spec = RunSpec(
        study,
        backbone,
        attention,
        None if attention == "none" else placement,
        None if attention == "none" else stages,
        tuple(registry.resolve_hparams(attention, hparams).items()),
        seed=seed,
        data=DataSpec(dataset, image_size=image_size, train_size=100),
        train=TrainSpec(**{"epochs": 2, **(train or {})}),
    )
    return extra_fields(extra, record_for(spec, top1, status=status, params_m=params_m))


def record_for(
    spec: RunSpec, top1: float, *, status: str = "done", params_m: float = 0.27
) -> dict[str, Any]:
    """A record of ``spec`` in the store's schema, with a chosen top-1 (top-5 = top-1 + 20)."""
    done = status == "done"
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "config_id": spec.config_id,
        "label": spec.label,
        "spec": spec.canonical(),
        "status": status,
        "error": None if done else "boom",
        "environment": {"device_name": "test cpu"},
        "params": {"total_m": params_m, "attention_m": 0.0 if spec.attention == "none" else 0.01},
        "final": {"val_top1_pct": top1, "val_top5_pct": min(100.0, top1 + 20), "val_loss": 1.0}
        if done
        else None,
        "curves": [],
        "wall_seconds": 1.0,
    }


def extra_fields(extra: dict[str, Any] | None, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with ``extra`` merged in (nested dicts merged one level deep)."""
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(record.get(key), dict):
            record[key] = {**record[key], **value}
        else:
            record[key] = value
    return record


def write_golden(results: Path, records: list[dict[str, Any]]) -> None:
    for record in records:
        write_record(record_path(results, record["spec"]["study"], record["run_id"]), record)
