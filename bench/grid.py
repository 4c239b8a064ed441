"""TOML grid -> validated, de-duplicated list of ``RunSpec``.

A grid file has four tables::

    [study]   name = "quick", description = "...", paper = "se"        (paper is optional)
              plugins = ["mylab.attention"]   (optional: modules to import first, which register
                  attention modules or backbones of one's own; see bench.execute.plugins)
              table = "table10"   (optional: the paper table it reproduces; see registry/papers/)
              stand_in = {resnet50_v1 = "resnet20", imagenet = "shapes"}   (optional, smoke twins:
                  the small backbone / dataset run in place of the paper's, for the report's join)
              budget = "cpu"   (optional: a reduced-budget twin of the paper's grid on real data;
                  its runs make their own report, ``<paper>-cpu``, never pooled with the paper's)
              target_mde = 0.3   (optional: the difference in top-1 points the study is planned to
                  resolve; ``bench plan`` plans for it and the report says whether it was reached)
    [data]    name = "shapes", image_size = 32, train_size = 4000, ...  (fields of DataSpec)
    [train]   epochs = 4, lr = 0.2, schedule = "onecycle", ...         (fields of TrainSpec)
    [measure] sfd_images = 200, cam_layers = ["layer3"], ...    (optional; fields of MeasureSpec)
    [grid]    backbone = [...], attention = [...], placement = [...], stages = [[2], [3]],
              seed = [0, 1] or seed = {count = 8} (the count ``bench plan`` asks for),
              <attention hparam> = [...] (reduction = [8, 16], heads = [4, 8], ...),
              train = {random_erasing = 0.5}    (optional: this slice's [train] overrides)

``[[grid]]`` (an array of tables) takes the union of several slices. Any scalar may stand for a
one-element list. Keys of ``[grid]`` other than the five axes are attention hyper-parameter axes
(e.g. ``reduction = [8, 16]``, ``alpha = [0.1, 0.2]``) and apply to the modules that accept them;
every hyper-parameter a cell does not set takes the module's default, and the run spec stores the
full set (``registry.resolve_hparams``).

Expansion collapses meaningless cells (attention ``none`` ignores placement, reduction, stages and
hyper-parameters; a module without ``reduction`` ignores a reduction axis) and sets aside
impossible ones with the registry's reason before anything trains.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import registry
from bench.data import DATASETS, native_image_size
from bench.domains import MAX_SEED, check_fields, check_recipe
from bench.errors import GridError
from bench.execute.plugins import import_plugins, spec_code
from bench.grid_rules import (
    check_name_axis,
    check_paper,
    check_size,
    check_stages,
    check_study_name,
    count_cells,
    seed_axis,
)
from bench.spec import DataSpec, MeasureSpec, RunSpec, TrainSpec
from registry.core import IncompatibleError, InvalidValueError, UnknownNameError, did_you_mean

AXES = ("backbone", "attention", "placement", "stages", "seed")
TABLES = ("study", "data", "train", "measure", "grid")


@dataclass(frozen=True)
class Study:
    """The ``[study]`` table: a name (the results folder), a description, the paper it
    reproduces."""

    name: str
    description: str = ""
    paper: str | None = None
    table: str | None = None
    stand_in: tuple[tuple[str, str], ...] = ()  # (paper's name, name run instead) pairs
    budget: str | None = None  # a reduced-budget twin's name, e.g. "cpu"
    plugins: tuple[str, ...] = ()  # modules imported before the grid is expanded
    target_mde: float | None = None  # top-1 points the seeds are planned to resolve


@dataclass
class Grid:
    """An expanded grid: the runs to do and the cells set aside, each with its reason."""

    study: Study
    specs: list[RunSpec]
    rejected: list[tuple[str, str]] = field(default_factory=list)
    collapsed: int = 0
    path: Path | None = None


def load_grid(path: str | Path, *, data_root: str | None = None, allow_large: bool = False) -> Grid:
    """Read, validate and expand a grid file.

    Args:
        path: the TOML file.
        data_root: overrides ``[data] root`` (the CLI's ``--data-root``).
        allow_large: expand a grid of more than ``MAX_CELLS`` cells (``bench run --allow-large``).

    Raises:
        GridError: a missing file, a TOML syntax error (with line), a wrong type or value, an
            unknown name, or a grid in which every cell is impossible.
    """
    path = Path(path)
    if not path.is_file():
        raise GridError(f"grid file {str(path)!r} not found (`bench list` shows the bundled grids)")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise GridError(f"{path}: TOML syntax error: {err}") from None
    except UnicodeDecodeError:
        raise GridError(f"{path}: not a text file; a grid is a TOML file (UTF-8)") from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise GridError(
            f"{path}: values nested too deeply; a grid nests lists a few levels"
        ) from None
    try:
        grid = expand_grid(doc, data_root=data_root, allow_large=allow_large)
    except GridError as err:
        raise GridError(f"{path}: {err}") from None
    grid.path = path
    return grid


def expand_grid(
    doc: dict[str, Any], *, data_root: str | None = None, allow_large: bool = False
) -> Grid:
    """Expand a parsed grid document (see the module docstring for its format); its cells are
    counted first, so a grid of more than ``MAX_CELLS`` is refused at once unless
    ``allow_large``."""
    _check_keys(doc, TABLES, "top-level table")
    study = _read_study(doc.get("study", {}))
    import_plugins(study.plugins, "[study] plugins")
    data = _read_data(doc.get("data", {}), data_root)
    image_size = data.image_size or native_image_size(data.name)
    train = _read_dataclass(TrainSpec, doc.get("train", {}), "train")
    measure = _read_dataclass(MeasureSpec, doc.get("measure", {}), "measure")
    slices = doc.get("grid", {})
    slices = slices if isinstance(slices, list) else [slices]
    specs: dict[str, RunSpec] = {}
    rejected: list[tuple[str, str]] = []
    tables = [_slice_train(table, doc.get("train", {}), train) for table in slices]
    axes = [_axes(table) for table, _ in tables]
    cells = count_cells(axes)
    check_size(cells, allow_large)
    for (_, slice_train), slice_axes in zip(tables, axes, strict=True):
        for cell in _cells(slice_axes):
            try:
                spec = _resolve(cell, study.name, data, slice_train, image_size)
            except IncompatibleError as err:
                rejected.append((_describe_cell(cell), str(err)))
                continue
            specs.setdefault(spec.run_id, dataclasses.replace(spec, measure=measure))
    if not specs:
        reasons = "; ".join(f"{c}: {r}" for c, r in rejected[:3]) or "the [grid] table is empty"
        raise GridError(f"no runnable cell in the grid ({reasons})")
    collapsed = cells - len(rejected) - len(specs)
    return Grid(study, list(specs.values()), rejected, collapsed)


def _slice_train(
    table: Any, train_table: dict[str, Any], train: TrainSpec
) -> tuple[Any, TrainSpec]:
    """A slice's own ``train = {...}`` overrides of ``[train]`` (e.g. one slice with Random
    Erasing), and the slice without them."""
    if not isinstance(table, dict) or "train" not in table:
        return table, train
    overrides = table["train"]
    if not isinstance(overrides, dict):
        raise GridError(
            "[grid] train must be a table of [train] fields, e.g. {random_erasing = 0.5}"
        )
    merged = _read_dataclass(TrainSpec, {**train_table, **overrides}, "grid train")
    return {k: v for k, v in table.items() if k != "train"}, merged


def _read_study(table: dict[str, Any]) -> Study:
    _check_keys(
        table,
        ("name", "description", "paper", "table", "stand_in", "budget", "plugins", "target_mde"),
        "[study] key",
    )
    name = table.get("name")
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise GridError("[study] name must be a word like 'quick' (letters, digits, - and _)")
    stand_in = table.get("stand_in", {})
    if not isinstance(stand_in, dict) or not all(isinstance(v, str) for v in stand_in.values()):
        raise GridError("[study] stand_in must map names to names, e.g. {resnet50 = 'resnet20'}")
    if len(set(stand_in.values())) != len(stand_in):
        raise GridError("[study] stand_in must not map two names onto one")
    pairs = tuple(sorted(stand_in.items()))
    budget = table.get("budget")
    if budget is not None and (not isinstance(budget, str) or not budget.isalnum()):
        raise GridError("[study] budget must be a word like 'cpu' (it names the twin's report)")
    check_study_name(name)
    check_paper(table.get("paper"), table.get("table"))
    description = str(table.get("description", ""))
    plugins = table.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) and p for p in plugins):
        raise GridError('[study] plugins must be a list of module names, e.g. ["mylab.attention"]')
    target = table.get("target_mde")
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 100
    ):
        raise GridError("[study] target_mde must be a number of top-1 points in (0, 100], e.g. 0.3")
    return Study(
        name,
        description,
        table.get("paper"),
        table.get("table"),
        pairs,
        budget,
        tuple(plugins),
        None if target is None else float(target),
    )


def _read_data(table: dict[str, Any], data_root: str | None) -> DataSpec:
    """The ``[data]`` table; ``options`` are resolved against the dataset's own defaults."""
    _check_keys(table, tuple(typing.get_type_hints(DataSpec)), "[data] key")
    given = table.get("options", {})
    data = _read_dataclass(DataSpec, {k: v for k, v in table.items() if k != "options"}, "data")
    if data_root is not None:
        data = dataclasses.replace(data, root=data_root)
    native_image_size(data.name)  # checks the dataset name
    meta = DATASETS.meta(data.name)
    defaults: dict[str, Any] = meta.get("options", {})
    if not isinstance(given, dict):
        raise GridError("[data] options must be a table, e.g. options = {pieces = 4}")
    if given and not defaults:
        raise GridError(f"[data] options: dataset {data.name!r} has no options; remove them")
    resolved = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            known = list(defaults)
            raise GridError(f"unknown [data] option {key!r}{did_you_mean(key, known)}")
        resolved[key] = _coerce_option(value, defaults[key], f"[data] options {key}")
    data = dataclasses.replace(data, options=tuple(sorted(resolved.items())))
    if "validate" in meta:
        meta["validate"](data)
    return data


