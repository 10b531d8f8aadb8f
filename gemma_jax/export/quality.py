"""What a quantized export costs in quality: validation perplexity against the unquantized model, and
how many greedy answers to a few validation prompts stay identical.

Both models score the same held-out answers the same way (`gemma_jax.models.scoring`: each reference
answer and its closing `<end_of_turn>` after its prompt, as training's loss sees it), so the only
difference is the weights. The quantized model is the GGUF file read back by our own importer, which
dequantizes exactly what llama.cpp would compute with.

A quantized model is not expected to be better than the one it was made from: a perplexity change of
more than a few percent either way means it behaves differently from the fine-tune, and the note
says so in plain words.
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
WARN_PERCENT = 5.0  # a perplexity change past this, either way, is a warning
ANSWER_PROMPTS = 4  # greedy answers compared with the unquantized model's
ANSWER_TOKENS = 32


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


def greedy_answers(model: LoadedModel, prompts: Sequence[str], max_new_tokens: int = ANSWER_TOKENS) -> list:
    """`model`'s greedy answer (token ids, to its first stop) to each prompt, rendered as a user turn."""
    if not prompts:
        return []
    from gemma_jax.data import prompt_text

    generator = Generator(model, max_length=MAX_LENGTH)
    generations = generator.generate_ids([prompt_text(p) for p in prompts], max_new_tokens=max_new_tokens)
    return [list(generation.token_ids) for generation in generations]


def quality_warning(change: float | None) -> str | None:
    """Plain words for a perplexity change of more than WARN_PERCENT either way, else None."""
    if change is None or abs(change) <= WARN_PERCENT:
        return None
    if change < 0:
        return (
            f"The quantized model's validation perplexity is {-change:.1f}% lower than the unquantized model's. "
            "Quantization is not expected to improve a model: a change this large means it behaves differently "
            "from the fine-tune, not better. Check its answers, or use the q8_0 or f16 export."
        )
    return (
        f"The quantized model's validation perplexity is {change:.1f}% higher than the unquantized model's: "
        "it behaves noticeably differently from the fine-tune. Check its answers, or use the q8_0 or f16 export."
    )


def quality_cost(
    quantized: float | None,
    reference: float | None,
    examples: int,
    answers: Sequence[list] | None = None,
    reference_answers: Sequence[list] | None = None,
) -> dict:
    """The manifest's `quality` entry: both perplexities, the relative change (`increase_percent`, negative
    for a drop), a `warning` where it is large, and how many greedy answers match the unquantized model's."""
    increase = None
    if quantized is not None and reference:
        increase = 100.0 * (quantized / reference - 1.0)
    cost = {
        "perplexity": quantized,
        "reference_perplexity": reference,
        "increase_percent": increase,
        "warning": quality_warning(increase),
        "examples": examples,
        "split": "validation",
    }
    if answers is not None and reference_answers is not None and len(reference_answers):
        cost["greedy_agreement"] = {
            "identical": sum(a == b for a, b in zip(answers, reference_answers)),
            "prompts": len(reference_answers),
            "max_new_tokens": ANSWER_TOKENS,
        }
    return cost


def quality_note(cost: object) -> str:
    """The README's sentences on a quantized export's quality (empty without a measurement)."""
    if not isinstance(cost, dict) or cost.get("perplexity") is None or cost.get("reference_perplexity") is None:
        return ""
    note = (
        f"Quality of the quantization: validation perplexity {cost['perplexity']:.4g} against "
        f"{cost['reference_perplexity']:.4g} for the unquantized model ({cost['increase_percent']:+.2f}%)."
    )
    agreement = cost.get("greedy_agreement")
    if isinstance(agreement, dict):
        note += (
            f" Greedy answers to {agreement['prompts']} validation prompts ({agreement['max_new_tokens']} new tokens): "
            f"{agreement['identical']} of {agreement['prompts']} identical to the unquantized model's."
        )
    if cost.get("warning"):
        note += f"\n\n**Warning:** {cost['warning']}"
    return note
