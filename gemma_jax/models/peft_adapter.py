"""Read a PEFT LoRA adapter folder and fold it exactly into a Keras-Hub Gemma backbone's kernels.

A PEFT adapter (adapter_config.json + adapter_model.safetensors, as
`PeftModel.save_pretrained` writes it for transformers' Gemma, Gemma 2 and
Gemma 3 models) adds `scaling · lora_B @ lora_A` to each targeted nn.Linear
weight [out, in], with scaling = alpha/r (alpha/√r with `use_rslora`), r and
alpha per module from `rank_pattern`/`alpha_pattern` matched as PEFT matches
them. Folding adds that delta, re-laid out as the Keras kernel
(hf_layout.py), to the float base kernel, so the model computes what
transformers + PEFT compute. `fan_in_fan_out` is read as PEFT reads it for
nn.Linear layers: it forces it off, so the delta is the same either way.

Only plain LoRA on the seven decoder projections is folded; everything else
PEFT can save (DoRA, LoRA biases, modules_to_save, trainable tokens,
embedding or vision-tower adapters, other PEFT methods) is refused with a
ValueError, because folding it would silently change the model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from keras import ops
from safetensors.numpy import load_file

from gemma_jax.compat.keras import stored_kernel
from gemma_jax.models.hf_layout import HF_MODULES, keras_kernel
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.lora import LORA_TARGETS

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors",)
_TARGET_OF_MODULE = {module.rpartition(".")[2]: target for target, module in HF_MODULES.items()}
# base_model.model + the decoder's path in Gemma*ForCausalLM (model.) or Gemma3ForConditionalGeneration.
_KEY = re.compile(
    r"^base_model\.model\.(?P<module>(?:model\.(?:language_model\.)?|language_model\.model\.)?"
    r"layers\.(?P<layer>\d+)\.(?:self_attn|mlp)\.(?P<name>\w+))\.lora_(?P<factor>[AB])(?:\.default)?\.weight$"
)
# Options that change what the adapter computes beyond `scaling · B @ A`: (config key, what it is).
_UNSUPPORTED = (
    ("use_dora", "DoRA (weight-decomposed LoRA)"),
    ("lora_bias", "LoRA biases"),
    ("use_qalora", "QA-LoRA"),
    ("modules_to_save", "fully trained extra modules (modules_to_save)"),
    ("trainable_token_indices", "trained token embeddings (trainable_token_indices)"),
    ("layer_replication", "layer replication"),
    ("target_parameters", "LoRA on raw parameters (target_parameters)"),
    ("alora_invocation_tokens", "activated LoRA (aLoRA)"),
    ("megatron_config", "Megatron-parallel LoRA"),
    ("use_bdlora", "block-diagonal LoRA"),
    ("arrow_config", "Arrow routing"),
    ("kasa_config", "KaSA"),
    ("velora_config", "VeLoRA"),
    ("monteclora_config", "MonteCLoRA"),
)


@dataclass(frozen=True)
class PeftAdapter:
    """An adapter folder's config and tensors, as saved."""

    config: dict
    tensors: dict[str, np.ndarray]


def read_peft_adapter(folder: str | Path) -> PeftAdapter:
    """adapter_config.json and the adapter weights of a PEFT folder; refuses what cannot be folded."""
    folder = Path(folder)
    config_path = folder / ADAPTER_CONFIG
    if not config_path.is_file():
        raise ValueError(f"{folder} has no {ADAPTER_CONFIG}; give the folder PeftModel.save_pretrained wrote")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{config_path} is not valid JSON ({error}); restore the file PEFT wrote") from None
    if not isinstance(config, dict):
        raise ValueError(  # noqa: TRY004  (callers report ValueErrors as the user's mistake)
            f"{config_path} holds a {type(config).__name__}, not the settings object PEFT writes"
        )
    weights = next((folder / name for name in ADAPTER_WEIGHTS if (folder / name).is_file()), None)
    if weights is None:
        raise ValueError(f"{folder} has no adapter_model.safetensors (a .bin adapter: re-save it with safetensors)")
    _check_config(config)
    return PeftAdapter(config, load_file(str(weights)))


