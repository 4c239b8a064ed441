"""One RunSpec -> a trained model and its per-epoch curves.

Both kinds of split hand the loop uint8 batches on the training device (``split.batches``):
in-memory splits of small images live on the device and are shuffled and augmented there (no
DataLoader, no host-device copy in the hot path); large-image splits come from a DataLoader with
workers and pinned memory. Train and eval use the same batch source. On CUDA: bf16 autocast and
``cudnn.benchmark`` by default; channels_last by default on CUDA and on a CPU (measured, see
``bench.spec.CHANNELS_LAST_DEFAULT``); ``torch.compile`` on request.

The reported accuracy is the last epoch's: nothing is selected on the validation (test) split. It is
the accuracy of the model the recipe evaluates: the moving average of the weights when
``ema_decay`` is set, with horizontal-flip test-time augmentation when ``tta_flip`` is; neither
changes training, so the final weights are also scored the other ways (``eval_variants``). A run
with ``checkpoint_every`` saves a resumable checkpoint and, when interrupted, continues from it
bit-identically on a CPU.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from timm.utils import ModelEmaV3
from torch import nn

import registry
from bench.data import BatchSource, ImageDataset
from bench.data.augment import normalize, random_erase
from bench.errors import GridError
from bench.schedule import lr_factor
from bench.spec import RunSpec, TrainSpec
from bench.store import temp_path

OPTIMIZERS = ("sgd", "adam", "adamw")
PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 autocast on CUDA, fp32 on CPU

EpochCallback = Callable[[int, dict[str, float]], None]
Step = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TrainResult:
    """The trained model and how training went."""

    model: nn.Module
    curves: list[dict[str, float]] = field(default_factory=list)
    status: str = "done"
    error: str | None = None
    resumed_from_epoch: int = 0  # epochs taken from a checkpoint (0 = trained from scratch)
    determinism: dict[str, Any] = field(default_factory=dict)
    eval_variants: dict[str, float] = field(default_factory=dict)  # see ``score_variants``


@dataclass
class Session:
    """Everything a training run mutates; what a checkpoint saves."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    step: Step
    mean: torch.Tensor
    std: torch.Tensor
    ema: ModelEmaV3 | None = None  # the weights' moving average (``TrainSpec.ema_decay``)

    @property
    def evaluated(self) -> nn.Module:
        """The model the recipe scores: the moving average when there is one, else the weights."""
        return self.model if self.ema is None else self.ema.module


def seed_everything(seed: int) -> None:
    """Seed Python and torch (CPU and CUDA) for a repeatable CPU run."""
    random.seed(seed)
    torch.manual_seed(seed)


def build_for_run(spec: RunSpec, data: ImageDataset) -> nn.Module:
    """The model of ``spec`` sized for ``data`` (classes, input channels)."""
    return registry.build_model(
        spec.backbone,
        spec.attention,
        spec.placement,
        num_classes=data.num_classes,
        stages=None if spec.stages is None else list(spec.stages),
        in_chans=data.in_chans,
        zero_init_last=spec.train.zero_init_last,
        **dict(spec.hparams),
    )


def prepare(spec: RunSpec, data: ImageDataset, device: torch.device) -> Session:
    """Seeded model, optimiser, per-step lr schedule, random stream and step function of a run."""
    seed_everything(spec.seed)
    train = spec.train
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = (
            True  # fixed input shapes: let cuDNN pick the fastest kernels
        )
        # fp32 means fp32: cuDNN convolutions default to TF32 (matmuls do not); both set, and
        # recorded by determinism_note
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model = build_for_run(spec, data).to(device).to(memory_format=memory_format(train, device))
    optimizer = make_optimizer(model, train)
    steps_per_epoch = max(1, len(data.train) // train.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(train, step / steps_per_epoch)
    )
    # the average is a copy made after the seeded init: it draws no random numbers
    ema = ModelEmaV3(model, decay=train.ema_decay) if train.ema_decay > 0 else None
    return Session(
        model,
        optimizer,
        scheduler,
        torch.Generator(device=device).manual_seed(spec.seed),
        make_step(model, optimizer, scheduler, train, device, ema),
        torch.tensor(data.mean, device=device),
        torch.tensor(data.std, device=device),
        ema,
    )


