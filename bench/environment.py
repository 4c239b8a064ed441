"""Where a number was measured: device, library versions, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` -> the first CUDA GPU when there is one, else the CPU; a CUDA one becomes current.

    Raises:
        BenchError: a device this machine does not have, or a name torch does not know.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BenchError(
            f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type not in ("cpu", "cuda"):
        raise BenchError(f"--device {name!r}: attnbench runs on cpu or cuda; use auto, cpu or cuda")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise BenchError(
                f"--device {name}: this machine has no CUDA GPU; use --device cpu or auto"
            )
        if device.index is not None and device.index >= count:
            raise BenchError(
                f"--device {name}: only {count} CUDA GPU(s) here (cuda:0..{count - 1})"
            )
        # current device = this one: default streams, CUDA events and bare "cuda" tensors land here
        torch.cuda.set_device(device)
    return device


def describe_environment(device: torch.device) -> dict[str, Any]:
    """Versions, device name, thread count and git commit, for every record."""
    cuda = device.type == "cuda"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else _cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "hostname": platform.node(),
        "commit": _git_commit(),
    }


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=os.path.dirname(__file__),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
