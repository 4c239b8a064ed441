"""Fashion-MNIST and the cluttered set: fake releases in both layouts, and the real files.

The fake files have the release's format but not its content, so those tests patch the release's
counts and MD5 sums to the fake files' own. The real-file tests need Debian's
``dataset-fashion-mnist``; they skip without it, unless ``BENCH_REQUIRE_REAL_DATA=1`` (CI) makes
that a failure.
"""

from __future__ import annotations

import dataclasses
import gzip
import os

import pytest
import torch

from bench.data import clutter, idx, load_dataset
from bench.errors import DataError, GridError
from bench.grid import expand_grid
from bench.spec import DataSpec
from tests.conftest import run_cli
from tests.fake_data import write_fashion_mnist

DEBIAN = idx.FASHION_MNIST.system[0]
REAL = (DEBIAN / "train-images-idx3-ubyte.gz").is_file()
requires_real = pytest.mark.skipif(
    not REAL and os.environ.get("BENCH_REQUIRE_REAL_DATA") != "1",
    reason=f"Fashion-MNIST not installed in {DEBIAN} (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture
def fake_release(tmp_path, monkeypatch):
    """A fake release in ``tmp_path/fm`` (3 train / 2 test images per class), patched in."""
    digests = write_fashion_mnist(tmp_path / "fm")
    patched = dataclasses.replace(
        idx.FASHION_MNIST,
        raw_md5=digests,
        counts={"train": 30, "val": 20},
        system=(tmp_path / "not-installed",),
    )
    monkeypatch.setitem(idx.RELEASES, "fashion_mnist", patched)
    monkeypatch.delenv("BENCH_DATA", raising=False)
    return tmp_path / "fm"


@pytest.mark.parametrize("torchvision_layout", [False, True])
def test_both_layouts_load(tmp_path, monkeypatch, fake_release, torchvision_layout):
    folder = tmp_path / "other"
    digests = write_fashion_mnist(folder, torchvision_layout=torchvision_layout)
    monkeypatch.setitem(
        idx.RELEASES,
        "fashion_mnist",
        dataclasses.replace(idx.RELEASES["fashion_mnist"], raw_md5=digests),
    )
    data = load_dataset(DataSpec("fashion_mnist", root=str(folder)))
    assert data.train.images.shape == (30, 1, 28, 28) and len(data.val) == 20
    assert data.train.augmentation == idx.Augment(pad=4, flip=True)
    facts = data.describe()
    assert facts["source"] == str(folder) and not facts["synthetic"]
    mean = data.train.images.float().div(255).mean().item()
    assert facts["mean"] == [pytest.approx(mean, abs=1e-6)]  # the train split's own statistics


def test_found_through_bench_data_and_system_folder(tmp_path, monkeypatch, fake_release):
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    (tmp_path / "fm").rename(tmp_path / "fashion_mnist")
    assert len(load_dataset(DataSpec("fashion_mnist")).val) == 20  # $BENCH_DATA/fashion_mnist
    monkeypatch.delenv("BENCH_DATA")
    system = dataclasses.replace(
        idx.RELEASES["fashion_mnist"], system=(tmp_path / "fashion_mnist",)
    )
    monkeypatch.setitem(idx.RELEASES, "fashion_mnist", system)
    assert len(load_dataset(DataSpec("fashion_mnist", train_size=7)).train) == 7  # no configuration


def test_missing_files_name_the_package_and_layouts(tmp_path, fake_release):
    with pytest.raises(DataError) as err:
        load_dataset(DataSpec("fashion_mnist"))
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message and "FashionMNIST/raw/" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        ("gzip", "damaged gzip"),
        ("content", "MD5 .* is not the published release's"),
    ],
)
def test_damaged_files_are_refused(fake_release, damage, match):
    path = fake_release / "t10k-images-idx3-ubyte.gz"
    if damage == "gzip":
        path.write_bytes(path.read_bytes()[:100])
    else:
        raw = bytearray(gzip.decompress(path.read_bytes()))
        raw[-1] ^= 1
        path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=match):
        load_dataset(DataSpec("fashion_mnist", root=str(fake_release)))


def test_counts_and_class_balance_are_checked():
    release = dataclasses.replace(idx.FASHION_MNIST, counts={"train": 20, "val": 10})
    images = torch.zeros(20, 28, 28, dtype=torch.uint8)
    idx.check_split(release, "train", images, torch.arange(20) % 10)
    with pytest.raises(DataError, match="class counts"):
        idx.check_split(release, "train", images, torch.zeros(20, dtype=torch.long))
    with pytest.raises(DataError, match=r"labels outside 0\.\.9"):
        idx.check_split(release, "train", images, torch.full((20,), 10))
    with pytest.raises(DataError, match="19 images, the release has 20"):
        idx.check_split(release, "train", images[:19], torch.arange(19) % 10)


