"""Bad input caught while a run is planned: sizes beyond a dataset's split, damaged or missing
files, measurement settings the model or the memory cannot meet.

Each case meets the contract of ``test_bad_input``: exit 2, one stderr line naming the problem,
no traceback, no record written, nothing trained.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bench.errors import GridError
from bench.grid import expand_grid
from bench.grid_rules import MAX_CELLS
from tests.fake_data import write_cifar, write_stanford_dogs
from tests.test_bad_input import (  # never_train: the autouse guard that nothing trains
    VALID,
    assert_rejected,
    grid_text,
    never_train,  # noqa: F401
    run_grid,
)


def with_fields(**fields: Any) -> str:
    """The valid grid with ``section__key = value`` fields set."""
    tables = {name: dict(values) for name, values in VALID.items()}
    for name, value in fields.items():
        section, _, key = name.partition("__")
        tables[section][key] = value
    return grid_text(tables)


MEASURE = {
    "cam layer not in the model": (with_fields(measure__cam_layers=["layer9"]), "layer9"),
    "cam layer 1x1": (with_fields(measure__cam_layers=["layer3"], data__image_size=4), "1x1"),
    "bulk batch 4096 at 2048 px": (
        with_fields(measure__latency_batch_bulk=4096, data__image_size=2048),
        "latency_batch_bulk",
    ),
    "bootstrap x sfd images": (
        with_fields(measure__bootstrap=1_000_000, measure__sfd_images=100_000),
        "bootstrap",
    ),
}


@pytest.mark.parametrize("case", sorted(MEASURE))
def test_an_impossible_measurement_is_rejected_at_planning(tmp_path, capsys, case):
    text, word = MEASURE[case]
    code, err, results = run_grid(text, tmp_path, capsys)
    assert_rejected(code, err, word, results)


def test_measurement_settings_that_fit_reach_training(tmp_path, capsys):
    """Positive control: an existing layer and a bulk batch within the bound are accepted."""
    text = with_fields(measure__cam_layers=["layer2"], measure__latency_batch_bulk=64)
    code, err, _ = run_grid(text, tmp_path, capsys)
    assert code == 1, err  # the run started (and never_train failed it)


def cifar_grid(root: Path, **fields: Any) -> str:
    return with_fields(data__name="cifar10", data__root=str(root), **fields)


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"data__train_size": 21, "data__val_size": 5}, "train_size = 21"),
        ({"data__train_size": 8, "data__val_size": 11}, "val_size = 11"),
    ],
)
def test_a_size_beyond_the_split_is_rejected_not_clamped(tmp_path, capsys, fields, word):
    write_cifar(tmp_path / "data")  # 20 train, 10 val images
    code, err, results = run_grid(cifar_grid(tmp_path / "data", **fields), tmp_path, capsys)
    assert_rejected(code, err, word, results)
    assert "(20 images)" in err or "(10 images)" in err


def test_the_whole_split_is_accepted(tmp_path, capsys):
    write_cifar(tmp_path / "data")
    text = cifar_grid(tmp_path / "data", data__train_size=20, data__val_size=10)
    code, err, _ = run_grid(text, tmp_path, capsys)
    assert code == 1, err


def test_a_damaged_mat_file_is_one_line(tmp_path, capsys):
    root = tmp_path / "dogs"
    write_stanford_dogs(root)
    (root / "train_list.mat").write_bytes(b"not a mat file" * 8)
    text = with_fields(data__name="stanford_dogs", data__root=str(root), data__image_size=32)
    code, err, results = run_grid(text, tmp_path, capsys)
    assert_rejected(code, err, "stanford_dogs", results)


def test_a_download_offline_is_one_line(tmp_path, capsys, monkeypatch):
    def offline(*args: Any, **kwargs: Any) -> None:
        raise OSError("[Errno -2] Name or service not known\n(and more lines)")

    monkeypatch.setattr("torchvision.datasets.CIFAR10.download", offline)
    text = cifar_grid(tmp_path / "empty", data__download=True)
    code, err, results = run_grid(text, tmp_path, capsys)
    assert_rejected(code, err, "cannot be loaded", results)


GRIDS = {
    "placement a number": (with_fields(grid__placement=[5]), "placement"),
    "placement a number on none": (
        with_fields(grid__placement=5, grid__attention="none"),
        "placement",
    ),
    "stages repeated": (with_fields(grid__stages=[[2, 2]]), "each stage once"),
    "stages out of order": (with_fields(grid__stages=[3, 2]), "increasing order"),
    "stages a word": (with_fields(grid__stages=["two"]), "stage numbers"),
    "paper unknown": (with_fields(study__paper="sse"), "'se'"),
    "paper a number": (with_fields(study__paper=3), "paper"),
    "table unknown": (with_fields(study__paper="se", study__table="table99"), "table99"),
    "table a number": (with_fields(study__paper="se", study__table=3), "table"),
    "table without paper": (with_fields(study__table="table10"), "paper"),
    "study name of 300 characters": (with_fields(study__name="x" * 300), "at most 100"),
}


@pytest.mark.parametrize("case", sorted(GRIDS))
def test_a_grid_value_no_one_means_is_rejected(tmp_path, capsys, case):
    text, word = GRIDS[case]
    code, err, results = run_grid(text, tmp_path, capsys)
    assert_rejected(code, err, word, results)


def test_a_paper_table_that_exists_is_accepted(tmp_path, capsys):
    code, err, _ = run_grid(
        with_fields(study__paper="se", study__table="table10"), tmp_path, capsys
    )
    assert code == 1, err


MILLION = with_fields(grid__reduction=list(range(1, 1001))).replace(
    "seed = [0]", "seed = {count = 1000}"
)


def test_a_grid_of_a_million_cells_is_refused_at_once(tmp_path, capsys):
    start = time.perf_counter()
    code, err, results = run_grid(MILLION, tmp_path, capsys)
    assert time.perf_counter() - start < 3  # counted, not expanded
    assert_rejected(code, err, "--allow-large", results)
    assert "1_000_000 cells" in err


def test_allow_large_expands_a_grid_above_the_threshold():
    doc = tomllib.loads(with_fields(grid__reduction=[4, 8, 16, 32, 64, 128]))
    doc["grid"]["seed"] = {"count": MAX_CELLS // 6 + 1}
    with pytest.raises(GridError, match="--allow-large"):
        expand_grid(doc)
    assert len(expand_grid(doc, allow_large=True).specs) == 6 * (MAX_CELLS // 6 + 1)
