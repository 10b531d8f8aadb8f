"""What a quantized export costs in quality: validation perplexity against the unquantized model.

Both models score the same held-out answers the same way (`gemma_jax.models.scoring`: each reference
answer and its closing `<end_of_turn>` after its prompt, as training's loss sees it), so the only
difference is the weights. The quantized model is the GGUF file read back by our own importer, which
dequantizes exactly what llama.cpp would compute with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gemma_jax.config.job_config import JobConfig
from gemma_jax.data import prepare_data
from gemma_jax.evaluate.evaluation import prompt_and_reference
from gemma_jax.models.generation import Generator
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.scoring import score_continuations

MAX_EXAMPLES = 128  # enough for a stable figure; a quantization costs about the same on every answer
BATCH = 8
MAX_LENGTH = 512


def held_out_pairs(cfg: JobConfig, limit: int = MAX_EXAMPLES) -> list[tuple[str, str]]:
    """(prompt, reference) of the run's validation split (else test), as the run split its data."""
    splits = prepare_data(cfg.data, augment=False).splits
    examples = splits.validation or splits.test or []
    pairs = [prompt_and_reference(example) for example in examples[:limit]]
    return [(prompt, reference) for prompt, reference in pairs if reference]


def perplexity(model: LoadedModel, pairs: Sequence[tuple[str, str]]) -> float | None:
    """exp(mean negative log-likelihood per answer token) of `model` on `pairs`; None without answers."""
    if not pairs:
        return None
    from gemma_jax.data import prompt_text

    generator = Generator(model, max_length=MAX_LENGTH)
    tokenizer = model.tokenizer
    closing = [tokenizer.end_of_turn_id, *tokenizer.encode("\n")]
    items = []
    for prompt, reference in pairs:
        text = prompt_text(prompt)
        answer = [*tokenizer.encode(reference), *closing]
        if 1 + len(tokenizer.encode(text)) + len(answer) <= MAX_LENGTH:
            items.append((text, answer))
    total, count = 0.0, 0
    for first in range(0, len(items), BATCH):
        chunk = items[first : first + BATCH]
        scores = score_continuations(generator, [p for p, _ in chunk], [a for _, a in chunk], 1, len(chunk))
        for score in scores:
            total -= score.log_likelihood
            count += len(score.tokens)
    return math.exp(min(total / count, 50.0)) if count else None


def quality_cost(quantized: float | None, reference: float | None, examples: int) -> dict:
    """The manifest's `quality` entry: both perplexities and the relative increase."""
    increase = None
    if quantized is not None and reference:
        increase = 100.0 * (quantized / reference - 1.0)
    return {
        "perplexity": quantized,
        "reference_perplexity": reference,
        "increase_percent": increase,
        "examples": examples,
        "split": "validation",
    }
