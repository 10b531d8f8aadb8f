"""Will a generation fit? The model's context and this machine's memory, checked before any allocation.

Prefill attends every prompt token to every cache slot at once, so its scores grow with the square
of the prompt: a 100k-character prompt asked XLA for hundreds of GB and died with a runtime error.
The check names the limit that was hit and how long a prompt fits.
"""

from __future__ import annotations

import math

from gemma_jax.models.decoding.config import DecoderConfig

F32 = 4
WORKING_COPIES = 3  # scores, masked scores and softmax weights live at once in prefill


def decoding_bytes(config: DecoderConfig, batch: int, prompt_slots: int, new_slots: int) -> int:
    """Peak bytes beyond the weights: the KV cache plus one layer's prefill attention and activations."""
    slots = prompt_slots + new_slots
    cache = config.num_layers * 2 * batch * slots * config.num_key_value_heads * config.head_dim * F32
    scores = batch * config.num_query_heads * prompt_slots * slots * F32 * WORKING_COPIES
    hidden = batch * prompt_slots * config.num_query_heads * config.head_dim * F32 * 8
    return cache + scores + hidden


def available_bytes() -> int | None:
    """Free memory where decoding runs: the first device's free bytes, or the host's; None if unknown."""
    import jax

    device = jax.local_devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
        return None
    import psutil

    return int(psutil.virtual_memory().available)


def decoding_problem(
    config: DecoderConfig,
    *,
    batch: int,
    prompt_tokens: int,
    prompt_slots: int,
    new_slots: int,
    context_length: int | None,
    free_bytes: int | None,
) -> str | None:
    """Why this generation cannot run (in words, with what to do), or None."""
    if context_length and prompt_tokens >= context_length:
        return (
            f"the prompt is {prompt_tokens:,} tokens, and the model reads at most {context_length:,} tokens "
            "(prompt and answer together); shorten the prompt"
        )
    if free_bytes is None:
        return None
    needed = decoding_bytes(config, batch, prompt_slots, new_slots)
    if needed <= 0.8 * free_bytes:
        return None
    # The longest prompt that would fit: solve the quadratic term (it dominates) for the prompt length.
    per_token_sq = batch * config.num_query_heads * F32 * WORKING_COPIES
    longest = int(math.sqrt(0.8 * free_bytes / per_token_sq)) - new_slots
    fixes = [f"shorten the prompt to at most about {longest:,} tokens"] if longest > 0 else []
    fixes.append(f"ask for fewer new tokens (now {new_slots:,})")
    if batch > 1:
        fixes.append("generate for fewer prompts at once")
    return (
        f"the prompt is {prompt_tokens:,} tokens; generating from it needs about {needed / 1e9:.1f} GB of memory, "
        f"more than the {free_bytes / 1e9:.1f} GB free here; " + ", or ".join(fixes)
    )
