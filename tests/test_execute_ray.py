"""The Ray executor on a local 2-CPU cluster: a good run, a run that raises, a worker that dies."""

from __future__ import annotations

import pytest
from rich.console import Console

from bench.store import read_record, record_path
from tests import fault_plugins
from tests.conftest import REPO
from tests.execute_helpers import tiny_grid

ray = pytest.importorskip("ray")


@pytest.fixture
def local_ray(monkeypatch):
    """A local Ray with 2 CPUs; workers find the repository and load the fault plugins."""
    monkeypatch.setenv("BENCH_PLUGINS", "tests.fault_plugins")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"BENCH_PLUGINS": "tests.fault_plugins", "OMP_NUM_THREADS": "1"}},
    )
    yield
    ray.shutdown()


def test_ray_executor_records_results_and_failures(tmp_path, local_ray):
    from bench.execute.ray import run_ray

    with fault_plugins.registered():
        grid = tiny_grid(["none", "fault_raise_epoch2", "fault_kill"], study="ray")
    by_attention = {s.attention: s for s in grid.specs}
    outcome = run_ray(grid.specs, tmp_path, Console(quiet=True))
    assert outcome.statuses == {
        by_attention["none"].run_id: "done",
        by_attention["fault_raise_epoch2"].run_id: "failed",
        by_attention["fault_kill"].run_id: "failed",
    }
    done = read_record(record_path(tmp_path, "ray", by_attention["none"].run_id))
    assert len(done["curves"]) == 2 and done["environment"]["device"] == "cpu"
    raised = record_path(tmp_path, "ray", by_attention["fault_raise_epoch2"].run_id)
    assert "injected fault at epoch 2" in raised.with_suffix(".log").read_text()
    killed = read_record(record_path(tmp_path, "ray", by_attention["fault_kill"].run_id))
    assert killed["error"].startswith("ray task failed:")