def train_model(
    spec: RunSpec,
    data: ImageDataset,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
    checkpoint: Path | None = None,
) -> TrainResult:
    """Train ``spec`` on ``data``; stop early with status ``diverged`` on a non-finite loss.

    Args:
        checkpoint: file for resumable checkpoints (every ``train.checkpoint_every`` epochs); an
            existing one for the same run is resumed from. Deleted when the run ends.
    """
    train = spec.train
    session = prepare(spec, data, device)
    result = TrainResult(session.model)
    if checkpoint is not None and checkpoint.is_file():
        result.curves = load_checkpoint(checkpoint, session, spec.run_id)
        result.resumed_from_epoch = len(result.curves)
    train_split, val_split = data.train.to(device), data.val.to(device)
    result.determinism = determinism_note(session, train_split, train, device)
    for epoch in range(result.resumed_from_epoch + 1, train.epochs + 1):
        start = time.perf_counter()
        lr = session.optimizer.param_groups[0]["lr"]
        train_loss, train_top1 = train_epoch(session, train_split, train, device)
        if not math.isfinite(train_loss):
            result.status = "diverged"
            result.error = f"non-finite training loss at epoch {epoch} (lr {lr:.3g})"
            break
        metrics = evaluate(
            session.evaluated, val_split, session.mean, session.std, train, device, train.tta_flip
        )
        row = {"epoch": epoch, "train_loss": train_loss, "train_top1_pct": train_top1}
        row |= metrics | {"lr": lr, "seconds": time.perf_counter() - start}
        result.curves.append(row)
        every = train.checkpoint_every
        if checkpoint is not None and every and epoch % every == 0 and epoch < train.epochs:
            save_checkpoint(checkpoint, session, spec.run_id, result.curves)
        if on_epoch is not None:
            on_epoch(epoch, row)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    if result.status == "done" and result.curves:
        result.eval_variants = score_variants(session, val_split, train, device)
    result.model = session.evaluated
    return result


def score_variants(
    session: Session, split: BatchSource, train: TrainSpec, device: torch.device
) -> dict[str, float]:
    """Val top-1 (%) of the final weights scored every way the recipe levers allow.

    Keys ``raw`` and ``raw_flip`` (the trained weights, without and with flip test-time
    augmentation), plus ``ema`` and ``ema_flip`` when the run kept a moving average. The moving
    average and the flip never change training, so these are the accuracies the same run would
    have reported under each evaluation setting: paired candidates for choosing a recipe.
    """
    models = {"raw": session.model} | ({} if session.ema is None else {"ema": session.ema.module})
    variants = {}
    for name, model in models.items():
        for flip in (False, True):
            metrics = evaluate(model, split, session.mean, session.std, train, device, flip)
            variants[name + ("_flip" if flip else "")] = metrics["val_top1_pct"]
    return variants


def train_epoch(
    session: Session, split: BatchSource, train: TrainSpec, device: torch.device
) -> tuple[float, float]:
    """One pass over ``split``: mean training loss and top-1 (%), one host sync at the end."""
    session.model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    steps = seen = 0
    batches = split.batches(
        train.batch_size,
        device,
        generator=session.generator,
        augment=train.augment,
        drop_last=len(split) >= train.batch_size,  # equal batches, but never an empty epoch
    )
    for images, labels, _ in batches:
        if train.augment and train.random_erasing > 0:
            images = random_erase(images, train.random_erasing, session.generator)
        batch_loss, batch_correct = session.step(
            normalize(images, session.mean, session.std), labels
        )
        loss_sum += batch_loss
        correct += batch_correct
        steps += 1
        seen += len(labels)
    return loss_sum.item() / max(1, steps), 100 * correct.item() / max(1, seen)


def make_optimizer(model: nn.Module, train: TrainSpec) -> torch.optim.Optimizer:
    """The optimiser a grid's ``[train]`` table names."""
    params = model.parameters()
    if train.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=train.lr,
            momentum=train.momentum,
            nesterov=train.nesterov and train.momentum > 0,
            weight_decay=train.weight_decay,
        )
    betas = (train.momentum, 0.999)
    if train.optimizer == "adam":
        return torch.optim.Adam(params, lr=train.lr, betas=betas, weight_decay=train.weight_decay)
    if train.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=train.lr, betas=betas, weight_decay=train.weight_decay)
    raise GridError(f"unknown optimizer {train.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    split: BatchSource,
    mean: torch.Tensor,
    std: torch.Tensor,
    train: TrainSpec,
    device: torch.device,
    flip: bool = False,
) -> dict[str, float]:
    """Validation loss, top-1 and top-5 accuracy (%) over a whole split, in its order.

    Args:
        flip: average the logits of each image and its horizontal mirror (test-time
            augmentation, as airbench evaluates).
    """
    model.eval()
    fmt = memory_format(train, device)
    loss_sum = torch.zeros((), device=device)
    top1 = torch.zeros((), device=device, dtype=torch.int64)
    top5 = torch.zeros((), device=device, dtype=torch.int64)
    for images, labels, _ in split.batches(train.batch_size, device):
        inputs = normalize(images, mean, std).contiguous(memory_format=fmt)
        with _autocast(train, device):
            logits = model(inputs).float()
            if flip:
                logits = (logits + model(inputs.flip(3)).float()) / 2
        loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum")
        hits = logits.topk(min(5, logits.shape[1]), dim=1).indices == labels[:, None]
        top1 += hits[:, 0].sum()
        top5 += hits.any(dim=1).sum()
    n = len(split)
    return {
        "val_loss": loss_sum.item() / n,
        "val_top1_pct": 100 * top1.item() / n,
        "val_top5_pct": 100 * top5.item() / n,
    }


