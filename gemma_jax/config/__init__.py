"""The job config: one frozen dataclass tree, its YAML round trip, overrides and validation."""

from gemma_jax.config.errors import ConfigError
from gemma_jax.config.io import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    config_to_yaml,
    load_config,
    save_config,
)
from gemma_jax.config.job_config import (
    AugmentConfig,
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    JobConfig,
    MeshConfig,
    MethodConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
)
from gemma_jax.config.mesh import resolve_mesh_shape
from gemma_jax.config.validate import CHOICES, LORA_TARGETS, check, validate

__all__ = [
    "CHOICES",
    "LORA_TARGETS",
    "AugmentConfig",
    "CheckpointConfig",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "JobConfig",
    "MeshConfig",
    "MethodConfig",
    "ModelConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "apply_overrides",
    "check",
    "config_from_dict",
    "config_to_dict",
    "config_to_yaml",
    "load_config",
    "resolve_mesh_shape",
    "save_config",
    "validate",
]
