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
    for bench in benches.values():
        info = bench.extra_info
        if bench.group == "memory format" and "throughput_ratio" in info:
            terminalreporter.write_line(
                f"channels_last/contiguous training throughput, {info['model']}: "
                f"{info['throughput_ratio']:.3f} (per-round {info['paired_ratio_min']:.3f}-"
                f"{info['paired_ratio_max']:.3f}, {bench.stats.rounds} rounds; {THREADS} thread(s))"
            )
    e2e = benches.get("test_bench_run_vs_bare_script")
    if e2e is not None and "throughput_ratio" in e2e.extra_info:
        info = e2e.extra_info
        measured = ", ".join(f"{k} {v:.1f} s" for k, v in info["measure_seconds"].items())
        terminalreporter.write_line(
            f"bare script / bench run, end to end: {info['throughput_ratio']:.3f} (best of "
            f"{e2e.stats.rounds}: {info['bare_seconds']:.1f} s vs {info['bench_seconds']:.1f} s). "
            f"bench: training {info['train_seconds']:.1f} s, measuring {measured}, rest of the "
            f"runs {info['rest_of_runs_seconds']:.1f} s, outside them "
            f"{info['outside_runs_seconds']:.1f} s"
        )
