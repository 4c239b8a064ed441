"""Speed suite settings and the summary line: harness throughput / minimal-step throughput."""

from __future__ import annotations

import os

import pytest
import torch

THREADS = int(os.environ.get("BENCH_THREADS", "1"))  # pinned: thread count changes every figure


@pytest.fixture(autouse=True, scope="session")
def _threads() -> None:
    torch.set_num_threads(THREADS)


def pytest_terminal_summary(terminalreporter, config) -> None:
    session = getattr(config, "_benchmarksession", None)
    benches = {b.name: b for b in getattr(session, "benchmarks", []) if b.stats}
    harness, minimal = benches.get("test_harness_step"), benches.get("test_minimal_step")
    pair = benches.get("test_interleaved_pair")
    where = f"{THREADS} CPU thread(s), torch {torch.__version__}; target >= 0.95"
    if harness is not None and minimal is not None:
        ratio = minimal.stats.median / harness.stats.median
        terminalreporter.write_line(
            f"harness/minimal throughput, separate runs: {ratio:.3f} (medians of "
            f"{harness.stats.rounds} rounds; {where})"
        )
    if pair is not None and "throughput_ratio" in pair.extra_info:
        terminalreporter.write_line(
            f"harness/minimal throughput, interleaved: {pair.extra_info['throughput_ratio']:.3f}, "
            f"median of per-round ratios {pair.extra_info['paired_ratio_median']:.3f} "
            f"(medians of {pair.stats.rounds} rounds; {where})"
        )