def _check_config(config: dict) -> None:
    if config.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"this is a {config.get('peft_type')} adapter; only LoRA adapters can be folded in")
    used = [what for key, what in _UNSUPPORTED if config.get(key)]
    if config.get("bias", "none") != "none":
        used.append(f"trained biases (bias={config['bias']!r})")
    if used:
        raise ValueError(
            f"the adapter uses {', '.join(used)}; gemma-jax folds plain LoRA only. Merge it with PEFT "
            "(merge_and_unload) and load the merged model instead"
        )


def _pattern_value(patterns: dict, module: str, default):
    """PEFT's get_pattern_key: the first pattern key that matches the module name's tail."""
    for key in patterns or {}:
        if re.match(rf"(.*\.)?({key})$", module):
            return patterns[key]
    return default


def scaling(config: dict, module: str) -> tuple[int, float]:
    """The rank and scaling PEFT gives `module` (e.g. "model.layers.0.self_attn.q_proj")."""
    rank = int(_pattern_value(config.get("rank_pattern"), module, config.get("r", 8)))
    alpha = float(_pattern_value(config.get("alpha_pattern"), module, config.get("lora_alpha", 8)))
    return rank, alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)


def peft_deltas(adapter: PeftAdapter) -> dict[tuple[int, str], np.ndarray]:
    """`scaling · lora_B @ lora_A` in float32 HF layout [out, in], keyed by (layer index, our target name)."""
    factors: dict[str, dict[str, np.ndarray]] = {}
    unknown = []
    for key, value in adapter.tensors.items():
        match = _KEY.match(key)
        if not match or match["name"] not in _TARGET_OF_MODULE:
            unknown.append(key)
            continue
        factors.setdefault(match["module"], {})[match["factor"]] = value
    if unknown:
        raise ValueError(
            f"the adapter has weights gemma-jax cannot fold (only LoRA on the decoder's q/k/v/o/gate/up/down "
            f"projections): {', '.join(sorted(unknown)[:3])}{' …' if len(unknown) > 3 else ''}"
        )
    deltas = {}
    for module, pair in factors.items():
        if set(pair) != {"A", "B"}:
            raise ValueError(f"{module} has lora_{''.join(pair)} but not both lora_A and lora_B")
        a, b = (np.asarray(pair[f], np.float32) for f in "AB")
        rank, scale = scaling(adapter.config, module)
        if a.shape[0] != rank or b.shape[1] != rank:
            raise ValueError(f"{module}: factors of rank {a.shape[0]}, but the config gives rank {rank}")
        match = re.search(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)$", module)
        deltas[(int(match[1]), _TARGET_OF_MODULE[match[2]])] = np.float32(scale) * (b @ a)
    return deltas


def fold_peft_adapter(model: LoadedModel, folder: str | Path) -> int:
    """Add a PEFT LoRA adapter's deltas to `model`'s float kernels in place; returns #projections changed."""
    deltas = peft_deltas(read_peft_adapter(folder))
    if not deltas:
        raise ValueError(f"the adapter in {folder} holds no LoRA factors (lora_A/lora_B): it would change nothing")
    blocks = model.backbone.transformer_layers
    layers = {}
    for (index, target), delta in deltas.items():
        if index >= len(blocks):
            raise ValueError(f"the adapter adapts layer {index}, but the model has {len(blocks)} layers")
        layer = blocks[index]
        for attribute in LORA_TARGETS[target]:
            layer = getattr(layer, attribute)
        if layer.quantization_mode is not None:
            raise ValueError(
                f"{layer.path} is {layer.quantization_mode}-quantized; fold the adapter into a float model "
                "(load the base without quantization)"
            )
        kernel = stored_kernel(layer)
        shape = tuple(kernel.shape)
        if delta.size != int(np.prod(shape)) or keras_kernel(target, delta, shape).shape != shape:
            raise ValueError(
                f"the adapter's {HF_MODULES[target]} of layer {index} is {delta.shape[0]}×{delta.shape[1]}, which "
                f"does not fit this model ({shape}); was it trained on another base model?"
            )
        layers[(index, target)] = (kernel, keras_kernel(target, delta, shape))
    for kernel, delta in layers.values():  # only once every delta is known to fit
        merged = np.asarray(ops.convert_to_numpy(kernel.value), np.float32) + delta
        kernel.assign(ops.cast(merged, kernel.dtype))
    return len(layers)
