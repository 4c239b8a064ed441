"""Core dataset types: train and val splits of uint8 images, batched on the training device.

Two kinds of split, used identically by the training loop (``split.batches(...)``):

- ``Split``: the whole split in memory as uint8 tensors (N, C, H, W), int64 labels and optional bool
  target masks (N, H, W). Small-image datasets (shapes, CIFAR, MNIST) use it: the loop keeps them on
  the GPU and shuffles and augments them there, with no DataLoader in the hot path.
- ``FileSplit`` (``bench.data.folders``): images read from disk by a DataLoader with workers and
  pinned memory, transformed on the CPU (ImageNet-style crops), for large-image datasets.

Each dataset registers a loader in ``DATASETS``; ``resolve_root`` finds its local folder.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from bench.data.augment import random_crop_flip
from bench.errors import DataError, GridError
from bench.spec import DataSpec
from registry.core import Registry, UnknownNameError

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # uint8 images, labels, masks
ENV_ROOT = "BENCH_DATA"


@dataclass(frozen=True)
class Augment:
    """The on-device training augmentation of a small-image dataset (He et al.'s CIFAR recipe).

    Attributes:
        pad: zero padding before the random crop back to the original size (0 = no crop).
        flip: random horizontal flip.
    """

    pad: int = 4
    flip: bool = True


class BatchSource(Protocol):
    """What the training loop needs of a split."""

    @property
    def in_chans(self) -> int: ...

    @property
    def image_size(self) -> int: ...

    def __len__(self) -> int: ...

    def to(self, device: torch.device) -> BatchSource: ...

    def batches(
        self,
        batch_size: int,
        device: torch.device,
        *,
        generator: torch.Generator | None = None,
        augment: bool = False,
        drop_last: bool = False,
    ) -> Iterator[Batch]: ...


@dataclass(frozen=True)
class Split:
    """An in-memory split: uint8 images (N, C, H, W), int64 labels (N,), bool masks (N, H, W).

    ``augmentation`` is applied on the batch's device when ``batches(augment=True)``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None = None
    augmentation: Augment | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def in_chans(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def to(self, device: torch.device) -> Split:
        """The same split with its tensors on ``device`` (a no-op when they are already there)."""
        masks = None if self.masks is None else self.masks.to(device)
        return Split(self.images.to(device), self.labels.to(device), masks, self.augmentation)

    def batches(
        self,
        batch_size: int,
        device: torch.device,
        *,
        generator: torch.Generator | None = None,
        augment: bool = False,
        drop_last: bool = False,
    ) -> Iterator[Batch]:
        """Batches on ``device``; shuffled when a generator (on ``device``) is given."""
        data = self.to(device)
        n = len(data)
        order = None if generator is None else torch.randperm(n, device=device, generator=generator)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            if order is None:
                idx: slice | torch.Tensor = slice(start, start + batch_size)
            else:
                idx = order[start : start + batch_size]
            images = data.images[idx]
            if augment and self.augmentation is not None and generator is not None:
                aug = self.augmentation
                images = random_crop_flip(images, aug.pad, generator, flip=aug.flip)
            yield images, data.labels[idx], None if data.masks is None else data.masks[idx]


@dataclass(frozen=True)
class ImageDataset:
    """A loaded dataset with what the model and the normalisation need to know about it."""

    name: str
    num_classes: int
    train: Split | BatchSource
    val: Split | BatchSource
    mean: tuple[float, ...]
    std: tuple[float, ...]
    synthetic: bool = False
    source: str = "generated"  # the folder a real dataset was read from

    def describe(self) -> dict[str, Any]:
        """What a run record says about the data it trained on (normalisation included)."""
        augmentation = getattr(self.train, "augmentation", None)
        return {
            "name": self.name,
            "source": self.source,
            "synthetic": self.synthetic,
            "num_classes": self.num_classes,
            "train_images": len(self.train),
            "val_images": len(self.val),
            "image_size": self.image_size,
            "in_chans": self.in_chans,
            "mean": list(self.mean),
            "std": list(self.std),
            "augmentation": None if augmentation is None else dataclasses.asdict(augmentation),
        }

    @property
    def in_chans(self) -> int:
        return int(self.train.in_chans)

    @property
    def image_size(self) -> int:
        return int(self.train.image_size)


Loader = Callable[[DataSpec], ImageDataset]
DATASETS = Registry("dataset", contract="loader(spec: DataSpec) -> ImageDataset")


def load_dataset(spec: DataSpec) -> ImageDataset:
    """Load (or generate) the dataset a run asks for.

    Raises:
        DataError: a real dataset's folder is missing or incomplete (the message says the layout),
            or a loader failed on its files (damaged, unreadable, a download that cannot reach
            its server): one line naming the dataset and the first line of the cause.
    """
    loader = _loader(spec.name)
    try:
        return loader(spec)
    except (DataError, GridError):
        raise
    except Exception as err:  # a damaged file or a failed download: the one place that names it
        text = str(err).strip().splitlines()
        reason = f"{type(err).__name__}: {text[0] if text else 'no message'}"
        raise DataError(
            f"dataset {spec.name!r} cannot be loaded ({reason}); check its files under the "
            "[data] root (or --data-root), or put them there by hand instead of download = true"
        ) from None


def native_image_size(name: str) -> int:
    """The image side a dataset is used at when the grid does not say."""
    _loader(name)
    return int(DATASETS.meta(name)["image_size"])


def resolve_root(
    spec: DataSpec,
    complete: Callable[[Path], bool],
    layout: str,
    *,
    system: tuple[Path, ...] = (),
    hint: str = "",
) -> Path:
    """The local folder of a real dataset: the first candidate that ``complete`` accepts.

    Candidates, in order: ``spec.root`` (the grid's ``[data] root`` or ``--data-root``) and
    ``spec.root/<name>``; without a root, ``$BENCH_DATA/<name>`` and then the ``system`` folders
    (where an operating-system package installs the dataset).

    Args:
        spec: the run's data spec.
        complete: whether a folder holds the whole dataset.
        layout: the expected layout, for the error message (relative to the dataset folder).
        system: folders searched without any configuration.
        hint: how to get the data, prepended to the message's fix (e.g. a package to install).

    Raises:
        DataError: no candidate is complete.
    """
    if spec.root is not None:
        candidates = [Path(spec.root).expanduser(), Path(spec.root).expanduser() / spec.name]
    else:
        env = os.environ.get(ENV_ROOT)
        candidates = [Path(env).expanduser() / spec.name] if env else []
        candidates += system
    for folder in candidates:
        if complete(folder):
            return folder
    fix = f"{hint}, or " if hint else ""
    fix += f"set [data] root, --data-root or {ENV_ROOT} (a folder with one subfolder per dataset)"
    if not candidates:
        raise DataError(f"{spec.name}: no data root; expected a folder with {layout}; {fix}")
    searched = ", ".join(str(c) for c in candidates)
    raise DataError(f"{spec.name} not found in {searched}: expected {layout}; {fix}")


def subset(n: int, size: int | None, seed: int, key: str = "train_size") -> torch.Tensor | None:
    """Indices of a random subset of ``size`` out of ``n`` (``None``: keep everything).

    Raises:
        DataError: ``size`` is larger than the split: the run id keeps the asked size, so a
            silently smaller split would be a different run under that id.
    """
    if size is not None and size > n:
        raise DataError(
            f"[data] {key} = {size:_} is larger than the split ({n:_} images); ask for at most "
            f"{n:_}, or leave {key} out to use the whole split"
        )
    if size is None or size == n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].sort().values


def take(split: BatchSource, n: int, device: torch.device) -> Batch:
    """The first ``n`` images of a split, in order and unaugmented (e.g. for the saliency score)."""
    return next(iter(split.batches(n, device)))


def _loader(name: str) -> Loader:
    try:
        return DATASETS.get(name)
    except UnknownNameError as err:
        raise GridError(str(err)) from None
