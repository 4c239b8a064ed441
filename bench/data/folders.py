"""Large-image datasets in folders of image files: ``imagefolder``, ``imagenet``, ``stanford_dogs``.

They do not fit in memory as tensors, so their splits are ``FileSplit``: a DataLoader with
workers and pinned memory decodes and transforms images on the CPU (torchvision
``transforms.v2``) and the loop receives uint8 batches on its device, exactly as from an
in-memory ``Split``.

Bounding boxes (PASCAL VOC XML, as ImageNet's and Stanford Dogs' annotations) and mask images become
one boolean mask per image that goes through the same spatial transform as the image (val: resize to
256/224 of the side, centre crop), so the sfd saliency score works on real data too. A split has
masks only when every image in it has an annotation.
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torchvision import tv_tensors
from torchvision.transforms import v2

from bench.data.base import DATASETS, Batch, ImageDataset, resolve_root, subset
from bench.errors import DataError
from bench.spec import DataSpec

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
WORKERS_ENV = "BENCH_WORKERS"  # DataLoader worker processes; default min(8, half the cores)

Sample = tuple[Path, int, Path | None]  # image file, label, annotation (XML boxes or a mask image)


def boxes_to_mask(xml_file: Path, height: int, width: int) -> torch.Tensor:
    """A bool (H, W) mask, True inside any ``<bndbox>`` of a VOC XML file (rescaled to H x W)."""
    try:
        root = ET.parse(xml_file).getroot()
    except ET.ParseError as err:
        raise DataError(f"{xml_file}: not an XML annotation ({err})") from None
    size = root.find("size")
    sx = sy = 1.0
    if size is not None and size.findtext("width") and size.findtext("height"):
        sx = width / float(size.findtext("width") or width)
        sy = height / float(size.findtext("height") or height)
    mask = torch.zeros(height, width, dtype=torch.bool)
    for box in root.iter("bndbox"):
        x0, y0, x1, y1 = (float(box.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax"))
        # VOC boxes are 1-based and inclusive
        c0, c1 = max(0, round((x0 - 1) * sx)), min(width, round(x1 * sx))
        r0, r1 = max(0, round((y0 - 1) * sy)), min(height, round(y1 * sy))
        mask[r0:r1, c0:c1] = True
    return mask


class FolderImages(Dataset):
    """(uint8 image, label, uint8 mask or an empty tensor) per sample, transformed together."""

    def __init__(self, samples: list[Sample], transform: v2.Transform, with_masks: bool):
        self.samples, self.transform, self.with_masks = samples, transform, with_masks

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        path, label, annotation = self.samples[i]
        image = tv_tensors.Image(_read(path, "RGB").permute(2, 0, 1))
        if not self.with_masks or annotation is None:
            return self.transform(image), label, torch.empty(0)
        h, w = image.shape[-2:]
        if annotation.suffix.lower() in EXTENSIONS:  # a mask image
            mask = _read(annotation, "L") > 0
        else:  # VOC XML boxes (Stanford Dogs' files have no extension)
            mask = boxes_to_mask(annotation, h, w)
        image, mask = self.transform(image, tv_tensors.Mask(mask.to(torch.uint8)))
        return image, label, mask


def _read(path: Path, mode: str) -> torch.Tensor:
    """An image file as uint8 (H, W, C) for ``RGB`` or (H, W) for ``L``."""
    try:
        with Image.open(path) as image:
            return torch.from_numpy(np.array(image.convert(mode)))
    except OSError as err:
        raise DataError(f"{path}: cannot read image ({err})") from None


@dataclass(frozen=True)
class FileSplit:
    """A split of image files, batched by a DataLoader (see the module docstring)."""

    samples: list[Sample]
    train_transform: v2.Transform
    eval_transform: v2.Transform
    image_size: int
    in_chans: int = 3
    # one DataLoader per (batch, augment, drop_last, pin): persistent workers live across epochs
    loaders: dict[tuple, tuple[DataLoader, torch.Generator]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def has_masks(self) -> bool:
        return bool(self.samples) and all(a is not None for _, _, a in self.samples)

    def to(self, device: torch.device) -> FileSplit:
        return self  # images are read per batch

    def batches(
        self,
        batch_size: int,
        device: torch.device,
        *,
        generator: torch.Generator | None = None,
        augment: bool = False,
        drop_last: bool = False,
    ) -> Iterator[Batch]:
        """Batches on ``device``; shuffled (from ``generator``'s stream) when one is given."""
        loader, sampler_gen = self._loader(
            batch_size, augment, drop_last, device.type == "cuda", shuffle=generator is not None
        )
        if generator is not None:  # a CPU stream for the sampler, drawn from the run's stream
            draw = torch.randint(2**62, (1,), device=generator.device, generator=generator)
            sampler_gen.manual_seed(int(draw))
        for images, labels, masks in loader:
            masks = None if masks is None else masks.to(device, non_blocking=True)
            yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True), masks

    def _loader(
        self, batch_size: int, augment: bool, drop_last: bool, pin: bool, *, shuffle: bool
    ) -> tuple[DataLoader, torch.Generator]:
        """The split's DataLoader for these settings, made once: its workers persist across
        epochs (no process start-up per epoch); its sampler's generator is re-seeded per epoch."""
        key = (batch_size, augment, drop_last, pin, shuffle)
        if key not in self.loaders:
            transform = self.train_transform if augment else self.eval_transform
            sampler_gen, workers = torch.Generator(), _workers()
            images = FolderImages(self.samples, transform, self.has_masks)
            # the order comes from sampler_gen alone (re-seeded per epoch); the workers' seed from
            # the loader's own generator, drawn once as they start
            order = RandomSampler(images, generator=sampler_gen) if shuffle else None
            loader = DataLoader(
                images,
                batch_size=batch_size,
                sampler=order,
                generator=torch.Generator().manual_seed(0),
                drop_last=drop_last,
                num_workers=workers,
                persistent_workers=workers > 0,
                pin_memory=pin,
                collate_fn=_collate,
            )
            self.loaders[key] = (loader, sampler_gen)
        return self.loaders[key]


