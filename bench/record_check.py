"""What makes a stored run record trustworthy: the fields every record has, with the right types.

A record that fails these checks is *damaged*: the store never feeds it to a table (where a string
in a number's place, an empty spec or a missing label would crash the report or count a seed that
has no result), and the commands name it and count it as not done.
"""

from __future__ import annotations

from typing import Any

from bench.spec import SCHEMA_VERSION

STATUSES = ("done", "diverged", "failed")
REQUIRED = ("schema_version", "run_id", "spec", "status")  # what every record has
TEXT_FIELDS = ("run_id", "config_id", "label")
SPEC_TYPES: dict[str, type | tuple[type, ...]] = {
    "study": str,
    "backbone": str,
    "attention": str,
    "placement": (str, type(None)),
    "stages": (list, type(None)),
    "hparams": dict,
    "seed": int,
    "data": dict,
    "train": dict,
}
OBJECT_FIELDS = ("environment", "execution", "params", "latency", "sfd")  # objects when present
# a flattened measurement column with one of these endings is a number (or absent / null)
NUMBER_ENDINGS = ("_pct", "_ms", "_m", "_seconds", "_mean", "_std", "_rate", "_loss")
NUMBER_PREFIXES = ("gmacs",)


def record_problem(record: Any) -> str | None:
    """Why ``record`` (parsed JSON) cannot be used, or ``None`` if it can."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    if record["schema_version"] != SCHEMA_VERSION:
        return f"schema_version {record['schema_version']!r}, this bench reads {SCHEMA_VERSION}"
    return _field_problem(record) or _spec_problem(record["spec"]) or _number_problem(record)


def is_newer_schema(record: Any) -> bool:
    """Whether ``record`` was written by a newer bench (never moved aside, never recomputed)."""
    version = record.get("schema_version") if isinstance(record, dict) else None
    return isinstance(version, int) and version > SCHEMA_VERSION


def _field_problem(record: dict[str, Any]) -> str | None:
    for key in TEXT_FIELDS:
        if not isinstance(record.get(key), str) or not record[key]:
            return f"{key} is {record.get(key)!r}, not a text"
    if record["status"] not in STATUSES:
        return f"status {record['status']!r} is not one of {', '.join(STATUSES)}"
    if not isinstance(record.get("environment", {}), dict):
        return "environment is not an object"
    for key in OBJECT_FIELDS:
        if record.get(key) is not None and not isinstance(record[key], dict):
            return f"{key} is not an object"
    final = record.get("final")
    if record["status"] == "done" and not (isinstance(final, dict) and "val_top1_pct" in final):
        return "status done without final metrics"
    return None


def _spec_problem(spec: Any) -> str | None:
    if not isinstance(spec, dict):
        return "spec is not an object"
    for key, kind in SPEC_TYPES.items():
        value = spec.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"spec {key} is {value!r}"
    if not isinstance(spec["data"].get("name"), str):
        return "spec data has no dataset name"
    epochs = spec["train"].get("epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool):
        return f"spec train epochs is {epochs!r}"
    return None


def _number_problem(record: dict[str, Any]) -> str | None:
    measured = {key: value for key, value in record.items() if key != "spec"}
    for column, value in flatten(measured).items():
        numeric = column.endswith(NUMBER_ENDINGS) or column.startswith(NUMBER_PREFIXES)
        if numeric and value is not None and not _is_number(value):
            return f"{column} is {value!r}, not a number"
    return None


def _is_number(value: Any) -> bool:
    """An int or float, NaN included (a NaN top-1 is a measurement the gate refuses)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The scalar leaves of ``tree`` keyed by their path joined with ``_`` (lists are left out)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}_")
        elif value is None or isinstance(value, int | float | str | bool):
            flat[f"{prefix}{key}"] = value
    return flat
