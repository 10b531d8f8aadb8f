"""A run's model with both weight sets at hand: the base it started from and a checkpoint's.

Built the way the training process builds it (config.yaml, tokenizer, seed,
LoRA/QLoRA setup), so the same compiled evaluation step scores either weight set.
"""

from __future__ import annotations

from dataclasses import dataclass

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.config.job_config import JobConfig
from gemma_jax.jobs.progress import ProgressReporter, silent
from gemma_jax.models.loading import ModelLoadError
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.run_model import build_run_training, open_run
from gemma_jax.train.setup import TrainingSetup
from gemma_jax.train.trainer import checkpoint_directory


@dataclass
class Weights:
    trainable: list
    frozen: list


@dataclass
class RunCheckpoint:
    store: RunStore
    config: JobConfig
    setup: TrainingSetup
    step: int
    base: Weights
    tuned: Weights

    @property
    def model(self):
        return self.setup.model

    def use(self, weights: Weights) -> None:
        """Put `weights` into the Keras model (for generation)."""
        self.setup.write_back(weights.trainable)
        for variable, value in zip(self.setup.decoder.non_trainable_variables, weights.frozen):
            variable.assign(value)


def latest_or(checkpoints: CheckpointStore, run_dir: str, step: int | None) -> int:
    """`step` if the run has it, else its latest; a clear ModelLoadError when there is none."""
    steps = checkpoints.all_steps()
    if step is None:
        if not steps:
            raise ModelLoadError(f"run {run_dir} has no checkpoint yet; wait for its first save")
        return max(steps)
    if step not in steps:
        raise ModelLoadError(f"run {run_dir} has no checkpoint at step {step}; it has {sorted(steps)}")
    return step


def load_run_checkpoint(run_dir: str, step: int | None = None, progress: ProgressReporter = silent) -> RunCheckpoint:
    """The run's model with its base weights and those of checkpoint `step` (default latest)."""
    store, cfg = open_run(run_dir)
    checkpoints = CheckpointStore(checkpoint_directory(cfg, store), cfg.checkpoint)
    try:
        step = latest_or(checkpoints, run_dir, step)
        progress("loading the model", detail=cfg.model.source)
        setup = build_run_training(store, cfg)
        initial = setup.initial_state()
        progress("restoring the checkpoint", detail=f"step {step}")
        trainable, _, frozen, _, _ = checkpoints.restore(step, initial)
    finally:
        checkpoints.close()
    base = Weights(initial.trainable, initial.frozen)
    return RunCheckpoint(
        store, cfg, setup, step, base, Weights(trainable, initial.frozen if frozen is None else frozen)
    )
