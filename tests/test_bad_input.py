"""Bad input, table-driven: every case exits 2 with one stderr line naming the problem, no
traceback, no record written and nothing trained (``execute_run`` is never reached).

Grid cases write a grid file that differs from a valid one in one place; CLI cases pass one bad
flag. They run ``bench.cli.main`` in-process, so hundreds of cases cost seconds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import bench.run
from bench.cli import main
from bench.domains import FIELDS
from registry.hparams import AT_MOST, NON_NEGATIVE, POSITIVE

VALID: dict[str, dict[str, Any]] = {
    "study": {"name": "bad"},
    "data": {"name": "shapes", "train_size": 64, "val_size": 32},
    "train": {"epochs": 1, "batch_size": 32},
    "measure": {},
    "grid": {"backbone": "resnet20", "attention": "se", "seed": [0]},
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and abs(value) == float("inf"):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def grid_text(tables: dict[str, dict[str, Any]]) -> str:
    lines = []
    for table, fields in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def with_value(table: str, key: str, value: Any) -> str:
    tables = {name: dict(fields) for name, fields in VALID.items()}
    tables[table][key] = value
    return grid_text(tables)


# values outside each field's domain (the domain table itself says which fields have one)
OUT_OF_DOMAIN: dict[str, list[Any]] = {
    "between 0 and 1": [-0.1, 1.5],
    "in [0, 1)": [1.0, -0.2],
    "in (0, 1)": [0.0, 1.0],
}


def beyond(rule: str) -> list[Any]:
    """Values just outside a ``between LOW and HIGH`` or ``in (0, HIGH]`` rule, and a NaN."""
    bounds = re.fullmatch(r"between (\S+) and (\S+)|in \(0, (\S+)\]", rule)
    assert bounds is not None, f"no out-of-domain values for the rule {rule!r}"
    low, high, top = bounds.groups()
    if top is not None:
        return [0, -0.5, float(top) * 2, float("nan")]
    return [int(low) - 1, int(high.replace("_", "")) + 1]


def field_cases() -> list[tuple[str, str, Any, str]]:
    cases = []
    for section, fields in FIELDS.items():
        for key, domain in fields.items():
            if domain.rule.startswith("one of"):
                bad = ["nonsense", "SGD" if key == "optimizer" else "Cosine"]
            elif domain.rule.startswith("epochs"):
                bad = [[0], [-3]]
            else:
                bad = OUT_OF_DOMAIN.get(domain.rule) or beyond(domain.rule)
            cases += [(section, key, value, key) for value in bad]
    return cases


WRONG_TYPES = [
    ("data", "train_size", "many", "train_size"),
    ("data", "image_size", 3.5, "image_size"),
    ("train", "epochs", "4", "epochs"),
    ("train", "lr", "fast", "lr"),
    ("train", "nesterov", 1, "nesterov"),
    ("train", "milestones", "10", "milestones"),
    ("train", "augment", "yes", "augment"),
    ("measure", "sfd", "no", "sfd"),
    ("measure", "cam_layers", "layer3", "cam_layers"),
    ("data", "nmae", "shapes", "nmae"),
    ("train", "epoch", 3, "epoch"),
    ("measure", "sfd_image", 3, "sfd_image"),
    ("study", "nmae", "x", "nmae"),
    ("study", "name", "has space", "name"),
    ("data", "name", "fashon_mnist", "fashion_mnist"),
    ("data", "options", {"pieces": 3}, "options"),
]


def hparam_cases() -> list[tuple[str, str, Any]]:
    owner = {"alpha": "das", "dilation": "bam", "gamma": "eca", "heads": "mhsa"}
    owner |= {"kernel_size": "cbam", "reduction": "se", "beta": "eca", "num_dilated": "bam"}
    owner |= {"ln_eps": "gc"}
    cases = []
    for name in POSITIVE:
        cases += [(owner[name], name, value) for value in (0, -2, "big")]
    for name in NON_NEGATIVE:
        cases += [(owner[name], name, value) for value in (-1, "x")]
    cases += [("se", "reduction", 2.5), ("se", "bias", 1), ("cbam", "channel_pool", 3)]
    for name, high in AT_MOST.items():
        cases += [(owner[name], name, high * 2 if high > 1 else high + 1)]
    cases += [("das", "alpha", float("nan")), ("das", "alpha", float("inf"))]
    cases += [("gc", "ln_eps", float("-inf")), ("gc", "ln_eps", float("nan"))]
    return cases


GRID_SHAPES = {  # [grid] tables that are wrong as a whole
    "unknown axis": ({"backbone": "resnet20", "seeds": [0, 1]}, "seeds"),
    "typo axis on none": ({"backbone": "resnet20", "attention": "none", "sed": 1}, "sed"),
    "number backbone": ({"backbone": [5]}, "backbone"),
    "nested backbone": ({"backbone": [["resnet20"]]}, "backbone"),
    "unknown backbone": ({"backbone": "resnt20"}, "resnet20"),
    "unknown attention": ({"backbone": "resnet20", "attention": "cbma"}, "cbam"),
    "unknown placement": ({"backbone": "resnet20", "attention": "se", "placement": "blok"}, "blok"),
    "no backbone": ({"attention": "se"}, "backbone"),
    "negative seed": ({"backbone": "resnet20", "seed": -1}, "seed"),
    "text seed": ({"backbone": "resnet20", "seed": "zero"}, "seed"),
    "unknown stage": ({"backbone": "resnet20", "attention": "se", "stages": [9]}, "stage"),
    "hparam of no module": ({"backbone": "resnet20", "attention": "se", "widht": 2}, "widht"),
    "impossible everywhere": (
        {"backbone": "resnet50", "attention": "cbam", "stages": [5]},
        "no runnable cell",
    ),
    "heads do not divide": (
        {"backbone": "resnet20", "attention": "mhsa", "placement": "stage", "heads": 5},
        "heads",
    ),
    "unknown string choice": (
        {"backbone": "resnet20", "attention": "se", "squeeze": "mean"},
        "squeeze",
    ),
    "unknown CBAM pool": (
        {"backbone": "resnet20", "attention": "cbam", "channel_pool": "sum"},
        "pool",
    ),
}


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    return code, capsys.readouterr().err


@pytest.fixture(autouse=True)
def never_train(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a run started although the input was bad")

    monkeypatch.setattr(bench.run, "execute_run", refuse)
    monkeypatch.setattr("bench.execute.oom.execute_run", refuse)


def assert_rejected(code: int, err: str, word: str, results: Path) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert word.lower() in lines[0].lower(), lines[0]
    assert not list(results.rglob("*.json")) if results.exists() else True


def run_grid(text: str | bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "grid.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    results = tmp_path / "results"
    return (*run_main(["run", "--grid", str(path), "--results", str(results)], capsys), results)


@pytest.mark.parametrize(("section", "key", "value", "word"), field_cases() + WRONG_TYPES)
def test_bad_field(tmp_path, capsys, section, key, value, word):
    code, err, results = run_grid(with_value(section, key, value), tmp_path, capsys)
    assert_rejected(code, err, word, results)


@pytest.mark.parametrize(("attention", "name", "value"), hparam_cases())
def test_bad_hyper_parameter(tmp_path, capsys, attention, name, value):
    tables = {k: dict(v) for k, v in VALID.items()}
    tables["grid"] = {"backbone": "resnet20", "attention": attention, name: value}
    if attention == "mhsa":
        tables["grid"]["placement"] = "stage"
    code, err, results = run_grid(grid_text(tables), tmp_path, capsys)
    assert_rejected(code, err, name, results)


@pytest.mark.parametrize("case", sorted(GRID_SHAPES))
def test_bad_grid_table(tmp_path, capsys, case):
    grid, word = GRID_SHAPES[case]
    tables = {k: dict(v) for k, v in VALID.items()} | {"grid": grid}
    code, err, results = run_grid(grid_text(tables), tmp_path, capsys)
    assert_rejected(code, err, word, results)


@pytest.mark.parametrize(
    ("content", "word"),
    [
        (b"\x00\xff\xfe\x89PNG", "not a text file"),
        (b"[study\nname = 'x'", "TOML syntax"),
        (b"[study]\nname = 'x'\n[data]\nname = 'shapes'\n", "backbone"),
        (b"[grid]\nbackbone = 'resnet20'\n", "name"),
        (
            b"[[grid]]\nbackbone = 'resnet20'\n[[grid]]\nattention = 'se'\n[study]\nname='x'",
            "backbone",
        ),
        (b"[study]\nname='x'\n[grid]\nbackbone='resnet20'\ntrain = 3\n", "train"),
        (b"[study]\nname='x'\n[grid]\nbackbone='resnet20'\ntrain = {lr = -1}\n", "lr"),
        (b"[study]\nname='x'\n[nonsense]\na = 1\n[grid]\nbackbone='resnet20'\n", "nonsense"),
        (b"[study]\nname='x'\nbudget = 'a b'\n[grid]\nbackbone='resnet20'\n", "budget"),
    ],
)
def test_bad_grid_file(tmp_path, capsys, content, word):
    code, err, results = run_grid(content, tmp_path, capsys)
    assert_rejected(code, err, word, results)


def valid_grid(tmp_path: Path) -> str:
    path = tmp_path / "ok.toml"
    path.write_text(grid_text(VALID))
    return str(path)


NUMBER_FLAGS = [
    ("run", "--workers"),
    ("run", "--per-gpu"),
    ("run", "--gpus-per-run"),
    ("cam", "--images"),
    ("check", "--tolerance"),
    ("check", "--k"),
    ("describe", "--num-classes"),
    ("describe", "--image-size"),
]
REQUIRED = {
    "run": ["--grid", "{grid}"],
    "cam": ["--study", "bad"],
    "check": [],
    "describe": ["--backbone", "resnet20"],
}


@pytest.mark.parametrize("value", ["0", "-1", "many"])
@pytest.mark.parametrize(("command", "flag"), NUMBER_FLAGS)
def test_bad_number_flag(tmp_path, capsys, command, flag, value):
    base = [a.format(grid=valid_grid(tmp_path)) for a in REQUIRED[command]]
    code, err = run_main([command, *base, flag, value, "--results", str(tmp_path / "r")], capsys)
    assert_rejected(code, err, flag, tmp_path / "r")


def bad_baselines(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    files = {"folder": folder}
    for name, text in {
        "not json": "{",
        "a list": "[1, 2]",
        "no configs": '{"study": "s"}',
        "entry without a number": '{"study": "s", "configs": {"abc": {"label": "x"}}}',
        "entry not a table": '{"study": "s", "configs": {"abc": 3}}',
    }.items():
        files[name] = tmp_path / f"{name.replace(' ', '-')}.json"
        files[name].write_text(text)
    return files


@pytest.mark.parametrize(
    "case",
    ["folder", "not json", "a list", "no configs", "entry without a number", "entry not a table"],
)
def test_bad_baseline(tmp_path, capsys, case):
    (tmp_path / "r" / "s").mkdir(parents=True)
    path = bad_baselines(tmp_path)[case]
    code, err = run_main(
        ["check", "--baseline", str(path), "--results", str(tmp_path / "r")], capsys
    )
    assert_rejected(code, err, "baseline", tmp_path / "r")


def cli_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    grid = valid_grid(tmp_path)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return {
        "device tpu": (["run", "--grid", grid, "--device", "tpu"], "tpu"),
        "device cuda:x": (["run", "--grid", grid, "--device", "cuda:x"], "cuda:x"),
        "results is a file": (["run", "--grid", grid, "--results", str(a_file)], "is a file"),
        "unknown executor": (["run", "--grid", grid, "--executor", "slurm"], "executor"),
        "missing grid": (["run", "--grid", str(tmp_path / "none.toml")], "not found"),
        "unknown bundled grid": (["run", "--grid", "quik"], "not found"),
        "reports is a file": (["report", "--reports", str(a_file)], "is a file"),
        "table without paper": (["report", "--table", "table10"], "--paper"),
        "unknown paper": (["report", "--paper", "sse"], "'se'"),
        "unknown format": (["report", "--format", "docx"], "format"),
        "unknown study": (["report", "--study", "nothing"], "nothing"),
        "describe unknown backbone": (["describe", "--backbone", "resnt20"], "resnet20"),
        "describe unknown attention": (
            ["describe", "--backbone", "resnet20", "--attention", "sse"],
            "'se'",
        ),
        "describe bad hparam": (
            ["describe", "--backbone", "resnet20", "--attention", "se", "--hparam", "reduction=0"],
            "reduction",
        ),
        "describe hparam without value": (
            ["describe", "--backbone", "resnet20", "--attention", "se", "--hparam", "reduction"],
            "NAME=VALUE",
        ),
        "describe unknown hparam": (
            ["describe", "--backbone", "resnet20", "--attention", "se", "--hparam", "redction=4"],
            "reduction",
        ),
        "cam unknown study": (["cam", "--study", "nothing"], "nothing"),
        "unknown command": (["trian"], "trian"),
        "check missing baseline": (["check", "--baseline", str(tmp_path / "no.json")], "not found"),
    }


CLI_CASES = [
    "device tpu",
    "device cuda:x",
    "results is a file",
    "unknown executor",
    "missing grid",
    "unknown bundled grid",
    "reports is a file",
    "table without paper",
    "unknown paper",
    "unknown format",
    "unknown study",
    "describe unknown backbone",
    "describe unknown attention",
    "describe bad hparam",
    "describe hparam without value",
    "describe unknown hparam",
    "cam unknown study",
    "unknown command",
    "check missing baseline",
]


@pytest.mark.parametrize("case", CLI_CASES)
def test_bad_cli_input(tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    argv, word = cli_cases(tmp_path)[case]
    code, err = run_main(argv, capsys)
    assert_rejected(code, err, word, tmp_path / "results")


def test_the_table_has_at_least_150_cases():
    fields = len(field_cases()) + len(WRONG_TYPES) + len(hparam_cases()) + len(GRID_SHAPES)
    flags = 3 * len(NUMBER_FLAGS) + 6 + len(CLI_CASES) + 8
    assert fields + flags >= 150


def test_the_valid_grid_reaches_training(tmp_path, capsys):
    """Positive control: the grid every case changes in one place is itself accepted."""
    code, _, results = run_grid(grid_text(VALID), tmp_path, capsys)
    assert code == 1  # the one run failed: never_train stopped it at execute_run
    [record] = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    assert "a run started although the input was bad" in record["error"]
