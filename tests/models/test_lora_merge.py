"""Folding LoRA into the kernels: in place and back (merge/unmerge), and into a plain float copy."""

import keras
import numpy as np
import pytest

from gemma_jax.models.loading import load_model
from gemma_jax.models.lora import (
    LoRAMergeError,
    apply_lora,
    lora_layers,
    merge_lora,
    merged_copy,
    merged_kernel,
    unmerge_lora,
)
from gemma_jax.models.quantization import quantization_mode, quantize_base

TEXTS = ["the quick brown fox jumps over the lazy dog", "pack my box with five dozen liquor jugs"] * 40
TARGETS = ("query", "value", "attention_output", "ffw_linear")


def _adapted(arch: str = "gemma3", quantization: str | None = None) -> keras.Model:
    """A tiny float32 backbone with LoRA whose B factors are non-zero (a fresh adapter would be a no-op)."""
    backbone = load_model(f"tiny:{arch}", vocab_texts=TEXTS).backbone
    if quantization:
        quantize_base(backbone, quantization)
    apply_lora(backbone, rank=4, alpha=8.0, targets=TARGETS)
    rng = np.random.RandomState(0)
    for layer in lora_layers(backbone):
        b = layer.lora_kernel_b
        b.assign(rng.normal(0.0, 0.05, b.shape).astype("float32"))
    return backbone


def _outputs(backbone: keras.Model) -> np.ndarray:
    ids = np.random.RandomState(1).randint(6, 300, size=(2, 24)).astype("int32")
    return np.asarray(backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)}))


def _values(variables) -> list[np.ndarray]:
    return [np.array(v.value) for v in variables]


@pytest.mark.parametrize("arch", ["gemma", "gemma3"])
def test_merge_keeps_outputs_and_unmerge_restores_the_kernels_exactly(arch):
    backbone = _adapted(arch)
    layers = lora_layers(backbone)
    kernels, factors_b = _values(layer._kernel for layer in layers), _values(layer.lora_kernel_b for layer in layers)
    base = load_model(f"tiny:{arch}", vocab_texts=TEXTS).backbone
    adapted = _outputs(backbone)
    assert np.abs(adapted - _outputs(base)).max() > 1e-3  # the adapters change the outputs: nothing trivial merged

    assert merge_lora(backbone) == len(layers) == backbone.num_layers * len(TARGETS)
    np.testing.assert_allclose(_outputs(backbone), adapted, atol=1e-4, rtol=0)
    assert all(not np.any(np.asarray(layer.lora_kernel_b.value)) for layer in layers)  # LoRA contributes nothing now
    assert all(not np.array_equal(np.asarray(layer._kernel.value), k) for layer, k in zip(layers, kernels))

    # The comparison can fail: perturbing one merged kernel moves the outputs.
    layers[0]._kernel.assign(np.asarray(layers[0]._kernel.value) + 0.05)
    assert np.abs(_outputs(backbone) - adapted).max() > 1e-3
    layers[0]._kernel.assign(np.asarray(layers[0]._kernel.value) - 0.05)

    assert unmerge_lora(backbone) == len(layers)
    for layer, kernel, b in zip(layers, kernels, factors_b):
        np.testing.assert_array_equal(np.asarray(layer._kernel.value), kernel)
        np.testing.assert_array_equal(np.asarray(layer.lora_kernel_b.value), b)
    np.testing.assert_allclose(_outputs(backbone), adapted, atol=1e-5, rtol=0)


def test_merge_and_unmerge_refuse_what_they_cannot_do():
    with pytest.raises(LoRAMergeError, match="no LoRA adapters"):
        merge_lora(load_model("tiny:gemma", vocab_texts=TEXTS).backbone)
    backbone = _adapted("gemma")
    with pytest.raises(LoRAMergeError, match="not merged"):
        unmerge_lora(backbone)
    merge_lora(backbone)
    with pytest.raises(LoRAMergeError, match="already merged"):
        merge_lora(backbone)
    with pytest.raises(LoRAMergeError, match="unmerge_lora before merged_copy"):
        merged_copy(backbone)
    unmerge_lora(backbone)

    qlora = _adapted("gemma", "int8")
    with pytest.raises(LoRAMergeError, match="int8-quantized base.*merged_copy"):
        merge_lora(qlora)


@pytest.mark.parametrize("quantization", [None, "int8", "int4"])
def test_merged_copy_is_a_plain_float_model_with_the_same_outputs(quantization):
    backbone = _adapted("gemma3", quantization)
    before = _values(backbone.weights)
    adapted = _outputs(backbone)

    copy = merged_copy(backbone)
    assert not lora_layers(copy) and quantization_mode(copy) is None
    names = {v.path.rsplit("/", 1)[-1] for v in copy.weights}
    assert not names & {"lora_kernel_a", "lora_kernel_b", "kernel_scale", "kernel_zero", "g_idx"}
    assert {str(v.dtype) for v in copy.weights} == {"float32"}
    # Dequantized base + folded adapters compute what the QLoRA layers compute.
    np.testing.assert_allclose(_outputs(copy), adapted, atol=1e-4, rtol=0)
    for old, new in zip(before, _values(backbone.weights)):  # the source model is untouched
        np.testing.assert_array_equal(old, new)

    # The check can fail: the copy without the adapters' contribution differs.
    for layer in lora_layers(backbone):
        layer.lora_kernel_b.assign(np.zeros(layer.lora_kernel_b.shape, "float32"))
    assert np.abs(_outputs(merged_copy(backbone)) - adapted).max() > 1e-3


def test_merged_copy_in_another_dtype():
    backbone = _adapted("gemma")
    copy = merged_copy(backbone, dtype="bfloat16")
    assert {str(v.dtype) for v in copy.weights} == {"bfloat16"}
    layer = lora_layers(backbone)[0]
    copied = {v.path: v for v in copy.weights}[layer.path + "/kernel"]
    np.testing.assert_array_equal(np.asarray(copied.value), merged_kernel(layer).astype(copied.dtype))
