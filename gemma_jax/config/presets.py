"""One-click presets: named partial configs for a task or a machine, applied over any JobConfig.

A preset only sets the keys it names, so a task preset and a hardware preset combine
(apply one, then the other). The dashboard's New-run wizard and
`gemma-jax init-config --preset NAME` use the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gemma_jax.config.convert import config_from_dict, config_to_dict
from gemma_jax.config.errors import ConfigError, did_you_mean
from gemma_jax.config.job_config import JobConfig

KINDS = ("starter", "task", "hardware")


@dataclass(frozen=True)
class Preset:
    """A named partial config; `changes` is nested like the YAML file (section -> key -> value)."""

    name: str
    kind: str  # task | hardware
    title: str
    description: str
    changes: Mapping[str, Any] = field(default_factory=dict)


_ALL_PROJECTIONS = ["query", "key", "value", "attention_output", "ffw_gating", "ffw_gating_2", "ffw_linear"]

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "quickstart",
            "starter",
            "Quick start",
            "The built-in pretrained Gemma 3 270M learns the packaged pirate Q&A set in about five minutes on a "
            "laptop CPU (the same job as configs/quickstart.yaml). The dashboard's New run starts here.",
            {
                "data": {"train_path": "example", "sequence_length": 128},
                "model": {"source": "gemma3_270m"},
                "method": {"kind": "lora", "lora_rank": 16, "lora_alpha": 32.0, "lora_targets": _ALL_PROJECTIONS},
                "optimizer": {"learning_rate": 0.001},
                "schedule": {"name": "cosine", "warmup_steps": 3},
                "train": {"batch_size": 8, "max_steps": 30},
                "eval": {
                    "every_steps": 15,
                    "max_batches": 2,
                    "sample_every_steps": 15,
                    "max_new_tokens": 24,
                    "sample_prompts": ["What is the capital of Norway?", "What is 9 plus 4?"],
                },
                "checkpoint": {"every_steps": 15},
            },
        ),
        Preset(
            "chat",
            "task",
            "Chat assistant",
            "Prompt/response or chat data; the model learns the replies only. LoRA on all attention projections.",
            {
                "data": {"loss_on": "response", "sequence_length": 512, "truncation": "keep_response"},
                "method": {"kind": "lora", "lora_rank": 16, "lora_alpha": 32.0, "lora_targets": _ALL_PROJECTIONS[:4]},
                "optimizer": {"learning_rate": 2e-4},
                "schedule": {"name": "cosine", "warmup_steps": 10, "min_lr_ratio": 0.1},
                "train": {"epochs": 3.0},
            },
        ),
        Preset(
            "classification",
            "task",
            "Classification",
            "A text column and a label column; validation split stratified by label so every class is seen.",
            {
                "data": {"shape": "classification", "sequence_length": 256, "split_by": "label"},
                "method": {"kind": "lora", "lora_rank": 8, "lora_alpha": 16.0, "lora_targets": ["query", "value"]},
                "optimizer": {"learning_rate": 1e-4},
                "schedule": {"name": "linear", "warmup_steps": 10},
                "train": {"epochs": 3.0},
            },
        ),
        Preset(
            "summarization",
            "task",
            "Summarization",
            "Long documents in, short summaries out: longer rows, and a cut keeps the summary, not the start.",
            {
                "data": {"shape": "prompt_response", "sequence_length": 1024, "truncation": "keep_response"},
                "method": {"kind": "lora", "lora_rank": 16, "lora_alpha": 32.0, "lora_targets": _ALL_PROJECTIONS[:4]},
                "optimizer": {"learning_rate": 1e-4},
                "schedule": {"name": "cosine", "warmup_steps": 20, "min_lr_ratio": 0.1},
                "train": {"epochs": 2.0},
            },
        ),
        Preset(
            "domain_adaptation",
            "task",
            "Domain adaptation",
            "Plain text from your field (continued pretraining): loss on every token, packed long rows, "
            "LoRA on every projection.",
            {
                "data": {"shape": "text", "loss_on": "all", "sequence_length": 1024, "packing": True},
                "method": {"kind": "lora", "lora_rank": 32, "lora_alpha": 32.0, "lora_targets": _ALL_PROJECTIONS},
                "optimizer": {"learning_rate": 1e-4, "weight_decay": 0.01},
                "schedule": {"name": "cosine", "warmup_steps": 50, "min_lr_ratio": 0.1},
                "train": {"epochs": 1.0},
            },
        ),
        Preset(
            "cpu",
            "hardware",
            "CPU (laptop)",
            "No accelerator: float32 compute (bfloat16 on CPUs with AMX or AVX512-BF16), small batches, one device.",
            {
                "model": {"dtype": "auto", "remat": False},
                "train": {"batch_size": 4, "grad_accum_steps": 1},
                "mesh": {"data": 1, "fsdp": -1, "model": 1},
                "checkpoint": {"async_save": True},
            },
        ),
        Preset(
            "gpu",
            "hardware",
            "One large GPU (40-80 GB)",
            "An A100/H100-class GPU: bfloat16 compute, batch 16.",
            {
                "model": {"dtype": "bfloat16", "remat": False},
                "train": {"batch_size": 16, "grad_accum_steps": 1},
                "mesh": {"data": 1, "fsdp": -1, "model": 1},
            },
        ),
        Preset(
            "gpu_small",
            "hardware",
            "One consumer GPU (8-24 GB)",
            "Memory first: QLoRA (int4 base), recomputed activations, batch 8 in 4 microbatches.",
            {
                "model": {"dtype": "bfloat16", "remat": True},
                "method": {"kind": "qlora", "quantization": "int4"},
                "train": {"batch_size": 8, "grad_accum_steps": 4},
                "mesh": {"data": 1, "fsdp": -1, "model": 1},
            },
        ),
        Preset(
            "tpu_v5e_8",
            "hardware",
            "TPU v5e-8",
            "Eight TPU v5e chips (16 GB each): bfloat16, weights sharded over all chips, batch 64.",
            {
                "model": {"dtype": "bfloat16", "remat": True},
                "train": {"batch_size": 64, "grad_accum_steps": 1},
                "mesh": {"data": 1, "fsdp": -1, "model": 1},
            },
        ),
    )
}


def list_presets(kind: str | None = None) -> list[Preset]:
    """Every preset (of `kind`, task or hardware, when given), in table order."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown preset kind {kind!r}; use one of {', '.join(KINDS)}")
    return [p for p in PRESETS.values() if kind is None or p.kind == kind]


def get_preset(name: str) -> Preset:
    """The preset called `name`, or a ConfigError listing the names."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}{did_you_mean(name, PRESETS)}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_preset(cfg: JobConfig, name: str) -> JobConfig:
    """A copy of `cfg` with the preset's keys set; every other key keeps its current value."""
    return config_from_dict(_merge(config_to_dict(cfg), get_preset(name).changes))
