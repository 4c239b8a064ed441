"""Attention modules that fail on purpose, for the executor fault-injection tests.

Subprocess and Ray workers load them through the plugin hook (``BENCH_PLUGINS=tests.fault_plugins``,
which registers them on import). In the pytest process they are registered only for the tests that
use ``registered()`` and removed afterwards, so that tests iterating over the whole registry never
meet a module that kills its process. Each module is the identity until it fails.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from registry import ATTENTIONS


class _Fault(nn.Module):
    """Identity that counts epochs: a training-mode forward after an evaluation starts a new one."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.epoch = 1
        self._evaluated = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self._evaluated:
            self.epoch += 1
        self._evaluated = not self.training
        self.fail(x)
        return x

    def fail(self, x: torch.Tensor) -> None:
        raise NotImplementedError


class RaiseAtEpoch2(_Fault):
    """Raises RuntimeError when epoch 2 starts."""

    def fail(self, x: torch.Tensor) -> None:
        if self.epoch >= 2:
            raise RuntimeError("injected fault at epoch 2")


class OomAbove16(_Fault):
    """Raises torch.cuda.OutOfMemoryError on training batches of more than 16 images."""

    def fail(self, x: torch.Tensor) -> None:
        if self.training and x.shape[0] > 16:
            raise torch.cuda.OutOfMemoryError(f"injected: batch of {x.shape[0]} does not fit")


class NanInTraining(_Fault):
    """Turns every training activation into NaN (a run whose loss is not finite)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan") if self.training else x


class KillProcess(_Fault):
    """Kills its own process with SIGKILL on the first forward (a worker dying without a record)."""

    def fail(self, x: torch.Tensor) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


MODULES = {
    "fault_raise_epoch2": RaiseAtEpoch2,
    "fault_oom": OomAbove16,
    "fault_nan": NanInTraining,
    "fault_kill": KillProcess,
}


def register() -> None:
    """Add the fault modules to the attention registry (idempotent)."""
    for name, cls in MODULES.items():
        if name not in ATTENTIONS:
            ATTENTIONS.register(name, cls, default_placement="block", spatial=False)


def unregister() -> None:
    """Remove them again (the registry has no public removal: tests only)."""
    for name in MODULES:
        for table in (ATTENTIONS._entries, ATTENTIONS._descriptions, ATTENTIONS._meta):
            table.pop(name, None)


@contextmanager
def registered() -> Iterator[dict[str, type]]:
    """The fault modules, registered in this process for the ``with`` block only."""
    register()
    try:
        yield MODULES
    finally:
        unregister()


if __name__ in os.environ.get("BENCH_PLUGINS", "").split(","):  # loaded as a plugin: for good
    register()
