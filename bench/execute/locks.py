"""One lock per run id, so two ``bench run`` processes on the same study never train the same cell.

The lock is an ``fcntl.flock`` on ``<results>/<study>/.locks/<run_id>.lock``, taken without
blocking: a run whose lock is held is skipped with "running elsewhere". The operating system drops
the lock when the last process holding the file closes it or dies, so a driver killed with SIGKILL
leaves no stale lock behind. A subprocess worker inherits the driver's descriptor, which keeps the
run locked for as long as either of them is alive.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from bench.spec import RunSpec
from bench.store import FINAL_STATUSES, RunFiles, read_record, record_path


@dataclass
class RunLock:
    """A held lock; ``fd`` is the open lock file (pass it to a subprocess to share the lock)."""

    path: Path
    fd: int

    def release(self) -> None:
        """Drop the lock (closing the file releases it; the file itself stays, harmlessly)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def lock_path(results: Path, study: str, run_id: str) -> Path:
    """Where the lock file of ``run_id`` lives."""
    return RunFiles(results, study, run_id).lock


def try_lock(results: Path, study: str, run_id: str) -> RunLock | None:
    """Take the lock of ``run_id`` without waiting; ``None`` when another process holds it."""
    path = lock_path(results, study, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return RunLock(path, fd)


def record_stamp(results: Path, spec: RunSpec) -> tuple[int, int] | None:
    """Identity of the record file as it is now (inode, mtime): a rewrite changes it."""
    try:
        stat = record_path(results, spec.study, spec.run_id).stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def claim(
    spec: RunSpec, results: Path, seen: tuple[int, int] | None
) -> tuple[RunLock | None, str | None]:
    """Lock ``spec`` for this process, or say why not.

    Args:
        seen: ``record_stamp`` when the run was planned; a record written since then means another
            process ran the cell between planning and locking.

    Returns:
        ``(lock, None)`` when this process should run it, else ``(None, reason)``.
    """
    lock = try_lock(results, spec.study, spec.run_id)
    if lock is None:
        return None, "running elsewhere"
    if record_stamp(results, spec) != seen:
        record = read_record(record_path(results, spec.study, spec.run_id)) or {}
        if record.get("status") in (*FINAL_STATUSES, "failed"):
            lock.release()
            return None, f"finished elsewhere ({record['status']})"
    return lock, None
