"""The Vertex AI jobs submitted from a workspace (`gemma-jax vertex submit`), with their state now.

The list is RUNS_DIR/vertex_jobs.jsonl; each job's state is asked of Vertex AI in a background
thread at most every POLL_S seconds (one short HTTP call per job), never on the server's thread.
Jobs that have ended are not asked again. No Panel import.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import param

POLL_S = 30.0
ENDED = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


def job_row(record: dict, state: dict | None) -> dict[str, str]:
    """One table row: the job's short id, machine, state (and error), checkpoints URL."""
    state = state or {}
    shown = str(state.get("state") or record.get("state") or "unknown").removeprefix("JOB_STATE_").lower()
    if state.get("error"):
        shown += f": {state['error']}"
    return {
        "job": str(record.get("display_name") or record.get("name", "?")),
        "machine": str(record.get("machine", "")),
        "state": shown,
        "checkpoints": str(record.get("checkpoints", "")),
        "name": str(record.get("name", "")),
    }


class VertexJobsState(param.Parameterized):
    rows = param.List(default=[], doc="one dict per submitted job, newest first")

    def __init__(self, runs_dir: str | Path, **params) -> None:
        super().__init__(**params)
        self.runs_dir = Path(runs_dir)
        self._states: dict[str, dict] = {}
        self._polled_at = 0.0
        self._thread: threading.Thread | None = None

    def refresh(self, now: float | None = None) -> None:
        """Re-read the list; start a poll of the unfinished jobs' states when one is due."""
        from gemma_jax.vertex.client import submitted_jobs

        records = submitted_jobs(self.runs_dir)
        rows = [job_row(r, self._states.get(r.get("name", ""))) for r in reversed(records)]
        if rows != self.rows:
            self.rows = rows
        now = time.monotonic() if now is None else now
        busy = self._thread is not None and self._thread.is_alive()
        if records and not busy and now - self._polled_at >= POLL_S:
            self._polled_at = now
            names = [r["name"] for r in records if self._states.get(r.get("name"), {}).get("state") not in ENDED]
            self._thread = threading.Thread(target=self._poll, args=(names,), name="gj-vertex", daemon=True)
            self._thread.start()

    def _poll(self, names: list[str]) -> None:
        from gemma_jax.vertex.client import VertexError, job_state

        for name in names:
            try:
                self._states[name] = job_state(name)
            except VertexError as error:
                self._states[name] = {"state": "unknown", "error": str(error)[:200]}
