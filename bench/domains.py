"""The domain of every ``[data]``, ``[train]`` and ``[measure]`` field whose type does not bound it.

``grid`` checks each value a grid file gives against this table before anything is built or
trained; a value outside its domain is one ``GridError`` naming the field, the value and the rule.
A field's default is always inside its domain: "the default" is spelled by leaving the key out,
never by a zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from bench.errors import GridError
from bench.schedule import SCHEDULES
from bench.spec import SFD_TARGETS, MeasureSpec, TrainSpec
from bench.train import OPTIMIZERS, PRECISIONS


class Domain(NamedTuple):
    """A test of one value and the rule it states, for the error message."""

    test: Callable[[Any], bool]
    rule: str


def between(low: int, high: int) -> Domain:
    """An integer count or size from ``low`` to ``high``: the high end is far beyond any real
    study, so a value past it is a typo (``epochs = 1000000000000``), never a request."""
    return Domain(lambda v: low <= v <= high, f"between {low} and {high:_}")


def up_to(high: float) -> Domain:
    """A positive number up to ``high``."""
    return Domain(lambda v: 0 < v <= high, f"in (0, {high}]")


def one_of(choices: tuple[str, ...]) -> Domain:
    return Domain(lambda v: v in choices, f"one of {', '.join(choices)}")


FRACTION = Domain(lambda v: 0 <= v <= 1, "between 0 and 1")
BELOW_ONE = Domain(lambda v: 0 <= v < 1, "in [0, 1)")
OPEN_FRACTION = Domain(lambda v: 0 < v < 1, "in (0, 1)")

MAX_EPOCHS = 10_000
MAX_SEED = 2**63 - 1  # torch.manual_seed takes a 64-bit signed integer
FIELDS: dict[str, dict[str, Domain]] = {
    "data": {
        "image_size": between(1, 2048),
        "train_size": between(1, 10_000_000),
        "val_size": between(1, 10_000_000),
        "seed": between(0, MAX_SEED),
    },
    "train": {
        "epochs": between(1, MAX_EPOCHS),
        "batch_size": between(1, 65_536),
        "optimizer": one_of(OPTIMIZERS),
        "lr": up_to(10.0),
        "momentum": BELOW_ONE,
        "weight_decay": FRACTION,
        "schedule": one_of(SCHEDULES),
        "milestones": Domain(lambda v: all(m >= 1 for m in v), "epochs, each at least 1"),
        "gamma": up_to(1.0),
        "step_size": between(1, MAX_EPOCHS),
        "warmup_epochs": Domain(lambda v: 0 <= v <= MAX_EPOCHS, f"between 0 and {MAX_EPOCHS:_}"),
        "label_smoothing": BELOW_ONE,
        "random_erasing": FRACTION,
        "precision": one_of(PRECISIONS),
        "checkpoint_every": between(0, MAX_EPOCHS),
    },
    "measure": {
        "latency_batch_bulk": between(1, 4096),
        "latency_seconds": up_to(600.0),
        "sfd_images": between(0, 100_000),
        "sfd_tau": OPEN_FRACTION,
        "sfd_target": one_of(SFD_TARGETS),
        "cam_images": between(0, 1000),
        "bootstrap": between(1, 1_000_000),
    },
}


def check_recipe(train: TrainSpec, where: str) -> None:
    """The ``[train]`` rules that join two fields: milestones and warm-up inside the epochs."""
    late = [m for m in train.milestones if m > train.epochs]
    if late:
        raise GridError(
            f"{where} milestones {late} fall after the last epoch ({train.epochs}); "
            "use epochs within 1..epochs"
        )
    if train.warmup_epochs >= train.epochs:
        raise GridError(
            f"{where} warmup_epochs = {train.warmup_epochs} must be shorter than epochs "
            f"({train.epochs})"
        )


MAX_BULK_PIXELS = 4096 * 224**2  # the largest bulk batch (4096) at ImageNet's 224 px
MAX_BOOTSTRAP_DRAWS = 100_000_000  # resamples x images: an 800 MB index matrix


def check_measure(measure: MeasureSpec, image_size: int) -> None:
    """The ``[measure]`` rules that join two fields (or a field and the image size): a bulk batch
    whose input alone would not fit any device, a bootstrap too large to hold in memory."""
    bulk = measure.latency_batch_bulk
    if measure.latency and bulk is not None and bulk * image_size**2 > MAX_BULK_PIXELS:
        fits = max(1, MAX_BULK_PIXELS // image_size**2)
        raise GridError(
            f"[measure] latency_batch_bulk = {bulk} at {image_size} px is beyond what a bulk "
            f"batch may hold ({MAX_BULK_PIXELS:_} pixels, 4096 images at 224 px); use at most "
            f"{fits}, or leave it out (the default scales with the image size)"
        )
    draws = measure.bootstrap * measure.sfd_images
    if measure.sfd and draws > MAX_BOOTSTRAP_DRAWS:
        raise GridError(
            f"[measure] bootstrap = {measure.bootstrap:_} resamples of sfd_images = "
            f"{measure.sfd_images:_} is {draws:_} draws, more than {MAX_BOOTSTRAP_DRAWS:_}; "
            "lower one of them (1000 resamples are the usual 95 % interval)"
        )


def check_fields(section: str, values: dict[str, Any]) -> None:
    """Raise ``GridError`` for the first value of ``[section]`` outside its domain (``None``, the
    "automatic" value of optional fields, is always allowed)."""
    for key, value in values.items():
        domain = FIELDS.get(section, {}).get(key)
        if domain is None or value is None:
            continue
        finite = not isinstance(value, float) or math.isfinite(value)
        if not finite or not domain.test(value):
            raise GridError(f"[{section}] {key} = {value!r} must be {domain.rule}")
