"""A module of one's own, end to end: the README's worked example (a plugin outside the package,
edited between runs, listed, described, dry-run, run and reported), and every way a plugin can be
wrong giving one line and exit 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SECTION = "## Benchmark your own module"


def readme_files() -> dict[str, str]:
    """The README section's code blocks whose first line is ``# <path>``, by path."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(SECTION) :].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:python|toml)\n# (\S+)\n(.*?)```", section, re.S)
    return {path: f"# {path}\n{body}" for path, body in blocks}


def bench(*args: str, cwd: Path, plugins: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m bench ARGS`` with ``cwd`` (where ``mylab/`` lives) on ``PYTHONPATH``."""
    env = {
        "PYTHONPATH": f"{cwd}:{REPO}",
        "PATH": "/usr/bin:/bin",
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "250",  # rich folds table cells to the terminal's width
    }
    if plugins:
        env["BENCH_PLUGINS"] = plugins
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The README's worked example written out: ``mylab/gate.py`` and ``mine.toml``."""
    files = readme_files()
    assert set(files) == {"mylab/gate.py", "mine.toml"}
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    (tmp_path / "mylab" / "__init__.py").write_text("")
    return tmp_path


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "mine").glob("*.json"))]


def test_the_worked_example_end_to_end(example):
    listed = bench("list", cwd=example, plugins="mylab.gate")
    assert listed.returncode == 0, listed.stderr
    assert "my_gate" in listed.stdout and "A channel gate" in listed.stdout

    described = bench("describe", "--grid", "mine.toml", "--json", cwd=example)
    assert described.returncode == 0, described.stderr
    models = json.loads(described.stdout)
    assert [m["attention"] for m in models] == ["none", "se", "my_gate"]
    assert {(m["num_classes"], m["image_size"], m["in_chans"]) for m in models} == {(10, 32, 3)}

    dry = bench("run", "--grid", "mine.toml", "--results", "res", "--dry-run", cwd=example)
    assert dry.returncode == 0, dry.stderr
    assert "3 to run" in dry.stdout and "dry run: nothing was trained" in dry.stdout
    assert not (example / "res" / "mine").exists() or not records(example / "res")

    first = bench("run", "--grid", "mine.toml", "--results", "res", cwd=example)
    assert first.returncode == 0, first.stdout + first.stderr
    before = {r["spec"]["attention"]: r for r in records(example / "res")}
    source = (example / "mylab" / "gate.py").read_bytes()
    code = before["my_gate"]["spec"]["code"]["attention"]
    assert code["import"] == "mylab.gate:MyGate"
    assert code["sha256"] == __import__("hashlib").sha256(source).hexdigest()
    assert "code" not in before["se"]["spec"] and before["se"]["environment"]["commit"] is not None

    # the module is edited: its run is not finished any more, the built-ins' are
    gate = example / "mylab" / "gate.py"
    gate.write_text(gate.read_text().replace("nn.ReLU(inplace=True)", "nn.GELU()"))
    second = bench("run", "--grid", "mine.toml", "--results", "res", cwd=example)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "2 already finished, skipped; 1 to run" in second.stdout
    assert "1 finished record(s) were built by an earlier version of mylab.gate" in second.stdout
    after = records(example / "res")
    assert len(after) == 4
    gates = [r for r in after if r["spec"]["attention"] == "my_gate"]
    assert len({r["run_id"] for r in gates}) == 2 and len({r["label"] for r in gates}) == 2

    report = bench("report", "--study", "mine", "--results", "res", "--reports", "rep", cwd=example)
    assert report.returncode == 0, report.stderr
    text = (example / "rep" / "mine.md").read_text()
    for record in after:  # the old code's row is apart from the new one, never pooled
        assert record["label"] in text

    # the user's rows under the SE paper's placement table (Table 14)
    args = ("report", "--paper", "se", "--study", "mine", "--results", "res", "--reports", "se")
    layout = bench(*args, "--table", "table14", cwd=example)
    assert layout.returncode == 0, layout.stderr
    text = (example / "se" / "mine.md").read_text()
    assert "SE-Identity" in text and re.search(r"\| yours: resnet20 +\|", text)
    assert "configurations pooled" not in text
    for record in after:
        if record["spec"]["attention"] != "none":
            assert f"yours: {record['label']}" in text
    assert "other data, another backbone" in text
    # a table whose axis (DAS's alpha) none of the study's modules has: one line says so
    args = ("report", "--paper", "das", "--table", "alpha", "--study", "mine", "--results", "res")
    unmatched = bench(*args, "--reports", "das", cwd=example)
    assert unmatched.returncode == 0, unmatched.stderr
    assert "hyper-parameter 'alpha'" in unmatched.stderr


