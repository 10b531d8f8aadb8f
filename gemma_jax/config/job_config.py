"""The one config type shared by the CLI, the dashboard, notebooks and the engine.

Every section is a frozen dataclass so a config can be hashed, compared and
passed between processes as YAML without surprises. Defaults describe a run
that works on a laptop CPU with the packaged example data. Each field describes
itself (help, choices, bounds, wizard place) through `setting(...)`: see field_spec.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from gemma_jax.config.data_config import AugmentConfig, DataConfig
from gemma_jax.config.field_spec import setting
from gemma_jax.config.model_config import MethodConfig, ModelConfig
from gemma_jax.config.training_config import (
    CheckpointConfig,
    EvalConfig,
    MeshConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
)

__all__ = [
    "AugmentConfig",
    "CheckpointConfig",
    "DataConfig",
    "EvalConfig",
    "JobConfig",
    "MeshConfig",
    "MethodConfig",
    "ModelConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "TrainConfig",
]


@dataclass(frozen=True)
class JobConfig:
    """A whole fine-tuning job: the contract between UI, CLI, notebooks and engine."""

    name: str = setting(
        "run",
        "A short name for the run; it starts the run's folder name and is how the Runs page lists it. Letters, "
        "digits, '-' and '_'.",
        label="Run name",
    )
    runs_dir: str = setting("runs", "The folder on this machine that holds the run directories.", names_a_path=True)
    data: DataConfig = setting(factory=DataConfig, help="Where the examples come from.")
    model: ModelConfig = setting(factory=ModelConfig, help="Which Gemma to start from.")
    method: MethodConfig = setting(factory=MethodConfig, help="How the model learns.")
    optimizer: OptimizerConfig = setting(factory=OptimizerConfig, help="The weight update rule.")
    schedule: ScheduleConfig = setting(factory=ScheduleConfig, help="The learning-rate curve.")
    train: TrainConfig = setting(factory=TrainConfig, help="Batches and run length.")
    mesh: MeshConfig = setting(factory=MeshConfig, help="How devices split the work.")
    checkpoint: CheckpointConfig = setting(factory=CheckpointConfig, help="Saving the training state.")
    eval: EvalConfig = setting(factory=EvalConfig, help="Evaluation and samples.")
