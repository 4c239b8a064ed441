"""Bad input that fails outside the grid: plugins that raise anything on import, file-system
paths the system refuses, and SIGHUP. Each is one stderr line with the right exit status, no
traceback, nothing trained (the ``never_train`` guard) and nothing lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import _os_error
from tests.test_bad_input import (  # never_train: the autouse guard that nothing trains
    VALID,
    assert_rejected,
    grid_text,
    never_train,  # noqa: F401
    run_main,
)

PLUGINS = {
    "syntax error": ("def broken(:\n", "syntax"),
    "runtime error": ("raise RuntimeError('no GPU found')\n", "no GPU found"),
    "sys.exit": ("import sys\nsys.exit(3)\n", "sys.exit(3)"),
    "re-registers se": (
        "from torch import nn\nfrom registry import ATTENTIONS\n"
        "@ATTENTIONS.register('se')\nclass Mine(nn.Identity):\n    pass\n",
        "'se'",
    ),
}


@pytest.mark.parametrize("case", sorted(PLUGINS))
def test_a_plugin_that_fails_on_import_is_one_line(tmp_path, capsys, monkeypatch, case):
    source, word = PLUGINS[case]
    module = f"broken_plugin_{case.replace(' ', '_').replace('.', '_').replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("BENCH_PLUGINS", module)
    monkeypatch.delitem(sys.modules, module, raising=False)
    grid = tmp_path / "ok.toml"
    grid.write_text(grid_text(VALID))
    results = tmp_path / "results"
    code, err = run_main(["run", "--grid", str(grid), "--results", str(results)], capsys)
    sys.modules.pop(module, None)
    assert_rejected(code, err, word, results)
    assert module in err


def test_a_symlink_loop_as_results_is_one_line(tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    grid = tmp_path / "ok.toml"
    grid.write_text(grid_text(VALID))
    code, err = run_main(["run", "--grid", str(grid), "--results", str(loop)], capsys)
    assert_rejected(code, err, "leads nowhere", tmp_path / "none")


def test_a_refused_path_is_one_line_naming_it():
    err = OSError(36, "File name too long", "/r/" + "x" * 300)
    line = _os_error(err)
    assert "File name too long" in line and "\n" not in line and len(line) < 300


def test_sighup_stops_a_run_like_ctrl_c(tmp_path):
    """The driver handles SIGHUP (a closed terminal) as it handles Ctrl-C and SIGTERM: one
    line, exit 130, finished records kept."""
    script = (
        "import os, signal, sys, bench.run, bench.cli\n"
        "def hang(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGHUP)\n"
        "    raise AssertionError('the signal did not stop the run')\n"
        "bench.run.execute_run = hang\n"
        "import bench.execute.oom\n"
        "bench.execute.oom.execute_run = hang\n"
        "sys.exit(bench.cli.main(sys.argv[1:]))\n"
    )
    grid = tmp_path / "ok.toml"
    grid.write_text(grid_text(VALID))
    argv = ["run", "--grid", str(grid), "--results", str(tmp_path / "r"), "--executor", "inline"]
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[1],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines() == [
        "bench: interrupted; finished runs are saved, run the same command to go on"
    ]
