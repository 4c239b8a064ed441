"""MNIST and Fashion-MNIST from their original IDX files.

Both ship as four files, ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``, gzipped or not. A dataset
folder is accepted in either layout::

    <folder>/train-images-idx3-ubyte.gz ...                 (the release itself; Debian's package)
    <folder>/<MNIST|FashionMNIST>/raw/train-images-idx3-ubyte[.gz] ...   (torchvision's layout)

Fashion-MNIST (Xiao, Rasul and Vollgraf 2017; Zalando, MIT licence) is found with no configuration
where Debian's ``dataset-fashion-mnist`` package installs it, and is verified before use: image and
label counts, 28x28 images, labels 0-9, the exact class balance of the release (6,000 / 1,000 per
class), and the MD5 sums Zalando publishes for the ``.gz`` files. Debian's package re-compresses the
files (the gzip header loses the file name, 24 bytes), so a ``.gz`` whose own digest differs is
accepted when its decompressed content has the digest of the decompressed release (the sums
torchvision lists for the raw files).

Recipes as the field uses them: MNIST normalised only (a flipped digit is another glyph);
Fashion-MNIST with the CIFAR recipe (pad-4 random crop + horizontal flip, as in the Random Erasing
paper's code), normalised with the per-channel statistics of the full training split.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.data.augment import resize
from bench.data.base import DATASETS, ENV_ROOT, Augment, ImageDataset, Split, resolve_root, subset
from bench.data.stats import channel_stats
from bench.errors import DataError
from bench.spec import DataSpec

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class Release:
    """One IDX dataset: where it lives, how it is checked, how it is trained on.

    Attributes:
        name: the registry name.
        folder: torchvision's class folder (``<root>/<folder>/raw/``).
        classes: label names, in label order.
        augmentation: the on-device training augmentation (``None``: none).
        system: folders searched without configuration.
        hint: how to install the files, for the error message.
        gz_md5: file name -> MD5 of the published ``.gz`` (empty: not verified).
        raw_md5: file name -> MD5 of the decompressed file.
        counts: split -> images in the release (checked when verifying).
    """

    name: str
    folder: str
    classes: tuple[str, ...]
    augmentation: Augment | None
    system: tuple[Path, ...] = ()
    hint: str = ""
    gz_md5: dict[str, str] | None = None
    raw_md5: dict[str, str] | None = None
    counts: dict[str, int] | None = None

    @property
    def layout(self) -> str:
        return (
            "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] in the folder itself "
            f"or in its {self.folder}/raw/"
        )


MNIST = Release(
    "mnist",
    "MNIST",
    tuple(str(d) for d in range(10)),
    augmentation=None,
)
FASHION_MNIST = Release(
    "fashion_mnist",
    "FashionMNIST",
    (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    augmentation=Augment(pad=4, flip=True),
    system=(Path("/usr/share/datasets/fashion-mnist"),),
    hint="install it with `apt-get install dataset-fashion-mnist`",
    gz_md5={
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    raw_md5={
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    counts={"train": 60_000, "val": 10_000},
)
RELEASES = {release.name: release for release in (MNIST, FASHION_MNIST)}


def parse_idx(raw: bytes, path: Path) -> torch.Tensor:
    """The payload of an IDX file of unsigned bytes, as a tensor of its declared shape."""
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


def find_file(folder: Path, release: Release, name: str) -> Path | None:
    """``name`` (or ``name.gz``) in ``folder`` or in its torchvision subfolder, if present."""
    for base in (folder, folder / release.folder / "raw"):
        for candidate in (base / name, base / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_release_file(path: Path, release: Release, name: str) -> torch.Tensor:
    """Read one IDX file, checking its MD5 when the release publishes one."""
    packed = path.read_bytes()
    try:
        raw = gzip.decompress(packed) if path.suffix == ".gz" else packed
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: damaged gzip file ({err}); {_fix(release)}") from None
    if release.raw_md5 is not None:
        digests = {hashlib.md5(raw).hexdigest()}
        if path.suffix == ".gz" and release.gz_md5 is not None:
            digests.add(hashlib.md5(packed).hexdigest())
        if not digests & {release.raw_md5[name], (release.gz_md5 or {}).get(name)}:
            raise DataError(
                f"{path}: MD5 {hashlib.md5(raw).hexdigest()} of its content is not the published "
                f"release's ({release.raw_md5[name]}); the file is damaged or another version; "
                f"{_fix(release)}"
            )
    return parse_idx(raw, path)


def check_split(release: Release, key: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    """Counts, image size, label range and class balance of one split of ``release``."""
    where = f"{release.name} {key} split"
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{where}: images of shape {list(images.shape)}, expected (N, 28, 28)")
    if len(images) != len(labels):
        raise DataError(f"{where}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(release.classes)):
        raise DataError(f"{where}: labels outside 0..{len(release.classes) - 1}")
    if release.counts is None:
        return
    expected = release.counts[key]
    if len(labels) != expected:
        raise DataError(
            f"{where}: {len(labels)} images, the release has {expected}; {_fix(release)}"
        )
    per_class = torch.bincount(labels, minlength=len(release.classes))
    if (per_class != expected // len(release.classes)).any():
        raise DataError(
            f"{where}: class counts {per_class.tolist()} are not the release's balanced "
            f"{expected // len(release.classes)} per class; {_fix(release)}"
        )


def load_idx(spec: DataSpec) -> ImageDataset:
    """MNIST or Fashion-MNIST as uint8 tensors (N, 1, size, size)."""
    release = RELEASES[spec.name]
    if spec.download:
        _download(spec, release)
    folder = resolve_root(
        spec,
        functools.partial(_complete, release),
        release.layout,
        system=release.system,
        hint=release.hint,
    )
    return _load(spec, str(folder))


@functools.lru_cache(maxsize=2)  # a grid's runs share one dataset
def _load(spec: DataSpec, folder: str) -> ImageDataset:
    release = RELEASES[spec.name]
    full = read_release(Path(folder), release.name)
    mean, std = channel_stats(full["train"][0], max_images=len(full["train"][0]))
    splits = []
    for split, n, seed, key in (
        ("train", spec.train_size, spec.seed, "train_size"),
        ("val", spec.val_size, spec.seed + 1, "val_size"),
    ):
        images, labels = full[split]
        keep = subset(len(labels), n, seed, key)
        if keep is not None:
            images, labels = images[keep], labels[keep]
        splits.append((resize(images, spec.image_size or 28), labels))
    return ImageDataset(
        name=release.name,
        num_classes=len(release.classes),
        train=Split(*splits[0], augmentation=release.augmentation),
        val=Split(*splits[1]),
        mean=mean,
        std=std,
        source=folder,
    )


@functools.lru_cache(maxsize=2)
def read_release(folder: Path, name: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Both splits of release ``name`` in ``folder``, verified: split -> (images, labels).

    Images are uint8 (N, 1, 28, 28), labels int64.

    Raises:
        DataError: a file is damaged, of another version, or its split is malformed.
    """
    release = RELEASES[name]
    splits = {}
    for key, (image_name, label_name) in SPLIT_FILES.items():
        tensors = []
        for file in (image_name, label_name):
            path = find_file(folder, release, file)
            if path is None:
                raise DataError(f"{folder}: {file} is missing; expected {release.layout}")
            tensors.append(read_release_file(path, release, file))
        images, labels = tensors[0], tensors[1].long()
        check_split(release, key, images, labels)
        splits[key] = (images[:, None], labels)
    return splits


def _complete(release: Release, folder: Path) -> bool:
    names = [name for pair in SPLIT_FILES.values() for name in pair]
    return all(find_file(folder, release, name) is not None for name in names)


def _fix(release: Release) -> str:
    return release.hint or f"replace the files ({release.layout})"


def _download(spec: DataSpec, release: Release) -> None:
    from torchvision import datasets

    base = spec.root or os.path.join(os.environ.get(ENV_ROOT, "data"), spec.name)
    cls = getattr(datasets, release.folder)
    for train in (True, False):
        cls(base, train=train, download=True)


DATASETS.register(
    "mnist",
    load_idx,
    description="MNIST digits (idx files), 28 px, 1 channel, normalise only",
    image_size=28,
)
DATASETS.register(
    "fashion_mnist",
    load_idx,
    description="Fashion-MNIST (real, 60k + 10k, 28 px grey; Debian package or a root), "
    "pad-4 crop + flip",
    image_size=28,
)
