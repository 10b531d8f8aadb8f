"""The generation memory check's advice: what to change, and only changes that can help."""

from __future__ import annotations

from gemma_jax.models.decoding.config import DecoderConfig
from gemma_jax.models.decoding.fit import decoding_bytes, decoding_problem

CONFIG = DecoderConfig(
    vocabulary_size=1000,
    hidden_dim=640,
    num_query_heads=4,
    num_key_value_heads=1,
    head_dim=256,
    query_scale=1 / 16,
    attention_soft_cap=None,
    final_soft_cap=None,
    use_query_key_norm=True,
    use_post_attention_norm=True,
    use_post_ffw_norm=True,
    norm_epsilon=1e-6,
    sliding_windows=(512,) * 18,
    rope_wavelengths=(10_000.0,) * 18,
    rope_scaling_factors=(1.0,) * 18,
)


def _problem(prompt: int, new: int, free: int, batch: int = 1) -> str | None:
    return decoding_problem(
        CONFIG,
        batch=batch,
        prompt_tokens=prompt,
        prompt_slots=prompt,
        new_slots=new,
        context_length=None,
        free_bytes=free,
    )


def test_a_long_prompt_is_told_how_short_to_be_and_that_fewer_new_tokens_help():
    free = decoding_bytes(CONFIG, 1, 1000, 100)
    assert _problem(1000, 100, free * 10) is None
    message = _problem(8000, 100, free)
    assert "shorten the prompt to at most about" in message and "ask for fewer new tokens (now 100)" in message
    assert "fewer prompts" not in message and "fewer prompts at once" in _problem(8000, 100, free, batch=4)


def test_when_the_answer_alone_is_too_long_shortening_the_prompt_is_not_offered():
    free = decoding_bytes(CONFIG, 1, 10, 2000)
    message = _problem(10, 200_000, free)
    assert "shorten the prompt" not in message and "ask for fewer new tokens (now 200,000)" in message
