"""Helpers shared by the executor tests: tiny in-memory grids and a CLI runner with extra env."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.grid import Grid, expand_grid
from tests.conftest import REPO

TINY_DATA = {"train_size": 64, "val_size": 32}
PLUGINS = {"BENCH_PLUGINS": "tests.fault_plugins"}


def tiny_grid(
    attention: list[str],
    *,
    epochs: int = 2,
    lr: float = 0.05,
    study: str = "faults",
    seeds: tuple[int, ...] = (0,),
    **train: object,
) -> Grid:
    """resnet20 on 64 + 32 shapes images, batch 32: about a second per epoch on one core."""
    return expand_grid(
        {
            "study": {"name": study},
            "data": TINY_DATA,
            "train": {"epochs": epochs, "batch_size": 32, "lr": lr, **train},
            "grid": {"backbone": "resnet20", "attention": attention, "seed": list(seeds)},
        }
    )


def grid_toml(
    attention: list[str], *, study: str = "faults", epochs: int = 2, seeds: tuple[int, ...] = (0,)
) -> str:
    """The same tiny grid as a TOML file's text, for the CLI."""
    return (
        f'[study]\nname = "{study}"\n[data]\ntrain_size = 64\nval_size = 32\n'
        f"[train]\nepochs = {epochs}\nbatch_size = 32\nlr = 0.05\n"
        f'[grid]\nbackbone = "resnet20"\nattention = {list(attention)!r}\nseed = {list(seeds)!r}\n'
    ).replace("'", '"')


def bench_env(**extra: str) -> dict[str, str]:
    """The environment ``tests.conftest.run_cli`` uses, plus ``extra``."""
    return {
        "PYTHONPATH": str(REPO),
        "PATH": "/usr/bin:/bin",
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "200",  # rich folds table cells to the width of a terminal
        **extra,
    }


def run_bench(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m bench ARGS`` in a subprocess, with the fault plugins loadable."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env or bench_env(**PLUGINS),
    )


def start_bench(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``python -m bench ARGS`` started in the background (for the kill tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=bench_env(),
    )
