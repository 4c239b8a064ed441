"""The accuracy gate: compare current records with a committed baseline.

A baseline file holds, per configuration, the mean top-1 accuracy over its seeds. The check fails
for a configuration whose current mean fell by more than the tolerance (in accuracy points), or that
has no finished run any more. Improvements never fail the gate.

The tolerance comes from measured seed variance: ``k x s x sqrt(2 / n)``, where ``s`` is the pooled
seed std of a calibration study (the same recipe at more seeds, or the baseline study itself) and
``sqrt(2 / n)`` turns it into the std of a difference of two n-seed means. With k = 3, a re-run on
other hardware (a fresh draw of the seed noise) fails with probability about 0.1 %.

The gate fails closed: every value it reads is validated. A baseline or flag it cannot trust (no
configurations, an accuracy outside 0..100 or not finite, a tolerance that is not a finite positive
number) is a ``BenchError``; a configuration it cannot measure (no finished run, a finished run
without a finite top-1) is a ``Regression``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.report.tables import ACCURACY, resolution
from bench.store import read_records, records_frame

DEFAULT_TOLERANCE = 5.0  # accuracy points, for baselines written before calibrated tolerances
DEFAULT_K = 3.0  # tolerance in stds of a difference of two n-seed means


@dataclass(frozen=True)
class Regression:
    """One configuration that failed the gate."""

    label: str
    baseline: float
    current: float | None
    problem: str = "no finished run"  # why ``current`` is None

    def __str__(self) -> str:
        if self.current is None:
            return f"{self.label}: {self.problem} (baseline {self.baseline:.2f}%)"
        drop = self.baseline - self.current
        return (
            f"{self.label}: top-1 {self.current:.2f}% vs baseline {self.baseline:.2f}% "
            f"(-{drop:.2f} points)"
        )


def current_accuracies(results: Path, study: str) -> dict[str, dict[str, Any]]:
    """config_id -> label, mean top-1 (%), n finished seeds and ``unmeasured``, the finished seeds
    whose top-1 is missing or not finite (never dropped from the mean silently)."""
    frame = records_frame(read_records(results, study)) if (results / study).is_dir() else None
    if frame is None or frame.empty:
        return {}
    done = frame[frame["status"] == "done"]
    top1 = done[ACCURACY] if ACCURACY in done else pd.Series(math.nan, index=done.index)
    top1 = pd.to_numeric(top1, errors="coerce")
    configs = {}
    for config_id, runs in done.groupby("config_id", sort=False):
        values = top1[runs.index]
        finite = values[values.map(math.isfinite)]
        configs[config_id] = {
            "label": str(runs["label"].iloc[0]),
            "val_top1_pct": float(finite.mean()) if len(finite) else math.nan,
            "n": len(finite),
            "unmeasured": len(values) - len(finite),
        }
    return configs


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
    unmeasured = [c["label"] for c in configs.values() if c.pop("unmeasured")]
    if unmeasured:
        raise BenchError(
            f"study {study!r} has finished runs without a finite top-1 ({', '.join(unmeasured)}); "
            "re-run them before writing a baseline"
        )
    if tolerance is None:
        n = min(c["n"] for c in configs.values())
        detail = calibrated_tolerance(results, calibration or study, n, k)
    else:
        detail = {"points": tolerance, "rule": "fixed by hand (--tolerance), not calibrated"}
    check_tolerance(detail["points"], f"the tolerance of study {study!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    baseline = {
        "study": study,
        "metric": "val_top1_pct",
        "tolerance_points": detail["points"],
        "tolerance": detail,
        "configs": configs,
    }
    path.write_text(json.dumps(baseline, indent=1, sort_keys=True, allow_nan=False) + "\n")
    return len(configs)


def read_baseline(path: Path) -> dict[str, Any]:
    """Load and validate a baseline file written by ``write_baseline``.

    Raises:
        BenchError: the file is missing or not JSON, or any value the gate reads is not
            trustworthy (see the module docstring).
    """
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
    except OSError as err:
        raise BenchError(f"baseline {path} cannot be read ({err.strerror or err})") from None
    if not isinstance(baseline, dict) or not {"study", "configs"} <= set(baseline):
        raise BenchError(f"baseline {path} lacks 'study' or 'configs'; rewrite it with --update")
    if not isinstance(baseline["study"], str) or not baseline["study"]:
        raise BenchError(f"baseline {path}: 'study' must be a study name; rewrite it with --update")
    configs = baseline["configs"]
    if not isinstance(configs, dict) or not configs:
        raise BenchError(
            f"baseline {path} has no configurations, so it cannot fail; rewrite it with --update"
        )
    for config_id, entry in configs.items():
        _check_entry(path, config_id, entry)
    if "tolerance_points" in baseline:
        check_tolerance(baseline["tolerance_points"], f"baseline {path}: tolerance_points")
    return baseline


def _check_entry(path: Path, config_id: str, entry: Any) -> None:
    valid = isinstance(entry, dict) and isinstance(entry.get("label"), str)
    top1 = entry.get("val_top1_pct") if valid else None
    if top1 is None or not _is_number(top1) or not 0 <= top1 <= 100:
        raise BenchError(
            f"baseline {path}: entry {config_id!r} needs a label and a val_top1_pct in 0..100 "
            f"(got {top1!r}); rewrite it with --update"
        )


def check_tolerance(value: Any, what: str) -> None:
    """Raise ``BenchError`` unless ``value`` is a finite number of accuracy points in (0, 100]."""
    if not _is_number(value) or not 0 < value <= 100:
        raise BenchError(
            f"{what} is {value!r}; a tolerance must be a finite number of points in (0, 100]"
        )


def _is_number(value: Any) -> bool:
    """A finite int or float (a bool is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def find_regressions(results: Path, baseline: dict[str, Any], tolerance: float) -> list[Regression]:
    """The configurations of ``baseline`` whose accuracy fell by more than ``tolerance`` points,
    or that the current records cannot measure."""
    check_tolerance(tolerance, "the tolerance")
    current = current_accuracies(results, baseline["study"])
    regressions = []
    for config_id, base in baseline["configs"].items():
        now = current.get(config_id)
        if now is not None and now["unmeasured"]:
            problem = f"{now['unmeasured']} finished run(s) without a finite top-1"
            regressions.append(Regression(base["label"], base["val_top1_pct"], None, problem))
        elif now is None or now["n"] == 0:
            regressions.append(Regression(base["label"], base["val_top1_pct"], None))
        elif base["val_top1_pct"] - now["val_top1_pct"] > tolerance:
            regressions.append(Regression(base["label"], base["val_top1_pct"], now["val_top1_pct"]))
    return regressions
