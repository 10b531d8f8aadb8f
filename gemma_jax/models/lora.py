"""LoRA on a Keras-Hub Gemma backbone, kept out of the model code.

Keras' own `EinsumDense.enable_lora` adds the A/B factors and freezes the
kernel; this module only chooses which projections get them and freezes the
rest of the model. It also folds trained adapters into the kernels: in place
and reversibly (`merge_lora` / `unmerge_lora`, for fast generation from a LoRA
run), or into a new plain float backbone (`merged_copy`, what export writes).
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
from keras import ops

from gemma_jax.compat.keras import stored_kernel, sublayers
from gemma_jax.compat.keras_hub import set_query_head_dim_normalize
from gemma_jax.models.quantization import dequantized_kernel

# Config names of the projections LoRA can target → attribute paths in a decoder block.
LORA_TARGETS = {
    "query": ("attention", "query_dense"),
    "key": ("attention", "key_dense"),
    "value": ("attention", "value_dense"),
    "attention_output": ("attention", "output_dense"),
    "ffw_gating": ("gating_ffw",),
    "ffw_gating_2": ("gating_ffw_2",),
    "ffw_linear": ("ffw_linear",),
}

# Layer → (kernel, lora_kernel_b) as they were before merge_lora, so unmerge_lora restores them bit for bit.
_BEFORE_MERGE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class LoRAMergeError(ValueError):
    """A merge or un-merge that cannot be done, with what to do instead."""


def target_layers(backbone: keras.Model, targets) -> list[keras.layers.Layer]:
    layers = []
    for block in backbone.transformer_layers:
        for name in targets:
            layer = block
            for attribute in LORA_TARGETS[name]:
                layer = getattr(layer, attribute)
            layers.append(layer)
    return layers


def apply_lora(backbone: keras.Model, rank: int, alpha: float, targets, seed: int = 0) -> int:
    """Freeze the backbone and add rank-`rank` adapters to `targets`; returns #adapted layers.

    With a quantized base (QLoRA, see quantization.py) quantize first: Keras then
    adds the f32 factors next to the int8/int4 kernel. Each A factor gets its own
    seed derived from `seed`, so the same seed gives the same adapters whatever else
    the process has drawn from Python's `random` (see seeding.py).
    """
    for variable in backbone.variables:
        variable.trainable = False
    layers = target_layers(backbone, targets)
    seeds = np.random.SeedSequence([seed, len(layers)]).generate_state(len(layers))
    for layer, layer_seed in zip(layers, seeds):
        initializer = keras.initializers.HeUniform(seed=int(layer_seed))  # Keras' default A initializer, seeded
        layer.enable_lora(rank, lora_alpha=alpha, a_initializer=initializer)
    return len(layers)


def lora_metadata(rank: int, alpha: float, targets, quantization: str | None = None) -> dict:
    """What a checkpoint records about its adapters; `quantization` is QLoRA's base (int8/int4)."""
    meta = {"rank": int(rank), "alpha": float(alpha), "targets": list(targets)}
    if quantization is not None:
        meta["quantization"] = quantization
    return meta


def lora_layers(backbone: keras.Model) -> list[keras.layers.EinsumDense]:
    """The backbone's layers that carry LoRA factors."""
    return [layer for layer in sublayers(backbone) if getattr(layer, "lora_enabled", False)]


def _copy(variable) -> np.ndarray:
    return np.array(ops.convert_to_numpy(variable.value), copy=True)


def _lora_delta(layer: keras.layers.EinsumDense) -> np.ndarray:
    """alpha/rank · A @ B in float32, shaped like the (unpacked) kernel."""
    a = _copy(layer.lora_kernel_a).astype(np.float32)
    b = _copy(layer.lora_kernel_b).astype(np.float32)
    return np.float32(layer.lora_alpha / layer.lora_rank) * np.matmul(a, b)


