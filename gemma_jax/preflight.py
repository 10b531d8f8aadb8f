"""Everything checked before a job starts: the config's own rules, then whether it fits in memory.

The config rules (gemma_jax.config.validate) know nothing of models; the memory check needs
the model's shape (gemma_jax.models.memory_check). This module sits above both, so the
config package does not depend on models. The CLI and the wizard's Review page call it.
"""

from __future__ import annotations

from gemma_jax.config.errors import ConfigError
from gemma_jax.config.job_config import JobConfig
from gemma_jax.config.validate import validate
from gemma_jax.models.memory_check import memory_problems


def preflight_problems(
    cfg: JobConfig,
    *,
    device_count: int | None = None,
    model_context_length: int | None = None,
    available_memory: int | None = None,
    memory_platform: str = "cpu",
) -> list[str]:
    """validate()'s problems; when there are none and `available_memory` is given (bytes; per device on
    "gpu"/"tpu" memory_platform, the host's on "cpu"), whether the job's estimated peak fits, for models
    whose shape is known before loading (registry names, tiny:/random:, local preset directories)."""
    problems = validate(cfg, device_count=device_count, model_context_length=model_context_length)
    if available_memory is not None and not problems:  # estimates need well-formed values
        problems = memory_problems(cfg, available_memory, platform=memory_platform, devices=device_count or 1)
    return problems


def preflight_check(cfg: JobConfig, **kwargs) -> JobConfig:
    """preflight_problems(), raising ConfigError with every problem; returns `cfg`."""
    problems = preflight_problems(cfg, **kwargs)
    if problems:
        raise ConfigError(problems)
    return cfg
