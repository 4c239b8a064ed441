"""The report's latency column: a statistic over a configuration's seeds, never a noisy number."""

from __future__ import annotations

from bench.report.render import summary_display
from bench.report.tables import summary_table
from bench.store import records_frame
from tests.conftest import golden_record


def timed(attention: str, seed: int, median_ms: float, iqr_ms: float) -> dict:
    latency = {"batch_1": {"median_ms": median_ms, "iqr_ms": iqr_ms}}
    return golden_record("lat", attention, seed, 60.0 + seed, extra={"latency": latency})


def latency_cells(records: list[dict]) -> dict[str, str]:
    display = summary_display(summary_table(records_frame(records)))
    return dict(zip(display["configuration"], display["latency b=1 (ms, IQR)"], strict=True))


def test_the_steadiest_seed_is_shown_not_the_first():
    # the first baseline seed was timed on a busy machine: 972 ms with a wide IQR (issue 30)
    cells = latency_cells(
        [
            timed("none", 0, 972.0, 400.0),
            timed("none", 1, 94.6, 3.0),
            timed("none", 2, 96.0, 9.0),
            timed("se", 0, 101.0, 2.0),
        ]
    )
    assert cells == {"resnet20": "94.60 (3.00)", "resnet20 + se@block r16": "101.00 (2.00)"}


def test_a_configuration_whose_every_timing_is_noisy_shows_no_number():
    cells = latency_cells([timed("none", 0, 972.0, 400.0), timed("none", 1, 500.0, 300.0)])
    assert cells == {"resnet20": "noisy"}


def test_untimed_records_show_nothing():
    cells = latency_cells([golden_record("lat", "none", 0, 60.0)])
    assert cells == {"resnet20": "—"}