def _coerce_option(value: Any, default: Any, where: str) -> Any:
    """``value`` in the type of the option's ``default`` (ints accepted for floats)."""
    number = (int, float)
    if isinstance(default, tuple):
        numbers = isinstance(value, list) and len(value) == len(default)
        if numbers and all(isinstance(v, number) and not isinstance(v, bool) for v in value):
            return tuple(float(v) for v in value)
        raise GridError(f"{where} = {value!r} must be a list of {len(default)} numbers")
    if isinstance(default, float) and isinstance(value, number) and not isinstance(value, bool):
        return float(value)
    if type(value) is type(default):
        return value
    raise GridError(f"{where} = {value!r} must be a {type(default).__name__}")


def _read_dataclass(cls: type, table: dict[str, Any], section: str) -> Any:
    """Build a DataSpec/TrainSpec from a TOML table, checking names, types and signs."""
    hints = typing.get_type_hints(cls)
    _check_keys(table, tuple(hints), f"[{section}] key")
    values = {}
    for key, value in table.items():
        values[key] = number = _coerce(value, hints[key], f"[{section}] {key}")
        if isinstance(number, int | float) and not isinstance(number, bool) and number < 0:
            raise GridError(f"[{section}] {key} = {value} must not be negative")
    check_fields("train" if section == "grid train" else section, values)
    spec = cls(**values)
    if isinstance(spec, TrainSpec):
        check_recipe(spec, f"[{section}]")
    return spec


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a dataclass field type; ints are accepted for floats."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return None
        if typing.get_origin(option) is tuple and isinstance(value, list):
            if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                return tuple(value)
            if typing.get_args(option)[0] is str and all(isinstance(v, str) for v in value):
                return tuple(value)
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option in (int, str, bool) and type(value) is option:
            return value
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise GridError(f"{where} = {value!r} has the wrong type (expected {expected})")


