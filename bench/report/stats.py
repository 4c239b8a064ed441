"""Seed statistics of a table cell: mean, sample std, n, and tests against a baseline.

Runs with the same seed share the backbone's initial weights and the batch order, so a comparison
with a baseline is paired: the difference of seed-matched runs, its 95 % t interval, the measured
between-arm correlation and the paired t-test (``paired_difference``). Welch's unequal-variance
two-sided t-test on the unpaired values (``welch_p``) is shown beside it. The paired test decides,
after Holm's step-down adjustment over a table's comparisons (``holm``), at ``ALPHA``. With fewer
than two values on either side there is no test (``p = nan``, no flag).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
MIN_SEEDS_FOR_TEST = 3  # per side (or seed-matched pairs): below it no p-value, no interval
TEST_NAME = "Welch's two-sided t-test"


@dataclass(frozen=True)
class Summary:
    """Mean, sample std (ddof 1; nan with one value) and n of some per-seed values."""

    mean: float
    std: float
    n: int


def summarise(values: Sequence[float]) -> Summary:
    """Summary of the finite values (nan/inf seeds are left out)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return Summary(math.nan, math.nan, 0)
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
    return Summary(float(np.mean(finite)), std, len(finite))


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test of ``a`` vs ``b``; nan when it cannot be computed.

    Identical constant samples give p = 1 (no difference); two different constants give p = 0 (a
    difference with no noise at all).
    """
    a = [float(v) for v in a if v is not None and math.isfinite(float(v))]
    b = [float(v) for v in b if v is not None and math.isfinite(float(v))]
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if np.var(a) == 0 and np.var(b) == 0:
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    with warnings.catch_warnings():  # nearly equal samples: scipy warns, the p-value is still fine
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def is_significant(p: float, alpha: float = ALPHA) -> bool:
    """Whether ``p`` says the difference exceeds the seed noise."""
    return not math.isnan(p) and p < alpha


def pooled_std(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """The pooled seed std over groups (configurations) and its degrees of freedom.

    ``sqrt(sum((n_i - 1) s_i^2) / sum(n_i - 1))``: each configuration contributes its spread around
    its own mean; groups with fewer than two finite values contribute nothing. ``(nan, 0)`` when no
    group has two values.
    """
    squares, dof = 0.0, 0
    for group in groups:
        finite = [float(v) for v in group if v is not None and math.isfinite(float(v))]
        if len(finite) > 1:
            squares += float(np.var(finite, ddof=1)) * (len(finite) - 1)
            dof += len(finite) - 1
    return (math.sqrt(squares / dof), dof) if dof else (math.nan, 0)


def minimum_detectable_effect(
    std: float, n: int, alpha: float = ALPHA, power: float = 0.8
) -> float:
    """The smallest true difference of two n-seed means that a two-sided t-test at ``alpha`` finds
    with probability ``power``: ``(t_{1-alpha/2} + t_{power}) * std * sqrt(2 / n)``, df = 2n - 2.

    ``nan`` below n = 2 or without a std.
    """
    if n < 2 or not math.isfinite(std):
        return math.nan
    dof = 2 * n - 2
    factor = stats.t.ppf(1 - alpha / 2, dof) + stats.t.ppf(power, dof)
    return float(factor * std * math.sqrt(2 / n))


@dataclass(frozen=True)
class Paired:
    """The paired comparison of seed-matched runs: ``other - base``.

    Attributes:
        delta: mean of the per-seed differences.
        low: lower end of its 95 % t interval.
        high: upper end.
        n: seeds present (and finite) in both arms.
        corr: Pearson correlation of the two arms over those seeds (nan below 3 or without
            variance).
        p: two-sided paired t-test p-value (``scipy.stats.ttest_rel``).
        std_diff: sample std of the per-seed differences.
    """

    delta: float
    low: float
    high: float
    n: int
    corr: float
    p: float
    std_diff: float


NO_PAIRS = Paired(math.nan, math.nan, math.nan, 0, math.nan, math.nan, math.nan)


def paired_difference(
    base: Mapping[int, float], other: Mapping[int, float], confidence: float = 0.95
) -> Paired:
    """``other - base`` over the seeds both have (``{seed: value}``); no test below 2 pairs.

    Differences that are all equal have no noise: the interval is that value, and p is 1 when it
    is 0, else 0 (as ``welch_p`` treats two constant samples).
    """
    seeds = sorted(s for s in set(base) & set(other) if _finite(base[s]) and _finite(other[s]))
    if len(seeds) < 2:
        return NO_PAIRS if not seeds else _one_pair(base, other, seeds[0])
    a = np.array([float(base[s]) for s in seeds])
    b = np.array([float(other[s]) for s in seeds])
    diff = b - a
    n, mean, sd = len(diff), float(diff.mean()), float(diff.std(ddof=1))
    corr = _correlation(a, b)
    if sd == 0:
        return Paired(mean, mean, mean, n, corr, 1.0 if mean == 0 else 0.0, 0.0)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    p = float(stats.ttest_rel(b, a).pvalue)
    return Paired(mean, mean - half, mean + half, n, corr, p, sd)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order; nan stays nan and is not counted.

    Controls the family-wise error over the comparisons of one table: the k-th smallest of m
    p-values is multiplied by (m - k + 1), made monotone, capped at 1. (scipy has the
    Benjamini-Hochberg false-discovery control, not Holm; statsmodels' ``multipletests`` would be
    a heavy dependency for these six lines.)
    """
    finite = sorted((p, i) for i, p in enumerate(pvalues) if _finite(p))
    adjusted = [math.nan] * len(pvalues)
    running, m = 0.0, len(finite)
    for rank, (p, index) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def pooled_diff_std(comparisons: Iterable[tuple[int, float]]) -> tuple[float, int]:
    """The pooled std of the per-seed differences of several paired comparisons, given as
    (pairs, std of their differences), and its dof; ``(nan, 0)`` without two pairs anywhere."""
    used = [(int(n), float(s)) for n, s in comparisons if n >= 2 and math.isfinite(s)]
    dof = sum(n - 1 for n, _ in used)
    if not dof:
        return math.nan, 0
    return math.sqrt(sum((n - 1) * s**2 for n, s in used) / dof), dof


def paired_mde(std_diff: float, n: int, alpha: float = ALPHA, power: float = 0.8) -> float:
    """The smallest true difference a paired t-test over n seed pairs finds with ``power``:
    ``(t_{1-alpha/2} + t_{power}) * std_diff / sqrt(n)``, df = n - 1; nan below n = 2.

    ``std_diff`` is the std of per-seed differences, ``std * sqrt(2 (1 - corr))`` for two arms of
    seed std ``std`` and correlation ``corr``.
    """
    if n < 2 or not math.isfinite(std_diff):
        return math.nan
    factor = stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)
    return float(factor * std_diff / math.sqrt(n))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(float(value))


def _one_pair(base: Mapping[int, float], other: Mapping[int, float], seed: int) -> Paired:
    delta = float(other[seed]) - float(base[seed])
    return Paired(delta, math.nan, math.nan, 1, math.nan, math.nan, math.nan)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])
