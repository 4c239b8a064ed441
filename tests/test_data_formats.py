"""Real dataset formats: tiny files in each on-disk layout, loaded by the same code as real data."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from bench.data import Split, load_dataset
from bench.data.folders import FileSplit, boxes_to_mask
from bench.errors import DataError
from bench.spec import DataSpec
from tests.conftest import run_cli
from tests.fake_data import (
    voc_xml,
    write_cifar,
    write_image_folder,
    write_mnist,
    write_stanford_dogs,
)

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch):
    monkeypatch.setenv("BENCH_WORKERS", "0")  # worker processes cost more than they save here


@pytest.mark.parametrize(("name", "classes"), [("cifar10", 10), ("cifar100", 100)])
def test_cifar_pickles(tmp_path, name, classes):
    write_cifar(tmp_path, name, n_train=20, n_val=10)
    data = load_dataset(DataSpec(name, root=str(tmp_path)))
    assert (data.num_classes, len(data.train), len(data.val)) == (classes, 20, 10)
    assert data.train.images.shape == (20, 3, 32, 32) and data.train.images.dtype == torch.uint8
    assert isinstance(data.train, Split) and data.train.augmentation is not None
    sub = "cifar-10-batches-py/test_batch" if name == "cifar10" else "cifar-100-python/test"
    with (tmp_path / sub).open("rb") as f:
        raw = pickle.load(f, encoding="bytes")
    # rows are channel-major: 1024 red, 1024 green, 1024 blue values
    assert data.val.images[3, 1, 2, 5] == raw[b"data"][3][1024 + 2 * 32 + 5]


def test_cifar_subset_and_resize(tmp_path):
    write_cifar(tmp_path)
    data = load_dataset(DataSpec("cifar10", root=str(tmp_path), train_size=8, image_size=16))
    assert data.train.images.shape == (8, 3, 16, 16) and len(data.val) == 10


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    write_mnist(tmp_path, n_train=12, n_val=6, gz=gz)
    data = load_dataset(DataSpec("mnist", root=str(tmp_path)))
    assert data.train.images.shape == (12, 1, 28, 28) and data.in_chans == 1
    assert data.val.labels.dtype == torch.int64 and len(data.val) == 6


def test_root_resolution(tmp_path, monkeypatch):
    write_cifar(tmp_path / "cifar10")
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    assert len(load_dataset(DataSpec("cifar10", train_size=5)).train) == 5  # $BENCH_DATA/cifar10
    # a root that holds one folder per dataset works too
    assert len(load_dataset(DataSpec("cifar10", root=str(tmp_path), train_size=6)).train) == 6


def test_missing_and_incomplete_data(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_DATA", raising=False)
    with pytest.raises(DataError, match="no data root"):
        load_dataset(DataSpec("mnist"))
    with pytest.raises(DataError, match=r"not found in .*cifar-10-batches-py/\{data_batch_1"):
        load_dataset(DataSpec("cifar10", root=str(tmp_path / "nowhere")))
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DataError, match="expected"):
        load_dataset(DataSpec("cifar10", root=str(tmp_path)))
    write_mnist(tmp_path / "bad")
    (tmp_path / "bad" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")
    with pytest.raises(DataError, match="idx header"):
        load_dataset(DataSpec("mnist", root=str(tmp_path / "bad")))


def test_boxes_to_mask(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text(voc_xml(8, 4, [(1, 1, 4, 2)]))
    mask = boxes_to_mask(xml, 4, 8)
    assert mask.sum() == 8 and mask[:2, :4].all()
    assert boxes_to_mask(xml, 8, 16).sum() == 32  # boxes scale with the image


def test_image_folder_with_boxes(tmp_path):
    write_image_folder(tmp_path, classes=3, per_class=4)
    data = load_dataset(DataSpec("imagefolder", root=str(tmp_path), image_size=32))
    assert isinstance(data.val, FileSplit) and data.val.has_masks
    assert (data.num_classes, len(data.train), data.image_size) == (3, 12, 32)
    images, labels, masks = next(iter(data.val.batches(12, CPU)))
    assert images.shape == (12, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [c for c in range(3) for _ in range(4)]
    # the box covers the left half; resize 256/224 + centre crop keeps it on the left
    assert masks.shape == (12, 32, 32) and masks.dtype == torch.bool
    assert masks[:, :, :12].all() and not masks[:, :, 20:].any()
    gen = torch.Generator().manual_seed(0)
    images, _, masks = next(iter(data.train.batches(4, CPU, generator=gen, augment=True)))
    assert images.shape == (4, 3, 32, 32) and masks.shape == (4, 32, 32)


def test_stanford_dogs_lists(tmp_path):
    write_stanford_dogs(tmp_path, breeds=2, per_breed=4)
    data = load_dataset(DataSpec("stanford_dogs", root=str(tmp_path), image_size=32))
    assert (data.num_classes, len(data.train), len(data.val)) == (2, 4, 4)
    _, labels, masks = next(iter(data.val.batches(4, CPU)))
    assert labels.tolist() == [0, 0, 1, 1]
    assert masks[:, :, 20:].all() and not masks[:, :, :12].any()  # box on the right half


CIFAR_GRID = """
[study]
name = "tinycifar"
[data]
name = "cifar10"
root = "{root}"
[train]
epochs = 1
batch_size = 16
[grid]
backbone = "resnet20"
"""


def test_one_epoch_cifar_grid_through_cli(tmp_path):
    write_cifar(tmp_path / "data", n_train=40, n_val=10)
    (tmp_path / "g.toml").write_text(CIFAR_GRID.format(root=tmp_path / "data"))
    result = run_cli("run", "--grid", "g.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = (tmp_path / "results" / "tinycifar").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "done" and len(record["curves"]) == 1
    assert record["spec"]["data"]["name"] == "cifar10" and "root" not in record["spec"]["data"]
    assert record["determinism"]["repeatable"] is True
    assert not any((tmp_path / "results" / "tinycifar" / "ckpt").glob("*.pt"))


def test_image_folder_workers_persist_across_epochs(tmp_path, monkeypatch):
    """One DataLoader per split and settings, its worker started once, yet a fresh shuffle per
    epoch from the run's stream (same stream, same order)."""
    monkeypatch.setenv("BENCH_WORKERS", "1")
    write_image_folder(tmp_path, classes=3, per_class=4)
    data = load_dataset(DataSpec("imagefolder", root=str(tmp_path), image_size=32))
    gen = torch.Generator().manual_seed(0)

    def epoch() -> list[int]:
        return [y for _, labels, _ in data.train.batches(4, CPU, generator=gen) for y in labels]

    first = epoch()
    ((loader, _),) = data.train.loaders.values()
    workers = loader._iterator  # the persistent workers' iterator, kept between epochs
    second = epoch()
    assert loader.persistent_workers and loader._iterator is workers
    assert len(data.train.loaders) == 1 and sorted(first) == sorted(second) and first != second
    gen.manual_seed(0)
    assert epoch() == first
