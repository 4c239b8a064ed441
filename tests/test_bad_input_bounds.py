"""More bad input, as a new user might type it: values no one means, empty paths, deep nesting.

Each case meets the contract of ``test_bad_input``: exit 2, one stderr line naming the problem,
no traceback, no record written, nothing trained.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_bad_input import (  # never_train: the autouse guard that nothing trains
    VALID,
    assert_rejected,
    grid_text,
    never_train,  # noqa: F401
    run_grid,
    run_main,
)


def with_grid(**axes: object) -> str:
    tables = {name: dict(fields) for name, fields in VALID.items()}
    tables["grid"] |= axes
    return grid_text(tables)


def with_field(section: str, key: str, value: object) -> str:
    tables = {name: dict(fields) for name, fields in VALID.items()}
    tables[section][key] = value
    return grid_text(tables)


GRIDS = {
    "epochs 10**12": (with_field("train", "epochs", 10**12), "epochs"),
    "latency_seconds 1e9": (with_field("measure", "latency_seconds", 1e9), "latency_seconds"),
    "data seed 2**63": (with_field("data", "seed", 2**63 - 1 + 1), "seed"),
    "grid seed 2**63": (with_grid(seed=[2**63 - 1 + 1]), "2**63"),
    "grid seed count 10**9": (
        with_grid(seed=[0]).replace("seed = [0]", "seed = {count = 1000000000}"),
        "count",
    ),
    "das alpha 50": (with_grid(attention="das", alpha=50.0), "alpha"),
    "das alpha inf": (with_grid(attention="das", alpha=float("inf")), "alpha"),
    "das alpha nan": (with_grid(attention="das", alpha=float("nan")), "alpha"),
    "gc negative ln_eps": (with_grid(attention="gc", ln_eps=-1e-5), "ln_eps"),
    "se reduction 10**6": (with_grid(reduction=10**6), "reduction"),
    "lr 1e6": (with_field("train", "lr", 1e6), "lr"),
    "weight decay 5": (with_field("train", "weight_decay", 5.0), "weight_decay"),
    "batch 10**7": (with_field("train", "batch_size", 10**7), "batch_size"),
    "image size 10**5": (with_field("data", "image_size", 10**5), "image_size"),
    "bootstrap 10**9": (with_field("measure", "bootstrap", 10**9), "bootstrap"),
    "bulk batch 10**6": (with_field("measure", "latency_batch_bulk", 10**6), "latency_batch_bulk"),
    "cam images 10**6": (with_field("measure", "cam_images", 10**6), "cam_images"),
    "deep nesting": (
        grid_text(VALID) + "deep = " + "[" * 3000 + "]" * 3000 + "\n",
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("case", sorted(GRIDS))
def test_a_value_no_one_means_is_rejected(tmp_path, capsys, case):
    text, word = GRIDS[case]
    code, err, results = run_grid(text, tmp_path, capsys)
    assert_rejected(code, err, word, results)


EMPTY_PATHS = [
    ["run", "--grid", "{grid}", "--results", ""],
    ["report", "--results", ""],
    ["report", "--reports", " "],
    ["check", "--results", ""],
    ["cam", "--study", "x", "--results", ""],
    ["cam", "--study", "x", "--reports", ""],
]


@pytest.mark.parametrize("argv", EMPTY_PATHS, ids=lambda argv: " ".join(argv[:2] + argv[-2:-1]))
def test_an_empty_folder_path_is_rejected(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    grid = tmp_path / "ok.toml"
    grid.write_text(grid_text(VALID))
    code, err = run_main([a.format(grid=grid) for a in argv], capsys)
    assert_rejected(code, err, "empty path", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["ok.toml"]  # nothing scattered into cwd


DESCRIBE = {
    "alpha 50": (["--attention", "das", "--hparam", "alpha=50"], "alpha"),
    "alpha nan": (["--attention", "das", "--hparam", "alpha=nan"], "alpha"),
    "alpha inf": (["--attention", "das", "--hparam", "alpha=inf"], "alpha"),
    "negative ln_eps": (["--attention", "gc", "--hparam", "ln_eps=-0.1"], "ln_eps"),
    "kernel 999": (["--attention", "cbam", "--hparam", "kernel_size=999"], "kernel_size"),
    "image size inf": (["--image-size", "inf"], "--image-size"),
}


@pytest.mark.parametrize("case", sorted(DESCRIBE))
def test_describe_rejects_values_no_one_means(tmp_path: Path, capsys, case):
    argv, word = DESCRIBE[case]
    code, err = run_main(["describe", "--backbone", "resnet20", *argv], capsys)
    assert_rejected(code, err, word, tmp_path / "results")
