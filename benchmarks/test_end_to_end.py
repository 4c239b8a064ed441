"""The whole ``bench run`` of a small grid against a bare script that trains the same models for the
same steps (``bare_train.py``), both as fresh processes, startup included.

``bench run`` also plans the grid, builds every architecture on the meta device first, validates
every epoch, measures (GMACs, latency, Grad-CAM saliency) and writes a record per run. The benchmark
reports the throughput ratio (bare seconds / bench seconds) and where bench's extra time goes, from
the records' own timings: training (the epochs' seconds), each measurement, the rest of each run
(data loading, model build), and what lies outside the runs (imports, planning, writing, summary).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ATTENTIONS = ("none", "se")
EPOCHS, BATCH, TRAIN, VAL = 1, 64, 1024, 256
GRID = f"""
[study]
name = "end-to-end"
[data]
name = "shapes"
image_size = 32
train_size = {TRAIN}
val_size = {VAL}
[train]
epochs = {EPOCHS}
batch_size = {BATCH}
[grid]
backbone = "resnet20"
attention = {list(ATTENTIONS)}
"""


def _seconds(*command: str) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - start


def test_bench_run_vs_bare_script(benchmark, tmp_path):
    grid = tmp_path / "end-to-end.toml"
    grid.write_text(GRID)
    results = tmp_path / "results"
    bench_cmd = [sys.executable, "-m", "bench", "run", "--grid", str(grid), "--results"]
    bare_cmd = [sys.executable, "benchmarks/bare_train.py", *ATTENTIONS, "--epochs", str(EPOCHS)]
    bare_cmd += ["--batch", str(BATCH), "--train", str(TRAIN), "--val", str(VAL)]
    times: dict[str, list[float]] = {"bench": [], "bare": []}

    def pair() -> None:
        run_dir = results / str(len(times["bench"]))  # a fresh study folder: nothing is skipped
        times["bench"].append(_seconds(*bench_cmd, str(run_dir)))
        times["bare"].append(_seconds(*bare_cmd))

    benchmark.group = "end to end"
    benchmark.pedantic(pair, rounds=3, warmup_rounds=0)
    records = [json.loads(p.read_text()) for p in (results / "0" / "end-to-end").glob("*.json")]
    assert len(records) == len(ATTENTIONS), "bench run did not write one record per run"
    bench_s, bare_s = (min(times[k]) for k in ("bench", "bare"))
    train = sum(c["seconds"] for r in records for c in r["curves"])
    parts: dict[str, float] = {}
    for r in records:
        for name, s in r["measure_seconds_by_part"].items():
            parts[name] = parts.get(name, 0.0) + s
    in_runs = sum(r["wall_seconds"] for r in records)
    measure = sum(r["measure_seconds"] for r in records)
    benchmark.extra_info |= {
        "bench_seconds": bench_s,
        "bare_seconds": bare_s,
        "throughput_ratio": bare_s / bench_s,
        "bench_seconds_all": times["bench"],
        "bare_seconds_all": times["bare"],
        "train_seconds": train,
        "measure_seconds": parts,
        "rest_of_runs_seconds": in_runs - train - measure,
        "outside_runs_seconds": bench_s - in_runs,
    }


COMMANDS = {
    "help": ["--help"],
    "list": ["list"],
    "describe": ["describe", "--backbone", "resnet20", "--attention", "se"],
    "report": ["report", "--study", "fashion-clutter", "--format", "md", "--reports"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_command_startup(benchmark, command, tmp_path):
    """Wall time of a fresh ``python -m bench COMMAND`` (imports included)."""
    args = COMMANDS[command] + ([str(tmp_path)] if command == "report" else [])
    benchmark.group = "startup"
    benchmark.extra_info["command"] = " ".join(args)
    benchmark.pedantic(_seconds, args=(sys.executable, "-m", "bench", *args), rounds=3)
