"""The accuracy gate fails closed: whatever it cannot verify fails it, with one line.

Exit 2 for a baseline or flag it cannot trust, exit 1 for a regression or a configuration it cannot
measure; never exit 0 on a value it did not check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from tests.conftest import golden_record, write_golden

GOLDEN = [golden_record("g", "none", seed, 60.0 + seed) for seed in (0, 1)]
CONFIG = GOLDEN[0]["config_id"]


def check(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(["check", *argv])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    out = capsys.readouterr()
    return code, out.out, out.err


UPDATE = ["--update", "--study", "g", "--tolerance", "3"]


def update(path: Path, results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check([*UPDATE, "--baseline", str(path), "--results", str(results)], capsys)
    assert code == 0, err


def baseline_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(text)
    return path


def entry(top1: object) -> str:
    return json.dumps({"label": "resnet20", "val_top1_pct": top1, "n": 2})


@pytest.fixture
def results(tmp_path: Path) -> Path:
    write_golden(tmp_path / "r", GOLDEN)
    return tmp_path / "r"


BAD_BASELINES = {
    "nan accuracy": f'{{"study": "g", "configs": {{"{CONFIG}": {entry(None)[:-1]}}}}}',
    "NaN literal": '{"study": "g", "configs": {"%s": {"label": "x", "val_top1_pct": NaN}}}',
    "infinite accuracy": '{"study": "g", "configs": {"%s": {"label": "x", "val_top1_pct": 1e999}}}',
    "accuracy above 100": '{"study": "g", "configs": {"%s": {"label": "x", "val_top1_pct": 140}}}',
    "negative accuracy": '{"study": "g", "configs": {"%s": {"label": "x", "val_top1_pct": -1}}}',
    "bool accuracy": '{"study": "g", "configs": {"%s": {"label": "x", "val_top1_pct": true}}}',
    "string accuracy": '{"study": "g", "configs": {"%s": {"label": "x", "val_top1_pct": "61"}}}',
    "no configurations": '{"study": "g", "configs": {}}',
    "configs a list": '{"study": "g", "configs": []}',
    "study a number": '{"study": 3, "configs": {"%s": {"label": "x", "val_top1_pct": 60}}}',
    "nan tolerance": '{"study": "g", "tolerance_points": NaN, "configs": {"%s": '
    '{"label": "x", "val_top1_pct": 60}}}',
    "infinite tolerance": '{"study": "g", "tolerance_points": Infinity, "configs": {"%s": '
    '{"label": "x", "val_top1_pct": 60}}}',
    "string tolerance": '{"study": "g", "tolerance_points": "5", "configs": {"%s": '
    '{"label": "x", "val_top1_pct": 60}}}',
    "zero tolerance": '{"study": "g", "tolerance_points": 0, "configs": {"%s": '
    '{"label": "x", "val_top1_pct": 60}}}',
    "huge tolerance": '{"study": "g", "tolerance_points": 1000, "configs": {"%s": '
    '{"label": "x", "val_top1_pct": 60}}}',
}


@pytest.mark.parametrize("case", sorted(BAD_BASELINES))
def test_a_baseline_it_cannot_trust_fails_the_gate(tmp_path, results, capsys, case):
    text = BAD_BASELINES[case].replace("%s", CONFIG)
    path = baseline_file(tmp_path, text)
    code, _, err = check(["--baseline", str(path), "--results", str(results)], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "baseline" in err or "tolerance" in err


BAD_FLAGS = {
    "tolerance inf": (["--tolerance", "inf"], "--tolerance"),
    "tolerance nan": (["--tolerance", "nan"], "--tolerance"),
    "tolerance text": (["--tolerance", "five"], "--tolerance"),
    "tolerance above 100": (["--tolerance", "1000"], "tolerance"),
    "k inf with update": (["--update", "--k", "inf"], "--k"),
    "update tolerance inf": (["--update", "--tolerance", "inf"], "--tolerance"),
    "update tolerance 1e9": (["--update", "--tolerance", "1e9"], "tolerance"),
    "study without update": (["--study", "g"], "--update"),
    "calibration without update": (["--calibration", "g"], "--update"),
    "k without update": (["--k", "2"], "--update"),
    "tolerance and k": (["--update", "--tolerance", "2", "--k", "3"], "give one"),
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_a_flag_it_cannot_trust_fails_the_gate(tmp_path, results, capsys, case):
    path = tmp_path / "baseline.json"
    update(path, results, capsys)
    before = path.read_text()
    argv, word = BAD_FLAGS[case]
    code, _, err = check(["--baseline", str(path), "--results", str(results), *argv], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert word in err
    assert path.read_text() == before  # nothing written, least of all Infinity


def test_a_valid_baseline_passes(tmp_path, results, capsys):
    """Positive control for the cases above."""
    text = BAD_BASELINES["nan tolerance"].replace("NaN", "2").replace("%s", CONFIG)
    path = baseline_file(tmp_path, text)
    code, out, err = check(["--baseline", str(path), "--results", str(results)], capsys)
    assert code == 0, err
    assert "1 configurations within 2 points" in out


def test_a_finished_run_without_a_finite_top1_fails_the_gate(tmp_path, results, capsys):
    path = tmp_path / "baseline.json"
    update(path, results, capsys)
    nan_seed = golden_record("g", "none", 2, float("nan"))
    write_golden(results, [nan_seed])
    code, out, err = check(["--baseline", str(path), "--results", str(results)], capsys)
    assert code == 1, out + err
    assert "without a finite top-1" in out


def test_a_baseline_is_not_written_from_a_nan_top1(tmp_path, results, capsys):
    write_golden(results, [golden_record("g", "none", 2, float("nan"))])
    path = tmp_path / "baseline.json"
    code, _, err = check([*UPDATE, "--baseline", str(path), "--results", str(results)], capsys)
    assert code == 2 and "finite top-1" in err and not path.exists()


def test_a_configuration_without_records_fails_the_gate(tmp_path, results, capsys):
    path = tmp_path / "baseline.json"
    update(path, results, capsys)
    code, out, _ = check(["--baseline", str(path), "--results", str(tmp_path / "empty")], capsys)
    assert code == 1 and "no finished run" in out


def test_written_baselines_are_strict_json(tmp_path, results, capsys):
    path = tmp_path / "baseline.json"
    update(path, results, capsys)
    json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in baseline"))
