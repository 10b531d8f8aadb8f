"""Run directories: creating them, reading and writing their files, and listing them."""

from gemma_jax.runs.events import ScalarWriter
from gemma_jax.runs.listing import RunSummary, format_runs_table, list_runs, summarize_run
from gemma_jax.runs.liveness import dead_run_error, process_alive
from gemma_jax.runs.run_store import ACTIONS, STATES, RunDirError, RunStore, is_run_dir, now_iso
from gemma_jax.runs.storage import storage_bytes

__all__ = [
    "ACTIONS",
    "STATES",
    "RunDirError",
    "RunStore",
    "RunSummary",
    "ScalarWriter",
    "dead_run_error",
    "format_runs_table",
    "is_run_dir",
    "list_runs",
    "now_iso",
    "process_alive",
    "storage_bytes",
    "summarize_run",
]
