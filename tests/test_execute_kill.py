"""A driver stopped at any moment (SIGTERM, SIGKILL) loses nothing; a restart recomputes nothing."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.execute_helpers import grid_toml, run_bench, start_bench

RUNS = 4


def _records(folder: Path) -> dict[str, tuple[int, int]]:
    """run id -> (inode, mtime) of every record; each must parse (no half-written file)."""
    stamps = {}
    for path in folder.glob("*.json"):
        record = json.loads(path.read_text())
        assert record["status"] == "done", record
        stat = path.stat()
        stamps[record["run_id"]] = (stat.st_ino, stat.st_mtime_ns)
    return stamps


def _wait_for_records(folder: Path, count: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("*.json"))) < count:
        assert time.monotonic() < deadline, f"fewer than {count} records after {timeout} s"
        time.sleep(0.1)


def _workers_alive(results: Path) -> list[str]:
    """Command lines of live processes working on ``results`` (workers name it in their argv)."""
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "bench.execute.worker" in text and str(results) in text:
            alive.append(text)
    return alive


def test_driver_killed_mid_grid_then_restarted(tmp_path):
    (tmp_path / "g.toml").write_text(grid_toml(["none"], study="kill", epochs=1, seeds=range(RUNS)))
    folder = tmp_path / "results" / "kill"

    # 1. SIGTERM while runs are going: clean stop, exit 130, every finished record kept
    driver = start_bench("run", "--grid", "g.toml", "--executor", "inline", cwd=tmp_path)
    _wait_for_records(folder, 1)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err
    assert "interrupted; finished runs are saved" in err
    after_term = _records(folder)
    assert 1 <= len(after_term) < RUNS

    # 2. SIGKILL of a process-executor driver: its worker dies with it, nothing half-written
    driver = start_bench("run", "--grid", "g.toml", "--executor", "process", cwd=tmp_path)
    _wait_for_records(folder, len(after_term) + 1)
    driver.kill()
    driver.communicate(timeout=60)
    time.sleep(1.0)  # PR_SET_PDEATHSIG delivers SIGKILL to the worker as the driver dies
    assert _workers_alive((tmp_path / "results").resolve()) == []
    after_kill = _records(folder)
    assert {k: after_kill[k] for k in after_term} == after_term  # nothing rewritten
    assert not list(folder.glob(".*.tmp"))

    # 3. restart: only the missing runs train; the finished ones are untouched
    result = run_bench("run", "--grid", "g.toml", "--executor", "inline", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    done = len(after_kill)
    assert f"{done} already finished, skipped; {RUNS - done} to run" in result.stdout
    final = _records(folder)
    assert len(final) == RUNS
    assert {k: final[k] for k in after_kill} == after_kill
