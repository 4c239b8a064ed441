"""results/ on disk: the folder layout of a run's files, one JSON record per run written
atomically, and a pandas view of the records.

``RunFiles`` is the one owner of the layout (the record, a failed run's log, the checkpoint, the
lock). A record is written to a temporary file in the same folder, flushed to disk and renamed over
its final name, so a reader (or a re-run after a crash) sees either the whole record or none. Raw
numbers only: formatting belongs to the report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.spec import SCHEMA_VERSION

FINAL_STATUSES = ("done", "diverged")  # a diverged run is a result; a failed one is worth retrying
# record keys that are not measurements; everything else numeric becomes a DataFrame column
NOT_MEASUREMENTS = ("spec", "run_id", "config_id", "label", "status", "environment", "curves")


@dataclass(frozen=True)
class RunFiles:
    """Where every file of one run lives: ``<results>/<study>/`` holds

    * ``<run_id>.json``: the record (``write_record``);
    * ``<run_id>.log``: the traceback and worker output of a failed run;
    * ``ckpt/<run_id>.pt``: the resumable checkpoint, deleted when the run ends;
    * ``.locks/<run_id>.lock``: the claim of the ``bench run`` driving the run
      (``bench.execute.locks``);
    * ``.<name>.*tmp``: a write in progress (``temp_path``; ``remove_stale_temp_files``).
    """

    results: Path
    study: str
    run_id: str

    @property
    def folder(self) -> Path:
        """The study's folder (also searched for latencies of the same architecture)."""
        return self.results / self.study

    @property
    def record(self) -> Path:
        return self.folder / f"{self.run_id}.json"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.run_id}.log"

    @property
    def checkpoint(self) -> Path:
        return self.folder / "ckpt" / f"{self.run_id}.pt"

    @property
    def lock(self) -> Path:
        return self.folder / ".locks" / f"{self.run_id}.lock"

    def of_run(self, run_id: str) -> RunFiles:
        """The files of another run of the same study (an OOM retry's smaller batch)."""
        return dataclasses.replace(self, run_id=run_id)


MIN_FREE_BYTES = 512 * 2**20  # room for records, logs and a checkpoint of a ResNet-50 with momentum


def check_writable(folder: Path) -> None:
    """Raise ``BenchError`` unless ``folder`` (a study's results folder) can be created and
    written and its disk has ``MIN_FREE_BYTES`` free; checked before anything trains, creating
    nothing."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise BenchError(
            f"results folder {folder} cannot be created: {existing} is a file; choose another "
            "with --results"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BenchError(
            f"results folder {folder} is not writable ({existing} is read-only to this user); "
            "choose another with --results"
        )
    free = shutil.disk_usage(existing).free
    if free < MIN_FREE_BYTES:
        raise BenchError(
            f"results folder {folder} has {free / 2**20:.0f} MiB free, less than the "
            f"{MIN_FREE_BYTES / 2**20:.0f} MiB a run may need; free space or choose --results"
        )


def record_path(results: Path, study: str, run_id: str) -> Path:
    """Where the record of ``run_id`` lives."""
    return RunFiles(results, study, run_id).record


def temp_path(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    return path.with_name(f".{path.name}.tmp")


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` as JSON to ``path`` atomically (temp file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True, allow_nan=True)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; records are shared on a cluster's results folder
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


RUN_ID = re.compile("[0-9a-f]{12}")  # the name of a record file: its run id (``RunSpec.run_id``)
REQUIRED = ("schema_version", "run_id", "spec", "status")  # what every record has
STALE_TEMP_SECONDS = 60.0  # a record write takes milliseconds: an older temp file is a dead write
_damaged: list[Path] = []  # records moved aside by this process, for the commands' summaries


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path``; ``None`` if there is none or it is damaged.

    A damaged record (not JSON, not an object, a field missing, ``done`` without final metrics, a
    schema version this code does not read) is moved aside to ``<name>.corrupt``, reported on one
    line on stderr and then counts as not run, so ``bench run`` recomputes it and ``bench report`` /
    ``bench check`` go on with the rest.
    """
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    problem = _problem(text)
    if problem is None:
        return json.loads(text)
    corrupt = path.with_name(f"{path.name}.corrupt")
    os.replace(path, corrupt)
    _damaged.append(corrupt)
    print(
        f"bench: warning: {path} is a damaged record ({problem}); moved to {corrupt.name}, "
        "its run counts as not done",
        file=sys.stderr,
    )
    return None


def _problem(text: bytes) -> str | None:
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return f"not JSON: {err}".splitlines()[0]
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    if record["status"] == "done" and not isinstance(record.get("final"), dict):
        return "status done without final metrics"
    if not isinstance(record["spec"], dict):
        return "spec is not an object"
    if record["schema_version"] != SCHEMA_VERSION:
        return f"schema_version {record['schema_version']!r}, this bench reads {SCHEMA_VERSION}"
    return None


def damaged_records() -> list[Path]:
    """Records this process found damaged and moved aside (``*.corrupt``)."""
    return list(_damaged)


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temp files of record and checkpoint writes that died (older than
    ``STALE_TEMP_SECONDS``) in a study's ``folder``."""
    removed = 0
    now = time.time()
    stale = [*folder.glob(".*.tmp"), *folder.glob("ckpt/.*.tmp")] if folder.is_dir() else []
    for tmp in stale:
        try:
            if now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:  # another process cleaned it first
            continue
    return removed


def is_finished(path: Path) -> bool:
    """Whether a final record (done or diverged) exists at ``path``."""
    record = read_record(path)
    return record is not None and record.get("status") in FINAL_STATUSES


def read_records(results: Path, study: str | None = None) -> list[dict[str, Any]]:
    """Every record under ``results`` (or one study), in a stable order.

    Only ``<run_id>.json`` files are records; other JSON (``results/baselines/*.json``) is not read.
    """
    folders = [results / study] if study else sorted(p for p in results.iterdir() if p.is_dir())
    records = []
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            if RUN_ID.fullmatch(path.stem):
                record = read_record(path)
                if record is not None:
                    records.append(record)
    return records


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run: spec axes, status, and every scalar measurement, flattened with ``_``.

    E.g. ``record["final"]["val_top1_pct"]`` becomes the column ``final_val_top1_pct``; lists
    (curves, per-image scores) stay in the records.
    """
    rows = []
    for record in records:
        spec = record["spec"]
        row = {
            "study": spec["study"],
            "run_id": record["run_id"],
            "config_id": record["config_id"],
            "label": record["label"],
            "backbone": spec["backbone"],
            "attention": spec["attention"],
            "placement": spec["placement"],
            "stages": None if spec["stages"] is None else ",".join(map(str, spec["stages"])),
            "hparams": json.dumps(spec["hparams"], sort_keys=True),
            "seed": spec["seed"],
            "dataset": spec["data"]["name"],
            "epochs": spec["train"]["epochs"],
            "status": record["status"],
            "device": record.get("environment", {}).get("device_name"),
        }
        row |= _flatten({k: v for k, v in record.items() if k not in NOT_MEASUREMENTS})
        rows.append(row)
    return pd.DataFrame(rows)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}_")
        elif value is None or isinstance(value, int | float | str | bool):
            flat[f"{prefix}{key}"] = value
    return flat
