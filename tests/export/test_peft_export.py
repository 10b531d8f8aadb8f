"""The PEFT export and import: our Keras LoRA (per-head query/key/value factors included) converted exactly to
PEFT's names and ranks, applied by PeftModel on the exported base; PEFT adapters folded into our kernels."""

import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from hf_helpers import RANK, TOLERANCE, keras_logits, load_hf, random_ids, tiny_lora_model, torch_logits
from safetensors.numpy import load_file, save_file

from gemma_jax.export.peft_export import max_rank, write_peft
from gemma_jax.export.transformers_export import write_transformers
from gemma_jax.models.loading import load_model
from gemma_jax.models.lora import merged_copy
from gemma_jax.models.peft_adapter import fold_peft_adapter
from gemma_jax.models.quantization import quantize_base

pytestmark = pytest.mark.slow  # four tiny models exported, loaded by transformers and PEFT: about a minute

ALL_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
VARIANTS = [("gemma", None), ("gemma2", None), ("gemma3", "int8"), ("gemma3", "int4")]


def _base_of(model):
    """Our model without its adapters: the (dequantized) float base they are added to."""
    return dataclasses.replace(model, backbone=merged_copy(model.backbone, adapters=False))


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{arch}-{q or 'float'}" for arch, q in VARIANTS])
def exported(request, tmp_path_factory):
    """(our fine-tuned model, its logits, its PEFT folder, the transformers export of its base)."""
    arch, quantization = request.param
    model = tiny_lora_model(arch, quantization, seed=4)
    root = tmp_path_factory.mktemp(f"peft-{arch}-{quantization}")
    write_transformers(model, root / "base", adapters=False)
    write_peft(model, root / "adapter", {"base_model": str(root / "base")})
    ids = random_ids(model)
    return model, ids, keras_logits(model.backbone, ids), root


def test_peft_model_on_the_exported_base_reproduces_our_fine_tuned_logits(exported):
    from peft import PeftModel

    model, ids, expected, root = exported
    config = json.loads((root / "adapter" / "adapter_config.json").read_text())
    assert (config["peft_type"], config["task_type"], config["r"]) == ("LORA", "CAUSAL_LM", RANK)
    assert sorted(config["target_modules"]) == sorted(ALL_MODULES) and config["base_model_name_or_path"]
    backbone = model.backbone
    assert config["rank_pattern"]["q_proj"] == RANK * backbone.num_query_heads
    assert max_rank(config) == RANK * backbone.num_query_heads  # vLLM's --max-lora-rank
    assert config["alpha_pattern"]["q_proj"] / config["rank_pattern"]["q_proj"] == config["lora_alpha"] / RANK
    tensors = load_file(str(root / "adapter" / "adapter_model.safetensors"))
    assert len(tensors) == 2 * 7 * backbone.num_layers
    key = "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight"
    assert tensors[key].shape == (RANK * backbone.num_key_value_heads, backbone.hidden_dim)

    base = load_hf(root / "base")
    assert np.abs(torch_logits(base, ids) - expected).max() > 0.05  # the adapters matter
    peft_model = PeftModel.from_pretrained(base, str(root / "adapter")).eval()
    np.testing.assert_allclose(torch_logits(peft_model, ids), expected, atol=TOLERANCE, rtol=0)


def test_our_peft_export_folds_back_into_the_base(exported):
    model, ids, expected, root = exported
    base = _base_of(model)
    assert fold_peft_adapter(base, root / "adapter") == 7 * model.backbone.num_layers
    np.testing.assert_allclose(keras_logits(base.backbone, ids), expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    ("arch", "options"),
    [
        ("gemma2", {"rank_pattern": {"q_proj": 6}, "alpha_pattern": {"down_proj": 3}}),
        ("gemma3", {"use_rslora": True, "target_modules": ["q_proj", "v_proj", "down_proj"]}),
    ],
)
def test_an_adapter_made_by_peft_folds_into_our_base(tmp_path, arch, options):
    import torch
    from peft import LoraConfig, get_peft_model

    model = load_model(f"tiny:{arch}", vocab_texts=["the quick brown fox jumps over the lazy dog"] * 40)
    write_transformers(model, tmp_path / "base")
    settings = {"r": 4, "lora_alpha": 8, "target_modules": ALL_MODULES, **options}
    peft_model = get_peft_model(load_hf(tmp_path / "base"), LoraConfig(task_type="CAUSAL_LM", **settings))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    ids = random_ids(model)
    expected = torch_logits(peft_model.eval(), ids)

    before = keras_logits(model.backbone, ids)
    assert fold_peft_adapter(model, tmp_path / "adapter") == len(settings["target_modules"]) * model.backbone.num_layers
    ours = keras_logits(model.backbone, ids)
    assert np.abs(ours - before).max() > 0.05
    np.testing.assert_allclose(ours, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"bias": "lora_only"}, "biases"),
        ({"peft_type": "IA3"}, "only LoRA adapters"),
    ],
)
def test_unsupported_peft_options_are_refused_in_user_words(exported, tmp_path, change, message):
    model, _, _, root = exported
    config = json.loads((root / "adapter" / "adapter_config.json").read_text())
    (tmp_path / "adapter_config.json").write_text(json.dumps({**config, **change}))
    (tmp_path / "adapter_model.safetensors").write_bytes((root / "adapter" / "adapter_model.safetensors").read_bytes())
    base = _base_of(model)
    with pytest.raises(ValueError, match=message):
        fold_peft_adapter(base, tmp_path)


def test_foreign_weights_and_quantized_bases_are_refused(exported, tmp_path):
    model, _, _, root = exported
    (tmp_path / "adapter_config.json").write_text((root / "adapter" / "adapter_config.json").read_text())
    tensors = load_file(str(root / "adapter" / "adapter_model.safetensors"))
    save_file(
        {**tensors, "base_model.model.model.embed_tokens.lora_embedding_A": np.zeros((4, 8), np.float32)},
        str(tmp_path / "adapter_model.safetensors"),
    )
    with pytest.raises(ValueError, match="cannot fold"):
        fold_peft_adapter(_base_of(model), tmp_path)
    quantized = _base_of(model)
    quantize_base(quantized.backbone, "int8")
    with pytest.raises(ValueError, match="quantized"):
        fold_peft_adapter(quantized, root / "adapter")


def test_a_damaged_or_empty_adapter_is_refused_naming_the_file(exported, tmp_path):
    model, _, _, root = exported
    (tmp_path / "adapter_config.json").write_text("{not json")
    (tmp_path / "adapter_model.safetensors").write_bytes((root / "adapter" / "adapter_model.safetensors").read_bytes())
    with pytest.raises(ValueError, match=r"adapter_config\.json is not valid JSON"):
        fold_peft_adapter(_base_of(model), tmp_path)
    (tmp_path / "adapter_config.json").write_text((root / "adapter" / "adapter_config.json").read_text())
    save_file({}, str(tmp_path / "adapter_model.safetensors"))
    with pytest.raises(ValueError, match="holds no LoRA factors"):
        fold_peft_adapter(_base_of(model), tmp_path)
