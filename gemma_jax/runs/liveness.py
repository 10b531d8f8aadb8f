"""Is the process a run's status.json names still alive?

A training process killed by the OOM killer or a power cut cannot write "failed";
readers detect it here instead, so the UI never shows a dead run as running forever.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import psutil

from gemma_jax.runs.schema import LIVE_STATES, Status


def process_start_time(pid: int) -> float | None:
    """The process's creation time (epoch seconds), or None when it is gone or unreadable."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError, ValueError):
        return None


def process_alive(pid: int, start_time: float | None = None) -> bool:
    """True when `pid` runs and, if `start_time` is given, is the same process (not a reused pid)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if start_time is not None and abs(proc.create_time() - float(start_time)) > 1.0:
            return False
    except psutil.NoSuchProcess:
        return False
    except (psutil.AccessDenied, OSError, ValueError, TypeError):
        return True  # it exists but cannot be inspected: do not call it dead
    return True


def dead_run_error(status: Mapping[str, Any]) -> str | None:
    """The error to show when a running/paused run's process is gone, else None.

    Runs on another host (status "host" differs from this machine) cannot be checked
    from here and are left as they are.
    """
    if status.get(Status.STATE) not in LIVE_STATES:
        return None
    pid = status.get(Status.PID)
    if isinstance(pid, bool) or not isinstance(pid, int):
        return None
    host = status.get(Status.HOST)
    if host and host != socket.gethostname():
        return None
    start = status.get(Status.PID_STARTED)
    if process_alive(pid, start if isinstance(start, (int, float)) else None):
        return None
    return f"process {pid} exited without finishing"
