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
from gemma_jax.models.registry import shape_for_source


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
    if not problems:
        problems = rank_problems(cfg)
    if available_memory is not None and not problems:  # estimates need well-formed values
        problems = memory_problems(cfg, available_memory, platform=memory_platform, devices=device_count or 1)
    return problems


def rank_problems(cfg: JobConfig) -> list[str]:
    """A LoRA rank above the model's hidden size, for a model whose shape is known before loading: a factor
    cannot have more rank than its projection's smaller side, and the factors would dwarf the model."""
    if cfg.method.kind == "full" or not isinstance(cfg.model.source, str):
        return []
    shape = shape_for_source(cfg.model.source)
    if shape is None or cfg.method.lora_rank <= shape.hidden_dim:
        return []
    message = (
        f"method.lora_rank {cfg.method.lora_rank} is larger than the model's hidden size {shape.hidden_dim}: a LoRA "
        "factor cannot hold more rank than that; typical values are 4 to 64"
    )
    return [message]


def preflight_check(cfg: JobConfig, **kwargs) -> JobConfig:
    """preflight_problems(), raising ConfigError with every problem; returns `cfg`."""
    problems = preflight_problems(cfg, **kwargs)
    if problems:
        raise ConfigError(problems)
    return cfg
