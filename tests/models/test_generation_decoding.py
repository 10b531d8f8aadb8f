"""The pure-JAX cached decoder against Keras-Hub's own models, on tiny random Gemmas.

Random init leaves a tiny model's norms at zero, which makes greedy decoding repeat
one token; the norm scales are randomized so continuations vary and a wrong cache,
mask or position changes tokens, not only logits.
"""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import keras
import keras_hub
import numpy as np
import pytest

from gemma_jax.data.chat_template import prompt_text
from gemma_jax.models.decoding.decode_step import forward, logits
from gemma_jax.models.decoding.kv_cache import KVCache
from gemma_jax.models.decoding.weights import DecoderWeights
from gemma_jax.models.generation import Generator
from gemma_jax.models.loading import load_model
from gemma_jax.models.lora import apply_lora

TEXTS = ["the quick brown fox jumps over the lazy dog", "pack my box with five dozen liquor jugs"] * 20
LONG_PROMPT = "the quick brown fox jumps over the lazy dog " * 3  # ~30 tokens > the tiny sliding window (16)
ARCHS = ["gemma", "gemma2", "gemma3"]
ALL_TARGETS = ("query", "key", "value", "attention_output", "ffw_gating", "ffw_gating_2", "ffw_linear")


def _tiny(arch: str, seed: int = 0):
    model = load_model(f"tiny:{arch}", vocab_texts=TEXTS, seed=seed)
    rng = np.random.default_rng(seed)
    for variable in model.backbone.variables:
        if variable.path.endswith("scale"):
            variable.assign(rng.normal(0.0, 1.0, variable.shape).astype("float32"))
    return model


@functools.cache
def tiny(arch: str):
    return _tiny(arch)


def prompt_ids(model, text: str = LONG_PROMPT) -> list[int]:
    return [model.tokenizer.bos_id, *model.tokenizer.encode(text)]


@functools.cache
def _keras_forward(backbone):
    """The backbone's own layers as one jitted function of its variable values (fast to call often)."""

    def run(trainable, non_trainable, token_ids):
        mapping = [*zip(backbone.trainable_variables, trainable), *zip(backbone.non_trainable_variables, non_trainable)]
        with keras.StatelessScope(state_mapping=mapping):
            hidden = backbone({"token_ids": token_ids, "padding_mask": token_ids != 0})
            return backbone.token_embedding(hidden, reverse=True)

    return jax.jit(run)


def keras_logits(model, ids, length: int | None = None) -> np.ndarray:
    """[len(ids), vocab] logits of the backbone's full forward pass (soft cap included).

    The ids are right-padded to `length` (masked) so that repeated calls reuse one compilation.
    """
    x = np.zeros((1, length or len(ids)), np.int32)
    x[0, : len(ids)] = ids
    backbone = model.backbone
    values = [v.value for v in backbone.trainable_variables], [v.value for v in backbone.non_trainable_variables]
    return np.asarray(_keras_forward(backbone)(*values, x))[0, : len(ids)]


def greedy_by_full_forward(model, ids, steps: int) -> list[int]:
    ids, new, length = list(ids), [], len(ids) + steps
    for _ in range(steps):
        new.append(int(np.argmax(keras_logits(model, ids, length=length)[-1])))
        ids.append(new[-1])
    return new


def cached_logits(weights: DecoderWeights, ids, prefill: int) -> np.ndarray:
    """Logits at every position: the first `prefill` tokens in one pass, then one token per call."""
    params, config = weights.current(), weights.config
    cache = KVCache.zeros(config, 1, len(ids))
    starts = jnp.zeros((1,), jnp.int32)
    hidden, cache = forward(params, config, jnp.asarray([ids[:prefill]], jnp.int32), cache, 0, starts)
    rows = [logits(params, config, hidden)[0]]
    step = jax.jit(lambda p, t, c, s: forward(p, config, t, c, s, starts))
    for slot in range(prefill, len(ids)):
        hidden, cache = step(params, jnp.asarray([[ids[slot]]], jnp.int32), cache, jnp.int32(slot))
        rows.append(logits(params, config, hidden)[0])
    return np.asarray(jnp.concatenate(rows))


@pytest.mark.parametrize("arch", ARCHS)
def test_cached_logits_equal_full_forward(arch):
    model = tiny(arch)
    ids = prompt_ids(model) + list(range(40, 50))
    assert len(ids) > 2 * 16  # well past the sliding window of gemma2/gemma3
    ours = cached_logits(DecoderWeights(model.backbone, "float32"), ids, prefill=12)
    reference = keras_logits(model, ids)
    assert np.abs(ours - reference).max() < 1e-4
    assert np.abs(reference).max() > 1.0  # the comparison is not between near-zero numbers


