"""What one run is: the resolved, canonical description of a training run and its id.

A ``RunSpec`` is everything that determines a result (architecture, data, training recipe, seed).
Its run id is a hash of the canonical JSON form, so the same cell of two grids maps to the same
record and re-running a grid finds finished work. Fields that say *where* data lives rather than
*what* it is (``DataSpec.root``, ``download``) are excluded from the hash: moving a dataset does not
change a result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import registry

SCHEMA_VERSION = 2  # 2: ``hparams`` (every hyper-parameter, resolved) replaced ``reduction`` and
# ``attention_kwargs`` (the given ones only)
# TrainSpec.channels_last = None resolves to this per device type. CUDA: channels_last, the layout
# cuDNN's fastest convolutions take. CPU: channels_last too, measured by benchmarks/
# test_memory_format.py on 2 cores, 2 threads: training 1.44x (ResNet-20), 1.32x (ResNet-56) and
# 1.07x (ResNet-18 at 32 px) the throughput of contiguous, faster in every round (README, Speed).
CHANNELS_LAST_DEFAULT = {"cuda": True, "cpu": True}
SFD_TARGETS = ("predicted", "true")  # MeasureSpec.sfd_target: the class Grad-CAM explains
# TrainSpec fields added after records existed: left out of the run id at their default value
ADDED_TRAIN_FIELDS = {
    "random_erasing": 0.0,
    "zero_init_last": False,
    "ema_decay": 0.0,
    "tta_flip": False,
}


@dataclass(frozen=True)
class DataSpec:
    """The dataset of a run.

    Attributes:
        name: dataset name (``shapes`` is the synthetic default; see ``bench list``).
        image_size: side length fed to the network; ``None`` = the dataset's native size.
        train_size: images in the training split (``shapes``: generated; real data: a random
            subset).
        val_size: images in the validation split, same convention.
        seed: seed of the data itself (generation, subsets); fixed across run seeds on purpose so
            that seeds vary only initialisation and batch order.
        root: local folder of the dataset, or a folder with one subfolder per dataset; ``None`` =
            ``$BENCH_DATA/<name>`` (not part of the run id).
        download: allow torchvision to download (off by default; not part of the run id).
        options: the dataset's own knobs as sorted (name, value) pairs, resolved against its
            defaults at grid expansion (``bench list`` datasets with options, e.g.
            ``fashion_clutter``); empty for datasets without knobs (and then left out of the id).
    """

    name: str = "shapes"
    image_size: int | None = None
    train_size: int | None = None
    val_size: int | None = None
    seed: int = 0
    root: str | None = field(default=None, compare=False)
    download: bool = field(default=False, compare=False)
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class TrainSpec:
    """The training recipe of a run; every field can be set in a grid's ``[train]`` table.

    Attributes:
        epochs: passes over the training split.
        batch_size: images per optimisation step.
        optimizer: ``sgd`` | ``adam`` | ``adamw``.
        lr: peak learning rate.
        momentum: SGD momentum (Adam: beta1).
        nesterov: Nesterov momentum for SGD.
        weight_decay: L2 / decoupled weight decay.
        schedule: ``constant`` | ``onecycle`` | ``cosine`` | ``multistep`` | ``step`` |
            ``exponential``.
        milestones: epochs at which ``multistep`` multiplies the lr by ``gamma``.
        gamma: decay factor of ``multistep``, ``step`` (every ``step_size`` epochs) and
            ``exponential``.
        step_size: period in epochs of ``step``.
        warmup_epochs: linear warm-up from 0 at the start of training (fractional epochs allowed).
        label_smoothing: cross-entropy label smoothing.
        random_erasing: probability of Random Erasing per training image (Zhong et al.; 0 = off,
            the paper uses 0.5; see ``bench.data.augment.random_erase``).
        zero_init_last: start the last BN of every residual branch at gamma = 0 (timm's default);
            ``False`` (gamma = 1) is the init of the SE/CBAM/BAM/ECA/triplet training codes.
        ema_decay: keep an exponential moving average of the weights (and BN statistics) with
            this decay per optimisation step and evaluate it in place of the raw weights (0 = off;
            ``torch.optim.swa_utils.AveragedModel``). It never changes training itself, so the
            record also gives the raw weights' accuracy (``eval_variants``).
        tta_flip: evaluate on each image and its horizontal mirror, averaging the logits
            (test-time augmentation; the record gives the unflipped accuracy beside it).
        augment: the dataset's paper augmentation on the training split (flip + crop for small
            images).
        precision: ``auto`` (bf16 autocast on CUDA, fp32 on CPU) | ``fp32`` | ``bf16``.
        channels_last: memory format; ``None`` = the device's default (``CHANNELS_LAST_DEFAULT``).
        compile: wrap the model in ``torch.compile``.
        checkpoint_every: save a resumable checkpoint every N epochs (0 = never).
        oom_backoff: on CUDA out-of-memory, retry with half the batch (the record says what ran);
            an execution policy, not part of the run id.
    """

    epochs: int = 4
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    step_size: int = 30
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    random_erasing: float = 0.0
    zero_init_last: bool = False
    ema_decay: float = 0.0
    tta_flip: bool = False
    augment: bool = True
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    checkpoint_every: int = 0
    oom_backoff: bool = field(default=False, compare=False)

    def uses_channels_last(self, device_type: str) -> bool:
        """Whether training on ``device_type`` runs channels_last (``None``: the device default)."""
        if self.channels_last is not None:
            return self.channels_last
        return CHANNELS_LAST_DEFAULT.get(device_type, False)

    def uses_bf16(self, device_type: str) -> bool:
        """Whether training on ``device_type`` runs under bf16 autocast (``auto``: on CUDA only)."""
        return self.precision == "bf16" or (self.precision == "auto" and device_type == "cuda")

    def resolved_precision(self, device_type: str) -> str:
        """``"bf16"`` or ``"fp32"``: what ``precision`` resolves to on ``device_type``."""
        return "bf16" if self.uses_bf16(device_type) else "fp32"


@dataclass(frozen=True)
class MeasureSpec:
    """What is measured after training; every field can be set in a grid's ``[measure]`` table.

    Not part of the run id: measuring differently does not change what was trained. The settings a
    record was measured with are stored in it (``record["measure"]``).

    Attributes:
        flops: count GMACs (three conventions, see ``bench.measure.flops``).
        latency: time inference (batch 1 and bulk) and a training step; once per architecture.
        latency_batch_bulk: the throughput batch; ``None`` = 256 on CUDA, 32 on CPU.
        latency_seconds: time spent per timed setting (CPU autorange / GPU repeats).
        train_step: also time one SGD step at the bulk batch.
        sfd: Grad-CAM saliency scores (sfd, energy in mask, pointing game) on the val split.
        sfd_images: first N validation images scored (0 = none).
        sfd_tau: salience threshold of the sfd's region B (DAS definition; default 0.5).
        sfd_target: class explained by Grad-CAM: ``predicted`` or ``true``.
        cam_layers: module paths of the Grad-CAM layers, first = the one the record's sfd uses;
            empty = the last stage and the one before whose maps are larger than 1x1.
        cam_images: Grad-CAM maps stored in the record for ``bench cam`` figures.
        bootstrap: resamples of the bootstrap 95 % confidence interval.
    """

    flops: bool = True
    latency: bool = True
    latency_batch_bulk: int | None = None
    latency_seconds: float = 0.2
    train_step: bool = True
    sfd: bool = True
    sfd_images: int = 200
    sfd_tau: float = 0.5
    sfd_target: str = "predicted"
    cam_layers: tuple[str, ...] = ()
    cam_images: int = 8
    bootstrap: int = 1000


@dataclass(frozen=True)
class RunSpec:
    """One cell of a grid: architecture x data x recipe x seed, fully resolved.

    ``placement`` is the resolved placement (the module's default filled in), ``None`` for attention
    ``none``; ``hparams`` holds every hyper-parameter of the module, defaults filled in
    (``registry.resolve_hparams``), as sorted (name, value) pairs so the spec stays hashable.
    ``code`` names the plugin code the model is built from, as (role, ``module:qualname``, SHA-256
    of the module's source) triples (``bench.execute.plugins.spec_code``): an edited plugin gives
    new run ids. Empty for built-in entries, and then left out of the id.
    """

    study: str
    backbone: str
    attention: str = "none"
    placement: str | None = None
    stages: tuple[int, ...] | None = None
    hparams: tuple[tuple[str, Any], ...] = ()
    seed: int = 0
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    measure: MeasureSpec = field(default_factory=MeasureSpec, compare=False)
    code: tuple[tuple[str, str, str], ...] = ()

    def canonical(self) -> dict[str, Any]:
        """The JSON-ready form that defines the run id (location-only data fields left out)."""
        spec = dataclasses.asdict(self)
        spec["hparams"] = {k: _json_ready(v) for k, v in self.hparams}
        for location_only in ("root", "download"):
            spec["data"].pop(location_only)
        options = spec["data"].pop("options")
        if options:  # datasets without knobs keep the ids they had before knobs existed
            spec["data"]["options"] = {k: _json_ready(v) for k, v in self.data.options}
        spec["train"].pop("oom_backoff")  # how to run, not what: excluded like the data location
        for added, default in ADDED_TRAIN_FIELDS.items():
            if spec["train"][added] == default:  # runs from before the field keep their ids
                del spec["train"][added]
        del spec["measure"]  # what is measured afterwards does not change what was trained
        spec.pop("code")
        if self.code:  # built-in entries keep the ids they had before plugins were hashed
            spec["code"] = {role: {"import": o, "sha256": h} for role, o, h in self.code}
        return spec

    @property
    def run_id(self) -> str:
        """12 hex digits of the SHA-256 of the canonical spec."""
        return _digest(self.canonical())

    @property
    def config_id(self) -> str:
        """Like ``run_id`` but without the seed and study: runs that differ only by seed share
        it."""
        spec = self.canonical()
        del spec["seed"], spec["study"]
        return _digest(spec)

    @property
    def label(self) -> str:
        """A short human name of the configuration, e.g. ``resnet20 + se@block r16``."""
        parts = [self.backbone]
        if self.attention != "none":
            parts = [f"{self.backbone} + {self.attention}@{self.placement}"]
            parts += registry.describe_hparams(self.attention, dict(self.hparams))
        if self.stages is not None:
            parts.append("stages " + ",".join(str(s) for s in self.stages))
        parts += [f"code {sha[:7]}" for _, _, sha in self.code]  # which version of a plugin
        return " ".join(parts)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> RunSpec:
        """Inverse of ``canonical`` (``root``/``download`` default when absent)."""
        spec = dict(spec)
        data_fields = dict(spec.pop("data"))
        data_fields["options"] = tuple(
            sorted((k, _hashable(v)) for k, v in data_fields.get("options", {}).items())
        )
        data = DataSpec(**data_fields)
        train_fields = dict(spec.pop("train"))
        train_fields["milestones"] = tuple(train_fields.get("milestones", ()))
        stages = spec.pop("stages")
        hparams = spec.pop("hparams")
        measure = dict(spec.pop("measure", None) or {})
        measure["cam_layers"] = tuple(measure.get("cam_layers", ()))
        code = spec.pop("code", {})
        return cls(
            code=tuple((role, c["import"], c["sha256"]) for role, c in sorted(code.items())),
            **spec,
            stages=None if stages is None else tuple(stages),
            hparams=tuple(sorted((k, _hashable(v)) for k, v in hparams.items())),
            data=data,
            train=TrainSpec(**train_fields),
            measure=MeasureSpec(**measure),
        )


def _json_ready(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _digest(obj: dict[str, Any]) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def distinct_labels(labels: list[str], recipes: list[dict[str, Any]]) -> list[str]:
    """``labels`` with the differing recipe fields appended where one label has several recipes.

    Configurations that differ only in training (``random_erasing``, ``epochs``, ...) share the
    architecture's label; e.g. ``resnet20`` twice becomes ``resnet20 (epochs 1)`` and
    ``resnet20 (epochs 2)``. ``recipes`` are the canonical ``train`` dicts, one per label.
    """
    recipes = [ADDED_TRAIN_FIELDS | recipe for recipe in recipes]  # their defaults, spelled out
    by_label: dict[str, list[dict[str, Any]]] = {}
    for label, recipe in zip(labels, recipes, strict=True):
        by_label.setdefault(label, []).append(recipe)
    out = []
    for label, recipe in zip(labels, recipes, strict=True):
        variants = by_label[label]
        keys = sorted(
            {k for r in variants for k in r if len({_text(v.get(k)) for v in variants}) > 1}
        )
        shown = ", ".join(f"{k} {_text(recipe.get(k, '-'))}" for k in keys)
        out.append(f"{label} ({shown})" if shown else label)
    return out


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)
