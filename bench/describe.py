"""``bench describe``: the size and cost of a model, as trained.

A model is described at the input it is trained on: a grid cell or a stored record at its data's
class count, channels and image size; a bare ``--backbone`` at the backbone's own (a CIFAR
backbone: 10 classes at 32 px; an ImageNet one: 1000 classes at 224 px), unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.table import Table

import registry
from bench.data import load_dataset, native_image_size
from bench.errors import BenchError
from bench.grid import Grid
from bench.measure.flops import count_gmacs
from bench.measure.params import count_params
from bench.spec import RunSpec
from bench.store import read_record
from registry.core import IncompatibleError, InvalidValueError, UnknownNameError

FAMILY_CLASSES = {"cifar": 10, "imagenet": 1000}  # a backbone's own class count, by family


def describe_model(
    backbone: str,
    attention: str = "none",
    placement: str | None = None,
    *,
    hparams: dict[str, Any] | None = None,
    stages: list[int] | None = None,
    num_classes: int | None = None,
    image_size: int | None = None,
    in_chans: int = 3,
) -> dict[str, Any]:
    """Build one model and return what it is and costs: names, resolved hyper-parameters, input,
    params (M) and GMACs in three conventions. ``None`` sizes take the backbone's own.

    Raises:
        UnknownNameError, IncompatibleError, InvalidValueError: bad names or combinations.
        BenchError: the model cannot be built or run (a constructor's own check, a wrong shape).
    """
    meta = registry.BACKBONES.meta(backbone)
    image_size = image_size or int(meta["default_image_size"])
    num_classes = num_classes or FAMILY_CLASSES.get(meta["family"], 1000)
    if attention != "none" and placement is None:
        placement = registry.default_placement(attention)
    given = dict(hparams or {})
    registry.check_combination(
        backbone, attention, placement, stages=stages, image_size=image_size, **given
    )
    try:
        model = registry.build_model(
            backbone,
            attention,
            placement,
            num_classes=num_classes,
            stages=stages,
            in_chans=in_chans,
            **given,
        ).eval()
        with torch.no_grad():
            model(torch.zeros(1, in_chans, image_size, image_size))
    except (UnknownNameError, IncompatibleError, InvalidValueError):
        raise
    except Exception as err:  # a constructor's or a forward pass's own check
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise BenchError(f"{backbone} + {attention} cannot be built: {reason}") from None
    return {
        "backbone": backbone,
        "attention": attention,
        "placement": placement,
        "stages": stages,
        "hparams": registry.resolve_hparams(attention, given),
        "num_classes": num_classes,
        "in_chans": in_chans,
        "image_size": image_size,
        "params": count_params(model),
        **count_gmacs(model, image_size, in_chans),
    }


def describe_spec(spec: RunSpec, num_classes: int, in_chans: int, image_size: int) -> dict:
    """``describe_model`` of a run spec's architecture at the given input."""
    facts = describe_model(
        spec.backbone,
        spec.attention,
        spec.placement,
        hparams=dict(spec.hparams),
        stages=None if spec.stages is None else list(spec.stages),
        num_classes=num_classes,
        image_size=image_size,
        in_chans=in_chans,
    )
    return {"label": spec.label, **facts}


def describe_record(results: Path, run_id: str) -> dict[str, Any]:
    """The model of the stored run ``run_id`` (any study under ``results``), at its data's input.

    Raises:
        BenchError: no such record, or one without the data it trained on (a failed run).
    """
    paths = sorted(results.glob(f"*/{run_id}.json")) if results.is_dir() else []
    record = read_record(paths[0]) if paths else None
    if record is None:
        raise BenchError(f"no record {run_id!r} under {results}; `bench report` lists run ids")
    data = record.get("data")
    if not isinstance(data, dict):
        raise BenchError(f"record {run_id} has no data description ({record['status']} run)")
    spec = RunSpec.from_dict(record["spec"])
    return describe_spec(spec, data["num_classes"], data["in_chans"], data["image_size"])


def describe_grid(grid: Grid) -> list[dict[str, Any]]:
    """Every distinct architecture of ``grid``, at its data's input (the data is loaded once per
    dataset to learn its class count and channels)."""
    described: dict[tuple, dict[str, Any]] = {}
    for spec in grid.specs:
        data = load_dataset(spec.data)
        size = spec.data.image_size or native_image_size(spec.data.name)
        key = (spec.label, data.num_classes, data.in_chans, size)
        if key not in described:
            described[key] = describe_spec(spec, data.num_classes, data.in_chans, size)
    return list(described.values())


def facts_table(facts: dict[str, Any]) -> Table:
    """The console table of one ``describe_model`` result."""
    table = Table(show_header=False, box=None, title=facts.get("label"), title_justify="left")
    for key, value in facts.items():
        if key == "params":
            table.add_row("params (M)", f"{value['total_m']:.4f}")
            table.add_row("attention params (M)", f"{value['attention_m']:.4f}")
        elif key in GMACS_LABELS:
            table.add_row(GMACS_LABELS[key], f"{value:.4f}")
        elif key == "flops_unsupported_ops":
            missed = ", ".join(f"{op} x{n}" for op, n in value.items())
            table.add_row("ops not counted", missed or "none")
        elif key != "label":
            table.add_row(key, str(value))
    return table


GMACS_LABELS = {
    "gmacs": "GMACs (fvcore: 1 multiply-add = 1)",
    "gmacs_all": "GMACs incl. elementwise + pooling",
    "gmacs_paper": "GMACs conv + linear + matmul (papers)",
}
