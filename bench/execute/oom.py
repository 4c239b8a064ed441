"""Out-of-memory backoff: retry a run with half the batch when the grid allows it.

With ``[train] oom_backoff = true`` a run that runs out of GPU memory
(``torch.cuda.OutOfMemoryError``, or a cuDNN/cuBLAS allocation failure, which torch raises as a
plain ``RuntimeError``) is retried with half the batch, down to 1 image; the failed attempt's
tensors are released (the exception and its traceback frames dropped, then ``gc``) before the
cache is emptied. The record keeps the grid's spec and run id (the cell that was asked for) and
says what actually ran: ``batch_size_used`` and ``oom_retries``. The learning rate is not
rescaled: a halved batch is a different recipe, which is why the record names it and reports never
pool it with runs at the grid's batch (``bench.store.pooling_id``).
"""

from __future__ import annotations

import dataclasses
import gc
from typing import Any

import torch

from bench.run import execute_run
from bench.spec import RunSpec
from bench.store import RunFiles
from bench.train import EpochCallback


def execute_with_backoff(
    spec: RunSpec,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
    files: RunFiles | None = None,
) -> dict[str, Any]:
    """``execute_run``, halving the batch on CUDA out-of-memory while ``oom_backoff`` is on."""
    attempt, retries = spec, 0
    while True:
        try:
            record = execute_run(attempt, device, on_epoch, files)
            break
        except RuntimeError as err:  # OutOfMemoryError is one
            batch = attempt.train.batch_size
            if not (spec.train.oom_backoff and batch > 1 and out_of_memory(err)):
                raise
        # out of the except block: the exception and the frames holding the attempt's tensors
        # are gone, so emptying the cache can return their memory
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        train = dataclasses.replace(attempt.train, batch_size=batch // 2)
        attempt, retries = dataclasses.replace(attempt, train=train), retries + 1
        # the reduced run has its own id: a checkpoint of the full batch cannot be resumed
        if files is not None:
            files = files.of_run(attempt.run_id)
    if retries:  # file the result under the cell the grid asked for
        record.update(run_id=spec.run_id, config_id=spec.config_id, spec=spec.canonical())
    record["batch_size_used"] = attempt.train.batch_size
    record["oom_retries"] = retries
    return record


ALLOC_FAILURES = ("CUDNN_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_ALLOC_FAILED", "CUDA out of memory")


def out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is the GPU running out of memory, however the library raised it."""
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return any(marker in str(err) for marker in ALLOC_FAILURES)
