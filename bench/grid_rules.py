"""Rules a grid's values must meet beyond their types: the paper and table a study names, the
stages a cell restricts, the length of the study's name and the size of the grid.

``bench.grid`` applies them while it reads a grid; each broken rule is one ``GridError`` that names
the value and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from bench.errors import BenchError, GridError
from bench.report.papers import load_paper, paper_names

MAX_CELLS = 5_000  # a grid's axes multiplied; beyond it, `bench run --allow-large`
MAX_SEED_COUNT = 1000  # seeds of one configuration; far beyond any study's plan
MAX_NAME = 100  # characters of a study name: a folder and file-name prefix on every file system


def check_study_name(name: str) -> None:
    """A study name short enough to be a folder on any file system."""
    if len(name) > MAX_NAME:
        raise GridError(
            f"[study] name is {len(name)} characters long; use at most {MAX_NAME} (it names the "
            "results folder and every report file)"
        )


def check_paper(paper: Any, table: Any) -> None:
    """``[study] paper`` names a file of ``registry/papers/`` and ``table`` one of its tables."""
    if paper is None:
        if table is not None:
            raise GridError("[study] table needs [study] paper (the paper the table is from)")
        return
    if not isinstance(paper, str):
        raise GridError(f"[study] paper = {paper!r} must be a name, one of {paper_names()}")
    if table is not None and not isinstance(table, str):
        raise GridError(f"[study] table = {table!r} must be the name of one of {paper!r}'s tables")
    try:
        found = load_paper(paper)
        if table is not None:
            found.table(table)
    except BenchError as err:
        raise GridError(f"[study] {err}") from None


def check_stages(stages: Any) -> tuple[int, ...] | None:
    """A cell's ``stages``: ``None`` / ``"all"`` (every stage) or stage numbers, each once and in
    increasing order (``[2, 2]`` or ``[3, 2]`` would be the model of ``[2]`` or ``[2, 3]`` under a
    new run id)."""
    if stages is None or stages == "all":
        return None
    numbers = stages if isinstance(stages, list) else [stages]
    if not numbers or not all(isinstance(s, int) and not isinstance(s, bool) for s in numbers):
        raise GridError(
            f"[grid] stages = {stages!r} must be a list of stage numbers, e.g. [2, 3] "
            "(or a list of such lists)"
        )
    if numbers != sorted(set(numbers)):
        raise GridError(
            f"[grid] stages = {stages!r}: list each stage once, in increasing order "
            f"({sorted(set(numbers))})"
        )
    return tuple(numbers)


def check_name_axis(axis: str, value: Any) -> None:
    """A name axis (``placement``) holds names, not numbers or lists."""
    if not isinstance(value, str):
        raise GridError(
            f"[grid] {axis} = {value!r} must be a name or a list of names, e.g. "
            f"{axis} = ['block'] (`bench list` shows them)"
        )


def seed_axis(value: Any) -> Any:
    """``seed = {count = N}`` (seeds 0 .. N-1; ``start = S`` shifts them): a planned seed count
    (``bench plan``) as data; any other value is the seed axis as written."""
    if not isinstance(value, dict):
        return value
    unknown = set(value) - {"count", "start"}
    count: Any = value.get("count")
    start: Any = value.get("start", 0)
    if unknown or not all(isinstance(v, int) and not isinstance(v, bool) for v in (count, start)):
        raise GridError(
            f"[grid] seed = {value!r}: write seed = {{count = N}} (optionally start = S), N >= 1"
        )
    if not 1 <= count <= MAX_SEED_COUNT or start < 0:
        raise GridError(
            f"[grid] seed = {value!r}: count must be 1..{MAX_SEED_COUNT} and start >= 0"
        )
    return list(range(start, start + count))


def count_cells(slices: Iterable[dict[str, list[Any]]]) -> int:
    """The cells of a grid's slices (each axis -> its values), counted without expanding them."""
    return sum(math.prod(len(values) for values in axes.values()) for axes in slices)


def check_size(cells: int, allow_large: bool) -> None:
    """A grid of more than ``MAX_CELLS`` cells runs only when asked for explicitly: most such
    grids are a typo (a seed count or an axis of thousands) that would start a run per cell."""
    if cells > MAX_CELLS and not allow_large:
        raise GridError(
            f"the grid has {cells:_} cells (its axes multiplied), more than {MAX_CELLS:_}; "
            "check its axes, or pass --allow-large to `bench run` to run them all"
        )
