"""Seed statistics of a table cell: mean, sample std, n, and Welch's t-test against a baseline.

A measured difference is flagged only when it is larger than the seed noise: Welch's
unequal-variance two-sided t-test (``scipy.stats.ttest_ind(equal_var=False)``) on the per-seed
values of the two rows, at ``ALPHA``. With fewer than two seeds on either side there is no test
(``p = nan``, no flag).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
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