def test_a_prompt_pass_starts_at_slot_zero():
    """Several tokens attend only among themselves (the cache's room for new tokens is skipped), which is
    right for a prompt from slot 0 only: forward refuses any other start rather than attend wrongly."""
    weights = DecoderWeights(tiny("gemma3").backbone, "float32")
    params, config = weights.current(), weights.config
    cache = KVCache.zeros(config, 1, 8)
    two = jnp.asarray([[2, 3]], jnp.int32)
    with pytest.raises(ValueError, match="starts at slot 0"):
        forward(params, config, two, cache, jnp.int32(0), jnp.zeros((1,), jnp.int32))


@pytest.mark.parametrize("arch", ARCHS)
def test_greedy_generation_equals_full_forward_argmax(arch):
    model = tiny(arch)
    ids = prompt_ids(model)
    [ours] = Generator(model, max_length=128, weights="float32").generate_token_ids([ids], 20, stop_ids=())
    expected = greedy_by_full_forward(model, ids, 20)
    assert ours == expected
    assert len(set(expected)) > 5


@pytest.mark.parametrize("arch", ["gemma2", "gemma3"])
def test_greedy_generation_equals_keras_hub_generate(arch):
    model = tiny(arch)
    ids = prompt_ids(model)
    new = 12
    if model.family == "gemma3":
        lm = keras_hub.models.Gemma3CausalLM(backbone=model.backbone, preprocessor=None)
    else:
        lm = keras_hub.models.GemmaCausalLM(backbone=model.backbone, preprocessor=None)
    lm.compile(sampler="greedy")
    token_ids = np.zeros((1, len(ids) + new), np.int32)
    token_ids[0, : len(ids)] = ids
    # What `generate` runs, minus its output post-processing (which trips over text-only Gemma 3).
    lm.make_generate_function()
    output = lm.generate_function({"token_ids": token_ids, "padding_mask": token_ids != 0}, stop_token_ids=None)
    keras_new = [int(t) for t in np.asarray(output["token_ids"])[0, len(ids) :]]
    [ours] = Generator(model, max_length=128, weights="float32").generate_token_ids([ids], new, stop_ids=())
    assert ours == keras_new


def test_batched_prompts_of_different_lengths_equal_one_at_a_time():
    model = tiny("gemma3")
    generator = Generator(model, max_length=128, weights="float32")
    prompts = [prompt_ids(model), prompt_ids(model, "pack my box"), prompt_ids(model, "the lazy dog jumps over " * 2)]
    assert len({len(p) for p in prompts}) == 3
    batched = generator.generate_token_ids(prompts, 16, stop_ids=())
    alone = [generator.generate_token_ids([p], 16, stop_ids=())[0] for p in prompts]
    assert batched == alone
    assert batched[0] != batched[1]


def test_lora_adapters_are_merged_and_refreshed_when_they_change():
    model = _tiny("gemma3", seed=1)
    generator = Generator(model, max_length=128, weights="float32")
    ids = prompt_ids(model)
    before = generator.generate_token_ids([ids], 12, stop_ids=())[0]
    apply_lora(model.backbone, rank=4, alpha=8.0, targets=ALL_TARGETS)
    rng = np.random.default_rng(3)
    for layer in model.backbone._flatten_layers():
        if getattr(layer, "lora_enabled", False):
            layer.lora_kernel_b.assign(rng.normal(0, 0.5, layer.lora_kernel_b.shape).astype("float32"))
    # The same Generator notices the new variables; its logits follow the adapted weights.
    adapted = cached_logits(generator.weights, ids, prefill=len(ids) - 4)
    assert np.abs(adapted - keras_logits(model, ids)).max() < 1e-4
    after = generator.generate_token_ids([ids], 12, stop_ids=())[0]
    assert after == greedy_by_full_forward(model, ids, 12)
    assert after != before


def test_quantized_keras_base_is_read_as_the_layer_computes_it():
    model = _tiny("gemma2", seed=2)
    config = keras.quantizers.Int8QuantizationConfig(activation_quantizer=None)
    for block in model.backbone.transformer_layers:
        for layer in block._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.EinsumDense):
                layer.quantize("int8", config=config)
    ids = prompt_ids(model)
    ours = cached_logits(DecoderWeights(model.backbone, "float32"), ids, prefill=len(ids) - 3)
    assert np.abs(ours - keras_logits(model, ids)).max() < 1e-4


