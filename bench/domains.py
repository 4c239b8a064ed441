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
from bench.spec import SFD_TARGETS, TrainSpec
from bench.train import OPTIMIZERS, PRECISIONS


class Domain(NamedTuple):
    """A test of one value and the rule it states, for the error message."""

    test: Callable[[Any], bool]
    rule: str


def at_least(low: int) -> Domain:
    return Domain(lambda v: v >= low, f"at least {low}")


def one_of(choices: tuple[str, ...]) -> Domain:
    return Domain(lambda v: v in choices, f"one of {', '.join(choices)}")


POSITIVE = Domain(lambda v: v > 0, "positive (> 0)")
NON_NEGATIVE = Domain(lambda v: v >= 0, "non-negative")
FRACTION = Domain(lambda v: 0 <= v <= 1, "between 0 and 1")
BELOW_ONE = Domain(lambda v: 0 <= v < 1, "in [0, 1)")
OPEN_FRACTION = Domain(lambda v: 0 < v < 1, "in (0, 1)")

FIELDS: dict[str, dict[str, Domain]] = {
    "data": {
        "image_size": at_least(1),
        "train_size": at_least(1),
        "val_size": at_least(1),
        "seed": NON_NEGATIVE,
    },
    "train": {
        "epochs": at_least(1),
        "batch_size": at_least(1),
        "optimizer": one_of(OPTIMIZERS),
        "lr": POSITIVE,
        "momentum": BELOW_ONE,
        "weight_decay": NON_NEGATIVE,
        "schedule": one_of(SCHEDULES),
        "milestones": Domain(lambda v: all(m >= 1 for m in v), "epochs, each at least 1"),
        "gamma": POSITIVE,
        "step_size": at_least(1),
        "warmup_epochs": NON_NEGATIVE,
        "label_smoothing": BELOW_ONE,
        "random_erasing": FRACTION,
        "precision": one_of(PRECISIONS),
        "checkpoint_every": NON_NEGATIVE,
    },
    "measure": {
        "latency_batch_bulk": at_least(1),
        "latency_seconds": POSITIVE,
        "sfd_images": NON_NEGATIVE,
        "sfd_tau": OPEN_FRACTION,
        "sfd_target": one_of(SFD_TARGETS),
        "cam_images": NON_NEGATIVE,
        "bootstrap": at_least(1),
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
