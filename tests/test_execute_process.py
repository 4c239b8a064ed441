"""The process executor: GPU assignment (no GPU needed), run locks, 2 workers, injected faults."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from rich.console import Console

from bench.execute.common import plan
from bench.execute.inline import run_inline
from bench.execute.locks import claim, lock_path, try_lock
from bench.execute.process import GpuSlots, run_processes, visible_gpus, worker_env
from bench.store import read_record, record_path
from tests import fault_plugins
from tests.conftest import REPO, golden_record, write_golden
from tests.execute_helpers import tiny_grid


def quiet() -> Console:
    return Console(quiet=True)


@pytest.fixture
def fault_modules():
    """The fault-injection attention modules, registered in this process for one test."""
    with fault_plugins.registered() as modules:
        yield modules


# --- GPU assignment: round-robin over CUDA_VISIBLE_DEVICES, K runs per GPU ---


def test_slots_spread_over_gpus_before_packing():
    slots = GpuSlots(["0", "1", "2"], per_gpu=2)
    assert slots.capacity == 6
    taken = [slots.acquire() for _ in range(6)]
    assert taken == ["0", "1", "2", "0", "1", "2"]
    assert slots.acquire() is None  # every GPU holds 2 runs
    slots.release("1")
    assert slots.acquire() == "1"


def test_slots_refill_the_least_loaded_gpu():
    slots = GpuSlots(["0", "1"], per_gpu=3)
    for _ in range(4):
        slots.acquire()  # 0, 1, 0, 1
    slots.release("0")
    slots.release("0")
    assert slots.used == {"0": 0, "1": 2}
    assert [slots.acquire(), slots.acquire()] == ["0", "0"]


def test_slots_reject_zero_per_gpu():
    with pytest.raises(Exception, match="per-gpu"):
        GpuSlots(["0"], per_gpu=0)


def test_visible_gpus_honours_the_drivers_mask():
    cuda = torch.device("cuda")
    assert visible_gpus(cuda, {"CUDA_VISIBLE_DEVICES": "3,5"}) == ["3", "5"]
    assert visible_gpus(torch.device("cuda:1"), {"CUDA_VISIBLE_DEVICES": "3,5"}) == ["5"]
    assert visible_gpus(cuda, {"CUDA_VISIBLE_DEVICES": "GPU-ab12"}) == ["GPU-ab12"]
    assert visible_gpus(torch.device("cpu"), {"CUDA_VISIBLE_DEVICES": "0"}) == []


def test_worker_env_pins_one_gpu_and_a_thread_share():
    env = worker_env("5", threads=4, base={"PATH": "/bin"})
    assert env["CUDA_VISIBLE_DEVICES"] == "5" and env["OMP_NUM_THREADS"] == "4"
    assert env["BENCH_DRIVER_PID"].isdigit()
    cpu = worker_env(None, threads=2, base={"OMP_NUM_THREADS": "1"})
    assert "CUDA_VISIBLE_DEVICES" not in cpu and cpu["OMP_NUM_THREADS"] == "1"  # user's choice wins


# --- locks: one process per run id ---------------------------------------------------------------


def test_lock_is_exclusive_and_dies_with_its_process(tmp_path):
    held = try_lock(tmp_path, "s", "abc")
    assert held is not None and try_lock(tmp_path, "s", "abc") is None
    held.release()
    # a process that takes the lock and is then killed with SIGKILL leaves it free
    path = lock_path(tmp_path, "s", "abc")
    code = (
        "import fcntl, os, signal, sys; fd = os.open(sys.argv[1], os.O_RDWR);"
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); signal.pause()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "locked"
    assert try_lock(tmp_path, "s", "abc") is None
    child.kill()
    child.wait()
    assert try_lock(tmp_path, "s", "abc") is not None


def test_a_locked_run_is_skipped_as_running_elsewhere(tmp_path):
    grid = tiny_grid(["none"], study="locked")
    spec = grid.specs[0]
    other = try_lock(tmp_path, spec.study, spec.run_id)  # another `bench run` holds it
    console = Console(record=True, width=200)
    outcome = run_inline(grid.specs, tmp_path, torch.device("cpu"), console)
    assert outcome.statuses == {spec.run_id: "skipped"}
    assert "running elsewhere" in console.export_text()
    assert read_record(record_path(tmp_path, spec.study, spec.run_id)) is None
    other.release()


def test_a_run_finished_by_another_process_after_planning_is_not_redone(tmp_path):
    record = golden_record("late", "none", 0, 50.0)
    spec = tiny_grid(["none"], study="late").specs[0]
    record["run_id"] = spec.run_id
    write_golden(tmp_path, [record])  # written after this process planned (seen = no record)
    lock, reason = claim(spec, tmp_path, None)
    assert lock is None and reason == "finished elsewhere (done)"


# --- the executor itself: 2 workers, a run that raises, a worker that is killed ---


def test_process_executor_two_workers_with_faults(tmp_path, monkeypatch, fault_modules):
    monkeypatch.setenv("BENCH_PLUGINS", "tests.fault_plugins")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    # two failing runs side by side (the done path of workers is in test_execute_kill)
    grid = tiny_grid(["fault_raise_epoch2", "fault_kill"])
    by_attention = {s.attention: s for s in grid.specs}
    outcome = run_processes(grid.specs, tmp_path, torch.device("cpu"), quiet(), workers=2)

    assert outcome.statuses == {
        by_attention["fault_raise_epoch2"].run_id: "failed",
        by_attention["fault_kill"].run_id: "failed",
    }
    folder = tmp_path / "faults"
    records = {
        s: read_record(record_path(tmp_path, "faults", by_attention[s].run_id))
        for s in by_attention
    }
    # the run that raised: its worker wrote the record and the traceback next to it
    raised = records["fault_raise_epoch2"]
    assert raised["error"] == "RuntimeError: injected fault at epoch 2"
    log = (folder / f"{raised['run_id']}.log").read_text()
    assert "Traceback" in log and "injected fault at epoch 2" in log
    # the killed worker wrote nothing: the driver did, with the signal
    killed = records["fault_kill"]
    assert killed["status"] == "failed" and "SIGKILL" in killed["error"]
    assert (folder / f"{killed['run_id']}.log").exists()
    assert not list(folder.glob(".*.tmp"))  # no half-written record
    # every lock was released
    for spec in grid.specs:
        lock = try_lock(tmp_path, spec.study, spec.run_id)
        assert lock is not None
        lock.release()
    # --retry-failed plans exactly the two failures again; without it, nothing
    assert plan(grid, tmp_path).todo == []
    retry = plan(grid, tmp_path, retry_failed=True).todo
    assert {s.attention for s in retry} == {"fault_raise_epoch2", "fault_kill"}
