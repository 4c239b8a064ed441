"""Your rows in a paper's layout: ``bench report --paper se --table table14 --study mine`` puts the
configurations of ``mine`` that lie on the table's axis under the published rows.

A table's axis is what its printed rows vary: the placement (SE Table 14), a hyper-parameter such
as the reduction ratio (SE Table 10), the stages, or the attention module. Each configuration of
the given studies that has that axis becomes a row labelled ``yours: <configuration>``, compared
with its own no-attention baseline (``yours: <backbone>``), never with the published numbers: it
ran on other data, with another backbone and recipe, and the caption says so. When no
configuration has the axis, the caption says which axis did not match (and ``bench report`` prints
it).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from bench.execute.plugins import import_plugins
from bench.report.layouts import prepare_frame, select_runs
from bench.report.papers import PaperTable, Row
from bench.store import read_records
from registry import ATTENTIONS, BACKBONES

PREFIX = "yours: "
GROUP = "yours"


def your_tables(results: Path, tables: list[PaperTable], studies: list[str]) -> list[PaperTable]:
    """Each of ``tables`` with the studies' rows on its axis (``with_your_rows``); a table that
    gets none is named on stderr with the reason. The plugins the records were built from are
    imported first (their modules resolve the rows' hyper-parameters)."""
    records = [r for s in studies if (results / s).is_dir() for r in read_records(results, s)]
    modules = {
        c["import"].partition(":")[0] for r in records for c in r["spec"].get("code", {}).values()
    }
    import_plugins(sorted(modules), f"the records of {', '.join(studies)}")
    frame = prepare_frame(records)
    extended = []
    for table in tables:
        table, unmatched = with_your_rows(table, frame, studies)
        if unmatched:
            print(f"bench: {table.id}: {unmatched}", file=sys.stderr)
        extended.append(table)
    return extended


def table_axis(table: PaperTable) -> str | None:
    """What the printed rows vary: ``placement``, ``stages``, ``attention`` or a hyper-parameter's
    name (``reduction``, ``alpha``, ...); ``None`` when they vary nothing of these."""
    rows = [r.select for r in table.rows if not r.baseline]
    names = sorted({k for r in rows for k in r.get("hparams", {})})
    candidates: dict[str, list[Any]] = {
        "placement": [r.get("placement") for r in rows],
        "stages": [json.dumps(r.get("stages")) for r in rows],
        **{name: [json.dumps(r.get("hparams", {}).get(name)) for r in rows] for name in names},
        "attention": [r.get("attention", "none") for r in rows],
    }
    preferred = [table.plot] if table.plot in candidates else []
    for axis in [*preferred, *candidates]:
        if len(set(candidates[axis])) > 1:
            return axis
    return None


def with_your_rows(
    table: PaperTable, frame: pd.DataFrame, studies: list[str]
) -> tuple[PaperTable, str | None]:
    """``table`` with a row per configuration of ``frame`` (the studies' records, see
    ``layouts.prepare_frame``) on its axis, and their backbones' baselines; the caption says
    where they come from. Without any, the caption and the returned line say which axis none of
    them has."""
    axis = table_axis(table)
    names = ", ".join(studies)
    configs = frame.drop_duplicates("config_id") if len(frame) else frame
    # configurations a printed row already takes (the paper's own backbone and data) stay there
    printed = {c for row in table.rows for c in _printed(table, row, frame)}
    ours = [c for _, c in configs.iterrows() if c["attention"] != "none" and _on_axis(c, axis)]
    if printed and not [c for c in ours if c["config_id"] not in printed]:
        return table, None
    ours = [c for c in ours if c["config_id"] not in printed]
    if not ours:
        why = (
            f"Nothing of {names} is shown here: no configuration of it varies this table's axis "
            f"({axis or 'none'}){_missing(axis)}."
        )
        return dataclasses.replace(table, caption=f"{table.caption} {why}"), why
    backbones = {c["run_backbone"] for c in ours}
    bases = [c for _, c in configs.iterrows() if c["attention"] == "none"]
    rows = [
        _row(c, baseline=True)
        for c in bases
        if c["run_backbone"] in backbones and c["config_id"] not in printed
    ]
    rows += [_row(c, baseline=False) for c in ours]
    datasets = ", ".join(sorted({c["run_dataset"] for c in ours}))
    note = (
        f"The rows labelled '{PREFIX.strip()}' are runs of {names} on {datasets} with "
        f"{', '.join(sorted(backbones))}: other data, another backbone and recipe than the "
        "paper's, so read each against its own baseline row, not against the published numbers."
    )
    return dataclasses.replace(
        table, rows=(*table.rows, *rows), caption=f"{table.caption} {note}"
    ), None


def _printed(table: PaperTable, row: Row, frame: pd.DataFrame) -> set[str]:
    """The configurations of ``frame`` that a printed row of ``table`` takes."""
    names = (row.select["backbone"], row.select.get("attention", "none"))
    if not len(frame) or names[0] not in BACKBONES or names[1] not in ATTENTIONS:
        return set()
    return set(select_runs(table, row, frame)["config_id"])


def _on_axis(config: pd.Series, axis: str | None) -> bool:
    if axis in (None, "placement", "stages", "attention"):
        return axis is not None
    return axis in config["hparams_resolved"]


def _missing(axis: str | None) -> str:
    if axis in (None, "placement", "stages", "attention"):
        return "; it has no attention run"
    return f": none of its modules takes the hyper-parameter {axis!r}"


def _row(config: pd.Series, *, baseline: bool) -> Row:
    select = {key: config[key] for key in ("backbone", "attention", "config_id")}
    return Row(PREFIX + config["label"], select, {}, GROUP, baseline)
