"""Tiny datasets in the real on-disk formats (CIFAR pickles, MNIST idx, folders, Stanford Dogs)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def write_cifar(root: Path, name: str = "cifar10", n_train: int = 20, n_val: int = 10) -> Path:
    """``root/cifar-10-batches-py`` (5 train batches + test) or ``root/cifar-100-python``."""
    rng = np.random.default_rng(0)
    classes, sub, label_key = (
        (10, "cifar-10-batches-py", b"labels")
        if name == "cifar10"
        else (100, "cifar-100-python", b"fine_labels")
    )
    files = [f"data_batch_{i}" for i in range(1, 6)] if name == "cifar10" else ["train"]
    per_file = [n_train // len(files)] * len(files)
    for file, n in [
        *zip(files, per_file, strict=True),
        ("test_batch" if name == "cifar10" else "test", n_val),
    ]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: [int(x) for x in rng.integers(0, classes, n)],
        }
        (root / sub).mkdir(parents=True, exist_ok=True)
        with (root / sub / file).open("wb") as f:
            pickle.dump(batch, f)
    return root


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte idx file (the MNIST format)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, n_train: int = 20, n_val: int = 10, gz: bool = False) -> Path:
    import gzip

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_val)):
        for kind, arr in (
            ("images-idx3", rng.integers(0, 256, (n, 28, 28))),
            ("labels-idx1", rng.integers(0, 10, n)),
        ):
            data = idx_bytes(arr)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return root


def voc_xml(width: int, height: int, boxes: list[tuple[int, int, int, int]]) -> str:
    objects = "".join(
        f"<object><name>x</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
        f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for x0, y0, x1, y1 in boxes
    )
    size = f"<size><width>{width}</width><height>{height}</height></size>"
    return f"<annotation>{size}{objects}</annotation>"


def _save_image(seed: int, path: Path, h: int = 40, w: int = 48) -> None:
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (h, w, 3), dtype=torch.uint8, generator=gen)
    Image.fromarray(pixels.numpy()).save(path)


def write_image_folder(
    root: Path, classes: int = 3, per_class: int = 4, boxes: bool = True
) -> Path:
    """``root/{train,val}/<class>/*.png``; with ``boxes``, a box over each image's left half."""
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                _save_image(100 * c + i, folder / f"img{i}.png")
                if boxes:
                    ann = root / "annotations" / split / "boxes" / f"class{c}"
                    ann.mkdir(parents=True, exist_ok=True)
                    (ann / f"img{i}.xml").write_text(voc_xml(48, 40, [(1, 1, 24, 40)]))
    return root


def write_stanford_dogs(root: Path, breeds: int = 2, per_breed: int = 4) -> Path:
    from scipy.io import savemat

    lists: dict[str, list[str]] = {"train": [], "test": []}
    for b in range(breeds):
        breed = f"n0208{b}-breed{b}"
        (root / "Images" / breed).mkdir(parents=True, exist_ok=True)
        (root / "Annotation" / breed).mkdir(parents=True, exist_ok=True)
        for i in range(per_breed):
            stem = f"n0208{b}_{i}"
            _save_image(10 * b + i, root / "Images" / breed / f"{stem}.jpg")
            (root / "Annotation" / breed / stem).write_text(voc_xml(48, 40, [(25, 1, 48, 40)]))
            lists["train" if i % 2 == 0 else "test"].append(f"{breed}/{stem}.jpg")
    for split, files in lists.items():
        cells = np.empty((len(files), 1), dtype=object)
        for i, f in enumerate(files):
            cells[i, 0] = np.array([f])
        savemat(str(root / f"{split}_list.mat"), {"file_list": cells})
    return root


def write_fashion_mnist(
    folder: Path, per_class: tuple[int, int] = (3, 2), *, torchvision_layout: bool = False
) -> dict[str, str]:
    """Fake Fashion-MNIST: gzipped IDX files, classes balanced, train pixels <= 127 and test
    pixels >= 128 (so a test can tell which split a pixel came from).

    Returns:
        file name -> MD5 of the decompressed file (the digests a patched release expects).
    """
    import gzip
    import hashlib

    target = folder / "FashionMNIST" / "raw" if torchvision_layout else folder
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    digests = {}
    for prefix, n, (low, high) in (
        ("train", per_class[0], (1, 128)),
        ("t10k", per_class[1], (128, 256)),
    ):
        labels = np.repeat(np.arange(10), n)
        images = rng.integers(low, high, (len(labels), 28, 28))
        images[:, :4] = 0  # a blank border, like the real items
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            raw = idx_bytes(arr)
            (target / f"{name}.gz").write_bytes(gzip.compress(raw))
            digests[name] = hashlib.md5(raw).hexdigest()
    return digests


def tiny_dataset(n_train: int = 64, n_val: int = 32):
    """A 4-class, 16 px random ``ImageDataset`` in memory, for training-loop tests."""
    from bench.data import Augment, ImageDataset, Split

    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_train + n_val, 3, 16, 16), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 4, (n_train + n_val,), generator=gen)
    train = Split(images[:n_train], labels[:n_train], augmentation=Augment(pad=2))
    val = Split(images[n_train:], labels[n_train:])
    return ImageDataset("tiny", 4, train, val, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
