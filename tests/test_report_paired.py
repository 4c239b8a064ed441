"""Paired statistics of seed-matched runs, Holm's adjustment, and the study table's verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.report.stats import holm, paired_difference, paired_mde
from bench.report.tables import summary_table
from bench.store import records_frame
from tests.test_report_check import seeded_records


def test_paired_difference_matches_scipy_and_pairs_by_seed():
    base = {0: 90.0, 1: 91.0, 2: 92.5, 3: 90.5, 9: 80.0}  # seed 9 has no partner: left out
    other = {3: 91.0, 2: 92.9, 1: 91.2, 0: 90.4, 5: 99.0}
    found = paired_difference(base, other)
    a, b = np.array([90.0, 91.0, 92.5, 90.5]), np.array([90.4, 91.2, 92.9, 91.0])
    assert found.n == 4
    assert found.delta == pytest.approx((b - a).mean())
    assert found.p == pytest.approx(stats.ttest_rel(b, a).pvalue)
    low, high = stats.ttest_rel(b, a).confidence_interval(0.95)
    assert (found.low, found.high) == (pytest.approx(low), pytest.approx(high))
    assert found.corr == pytest.approx(np.corrcoef(a, b)[0, 1])


def test_pairing_removes_shared_seed_noise():
    """Arms that move together over seeds: Welch sees noise, the paired test a clear shift."""
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 1.0, 8)
    base = dict(enumerate(90 + seed_effect))
    other = dict(enumerate(90.3 + seed_effect + rng.normal(0, 0.05, 8)))
    found = paired_difference(base, other)
    welch = stats.ttest_ind(list(other.values()), list(base.values()), equal_var=False).pvalue
    assert found.p < 0.001 < 0.3 < welch
    assert found.corr > 0.99


def test_constant_differences_and_too_few_pairs():
    assert paired_difference({0: 1.0, 1: 2.0}, {0: 1.5, 1: 2.5}).p == 0.0
    assert paired_difference({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}).p == 1.0
    one = paired_difference({0: 1.0}, {0: 3.0})
    assert one.n == 1 and one.delta == 2.0 and math.isnan(one.p)
    assert paired_difference({0: 1.0}, {1: 3.0}).n == 0


def test_holm_step_down():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = holm([0.5, math.nan, 0.001])
    assert adjusted[0] == pytest.approx(0.5) and math.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.002)
    assert holm([0.9, 0.8]) == [pytest.approx(1.0), pytest.approx(1.0)]


def test_paired_mde_shrinks_with_correlation():
    std, n = 0.3, 10
    independent = paired_mde(std * math.sqrt(2), n)
    correlated = paired_mde(std * math.sqrt(2 * (1 - 0.75)), n)
    assert correlated == pytest.approx(independent / 2)
    assert math.isnan(paired_mde(0.1, 1))


def test_summary_table_verdicts_are_holm_adjusted():
    """Six modules against one baseline: the real, paired shift survives Holm's adjustment; the
    others stay unresolved."""
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.5, 6)
    values = {"none": tuple(90 + e for e in noise)}
    values["se"] = tuple(90 + 2 + e + rng.normal(0, 0.05) for e in noise)  # a real, paired shift
    for name in ("cbam", "bam", "eca", "gc", "triplet"):
        values[name] = tuple(90 + e + rng.normal(0, 0.3) for e in noise)
    table = summary_table(records_frame(seeded_records("h", values))).set_index("attention")
    assert table.loc["se", "verdict"] == "better"
    assert table.loc["se", "top1_holm_p"] >= table.loc["se", "top1_paired_p"]
    assert pd.isna(table.loc["none", "verdict"])  # the baseline is not compared with itself
    assert set(table["verdict"].dropna()) <= {"better", "not resolved"}