def _collate(items: list[tuple[torch.Tensor, int, torch.Tensor]]) -> Batch:
    images = torch.stack([torch.as_tensor(i[0]) for i in items])
    labels = torch.tensor([i[1] for i in items], dtype=torch.int64)
    masks = None if items[0][2].numel() == 0 else torch.stack([i[2].bool() for i in items])
    return images, labels, masks


def _workers() -> int:
    """``$BENCH_WORKERS``, else half this process's CPU share, at most 8. A packed run's share is
    its ``OMP_NUM_THREADS`` (the process executor splits the cores between the runs of a GPU)."""
    share = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 2))
    default = min(8, share // 2)
    return int(os.environ.get(WORKERS_ENV, default))


def imagenet_transforms(size: int, *, crop: str = "resized") -> tuple[v2.Transform, v2.Transform]:
    """Train and eval transforms at ``size`` (224: resize 256 + centre crop 224 for eval).

    ``crop="resized"``: RandomResizedCrop + flip (ResNet/SE/CBAM ImageNet recipe);
    ``crop="random"``: resize to 256/224 of the side + random crop + flip (Stanford Dogs, DAS).
    """
    resize = round(size * 256 / 224)
    if crop == "resized":
        first: list[v2.Transform] = [v2.RandomResizedCrop(size, antialias=True)]
    else:
        first = [v2.Resize(resize, antialias=True), v2.RandomCrop(size)]
    train = v2.Compose([*first, v2.RandomHorizontalFlip()])
    val = v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(size)])
    return train, val


def scan_classes(folder: Path, classes: list[str], annotations: Path | None) -> list[Sample]:
    """Image files under ``folder/<class>/``, labelled by ``classes``, with their annotations."""
    samples = []
    for label, name in enumerate(classes):
        for path in sorted((folder / name).glob("*")):
            if path.suffix.lower() in EXTENSIONS:
                samples.append((path, label, _annotation(annotations, name, path.stem)))
    return samples


def _annotation(folder: Path | None, class_name: str, stem: str) -> Path | None:
    if folder is None:
        return None
    for candidate in (
        folder / "masks" / class_name / f"{stem}.png",
        folder / "boxes" / class_name / f"{stem}.xml",
        folder / "boxes" / f"{stem}.xml",  # ImageNet's flat Annotations/CLS-LOC/val
    ):
        if candidate.is_file():
            return candidate
    return None


