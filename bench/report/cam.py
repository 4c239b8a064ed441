"""``bench cam``: a Grad-CAM grid figure of a study, from stored records (nothing is retrained).

Each finished run stores the raw Grad-CAM maps of its first few validation images
(``record["cam"]``, see ``bench.measure.saliency``). The figure has one row per image and one
column per configuration (the lowest seed of each), the map upsampled and overlaid on the image as
in the DAS paper's figures; the first column shows the image with its object mask outlined.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state
from pytorch_grad_cam.utils.image import show_cam_on_image

from bench.data import Split, load_dataset
from bench.errors import BenchError
from bench.measure.saliency import first_images, upsample
from bench.report.tables import config_order
from bench.spec import RunSpec, distinct_labels
from bench.store import FINAL_STATUSES, read_records

CELL_INCHES = 1.6
TITLE_CHARS = 30  # a column title's line width at fontsize 6 in a CELL_INCHES-wide cell


def configurations(results: Path, study: str) -> list[dict[str, Any]]:
    """One record per configuration (its lowest seed) that stored Grad-CAM maps: the baseline
    first, then by label (numbers as numbers); labels name the recipe where several share one."""
    folder = results / study
    if not folder.is_dir():
        raise BenchError(f"no records for study {study!r} in {results}; run `bench run` first")
    chosen: dict[str, dict[str, Any]] = {}
    records = sorted(read_records(results, study), key=lambda r: r["spec"]["seed"])
    for record in records:
        if record.get("status") in FINAL_STATUSES and record.get("cam"):
            chosen.setdefault(record["config_id"], record)
    if not chosen:
        raise BenchError(
            f"no finished run of study {study!r} stored Grad-CAM maps "
            "(records from before the saliency measurement, or [measure] sfd = false)"
        )
    # recipe variants of one architecture share its label: name what differs, then order
    found = list(chosen.values())
    labels = distinct_labels([r["label"] for r in found], [r["spec"]["train"] for r in found])
    named = [record | {"label": label} for record, label in zip(found, labels, strict=True)]
    return sorted(named, key=lambda r: config_order(r["spec"]["attention"], r["label"]))


def write_cam_figure(
    results: Path,
    study: str,
    out: Path,
    *,
    images: int = 8,
    layer: str | None = None,
    data_root: str | None = None,
) -> Path:
    """Render the Grad-CAM grid of ``study`` to ``out`` (PNG); returns the path.

    Args:
        results: the records folder.
        study: the study name.
        out: the PNG to write.
        images: rows (at most the number of maps the runs stored).
        layer: the Grad-CAM layer; default each run's first (the one its sfd uses).
        data_root: where the dataset lives (records do not store locations).
    """
    records = configurations(results, study)
    data_specs = {repr(sorted(r["spec"]["data"].items())) for r in records}
    if len(data_specs) > 1:
        raise BenchError(f"study {study!r} mixes datasets; a CAM grid needs one")
    rows = min([images] + [len(r["cam"]["images"]) for r in records])
    if rows == 0:
        raise BenchError("the records stored no Grad-CAM maps ([measure] cam_images = 0)")
    data = RunSpec.from_dict(records[0]["spec"]).data  # options back to their hashable form
    val = load_dataset(dataclasses.replace(data, root=data_root)).val
    pixels, labels, masks = first_images(val, rows, torch.device("cpu"))
    split = Split(pixels, labels, masks)
    fig = Figure(figsize=(CELL_INCHES * (len(records) + 1), CELL_INCHES * rows))
    axes = fig.subplots(rows, len(records) + 1, squeeze=False)
    for row in range(rows):
        index = records[0]["cam"]["images"][row]
        picture = _rgb(split, index)
        _draw_input(axes[row][0], picture, split, index, first=row == 0)
        for col, record in enumerate(records, start=1):
            _draw_cam(axes[row][col], picture, record, row, layer, first=row == 0)
            _outline(axes[row][col], split, index)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out


def _rgb(split: Split, index: int) -> np.ndarray:
    """(H, W, 3) float image in [0, 1] (grey images repeated over three channels)."""
    image = split.images[index].float().div(255).permute(1, 2, 0).numpy()
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def _draw_input(ax: Any, picture: np.ndarray, split: Split, index: int, *, first: bool) -> None:
    ax.imshow(picture)
    _outline(ax, split, index)
    ax.set_ylabel(f"val {index}\nclass {int(split.labels[index])}", fontsize=7)
    if first:
        ax.set_title("input (object mask)", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def _outline(ax: Any, split: Split, index: int) -> None:
    """The object mask's outline, when the dataset has masks."""
    if split.masks is not None:
        mask = split.masks[index].numpy().astype(float)
        ax.contour(mask, levels=[0.5], colors="white", linewidths=0.8)


def _draw_cam(
    ax: Any, picture: np.ndarray, record: dict, row: int, layer: str | None, *, first: bool
) -> None:
    cam = record["cam"]
    name = layer or cam["layers"][0]
    if name not in cam["maps"]:
        raise BenchError(f"{record['label']}: no Grad-CAM maps of layer {name!r} ({cam['layers']})")
    raw = np.asarray(cam["maps"][name][row], dtype=np.float32)[None]
    heat = upsample(raw, picture.shape[:2])[0]
    ax.imshow(show_cam_on_image(picture.astype(np.float32), heat, use_rgb=True))
    ax.set_xlabel(f"explains {cam['explained_class'][row]}", fontsize=6)
    if first:
        mean = (record.get("sfd") or {}).get("by_layer", {}).get(name, {}).get("mean")
        score = f"\nsfd {mean:.2f}" if mean is not None else ""
        label = "\n".join(textwrap.wrap(record["label"], TITLE_CHARS))  # long labels overlap
        ax.set_title(f"{label}\n{name}{score}", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
