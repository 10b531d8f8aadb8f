"""A run trains only from its own checkpoints: a `checkpoint.directory` holding another run's is refused.

Without this, a new run pointed at another run's folder would resume from that run's weights, then
save over its steps and let `checkpoint.keep` delete them, while the other run's status still names
them. Each step's metadata records the run id that saved it (trainer._meta).
"""

from __future__ import annotations

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import Status


class CheckpointOwnerError(ValueError):
    """checkpoint.directory holds checkpoints this run did not save; the message says what to do."""


def check_owner(checkpoints: CheckpointStore, step: int, store: RunStore) -> None:
    """Refuse (CheckpointOwnerError) when step `step` in the configured checkpoint directory was saved by
    another run, or, for a step saved before run ids were recorded, when this run never saved one."""
    owner = checkpoints.read_meta(step).get("run_id")
    if owner == store.run_id:
        return
    saved_here = store.read_status().get(Status.LAST_CHECKPOINT_STEP) is not None
    if owner is None and saved_here:
        return  # an older run resuming its own folder
    whose = f"run {owner!r}" if owner else "another run"
    raise CheckpointOwnerError(
        f"checkpoint.directory {checkpoints.manager.directory} already holds checkpoints of {whose} (latest "
        f"step {step}); this run would resume from them and then replace them. Set checkpoint.directory to an "
        f"empty folder (or leave it empty for the run's own checkpoints/), or continue that run with "
        f"gemma-jax train --resume RUN_DIR."
    )
