"""MNIST from its idx files, in torchvision's on-disk layout::

    <root>/MNIST/raw/{train-images-idx3-ubyte, train-labels-idx1-ubyte,
                      t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte}   (or the same names + .gz)

The recipe is the usual one for digits: normalise only (no flip: a flipped digit is another glyph).
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import torch

from bench.data import DATASETS, ENV_ROOT, ImageDataset, Split, resolve_root, subset
from bench.data.augment import resize
from bench.errors import DataError
from bench.spec import DataSpec

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
LAYOUT = "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (torchvision's MNIST layout)"
MEAN, STD = (0.1307,), (0.3081,)


def read_idx(path: Path) -> torch.Tensor:
    """An idx file (uint8 payload) as a tensor of its declared shape."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = 1
    for dim in shape:
        count *= dim
    if len(raw) - offset != count:
        raise DataError(
            f"{path}: idx header says {shape} but the file holds {len(raw) - offset} bytes"
        )
    return torch.frombuffer(bytearray(raw[offset:]), dtype=torch.uint8).reshape(shape)


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / "MNIST" / "raw" / name, folder / "MNIST" / "raw" / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _complete(folder: Path) -> bool:
    return all(_find(folder, f) is not None for pair in FILES.values() for f in pair)


@DATASETS.register("mnist", description="MNIST digits (idx files), 28 px, 1 channel", image_size=28)
def load_mnist(spec: DataSpec) -> ImageDataset:
    """MNIST as uint8 tensors (N, 1, 28, 28)."""
    if spec.download:
        from torchvision import datasets

        base = spec.root or os.path.join(os.environ.get(ENV_ROOT, "data"), spec.name)
        for train in (True, False):
            datasets.MNIST(base, train=train, download=True)
    return _load(spec, str(resolve_root(spec, _complete, LAYOUT)))


@functools.lru_cache(maxsize=2)
def _load(spec: DataSpec, root: str) -> ImageDataset:
    splits = []
    for key, n, seed in (
        ("train", spec.train_size, spec.seed),
        ("val", spec.val_size, spec.seed + 1),
    ):
        image_file, label_file = (_find(Path(root), f) for f in FILES[key])
        assert image_file is not None and label_file is not None  # checked by resolve_root
        images, labels = read_idx(image_file)[:, None], read_idx(label_file).long()
        if len(images) != len(labels):
            raise DataError(f"{image_file}: {len(images)} images but {len(labels)} labels")
        keep = subset(len(labels), n, seed)
        if keep is not None:
            images, labels = images[keep], labels[keep]
        splits.append(Split(resize(images, spec.image_size or 28), labels))
    return ImageDataset("mnist", 10, splits[0], splits[1], MEAN, STD)