def make_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    train: TrainSpec,
    device: torch.device,
    ema: ModelEmaV3 | None = None,
) -> Step:
    """One optimisation step; returns the (detached) loss and the number of correct predictions.

    With ``ema``, the moving average takes the new weights after every step.
    """
    criterion = nn.CrossEntropyLoss(label_smoothing=train.label_smoothing)
    forward = torch.compile(model) if train.compile else model
    fmt = memory_format(train, device)

    def step(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with _autocast(train, device):
            logits = forward(images.contiguous(memory_format=fmt))
            loss = criterion(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model, step=scheduler.last_epoch)
        return loss.detach(), (logits.argmax(1) == labels).sum()

    return step


def best_epoch(curves: list[dict[str, float]]) -> dict[str, Any] | None:
    """The epoch with the highest val top-1, for display only (the reported number is the last)."""
    if not curves:
        return None
    best = max(curves, key=lambda row: row["val_top1_pct"])
    return {
        "epoch": best["epoch"],
        "val_top1_pct": best["val_top1_pct"],
        "note": "selected on the validation split: optimistic, not the reported accuracy",
    }


def save_checkpoint(
    path: Path, session: Session, run_id: str, curves: list[dict[str, float]]
) -> None:
    """Everything needed to continue the run, written atomically (tmp file + rename)."""
    state = {
        "run_id": run_id,
        "epoch": len(curves),
        "curves": curves,
        "model": session.model.state_dict(),
        "optimizer": session.optimizer.state_dict(),
        "scheduler": session.scheduler.state_dict(),
        "ema": None if session.ema is None else session.ema.state_dict(),
        "generator": session.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, session: Session, run_id: str) -> list[dict[str, float]]:
    """Restore ``session`` from ``path`` (``weights_only``: no code runs); returns the curves."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("run_id") != run_id:
        raise ValueError(f"{path} belongs to run {state.get('run_id')}, not {run_id}")
    session.model.load_state_dict(state["model"])
    session.optimizer.load_state_dict(state["optimizer"])
    session.scheduler.load_state_dict(state["scheduler"])
    if session.ema is not None:
        session.ema.load_state_dict(state["ema"])
    session.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"]:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return list(state["curves"])


def determinism_note(
    session: Session, split: BatchSource, train: TrainSpec, device: torch.device
) -> dict[str, Any]:
    """What can and cannot be repeated bit for bit on ``device``, for the run record.

    On CUDA one forward/backward of a copy of the model runs under
    ``torch.use_deterministic_algorithms(True, warn_only=True)``; each op that warns (e.g. adaptive
    pooling backward, cuBLAS without CUBLAS_WORKSPACE_CONFIG) is listed, warnings that torch gives
    once per process included (``torch.set_warn_always``), and so are the ops that are
    non-deterministic without any alert (``silent_nondeterministic_ops``). The training itself stays
    fast (and non-deterministic): ``cudnn.benchmark`` picks kernels by timing. The TF32 flags are
    recorded too.
    """
    if device.type != "cuda":
        return {"device": device.type, "repeatable": True, "nondeterministic_ops": []}
    images, labels, _ = next(iter(split.batches(train.batch_size, device)))
    probe = copy.deepcopy(session.model).train()
    warn_always = torch.is_warn_always_enabled()
    with torch.random.fork_rng(devices=[device]), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.set_warn_always(True)  # e.g. SDPA's backward warns once per process otherwise
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            with _autocast(train, device):
                logits = probe(normalize(images, session.mean, session.std))
            nn.functional.cross_entropy(logits.float(), labels).backward()
        finally:
            torch.use_deterministic_algorithms(False)
            torch.set_warn_always(warn_always)
    ops = {_op_name(str(w.message)) for w in caught if "determinis" in str(w.message)}
    return {
        "device": device.type,
        "repeatable": False,
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "tf32": {
            "matmul": torch.backends.cuda.matmul.allow_tf32,
            "cudnn": torch.backends.cudnn.allow_tf32,
        },
        "nondeterministic_ops": sorted(ops | set(silent_nondeterministic_ops(session.model))),
    }


def silent_nondeterministic_ops(model: nn.Module) -> list[str]:
    """Ops of ``model`` that are non-deterministic on CUDA but raise no determinism alert."""
    from torchvision.ops import DeformConv2d

    if any(isinstance(m, DeformConv2d) for m in model.modules()):
        return ["deform_conv2d backward (torchvision; atomicAdd, raises no alert)"]
    return []


def _op_name(message: str) -> str:
    if "CuBLAS" in message or "CUBLAS" in message:
        return "cublas (needs CUBLAS_WORKSPACE_CONFIG=:4096:8)"
    if "attention" in message.lower():  # "Memory Efficient attention defaults to ..." and kin
        return "scaled_dot_product_attention backward (fused kernel)"
    return message.split()[0]


def memory_format(train: TrainSpec, device: torch.device) -> torch.memory_format:
    """The memory format of the model and batches of a run of ``train`` on ``device``."""
    return torch.channels_last if train.uses_channels_last(device.type) else torch.contiguous_format


def _autocast(train: TrainSpec, device: torch.device) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=train.uses_bf16(device.type))