def _check_keys(table: Any, allowed: tuple[str, ...], what: str) -> None:
    if not isinstance(table, dict):
        raise GridError(f"expected a table for {what}s, got {table!r}")
    for key in table:
        if key not in allowed:
            raise GridError(f"unknown {what} {key!r}{did_you_mean(key, list(allowed))}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _axes(table: dict[str, Any]) -> dict[str, list[Any]]:
    """One ``[grid]`` table's axes, each as the list of its values."""
    if not isinstance(table, dict) or "backbone" not in table:
        raise GridError("[grid] needs at least `backbone = [...]`")
    axes = dict(table)
    axes.setdefault("attention", "none")
    axes["seed"] = seed_axis(axes.get("seed", 0))
    # a flat list is one choice (of stages, of kernel sizes), not an axis; a list of lists is one
    stages = axes.get("stages")
    if isinstance(stages, list) and stages and all(isinstance(s, int) for s in stages):
        axes["stages"] = [stages]
    for name in registry.list_valued_hparams():
        value = axes.get(name)
        if isinstance(value, list) and not any(isinstance(v, list) for v in value):
            axes[name] = [value]  # kept whole, so a wrong entry is reported with its list
    return {name: _as_list(value) for name, value in axes.items()}


def _cells(axes: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """The cartesian product of one table's axes, one dict of axis -> value at a time."""
    names = list(axes)
    for values in itertools.product(*axes.values()):
        yield dict(zip(names, values, strict=True))


def _resolve(
    cell: dict[str, Any], study: str, data: DataSpec, train: TrainSpec, image_size: int
) -> RunSpec:
    """One cell -> RunSpec, with names checked and meaningless axes collapsed."""
    backbone, attention = cell["backbone"], cell["attention"]
    for axis, kind in (("backbone", registry.BACKBONES), ("attention", registry.ATTENTIONS)):
        if not isinstance(cell[axis], str):
            raise GridError(
                f"[grid] {axis} = {cell[axis]!r} must be a name or a list of names, e.g. "
                f"{axis} = [{kind.names()[0]!r}]"
            )
        try:
            kind.get(cell[axis])
        except UnknownNameError as err:
            raise GridError(str(err)) from None
    seed = cell["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise GridError(f"[grid] seed = {seed!r} must be a non-negative integer below 2**63")
    extra = {k: v for k, v in cell.items() if k not in AXES}
    for key in extra:  # checked for every cell, so a typo is caught even where it is ignored
        if not any(key in registry.hparam_names(n) for n in registry.ATTENTIONS.names()):
            known = [
                *AXES,
                *{h for n in registry.ATTENTIONS.names() for h in registry.hparam_names(n)},
            ]
            raise GridError(
                f"[grid] {key!r} is neither an axis nor a hyper-parameter of any module"
                f"{did_you_mean(key, known)}"
            )
    check_name_axis("placement", cell.get("placement", "default"))  # even where it is ignored
    stages = check_stages(cell.get("stages"))
    code = spec_code(backbone, attention)
    if attention == "none":
        return RunSpec(study, backbone, seed=seed, data=data, train=train, code=code)
    accepted = registry.hparam_names(attention)
    # an axis applies to the modules that accept it; the others' defaults fill the rest
    given = {k: v for k, v in extra.items() if k in accepted or "*" in accepted}
    try:
        hparams = registry.resolve_hparams(attention, given)
    except InvalidValueError as err:
        raise GridError(f"[grid] {err}") from None
    placement = cell.get("placement", "default")
    if placement == "default":
        placement = registry.default_placement(attention)
    try:
        registry.PLACEMENTS.get(placement)
    except UnknownNameError as err:
        raise GridError(str(err)) from None
    registry.check_combination(
        backbone,
        attention,
        placement,
        stages=None if stages is None else list(stages),
        image_size=image_size,
        **hparams,
    )
    return RunSpec(
        study,
        backbone,
        attention,
        placement,
        stages=stages,
        hparams=tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in hparams.items()),
        seed=seed,
        data=data,
        train=train,
        code=code,
    )


def _describe_cell(cell: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in cell.items() if v is not None)
