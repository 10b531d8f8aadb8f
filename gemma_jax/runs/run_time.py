"""How long a run has been running: the sum of its running stretches, not the wall time since it began.

A run paused for an hour, or stopped on Friday and resumed on Monday, has not trained in between.
status.json keeps `run_seconds` (the stretches that ended) and `running_since` (when the current one
began). A stretch ends when the run leaves "running" (paused, completed, failed, stopped), or, for a
process killed without a word, at its last sign of life (`updated`) when a new process takes over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gemma_jax.runs.schema import State, Status


def parse_time(text: Any) -> float | None:
    """Seconds since the epoch of an ISO time from status.json, or None when absent or unreadable."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None


def account_running_time(before: dict[str, Any], after: dict[str, Any], stamp: str) -> None:
    """Set `after`'s run_seconds and running_since for an update from `before` to `after` at `stamp`."""
    total = before.get(Status.RUN_SECONDS)
    total = float(total) if isinstance(total, (int, float)) and not isinstance(total, bool) else 0.0
    since = parse_time(before.get(Status.RUNNING_SINCE))
    new_process = after.get(Status.PID) != before.get(Status.PID)
    if since is not None and (new_process or after.get(Status.STATE) != State.RUNNING):
        last_seen = parse_time(before.get(Status.UPDATED)) if new_process else parse_time(stamp)
        total += max((last_seen or since) - since, 0.0)
        since = None
    after[Status.RUN_SECONDS] = round(total, 3)
    if after.get(Status.STATE) == State.RUNNING:
        after[Status.RUNNING_SINCE] = before.get(Status.RUNNING_SINCE) if since is not None else stamp
    else:
        after[Status.RUNNING_SINCE] = None


def running_seconds(status: dict[str, Any], now: float) -> float | None:
    """Seconds spent running up to `now` (up to `updated` for a run no longer running); None if unknown.
    Runs written before run_seconds existed count from `started` to their last update."""
    if Status.RUN_SECONDS not in status:
        started, updated = parse_time(status.get(Status.STARTED)), parse_time(status.get(Status.UPDATED))
        end = now if status.get(Status.STATE) == State.RUNNING else updated
        return end - started if started is not None and end is not None else None
    total = status.get(Status.RUN_SECONDS)
    total = float(total) if isinstance(total, (int, float)) and not isinstance(total, bool) else 0.0
    since = parse_time(status.get(Status.RUNNING_SINCE))
    if since is not None:
        end = now if status.get(Status.STATE) == State.RUNNING else parse_time(status.get(Status.UPDATED))
        total += max((end or since) - since, 0.0)
    return total
