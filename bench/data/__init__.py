"""Datasets: the core types (``bench.data.base``) and every built-in loader, registered on import.

``bench list`` shows the registered datasets; ``load_dataset(spec)`` loads one.
"""

from bench.data import cifar, clutter, folders, idx, shapes_loader
from bench.data.base import (
    DATASETS,
    ENV_ROOT,
    Augment,
    Batch,
    BatchSource,
    ImageDataset,
    Split,
    load_dataset,
    native_image_size,
    resolve_root,
    subset,
    take,
)

__all__ = [
    "DATASETS",
    "ENV_ROOT",
    "Augment",
    "Batch",
    "BatchSource",
    "ImageDataset",
    "Split",
    "cifar",
    "clutter",
    "folders",
    "idx",
    "load_dataset",
    "native_image_size",
    "resolve_root",
    "shapes_loader",
    "subset",
    "take",
]