def _file_dataset(
    spec: DataSpec, train: list[Sample], val: list[Sample], classes: int, crop: str
) -> ImageDataset:
    size = spec.image_size or 224
    train_tf, val_tf = imagenet_transforms(size, crop=crop)
    splits = []
    for samples, n, seed, key in (
        (train, spec.train_size, spec.seed, "train_size"),
        (val, spec.val_size, spec.seed + 1, "val_size"),
    ):
        keep = subset(len(samples), n, seed, key)
        chosen = samples if keep is None else [samples[i] for i in keep.tolist()]
        splits.append(FileSplit(chosen, train_tf, val_tf, size))
    return ImageDataset(spec.name, classes, splits[0], splits[1], IMAGENET_MEAN, IMAGENET_STD)


FOLDER_LAYOUT = (
    "train/<class>/*.jpg and val/<class>/*.jpg (ImageFolder), optionally "
    "annotations/<split>/boxes/[<class>/]<stem>.xml or annotations/<split>/masks/<class>/<stem>.png"
)


def _has_class_folders(folder: Path) -> bool:
    return all((folder / s).is_dir() and any((folder / s).iterdir()) for s in ("train", "val"))


@functools.lru_cache(maxsize=2)
def _load_folder(spec: DataSpec, root: str) -> ImageDataset:
    folder = Path(root)
    classes = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
    unknown = {p.name for p in (folder / "val").iterdir() if p.is_dir()} - set(classes)
    if unknown:
        raise DataError(f"{folder}/val has classes missing from train: {sorted(unknown)[:3]}")
    train, val = (
        scan_classes(folder / s, classes, _existing(folder / "annotations" / s))
        for s in ("train", "val")
    )
    if not train or not val:
        raise DataError(f"{spec.name} under {folder}: no images; expected {FOLDER_LAYOUT}")
    return _file_dataset(spec, train, val, len(classes), crop="resized")


def _refuse_download(spec: DataSpec) -> None:
    if spec.download:
        raise DataError(f"{spec.name} cannot be downloaded here; put it under [data] root by hand")


def _existing(folder: Path) -> Path | None:
    return folder if folder.is_dir() else None


def load_image_folder(spec: DataSpec) -> ImageDataset:
    """Any folder of class folders (``imagefolder``) or ImageNet in that layout (``imagenet``)."""
    _refuse_download(spec)
    return _load_folder(spec, str(resolve_root(spec, _has_class_folders, FOLDER_LAYOUT)))


DOGS_LAYOUT = (
    "Images/<breed>/*.jpg, Annotation/<breed>/<stem> (VOC XML), train_list.mat, test_list.mat"
)


def _dogs_complete(folder: Path) -> bool:
    return all(
        (folder / f).exists() for f in ("Images", "Annotation", "train_list.mat", "test_list.mat")
    )


def load_stanford_dogs(spec: DataSpec) -> ImageDataset:
    """Stanford Dogs with the official train/test lists; every image has its bounding boxes."""
    _refuse_download(spec)
    return _load_dogs(spec, str(resolve_root(spec, _dogs_complete, DOGS_LAYOUT)))


@functools.lru_cache(maxsize=2)
def _load_dogs(spec: DataSpec, root: str) -> ImageDataset:
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DataError(
            "stanford_dogs needs scipy to read train_list.mat / test_list.mat"
        ) from None
    folder = Path(root)
    classes = sorted(p.name for p in (folder / "Images").iterdir() if p.is_dir())
    index = {name: i for i, name in enumerate(classes)}
    splits = []
    for list_file in ("train_list.mat", "test_list.mat"):
        files = [str(entry[0][0]) for entry in loadmat(str(folder / list_file))["file_list"]]
        samples = []
        for rel in files:
            breed, name = rel.split("/")
            box = folder / "Annotation" / breed / Path(name).stem
            samples.append((folder / "Images" / rel, index[breed], box if box.is_file() else None))
        splits.append(samples)
    return _file_dataset(spec, splits[0], splits[1], len(classes), crop="random")


DATASETS.register(
    "imagefolder",
    load_image_folder,
    description="any train/ + val/ folder of class folders, 224 px, ImageNet transforms",
    image_size=224,
)
DATASETS.register(
    "imagenet",
    load_image_folder,
    description="ImageNet (ILSVRC-2012) as ImageFolder train/ + val/, val boxes optional, 224 px",
    image_size=224,
)
DATASETS.register(
    "stanford_dogs",
    load_stanford_dogs,
    description="Stanford Dogs, official lists, boxes -> masks, 224 px, random crop + flip",
    image_size=224,
)
