"""Learning-rate schedules as pure functions of the (fractional) epoch, so they can be tested."""

from __future__ import annotations

import bisect
import math

from bench.errors import GridError
from bench.spec import TrainSpec

SCHEDULES = ("constant", "onecycle", "cosine", "multistep", "step", "exponential")
ONECYCLE_PEAK_AT = 0.25  # fraction of training spent ramping up
ONECYCLE_START = 0.04  # initial lr as a fraction of the peak (timm/torch use 1/25)


def lr_factor(train: TrainSpec, epoch: float) -> float:
    """Multiplier of ``train.lr`` at ``epoch`` (0 <= epoch <= train.epochs).

    - constant: 1.
    - onecycle: linear from 0.04 to 1 over the first 25 % of training, then linear to 0.
    - cosine: (1 + cos(pi * epoch / epochs)) / 2.
    - multistep: gamma ** (number of milestones <= epoch).
    - step: gamma ** floor(epoch / step_size).
    - exponential: gamma ** floor(epoch) (e.g. x0.98 per epoch for MobileNetV2).
    A linear warm-up over ``warmup_epochs`` multiplies any of them.
    """
    total = train.epochs
    if train.schedule == "constant":
        factor = 1.0
    elif train.schedule == "onecycle":
        t = epoch / total
        if t < ONECYCLE_PEAK_AT:
            factor = ONECYCLE_START + (1 - ONECYCLE_START) * t / ONECYCLE_PEAK_AT
        else:
            factor = max(0.0, (1 - t) / (1 - ONECYCLE_PEAK_AT))
    elif train.schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * min(epoch, total) / total))
    elif train.schedule == "multistep":
        factor = train.gamma ** bisect.bisect_right(sorted(train.milestones), epoch)
    elif train.schedule == "step":
        factor = train.gamma ** math.floor(epoch / train.step_size)
    elif train.schedule == "exponential":
        factor = train.gamma ** math.floor(epoch)
    else:
        raise GridError(
            f"unknown schedule {train.schedule!r}; choose one of {', '.join(SCHEDULES)}"
        )
    if train.warmup_epochs > 0 and epoch < train.warmup_epochs:
        factor *= epoch / train.warmup_epochs
    return factor
