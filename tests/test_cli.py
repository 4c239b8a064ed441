"""The `bench` command end to end, in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, TINY_GRID, run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny grid trained once for the tests below (2 runs, 1 epoch, ~100 images)."""
    work = tmp_path_factory.mktemp("work")
    (work / "tiny.toml").write_text(TINY_GRID)
    result = run_cli("run", "--grid", "tiny.toml", cwd=work)
    assert result.returncode == 0, result.stderr + result.stdout
    return work, result


def test_run_writes_one_record_per_run(trained):
    work, _ = trained
    records = [
        json.loads(p.read_text()) for p in sorted((work / "results" / "tiny").glob("*.json"))
    ]
    assert len(records) == 2
    assert {r["status"] for r in records} == {"done"}
    for r in records:
        assert r["final"]["val_top1_pct"] >= 0 and len(r["curves"]) == 1
        assert r["params"]["total_m"] > 0
        assert r["environment"]["device"] == "cpu"
        assert (work / "results" / "tiny" / f"{r['run_id']}.json").exists()
    se = next(r for r in records if r["spec"]["attention"] == "se")
    assert se["params"]["attention_m"] > 0


def test_run_output_in_a_log(trained):
    """Not a terminal: a line per finished run with the time left, then the accuracy table."""
    _, result = trained
    lines = result.stdout.splitlines()
    per_run = [line for line in lines if line.startswith("done: resnet20")]
    assert len(per_run) == 2 and "1/2 runs, about" in per_run[0] and per_run[1].endswith("2/2 runs")
    assert "tiny: val top-1 (%) at the last epoch" in result.stdout
    assert any("resnet20 + se@block r16" in line and "│ 1" in line for line in lines)


def test_rerun_skips_finished(trained):
    work, _ = trained
    stamps = {p: p.stat().st_mtime_ns for p in (work / "results" / "tiny").glob("*.json")}
    result = run_cli("run", "--grid", "tiny.toml", cwd=work)
    assert result.returncode == 0
    assert "2 already finished, skipped; 0 to run" in result.stdout
    assert stamps == {p: p.stat().st_mtime_ns for p in (work / "results" / "tiny").glob("*.json")}


