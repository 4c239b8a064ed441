"""How long a run will take, from stored records of similar runs.

A record's cost per training image and epoch (``wall_seconds / (epochs x train_images)``, training
and measurement together) is taken from the most similar finished records: same backbone,
attention and dataset at the same image size, else the same backbone and dataset. The estimate is
the median of those costs times the run's epochs and training images; runs on another device or a
busy machine make it rough, so it is shown as an estimate and its basis is stated.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from bench.spec import RunSpec


def _cost(record: dict[str, Any]) -> float | None:
    """Seconds per training image and epoch of a finished record, or None when unknown."""
    data, wall = record.get("data") or {}, record.get("wall_seconds")
    epochs = record["spec"]["train"]["epochs"]
    if record.get("status") != "done" or not wall or not data.get("train_images") or not epochs:
        return None
    return float(wall) / (epochs * data["train_images"])


def _keys(spec: RunSpec) -> list[tuple]:
    """Similarity keys, most similar first."""
    size = spec.data.image_size
    return [
        (spec.backbone, spec.attention, spec.data.name, size),
        (spec.backbone, spec.data.name, size),
    ]


def _record_keys(record: dict[str, Any]) -> list[tuple]:
    spec = record["spec"]
    name, size = spec["data"]["name"], spec["data"]["image_size"]
    return [(spec["backbone"], spec["attention"], name, size), (spec["backbone"], name, size)]


def estimate_seconds(spec: RunSpec, records: Iterable[dict[str, Any]]) -> float | None:
    """The expected wall time of ``spec`` in seconds, or None without a similar record."""
    costs: list[dict[tuple, list[float]]] = [{}, {}]
    images: dict[str, int] = {}
    for record in records:
        cost = _cost(record)
        if cost is None:
            continue
        if record["spec"]["data"].get("train_size") is None:  # the whole split: its size
            images.setdefault(record["spec"]["data"]["name"], record["data"]["train_images"])
        for level, key in enumerate(_record_keys(record)):
            costs[level].setdefault(key, []).append(cost)
    train_images = spec.data.train_size or images.get(spec.data.name)
    if not train_images:
        return None
    for level, key in enumerate(_keys(spec)):
        if key in costs[level]:
            return statistics.median(costs[level][key]) * spec.train.epochs * train_images
    return None
