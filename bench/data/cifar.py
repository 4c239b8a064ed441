"""CIFAR-10 and CIFAR-100 from the python version of the CIFAR site (torchvision's on-disk format).

Layout (the folder torchvision's ``CIFAR10(root)`` expects)::

    <root>/cifar-10-batches-py/{data_batch_1..5, test_batch}
    <root>/cifar-100-python/{train, test}

Each file is a pickled dict with ``data`` (N x 3072 uint8, channel-major) and ``labels``
(CIFAR-10) or ``fine_labels`` (CIFAR-100). The test batch is the validation split.
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path

import torch

from bench.data.augment import resize
from bench.data.base import DATASETS, ENV_ROOT, Augment, ImageDataset, Split, resolve_root, subset
from bench.errors import DataError
from bench.spec import DataSpec

# (folder, train files, val file, label key, classes, mean, std); statistics of the training sets
CIFAR = {
    "cifar10": (
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        b"labels",
        10,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
    ),
    "cifar100": (
        "cifar-100-python",
        ("train",),
        "test",
        b"fine_labels",
        100,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
    ),
}
LAYOUTS = {
    "cifar10": "cifar-10-batches-py/{data_batch_1..5,test_batch} "
    "(the python version from the CIFAR site)",
    "cifar100": "cifar-100-python/{train,test} (the python version from the CIFAR site)",
}


def _complete(name: str, folder: Path) -> bool:
    sub, train_files, val_file, *_ = CIFAR[name]
    return all((folder / sub / f).is_file() for f in (*train_files, val_file))


def load_cifar(spec: DataSpec) -> ImageDataset:
    """CIFAR-10/100 as uint8 tensors, with the pad-4 crop + flip augmentation (He et al.)."""
    if spec.download:
        _download(spec)
    root = resolve_root(spec, functools.partial(_complete, spec.name), LAYOUTS[spec.name])
    return _load(spec, str(root))


@functools.lru_cache(maxsize=2)  # a grid's runs share one dataset
def _load(spec: DataSpec, root: str) -> ImageDataset:
    sub, train_files, val_file, label_key, classes, mean, std = CIFAR[spec.name]
    folder = Path(root) / sub
    train = _read_batches([folder / f for f in train_files], label_key)
    val = _read_batches([folder / val_file], label_key)
    size = spec.image_size or 32
    splits = []
    for (images, labels), n, seed, key in (
        (train, spec.train_size, spec.seed, "train_size"),
        (val, spec.val_size, spec.seed + 1, "val_size"),
    ):
        keep = subset(len(labels), n, seed, key)
        if keep is not None:
            images, labels = images[keep], labels[keep]
        splits.append((resize(images, size), labels))
    return ImageDataset(
        name=spec.name,
        num_classes=classes,
        train=Split(*splits[0], augmentation=Augment(pad=max(1, size // 8), flip=True)),
        val=Split(*splits[1]),
        mean=mean,
        std=std,
    )


def _read_batches(paths: list[Path], label_key: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for path in paths:
        try:
            with path.open("rb") as f:
                batch = pickle.load(f, encoding="bytes")
            data = torch.as_tensor(batch[b"data"], dtype=torch.uint8)
            labels.append(torch.as_tensor(batch[label_key], dtype=torch.int64))
        except (pickle.UnpicklingError, KeyError, EOFError, TypeError, ValueError) as err:
            raise DataError(
                f"{path}: not a CIFAR python batch ({type(err).__name__}: {err})"
            ) from None
        images.append(data.reshape(-1, 3, 32, 32))
    return torch.cat(images), torch.cat(labels)


def _download(spec: DataSpec) -> None:
    from torchvision import datasets

    base = spec.root or os.path.join(os.environ.get(ENV_ROOT, "data"), spec.name)
    cls = datasets.CIFAR10 if spec.name == "cifar10" else datasets.CIFAR100
    for train in (True, False):
        cls(base, train=train, download=True)


for _name, _classes in (("cifar10", 10), ("cifar100", 100)):
    DATASETS.register(
        _name,
        load_cifar,
        description=f"CIFAR-{_classes} (python version), 32 px, pad-4 crop + flip",
        image_size=32,
    )