def test_report_and_check(trained):
    work, _ = trained
    result = run_cli("report", "--format", "md", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "resnet20 + se@block r16" in (work / "reports" / "tiny.md").read_text()
    assert (work / "reports" / "tiny_accuracy.png").exists()
    baseline = "results/baselines/tiny.json"
    # one seed per configuration: no seed spread to calibrate a tolerance on, so it is refused
    refused = run_cli("check", "--baseline", baseline, "--update", cwd=work)
    assert refused.returncode == 2 and "no seed spread" in refused.stderr
    update = ("check", "--baseline", baseline, "--update", "--tolerance", "5")
    assert run_cli(*update, cwd=work).returncode == 0
    assert run_cli("check", "--baseline", baseline, cwd=work).returncode == 0
    # results/baselines/ holds JSON that is not a record: a plain report must not read it as a study
    assert run_cli("report", "--format", "md", cwd=work).returncode == 0
    # raise the bar above what was measured: the gate must fail and name both configurations
    data = json.loads((work / baseline).read_text())
    for config in data["configs"].values():
        config["val_top1_pct"] = min(100.0, config["val_top1_pct"] + 50)  # the gate reads 0..100
    (work / "bad.json").write_text(json.dumps(data))
    result = run_cli("check", "--baseline", "bad.json", cwd=work)
    assert result.returncode == 1
    assert (
        "2 configuration(s) below baseline" in result.stdout
        and "resnet20 + se@block r16" in result.stdout
    )


def test_list_shows_registry_and_grids(tmp_path):
    result = run_cli("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("resnet20", "se", "block", "shapes", "quick"):
        assert name in result.stdout


def test_describe_json(tmp_path):
    result = run_cli(
        "describe",
        "--backbone",
        "resnet20",
        "--attention",
        "se",
        "--num-classes",
        "10",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["placement"] == "block" and facts["params"]["attention_m"] > 0
    assert facts["hparams"]["reduction"] == 16  # the module's default, resolved


def test_describe_takes_any_hyper_parameter(tmp_path):
    args = ("describe", "--backbone", "resnet20", "--attention", "se", "--num-classes", "10")
    r16 = json.loads(run_cli(*args, "--json", cwd=tmp_path).stdout)
    r4 = run_cli(
        *args, "--hparam", "reduction=4", "--hparam", "squeeze=max", "--json", cwd=tmp_path
    )
    assert r4.returncode == 0, r4.stderr
    facts = json.loads(r4.stdout)
    assert facts["hparams"]["reduction"] == 4 and facts["hparams"]["squeeze"] == "max"
    assert facts["params"]["attention_m"] > r16["params"]["attention_m"]
    for bad, words in (("reduction", "NAME=VALUE"), ("reductoin=4", "did you mean 'reduction'")):
        result = run_cli(*args, "--hparam", bad, cwd=tmp_path)
        assert result.returncode == 2 and words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


BAD_GRIDS = {
    "unknown backbone": ('backbone = "resnt20"', "did you mean 'resnet20'"),
    "unknown attention": ('backbone = "resnet20"\nattention = "cbma"', "did you mean 'cbam'"),
    "unknown placement": (
        'backbone = "resnet20"\nattention = "se"\nplacement = "psot"',
        "did you mean 'post'",
    ),
    "toml syntax": ('backbone = ["resnet20"', "TOML syntax error"),
}


@pytest.mark.parametrize("case", sorted(BAD_GRIDS))
def test_bad_grid_is_one_line_exit_2(tmp_path, case):
    body, message = BAD_GRIDS[case]
    (tmp_path / "g.toml").write_text(f'[study]\nname = "bad"\n[grid]\n{body}\n')
    result = run_cli("run", "--grid", "g.toml", cwd=tmp_path)
    _assert_clean_error(result, message)
    assert not (tmp_path / "results").exists()  # no partial record


@pytest.mark.parametrize(
    ("train", "message"),
    [("epochs = -2", "must not be negative"), ('epochs = "four"', "wrong type")],
)
def test_bad_train_table(tmp_path, train, message):
    (tmp_path / "g.toml").write_text(
        f'[study]\nname = "bad"\n[train]\n{train}\n[grid]\nbackbone = "resnet20"\n'
    )
    _assert_clean_error(run_cli("run", "--grid", "g.toml", cwd=tmp_path), message)


def test_missing_grid_file(tmp_path):
    _assert_clean_error(run_cli("run", "--grid", "nope.toml", cwd=tmp_path), "not found")


def test_missing_baseline(tmp_path):
    _assert_clean_error(run_cli("check", "--baseline", "none.json", cwd=tmp_path), "--update")


def test_missing_dataset_is_one_line_exit_2(tmp_path):
    grid = '[study]\nname = "nodata"\n[data]\nname = "cifar10"\n[grid]\nbackbone = "resnet20"\n'
    (tmp_path / "g.toml").write_text(grid)
    result = run_cli(
        "run", "--grid", "g.toml", "--data-root", str(tmp_path / "absent"), cwd=tmp_path
    )
    _assert_clean_error(result, "cifar-10-batches-py/{data_batch_1..5,test_batch}")
    assert "--data-root or BENCH_DATA" in result.stderr
    assert not list((tmp_path / "results").glob("**/*.json"))  # no failed record either


def _assert_clean_error(result, message):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error:"), result.stderr
    assert message in lines[0]


def test_help_imports_neither_torch_nor_the_report_stack(tmp_path):
    code = (
        "import sys\nfrom bench.cli import main\n"
        "for argv in (['--help'], ['run', '--help'], ['report', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "heavy = sorted({'torch', 'timm', 'pandas', 'matplotlib'} & set(sys.modules))\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert "heavy: []" in result.stdout, result.stdout + result.stderr
