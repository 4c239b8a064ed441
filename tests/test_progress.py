"""`bench run`'s progress: time left per run and for the grid, from similar records before the
first epoch and from measured epochs after it, and a measuring phase after the last epoch."""

from __future__ import annotations

import dataclasses

import pytest

from bench.execute import progress
from bench.execute.progress import MEASURING, GridClock, duration, epoch_status
from bench.grid import load_grid
from bench.store import record_path, write_record
from registry import GRIDS
from tests.conftest import extra_fields, record_for

SPECS = load_grid(GRIDS / "quick.toml").specs  # 4 runs of 4 epochs each


@pytest.fixture
def now(monkeypatch) -> list[float]:
    """A settable clock for the progress module."""
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    return clock


def test_before_the_first_epoch_the_estimate_comes_from_similar_records(tmp_path, now):
    other = dataclasses.replace(SPECS[0], seed=9)
    record = extra_fields(
        {"wall_seconds": 400.0, "data": {"train_images": SPECS[0].data.train_size}},
        record_for(other, 70.0),
    )
    write_record(record_path(tmp_path, other.study, other.run_id), record)
    clock = GridClock.for_specs(SPECS, tmp_path)
    clock.start_run()
    now[0] += 100
    assert clock.run_left(SPECS[0], 0) == pytest.approx(300.0)
    # the SE runs go by the same backbone and data (bench.estimate's second level)
    assert clock.grid_left(SPECS[0], 0, SPECS[1:]) == pytest.approx(300.0 + 3 * 400.0)


def test_after_an_epoch_the_measured_times_decide(tmp_path, now):
    clock = GridClock.for_specs(SPECS, tmp_path)  # no records at all
    clock.start_run()
    assert clock.grid_left(SPECS[0], 0, SPECS[1:]) is None
    now[0] += 30
    clock.epoch_done(1)
    assert clock.run_left(SPECS[0], 1) == pytest.approx(90.0)  # 3 epochs of 30 s
    assert clock.grid_left(SPECS[0], 1, SPECS[1:]) == pytest.approx(90.0 + 3 * 4 * 30.0)
    now[0] += 110  # three more epochs and 20 s of measurement
    clock.run_done(SPECS[0])
    clock.start_run()
    now[0] += 10
    assert clock.run_left(SPECS[1], 0) == pytest.approx(35.0 * 4 - 10)
    assert clock.grid_left(SPECS[1], 0, SPECS[2:]) == pytest.approx(35.0 * 4 * 3 - 10)


def test_the_last_epoch_shows_the_measuring_phase():
    row = {"val_top1_pct": 71.25, "train_loss": 0.5}
    assert MEASURING in epoch_status(row, SPECS[0], 4, 0.0)
    middle = epoch_status(row, SPECS[0], 2, 60.0)
    assert "val top-1 71.2%" in middle and "~60 s left" in middle and MEASURING not in middle
    assert [duration(s) for s in (None, 45, 720, 7200)] == [
        "",
        "~45 s left",
        "~12 min left",
        "~2.0 h left",
    ]