@pytest.mark.parametrize("weight_dtype", ["bfloat16", "int8"])
def test_low_precision_weights_stay_close_to_float32(weight_dtype):
    model = tiny("gemma3")
    ids = prompt_ids(model)
    exact = cached_logits(DecoderWeights(model.backbone, "float32"), ids, prefill=len(ids) - 4)
    approx = cached_logits(DecoderWeights(model.backbone, weight_dtype), ids, prefill=len(ids) - 4)
    error = np.abs(approx - exact).max() / np.abs(exact).max()
    assert 0 < error < 0.1
    assert np.mean(approx.argmax(-1) == exact.argmax(-1)) > 0.8


def test_sampling_is_seeded_and_top_1_is_greedy():
    model = tiny("gemma3")
    generator = Generator(model, max_length=128, weights="float32")
    ids = [prompt_ids(model)]
    greedy = generator.generate_token_ids(ids, 16, stop_ids=())
    assert generator.generate_token_ids(ids, 16, temperature=0.7, top_k=1, seed=5, stop_ids=()) == greedy
    first = generator.generate_token_ids(ids, 16, temperature=2.0, top_k=50, seed=1, stop_ids=())
    assert generator.generate_token_ids(ids, 16, temperature=2.0, top_k=50, seed=1, stop_ids=()) == first
    assert generator.generate_token_ids(ids, 16, temperature=2.0, top_k=50, seed=2, stop_ids=()) != first
    assert first != greedy


def test_generate_ids_stops_at_a_stop_token_and_caps_at_max_length():
    model = tiny("gemma3")
    generator = Generator(model, max_length=128, weights="float32")
    prompt = LONG_PROMPT
    free = generator.generate_token_ids([prompt_ids(model, prompt)], 12, stop_ids=())[0]
    generator.stop_ids = (free[5],)
    first_stop = free.index(free[5])
    [result] = generator.generate_ids([prompt], max_new_tokens=12)
    assert result.stopped and result.token_ids == free[:first_stop]
    assert result.text == model.tokenizer.decode(free[:first_stop]).strip()
    assert generator.generate([prompt], max_new_tokens=12) == [result.text]

    capped = Generator(model, max_length=len(prompt_ids(model, prompt)) + 3, weights="float32")
    capped.stop_ids = ()
    [short] = capped.generate_ids([prompt], max_new_tokens=12)
    assert short.token_ids == free[:3] and not short.stopped


def test_user_errors_are_clear():
    model = tiny("gemma3")
    with pytest.raises(ValueError, match="unknown weights"):
        Generator(model, weights="int3")
    generator = Generator(model, max_length=64)
    with pytest.raises(ValueError, match="non-empty list"):
        generator.generate("a single string")
    with pytest.raises(ValueError, match="max_new_tokens"):
        generator.generate(["hi"], max_new_tokens=-1)


def test_training_writes_samples_from_the_weights_being_trained(tmp_path):
    from engine_helpers import fast_config

    from gemma_jax.runs.run_store import RunStore
    from gemma_jax.train.trainer import Trainer

    cfg = fast_config(
        tmp_path,
        "method.kind=lora",
        "optimizer.learning_rate=3e-2",
        "train.max_steps=4",
        "eval.sample_every_steps=2",
        "eval.max_new_tokens=8",
    )
    trainer = Trainer(RunStore.create(cfg), progress=False)
    assert trainer.run() == "completed"
    samples = [json.loads(line) for line in (trainer.store.path / "samples.jsonl").read_text().splitlines()]
    assert sorted({s["step"] for s in samples}) == [0, 2, 4]  # step 0: the base model's answers
    assert {s["model"] for s in samples if s["step"] == 0} == {"base"}
    assert {s["model"] for s in samples if s["step"] > 0} == {"tuned"}
    assert all(isinstance(s["output"], str) for s in samples)
    # The generator saw the adapters trained so far: its weights equal a fresh extraction.
    weights = trainer.generator.weights.current()
    fresh = DecoderWeights(trainer.model.backbone, trainer.generator.weight_dtype).current()
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(weights), jax.tree.leaves(fresh)))
    prompts = [prompt_text(p) for p in trainer.sample_prompts()]
    assert trainer.generator.generate(prompts, 8) == [s["output"] for s in samples if s["step"] == 4]
