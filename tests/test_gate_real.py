"""The real-data gate catches a real regression and passes a re-run (needs the real files).

A tiny ResNet-20 study on real Fashion-MNIST is run three times with the same specs: once to write
the baseline (its tolerance calibrated on its own two seeds), once unchanged (the gate passes),
and once with a bug planted in the training code, so the run ids stay the same but the model
learns worse: the gate must fail. Skips without Debian's dataset-fashion-mnist, unless
BENCH_REQUIRE_REAL_DATA=1 (CI).
"""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

import bench.train
from bench.check import find_regressions, read_baseline, write_baseline
from bench.execute.inline import run_inline
from bench.grid import expand_grid
from tests.test_data_fashion import requires_real

GRID = {
    "study": {"name": "gate"},
    "data": {"name": "fashion_mnist", "train_size": 2500, "val_size": 500},
    "train": {"epochs": 2, "batch_size": 50},
    "measure": {"flops": False, "latency": False, "sfd": False},
    "grid": {"backbone": "resnet20", "seed": [0, 1]},
}


def _run(results):
    specs = expand_grid(GRID).specs
    run_inline(specs, results, torch.device("cpu"), Console(quiet=True))


@pytest.mark.slow
@requires_real
def test_gate_fails_on_a_planted_lr_bug_and_passes_a_rerun(tmp_path, monkeypatch):
    baseline = tmp_path / "gate.json"
    _run(tmp_path / "first")
    write_baseline(tmp_path / "first", "gate", baseline)
    tolerance = read_baseline(baseline)["tolerance_points"]
    assert 0 < tolerance < 20

    _run(tmp_path / "again")
    assert find_regressions(tmp_path / "again", read_baseline(baseline), tolerance) == []

    real_factor = bench.train.lr_factor
    monkeypatch.setattr(
        bench.train, "lr_factor", lambda train, epoch: 0.01 * real_factor(train, epoch)
    )
    _run(tmp_path / "broken")
    regressions = find_regressions(tmp_path / "broken", read_baseline(baseline), tolerance)
    assert [r.label for r in regressions] == ["resnet20"]
    assert (
        regressions[0].current is not None
        and regressions[0].current < regressions[0].baseline - tolerance
    )
