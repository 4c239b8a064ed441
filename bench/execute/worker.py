"""One run in its own process: ``python -m bench.execute.worker --results DIR --device DEV SPEC``.

The process executor starts one worker per run, so a CUDA error, an out-of-memory kill or a segfault
ends only that run. The worker writes the run's record itself (atomically, through ``finish_run``);
the driver reads it back. It talks to the driver through its output, one ``@bench`` line per event:
``@bench epoch {json}`` after each epoch, ``@bench error <message>`` for a user error that stops the
grid (exit status 2). Exit status 0 means a record was written, whatever its status.

On Linux the worker asks to be killed when the driver dies (``PR_SET_PDEATHSIG``): a driver killed
with SIGKILL leaves no orphan training on, and the run's lock is released with it.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bench.errors import BenchError

PREFIX = "@bench"
DRIVER_PID_ENV = "BENCH_DRIVER_PID"
PR_SET_PDEATHSIG = 1


def spec_payload(spec: Any) -> str:
    """A spec as JSON for a worker: the canonical form plus the fields the run id leaves out."""
    payload = spec.canonical()
    payload["data"] |= {"root": spec.data.root, "download": spec.data.download}
    payload["train"]["oom_backoff"] = spec.train.oom_backoff
    payload["measure"] = dataclasses.asdict(spec.measure)
    return json.dumps(payload)


def die_with_driver() -> None:
    """Be killed by SIGKILL when the driver process dies (Linux only; elsewhere a no-op)."""
    driver = os.environ.get(DRIVER_PID_ENV)
    if sys.platform != "linux" or driver is None:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(driver):  # the driver died before prctl took effect
        os._exit(137)


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> int:
    """Run one spec and store its record; see the module docstring for the protocol."""
    die_with_driver()
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(prog="python -m bench.execute.worker")
    parser.add_argument("--results", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("spec", help="the run spec as JSON (see spec_payload)")
    args = parser.parse_args(argv)

    # imported after the signal set-up: importing torch takes seconds
    from bench.environment import pick_device
    from bench.execute.common import finish_run
    from bench.execute.plugins import load_plugins
    from bench.spec import RunSpec

    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        print(f"{PREFIX} epoch {json.dumps(row)}", flush=True)

    try:
        load_plugins()
        spec = RunSpec.from_dict(json.loads(args.spec))
        finish_run(spec, Path(args.results), pick_device(args.device), on_epoch)
    except BenchError as err:
        print(f"{PREFIX} error {err}", flush=True)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
