"""The accuracy gate: compare current records with a committed baseline.

A baseline file holds, per configuration, the mean top-1 accuracy over its seeds. The check fails
for a configuration whose current mean fell by more than the tolerance (in accuracy points), or that
has no finished run any more. Improvements never fail the gate.

The tolerance comes from measured seed variance: ``k x s x sqrt(2 / n)``, where ``s`` is the pooled
seed std of a calibration study (the same recipe at more seeds, or the baseline study itself) and
``sqrt(2 / n)`` turns it into the std of a difference of two n-seed means. With k = 3, a re-run on
other hardware (a fresh draw of the seed noise) fails with probability about 0.1 %.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.report.tables import resolution, summary_table
from bench.store import read_records, records_frame

DEFAULT_TOLERANCE = 5.0  # accuracy points, for baselines written before calibrated tolerances
DEFAULT_K = 3.0  # tolerance in stds of a difference of two n-seed means


@dataclass(frozen=True)
class Regression:
    """One configuration that failed the gate."""

    label: str
    baseline: float
    current: float | None

    def __str__(self) -> str:
        if self.current is None:
            return f"{self.label}: no finished run (baseline {self.baseline:.2f}%)"
        drop = self.baseline - self.current
        return (
            f"{self.label}: top-1 {self.current:.2f}% vs baseline {self.baseline:.2f}% "
            f"(-{drop:.2f} points)"
        )


def current_accuracies(results: Path, study: str) -> dict[str, dict[str, Any]]:
    """config_id -> label, mean top-1 (%) and n seeds, from the finished runs of ``study``."""
    frame = records_frame(read_records(results, study)) if (results / study).is_dir() else None
    if frame is None or frame.empty:
        return {}
    table = summary_table(frame)
    return {
        row.config_id: {"label": row.label, "val_top1_pct": row.val_top1_pct_mean, "n": int(row.n)}
        for row in table.itertuples()
        if row.n > 0
    }


def calibrated_tolerance(
    results: Path, calibration: str, n: int, k: float = DEFAULT_K
) -> dict[str, Any]:
    """The tolerance of an n-seed gate from the seed std measured by study ``calibration``.

    Raises:
        BenchError: the calibration study has no configuration with two finished seeds.
    """
    records = read_records(results, calibration) if (results / calibration).is_dir() else []
    found = resolution(records_frame(records)) if records else {"std": 0.0, "dof": 0}
    std, dof = found["std"], found["dof"]
    if dof == 0 or std == 0:
        raise BenchError(
            f"study {calibration!r} in {results} has no seed spread to calibrate on "
            "(it needs >= 2 finished seeds of a configuration with unequal results); run its grid"
        )
    return {
        "points": round(k * std * math.sqrt(2 / n), 2),
        "rule": "k x pooled seed std x sqrt(2 / n): k stds of a difference of two n-seed means",
        "k": k,
        "n_seeds": n,
        "pooled_seed_std_points": round(std, 3),
        "dof": dof,
        "calibration_study": calibration,
    }


def write_baseline(
    results: Path,
    study: str,
    path: Path,
    *,
    calibration: str | None = None,
    k: float = DEFAULT_K,
    tolerance: float | None = None,
) -> int:
    """Store the current accuracies of ``study`` as the baseline; returns how many configurations.

    Args:
        calibration: the study whose seed std sets the tolerance (default: ``study`` itself).
        k: the tolerance in stds of a difference of two n-seed means.
        tolerance: a fixed tolerance in points instead (recorded as not calibrated).
    """
    configs = current_accuracies(results, study)
    if not configs:
        raise BenchError(f"no finished runs of study {study!r} in {results}; run its grid first")
    if tolerance is None:
        n = min(c["n"] for c in configs.values())
        detail = calibrated_tolerance(results, calibration or study, n, k)
    else:
        detail = {"points": tolerance, "rule": "fixed by hand (--tolerance), not calibrated"}
    path.parent.mkdir(parents=True, exist_ok=True)
    baseline = {
        "study": study,
        "metric": "val_top1_pct",
        "tolerance_points": detail["points"],
        "tolerance": detail,
        "configs": configs,
    }
    path.write_text(json.dumps(baseline, indent=1, sort_keys=True) + "\n")
    return len(configs)


def read_baseline(path: Path) -> dict[str, Any]:
    """Load a baseline file written by ``write_baseline``."""
    try:
        baseline = json.loads(path.read_text())
    except FileNotFoundError:
        raise BenchError(
            f"baseline {path} not found; create it with `bench check --update`"
        ) from None
    except IsADirectoryError:
        raise BenchError(f"baseline {path} is a folder; give the baseline's JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BenchError(f"baseline {path} is not valid JSON ({err})") from None
    if not isinstance(baseline, dict) or not {"study", "configs"} <= set(baseline):
        raise BenchError(f"baseline {path} lacks 'study' or 'configs'; rewrite it with --update")
    for config_id, entry in dict(baseline["configs"]).items():
        valid = isinstance(entry, dict) and isinstance(entry.get("label"), str)
        if not valid or not isinstance(entry.get("val_top1_pct"), int | float):
            raise BenchError(
                f"baseline {path}: entry {config_id!r} needs a label and a numeric val_top1_pct; "
                "rewrite it with --update"
            )
    return baseline


def find_regressions(results: Path, baseline: dict[str, Any], tolerance: float) -> list[Regression]:
    """The configurations of ``baseline`` whose accuracy fell by more than ``tolerance`` points."""
    current = current_accuracies(results, baseline["study"])
    regressions = []
    for config_id, base in baseline["configs"].items():
        now = current.get(config_id)
        value = None if now is None or math.isnan(now["val_top1_pct"]) else now["val_top1_pct"]
        if value is None or base["val_top1_pct"] - value > tolerance:
            regressions.append(Regression(base["label"], base["val_top1_pct"], value))
    return regressions
