"""A run trains only from its own checkpoints: a `checkpoint.directory` holding another run's is refused.

Without this, a new run pointed at another run's folder would resume from that run's weights, then
save over its steps and let `checkpoint.keep` delete them, while the other run's status still names
them. Each step's metadata records the run id that saved it (`checkpoint_meta`).
"""

from __future__ import annotations

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.config import JobConfig
from gemma_jax.models.lora import lora_metadata
from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import Status
from gemma_jax.train.early_stopping import EarlyStopping
from gemma_jax.train.setup import LORA_KINDS


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


def checkpoint_meta(
    config: JobConfig,
    run_id: str,
    step: int,
    best_eval_loss: float | None,
    learning_rate: float,
    early_stopping: EarlyStopping,
) -> dict:
    """What a checkpoint records beside the weights: whose it is, where training stood, the LoRA shape."""
    meta = {
        "run_id": run_id,  # whose checkpoints these are (check_owner)
        "step": step,
        "model_source": config.model.source,
        "method": config.method.kind,
        "best_eval_loss": best_eval_loss,
        "learning_rate": learning_rate,
        "early_stopping": early_stopping.state(),
    }
    method = config.method
    if method.kind in LORA_KINDS:
        meta["lora"] = lora_metadata(
            method.lora_rank, method.lora_alpha, method.lora_targets, quantization=method.base_quantization
        )
    return meta
