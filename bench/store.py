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
from bench.record_check import flatten, is_newer_schema, record_problem

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
        if existing.is_symlink():  # exists() is False for a link into a loop or to nothing
            raise BenchError(
                f"results folder {folder} cannot be created: {existing} is a link that leads "
                "nowhere (a loop or a missing target); choose another with --results"
            )
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
STALE_TEMP_SECONDS = 60.0  # a record write takes milliseconds: an older temp file is a dead write
_damaged: list[Path] = []  # records moved aside by this process, for the commands' summaries
_warned: set[Path] = set()  # files a read skipped and named: each is named once per process


def load_record(path: Path) -> tuple[Any, str | None]:
    """The parsed JSON at ``path`` and why it is not a usable record (``None``: it is one).

    ``(None, None)``: there is no file. Never raises for what is on disk: a folder or a symlink
    loop under a record's name is a problem like a truncated file.
    """
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as err:
        return None, f"cannot be read: {err.strerror or err}"
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        return None, f"not JSON: {err}".splitlines()[0]
    return record, record_problem(record)


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path`` for ``bench run``; ``None`` if there is none or it is damaged.

    A damaged record (not JSON, not an object, a field missing or of the wrong type, ``done``
    without final metrics, an older schema) is moved aside to ``<name>.corrupt``, reported on one
    line on stderr and then counts as not run, so ``bench run`` recomputes it. A record of a newer
    schema is left in place and returned as it is: this bench neither reads nor recomputes it.
    """
    record, problem = load_record(path)
    if problem is None:
        return record
    if is_newer_schema(record):
        _warn(path, f"was written by a newer bench ({problem}); left in place, not recomputed")
        return record
    corrupt = path.with_name(f"{path.name}.corrupt")
    try:
        os.replace(path, corrupt)
    except OSError as err:
        raise BenchError(
            f"{path} is a damaged record ({problem}) and cannot be moved aside "
            f"({err.strerror or err}); move or delete it by hand"
        ) from None
    _damaged.append(corrupt)
    print(
        f"bench: warning: {path} is a damaged record ({problem}); moved to {corrupt.name}, "
        "its run counts as not done",
        file=sys.stderr,
    )
    return None


def _warn(path: Path, message: str) -> None:
    """Name a skipped file on one stderr line, once per process however often it is read."""
    if path not in _warned:
        _warned.add(path)
        print(f"bench: warning: {path} {message}", file=sys.stderr)


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
    """Every record under ``results`` (or one study), each run once, in a stable order.

    Read-only: never moves or renames a file. Only ``<run_id>.json`` files are records; other JSON
    (``results/baselines/*.json``) is not read. A second record of one run (the same run id or
    spec, e.g. a copy under another name) is skipped and named. A damaged record, in place or moved
    aside earlier (``.corrupt``) and not recomputed since, is skipped and named; where its
    configuration has other records it comes back as a stub with status ``damaged`` (no numbers),
    so every table counts it as not done. A newer schema's record is skipped and named.
    """
    if study:
        folders = [results / study]
    else:
        folders = sorted(p for p in results.iterdir() if p.is_dir() and not p.is_symlink())
    return [record for folder in folders for record in _study_records(folder)]


def _study_records(folder: Path) -> list[dict[str, Any]]:
    loaded = [
        (p, *load_record(p)) for p in sorted(folder.glob("*.json")) if RUN_ID.fullmatch(p.stem)
    ]
    good = [(path, record) for path, record, problem in loaded if problem is None and record]
    good.sort(key=lambda found: found[0].stem != found[1]["run_id"])  # the rightly named copy wins
    records: dict[str, dict[str, Any]] = {}
    first: dict[str, Path] = {}
    for path, record in good:
        keys = (record["run_id"], json.dumps(record["spec"], sort_keys=True))
        seen = next((first[key] for key in keys if key in first), None)
        if seen is not None:
            _warn(path, f"is a second copy of run {record['run_id']} ({seen.name}); counted once")
            continue
        first |= dict.fromkeys(keys, path)
        records[record["run_id"]] = record
    damaged = [(path, record, problem) for path, record, problem in loaded if problem]
    for path in sorted(folder.glob("*.json.corrupt")):
        run_id = path.name.removesuffix(".json.corrupt")
        if RUN_ID.fullmatch(run_id) and run_id not in records:  # not recomputed since
            record, problem = load_record(path)
            damaged.append((path, record, f"moved aside earlier: {problem or 'damaged'}"))
    twins = {r["config_id"]: r for r in reversed(records.values())}
    stubs = [_damaged_stub(path, record, problem, twins) for path, record, problem in damaged]
    return [*records.values(), *(stub for stub in stubs if stub)]


def _damaged_stub(
    path: Path, record: Any, problem: str, twins: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """Name a damaged record; a stub of it if a record of its configuration can stand in."""
    if is_newer_schema(record):
        _warn(path, f"was written by a newer bench ({problem}); skipped, left in place")
        return None
    _warn(path, f"is a damaged record ({problem}); skipped, its run counts as not done")
    config_id = record.get("config_id") if isinstance(record, dict) else None
    twin = twins.get(config_id) if isinstance(config_id, str) else None
    if twin is None:
        return None
    stub = {key: twin[key] for key in STUB_KEYS if key in twin}
    run_id = path.name.split(".")[0]
    return stub | {"run_id": run_id, "status": "damaged", "error": problem, "final": None}


# what a damaged record's stub takes from a record of its configuration: who it is, not numbers
STUB_KEYS = ("schema_version", "config_id", "label", "spec", "environment", "execution")


# the conditions every record had before GPUs ran: runs under them keep their config id and label
REFERENCE_CONDITIONS = "cpu fp32"


def run_conditions(record: dict[str, Any]) -> str:
    """Device class and precision a record's numbers come from, e.g. ``"cuda bf16"``.

    Not part of the run id (the spec's ``precision = "auto"`` resolves per device), so a study run
    on a CPU and extended on a GPU holds both; records without ``execution`` resolve the spec.
    """
    device = record.get("environment", {}).get("device") or "cpu"
    precision = (record.get("execution") or {}).get("precision")
    if precision is None:
        asked = record["spec"]["train"].get("precision", "auto")
        precision = asked if asked != "auto" else ("bf16" if device == "cuda" else "fp32")
    return f"{device} {precision}"


def pooling_id(record: dict[str, Any]) -> str:
    """What seeds are pooled by: the config id, plus the conditions when they are not the
    reference and the batch a run backed off to after running out of memory, so fp32-CPU and
    bf16-GPU seeds (or full- and half-batch seeds) of one configuration are never averaged."""
    pooled = record["config_id"]
    if record.get("oom_retries"):  # backed off to a smaller batch: a different recipe
        pooled += f"@batch{record['batch_size_used']}"
    conditions = run_conditions(record)
    if conditions != REFERENCE_CONDITIONS:
        pooled += f"@{conditions.replace(' ', '-')}"
    return pooled


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run: spec axes, status, and every scalar measurement, flattened with ``_``.

    E.g. ``record["final"]["val_top1_pct"]`` becomes the column ``final_val_top1_pct``; lists
    (curves, per-image scores) stay in the records. ``config_id`` is the ``pooling_id`` and the
    label names the conditions of runs outside ``REFERENCE_CONDITIONS`` (e.g. ``[cuda bf16]``).
    """
    rows = []
    for record in records:
        spec = record["spec"]
        conditions = run_conditions(record)
        shown = "" if conditions == REFERENCE_CONDITIONS else f" [{conditions}]"
        if record.get("oom_retries"):
            shown += f" [batch {record['batch_size_used']} after OOM]"
        row = {
            "study": spec["study"],
            "run_id": record["run_id"],
            "config_id": pooling_id(record),
            "label": record["label"] + shown,
            "conditions": conditions,
            "backbone": spec["backbone"],
            "attention": spec["attention"],
            "placement": spec["placement"],
            "stages": None if spec["stages"] is None else ",".join(map(str, spec["stages"])),
            "hparams": json.dumps(spec["hparams"], sort_keys=True),
            "seed": spec["seed"],
            "dataset": spec["data"]["name"],
            "epochs": spec["train"]["epochs"],
            "recipe": json.dumps(spec["train"], sort_keys=True),  # tells recipe variants apart
            "status": record["status"],
            "device": record.get("environment", {}).get("device_name"),
        }
        row |= flatten({k: v for k, v in record.items() if k not in NOT_MEASUREMENTS})
        rows.append(row)
    return pd.DataFrame(rows)