def merge_lora(backbone: keras.Model) -> int:
    """Fold every adapter into its float kernel in place and zero B; outputs stay the same.

    The merged kernel is what the LoRA forward pass already computes
    (`kernel + alpha/rank · A @ B`, in the kernel's dtype), so merged outputs
    match the adapted model up to float rounding. The old kernel and B are kept
    so `unmerge_lora` restores them exactly. Quantized (QLoRA) kernels are
    refused: re-quantizing the sum would add a second rounding to every weight;
    `merged_copy` folds them into float kernels instead. Returns #merged layers.
    """
    layers = lora_layers(backbone)
    if not layers:
        raise LoRAMergeError("the model has no LoRA adapters to merge")
    for layer in layers:
        if layer.quantization_mode is not None:
            raise LoRAMergeError(
                f"{layer.path} has a {layer.quantization_mode}-quantized base kernel (QLoRA); merging in place "
                "would re-quantize it and change the outputs. Use merged_copy(backbone), which folds the adapters "
                "into a float copy of the model"
            )
        if layer in _BEFORE_MERGE:
            raise LoRAMergeError(f"LoRA is already merged into {layer.path}; call unmerge_lora first")
    for layer in layers:
        kernel = stored_kernel(layer)
        _BEFORE_MERGE[layer] = (_copy(kernel), _copy(layer.lora_kernel_b))
        merged = ops.cast(layer.kernel, kernel.dtype)  # the forward pass's own W + alpha/rank·AB
        kernel.assign(merged)
        layer.lora_kernel_b.assign(ops.zeros(layer.lora_kernel_b.shape, layer.lora_kernel_b.dtype))
    return len(layers)


def unmerge_lora(backbone: keras.Model) -> int:
    """Undo merge_lora: the original kernels and B factors back, bit for bit. Returns #restored layers."""
    layers = [layer for layer in lora_layers(backbone) if layer in _BEFORE_MERGE]
    if not layers:
        raise LoRAMergeError("LoRA is not merged into this model; there is nothing to un-merge")
    for layer in layers:
        kernel, lora_b = _BEFORE_MERGE.pop(layer)
        stored_kernel(layer).assign(kernel)
        layer.lora_kernel_b.assign(lora_b)
    return len(layers)


def is_merged(backbone: keras.Model) -> bool:
    return any(layer in _BEFORE_MERGE for layer in lora_layers(backbone))


def merged_kernel(layer: keras.layers.EinsumDense, adapters: bool = True) -> np.ndarray:
    """The float32 kernel that computes what `layer` computes: base (dequantized if needed) + LoRA
    (without it when `adapters` is False: the base the adapter is added to)."""
    kernel = dequantized_kernel(layer)
    if adapters and getattr(layer, "lora_enabled", False):
        kernel = kernel + _lora_delta(layer)
    return kernel


def merged_copy(backbone: keras.Model, dtype: str | None = None, *, adapters: bool = True) -> keras.Model:
    """A new backbone of the same architecture with every adapter folded in: no LoRA, no quantization.

    Quantized (QLoRA) bases are dequantized to float first, so the copy computes
    what the adapted model computes (up to float rounding) in `dtype` (default:
    the backbone's). The original is left untouched; this is what export saves.
    `adapters=False` leaves the adapters out: the (dequantized) base they are
    added to, which a PEFT adapter export is applied on top of.
    """
    if is_merged(backbone):
        raise LoRAMergeError("LoRA is merged in place into this model; call unmerge_lora before merged_copy")
    config = backbone.get_config()
    policy = backbone.dtype_policy  # the backbone's own float policy; its config maps quantized layers
    if isinstance(policy, keras.dtype_policies.DTypePolicyMap):
        policy = policy.default_policy
    config["dtype"] = dtype or policy.name
    copy = type(backbone).from_config(config)
    for source_block, copy_block in zip(backbone.transformer_layers, copy.transformer_layers):
        # The query scaling fix is patched onto a loaded model after construction and is not in its
        # config; carry it over so the copy attends like the original.
        normalize = getattr(source_block.attention, "query_head_dim_normalize", None)
        if normalize is not None:
            set_query_head_dim_normalize(copy_block.attention, normalize)
    sources = {v.path: v for v in backbone.weights}
    projections = {layer.path: layer for layer in sublayers(backbone) if isinstance(layer, keras.layers.EinsumDense)}
    for variable in copy.weights:
        layer_path, _, name = variable.path.rpartition("/")
        if name == "kernel" and layer_path in projections:
            value = merged_kernel(projections[layer_path], adapters)
        elif variable.path in sources:
            value = _copy(sources[variable.path])
        else:
            raise LoRAMergeError(f"{variable.path} of the rebuilt model has no counterpart in the source model")
        if tuple(value.shape) != tuple(variable.shape):
            raise LoRAMergeError(f"{variable.path}: shape {tuple(value.shape)} does not fit {tuple(variable.shape)}")
        variable.assign(ops.cast(value, variable.dtype))
    return copy
