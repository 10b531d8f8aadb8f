"""Our LoRA adapters as a PEFT adapter folder (adapter_config.json + adapter_model.safetensors), converted exactly.

Keras' EinsumDense LoRA computes `kernel + alpha/rank · A @ B`, with
A = kernel.shape[:-1] + (rank,) and B = (rank, kernel.shape[-1]). PEFT adds
`alpha_m/r_m · B' @ A'` to an nn.Linear weight [out, in] (A' [r_m, in],
B' [out, r_m]). The conversion is exact, not a re-fit:

- query/key/value (kernel [heads, hidden, head_dim]): each head has its own
  A[h] [hidden, rank] but all share B [rank, head_dim], so in HF's
  [heads·head_dim, hidden] layout the delta has rank heads·rank. A' stacks
  the heads' A[h]ᵀ (rows h·rank … h·rank+rank-1) and B' is block diagonal,
  Bᵀ on every head's block. The module's rank is heads·rank, so
  `rank_pattern` says so and `alpha_pattern` sets alpha·heads, keeping
  PEFT's scaling alpha/rank.
- attention_output ([heads, head_dim, hidden]) and the feed-forward kernels
  ([in, out]) are plain matrices in HF's layout: A' = Aᵀ (heads·head_dim
  flattened), B' = Bᵀ, rank `rank`.

The base a PEFT adapter is applied to must be the model our adapter was added
to: `write_transformers(model, folder, adapters=False)` writes it (QLoRA:
the dequantized int8/int4 base, which differs slightly from the float
checkpoint it was quantized from).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from keras import ops
from safetensors.numpy import save_file

from gemma_jax.models.hf_layout import HEADS_FIRST, HF_MODULES
from gemma_jax.models.lora import LORA_TARGETS, lora_layers

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model.model.layers"  # PeftModel → Gemma*ForCausalLM → its decoder (model.layers)


def _array(variable) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(variable.value), np.float32)


def peft_factors(target: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras' LoRA factors of a `target` projection as PEFT's (lora_A [r', in], lora_B [out, r'])."""
    rank = b.shape[0]
    if target in HEADS_FIRST:
        heads, hidden, _ = a.shape
        lora_a = a.transpose(0, 2, 1).reshape(heads * rank, hidden)  # head h's Aᵀ in rows h·rank…
        lora_b = np.kron(np.eye(heads, dtype=np.float32), b.T)  # [heads·head_dim, heads·rank], Bᵀ per head
        return lora_a, lora_b
    return a.reshape(-1, rank).T, b.T


def _targets_of(block) -> dict:
    """Our target name of every LoRA-carrying projection of a decoder block, by layer."""
    found = {}
    for target, path in LORA_TARGETS.items():
        layer = block
        for attribute in path:
            layer = getattr(layer, attribute)
        if getattr(layer, "lora_enabled", False):
            found[target] = layer
    return found


def peft_adapter(backbone) -> tuple[dict[str, np.ndarray], dict]:
    """PEFT's tensors and the LoRA settings (r, lora_alpha, rank/alpha patterns, target modules) of `backbone`."""
    layers = lora_layers(backbone)
    if not layers:
        raise ValueError("the model has no LoRA adapters to export")
    ranks = {int(layer.lora_rank) for layer in layers}
    alphas = {float(layer.lora_alpha) for layer in layers}
    if len(ranks) != 1 or len(alphas) != 1:
        raise ValueError("the adapters mix ranks or alphas; PEFT's export here expects one rank and one alpha")
    rank, alpha = ranks.pop(), alphas.pop()
    tensors: dict[str, np.ndarray] = {}
    modules: dict[str, int] = {}  # HF module name → its rank
    for i, block in enumerate(backbone.transformer_layers):
        for target, layer in _targets_of(block).items():
            lora_a, lora_b = peft_factors(target, _array(layer.lora_kernel_a), _array(layer.lora_kernel_b))
            name = f"{PEFT_PREFIX}.{i}.{HF_MODULES[target]}"
            tensors[f"{name}.lora_A.weight"] = np.ascontiguousarray(lora_a)
            tensors[f"{name}.lora_B.weight"] = np.ascontiguousarray(lora_b)
            modules[HF_MODULES[target].rpartition(".")[2]] = lora_a.shape[0]
    rank_pattern = {module: r for module, r in sorted(modules.items()) if r != rank}
    alpha_value = int(alpha) if alpha.is_integer() else alpha
    settings = {
        "r": rank,
        "lora_alpha": alpha_value,
        "rank_pattern": rank_pattern,
        # alpha·(r'/rank) keeps PEFT's alpha'/r' equal to Keras' alpha/rank
        "alpha_pattern": {module: alpha_value * (r // rank) for module, r in rank_pattern.items()},
        "target_modules": sorted(modules),
    }
    return tensors, settings


def adapter_config(lora: dict, settings: dict) -> dict:
    """adapter_config.json as PEFT 0.21 writes it for a plain LoRA (fields it would default are spelled out)."""
    base = settings.get("base_model_name_or_path") or settings.get("base_model")
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base,
        "revision": None,
        "inference_mode": True,
        **lora,
        "lora_dropout": 0.0,
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": False,
        "use_dora": False,
        "lora_bias": False,
        "init_lora_weights": True,
        "modules_to_save": None,
        "layers_to_transform": None,
        "layers_pattern": None,
        "exclude_modules": None,
        "auto_mapping": None,
    }


def write_peft(model, folder: Path, settings: dict) -> dict:
    """adapter_config.json and adapter_model.safetensors of `model`'s LoRA under PEFT's names (float32);
    returns the config written.

    `settings["base_model_name_or_path"]` (else `settings["base_model"]`) is recorded as the base.
    """
    tensors, lora = peft_adapter(model.backbone)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    config = adapter_config(lora, settings)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config


def max_rank(config: dict) -> int:
    """The largest LoRA rank of an adapter_config.json: `r`, or a larger one of its `rank_pattern`."""
    return max([int(config["r"]), *(int(r) for r in (config.get("rank_pattern") or {}).values())])
