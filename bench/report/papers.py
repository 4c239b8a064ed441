"""Published numbers: ``registry/papers/<key>.toml`` (``registry.PAPERS``) -> ``Paper``, tables.

A paper file has a ``[paper]`` table (key, title, citation, macs convention) and one
``[[table]]`` per printed table::

    [[table]]
    id = "table10"                 # what a grid's `[study] table = ...` names
    title = "..."; caption = "..." # the caption states units and conventions
    dataset = "imagenet"           # default dataset of the rows (a row may set its own)
    metrics = ["top1_err", "params_m"]   # measured columns, keys of bench.report.metrics.METRICS
    extra = {orig_top1_err = "original top-1 err. (%)"}   # published-only columns
    style = "long" | "paired"      # paired: baseline and treated row of a group side by side
    plot = "reduction" | "alpha" | "placement" | "curves"  # optional table-specific plot
    rows = [{label = "r = 2", backbone = "resnet50_v1", attention = "se", hparams = {reduction = 2},
             top1_err = 22.29, ...}, ...]

Row keys: ``label``, ``group`` (rows compared with the group's ``baseline = true`` row, or with a
baseline row without a group), the selectors in ``SELECTORS`` and published values keyed by metric.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.report.metrics import METRICS
from registry import PAPERS
from registry.core import did_you_mean

SELECTORS = (
    "backbone",
    "attention",
    "placement",
    "stages",
    "hparams",
    "dataset",
    "image_size",
    "train",
)
ROW_META = ("label", "group", "baseline")
STYLES = ("long", "paired")


@dataclass(frozen=True)
class Row:
    """One printed row: how to find its runs and what the paper printed for it."""

    label: str
    select: dict[str, Any]
    published: dict[str, float]
    group: str | None = None
    baseline: bool = False


@dataclass(frozen=True)
class PaperTable:
    """One printed table of a paper."""

    paper: str
    id: str
    title: str
    caption: str
    metrics: tuple[str, ...]
    rows: tuple[Row, ...]
    dataset: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    style: str = "long"
    plot: str | None = None


@dataclass(frozen=True)
class Paper:
    """A paper (or seed study) and its tables, in printed order."""

    key: str
    title: str
    citation: str
    macs: str
    tables: tuple[PaperTable, ...]

    def table(self, table_id: str) -> PaperTable:
        """The table called ``table_id``; unknown ids fail with the known ones."""
        ids = [t.id for t in self.tables]
        for table in self.tables:
            if table.id == table_id:
                return table
        raise BenchError(
            f"paper {self.key!r} has no table {table_id!r}{did_you_mean(table_id, ids)}; "
            f"tables: {', '.join(ids)}"
        )


def paper_names(folder: Path = PAPERS) -> list[str]:
    """Keys of every paper file."""
    return sorted(p.stem for p in folder.glob("*.toml"))


def load_paper(key: str, folder: Path = PAPERS) -> Paper:
    """Read ``<folder>/<key>.toml``.

    Raises:
        BenchError: unknown paper, a TOML error, or a table that breaks the format.
    """
    path = folder / f"{key}.toml"
    if not path.is_file():
        names = paper_names(folder)
        raise BenchError(
            f"no published numbers for paper {key!r}{did_you_mean(key, names)}; "
            f"known: {', '.join(names)}"
        )
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise BenchError(f"{path}: TOML syntax error: {err}") from None
    head = doc.get("paper", {})
    tables = tuple(_read_table(key, t, path) for t in doc.get("table", []))
    return Paper(
        key, head.get("title", key), head.get("citation", ""), head.get("macs", ""), tables
    )


def _read_table(paper: str, doc: dict[str, Any], path: Path) -> PaperTable:
    where = f"{path}: table {doc.get('id', '?')!r}"
    metrics = tuple(doc.get("metrics", ()))
    for metric in metrics:
        if metric not in METRICS:
            raise BenchError(
                f"{where}: unknown metric {metric!r}{did_you_mean(metric, list(METRICS))}"
            )
    style = doc.get("style", "long")
    if style not in STYLES:
        raise BenchError(f"{where}: style must be one of {STYLES}, not {style!r}")
    extra = dict(doc.get("extra", {}))
    rows = tuple(_read_row(r, metrics, extra, where) for r in doc.get("rows", []))
    labels = [r.label for r in rows]
    if len(set(labels)) != len(labels):
        raise BenchError(f"{where}: row labels must be unique")
    return PaperTable(
        paper,
        doc["id"],
        doc.get("title", doc["id"]),
        doc.get("caption", ""),
        metrics,
        rows,
        doc.get("dataset"),
        extra,
        style,
        doc.get("plot"),
    )


def _read_row(doc: dict[str, Any], metrics: tuple[str, ...], extra: dict, where: str) -> Row:
    published = {}
    for key, value in doc.items():
        if key in SELECTORS or key in ROW_META:
            continue
        if key not in metrics and key not in extra:
            known = [*SELECTORS, *ROW_META, *metrics, *extra]
            raise BenchError(
                f"{where}: row {doc.get('label')!r}: unknown key {key!r}{did_you_mean(key, known)}"
            )
        published[key] = float(value)
    if "backbone" not in doc or "label" not in doc:
        raise BenchError(f"{where}: every row needs `label` and `backbone`")
    select = {k: doc[k] for k in SELECTORS if k in doc}
    return Row(doc["label"], select, published, doc.get("group"), bool(doc.get("baseline", False)))