def test_cli_missing_data_is_one_line_before_anything_runs(tmp_path):
    (tmp_path / "empty").mkdir()
    grid = tmp_path / "g.toml"
    grid.write_text(
        f'[study]\nname = "fm"\n[data]\nname = "fashion_mnist"\nroot = "{tmp_path / "empty"}"\n'
        '[grid]\nbackbone = "resnet20"\n'
    )
    done = run_cli("run", "--grid", str(grid), "--results", "res", cwd=tmp_path)
    assert done.returncode == 2 and "apt-get install dataset-fashion-mnist" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "device:" not in done.stdout and not (tmp_path / "res").exists()


def _clutter_spec(root, **options):
    knobs = clutter.DEFAULTS | options
    return DataSpec("fashion_clutter", root=str(root), options=tuple(sorted(knobs.items())))


def test_clutter_is_deterministic_and_keeps_the_splits_apart(fake_release):
    spec = _clutter_spec(fake_release, pieces=4, background=0.0)
    a = clutter.load_fashion_clutter(spec)
    clutter._generate.cache_clear()
    b = clutter.load_fashion_clutter(spec)
    assert a is not b and torch.equal(a.train.images, b.train.images)
    assert torch.equal(a.val.masks, b.val.masks) and a.image_size == 40
    # fake train pixels are < 128, test pixels >= 128: no test object or clutter in training
    assert a.train.images.max() < 128
    outside = a.val.images[:, 0][~a.val.masks]  # clutter only: unscaled crops of test items
    assert a.val.images.max() >= 128 and outside[outside > 0].min() >= 128
    assert torch.equal(a.train.labels.bincount(minlength=10), torch.full((10,), 3))


def test_clutter_mask_is_exactly_the_item(fake_release):
    data = clutter.load_fashion_clutter(_clutter_spec(fake_release, pieces=0))
    # without clutter, the canvas is the item alone: its support is the mask
    assert torch.equal(data.train.images[:, 0] > 0, data.train.masks)
    sides = data.train.masks.any(dim=2).sum(dim=1)  # rows the item covers (its top 4 are blank)
    assert sides.min() >= 0.6 * 24 - 2 and sides.max() <= 1.0 * 24 + 2
    cluttered = clutter.load_fashion_clutter(_clutter_spec(fake_release, pieces=8))
    outside = cluttered.train.images[:, 0][~cluttered.train.masks]
    assert (outside > 0).any()  # clutter lies outside the item's mask


def test_clutter_options_are_checked_at_grid_expansion(fake_release):
    def grid(options):
        return {
            "study": {"name": "c"},
            "data": {"name": "fashion_clutter", "root": str(fake_release), "options": options},
            "grid": {"backbone": "resnet20"},
        }

    spec = expand_grid(grid({"pieces": 2})).specs[0]
    assert dict(spec.data.options)["pieces"] == 2
    assert dict(spec.data.options)["scale"] == (0.6, 1.0)  # defaults are resolved into the spec
    assert "options" in spec.canonical()["data"]
    for bad, match in (
        ({"peices": 2}, "did you mean 'pieces'"),
        ({"pieces": "two"}, "must be a int"),
        ({"scale": [0.5, 2.0]}, "fits the canvas"),
        ({"background": 2.0}, r"\[0, 1\]"),
    ):
        with pytest.raises(GridError, match=match):
            expand_grid(grid(bad))
    shapes = {
        "study": {"name": "s"},
        "data": {"options": {"x": 1}},
        "grid": {"backbone": "resnet20"},
    }
    with pytest.raises(GridError, match="has no options"):
        expand_grid(shapes)


@requires_real
def test_real_fashion_mnist_is_the_verified_release():
    data = load_dataset(DataSpec("fashion_mnist"))
    assert (len(data.train), len(data.val), data.num_classes) == (60_000, 10_000, 10)
    assert torch.equal(data.train.labels.bincount(), torch.full((10,), 6000))
    assert torch.equal(data.val.labels.bincount(), torch.full((10,), 1000))
    assert data.mean == pytest.approx((0.2860,), abs=1e-4)
    assert data.std == pytest.approx((0.3530,), abs=1e-4)
    assert data.source == str(DEBIAN)


@requires_real
def test_real_cluttered_set():
    spec = (
        expand_grid(
            {
                "study": {"name": "c"},
                "data": {"name": "fashion_clutter", "train_size": 2000, "val_size": 500},
                "grid": {"backbone": "resnet20"},
            }
        )
        .specs[0]
        .data
    )
    data = load_dataset(spec)
    assert data.train.images.shape == (2000, 1, 40, 40) and data.val.masks.shape == (500, 40, 40)
    coverage = data.val.masks.float().mean(dim=(1, 2))
    assert coverage.min() > 0.02 and coverage.max() < 0.5  # every canvas holds its item
