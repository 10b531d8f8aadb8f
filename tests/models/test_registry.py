"""The variant registry: sizes computed from shapes match Keras-Hub's presets and its real backbones."""

import importlib
import subprocess
import sys

import numpy as np
import pytest
from abstract_models import abstract_backbone, no_allocation

from gemma_jax.models import architectures, loading
from gemma_jax.models.lora import apply_lora
from gemma_jax.models.registry import (
    EMBEDDED_MODEL,
    TINY_VOCABULARY_SIZE,
    VARIANTS,
    find_variant,
    list_variants,
    shape_for_source,
)

PRESET_MODULES = ("gemma.gemma_presets", "gemma3.gemma3_presets", "gemma3n.gemma3n_presets", "gemma4.gemma4_presets")
# Keras-Hub presets of these families that are deliberately not in the registry.
NOT_CAUSAL_LMS = {
    "embedding_gemma3_300m": "a text-embedding encoder, not a causal LM",
    "harrier_embedding_oss_270m": "a text-embedding model",
    "translategemma_4b_it": "a translation model with its own prompt format; not listed yet",
    "translategemma_12b_it": "a translation model with its own prompt format; not listed yet",
    "translategemma_27b_it": "a translation model with its own prompt format; not listed yet",
    "gemma4_instruct_2b_assistant": "a speculative-decoding helper, not a standalone model",
    "gemma4_instruct_4b_assistant": "a speculative-decoding helper, not a standalone model",
    "gemma4_instruct_26b_a4b_assistant": "a speculative-decoding helper, not a standalone model",
    "gemma4_instruct_31b_assistant": "a speculative-decoding helper, not a standalone model",
}


def _keras_hub_presets() -> dict:
    presets = {}
    for module in PRESET_MODULES:
        presets.update(importlib.import_module(f"keras_hub.src.models.{module}").backbone_presets)
    return presets


def test_every_count_and_handle_matches_keras_hub_metadata():
    presets = _keras_hub_presets()
    for variant in VARIANTS:
        preset = presets[variant.name]
        assert variant.params == preset["metadata"]["params"], variant.name
        assert variant.kaggle_handle == preset["kaggle_handle"], variant.name
    # The embedded default is exactly Keras-Hub's Gemma3Backbone count.
    assert find_variant(EMBEDDED_MODEL).params == 268_098_176


def test_registry_covers_keras_hub_gemma_causal_lms():
    names = {variant.name for variant in VARIANTS}
    missing = set(_keras_hub_presets()) - names - set(NOT_CAUSAL_LMS)
    assert not missing, f"Keras-Hub presets missing from the registry: {sorted(missing)}"
    assert len(names) == len(VARIANTS)


def _count(variables) -> int:
    return sum(int(np.prod(v.shape)) for v in variables)


@pytest.mark.parametrize(
    "name", ["gemma3_270m", "gemma3_1b", "gemma_2b_en", "gemma2_2b_en", "vault_gemma_1b_en", "medgemma_4b"]
)
def test_count_equals_an_abstractly_built_backbone(name):
    shape = find_variant(name).shape
    backbone = abstract_backbone(shape)
    assert _count(backbone.weights) == shape.parameter_count()
    block = backbone.transformer_layers[0]
    kernels = {
        "query": block.attention.query_dense,
        "value": block.attention.value_dense,
        "attention_output": block.attention.output_dense,
        "ffw_gating": block.gating_ffw,
        "ffw_linear": block.ffw_linear,
    }
    for target, layer in kernels.items():
        assert tuple(layer.kernel.shape) == shape.projection_shapes()[target], target


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gemma2_27b_en", "gemma3_27b_text", "gemma_7b_en"])
def test_large_counts_equal_abstract_backbones(name):
    shape = find_variant(name).shape
    assert _count(abstract_backbone(shape).weights) == shape.parameter_count()


@pytest.mark.parametrize("targets", [("query", "value"), ("key", "attention_output", "ffw_gating_2", "ffw_linear")])
def test_lora_parameters_equal_keras_adapters(targets):
    shape = find_variant("gemma2_2b_en").shape
    backbone = abstract_backbone(shape)
    with no_allocation():
        apply_lora(backbone, 16, 32.0, targets)
    assert _count(backbone.trainable_weights) == shape.lora_parameters(16, targets)


def test_embedded_default_is_listed_first_and_only_it_is_built_in():
    variants = list_variants()
    assert variants[0].name == EMBEDDED_MODEL == loading.EMBEDDED_MODEL
    assert variants[0].built_in and variants[0].load_as == EMBEDDED_MODEL
    assert [v.name for v in variants if v.built_in] == [EMBEDDED_MODEL]
    assert {v.family for v in variants} >= {"Gemma 1", "Gemma 2", "Gemma 3", "CodeGemma", "ShieldGemma", "Gemma 3n"}
    assert any(v.instruction_tuned for v in variants) and not all(v.instruction_tuned for v in variants)


def test_architectures_agree_with_the_registry():
    """random:<arch> shapes used for benchmarks are the registry's real shapes."""
    assert loading.TINY_VOCABULARY_SIZE == TINY_VOCABULARY_SIZE
    for source, name in (("random:gemma3_270m", "gemma3_270m"), ("random:gemma_2b", "gemma_2b_en")):
        ours, real = shape_for_source(source), find_variant(name).shape
        assert ours.parameter_count() == real.parameter_count()
        assert ours.projection_shapes() == real.projection_shapes()
    tiny = shape_for_source("tiny:gemma3")
    assert (
        tiny.vocabulary_size == TINY_VOCABULARY_SIZE
        and tiny.num_layers == architectures.ARCHITECTURES["gemma3"][1]["num_layers"]
    )


def test_shape_of_a_saved_preset_directory(tmp_path):
    backbone, _ = loading.build_backbone("gemma2", 512, dtype="float32", seed=0)
    backbone.save_to_preset(str(tmp_path))
    shape = shape_for_source(str(tmp_path))
    assert shape.parameter_count() == backbone.count_params()
    assert shape.attention_soft_cap == 50.0 and shape.post_norms
    (tmp_path / "config.json").write_text("{not json")
    assert shape_for_source(str(tmp_path)) is None
    assert shape_for_source("no/such/model") is None


def test_find_variant_by_handle():
    assert find_variant("kaggle://keras/gemma3/keras/gemma3_1b/3").name == "gemma3_1b"
    assert find_variant("kaggle://keras/gemma3/keras/gemma3_1b/7").name == "gemma3_1b"  # another version
    assert find_variant("hf://google/gemma-2-9b-it").name == "gemma2_instruct_9b_en"
    assert find_variant("gemma3_nonexistent") is None
    gemma3n = find_variant("gemma3n_e2b")
    assert not gemma3n.trainable and gemma3n.context_length is None and gemma3n.params == 5_439_595_456


def test_registry_imports_no_jax_or_keras():
    code = "import sys, gemma_jax.models.registry, gemma_jax.models.memory_estimate; print('jax' in sys.modules, 'keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
