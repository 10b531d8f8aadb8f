"""Training jobs for the dashboard: a queue of separate processes, stopped gracefully, found again
after a restart (see runner.py)."""

from gemma_jax.jobs.errors import JobError
from gemma_jax.jobs.runner import JobRunner

__all__ = ["JobError", "JobRunner"]