BROKEN = {  # breach -> (decorator, hyper-parameters, words of the error)
    "keyword": (
        '@ATTENTIONS.register("bad_gate", default_placment="block")\n',
        "width: int = 4",
        ("unknown registration keyword 'default_placment'", "did you mean 'default_placement'"),
    ),
    "no_default": (
        '@ATTENTIONS.register("bad_gate")\n',
        "width: int",
        ("hyper-parameter 'width' has no default",),
    ),
}


def write_broken(tmp_path: Path, decorator: str, init: str = "width: int = 4") -> None:
    """``badlab/gate.py``: a module that halves the channels, registered by ``decorator``, and
    ``bad.toml``, a grid that names it."""
    (tmp_path / "badlab").mkdir()
    (tmp_path / "badlab" / "__init__.py").write_text("")
    (tmp_path / "badlab" / "gate.py").write_text(
        "from torch import nn\nfrom registry import ATTENTIONS\n\n\n"
        f"{decorator}class BadGate(nn.Module):\n"
        f"    def __init__(self, channels: int, {init}) -> None:\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(channels, channels // 2, 1)\n\n"
        "    def forward(self, x):\n"
        "        return self.conv(x)\n"
    )
    (tmp_path / "bad.toml").write_text(
        '[study]\nname = "bad"\nplugins = ["badlab.gate"]\n[data]\ntrain_size = 64\n'
        'val_size = 32\n[train]\nepochs = 1\n[grid]\nbackbone = "resnet20"\n'
        'attention = ["bad_gate"]\n'
    )


@pytest.mark.parametrize("breach", sorted(BROKEN))
def test_a_broken_registration_is_one_line_in_every_command(tmp_path, breach):
    decorator, init, words = BROKEN[breach]
    write_broken(tmp_path, decorator, init)
    for args, plugins in (
        (("list",), "badlab.gate"),
        (("describe", "--backbone", "resnet20", "--attention", "bad_gate"), "badlab.gate"),
        (("describe", "--grid", "bad.toml"), None),
        (("run", "--grid", "bad.toml", "--results", "res"), None),
    ):
        one_line_error(bench(*args, cwd=tmp_path, plugins=plugins), "badlab.gate", *words)


def test_a_wrong_output_shape_is_one_line_before_training(tmp_path):
    write_broken(tmp_path, '@ATTENTIONS.register("bad_gate")\n')
    words = ("must return its input's shape", "(2, 8, 32, 32)")
    one_line_error(bench("run", "--grid", "bad.toml", "--results", "res", cwd=tmp_path), *words)
    assert not (tmp_path / "res" / "bad").exists() or not list((tmp_path / "res").rglob("*.json"))
    one_line_error(bench("describe", "--grid", "bad.toml", cwd=tmp_path), "must return")
    args = ("describe", "--backbone", "resnet20", "--attention", "bad_gate")
    one_line_error(bench(*args, cwd=tmp_path, plugins="badlab.gate"), "must return")


def test_an_unknown_attention_points_at_plugins(tmp_path):
    (tmp_path / "g.toml").write_text(
        '[study]\nname = "g"\n[grid]\nbackbone = "resnet20"\nattention = ["my_gate"]\n'
    )
    one_line_error(
        bench("run", "--grid", "g.toml", "--dry-run", cwd=tmp_path),
        "unknown attention 'my_gate'",
        "[study] plugins",
        "BENCH_PLUGINS",
    )
    (tmp_path / "g.toml").write_text('[study]\nname = "g"\nplugins = ["nolab.gate"]\n')
    one_line_error(
        bench("run", "--grid", "g.toml", cwd=tmp_path), "cannot import plugin 'nolab.gate'"
    )
